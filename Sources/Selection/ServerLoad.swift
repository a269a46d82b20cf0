import RoutingTable

/// What routing needs to know about servers right now. The worker's
/// implementation reads the shared-memory down bits and cross-worker
/// connection counts; tests use plain arrays. Indices are table server
/// indices.
public protocol ServerLoad {
    /// Marked down by the health monitor (or by passive detection).
    func isDown(_ server: UInt32) -> Bool
    /// Requests in flight to the server, across all workers.
    func inFlight(_ server: UInt32) -> UInt32
}

extension ServerLoad {
    /// DESIGN.md §1: available = enabled, not marked down, and below the
    /// pool's connection limit (0 = no limit).
    @inlinable
    public func isAvailable(_ server: ServerView, index: UInt32, limit: UInt32) -> Bool {
        server.enabled && !isDown(index) && (limit == 0 || inFlight(index) < limit)
    }
}
