import RoutingTable
import TLS

/// Flattens a validated configuration into the routing table's input:
/// names become indices, durations milliseconds, profiles the pool's
/// persistence settings.
///
/// `config` must come from `ConfigLoader` (or satisfy everything it checks):
/// a reference to a pool or profile that does not exist is a programming
/// error here, not a user error.
public func compile(_ config: TetherConfig) -> TableSpec {
    var profiles: [String: PersistenceProfile] = [:]
    for profile in config.persistenceProfiles { profiles[profile.name] = profile }
    var poolIndex: [String: Int] = [:]
    for (i, pool) in config.pools.enumerated() { poolIndex[pool.name] = i }
    var monitorIndex: [String: Int] = [:]
    for (i, monitor) in config.healthMonitors.enumerated() { monitorIndex[monitor.name] = i }

    let pools = config.pools.map { pool -> PoolSpec in
        var persistence: PersistenceSpec?
        if let name = pool.persistenceProfile {
            guard let profile = profiles[name] else {
                preconditionFailure("pool '\(pool.name)' names persistence profile '\(name)', which does not exist")
            }
            persistence = PersistenceSpec(headerName: profile.headerName, serverDown: profile.serverDown)
        }
        return PoolSpec(
            name: pool.name, lbAlgorithm: pool.lbAlgorithm, hashKey: pool.hashKey, persistence: persistence,
            maxConnectionsPerServer: pool.maxConnectionsPerServer, whenAllDown: pool.whenAllDown,
            servers: pool.servers.map { server in
                ServerSpec(name: server.name, address: server.address, port: server.port,
                           headerValue: server.headerValue, ratio: server.ratio, enabled: server.enabled)
            },
            healthMonitors: pool.healthMonitors.map { name in
                guard let i = monitorIndex[name] else {
                    preconditionFailure("pool '\(pool.name)' names health monitor '\(name)', which does not exist")
                }
                return i
            })
    }

    let virtualServices = config.virtualServices.map { vs -> VirtualServiceSpec in
        guard let pool = poolIndex[vs.pool] else {
            preconditionFailure("virtual service '\(vs.name)' names pool '\(vs.pool)', which does not exist")
        }
        let timeouts = Timeouts(
            clientHeaderMs: UInt32(clamping: milliseconds(vs.timeouts.clientHeader)),
            clientIdleMs: UInt32(clamping: milliseconds(vs.timeouts.clientIdle)),
            connectMs: UInt32(clamping: milliseconds(vs.timeouts.connect)),
            serverResponseMs: UInt32(clamping: milliseconds(vs.timeouts.serverResponse)))
        return VirtualServiceSpec(
            name: vs.name, listen: vs.listen.map(\.text), pool: pool, xForwardedFor: vs.xForwardedFor,
            timeouts: timeouts, maxHeaderBytes: UInt32(clamping: vs.maxHeaderBytes), tls: vs.tls.map(tlsSpec))
    }

    return TableSpec(virtualServices: virtualServices, pools: pools,
                     healthMonitors: config.healthMonitors.map(compile))
}

func compile(_ monitor: HealthMonitor) -> HealthMonitorSpec {
    let check: HealthMonitorSpec.Check
    switch monitor.check {
    case .tcp:
        check = .tcp
    case let .http(request, expectedStatus):
        check = .http(request: render(request), hasHost: request.headers.contains { $0.name.lowercased() == "host" },
                      expected: expected(expectedStatus))
    }
    return HealthMonitorSpec(
        name: monitor.name, check: check,
        intervalMs: UInt32(clamping: milliseconds(monitor.interval)),
        timeoutMs: UInt32(clamping: milliseconds(monitor.timeout)),
        successfulChecks: UInt8(clamping: monitor.successfulChecks),
        failedChecks: UInt8(clamping: monitor.failedChecks))
}

/// The request line and header lines of a check, each ending in CRLF. An
/// HTTP/1.1 check asks the server to close (one request per connection)
/// unless the operator set `Connection` themselves.
func render(_ request: HTTPCheckRequest) -> String {
    var text = "\(request.method) \(request.target) \(request.version)\r\n"
    for field in request.headers { text += "\(field.name): \(field.value)\r\n" }
    if request.version == "HTTP/1.1" && !request.headers.contains(where: { $0.name.lowercased() == "connection" }) {
        text += "Connection: close\r\n"
    }
    return text
}

func expected(_ matches: [StatusMatch]) -> ExpectedStatus {
    var result = ExpectedStatus()
    for match in matches {
        switch match {
        case .class(let c): result.classes |= UInt8(1) << UInt8(c)
        case .exact(let code): if !result.codes.contains(code) { result.codes.append(code) }
        }
    }
    return result
}

func tlsSpec(_ tls: VirtualServiceTLS) -> TLSSpec {
    TLSSpec(
        certificates: tls.certificates.map {
            TLSCertificateSpec(chainPEM: $0.pem.chain, keyPEM: $0.pem.key, serverNames: $0.serverNames)
        },
        minVersionMinor: tls.settings.minVersion == .tls13 ? 3 : 2,
        ciphers: tls.settings.ciphers, ciphersuites: tls.settings.ciphersuites)
}
