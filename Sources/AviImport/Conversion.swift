import Config
import RoutingTable

/// One run of the conversion: the export's objects, the findings so far and
/// what each converted object became.
struct Conversion {
    var log = FindingLog()
    let index: ExportIndex

    /// Avi profile name → what pools that refer to it get.
    var profiles: [String: Outcome] = [:]
    /// Avi monitor name → what pools that refer to it get.
    var monitors: [String: Outcome] = [:]
    /// Pools converted without error, by name.
    var pools: Set<String> = []
    /// ApplicationProfile name → the settings virtual services take from it.
    var applicationProfiles: [String: HTTPSettings] = [:]
    /// VsVip name → its addresses.
    var vsVips: [String: [IPAddress]] = [:]
    /// Listen addresses taken so far, and by which virtual service.
    var listeners: [String: String] = [:]

    enum Outcome {
        case converted
        /// The object's type or kind is one tether lacks; `kind` names it.
        case unsupported(kind: String)
        /// The object has errors (already reported).
        case failed
    }

    /// What a virtual service takes from its application profile.
    struct HTTPSettings {
        var xForwardedFor = true
        var timeouts = VirtualServiceTimeouts()
        var maxHeaderBytes = VirtualService.defaultMaxHeaderBytes
    }

    init(root: [JSONMember]) {
        var log = FindingLog()
        index = ExportIndex(root: root, log: &log)
        self.log = log
    }

    mutating func run() -> TetherConfig {
        var config = TetherConfig()
        let core = [AviType.persistenceProfile, AviType.healthMonitor, AviType.pool, AviType.virtualService]
        if core.allSatisfy({ index.all($0).isEmpty }) && log.errors.isEmpty {
            log.error("the export", "holds no \(core.joined(separator: ", ")) objects: is it an Avi configuration export?")
            return config
        }
        config.persistenceProfiles = index.all(AviType.persistenceProfile).compactMap { persistenceProfile($0) }
        config.healthMonitors = index.all(AviType.healthMonitor).compactMap { healthMonitor($0) }
        config.pools = index.all(AviType.pool).compactMap { pool($0) }
        config.virtualServices = index.all(AviType.virtualService).compactMap { virtualService($0) }
        if !index.otherTypes.isEmpty {
            let list = index.otherTypes.map { "\($0.type) (\($0.count))" }.joined(separator: ", ")
            log.warning("the export", setting: "object types", "also holds objects tether does not convert: \(list); "
                + "the settings of converted objects that use them are reported one by one")
        }
        return config
    }

    // MARK: Reading fields

    mutating func integer(_ r: inout FieldReader, _ key: String, _ range: ClosedRange<Int>) -> Int? {
        guard let value = r.take(key) else { return nil }
        guard let i = value.integer, range.contains(i) else {
            log.error(r.subject, "field '\(r.shownField(key))' must be an integer from \(range.lowerBound) to \(range.upperBound), "
                + "found \(value.brief)")
            return nil
        }
        return i
    }

    mutating func boolean(_ r: inout FieldReader, _ key: String) -> Bool? {
        guard let value = r.take(key) else { return nil }
        guard let b = value.boolean else {
            log.error(r.subject, "field '\(r.shownField(key))' must be true or false, found \(value.brief)")
            return nil
        }
        return b
    }

    /// A string field; "" counts as absent.
    mutating func text(_ r: inout FieldReader, _ key: String) -> String? {
        guard let value = r.take(key) else { return nil }
        guard let s = value.string else {
            log.error(r.subject, "field '\(r.shownField(key))' must be a string, found \(value.brief)")
            return nil
        }
        return s.isEmpty ? nil : s
    }

    /// A nested object, as a reader of its own.
    mutating func nested(_ r: inout FieldReader, _ key: String) -> FieldReader? {
        guard let value = r.take(key) else { return nil }
        guard let members = value.members else {
            log.error(r.subject, "field '\(r.shownField(key))' must be an object, found \(value.brief)")
            return nil
        }
        return FieldReader(members, subject: r.subject, path: r.field(key) + ".", shownPath: r.shownField(key) + ".")
    }

    mutating func list(_ r: inout FieldReader, _ key: String) -> [JSONValue]? {
        guard let value = r.take(key) else { return nil }
        guard let elements = value.elements else {
            log.error(r.subject, "field '\(r.shownField(key))' must be a list, found \(value.brief)")
            return nil
        }
        return elements
    }

    /// The object a reference field names, or nil after reporting why not.
    mutating func resolve(_ reference: String, field: String, type: String, from subject: AviSubject) -> AviObject? {
        switch index.resolve(reference, type: type) {
        case .found(let object):
            return object
        case .wrongType(let collection):
            log.error(subject, "field '\(field)' ('\(reference)') refers to a \(collection), not a \(type)")
        case .missing(let parsed):
            if parsed.name == nil && parsed.uuid == nil {
                log.error(subject, "field '\(field)' ('\(reference)') is not a reference Avi writes")
            } else {
                log.error(subject, "field '\(field)' refers to \(type) \(parsed.shown), which is not in the export")
            }
        }
        return nil
    }

    /// An IP literal from an Avi IpAddr ({"addr": ..., "type": "V4"}).
    mutating func address(_ r: inout FieldReader, _ key: String) -> IPAddress? {
        guard var ip = nested(&r, key) else { return nil }
        let text = self.text(&ip, "addr")
        let type = self.text(&ip, "type")
        FieldRules().report(ip, log: &log)
        guard let text else { return nil }
        guard let address = IPAddress(text), type == nil || type == (address.family == .v4 ? "V4" : "V6") else {
            log.error(r.subject, "field '\(r.shownField(key)).addr' ('\(text)') is not an IP\(type == "V6" ? "v6" : "v4") address")
            return nil
        }
        if address.isMulticastOrBroadcast {
            log.error(r.subject, "field '\(r.shownField(key)).addr' ('\(text)') is a multicast or broadcast address")
            return nil
        }
        return address
    }
}

extension IPAddress {
    /// 0.0.0.0 or ::, which tether listens on but never connects to.
    var isUnspecified: Bool { octets.allSatisfy { $0 == 0 } }

    /// Addresses tether neither listens on nor connects to.
    var isMulticastOrBroadcast: Bool {
        let o = octets
        switch family {
        case .v4: return (224...239).contains(o[0]) || o == [255, 255, 255, 255]
        case .v6: return o[0] == 0xFF
        }
    }
}
