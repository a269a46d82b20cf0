import Selection
import Synchronization

/// Per-server state shared by every worker: requests in flight and the
/// health monitor's down bit, one `Atomic<UInt32>` each, indexed by the
/// server's state slot (`ServerView.stateSlot`), which outlives tables.
///
/// The memory is the caller's (a shared mapping in the process model, plain
/// memory in tests); this type only binds and reads it. In-flight counts are
/// relaxed: they steer load balancing and limits, they publish no other data.
public struct ServerCounters: @unchecked Sendable {
    public let count: Int
    let inFlightBase: UnsafeMutablePointer<Atomic<UInt32>>
    let downBase: UnsafeMutablePointer<Atomic<UInt32>>

    /// Bytes needed for `servers` servers.
    public static func bytesNeeded(servers: Int) -> Int {
        2 * max(1, servers) * MemoryLayout<Atomic<UInt32>>.stride
    }

    /// Binds `memory` (at least `bytesNeeded(servers:)` bytes, 4-byte aligned,
    /// zero-filled or already bound by another process) to the counters.
    public init(memory: UnsafeMutableRawPointer, servers: Int) {
        precondition(Int(bitPattern: memory) % MemoryLayout<Atomic<UInt32>>.alignment == 0)
        count = servers
        inFlightBase = memory.bindMemory(to: Atomic<UInt32>.self, capacity: 2 * max(1, servers))
        downBase = inFlightBase + max(1, servers)
    }

    /// Private zero-filled counters for a worker that shares them with no one.
    public static func allocatePrivate(servers: Int) -> ServerCounters {
        let bytes = bytesNeeded(servers: servers)
        let memory = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        memory.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        return ServerCounters(memory: memory, servers: servers)
    }

    @inline(__always)
    public func inFlight(_ server: UInt32) -> UInt32 {
        inFlightBase[Int(server)].load(ordering: .relaxed)
    }

    @inline(__always)
    public func isDown(_ server: UInt32) -> Bool {
        downBase[Int(server)].load(ordering: .relaxed) != 0
    }

    @inline(__always)
    func increment(_ server: UInt32) {
        inFlightBase[Int(server)].wrappingAdd(1, ordering: .relaxed)
    }

    @inline(__always)
    func decrement(_ server: UInt32) {
        inFlightBase[Int(server)].wrappingSubtract(1, ordering: .relaxed)
    }

    /// Marks a server down or up (the health monitor's job; tests use it too).
    public func setDown(_ server: UInt32, _ down: Bool) {
        downBase[Int(server)].store(down ? 1 : 0, ordering: .relaxed)
    }
}

extension ServerCounters: ServerLoad {}
