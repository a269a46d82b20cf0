import RoutingTable

/// Least connections weighted by ratio: the available server with the
/// lowest in-flight/ratio, compared by cross-multiplication. Ties go to the
/// first after a rotating start, so equal servers share the load instead of
/// the first one taking every tie.
public enum LeastConnections {
    @inlinable
    public static func pick<L: ServerLoad>(
        pool: PoolView, table: RoutingTableView, rotation: inout UInt32, excluding: UInt32, load: L
    ) -> UInt32? {
        let count = pool.serverCount
        guard count > 0 else { return nil }
        let first = pool.firstServer
        let limit = pool.maxConnectionsPerServer
        let start = rotation % count
        rotation = rotation &+ 1
        var best: UInt32? = nil
        var bestLoad: UInt64 = 0, bestRatio: UInt64 = 1
        for i in 0..<count {
            var offset = start &+ i
            if offset >= count { offset &-= count }
            let s = first &+ offset
            if s == excluding { continue }
            let server = table.server(s)
            guard load.isAvailable(server, limit: limit) else { continue }
            let inFlight = UInt64(load.inFlight(server.stateSlot)), ratio = UInt64(server.ratio)
            if best == nil || inFlight * bestRatio < bestLoad * ratio {
                best = s
                bestLoad = inFlight
                bestRatio = ratio
            }
        }
        return best
    }
}
