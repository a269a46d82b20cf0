import Config
import RoutingTable

extension Conversion {
    static let algorithms: [String: LBAlgorithm] = [
        "LB_ALGORITHM_LEAST_CONNECTIONS": .leastConnections,
        "LB_ALGORITHM_ROUND_ROBIN": .roundRobin,
        "LB_ALGORITHM_CONSISTENT_HASH": .consistentHash,
    ]

    mutating func pool(_ object: AviObject) -> Pool? {
        let errorsBefore = log.errors.count
        let subject = object.subject
        var r = object.reader()
        var pool = Pool(name: object.name)

        let algorithm = text(&r, "lb_algorithm") ?? "LB_ALGORITHM_LEAST_CONNECTIONS"
        if let known = Conversion.algorithms[algorithm] {
            pool.lbAlgorithm = known
        } else {
            log.warning(subject, setting: "lb_algorithm", "lb_algorithm \(algorithm) is not supported by tether (least "
                + "connections, round robin, consistent hash); LB_ALGORITHM_LEAST_CONNECTIONS (Avi's default) is used")
        }
        let hash = text(&r, "lb_algorithm_hash") ?? "LB_ALGORITHM_CONSISTENT_HASH_SOURCE_IP_ADDRESS"
        let hashHeader = text(&r, "lb_algorithm_consistent_hash_hdr")
        // Without consistent hashing Avi ignores both; so does tether.
        if pool.lbAlgorithm == .consistentHash {
            switch hash {
            case "LB_ALGORITHM_CONSISTENT_HASH_SOURCE_IP_ADDRESS":
                pool.hashKey = .clientIP
            case "LB_ALGORITHM_CONSISTENT_HASH_CUSTOM_HEADER":
                if let hashHeader, HTTPRules.isHeaderName(hashHeader) {
                    pool.hashKey = .header(hashHeader)
                } else if let hashHeader {
                    log.warning(subject, setting: "lb_algorithm_consistent_hash_hdr", "lb_algorithm_consistent_hash_hdr "
                        + "'\(hashHeader)' is not a valid HTTP header name; the pool hashes the client IP address instead")
                } else {
                    log.error(subject, "lb_algorithm_hash LB_ALGORITHM_CONSISTENT_HASH_CUSTOM_HEADER needs "
                        + "lb_algorithm_consistent_hash_hdr")
                }
            default:
                log.warning(subject, setting: "lb_algorithm_hash", "lb_algorithm_hash \(hash) is not supported by tether "
                    + "(client IP address or a custom header); the pool hashes the client IP address instead")
            }
        }

        var persistent = false
        if let reference = text(&r, "application_persistence_profile_ref"),
           let profile = resolve(reference, field: "application_persistence_profile_ref", type: AviType.persistenceProfile, from: subject) {
            switch profiles[profile.name] {
            case .converted?:
                pool.persistenceProfile = profile.name
                persistent = true
            case .unsupported(let kind)?:
                log.warning(subject, setting: "application_persistence_profile_ref", "its persistence profile "
                    + "'\(profile.name)' uses \(kind), which tether does not support; the pool has no persistence")
            case .failed?, nil:
                break
            }
        }

        if let references = list(&r, "health_monitor_refs") {
            for item in references {
                guard let reference = item.string else {
                    log.error(subject, "field 'health_monitor_refs' must hold strings, found \(item.brief)")
                    continue
                }
                guard let monitor = resolve(reference, field: "health_monitor_refs", type: AviType.healthMonitor, from: subject) else {
                    continue
                }
                switch monitors[monitor.name] {
                case .converted?:
                    if !pool.healthMonitors.contains(monitor.name) { pool.healthMonitors.append(monitor.name) }
                case .unsupported(let kind)?:
                    log.warning(subject, setting: "health_monitor_refs \(monitor.name)", "health monitor '\(monitor.name)' "
                        + "(\(kind)) is not supported by tether, dropped from the pool")
                case .failed?, nil:
                    break
                }
            }
        }

        if let max = integer(&r, "max_concurrent_connections_per_server", 0...Int(Int32.max)) {
            pool.maxConnectionsPerServer = UInt32(max)
        }
        pool.whenAllDown = failAction(&r)

        let enabled = boolean(&r, "enabled") ?? true
        let defaultPort = integer(&r, "default_server_port", 1...65535) ?? 80
        if let items = list(&r, "servers") {
            pool.servers = servers(items, pool: subject, defaultPort: defaultPort, persistent: persistent)
        }
        if !enabled {
            // A disabled Avi pool serves nothing: neither does a pool whose
            // servers are all disabled.
            for i in pool.servers.indices { pool.servers[i].enabled = false }
        }
        FieldRules.pool.report(r, log: &log)

        guard log.errors.count == errorsBefore else { return nil }
        pools.insert(object.name)
        return pool
    }

    /// Avi's fail_action; without one Avi closes the client connection.
    mutating func failAction(_ r: inout FieldReader) -> WhenAllDown {
        let subject = r.subject
        guard var action = nested(&r, "fail_action") else { return .close }
        let type = text(&action, "type") ?? "FAIL_ACTION_CLOSE_CONN"
        var result = WhenAllDown.close
        switch type {
        case "FAIL_ACTION_CLOSE_CONN":
            action.skip(["local_rsp", "redirect", "backup_pool"])
        case "FAIL_ACTION_HTTP_LOCAL_RSP":
            action.skip(["redirect", "backup_pool"])
            if var response = nested(&action, "local_rsp") {
                let code = text(&response, "status_code") ?? "FAIL_HTTP_STATUS_CODE_503"
                if code != "FAIL_HTTP_STATUS_CODE_503" {
                    log.warning(subject, setting: "fail_action.local_rsp.status_code", "fail_action.local_rsp.status_code "
                        + "\(code) is not supported by tether (its local responses are errors, 400 to 599); 503 is used")
                }
                if let file = response.take("file"), !file.isEmpty {
                    log.warning(subject, setting: "fail_action.local_rsp.file", "field 'fail_action.local_rsp.file' is not "
                        + "supported by tether (its local responses carry a short body of their own), dropped")
                }
                FieldRules.pool.report(response, log: &log)
            }
            // Avi's local response has no Retry-After; tether's default adds one.
            result = .localResponse(status: 503, retryAfterSeconds: 0)
        case "FAIL_ACTION_HTTP_REDIRECT":
            action.skip(["local_rsp", "backup_pool"])
            guard var redirect = nested(&action, "redirect") else {
                log.error(subject, "fail_action FAIL_ACTION_HTTP_REDIRECT needs fail_action.redirect")
                return .close
            }
            result = redirectAction(&redirect) ?? .close
            FieldRules.pool.report(redirect, log: &log)
        default:
            action.skip(["local_rsp", "redirect", "backup_pool"])
            log.warning(subject, setting: "fail_action.type", "fail_action type \(type) is not supported by tether; the "
                + "client connection is closed instead (FAIL_ACTION_CLOSE_CONN, Avi's default)")
        }
        FieldRules.pool.report(action, log: &log)
        return result
    }

    private mutating func redirectAction(_ redirect: inout FieldReader) -> WhenAllDown? {
        let subject = redirect.subject
        guard let host = text(&redirect, "host") else {
            log.error(subject, "fail_action.redirect needs a host (Avi requires one)")
            return nil
        }
        let scheme: String
        switch text(&redirect, "protocol") ?? "HTTPS" {
        case "HTTP": scheme = "http"
        case "HTTPS": scheme = "https"
        case let other:
            log.error(subject, "fail_action.redirect.protocol must be HTTP or HTTPS, found '\(other)'")
            return nil
        }
        var location = "\(scheme)://\(host)"
        let path = text(&redirect, "path") ?? ""
        location += path.hasPrefix("/") ? path : "/" + path
        if let query = text(&redirect, "query") {
            location += "?" + (query.hasPrefix("?") ? String(query.dropFirst()) : query)
        }
        guard location.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) else {
            log.error(subject, "fail_action.redirect makes the location '\(location)', which is not a URL (it needs "
                + "visible ASCII only; percent-encode the rest)")
            return nil
        }
        var status: UInt16 = 302
        if let code = text(&redirect, "status_code") {
            let digits = code.hasPrefix("HTTP_REDIRECT_STATUS_CODE_") ? UInt16(code.dropFirst("HTTP_REDIRECT_STATUS_CODE_".count)) : nil
            if let digits, [301, 302, 303, 307, 308].contains(digits) {
                status = digits
            } else {
                log.warning(subject, setting: "fail_action.redirect.status_code", "fail_action.redirect.status_code \(code) "
                    + "is not one tether knows (301, 302, 303, 307, 308); 302 is used")
            }
        }
        return .redirect(status: status, location: location)
    }

    /// The pool's servers. Unsupported server settings are reported once per
    /// setting for the whole pool, naming the servers that have them.
    private mutating func servers(_ items: [JSONValue], pool subject: AviSubject, defaultPort: Int, persistent: Bool) -> [Server] {
        var servers: [Server] = []
        var names: Set<String> = []
        var endpoints: [String: String] = [:]
        var headerValues: [String: String] = [:]
        var unsupported: [(field: String, value: JSONValue, servers: [String])] = []

        for (position, item) in items.enumerated() {
            guard let members = item.members else {
                log.error(subject, "servers[\(position)] must be an object, found \(item.brief)")
                continue
            }
            var r = FieldReader(members, subject: subject, path: "servers[].", shownPath: "servers[\(position)].")
            let errorsBefore = log.errors.count
            guard var ip = nested(&r, "ip") else {
                if log.errors.count == errorsBefore { log.error(subject, "servers[\(position)] has no ip (Avi requires one)") }
                continue
            }
            let addressText = text(&ip, "addr")
            let family = text(&ip, "type") ?? "V4"
            FieldRules.pool.report(ip, log: &log)
            guard let addressText else {
                log.error(subject, "servers[\(position)] has no ip.addr")
                continue
            }
            if family == "DNS" {
                log.warning(subject, setting: "servers[\(addressText)]", "server '\(addressText)' is given by DNS name; "
                    + "tether needs IP addresses (it resolves no names, so every machine routes alike), server dropped")
                continue
            }
            guard let address = IPAddress(addressText), family == (address.family == .v4 ? "V4" : "V6") else {
                log.error(subject, "servers[\(position)].ip.addr '\(addressText)' is not an IP\(family == "V6" ? "v6" : "v4") address")
                continue
            }
            if address.isUnspecified || address.isMulticastOrBroadcast {
                log.error(subject, "servers[\(position)].ip.addr '\(addressText)' is not the address of a server")
                continue
            }
            var port = integer(&r, "port", 0...65535) ?? 0
            if port == 0 { port = defaultPort }
            let ratio = integer(&r, "ratio", 1...20) ?? 1
            let enabled = boolean(&r, "enabled") ?? true
            let hostname = text(&r, "hostname")
            let headerValue = text(&r, "prst_hdr_val")
            guard log.errors.count == errorsBefore else { continue }

            let shown = address.family == .v4 ? "\(address)" : "[\(address)]"
            let endpoint = "\(shown):\(port)"
            if let first = endpoints[endpoint] {
                log.error(subject, "server '\(first)' and servers[\(position)] are both \(endpoint); a pool lists a server once")
                continue
            }

            var name = hostname.flatMap { AviIndexRules.nameProblem($0) == nil ? $0 : nil } ?? "\(address)"
            if names.contains(name) { name += ":\(port)" }
            var suffix = 2
            let base = name
            while names.contains(name) {
                name = "\(base)-\(suffix)"
                suffix += 1
            }
            names.insert(name)
            endpoints[endpoint] = name

            var server = Server(name: name, address: address, port: UInt16(port), ratio: UInt8(ratio), enabled: enabled)
            if let headerValue, persistent {
                if let problem = HTTPRules.headerValueProblem(headerValue) {
                    log.warning(subject, setting: "servers[\(name)].prst_hdr_val", "server '\(name)': prst_hdr_val "
                        + "\(JSONValue.string(headerValue).brief) \(problem); the server takes no pinned traffic")
                } else if let other = headerValues[headerValue] {
                    log.warning(subject, setting: "servers[\(name)].prst_hdr_val", "servers '\(other)' and '\(name)' have "
                        + "the same prst_hdr_val '\(headerValue)'; tether needs unique values, so '\(other)' takes it and "
                        + "'\(name)' takes no pinned traffic")
                } else {
                    headerValues[headerValue] = name
                    server.headerValue = headerValue
                }
            }
            servers.append(server)

            for (field, value) in FieldRules.pool.unsupported(in: r) {
                if let i = unsupported.firstIndex(where: { $0.field == field }) {
                    unsupported[i].servers.append(name)
                } else {
                    unsupported.append((field, value, [name]))
                }
            }
        }
        for (field, value, names) in unsupported {
            var message = "field '\(field)' is not supported by tether"
            if let reason = FieldRules.pool.reasons[field] { message += " (\(reason))" }
            let which = names.count == 1 ? "server '\(names[0])': \(value.brief)"
                : "servers " + names.map { "'\($0)'" }.joined(separator: ", ")
            log.warning(subject, setting: field, message + ", dropped (\(which))")
        }
        return servers
    }
}
