import SharedState

/// The counters of `tether status` and the admin endpoint, as the data path
/// keeps them: plain adds into this worker's private memory, no atomic and
/// no shared cache line per request. `publish` moves what accumulated into
/// the shared region at the top of every loop iteration (one relaxed atomic
/// add per counter that changed, however many requests the batch carried),
/// so the shared numbers trail the requests by at most one batch.
///
/// Per-server counts are indexed by the current table's server index; the
/// per-table part is replaced on a table switch, after a `publish`.
struct Tally: ~Copyable {
    static let workerCounters = WorkerSlot.Counter.allCases.count
    /// A server's counters, then its net connections opened (a wrapping
    /// `UInt64` holding an `Int64`).
    static let serverStride = ServerSlot.Counter.allCases.count + 1
    static let connectionDelta = ServerSlot.Counter.allCases.count

    let worker: UnsafeMutablePointer<UInt64>
    private(set) var serverCount: Int
    private var servers: UnsafeMutablePointer<UInt64>
    /// Servers with something to publish, each listed once (`listed`).
    private var dirty: UnsafeMutablePointer<UInt32>
    private var listed: UnsafeMutablePointer<Bool>
    private var dirtyCount = 0
    /// The connection count last stored in the worker slot.
    private var publishedConnections: UInt64 = .max

    init(servers count: Int) {
        worker = .allocate(capacity: Tally.workerCounters)
        worker.initialize(repeating: 0, count: Tally.workerCounters)
        serverCount = count
        (servers, dirty, listed) = Tally.allocateServers(count)
    }

    deinit {
        worker.deallocate()
        servers.deallocate()
        dirty.deallocate()
        listed.deallocate()
    }

    private static func allocateServers(_ count: Int)
        -> (UnsafeMutablePointer<UInt64>, UnsafeMutablePointer<UInt32>, UnsafeMutablePointer<Bool>) {
        let n = max(1, count)
        let servers = UnsafeMutablePointer<UInt64>.allocate(capacity: n * serverStride)
        servers.initialize(repeating: 0, count: n * serverStride)
        let dirty = UnsafeMutablePointer<UInt32>.allocate(capacity: n)
        let listed = UnsafeMutablePointer<Bool>.allocate(capacity: n)
        listed.initialize(repeating: false, count: n)
        return (servers, dirty, listed)
    }

    /// Starts counting for a table of `count` servers. Call `publish` first:
    /// what was not published is dropped.
    mutating func resize(servers count: Int) {
        servers.deallocate()
        dirty.deallocate()
        listed.deallocate()
        serverCount = count
        dirtyCount = 0
        (servers, dirty, listed) = Tally.allocateServers(count)
    }

    @inline(__always)
    func add(_ counter: WorkerSlot.Counter, _ n: UInt64 = 1) {
        worker[counter.rawValue] &+= n
    }

    @inline(__always)
    mutating func add(_ counter: ServerSlot.Counter, server: UInt32, _ n: UInt64 = 1) {
        let s = Int(server)
        servers[s &* Tally.serverStride &+ counter.rawValue] &+= n
        markDirty(s)
    }

    /// `delta`: +1 for a connection opened, -1 for one closed.
    @inline(__always)
    mutating func addConnections(server: UInt32, _ delta: Int64) {
        let s = Int(server)
        servers[s &* Tally.serverStride &+ Tally.connectionDelta] &+= UInt64(bitPattern: delta)
        markDirty(s)
    }

    @inline(__always)
    private mutating func markDirty(_ s: Int) {
        if !listed[s] {
            listed[s] = true
            dirty[dirtyCount] = UInt32(s)
            dirtyCount &+= 1
        }
    }

    /// The counter of a response's status class (1xx ... 5xx).
    @inline(__always)
    static func responseCounter(status: UInt16) -> ServerSlot.Counter {
        let c = min(max(Int(status) / 100, 1), 5)
        return ServerSlot.Counter(rawValue: ServerSlot.Counter.responses1xx.rawValue + c - 1).unsafelyUnwrapped
    }

    /// The count not yet published (for tests).
    func pending(_ counter: ServerSlot.Counter, server: UInt32) -> UInt64 {
        servers[Int(server) * Tally.serverStride + counter.rawValue]
    }

    /// Adds what accumulated to the shared counters and starts again from
    /// zero. `stateSlots[s]` is table server `s`'s shared slot; the net
    /// connections added there are held in `holdings` too. The worker
    /// slot's connection gauge is stored only while `ownsSlot` (a worker
    /// being replaced leaves it to its successor).
    mutating func publish(to region: SharedRegion, workerIndex: Int, stateSlots: UnsafeMutablePointer<UInt32>,
                          holdings: WorkerHoldings, openConnections: Int, ownsSlot: Bool) {
        let slot = region.worker(workerIndex)
        for k in 0..<Tally.workerCounters where worker[k] != 0 {
            slot.add(WorkerSlot.Counter(rawValue: k).unsafelyUnwrapped, worker[k])
            worker[k] = 0
        }
        if ownsSlot && UInt64(openConnections) != publishedConnections {
            slot.set(.connectionsOpen, UInt64(openConnections))
            publishedConnections = UInt64(openConnections)
        }
        for d in 0..<dirtyCount {
            let s = Int(dirty[d])
            listed[s] = false
            let slot = stateSlots[s]
            let shared = region.server(slot)
            let base = servers + s * Tally.serverStride
            for k in 0..<Tally.connectionDelta where base[k] != 0 {
                shared.add(ServerSlot.Counter(rawValue: k).unsafelyUnwrapped, base[k])
                base[k] = 0
            }
            if base[Tally.connectionDelta] != 0 {
                holdings.addConnections(Int32(truncatingIfNeeded: Int64(bitPattern: base[Tally.connectionDelta])),
                                        to: shared, slot: slot)
                base[Tally.connectionDelta] = 0
            }
        }
        dirtyCount = 0
    }
}
