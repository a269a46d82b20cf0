/// One object of the export, with the name and uuid references use.
struct AviObject {
    let type: String
    let name: String
    let uuid: String?
    let members: [JSONMember]

    var subject: AviSubject { AviSubject(type: type, name: name) }

    func reader() -> FieldReader {
        var reader = FieldReader(members, subject: subject)
        _ = reader.take("name")
        return reader
    }
}

/// The object types `import-avi` reads. Any other type in the export is
/// listed in one warning; the settings of converted objects that refer to
/// such objects are warned about one by one.
enum AviType {
    static let persistenceProfile = "ApplicationPersistenceProfile"
    static let healthMonitor = "HealthMonitor"
    static let pool = "Pool"
    static let virtualService = "VirtualService"
    static let vsVip = "VsVip"
    static let applicationProfile = "ApplicationProfile"

    static let read: [String] = [persistenceProfile, healthMonitor, pool, virtualService, vsVip, applicationProfile]

    /// Avi's own infrastructure and administration: nothing of it belongs
    /// in a tether configuration, so its presence is not worth a warning.
    static let infrastructure: Set<String> = [
        "META", "Tenant", "Cloud", "CloudConnectorUser", "VrfContext", "ServiceEngineGroup", "Network",
        "IpamDnsProviderProfile", "SystemConfiguration", "ControllerProperties", "Role", "User", "UserAccountProfile",
        "AuthProfile", "BackupConfiguration", "Scheduler", "AlertConfig", "AlertEmailConfig", "AlertSyslogConfig",
        "AlertScriptConfig", "ActionGroupConfig", "SnmpTrapProfile", "ControllerLicense", "CloudProperties",
        "SeProperties", "SecureChannelToken", "SecureChannelMapping", "SecureChannelAvailableLocalIPs",
        "ServiceEngine", "ClusterCloudDetails", "Cluster", "LicenseLedgerDetails", "ControllerPortalRegistration",
        "ALBServicesConfig", "InventoryFaultConfig", "ControllerSite", "Webhook", "AnalyticsProfile", "CertificateManagementProfile",
        "TrafficCloneProfile", "StatediffOperation", "TenantSystemConfiguration", "Alert", "SiteVersion",
    ]

    /// The collection name references use: "/api/healthmonitor/...".
    static func collection(_ type: String) -> String { type.lowercased() }
}

/// A reference as Avi writes them: "/api/pool/?tenant=admin&name=web",
/// "/api/pool/pool-8f2c…#web", "https://controller/api/pool/pool-8f2c…",
/// or a bare name.
struct AviReference: Equatable {
    var collection: String?
    var uuid: String?
    var name: String?

    init(collection: String? = nil, uuid: String? = nil, name: String? = nil) {
        self.collection = collection
        self.uuid = uuid
        self.name = name
    }

    init(_ text: String) {
        var body = Substring(text)
        if let hash = body.firstIndex(of: "#") {
            let fragment = body[body.index(after: hash)...]
            if !fragment.isEmpty { name = String(fragment) }
            body = body[..<hash]
        }
        guard let api = body.range(of: "/api/") else {
            if name == nil, !body.isEmpty, !body.contains("/"), !body.contains("?") { name = String(body) }
            return
        }
        var rest = body[api.upperBound...]
        let collectionEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        if collectionEnd > rest.startIndex { collection = String(rest[..<collectionEnd]) }
        rest = rest[collectionEnd...]
        if rest.first == "/" {
            rest = rest.dropFirst()
            let uuidEnd = rest.firstIndex(of: "?") ?? rest.endIndex
            if uuidEnd > rest.startIndex { uuid = String(rest[..<uuidEnd]) }
            rest = rest[uuidEnd...]
        }
        if rest.first == "?", name == nil {
            for parameter in rest.dropFirst().split(separator: "&") {
                let parts = parameter.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                if parts.count == 2, parts[0] == "name", let value = AviReference.percentDecoded(parts[1]), !value.isEmpty {
                    name = value
                }
            }
        }
    }

    /// A query value with '+' as space and %XX escapes decoded; nil when
    /// an escape is broken or the result is not UTF-8.
    static func percentDecoded(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var utf8 = Array(text.utf8)[...]
        while let b = utf8.popFirst() {
            switch b {
            case UInt8(ascii: "+"):
                bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard utf8.count >= 2, let v = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16) else { return nil }
                bytes.append(v)
                utf8 = utf8.dropFirst(2)
            default:
                bytes.append(b)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    /// How the reference reads in messages.
    var shown: String {
        if let name { return "'\(name)'" }
        if let uuid { return "uuid \(uuid)" }
        return "nothing"
    }
}

/// Every object of the types `import-avi` reads, by type, name and uuid.
struct ExportIndex {
    private(set) var objects: [String: [AviObject]] = [:]
    private var byName: [String: [String: AviObject]] = [:]
    private var byUUID: [String: [String: AviObject]] = [:]
    /// Other types in the export and how many objects each has, in order.
    private(set) var otherTypes: [(type: String, count: Int)] = []

    enum Resolution {
        case found(AviObject)
        /// The reference names an object of another type.
        case wrongType(String)
        /// Nothing in the export has the name or uuid.
        case missing(AviReference)
    }

    /// Reads the export's top level; reports objects without a name and
    /// duplicate names as errors.
    init(root: [JSONMember], log: inout FindingLog) {
        for member in root {
            guard AviType.read.contains(member.key) else {
                if !AviType.infrastructure.contains(member.key) {
                    otherTypes.append((member.key, member.value.elements?.count ?? 1))
                }
                continue
            }
            guard let items = member.value.elements else {
                log.error("the export", "'\(member.key)' must be a list of objects, found \(member.value.brief)")
                continue
            }
            var list: [AviObject] = []
            for (position, item) in items.enumerated() {
                let label = "\(member.key) #\(position + 1)"
                guard let members = item.members else {
                    log.error(label, "expected an object, found \(item.brief)")
                    continue
                }
                guard let name = members.first(where: { $0.key == "name" })?.value.string, !name.isEmpty else {
                    log.error(label, "has no name (Avi requires one)")
                    continue
                }
                if let problem = AviIndexRules.nameProblem(name) {
                    log.error(AviSubject(type: member.key, name: name), "the name \(problem)")
                    continue
                }
                let uuid = members.first(where: { $0.key == "uuid" })?.value.string
                let object = AviObject(type: member.key, name: name, uuid: uuid, members: members)
                if byName[member.key]?[name] != nil {
                    log.error(object.subject, "two \(member.key) objects have this name (from different tenants?); "
                        + "tether names must be unique: export one tenant at a time")
                    continue
                }
                byName[member.key, default: [:]][name] = object
                if let uuid { byUUID[member.key, default: [:]][uuid] = object }
                list.append(object)
            }
            objects[member.key] = list
        }
    }

    func all(_ type: String) -> [AviObject] { objects[type] ?? [] }

    func resolve(_ text: String, type: String) -> Resolution {
        let reference = AviReference(text)
        if let collection = reference.collection, collection != AviType.collection(type) {
            return .wrongType(collection)
        }
        if let uuid = reference.uuid, let object = byUUID[type]?[uuid] { return .found(object) }
        if let name = reference.name, let object = byName[type]?[name] { return .found(object) }
        return .missing(reference)
    }
}

enum AviIndexRules {
    /// Why `name` cannot name a tether object, or nil: tether's names have
    /// no outer whitespace and no control characters, and fit in 256 bytes.
    static func nameProblem(_ name: String) -> String? {
        if name.first?.isWhitespace == true || name.last?.isWhitespace == true {
            return "'\(name)' has leading or trailing whitespace, which tether names cannot have"
        }
        if name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F || (0x80...0x9F).contains($0.value)
            || $0 == "\u{2028}" || $0 == "\u{2029}" }) {
            return "contains a control character, which tether names cannot contain"
        }
        if name.utf8.count > 256 { return "is longer than 256 bytes, tether's limit" }
        return nil
    }
}
