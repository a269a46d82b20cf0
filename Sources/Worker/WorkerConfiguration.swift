import RoutingTable
import Ring
import SharedState

/// Everything one worker process needs to serve traffic.
public struct WorkerConfiguration {
    /// A listening socket and the virtual service (table index) it feeds.
    public enum Listener {
        /// The worker binds this address itself (SO_REUSEPORT).
        case address(IPAddress, port: UInt16, service: UInt32)
        /// A socket already bound and listening (the supervisor's).
        case descriptor(CInt, service: UInt32)
    }

    /// The compiled routing table (`TableBuilder.build`).
    public var tableImage: [UInt8]
    /// Listening sockets; empty means every listen address of every virtual
    /// service in the table, bound by the worker.
    public var listeners: [Listener] = []
    /// Per-server in-flight counts and down bits; nil gives the worker
    /// private ones.
    public var counters: ServerCounters? = nil

    /// The shared state of a supervised worker: server counters come from
    /// its server slots, new tables from its generation word, and the
    /// worker announces itself in `worker(workerIndex)`. Nil: a standalone
    /// worker with one table for its lifetime.
    public var region: SharedRegion? = nil
    public var workerIndex: Int = 0
    /// This worker process's holdings record in `region` (its share of
    /// each server's counts, which the supervisor takes back if it dies);
    /// nil: its shares stay private.
    public var holdingsRecord: Int? = nil
    public var cpu: Int = -1
    /// The generation of `tableImage` in `region`.
    public var tableGeneration: UInt64 = 0

    /// An open file (O_APPEND) for the access log; nil: no access log.
    public var accessLogDescriptor: CInt? = nil
    /// The generation of that file (or of its absence) in `region`
    /// (`AccessLogFile`): a newer one published there is switched to.
    public var accessLogGeneration: UInt32 = 0

    /// Spreads round-robin starting points across workers (the worker index).
    public var selectorSeed: UInt32 = 0

    /// Submission-queue entries (the completion queue is four times deeper).
    public var ringEntries: UInt32 = 4096
    /// Provided receive buffers: a power of two up to 32768. 64 KiB each:
    /// a 64 KiB body crosses in one receive and one send per direction
    /// instead of four (bench/run pinned-ka-body64k: 37 µs of CPU per
    /// request against 68–89 µs with 16 KiB buffers, the same for small
    /// requests). A connection holds one only while data it received is on
    /// its way, but a client that reads its response slowly holds one for
    /// as long as the send waits, so the count bounds how many such clients
    /// a worker carries before its receives stall: 4096 (256 MiB of address
    /// space per worker, reserved, not committed). The ring hands out the
    /// most recently returned buffers first, so memory is touched only as
    /// far as concurrency needs: RSS grows with the most buffers ever in use
    /// at once (and stays there), not with traffic. 4096 slow readers per
    /// worker still stall it; past that, memory is the limit to choose.
    public var bufferCount: Int = 4096
    public var bufferSize: Int = 64 * 1024
    /// Buffers for request or response heads larger than `bufferSize`, each
    /// as large as the largest `max_header_bytes`.
    public var largeBufferCount: Int = 64
    public var maxClientConnections: Int = 16 * 1024
    /// The supervisor's claim number for this start (`WorkerSlot.claim`):
    /// the worker takes its shared slot only while the slot still names
    /// it; 0: unconditionally (tests, a worker without a supervisor).
    public var slotClaim: UInt64 = 0
    /// Idle keep-alive server connections kept across all servers.
    public var maxIdleServerConnections: Int = 4 * 1024
    /// How long an idle pooled server connection is kept. Shorter than the
    /// usual server keep-alive timeouts (Apache: 5 s) so that the proxy, not
    /// the server, closes idle connections.
    public var serverIdleTimeoutMilliseconds: UInt64 = 4_000
    /// How long a lingering close waits for the client's FIN at most.
    public var lingerMilliseconds: UInt64 = 2_000
    /// SIGTERM: the longest wait for in-flight requests.
    public var drainTimeoutMilliseconds: UInt64 = 30_000

    public init(tableImage: [UInt8]) {
        self.tableImage = tableImage
    }

    func validate() throws {
        func check(_ ok: Bool, _ message: String) throws {
            if !ok { throw WorkerError.badConfiguration(message) }
        }
        try check(bufferCount > 0 && bufferCount <= 32768 && bufferCount & (bufferCount - 1) == 0,
                  "bufferCount must be a power of two up to 32768")
        try check(bufferSize >= 1024, "bufferSize must be at least 1024")
        try check(ringEntries >= 8 && ringEntries <= 32768, "ringEntries must be 8...32768")
        try check(maxClientConnections > 0, "maxClientConnections must be positive")
        try check(2 * maxClientConnections + maxIdleServerConnections <= Int(UserData.maxSlot),
                  "too many connection slots for the 24-bit slot index")
    }
}

/// Runs one worker until SIGTERM or SIGINT, then drains: stops accepting at
/// once, finishes in-flight requests, returns when they are done or the
/// drain timeout passes.
public func runWorker(_ configuration: WorkerConfiguration) throws {
    try configuration.validate()
    var loop = try EventLoop(configuration)
    try loop.run()
}
