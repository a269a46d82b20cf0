import Selection
import SharedState
import Synchronization

/// Per-server state shared by every worker: requests in flight and the
/// health monitor's down bit, one `Atomic<UInt32>` each, indexed by the
/// server's state slot (`ServerView.stateSlot`), which outlives tables.
///
/// The memory is the caller's (a shared mapping in the process model, plain
/// memory in tests); this type only binds and reads it. In-flight counts are
/// relaxed: they steer load balancing and limits, they publish no other data.
///
/// Beside each shared count, this worker keeps its own share of it in its
/// holdings record (plain memory of its own), for the supervisor to take
/// back should the worker be killed while requests are in flight.
public struct ServerCounters: @unchecked Sendable {
    public let count: Int
    let inFlightBase: UnsafeMutableRawPointer
    let downBase: UnsafeMutableRawPointer
    /// Bytes from one server's counters to the next.
    let stride: Int
    /// This worker's shares; `heldBase` is its first entry.
    public let holdings: WorkerHoldings
    let heldBase: UnsafeMutableRawPointer

    /// Bytes needed for `servers` servers in the default layout (all
    /// in-flight counts, then all down bits).
    public static func bytesNeeded(servers: Int) -> Int {
        2 * max(1, servers) * MemoryLayout<Atomic<UInt32>>.stride
    }

    /// Binds `memory` (at least `bytesNeeded(servers:)` bytes, 4-byte aligned,
    /// zero-filled or already bound by another process) in the default layout.
    public init(memory: UnsafeMutableRawPointer, servers: Int, holdings: WorkerHoldings) {
        let size = MemoryLayout<Atomic<UInt32>>.stride
        self.init(inFlight: memory, down: memory + max(1, servers) * size, stride: size, servers: servers, holdings: holdings)
    }

    /// Counters inside records of a shared region: server `s`'s in-flight
    /// count is the `Atomic<UInt32>` at `inFlight + s * stride`, its down bit
    /// (nonzero: down) at `down + s * stride`; `holdings` (covering at least
    /// `servers` slots) keeps this worker's share of each.
    public init(inFlight: UnsafeMutableRawPointer, down: UnsafeMutableRawPointer, stride: Int, servers: Int,
                holdings: WorkerHoldings) {
        let alignment = MemoryLayout<Atomic<UInt32>>.alignment
        precondition(Int(bitPattern: inFlight) % alignment == 0 && Int(bitPattern: down) % alignment == 0
                     && stride % alignment == 0, "server counters must be 4-byte aligned")
        count = servers
        self.stride = stride
        inFlightBase = inFlight
        downBase = down
        self.holdings = holdings
        heldBase = holdings.entries
    }

    /// Private zero-filled counters for a worker that shares them with no one.
    public static func allocatePrivate(servers: Int) -> ServerCounters {
        let bytes = bytesNeeded(servers: servers)
        let memory = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        memory.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        return ServerCounters(memory: memory, servers: servers, holdings: .allocatePrivate(servers: servers))
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

    /// This worker's share of `server`'s in-flight count (`WorkerHoldings`).
    @inline(__always)
    func held(_ server: UInt32) -> UnsafeMutablePointer<UInt32> {
        (heldBase + Int(server) &* WorkerHoldings.entrySize).assumingMemoryBound(to: UInt32.self)
    }

    /// Counts a request to `server` unless `limit` (nonzero) are already in
    /// flight there, atomically across workers: two workers that both saw
    /// room for one more cannot both take it.
    ///
    /// The share is held after the shared count grew and dropped before it
    /// shrinks (`decrement`), so a SIGKILL between the two never leaves
    /// more held than counted; acquiring and releasing keep the plain
    /// store on its side of the atomic one (the same instructions on x86).
    @inline(__always)
    func reserve(_ server: UInt32, limit: UInt32) -> Bool {
        let counter = inFlightCounter(server)
        if limit == 0 {
            counter.pointee.wrappingAdd(1, ordering: .acquiring)
            held(server).pointee &+= 1
            return true
        }
        var current = counter.pointee.load(ordering: .relaxed)
        while current < limit {
            let (exchanged, original) = counter.pointee.weakCompareExchange(
                expected: current, desired: current + 1, successOrdering: .acquiring, failureOrdering: .relaxed)
            if exchanged {
                held(server).pointee &+= 1
                return true
            }
            current = original
        }
        return false
    }

    @inline(__always)
    func decrement(_ server: UInt32) {
        held(server).pointee &-= 1
        inFlightCounter(server).pointee.wrappingSubtract(1, ordering: .releasing)
    }

    /// Marks a server down or up (the health monitor's job; tests use it too).
    public func setDown(_ server: UInt32, _ down: Bool) {
        downBit(server).pointee.store(down ? 1 : 0, ordering: .relaxed)
    }
}

extension ServerCounters: ServerLoad {}
