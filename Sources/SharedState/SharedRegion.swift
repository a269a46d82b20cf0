import Synchronization

/// The shared memory every tether process maps: one control block, one
/// cache-line slot per worker, one slot per server. It holds what must be
/// seen across processes (the table generation, server down bits and
/// connection counts, counters) and nothing that needs a lock: every field
/// has one writer, or is an atomic. Offsets only, never pointers, since each
/// process maps it at its own address.
///
/// ```
/// 0      control block (4 KiB): magic, version, sizes, supervisor pid,
///        generation (own cache line), table descriptors, reload record,
///        health monitor record, TLS session ticket keys, access log file
/// 4096   worker slots, 192 bytes each
/// ...    server slots, 128 bytes each
/// ...    worker holdings records, 64 + 8 bytes per server slot each:
///        three per worker slot (a worker, the one it replaces during a
///        listen change, one still draining from the change before)
/// ```
public struct SharedRegion: @unchecked Sendable {
    public static let magic: UInt32 = 0x4853_5454  // "TTSH"
    public static let version: UInt32 = 4
    static let controlSize = 4096
    static let workerSlotSize = 192
    static let serverSlotSize = 128
    /// Generations whose table descriptors are kept; a worker that falls
    /// further behind than this re-reads the current one.
    static let descriptorCount = 8

    enum Control {
        static let magic = 0, version = 4, size = 8, workerCapacity = 16, serverCapacity = 20
        static let supervisorPID = 24, startedAtMs = 32, holdingsCapacity = 40
        static let generation = 64          // Atomic<UInt64>, its own cache line
        static let descriptors = 128        // descriptorCount × 32 bytes
        static let reloadSequence = 448     // Atomic<UInt64>: seqlock over the reload record
        static let reloadRecord = 456       // ReloadRecord.size bytes
        static let monitor = 3584           // MonitorSlot.size bytes
        static let ticketKeys = 3648        // TicketKeys.size bytes
        static let accessLogFile = 3840     // Atomic<UInt64>: AccessLogFile's word
    }

    public let base: UnsafeMutableRawPointer
    public let size: Int
    public let workerCapacity: Int
    public let serverCapacity: Int
    /// Worker holdings records: how many worker processes may live at once.
    public let holdingsCapacity: Int

    /// Holdings records for `workers` worker slots.
    public static func holdingsCapacity(workers: Int) -> Int { 3 * workers }

    public static func size(workers: Int, servers: Int) -> Int {
        let raw = controlSize + workers * workerSlotSize + servers * serverSlotSize
            + holdingsCapacity(workers: workers) * WorkerHoldings.size(servers: servers)
        return (raw + 4095) & ~4095
    }

    /// Lays out a fresh region in zeroed memory (what the supervisor does once).
    public static func initialize(
        _ base: UnsafeMutableRawPointer, size: Int, workers: Int, servers: Int, supervisorPID: Int32, nowMs: UInt64
    ) -> SharedRegion {
        precondition(size >= Self.size(workers: workers, servers: servers), "shared region too small")
        precondition(WorkerSlot.counterOffset + 8 * WorkerSlot.Counter.allCases.count <= WorkerSlot.claimOffset
                     && WorkerSlot.claimOffset + 8 <= workerSlotSize, "worker slot fields overlap")
        precondition(WorkerSlot.counterOffset + 8 * WorkerSlot.Counter.allCases.count <= workerSlotSize,
                     "worker counters outgrew their slot")
        precondition(Control.ticketKeys + 8 + TicketKeys.size <= Control.accessLogFile, "ticket keys overlap the access log file")
        base.storeBytes(of: Self.version, toByteOffset: Control.version, as: UInt32.self)
        base.storeBytes(of: UInt64(size), toByteOffset: Control.size, as: UInt64.self)
        base.storeBytes(of: UInt32(workers), toByteOffset: Control.workerCapacity, as: UInt32.self)
        base.storeBytes(of: UInt32(servers), toByteOffset: Control.serverCapacity, as: UInt32.self)
        base.storeBytes(of: UInt32(holdingsCapacity(workers: workers)), toByteOffset: Control.holdingsCapacity, as: UInt32.self)
        base.storeBytes(of: supervisorPID, toByteOffset: Control.supervisorPID, as: Int32.self)
        base.storeBytes(of: nowMs, toByteOffset: Control.startedAtMs, as: UInt64.self)
        // The magic last: a reader that sees it sees the rest.
        (base + Control.magic).assumingMemoryBound(to: Atomic<UInt32>.self).pointee.store(Self.magic, ordering: .releasing)
        return SharedRegion(unchecked: base, size: size)
    }

    public enum AttachError: Error, Equatable, CustomStringConvertible {
        case tooSmall(Int), badMagic(UInt32), unsupportedVersion(UInt32), sizeMismatch(UInt64, Int)
        public var description: String {
            switch self {
            case let .tooSmall(n): return "shared region of \(n) bytes is smaller than its control block"
            case let .badMagic(m): return "shared region has magic 0x\(String(m, radix: 16)): not tether's, or not initialized"
            case let .unsupportedVersion(v): return "shared region version \(v) is not \(SharedRegion.version): a different tether version runs"
            case let .sizeMismatch(d, a): return "shared region declares \(d) bytes but \(a) are mapped"
            }
        }
    }

    /// Attaches to a region another process initialized, checking it first.
    public init(attaching base: UnsafeMutableRawPointer, size: Int) throws(AttachError) {
        guard size >= Self.controlSize else { throw .tooSmall(size) }
        let magic = (base + Control.magic).assumingMemoryBound(to: Atomic<UInt32>.self).pointee.load(ordering: .acquiring)
        guard magic == Self.magic else { throw .badMagic(magic) }
        let version = base.load(fromByteOffset: Control.version, as: UInt32.self)
        guard version == Self.version else { throw .unsupportedVersion(version) }
        let declared = base.load(fromByteOffset: Control.size, as: UInt64.self)
        guard declared == UInt64(size) else { throw .sizeMismatch(declared, size) }
        self.init(unchecked: base, size: size)
    }

    init(unchecked base: UnsafeMutableRawPointer, size: Int) {
        self.base = base
        self.size = size
        workerCapacity = Int(base.load(fromByteOffset: Control.workerCapacity, as: UInt32.self))
        serverCapacity = Int(base.load(fromByteOffset: Control.serverCapacity, as: UInt32.self))
        holdingsCapacity = Int(base.load(fromByteOffset: Control.holdingsCapacity, as: UInt32.self))
    }

    @inline(__always)
    func atomic64(_ offset: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        (base + offset).assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    public var supervisorPID: Int32 { base.load(fromByteOffset: Control.supervisorPID, as: Int32.self) }
    public var startedAtMs: UInt64 { base.load(fromByteOffset: Control.startedAtMs, as: UInt64.self) }

    // MARK: table generation

    /// The generation of the live table; 0 before the first publish.
    @inline(__always)
    public func currentGeneration() -> UInt64 { atomic64(Control.generation).pointee.load(ordering: .acquiring) }

    /// Makes `table` live: its descriptor is written first, then the
    /// generation is stored with release ordering, so a worker that
    /// acquires the new generation also sees the descriptor. One writer
    /// (the supervisor).
    public func publish(_ table: TableDescriptor) {
        precondition(table.generation == currentGeneration() + 1, "generations are published in order")
        let at = Control.descriptors + Int(table.generation % UInt64(Self.descriptorCount)) * TableDescriptor.size
        table.store(to: base + at)
        atomic64(Control.generation).pointee.store(table.generation, ordering: .releasing)
    }

    /// The descriptor of `generation`, if it is still among the kept ones.
    public func descriptor(of generation: UInt64) -> TableDescriptor? {
        guard generation > 0 else { return nil }
        let at = Control.descriptors + Int(generation % UInt64(Self.descriptorCount)) * TableDescriptor.size
        let d = TableDescriptor.load(from: base + at)
        return d.generation == generation ? d : nil
    }

    // MARK: reload record

    /// Written by the supervisor after every reload attempt; read by
    /// `tether reload` and `tether status` under a sequence lock.
    public func record(_ reload: ReloadRecord) {
        let seq = atomic64(Control.reloadSequence)
        seq.pointee.wrappingAdd(1, ordering: .acquiringAndReleasing)  // odd: writing
        reload.store(to: base + Control.reloadRecord)
        seq.pointee.wrappingAdd(1, ordering: .releasing)              // even: stable
    }

    public func lastReload() -> ReloadRecord {
        let seq = atomic64(Control.reloadSequence)
        while true {
            let before = seq.pointee.load(ordering: .acquiring)
            if before & 1 == 1 { continue }
            let record = ReloadRecord.load(from: base + Control.reloadRecord)
            atomicMemoryFence(ordering: .acquiring)  // the record's reads complete before the re-check
            if seq.pointee.load(ordering: .relaxed) == before { return record }
        }
    }

    // MARK: session ticket keys

    /// Written by the supervisor (at start and on every rotation); every
    /// worker issues TLS session tickets with the current key and accepts
    /// the current and the previous one, so a client resumes on any worker.
    public func publish(_ keys: TicketKeys) {
        let seq = atomic64(Control.ticketKeys)
        seq.pointee.wrappingAdd(1, ordering: .acquiringAndReleasing)  // odd: writing
        keys.store(to: base + Control.ticketKeys + 8)
        seq.pointee.wrappingAdd(1, ordering: .releasing)              // even: stable
    }

    /// Changes with every `publish`: a worker re-reads the keys when it moves.
    @inline(__always)
    public var ticketKeySequence: UInt64 { atomic64(Control.ticketKeys).pointee.load(ordering: .acquiring) }

    /// The keys and the sequence they were read at; nil before the first publish.
    public func ticketKeys() -> (keys: TicketKeys, sequence: UInt64)? {
        let seq = atomic64(Control.ticketKeys)
        while true {
            let before = seq.pointee.load(ordering: .acquiring)
            if before == 0 { return nil }
            if before & 1 == 1 { continue }
            let keys = TicketKeys.load(from: base + Control.ticketKeys + 8)
            atomicMemoryFence(ordering: .acquiring)  // the keys' reads complete before the re-check
            if seq.pointee.load(ordering: .relaxed) == before { return (keys, before) }
        }
    }

    // MARK: access log file

    /// Makes `file` the access log every worker writes to (the supervisor
    /// keeps its descriptor open until it publishes the next one).
    public func publish(_ file: AccessLogFile) {
        atomic64(Control.accessLogFile).pointee.store(file.word, ordering: .releasing)
    }

    /// The access log file published last: one acquire load, for every loop turn.
    @inline(__always)
    public func accessLogFile() -> AccessLogFile {
        AccessLogFile(word: atomic64(Control.accessLogFile).pointee.load(ordering: .acquiring))
    }

    // MARK: slots

    /// The health monitor's record.
    public var monitor: MonitorSlot { MonitorSlot(base + Control.monitor) }

    public func worker(_ index: Int) -> WorkerSlot {
        precondition(index >= 0 && index < workerCapacity, "worker slot \(index) out of range")
        return WorkerSlot(base + Self.controlSize + index * Self.workerSlotSize)
    }

    @inline(__always)
    public func server(_ slot: UInt32) -> ServerSlot {
        precondition(Int(slot) < serverCapacity, "server slot \(slot) out of range")
        return ServerSlot(base + Self.controlSize + workerCapacity * Self.workerSlotSize + Int(slot) * Self.serverSlotSize)
    }

    /// Holdings record `record` (`WorkerHoldings`): one worker process's
    /// share of every server slot's counts.
    public func holdings(_ record: Int) -> WorkerHoldings {
        precondition(record >= 0 && record < holdingsCapacity, "holdings record \(record) out of range")
        let start = Self.controlSize + workerCapacity * Self.workerSlotSize + serverCapacity * Self.serverSlotSize
        return WorkerHoldings(base + start + record * WorkerHoldings.size(servers: serverCapacity))
    }

    /// Takes what the worker of holdings record `record` held out of the
    /// server slots, and clears the record for the next worker. Only once
    /// that worker is gone (the supervisor has reaped it): its entries are
    /// then final. Returns what was taken back.
    @discardableResult
    public func takeBackHoldings(_ record: Int) -> (requests: UInt64, connections: UInt64) {
        let held = holdings(record)
        var requests: UInt64 = 0, connections: UInt64 = 0
        for s in 0 ..< min(held.reach, UInt32(serverCapacity)) {
            let r = held.inFlight(s), c = held.connections(s)
            if r == 0 && c == 0 { continue }
            server(s).takeBack(inFlight: r, connections: c)
            requests += UInt64(r)
            connections += UInt64(c)
            held.entry(s, 0).pointee = 0
            held.entry(s, 4).pointee = 0
        }
        held.reachWord.pointee.store(0, ordering: .relaxed)
        return (requests, connections)
    }

    /// Where server slot 0 starts and the bytes from one slot to the next:
    /// a slot's down bits are the `UInt32` at offset 0, its in-flight count
    /// the one at offset 4 (for `ServerCounters` of the workers).
    public var serverSlots: (base: UnsafeMutableRawPointer, stride: Int) {
        (base + Self.controlSize + workerCapacity * Self.workerSlotSize, Self.serverSlotSize)
    }

    /// The oldest generation any online worker may still be reading; tables
    /// older than this can be reclaimed (quiescent-state reclamation).
    public func oldestGenerationInUse() -> UInt64 {
        var oldest = currentGeneration()
        for i in 0..<workerCapacity {
            let e = worker(i).epoch
            if e != WorkerSlot.offline { oldest = min(oldest, e) }
        }
        // The health monitor reads tables too; 0 or offline: not running.
        let m = monitor.generation
        if m != 0 && m != WorkerSlot.offline { oldest = min(oldest, m) }
        return oldest
    }
}

