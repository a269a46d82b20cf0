import Synchronization

/// Where a published table lives: a sealed memfd of the supervisor, which a
/// worker opens as /proc/PID/fd/FD and maps read-only.
public struct TableDescriptor: Equatable, Sendable {
    public var generation: UInt64
    public var supervisorPID: Int32
    public var fd: Int32
    public var size: UInt64
    public var publishedAtMs: UInt64
    static let size = 32

    public init(generation: UInt64, supervisorPID: Int32, fd: Int32, size: UInt64, publishedAtMs: UInt64) {
        self.generation = generation
        self.supervisorPID = supervisorPID
        self.fd = fd
        self.size = size
        self.publishedAtMs = publishedAtMs
    }

    func store(to p: UnsafeMutableRawPointer) {
        p.storeBytes(of: generation, toByteOffset: 0, as: UInt64.self)
        p.storeBytes(of: supervisorPID, toByteOffset: 8, as: Int32.self)
        p.storeBytes(of: fd, toByteOffset: 12, as: Int32.self)
        p.storeBytes(of: size, toByteOffset: 16, as: UInt64.self)
        p.storeBytes(of: publishedAtMs, toByteOffset: 24, as: UInt64.self)
    }

    static func load(from p: UnsafeMutableRawPointer) -> TableDescriptor {
        TableDescriptor(generation: p.load(fromByteOffset: 0, as: UInt64.self),
                        supervisorPID: p.load(fromByteOffset: 8, as: Int32.self),
                        fd: p.load(fromByteOffset: 12, as: Int32.self),
                        size: p.load(fromByteOffset: 16, as: UInt64.self),
                        publishedAtMs: p.load(fromByteOffset: 24, as: UInt64.self))
    }
}

/// The outcome of the last reload attempt.
public struct ReloadRecord: Equatable, Sendable {
    public enum Outcome: UInt32, Sendable { case none = 0, applied = 1, refused = 2 }

    /// Counts attempts, so `tether reload` can tell its own from an older one.
    public var attempt: UInt64
    public var outcome: Outcome
    /// The generation live after the attempt.
    public var generation: UInt64
    public var atMs: UInt64
    /// The errors of a refused reload (truncated to fit), or a short summary.
    public var message: String

    static let messageCapacity = 3072
    static let size = 32 + messageCapacity

    public init(attempt: UInt64, outcome: Outcome, generation: UInt64, atMs: UInt64, message: String) {
        self.attempt = attempt
        self.outcome = outcome
        self.generation = generation
        self.atMs = atMs
        self.message = message
    }

    func store(to p: UnsafeMutableRawPointer) {
        p.storeBytes(of: attempt, toByteOffset: 0, as: UInt64.self)
        p.storeBytes(of: outcome.rawValue, toByteOffset: 8, as: UInt32.self)
        p.storeBytes(of: generation, toByteOffset: 16, as: UInt64.self)
        p.storeBytes(of: atMs, toByteOffset: 24, as: UInt64.self)
        var bytes = Array(message.utf8)
        if bytes.count > Self.messageCapacity - 4 {
            var cut = Self.messageCapacity - 4
            while cut > 0 && bytes[cut] & 0xC0 == 0x80 { cut -= 1 }  // never split a UTF-8 sequence
            bytes.removeSubrange(cut...)
        }
        p.storeBytes(of: UInt32(bytes.count), toByteOffset: 12, as: UInt32.self)
        bytes.withUnsafeBytes { (p + 32).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    }

    static func load(from p: UnsafeMutableRawPointer) -> ReloadRecord {
        let count = min(Int(p.load(fromByteOffset: 12, as: UInt32.self)), messageCapacity - 4)
        let message = String(decoding: UnsafeRawBufferPointer(start: p + 32, count: count), as: UTF8.self)
        return ReloadRecord(attempt: p.load(fromByteOffset: 0, as: UInt64.self),
                            outcome: Outcome(rawValue: p.load(fromByteOffset: 8, as: UInt32.self)) ?? .none,
                            generation: p.load(fromByteOffset: 16, as: UInt64.self),
                            atMs: p.load(fromByteOffset: 24, as: UInt64.self), message: message)
    }
}

/// One worker's cache-line-padded slot. The epoch is written by the worker
/// only (the generation it runs on, at the top of every loop iteration), or
/// set offline by the supervisor once the worker is dead; counters are
/// written by the worker only.
///
/// ```
///  0  epoch            u64 atomic    8  pid   16  cpu
/// 24  started at (ms)  u64          32  access log file generation
/// 40  counters, u64 atomic each (`Counter`)
/// ```
public struct WorkerSlot {
    public static let offline: UInt64 = .max
    let p: UnsafeMutableRawPointer

    init(_ p: UnsafeMutableRawPointer) { self.p = p }

    @inline(__always) func a64(_ o: Int) -> UnsafeMutablePointer<Atomic<UInt64>> { (p + o).assumingMemoryBound(to: Atomic<UInt64>.self) }

    /// The generation this worker is on; `offline` when it is not running.
    public var epoch: UInt64 { a64(0).pointee.load(ordering: .acquiring) }
    @inline(__always) public func announce(epoch: UInt64) { a64(0).pointee.store(epoch, ordering: .releasing) }

    public var pid: Int32 {
        get { Int32(truncatingIfNeeded: a64(8).pointee.load(ordering: .relaxed)) }
        nonmutating set { a64(8).pointee.store(UInt64(UInt32(bitPattern: newValue)), ordering: .relaxed) }
    }
    public var cpu: Int32 {
        get { Int32(truncatingIfNeeded: a64(16).pointee.load(ordering: .relaxed)) }
        nonmutating set { a64(16).pointee.store(UInt64(UInt32(bitPattern: newValue)), ordering: .relaxed) }
    }

    /// Counters written by this worker alone (`restarts` by the supervisor).
    public enum Counter: Int, CaseIterable, Sendable {
        /// Requests read from clients (forwarded or answered locally).
        case requests = 0
        case connectionsAccepted, connectionsOpen
        /// Responses the worker made itself (400, 408, 502, 503, 504, ...).
        case localResponses
        /// Bytes read from and written to clients.
        case bytesIn, bytesOut
        /// How often the supervisor started a worker in this slot after the first.
        case restarts
        /// Requests routed by their persistence header, balanced, or failed over.
        case pinned, balanced, failovers
        /// Table generations this worker switched to.
        case tableSwitches
        /// TLS connections that ended before their handshake completed: a
        /// protocol failure, cleartext on a TLS port, a handshake that ran
        /// past client_header, or a client that left mid-handshake.
        case tlsHandshakeFailures
        /// Access log lines written to the file in full.
        case accessLogLinesWritten
        /// Access log lines lost: no room in either buffer while the disk
        /// lagged, or in a write that failed.
        case accessLogLinesDropped
        /// Receives that found no free receive buffer (ENOBUFS) and waited
        /// for one: a worker short of buffers (slow readers holding them).
        case bufferWaits
    }

    static let counterOffset = 40

    /// When the worker in this slot started (ms since the epoch); the supervisor writes it.
    public var startedAtMs: UInt64 {
        get { a64(24).pointee.load(ordering: .relaxed) }
        nonmutating set { a64(24).pointee.store(newValue, ordering: .relaxed) }
    }
    /// The generation of the access log file (`AccessLogFile`) this worker
    /// writes to, stored once it has closed the one before; 0 before it says.
    public var accessLogGeneration: UInt64 {
        get { a64(32).pointee.load(ordering: .acquiring) }
        nonmutating set { a64(32).pointee.store(newValue, ordering: .releasing) }
    }
    /// Which start of a worker may claim this slot: the supervisor stores a
    /// new number before each start and passes it to that worker, so a
    /// worker whose start-up ran late (its replacement already spawned)
    /// cannot take the slot back from its successor.
    public var claim: UInt64 {
        get { a64(Self.claimOffset).pointee.load(ordering: .acquiring) }
        nonmutating set { a64(Self.claimOffset).pointee.store(newValue, ordering: .releasing) }
    }
    static let claimOffset = 184
    @inline(__always) public func add(_ c: Counter, _ n: UInt64 = 1) { a64(Self.counterOffset + 8 * c.rawValue).pointee.wrappingAdd(n, ordering: .relaxed) }
    @inline(__always) public func subtract(_ c: Counter, _ n: UInt64 = 1) { a64(Self.counterOffset + 8 * c.rawValue).pointee.wrappingSubtract(n, ordering: .relaxed) }
    public func value(_ c: Counter) -> UInt64 { a64(Self.counterOffset + 8 * c.rawValue).pointee.load(ordering: .relaxed) }
    /// Stores a gauge (`connectionsOpen`): by the slot's worker, or by the
    /// supervisor once that worker is dead.
    public func set(_ c: Counter, _ value: UInt64) { a64(Self.counterOffset + 8 * c.rawValue).pointee.store(value, ordering: .relaxed) }
}

/// The access log file workers write to: a descriptor of the supervisor,
/// which a worker opens as /proc/PID/fd/FD, and a generation that each
/// reopen (SIGUSR1) or reload that changes `access_log` increments. Both
/// travel in one atomic word, so a reader never pairs one file's
/// generation with another's descriptor.
public struct AccessLogFile: Equatable, Sendable {
    /// 0: never published.
    public var generation: UInt32
    /// -1: no access log.
    public var fd: Int32

    public init(generation: UInt32, fd: Int32) {
        self.generation = generation
        self.fd = fd
    }

    public var isOpen: Bool { fd >= 0 }

    init(word: UInt64) {
        generation = UInt32(truncatingIfNeeded: word >> 32)
        fd = Int32(bitPattern: UInt32(truncatingIfNeeded: word))
    }

    var word: UInt64 { UInt64(generation) << 32 | UInt64(UInt32(bitPattern: fd)) }
}

/// One server's state, shared by every process and kept across reloads
/// (its slot is keyed by the server's identity, not its table position).
///
/// ```
///  0  down bits        u32 atomic   4  requests in flight  u32 atomic
///  8  state changed at u64 (ms)    16  reason              u32 (DownReason)
/// 20  server connections open u32 atomic (pooled idle ones included)
/// 24  counters, u64 atomic each (`Counter`)
/// ```
///
/// Each worker process holds its share of the in-flight count and the
/// open connections in its `WorkerHoldings` record as well.
public struct ServerSlot {
    let p: UnsafeMutableRawPointer

    init(_ p: UnsafeMutableRawPointer) { self.p = p }

    @inline(__always) func a32(_ o: Int) -> UnsafeMutablePointer<Atomic<UInt32>> { (p + o).assumingMemoryBound(to: Atomic<UInt32>.self) }
    @inline(__always) func a64(_ o: Int) -> UnsafeMutablePointer<Atomic<UInt64>> { (p + o).assumingMemoryBound(to: Atomic<UInt64>.self) }

    /// Down bits: the health monitor's, and the workers' passive detection.
    public struct Down: OptionSet, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let byMonitor = Down(rawValue: 1)
        public static let byPassiveCheck = Down(rawValue: 2)
    }

    @inline(__always) public var isDown: Bool { a32(0).pointee.load(ordering: .relaxed) != 0 }
    public var down: Down { Down(rawValue: a32(0).pointee.load(ordering: .relaxed)) }
    /// Sets `bits`; returns the bits set before, so that of several
    /// processes marking at once exactly one sees the server go down.
    @discardableResult
    public func mark(_ bits: Down) -> Down { Down(rawValue: a32(0).pointee.bitwiseOr(bits.rawValue, ordering: .relaxed).oldValue) }
    @discardableResult
    public func clear(_ bits: Down) -> Down { Down(rawValue: a32(0).pointee.bitwiseAnd(~bits.rawValue, ordering: .relaxed).oldValue) }

    /// Requests in flight to this server, across all workers.
    @inline(__always) public var inFlight: UInt32 { a32(4).pointee.load(ordering: .relaxed) }
    // For tests only: the workers change the count through ServerCounters,
    // which records each change in the worker's holdings as well.
    @inline(__always) func beginRequest() { a32(4).pointee.wrappingAdd(1, ordering: .relaxed) }
    @inline(__always) func endRequest() { a32(4).pointee.wrappingSubtract(1, ordering: .relaxed) }

    /// When the state last changed (ms since the epoch) and why.
    public var changedAtMs: UInt64 {
        get { a64(8).pointee.load(ordering: .relaxed) }
        nonmutating set { a64(8).pointee.store(newValue, ordering: .relaxed) }
    }
    public var reason: DownReason {
        get { DownReason(rawValue: a32(16).pointee.load(ordering: .relaxed)) }
        nonmutating set { a32(16).pointee.store(newValue.rawValue, ordering: .relaxed) }
    }

    /// TCP connections to this server open in any worker (idle pooled ones
    /// too). A worker changes it together with its holdings record
    /// (`WorkerHoldings.addConnections`).
    public var connectionsOpen: UInt32 { a32(20).pointee.load(ordering: .relaxed) }

    /// Takes a dead worker's share out of the in-flight count and the open
    /// connections (`WorkerHoldings`), never below zero: a count that
    /// wrapped would make the server look full for good.
    func takeBack(inFlight requests: UInt32, connections: UInt32) {
        takeBack(requests, at: 4)
        takeBack(connections, at: 20)
    }

    private func takeBack(_ n: UInt32, at offset: Int) {
        guard n != 0 else { return }
        let counter = a32(offset)
        var current = counter.pointee.load(ordering: .relaxed)
        while true {
            let (exchanged, original) = counter.pointee.weakCompareExchange(
                expected: current, desired: current >= n ? current - n : 0, ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }

    public enum Counter: Int, CaseIterable, Sendable {
        /// Requests sent to this server.
        case requests = 0
        /// Responses relayed, by status class.
        case responses1xx, responses2xx, responses3xx, responses4xx, responses5xx
        /// Bytes written to and read from the server.
        case bytesToServer, bytesFromServer
        /// Connects that were refused or timed out.
        case connectFailures
        /// Requests whose persistence header named this server and got it.
        case pinnedHits
        /// Requests pinned to another server that came here instead (`immediate`).
        case failovers
        /// Requests balanced here (no persistence header, or an unknown value).
        case balanced
        /// Up/down transitions made by the health monitor or passive detection.
        case stateChanges
    }
    @inline(__always) public func add(_ c: Counter, _ n: UInt64 = 1) { a64(24 + 8 * c.rawValue).pointee.wrappingAdd(n, ordering: .relaxed) }
    public func value(_ c: Counter) -> UInt64 { a64(24 + 8 * c.rawValue).pointee.load(ordering: .relaxed) }

    /// Counts a relayed response by its status class.
    @inline(__always) public func countResponse(status: UInt16) {
        let c = min(max(Int(status) / 100, 1), 5)
        add(Counter(rawValue: Counter.responses1xx.rawValue + c - 1).unsafelyUnwrapped)
    }
}

/// What one worker process holds in the server slots: for each slot, its
/// own share of the slot's requests in flight and open connections. A
/// worker killed with SIGKILL cannot take its share back out of the shared
/// counts; the supervisor does, once it has reaped it
/// (`SharedRegion.takeBackHoldings`), so the counts return to what the
/// living workers hold.
///
/// One record per worker process, not per worker slot: a worker replaced
/// by a listen change drains beside its successor in the same worker slot,
/// each with its own record. The supervisor assigns a record at spawn and
/// clears it once its worker is reaped.
///
/// The entries are plain memory, written by their worker alone right next
/// to each atomic change of the count they mirror, and read only after
/// that worker is dead: a share never runs ahead of the shared count (an
/// increase is made shared first and held second, a decrease held first),
/// so a process killed between the two leaves at most one count behind and
/// never takes back one it did not add.
///
/// ```
///  0  reach   u32 atomic: entries at and above it are zero (raised by the
///             worker before it uses a table's slots)
/// 64  one entry per server slot: requests in flight u32, connections u32
/// ```
public struct WorkerHoldings {
    static let headerSize = 64
    /// Bytes from one entry to the next.
    public static let entrySize = 8
    static func size(servers: Int) -> Int { headerSize + max(1, servers) * entrySize }

    let p: UnsafeMutableRawPointer

    init(_ p: UnsafeMutableRawPointer) { self.p = p }

    /// A record in private zero-filled memory, for a worker whose shares
    /// nobody takes back (no shared region, or tests).
    public static func allocatePrivate(servers: Int) -> WorkerHoldings {
        let bytes = size(servers: servers)
        let memory = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        memory.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        return WorkerHoldings(memory)
    }

    @inline(__always) var reachWord: UnsafeMutablePointer<Atomic<UInt32>> { p.assumingMemoryBound(to: Atomic<UInt32>.self) }

    /// One past the highest server slot whose entry may be nonzero.
    public var reach: UInt32 { reachWord.pointee.load(ordering: .relaxed) }

    /// Covers server slots below `slots` from now on (before the worker
    /// counts against any of them).
    public func extendReach(to slots: UInt32) {
        if slots > reach { reachWord.pointee.store(slots, ordering: .relaxed) }
    }

    /// Entry `s` is the `UInt32` pair at `entries + s * 8`: requests in
    /// flight, then connections (for `ServerCounters` of the workers).
    public var entries: UnsafeMutableRawPointer { p + Self.headerSize }

    @inline(__always) func entry(_ slot: UInt32, _ field: Int) -> UnsafeMutablePointer<UInt32> {
        (entries + (Int(slot) &* Self.entrySize &+ field)).assumingMemoryBound(to: UInt32.self)
    }

    public func inFlight(_ slot: UInt32) -> UInt32 { entry(slot, 0).pointee }
    public func connections(_ slot: UInt32) -> UInt32 { entry(slot, 4).pointee }

    /// Applies a net change of `delta` connections to `server` (state slot
    /// `slot`) and holds it: shared first when it grows, held first when
    /// it shrinks. The acquiring and releasing orders keep the plain store
    /// on its side of the atomic one, where a SIGKILL can cut between them.
    public func addConnections(_ delta: Int32, to server: ServerSlot, slot: UInt32) {
        let counter = server.a32(20), held = entry(slot, 4)
        if delta >= 0 {
            counter.pointee.wrappingAdd(UInt32(bitPattern: delta), ordering: .acquiring)
            held.pointee &+= UInt32(bitPattern: delta)
        } else {
            held.pointee &+= UInt32(bitPattern: delta)
            counter.pointee.wrappingAdd(UInt32(bitPattern: delta), ordering: .releasing)
        }
    }
}

/// Why a server is in its state: a kind, and a detail (an HTTP status or an
/// errno) in the upper 16 bits. Written by the health monitor and by workers
/// (passive detection); read by `tether status` and the admin endpoint.
public struct DownReason: RawRepresentable, Equatable, Sendable, CustomStringConvertible {
    public enum Kind: UInt8, Sendable {
        case none = 0
        /// Up: the monitor's consecutive successes (detail: how many).
        case checksPassed
        /// Down: connect refused (RST).
        case connectRefused
        /// Down: no connect within the timeout.
        case connectTimeout
        /// Down: connected, but no complete status line within the timeout.
        case responseTimeout
        /// Down: the server closed or reset before a status line.
        case closedEarly
        /// Down: a status the monitor does not expect (detail: the status).
        case badStatus
        /// Down: what came back is not an HTTP response.
        case malformedResponse
        /// Down: another socket error (detail: the errno).
        case socketError
        /// Down: a worker's connect was refused (passive detection).
        case passiveConnectRefused
        /// Down: a worker's connect timed out (passive detection).
        case passiveConnectTimeout
        /// Up: the pool has no health monitor.
        case unmonitored
    }

    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public init(_ kind: Kind, detail: UInt16 = 0) { rawValue = UInt32(kind.rawValue) | UInt32(detail) << 16 }

    public var kind: Kind { Kind(rawValue: UInt8(truncatingIfNeeded: rawValue)) ?? .none }
    public var detail: UInt16 { UInt16(truncatingIfNeeded: rawValue >> 16) }

    public var description: String {
        switch kind {
        case .none: return "-"
        case .checksPassed: return detail == 1 ? "1 check passed" : "\(detail) consecutive checks passed"
        case .connectRefused: return "connection refused"
        case .connectTimeout: return "connect timed out"
        case .responseTimeout: return "no response within the timeout"
        case .closedEarly: return "closed before responding"
        case .badStatus: return "status \(detail)"
        case .malformedResponse: return "malformed response"
        case .socketError: return "socket error \(detail)"
        case .passiveConnectRefused: return "connection refused (seen by a worker)"
        case .passiveConnectTimeout: return "connect timed out (seen by a worker)"
        case .unmonitored: return "no health monitor"
        }
    }
}

/// The health monitor's record: written by the monitor (and by the
/// supervisor for `pid`/`restarts`), read by status and tests.
public struct MonitorSlot {
    static let size = 64
    let p: UnsafeMutableRawPointer

    init(_ p: UnsafeMutableRawPointer) { self.p = p }

    @inline(__always) func a64(_ o: Int) -> UnsafeMutablePointer<Atomic<UInt64>> { (p + o).assumingMemoryBound(to: Atomic<UInt64>.self) }

    public var pid: Int32 {
        get { Int32(truncatingIfNeeded: a64(0).pointee.load(ordering: .relaxed)) }
        nonmutating set { a64(0).pointee.store(UInt64(UInt32(bitPattern: newValue)), ordering: .relaxed) }
    }
    /// The table generation whose servers the monitor checks (0: none yet).
    public var generation: UInt64 {
        get { a64(8).pointee.load(ordering: .acquiring) }
        nonmutating set { a64(8).pointee.store(newValue, ordering: .releasing) }
    }
    /// Checks that the monitor runs per round of its plan.
    public var serversChecked: UInt64 {
        get { a64(16).pointee.load(ordering: .relaxed) }
        nonmutating set { a64(16).pointee.store(newValue, ordering: .relaxed) }
    }
    public var startedAtMs: UInt64 {
        get { a64(24).pointee.load(ordering: .relaxed) }
        nonmutating set { a64(24).pointee.store(newValue, ordering: .relaxed) }
    }

    public enum Counter: Int, CaseIterable, Sendable {
        case checks = 0, checkFailures, restarts
    }
    public func add(_ c: Counter, _ n: UInt64 = 1) { a64(32 + 8 * c.rawValue).pointee.wrappingAdd(n, ordering: .relaxed) }
    public func value(_ c: Counter) -> UInt64 { a64(32 + 8 * c.rawValue).pointee.load(ordering: .relaxed) }
}

/// TLS session ticket keys: the current one (issues and accepts tickets) and
/// the one before the last rotation (still accepted, so a ticket lives at
/// least one rotation interval). Each key is 80 bytes: a 16-byte name, a
/// 32-byte AES-256 key, a 32-byte HMAC-SHA256 key.
public struct TicketKeys: Equatable, Sendable {
    public static let keySize = 80
    /// How often the supervisor makes a new current key.
    public static let rotationIntervalMilliseconds: UInt64 = 3_600_000
    static let size = 8 + 8 + 2 * keySize  // rotatedAtMs, count, keys

    public var current: [UInt8]
    public var previous: [UInt8]?
    /// When `current` was made (ms since the epoch).
    public var rotatedAtMs: UInt64

    public init(current: [UInt8], previous: [UInt8]?, rotatedAtMs: UInt64) {
        precondition(current.count == Self.keySize && (previous?.count ?? Self.keySize) == Self.keySize,
                     "a ticket key is \(Self.keySize) bytes")
        self.current = current
        self.previous = previous
        self.rotatedAtMs = rotatedAtMs
    }

    func store(to p: UnsafeMutableRawPointer) {
        p.storeBytes(of: rotatedAtMs, toByteOffset: 0, as: UInt64.self)
        p.storeBytes(of: UInt64(previous == nil ? 1 : 2), toByteOffset: 8, as: UInt64.self)
        current.withUnsafeBytes { (p + 16).copyMemory(from: $0.baseAddress!, byteCount: Self.keySize) }
        if let previous {
            previous.withUnsafeBytes { (p + 16 + Self.keySize).copyMemory(from: $0.baseAddress!, byteCount: Self.keySize) }
        } else {
            (p + 16 + Self.keySize).initializeMemory(as: UInt8.self, repeating: 0, count: Self.keySize)
        }
    }

    static func load(from p: UnsafeMutableRawPointer) -> TicketKeys {
        let count = p.load(fromByteOffset: 8, as: UInt64.self)
        let current = Array(UnsafeRawBufferPointer(start: p + 16, count: keySize))
        let previous = count >= 2 ? Array(UnsafeRawBufferPointer(start: p + 16 + keySize, count: keySize)) : nil
        return TicketKeys(current: current, previous: previous, rotatedAtMs: p.load(fromByteOffset: 0, as: UInt64.self))
    }
}
