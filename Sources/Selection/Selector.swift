import RoutingTable

/// The routing decision of DESIGN.md §1 as a pure function of the table,
/// the servers' load and the request's header value, plus the per-worker
/// cursors that round robin and least connections advance. Allocation-free
/// per request; build a new one (one allocation per pool) when the table
/// changes.
public struct Selector {
    public let table: RoutingTableView
    @usableFromInline var cursors: [UInt32]

    /// `seed` spreads workers' starting points so they do not all begin
    /// round robin on the same server.
    public init(table: RoutingTableView, seed: UInt32 = 0) {
        self.table = table
        cursors = (0..<table.poolCount).map { i in
            let n = UInt32(max(table.pool(UInt32(i)).rrCount, 1))
            return seed % n
        }
    }

    /// - Parameters:
    ///   - persistenceValue: the trimmed value of the pool's persistence
    ///     header, nil when the request has none.
    ///   - hashKey: the consistent-hash key (hash of the client address, or
    ///     of the `hash_key` header's value when present).
    ///   - excluding: a server whose connect just failed, for the one retry
    ///     DESIGN.md §2 allows; `noServer` otherwise.
    @inlinable
    public mutating func route<L: ServerLoad>(
        pool index: UInt32, persistenceValue: UnsafeRawBufferPointer?, hashKey: UInt64,
        excluding: UInt32 = noServer, load: L
    ) -> Route {
        let pool = table.pool(index)
        if pool.hasPersistence, let value = persistenceValue {
            let (match, valueHash) = pool.lookup(value)
            if let pinned = match {
                return routePinned(pinned, valueHash: valueHash, pool: pool, index: index, excluding: excluding, load: load)
            }
        }
        return balance(pool: pool, index: index, hashKey: hashKey, excluding: excluding, load: load)
    }

    @inlinable
    mutating func routePinned<L: ServerLoad>(
        _ pinned: UInt32, valueHash: UInt64, pool: PoolView, index: UInt32, excluding: UInt32, load: L
    ) -> Route {
        let server = table.server(pinned)
        let limit = pool.maxConnectionsPerServer
        if pinned != excluding && load.isAvailable(server, limit: limit) {
            return .forward(server: pinned, reason: .pinned)
        }
        switch pool.serverDown {
        case .never:
            if pinned == excluding { return .respond(status: 502, retryAfter: 0) }
            if !server.enabled || (limit != 0 && load.inFlight(server.stateSlot) >= limit) {
                return .respond(status: 503, retryAfter: 0)
            }
            // Only marked down: `never` still sends it there.
            return .forward(server: pinned, reason: .pinned)
        case .abort:
            return .close
        case .immediate:
            if let replacement = Rendezvous.pick(pool: pool, table: table, key: valueHash, excluding: pinned, load: load) {
                return .forward(server: replacement, reason: .failover)
            }
            return allDown(pool: pool, index: index)
        }
    }

    @inlinable
    mutating func balance<L: ServerLoad>(
        pool: PoolView, index: UInt32, hashKey: UInt64, excluding: UInt32, load: L
    ) -> Route {
        let picked: UInt32?
        switch pool.lbAlgorithm {
        case .roundRobin:
            picked = RoundRobin.pick(pool: pool, table: table, cursor: &cursors[Int(index)], excluding: excluding, load: load)
        case .leastConnections:
            picked = LeastConnections.pick(pool: pool, table: table, rotation: &cursors[Int(index)], excluding: excluding, load: load)
        case .consistentHash:
            picked = Rendezvous.pick(pool: pool, table: table, key: hashKey, excluding: excluding, load: load)
        }
        if let s = picked { return .forward(server: s, reason: .balanced) }
        return allDown(pool: pool, index: index)
    }

    @inlinable
    func allDown(pool: PoolView, index: UInt32) -> Route {
        switch pool.whenAllDown {
        case .localResponse: return .respond(status: pool.whenAllDownStatus, retryAfter: pool.retryAfterSeconds)
        case .close: return .close
        case .redirect: return .redirect(status: pool.whenAllDownStatus, pool: index)
        }
    }
}
