import Config

/// What `import-avi` made of an export.
public struct AviConversion: Sendable {
    /// The tether configuration as YAML; nil when there are errors.
    public var yaml: String?
    /// `yaml` as `ConfigLoader` reads it back.
    public var config: TetherConfig?
    /// One for each Avi setting the configuration does not carry.
    public var warnings: [AviFinding]
    /// Why the export could not be converted; empty when `yaml` is set.
    public var errors: [AviFinding]
}

/// Converts an Avi (NSX Advanced Load Balancer) configuration export into a
/// tether configuration: a JSON object with a list per object type, as
/// `/api/configuration/export` writes it (`{"Pool": [...],
/// "HealthMonitor": [...], "VirtualService": [...], ...}`).
///
/// Read: ApplicationPersistenceProfile, HealthMonitor, Pool and
/// VirtualService, with the VsVip and ApplicationProfile objects virtual
/// services refer to. Every field of those objects is either converted,
/// known to mean nothing on a tether machine (uuid, tenant, cloud and
/// placement references), at a value where Avi behaves as tether does
/// (Avi's defaults, which exports write out), or reported in a warning.
/// Settings that make the export unusable (a reference to nothing, a
/// missing name, a malformed address) are errors.
public enum AviImporter {
    /// `source` names the export in the YAML's header comment.
    public static func convert(_ json: [UInt8], source: String) -> AviConversion {
        let root: JSONValue
        do {
            root = try JSONParser.parse(json)
        } catch {
            let finding = AviFinding(subject: "\(source):\(error.line):\(error.column)", message: "invalid JSON: \(error.message)")
            return AviConversion(yaml: nil, config: nil, warnings: [], errors: [finding])
        }
        guard let members = root.members else {
            let finding = AviFinding(subject: "the export", message: "expected a JSON object with a list per Avi object type "
                + "(\"Pool\", \"HealthMonitor\", ...), found \(root.brief)")
            return AviConversion(yaml: nil, config: nil, warnings: [], errors: [finding])
        }
        var conversion = Conversion(root: members)
        let config = conversion.run()
        var log = conversion.log
        guard log.errors.isEmpty else {
            return AviConversion(yaml: nil, config: nil, warnings: log.warnings, errors: log.errors)
        }
        let yaml = ConfigYAML.render(config, header: [
            "Converted by `tether import-avi` from \(JSONText.escaped(source)).",
            "Each Avi setting this file does not carry was reported as a warning.",
        ])
        // The file must load as written: the same validator as `tether
        // check`, and the same configuration back.
        let check = ConfigLoader.parse(text: yaml, fileName: "converted configuration")
        for e in check.errors {
            log.error("the converted configuration", "does not validate: \(e)")
        }
        if check.errors.isEmpty, check.config != config {
            log.error("the converted configuration", "reads back differently from what was converted (a bug in import-avi)")
        }
        guard log.errors.isEmpty else {
            return AviConversion(yaml: nil, config: nil, warnings: log.warnings, errors: log.errors)
        }
        return AviConversion(yaml: yaml, config: check.config, warnings: log.warnings, errors: [])
    }
}
