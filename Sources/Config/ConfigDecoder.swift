import RoutingTable
import Yams

/// Names of one kind of object (pools, say) and where each was defined.
struct NameTable {
    let kind: String
    var locations: [String: SourcePosition] = [:]
    var order: [String] = []
    /// Some object of this kind has no readable name, so a reference that
    /// resolves to nothing may be meant for it: such references are not
    /// reported, to keep one mistake from reading as several.
    var incomplete = false

    init(kind: String) {
        self.kind = kind
    }
}

private struct ListenKey: Hashable {
    let address: IPAddress
    let port: UInt16
}

private struct Endpoint: Hashable {
    let address: IPAddress
    let port: UInt16
}

/// What the servers of one pool have used so far.
private struct PoolServerIndex {
    var names: [String: SourcePosition] = [:]
    var headerValues: [String: (server: String, at: SourcePosition)] = [:]
    var endpoints: [Endpoint: (server: String, at: SourcePosition)] = [:]
    var firstHeaderValue: Node?
}

/// Decodes a composed document into `TetherConfig`, checking everything
/// DESIGN.md §2 requires, and reporting every problem it finds.
final class ConfigDecoder: NodeReader {
    private var profiles = NameTable(kind: "persistence profile")
    private var monitors = NameTable(kind: "health monitor")
    private var pools = NameTable(kind: "pool")
    private var virtualServices = NameTable(kind: "virtual service")
    private var usedProfiles: Set<String> = []
    private var usedMonitors: Set<String> = []
    private var usedPools: Set<String> = []
    private var listeners: [ListenKey: (owner: String, at: SourcePosition)] = [:]
    /// The same keys in the order they appear, for messages that name one.
    private var listenOrder: [ListenKey] = []
    /// Kinds with a reference that resolves to nothing: their "never used"
    /// warnings would only repeat that error.
    private var danglingKinds: Set<String> = []

    static let topKeys = [
        "workers", "user", "runtime_dir", "admin", "access_log", "drain_timeout",
        "persistence_profiles", "health_monitors", "pools", "virtual_services",
    ]
    static let profileKeys = ["name", "description", "type", "header_name", "server_down"]
    static let monitorKeys = [
        "name", "type", "interval", "timeout", "successful_checks", "failed_checks", "request", "expected_status",
    ]
    static let poolKeys = [
        "name", "lb_algorithm", "hash_key", "persistence_profile", "health_monitors",
        "max_connections_per_server", "when_all_down", "servers",
    ]
    static let whenAllDownKeys = ["action", "status", "retry_after", "location"]
    static let serverKeys = ["name", "address", "port", "header_value", "ratio", "enabled"]
    static let virtualServiceKeys = [
        "name", "listen", "pool", "tls", "x_forwarded_for", "timeouts", "max_header_bytes",
    ]
    static let timeoutKeys = ["client_header", "client_idle", "connect", "server_response"]

    /// The longest timeout tether accepts anywhere: one day.
    static let maxTimeoutMs: Int64 = 24 * 3_600_000

    // MARK: Document

    /// The configuration, or nil when any error was reported.
    func decode(_ root: Node) -> TetherConfig? {
        guard let top = fields(root, kind: "the configuration", known: ConfigDecoder.topKeys) else { return nil }
        var config = TetherConfig()

        if let node = top["workers"] { config.workers = workers(node) ?? .auto }
        if let node = top["user"] { config.user = user(node) }
        if let node = top["runtime_dir"], let dir = absolutePath(node, key: "runtime_dir") {
            config.runtimeDirectory = dir
        }
        if let node = top["admin"] { config.admin = admin(node) }
        if let node = top["access_log"] { config.accessLog = accessLog(node) }
        if let node = top["drain_timeout"],
           let timeout = duration(node, key: "drain_timeout", range: 0...ConfigDecoder.maxTimeoutMs) {
            config.drainTimeout = timeout
        }

        config.persistenceProfiles = items(top, "persistence_profiles", decodeProfile)
        config.healthMonitors = items(top, "health_monitors", decodeMonitor)
        config.pools = items(top, "pools", decodePool)
        config.virtualServices = items(top, "virtual_services", decodeVirtualService)

        if top["virtual_services"] == nil {
            log.warning(top.location, "no virtual_services: tether will not listen for traffic")
        }
        warnUnused(profiles, used: usedProfiles, why: "no pool uses it")
        warnUnused(monitors, used: usedMonitors, why: "no pool uses it")
        warnUnused(pools, used: usedPools, why: "no virtual service uses it")

        return log.errorCount == 0 ? config : nil
    }

    /// Decodes the list under `key`, keeping the items that have no errors.
    private func items<T>(_ top: Fields, _ key: String, _ decode: (Node) -> T?) -> [T] {
        guard let node = top[key], let nodes = list(node, key: key) else { return [] }
        return nodes.compactMap(decode)
    }

    private func register(_ name: String?, at node: Node?, in table: inout NameTable) {
        guard let name, let node else {
            table.incomplete = true
            return
        }
        let at = location(node)
        if let first = table.locations[name] {
            log.error(at, "duplicate \(table.kind) name '\(name)'; first defined at \(first)")
            return
        }
        table.locations[name] = at
        table.order.append(name)
    }

    /// The name a reference points to, or nil after reporting that nothing
    /// of that kind has the name.
    private func resolve(_ node: Node, key: String, in table: NameTable) -> String? {
        guard let name = text(node, key: key) else { return nil }
        if table.locations[name] != nil { return name }
        danglingKinds.insert(table.kind)
        if !table.incomplete {
            error(node, "\(key): no \(table.kind) named '\(name)'" + Suggestions.hint(for: name, in: table.order))
        }
        return nil
    }

    private func warnUnused(_ table: NameTable, used: Set<String>, why: String) {
        if danglingKinds.contains(table.kind) { return }
        for name in table.order where !used.contains(name) {
            if let at = table.locations[name] {
                log.warning(at, "\(table.kind) '\(name)' is never used: \(why)")
            }
        }
    }

    /// Reports `key` as not applying to this object, when it is present.
    private func reject(_ fields: Fields, _ keys: [String], because reason: String) {
        for key in keys {
            if let node = fields.keyNode(key) { error(node, "\(key): \(reason)") }
        }
    }

    // MARK: Top-level settings

    private func workers(_ node: Node) -> WorkerCount? {
        let expected = "'auto' or a number of workers from 1 to \(WorkerCount.maximum)"
        guard let (text, plain) = scalar(node, key: "workers", expected: expected) else { return nil }
        if text == "auto" { return .auto }
        guard plain, let count = Int(text) else {
            error(node, "workers: expected \(expected), found '\(text)'")
            return nil
        }
        guard (1...WorkerCount.maximum).contains(count) else {
            error(node, "workers: \(count) is out of range; expected 'auto' or 1 to \(WorkerCount.maximum)")
            return nil
        }
        return .fixed(count)
    }

    private func user(_ node: Node) -> String? {
        guard let name = text(node, key: "user") else { return nil }
        let valid = name.utf8.count <= 32 && name.first != "-"
            && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == ".") }
        guard valid else {
            error(node, "user: '\(name)' is not a valid user name")
            return nil
        }
        return name
    }

    func absolutePath(_ node: Node, key: String) -> String? {
        guard let path = text(node, key: key) else { return nil }
        guard path.hasPrefix("/") else {
            error(node, "\(key): '\(path)' must be an absolute path")
            return nil
        }
        guard !path.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            error(node, "\(key): the path contains a control character")
            return nil
        }
        return path
    }

    private func admin(_ node: Node) -> AdminSettings? {
        guard let fields = fields(node, kind: "admin", known: ["listen"]),
              let listenNode = required(fields, "listen"),
              let address = listen(listenNode, owner: "admin") else { return nil }
        return AdminSettings(listen: address)
    }

    private func accessLog(_ node: Node) -> AccessLogSettings? {
        guard let fields = fields(node, kind: "access_log", known: ["path"]),
              let pathNode = required(fields, "path"),
              let path = absolutePath(pathNode, key: "path") else { return nil }
        guard !path.hasSuffix("/") else {
            error(pathNode, "path: '\(path)' names a directory; access_log needs a file")
            return nil
        }
        return AccessLogSettings(path: path)
    }

    /// One listen address; reports it when an earlier one has the same
    /// address and port.
    private func listen(_ node: Node, owner: String) -> ListenAddress? {
        guard let text = text(node, key: "listen") else { return nil }
        let address: ListenAddress
        do {
            address = try AddressSyntax.parseListen(text)
        } catch {
            self.error(node, "listen: \(error.message)")
            return nil
        }
        let key = ListenKey(address: address.address, port: address.port)
        let at = location(node)
        if let first = listeners[key] {
            log.error(at, "listen: \(address) is already used by \(first.owner) at \(first.at)")
            return nil
        }
        // 0.0.0.0:80 and 10.0.0.1:80 would both bind (SO_REUSEPORT), and
        // the specific one would silently take that address's traffic.
        let wildcard = { (a: IPAddress) in a.bytes == (0, 0) }
        // Within one virtual service both sockets feed the same service: harmless.
        if let other = listenOrder.first(where: { k in
            k.port == key.port && k.address.family == key.address.family
                && (wildcard(k.address) || wildcard(key.address)) && listeners[k]?.owner != owner
        }), let first = listeners[other] {
            let shown = other.address.family == .v6 ? "[\(other.address)]:\(other.port)" : "\(other.address):\(other.port)"
            log.error(at, "listen: \(address) overlaps \(shown) of \(first.owner) at \(first.at): "
                + "a wildcard address takes every address of its family on that port")
            return nil
        }
        listeners[key] = (owner, at)
        listenOrder.append(key)
        return address
    }

    // MARK: Persistence profiles

    private func decodeProfile(_ node: Node) -> PersistenceProfile? {
        let errorsBefore = log.errorCount
        guard let f = fields(node, kind: "persistence profile", known: ConfigDecoder.profileKeys) else {
            profiles.incomplete = true
            return nil
        }
        let nameNode = required(f, "name")
        let name = nameNode.flatMap { self.name($0) }
        register(name, at: nameNode, in: &profiles)

        var description: String?
        if let node = f["description"] { description = text(node, key: "description") }

        if let node = required(f, "type"), let type = text(node, key: "type"), type != "custom_http_header" {
            error(node, "type: '\(type)' persistence is not supported; the only type is custom_http_header")
        }

        var headerName: String?
        if let node = required(f, "header_name"), let text = text(node, key: "header_name") {
            if let problem = HTTPSyntax.headerNameProblem(text) {
                error(node, "header_name: \(problem)")
            } else {
                headerName = text
            }
        }

        var serverDown = ServerDownPolicy.immediate
        if let node = f["server_down"] {
            let options: [(word: String, value: ServerDownPolicy)] = [
                ("immediate", .immediate), ("never", .never), ("abort", .abort),
            ]
            serverDown = choice(node, key: "server_down", options: options) ?? .immediate
        }

        guard log.errorCount == errorsBefore, let name, let headerName else { return nil }
        return PersistenceProfile(name: name, description: description, headerName: headerName, serverDown: serverDown)
    }

    // MARK: Health monitors

    private enum MonitorType { case http, tcp }

    private func decodeMonitor(_ node: Node) -> HealthMonitor? {
        let errorsBefore = log.errorCount
        guard let f = fields(node, kind: "health monitor", known: ConfigDecoder.monitorKeys) else {
            monitors.incomplete = true
            return nil
        }
        let nameNode = required(f, "name")
        let name = nameNode.flatMap { self.name($0) }
        register(name, at: nameNode, in: &monitors)

        let type = required(f, "type").flatMap {
            choice($0, key: "type", options: [("http", MonitorType.http), ("tcp", MonitorType.tcp)])
        }

        var interval: Duration? = HealthMonitor.defaultInterval
        if let node = f["interval"] { interval = duration(node, key: "interval", range: 100...3_600_000) }
        var timeout: Duration? = HealthMonitor.defaultTimeout
        if let node = f["timeout"] { timeout = duration(node, key: "timeout", range: 10...3_600_000) }
        if let interval, let timeout, timeout >= interval {
            if let node = f["timeout"] {
                error(node, "timeout: \(format(timeout)) must be shorter than the interval (\(format(interval)))")
            } else if let node = f["interval"] {
                error(node, "interval: \(format(interval)) must be longer than the timeout (\(format(timeout)), the default)")
            }
        }

        let counts = HealthMonitor.checkCountRange
        var successes: Int? = HealthMonitor.defaultSuccessfulChecks
        if let node = f["successful_checks"] { successes = integer(node, key: "successful_checks", range: counts) }
        var failures: Int? = HealthMonitor.defaultFailedChecks
        if let node = f["failed_checks"] { failures = integer(node, key: "failed_checks", range: counts) }

        var check: HealthCheck?
        switch type {
        case .tcp:
            reject(f, ["request", "expected_status"], because: "applies to http monitors only")
            check = .tcp
        case .http:
            var request: HTTPCheckRequest? = .default
            if let node = f["request"] { request = checkRequest(node) }
            var expected: [StatusMatch]? = HealthCheck.defaultExpectedStatus
            if let node = f["expected_status"] { expected = expectedStatus(node) }
            if let request, let expected { check = .http(request: request, expectedStatus: expected) }
        case nil:
            break
        }

        guard log.errorCount == errorsBefore, let name, let check, let interval, let timeout,
              let successes, let failures else { return nil }
        return HealthMonitor(name: name, check: check, interval: interval, timeout: timeout,
                             successfulChecks: successes, failedChecks: failures)
    }

    private func format(_ d: Duration) -> String {
        DurationSyntax.format(milliseconds: milliseconds(d))
    }

    private func checkRequest(_ node: Node) -> HTTPCheckRequest? {
        guard let text = text(node, key: "request") else { return nil }
        do {
            return try HTTPSyntax.parseCheckRequest(text)
        } catch {
            self.error(node, "request: \(error.message)")
            return nil
        }
    }

    private func expectedStatus(_ node: Node) -> [StatusMatch]? {
        guard let items = list(node, key: "expected_status") else { return nil }
        if items.isEmpty {
            error(node, "expected_status: list at least one status, for example [2xx, 3xx]")
            return nil
        }
        var result: [StatusMatch] = []
        for item in items {
            let expected = "a status class such as 2xx or a status code such as 200"
            guard let (text, _) = scalar(item, key: "expected_status", expected: expected) else { continue }
            let lower = text.lowercased()
            if lower.count == 3, lower.hasSuffix("xx"), let c = Int(lower.prefix(1)), (1...5).contains(c) {
                result.append(.class(c))
            } else if text.count == 3, let code = UInt16(text), (100...599).contains(code) {
                result.append(.exact(code))
            } else {
                error(item, "expected_status: '\(text)' is not \(expected) (1xx to 5xx, 100 to 599)")
            }
        }
        return result.count == items.count ? result : nil
    }

    // MARK: Pools

    private func decodePool(_ node: Node) -> Pool? {
        let errorsBefore = log.errorCount
        guard let f = fields(node, kind: "pool", known: ConfigDecoder.poolKeys) else {
            pools.incomplete = true
            return nil
        }
        let nameNode = required(f, "name")
        let name = nameNode.flatMap { self.name($0) }
        register(name, at: nameNode, in: &pools)
        let poolName = name ?? "?"
        var pool = Pool(name: poolName)

        var algorithm: LBAlgorithm? = .leastConnections
        if let node = f["lb_algorithm"] {
            let options: [(word: String, value: LBAlgorithm)] = [
                ("least_connections", .leastConnections), ("round_robin", .roundRobin),
                ("consistent_hash", .consistentHash),
            ]
            algorithm = choice(node, key: "lb_algorithm", options: options)
            pool.lbAlgorithm = algorithm ?? .leastConnections
        }
        if let node = f["hash_key"], let key = hashKey(node) {
            pool.hashKey = key
            if let algorithm, algorithm != .consistentHash, let keyNode = f.keyNode("hash_key") {
                warning(keyNode, "hash_key has no effect unless lb_algorithm is consistent_hash")
            }
        }

        var profileResolved = false
        if let node = f["persistence_profile"], let profile = resolve(node, key: "persistence_profile", in: profiles) {
            pool.persistenceProfile = profile
            usedProfiles.insert(profile)
            profileResolved = true
        }

        if let node = f["health_monitors"], let items = list(node, key: "health_monitors") {
            var seen: [String: SourcePosition] = [:]
            for item in items {
                guard let monitor = resolve(item, key: "health_monitors", in: monitors) else { continue }
                if let first = seen[monitor] {
                    error(item, "health_monitors: '\(monitor)' is already listed at \(first)")
                    continue
                }
                seen[monitor] = location(item)
                usedMonitors.insert(monitor)
                pool.healthMonitors.append(monitor)
            }
        }

        if let node = f["max_connections_per_server"],
           let max = integer(node, key: "max_connections_per_server", range: 0...Int(UInt32.max)) {
            pool.maxConnectionsPerServer = UInt32(max)
        }

        if let node = f["when_all_down"], let action = whenAllDown(node) {
            pool.whenAllDown = action
        }

        var index = PoolServerIndex()
        if let node = f["servers"], let items = list(node, key: "servers") {
            pool.servers = items.compactMap { server($0, pool: poolName, index: &index) }
            if items.isEmpty { warning(node, "pool '\(poolName)' has no servers; every request gets its when_all_down action") }
        } else if f["servers"] == nil {
            log.warning(f.location, "pool '\(poolName)' has no servers; every request gets its when_all_down action")
        }

        if f["persistence_profile"] == nil, let first = index.firstHeaderValue {
            warning(first, "header_value has no effect: pool '\(poolName)' has no persistence_profile")
        }
        if profileResolved, index.firstHeaderValue == nil, !pool.servers.isEmpty,
           let keyNode = f.keyNode("persistence_profile") {
            warning(keyNode, "no server of pool '\(poolName)' has a header_value, so no request is ever pinned")
        }

        guard log.errorCount == errorsBefore, name != nil else { return nil }
        return pool
    }

    /// "client_ip" or "header:NAME".
    private func hashKey(_ node: Node) -> HashKey? {
        guard let text = text(node, key: "hash_key") else { return nil }
        if text == "client_ip" { return .clientIP }
        if text.hasPrefix("header:") {
            let header = String(text.dropFirst("header:".count))
            if let problem = HTTPSyntax.headerNameProblem(header) {
                error(node, "hash_key: \(problem)")
                return nil
            }
            return .header(header)
        }
        error(node, "hash_key: unknown value '\(text)'; expected client_ip or header:NAME")
        return nil
    }

    private func whenAllDown(_ node: Node) -> WhenAllDown? {
        let errorsBefore = log.errorCount
        guard let f = fields(node, kind: "when_all_down", known: ConfigDecoder.whenAllDownKeys),
              let actionNode = required(f, "action") else { return nil }
        enum Action { case localResponse, close, redirect }
        let options: [(word: String, value: Action)] = [
            ("local_response", .localResponse), ("close", .close), ("redirect", .redirect),
        ]
        guard let action = choice(actionNode, key: "action", options: options) else { return nil }
        switch action {
        case .localResponse:
            reject(f, ["location"], because: "applies to action redirect only")
            var status: Int? = 503
            if let node = f["status"] {
                status = integer(node, key: "status", range: 400...599)
            }
            var retryAfter: Int64? = 5
            if let node = f["retry_after"],
               let d = duration(node, key: "retry_after", range: 0...ConfigDecoder.maxTimeoutMs) {
                let ms = milliseconds(d)
                if ms % 1000 != 0 {
                    error(node, "retry_after: Retry-After counts whole seconds; write for example 5s")
                    retryAfter = nil
                } else {
                    retryAfter = ms / 1000
                }
            }
            guard log.errorCount == errorsBefore, let status, let retryAfter else { return nil }
            return .localResponse(status: UInt16(status), retryAfterSeconds: UInt32(retryAfter))
        case .close:
            reject(f, ["status", "retry_after", "location"], because: "does not apply to action close")
            return log.errorCount == errorsBefore ? .close : nil
        case .redirect:
            reject(f, ["retry_after"], because: "applies to action local_response only")
            var status = 302
            let redirects = [301, 302, 303, 307, 308]
            if let node = f["status"], let value = integer(node, key: "status", range: 100...599) {
                if redirects.contains(value) {
                    status = value
                } else {
                    error(node, "status: \(value) is not a redirect status; expected 301, 302, 303, 307 or 308")
                }
            }
            var location: String?
            if let node = required(f, "location"), let url = text(node, key: "location") {
                if let problem = HTTPSyntax.absoluteURLProblem(url) {
                    error(node, "location: \(problem)")
                } else {
                    location = url
                }
            }
            guard log.errorCount == errorsBefore, let location else { return nil }
            return .redirect(status: UInt16(status), location: location)
        }
    }

    private func server(_ node: Node, pool: String, index: inout PoolServerIndex) -> Server? {
        let errorsBefore = log.errorCount
        guard let f = fields(node, kind: "server", known: ConfigDecoder.serverKeys) else { return nil }

        let nameNode = required(f, "name")
        let name = nameNode.flatMap { self.name($0) }
        if let name, let nameNode {
            let at = location(nameNode)
            if let first = index.names[name] {
                log.error(at, "duplicate server name '\(name)' in pool '\(pool)'; first defined at \(first)")
            } else {
                index.names[name] = at
            }
        }
        let serverName = name ?? "?"

        var address: IPAddress?
        if let node = required(f, "address"), let text = text(node, key: "address") {
            do {
                address = try AddressSyntax.parseServerAddress(text)
            } catch {
                self.error(node, "address: \(error.message)")
            }
        }
        let port = required(f, "port").flatMap { integer($0, key: "port", range: 1...65535) }
        if let address, let port, let addressNode = f["address"] {
            let endpoint = Endpoint(address: address, port: UInt16(port))
            let spelled = address.family == .v4 ? "\(address):\(port)" : "[\(address)]:\(port)"
            if let first = index.endpoints[endpoint] {
                error(addressNode, "server \(spelled) is already in pool '\(pool)' as '\(first.server)' at \(first.at)")
            } else {
                index.endpoints[endpoint] = (serverName, location(addressNode))
            }
        }

        var headerValue: String?
        if let node = f["header_value"], let value = text(node, key: "header_value") {
            if index.firstHeaderValue == nil { index.firstHeaderValue = node }
            if let problem = HTTPSyntax.persistenceValueProblem(value) {
                error(node, "header_value: \(problem)")
            } else if let first = index.headerValues[value] {
                error(node, "header_value: '\(value)' is already the value of server '\(first.server)' at \(first.at); "
                    + "values must be unique within a pool")
            } else {
                index.headerValues[value] = (serverName, location(node))
                headerValue = value
            }
        }

        var ratio = 1
        if let node = f["ratio"], let value = integer(node, key: "ratio", range: Server.ratioRange) { ratio = value }
        var enabled = true
        if let node = f["enabled"], let value = bool(node, key: "enabled") { enabled = value }

        guard log.errorCount == errorsBefore, let name, let address, let port else { return nil }
        return Server(name: name, address: address, port: UInt16(port), headerValue: headerValue,
                      ratio: UInt8(ratio), enabled: enabled)
    }

    // MARK: Virtual services

    private func decodeVirtualService(_ node: Node) -> VirtualService? {
        let errorsBefore = log.errorCount
        guard let f = fields(node, kind: "virtual service", known: ConfigDecoder.virtualServiceKeys) else {
            virtualServices.incomplete = true
            return nil
        }
        let nameNode = required(f, "name")
        let name = nameNode.flatMap { self.name($0) }
        register(name, at: nameNode, in: &virtualServices)
        let owner = "virtual service '\(name ?? "?")'"

        var addresses: [ListenAddress] = []
        if let node = required(f, "listen"), let items = list(node, key: "listen") {
            if items.isEmpty { error(node, "listen: list at least one address, for example [\"0.0.0.0:80\"]") }
            addresses = items.compactMap { listen($0, owner: owner) }
        }

        var pool: String?
        if let node = required(f, "pool"), let resolved = resolve(node, key: "pool", in: pools) {
            usedPools.insert(resolved)
            pool = resolved
        }

        var tls: VirtualServiceTLS?
        if let node = f["tls"] { tls = decodeTLS(node) }

        var xForwardedFor = true
        if let node = f["x_forwarded_for"], let value = bool(node, key: "x_forwarded_for") { xForwardedFor = value }

        var timeouts = VirtualServiceTimeouts()
        if let node = f["timeouts"], let t = fields(node, kind: "timeouts", known: ConfigDecoder.timeoutKeys) {
            let range: ClosedRange<Int64> = 1...ConfigDecoder.maxTimeoutMs
            if let n = t["client_header"], let d = duration(n, key: "client_header", range: range) { timeouts.clientHeader = d }
            if let n = t["client_idle"], let d = duration(n, key: "client_idle", range: range) { timeouts.clientIdle = d }
            if let n = t["connect"], let d = duration(n, key: "connect", range: range) { timeouts.connect = d }
            if let n = t["server_response"], let d = duration(n, key: "server_response", range: range) {
                timeouts.serverResponse = d
            }
        }

        var maxHeaderBytes = VirtualService.defaultMaxHeaderBytes
        if let node = f["max_header_bytes"],
           let bytes = size(node, key: "max_header_bytes", range: VirtualService.maxHeaderBytesRange) {
            maxHeaderBytes = bytes
        }

        guard log.errorCount == errorsBefore, let name, let pool else { return nil }
        return VirtualService(name: name, listen: addresses, pool: pool, xForwardedFor: xForwardedFor,
                              timeouts: timeouts, maxHeaderBytes: maxHeaderBytes, tls: tls)
    }
}

/// Whole milliseconds in `d` (configuration durations have no finer part).
func milliseconds(_ d: Duration) -> Int64 {
    let (seconds, attoseconds) = d.components
    return seconds * 1000 + attoseconds / 1_000_000_000_000_000
}
