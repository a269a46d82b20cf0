import Config
import RoutingTable

/// Writes a `TetherConfig` as the YAML `ConfigLoader` reads: block style,
/// one object per list item, servers and small settings in flow style,
/// strings plain where YAML reads them back unchanged and double-quoted
/// otherwise. Settings at tether's defaults are left out, except the ones
/// an operator comparing with Avi looks for.
enum ConfigYAML {
    static func render(_ config: TetherConfig, header: [String]) -> String {
        var out = header.map { "# " + $0 }.joined(separator: "\n") + "\n"

        if !config.persistenceProfiles.isEmpty {
            out += "\npersistence_profiles:\n"
            for p in config.persistenceProfiles {
                out += "  - name: \(scalar(p.name))\n"
                if let description = p.description { out += "    description: \(scalar(description))\n" }
                out += "    type: custom_http_header\n"
                out += "    header_name: \(scalar(p.headerName))\n"
                out += "    server_down: \(word(p.serverDown))\n"
            }
        }

        if !config.healthMonitors.isEmpty {
            out += "\nhealth_monitors:\n"
            for m in config.healthMonitors {
                out += "  - name: \(scalar(m.name))\n"
                switch m.check {
                case .tcp:
                    out += "    type: tcp\n"
                case .http:
                    out += "    type: http\n"
                }
                out += "    interval: \(duration(m.interval))\n"
                out += "    timeout: \(duration(m.timeout))\n"
                out += "    successful_checks: \(m.successfulChecks)\n"
                out += "    failed_checks: \(m.failedChecks)\n"
                if case .http(let request, let expected) = m.check {
                    var text = "\(request.method) \(request.target) \(request.version)"
                    for h in request.headers { text += "\n\(h.name): \(h.value)" }
                    out += "    request: \(quoted(text))\n"
                    out += "    expected_status: [\(expected.map(\.description).joined(separator: ", "))]\n"
                }
            }
        }

        if !config.pools.isEmpty {
            out += "\npools:\n"
            for p in config.pools {
                out += "  - name: \(scalar(p.name))\n"
                out += "    lb_algorithm: \(word(p.lbAlgorithm))\n"
                if p.lbAlgorithm == .consistentHash {
                    switch p.hashKey {
                    case .clientIP: out += "    hash_key: client_ip\n"
                    case .header(let name): out += "    hash_key: \(scalar("header:" + name))\n"
                    }
                }
                if let profile = p.persistenceProfile { out += "    persistence_profile: \(scalar(profile))\n" }
                if !p.healthMonitors.isEmpty {
                    out += "    health_monitors: [\(p.healthMonitors.map(scalar).joined(separator: ", "))]\n"
                }
                if p.maxConnectionsPerServer > 0 { out += "    max_connections_per_server: \(p.maxConnectionsPerServer)\n" }
                out += "    when_all_down: \(whenAllDown(p.whenAllDown))\n"
                if p.servers.isEmpty {
                    out += "    servers: []\n"
                } else {
                    out += "    servers:\n"
                    for s in p.servers {
                        var fields = ["name: \(scalar(s.name))", "address: \(scalar("\(s.address)"))", "port: \(s.port)"]
                        if let value = s.headerValue { fields.append("header_value: \(scalar(value))") }
                        if s.ratio != 1 { fields.append("ratio: \(s.ratio)") }
                        if !s.enabled { fields.append("enabled: false") }
                        out += "      - { \(fields.joined(separator: ", ")) }\n"
                    }
                }
            }
        }

        if !config.virtualServices.isEmpty {
            out += "\nvirtual_services:\n"
            for v in config.virtualServices {
                out += "  - name: \(scalar(v.name))\n"
                out += "    listen: [\(v.listen.map { quoted($0.text) }.joined(separator: ", "))]\n"
                out += "    pool: \(scalar(v.pool))\n"
                out += "    x_forwarded_for: \(v.xForwardedFor)\n"
                let t = v.timeouts
                if t != VirtualServiceTimeouts() {
                    out += "    timeouts: { client_header: \(duration(t.clientHeader)), client_idle: \(duration(t.clientIdle)), "
                        + "connect: \(duration(t.connect)), server_response: \(duration(t.serverResponse)) }\n"
                }
                if v.maxHeaderBytes != VirtualService.defaultMaxHeaderBytes {
                    let bytes = v.maxHeaderBytes
                    out += "    max_header_bytes: \(bytes % 1024 == 0 ? "\(bytes / 1024)KiB" : "\(bytes)")\n"
                }
            }
        }
        return out
    }

    private static func whenAllDown(_ action: WhenAllDown) -> String {
        switch action {
        case .close:
            return "{ action: close }"
        case .localResponse(let status, let retryAfter):
            return "{ action: local_response, status: \(status), retry_after: \(retryAfter)s }"
        case .redirect(let status, let location):
            return "{ action: redirect, status: \(status), location: \(quoted(location)) }"
        }
    }

    private static func word(_ p: ServerDownPolicy) -> String {
        switch p {
        case .immediate: return "immediate"
        case .never: return "never"
        case .abort: return "abort"
        }
    }

    private static func word(_ a: LBAlgorithm) -> String {
        switch a {
        case .leastConnections: return "least_connections"
        case .roundRobin: return "round_robin"
        case .consistentHash: return "consistent_hash"
        }
    }

    /// Whole seconds as "10s", anything finer in milliseconds.
    static func duration(_ d: Duration) -> String {
        let (seconds, attoseconds) = d.components
        let ms = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        return ms % 1000 == 0 ? "\(ms / 1000)s" : "\(ms)ms"
    }

    /// Words YAML 1.1 reads as booleans or null in some reader or other.
    private static let reserved: Set<String> = [
        "y", "yes", "n", "no", "true", "false", "on", "off", "null", "~",
    ]

    /// `s` plain when it is safe in block and flow context and no YAML
    /// reader takes it for anything but a string; double-quoted otherwise.
    static func scalar(_ s: String) -> String {
        guard let first = s.unicodeScalars.first else { return "\"\"" }
        let safe = s.unicodeScalars.allSatisfy { c in
            (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") || "_-./".unicodeScalars.contains(c)
        }
        let startsWell = (first >= "a" && first <= "z") || (first >= "A" && first <= "Z") || first == "_" || first == "/"
        if safe && startsWell && !reserved.contains(s.lowercased()) { return s }
        // Dotted quads read as strings in every YAML version.
        if safe, IPAddress(s)?.family == .v4 { return s }
        return quoted(s)
    }

    /// A double-quoted YAML scalar.
    static func quoted(_ s: String) -> String {
        var out = "\""
        for c in s.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                // Control characters, and the line breaks and byte order mark
                // YAML treats specially, are escaped.
                if c.value < 0x20 || c.value == 0x7F || (0x80...0x9F).contains(c.value) || c == "\u{2028}" || c == "\u{2029}"
                    || c == "\u{FEFF}" {
                    let hex = String(c.value, radix: 16, uppercase: true)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(c)
                }
            }
        }
        return out + "\""
    }
}
