import RoutingTable

/// What routing needs to know about servers right now. The worker's
/// implementation reads the shared-memory down bits and cross-worker
/// connection counts; tests use plain arrays. Servers are named by their
/// state slot (`ServerView.stateSlot`), which survives reloads.
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
    public func isAvailable(_ server: ServerView, limit: UInt32) -> Bool {
        let slot = server.stateSlot
        return server.enabled && !isDown(slot) && (limit == 0 || inFlight(slot) < limit)
    }
}
