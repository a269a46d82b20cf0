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
    let inFlightBase: UnsafeMutableRawPointer
    let downBase: UnsafeMutableRawPointer
    /// Bytes from one server's counters to the next.
    let stride: Int

    /// Bytes needed for `servers` servers in the default layout (all
    /// in-flight counts, then all down bits).
    public static func bytesNeeded(servers: Int) -> Int {
        2 * max(1, servers) * MemoryLayout<Atomic<UInt32>>.stride
    }

    /// Binds `memory` (at least `bytesNeeded(servers:)` bytes, 4-byte aligned,
    /// zero-filled or already bound by another process) in the default layout.
    public init(memory: UnsafeMutableRawPointer, servers: Int) {
        let size = MemoryLayout<Atomic<UInt32>>.stride
        self.init(inFlight: memory, down: memory + max(1, servers) * size, stride: size, servers: servers)
    }

    /// Counters inside records of a shared region: server `s`'s in-flight
    /// count is the `Atomic<UInt32>` at `inFlight + s * stride`, its down bit
    /// (nonzero: down) at `down + s * stride`.
    public init(inFlight: UnsafeMutableRawPointer, down: UnsafeMutableRawPointer, stride: Int, servers: Int) {
        let alignment = MemoryLayout<Atomic<UInt32>>.alignment
        precondition(Int(bitPattern: inFlight) % alignment == 0 && Int(bitPattern: down) % alignment == 0
                     && stride % alignment == 0, "server counters must be 4-byte aligned")
        count = servers
        self.stride = stride
        inFlightBase = inFlight
        downBase = down
    }

    /// Private zero-filled counters for a worker that shares them with no one.
    public static func allocatePrivate(servers: Int) -> ServerCounters {
        let bytes = bytesNeeded(servers: servers)
        let memory = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        memory.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        return ServerCounters(memory: memory, servers: servers)
    }

    @inline(__always)
    func inFlightCounter(_ server: UInt32) -> UnsafeMutablePointer<Atomic<UInt32>> {
        (inFlightBase + Int(server) &* stride).assumingMemoryBound(to: Atomic<UInt32>.self)
    }

    @inline(__always)
    func downBit(_ server: UInt32) -> UnsafeMutablePointer<Atomic<UInt32>> {
        (downBase + Int(server) &* stride).assumingMemoryBound(to: Atomic<UInt32>.self)
    }

    @inline(__always)
    public func inFlight(_ server: UInt32) -> UInt32 {
        inFlightCounter(server).pointee.load(ordering: .relaxed)
    }

    @inline(__always)
    public func isDown(_ server: UInt32) -> Bool {
        downBit(server).pointee.load(ordering: .relaxed) != 0
    }

    @inline(__always)
    func increment(_ server: UInt32) {
        inFlightCounter(server).pointee.wrappingAdd(1, ordering: .relaxed)
    }

    /// Counts a request to `server` unless `limit` (nonzero) are already in
    /// flight there, atomically across workers: two workers that both saw
    /// room for one more cannot both take it.
    @inline(__always)
    func reserve(_ server: UInt32, limit: UInt32) -> Bool {
        let counter = inFlightCounter(server)
        if limit == 0 {
            counter.pointee.wrappingAdd(1, ordering: .relaxed)
            return true
        }
        var current = counter.pointee.load(ordering: .relaxed)
        while current < limit {
            let (exchanged, original) = counter.pointee.weakCompareExchange(
                expected: current, desired: current + 1, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
        return false
    }

    @inline(__always)
    func decrement(_ server: UInt32) {
        inFlightCounter(server).pointee.wrappingSubtract(1, ordering: .relaxed)
    }

    /// Marks a server down or up (the health monitor's job; tests use it too).
    public func setDown(_ server: UInt32, _ down: Bool) {
        downBit(server).pointee.store(down ? 1 : 0, ordering: .relaxed)
    }
}

extension ServerCounters: ServerLoad {}
