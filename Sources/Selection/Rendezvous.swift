import RoutingTable

/// Weighted rendezvous (highest-random-weight) hashing over a pool's
/// available servers. A server of ratio r takes r scores and keeps the
/// highest, so it wins for a share r/Σr of keys, exactly, using integer
/// arithmetic only: every machine computes the same winner. When a server
/// leaves, only the keys it won move; when it returns, they come back.
public enum Rendezvous {
    @inlinable
    public static func pick<L: ServerLoad>(
        pool: PoolView, table: RoutingTableView, key: UInt64, excluding: UInt32, load: L
    ) -> UInt32? {
        let limit = pool.maxConnectionsPerServer
        var best: UInt32? = nil
        var bestScore: UInt64 = 0
        for s in pool.servers where s != excluding {
            let server = table.server(s)
            guard load.isAvailable(server, limit: limit) else { continue }
            let identity = server.identity
            for replica in 0..<server.ratio {
                let score = TetherHash.score(key: key, identity: identity, replica: replica)
                if best == nil || score > bestScore {
                    best = s
                    bestScore = score
                }
            }
        }
        return best
    }
}
