import RoutingTable

/// Smooth weighted round robin: steps through the pool's precomputed order
/// (`SmoothWeightedOrder`), skipping servers that are not available.
/// Constant time per pick while servers are up; the cursor is per worker.
public enum RoundRobin {
    @inlinable
    public static func pick<L: ServerLoad>(
        pool: PoolView, table: RoutingTableView, cursor: inout UInt32, excluding: UInt32, load: L
    ) -> UInt32? {
        let n = pool.rrCount
        guard n > 0 else { return nil }
        let limit = pool.maxConnectionsPerServer
        var k = Int(cursor) % n
        for _ in 0..<n {
            let s = pool.rrServer(k)
            k = k &+ 1 == n ? 0 : k &+ 1
            if s != excluding, load.isAvailable(table.server(s), limit: limit) {
                cursor = UInt32(k)
                return s
            }
        }
        return nil
    }
}
