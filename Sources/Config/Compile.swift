import RoutingTable

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
            timeouts: timeouts, maxHeaderBytes: UInt32(clamping: vs.maxHeaderBytes), tls: false)
    }

    return TableSpec(virtualServices: virtualServices, pools: pools)
}
