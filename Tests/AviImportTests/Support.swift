import Config
import Foundation
import RoutingTable
import Testing
@testable import AviImport

/// What a conversion produced, with the YAML already read back by tether's
/// own loader.
struct Converted {
    var yaml: String?
    /// The YAML as `ConfigLoader` reads it (the validator of `tether check`).
    var config: TetherConfig?
    var warnings: [String]
    var errors: [String]
}

/// Converts `json`. When it converts, the YAML must load with no error and
/// give the same configuration the converter made: every successful test
/// is a round trip through the real validator.
func convert(_ json: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> Converted {
    let result = AviImporter.convert(Array(json.utf8), source: "export.json")
    var reloaded: TetherConfig?
    if let yaml = result.yaml {
        let check = ConfigLoader.parse(text: yaml, fileName: "out.yaml")
        #expect(check.errors.map(\.description) == [], "\(yaml)", sourceLocation: sourceLocation)
        #expect(check.config == result.config, sourceLocation: sourceLocation)
        reloaded = check.config
    }
    #expect((result.yaml == nil) == !result.errors.isEmpty, sourceLocation: sourceLocation)
    return Converted(yaml: result.yaml, config: reloaded, warnings: result.warnings.map(\.description),
                     errors: result.errors.map(\.description))
}

/// Converts `json`, which must convert; records its errors otherwise.
func converted(_ json: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) throws -> (TetherConfig, [String]) {
    let result = convert(json, sourceLocation: sourceLocation)
    #expect(result.errors == [], sourceLocation: sourceLocation)
    let config = try #require(result.config, sourceLocation: sourceLocation)
    return (config, result.warnings)
}

/// An export with the given objects (JSON text of each list's items).
func export(profiles: [String] = [], monitors: [String] = [], pools: [String] = [], vsVips: [String] = [],
            applicationProfiles: [String] = [], virtualServices: [String] = [], extra: String? = nil) -> String {
    var parts: [String] = []
    func add(_ type: String, _ items: [String]) {
        if !items.isEmpty { parts.append("\"\(type)\": [\n" + items.joined(separator: ",\n") + "\n]") }
    }
    add("ApplicationPersistenceProfile", profiles)
    add("HealthMonitor", monitors)
    add("Pool", pools)
    add("VsVip", vsVips)
    add("ApplicationProfile", applicationProfiles)
    add("VirtualService", virtualServices)
    if let extra { parts.append(extra) }
    return "{\n" + parts.joined(separator: ",\n") + "\n}"
}

/// A pool named `name` with one server (10.0.0.1:80), plus `fields`.
func pool(_ name: String = "web", _ fields: String = "") -> String {
    """
    { "name": "\(name)", "servers": [ { "ip": { "addr": "10.0.0.1", "type": "V4" }, "port": 80 } ]\(fields.isEmpty ? "" : ", " + fields) }
    """
}

/// A virtual service on 10.0.0.100:`port` for `pool`, plus `fields`.
func virtualService(_ name: String = "www", pool: String = "web", port: Int = 80, _ fields: String = "") -> String {
    """
    { "name": "\(name)", "pool_ref": "/api/pool/?name=\(pool)", "services": [ { "port": \(port) } ],
      "vip": [ { "vip_id": "0", "ip_address": { "addr": "10.0.0.100", "type": "V4" } } ]\(fields.isEmpty ? "" : ", " + fields) }
    """
}

/// The one server `pool(_:_:)` has.
let defaultServer = Server(name: "10.0.0.1", address: IPAddress("10.0.0.1")!, port: 80)

func listen(_ text: String) -> ListenAddress {
    let colon = text.lastIndex(of: ":")!
    return ListenAddress(text: text, address: IPAddress(String(text[..<colon]))!, port: UInt16(text[text.index(after: colon)...])!)
}

let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
