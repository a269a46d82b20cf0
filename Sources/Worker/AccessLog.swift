import CLinux
import HTTPWire
import Posix

/// What a client slot's current request needs for its access log line,
/// copied while the request head is still in the receive buffer. Lives at
/// the start of the slot's record; the method, target and server bytes
/// follow it (`AccessLog.Layout`).
struct AccessRecord {
    var active = false
    var route = AccessRoute.local
    var versionMinor: UInt8 = .max
    var methodCount: UInt8 = 0
    var targetCount: UInt16 = 0
    var targetTruncated = false
    var serverCount: UInt8 = 0
    var status: UInt16 = 0
    var startMicroseconds: UInt64 = 0
    /// When the response head came from the server; 0: none yet.
    var responseMicroseconds: UInt64 = 0
    var bytesIn: UInt64 = 0
    var bytesOut: UInt64 = 0
}

/// The optional access log (`access_log:`): one line per request, formatted
/// into a fixed buffer as the response ends and written by io_uring (an
/// append to a file the supervisor opened) when the buffer is half full or
/// a second old, never on the request's path. Two buffers: one fills while
/// the other is written; a line that finds both busy is dropped and
/// counted, so a slow disk costs lines, not latency. Nothing is allocated
/// per request.
///
/// The file can change under it (a reopen after log rotation, a reload
/// that moves or removes the log): `reopen` names the next descriptor, and
/// `completeSwitch` moves to it once no write to the current one is in
/// flight, handing back the old one to close. A removal stops new lines at
/// once and writes what is buffered to the old file first.
struct AccessLog: ~Copyable {
    enum Layout {
        static let header = 48
        static let methodCapacity = 16
        static let targetCapacity = 224
        static let serverCapacity = 96
        static let method = header
        static let target = method + methodCapacity
        static let server = target + targetCapacity
        static let stride = server + serverCapacity
    }

    static let bufferSize = 64 * 1024
    static let flushMilliseconds: UInt64 = 1000

    /// Where writes go (the write in flight included); -1: nowhere.
    private(set) var fd: CInt
    /// New lines are formatted (false while off, and once a removal began).
    private(set) var enabled: Bool
    /// The descriptor to move to once no write is in flight (-1: none, the
    /// log was removed); nil: no switch waiting.
    private(set) var nextFD: CInt? = nil
    private let clients: Int
    /// Allocated for every client slot once the log is first on.
    private var records: UnsafeMutableRawPointer
    private var buffers: UnsafeMutableRawPointer
    private var allocated: Bool
    private var filling = 0
    private(set) var fillCount = 0
    private var fillLines: UInt64 = 0
    /// The other buffer is being written: `writeOffset..<writeCount` of it remain.
    private(set) var writing = false
    private var writeBuffer = 0
    private var writeOffset = 0
    private var writeCount = 0
    private var writeLines: UInt64 = 0
    /// A full buffer handed over by `finish`, for the loop to submit.
    private var pending = false
    private var lastFlush: UInt64 = 0
    /// Lines dropped since the worker started (for its warning).
    private(set) var dropped: UInt64 = 0
    private var writer = AccessLogWriter()

    init(fd: CInt?, clients: Int) {
        precondition(MemoryLayout<AccessRecord>.size <= Layout.header, "access record header outgrew its space")
        self.fd = fd ?? -1
        enabled = fd != nil
        self.clients = clients
        allocated = fd != nil
        (records, buffers) = AccessLog.allocate(clients: fd == nil ? 1 : clients, buffers: fd != nil)
    }

    private static func allocate(clients: Int, buffers: Bool) -> (UnsafeMutableRawPointer, UnsafeMutableRawPointer) {
        let records = UnsafeMutableRawPointer.allocate(byteCount: clients * Layout.stride, alignment: 16)
        for i in 0..<clients { (records + i * Layout.stride).initializeMemory(as: AccessRecord.self, repeating: AccessRecord(), count: 1) }
        return (records, .allocate(byteCount: buffers ? 2 * AccessLog.bufferSize : 1, alignment: 4096))
    }

    deinit {
        records.deallocate()
        buffers.deallocate()
    }

    @inline(__always)
    func record(_ slot: Int) -> UnsafeMutablePointer<AccessRecord> {
        (records + slot &* Layout.stride).assumingMemoryBound(to: AccessRecord.self)
    }

    /// A request head is complete: its method and target (truncated to fit)
    /// are copied out of `bytes`, the buffer it was scanned in.
    mutating func begin(_ slot: Int, head: RequestHead, bytes: UnsafeRawBufferPointer, now: UInt64) {
        let r = record(slot)
        let base = records + slot * Layout.stride
        r.pointee = AccessRecord()
        r.pointee.active = true
        r.pointee.startMicroseconds = now
        r.pointee.versionMinor = head.versionMinor
        let method = min(head.method.count, Layout.methodCapacity)
        (base + Layout.method).copyMemory(from: bytes.baseAddress! + head.method.start, byteCount: method)
        r.pointee.methodCount = UInt8(method)
        let target = min(head.target.count, Layout.targetCapacity)
        (base + Layout.target).copyMemory(from: bytes.baseAddress! + head.target.start, byteCount: target)
        r.pointee.targetCount = UInt16(target)
        r.pointee.targetTruncated = target < head.target.count
    }

    /// The request went to a server (`server`: its `pool=... server=...`).
    mutating func routed(_ slot: Int, server: UnsafeRawBufferPointer, route: AccessRoute) {
        let r = record(slot)
        if !r.pointee.active { return }
        let count = min(server.count, Layout.serverCapacity)
        if count > 0 { (records + slot * Layout.stride + Layout.server).copyMemory(from: server.baseAddress!, byteCount: count) }
        r.pointee.serverCount = UInt8(count)
        r.pointee.route = route
    }

    /// The final response head arrived.
    @inline(__always)
    mutating func responded(_ slot: Int, status: UInt16, now: UInt64) {
        let r = record(slot)
        r.pointee.status = status
        if r.pointee.responseMicroseconds == 0 { r.pointee.responseMicroseconds = max(now, 1) }
    }

    /// The request is over: its line goes into the fill buffer and its
    /// record ends. A request that never had a complete head (a 400, a 408)
    /// is logged with `-` for what is unknown. False: no room, the line is
    /// dropped.
    @discardableResult
    mutating func finish(_ slot: Int, client: UnsafeRawBufferPointer, status: UInt16, wallMilliseconds: UInt64, now: UInt64) -> Bool {
        let r = record(slot)
        let base = UnsafeRawPointer(records + slot * Layout.stride)
        let started = r.pointee.active ? r.pointee.startMicroseconds : now
        let response = r.pointee.responseMicroseconds
        let entry = AccessLogEntry(
            wallMilliseconds: wallMilliseconds, client: client,
            method: UnsafeRawBufferPointer(start: base + Layout.method, count: r.pointee.active ? Int(r.pointee.methodCount) : 0),
            target: UnsafeRawBufferPointer(start: base + Layout.target, count: Int(r.pointee.targetCount)),
            targetTruncated: r.pointee.targetTruncated,
            versionMinor: r.pointee.active && r.pointee.versionMinor <= 1 ? r.pointee.versionMinor : nil,
            status: status,
            server: UnsafeRawBufferPointer(start: base + Layout.server, count: r.pointee.active ? Int(r.pointee.serverCount) : 0),
            route: r.pointee.active ? r.pointee.route : .local,
            durationMicroseconds: now > started ? now - started : 0,
            responseMicroseconds: response == 0 ? nil : (response > started ? response - started : 0),
            bytesIn: r.pointee.bytesIn, bytesOut: r.pointee.bytesOut)
        r.pointee = AccessRecord()
        var written = writer.write(entry, into: fillSpace)
        if written == 0 && fillCount > 0 && !writing {
            handOver()
            pending = true
            written = writer.write(entry, into: fillSpace)
        }
        if written == 0 {
            dropped &+= 1
            return false
        }
        fillCount += written
        fillLines &+= 1
        return true
    }

    private var fillSpace: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: buffers + filling * AccessLog.bufferSize + fillCount,
                                      count: AccessLog.bufferSize - fillCount)
    }

    /// The fill buffer becomes the one being written; the other fills.
    private mutating func handOver() {
        writing = true
        writeBuffer = filling
        writeOffset = 0
        writeCount = fillCount
        writeLines = fillLines
        filling ^= 1
        fillCount = 0
        fillLines = 0
    }

    /// Bytes to submit now, if any: a buffer `finish` filled, or the fill
    /// buffer when it is half full, a second old, `force`d, or the rest
    /// before a removal.
    mutating func nextWrite(now: UInt64, force: Bool) -> UnsafeRawBufferPointer? {
        if pending {
            pending = false
            lastFlush = now
            return remaining
        }
        guard !writing, fillCount > 0, fd >= 0,
              force || nextFD == -1 || fillCount >= AccessLog.bufferSize / 2
                || now >= lastFlush + AccessLog.flushMilliseconds else { return nil }
        handOver()
        lastFlush = now
        return remaining
    }

    private var remaining: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: buffers + writeBuffer * AccessLog.bufferSize + writeOffset, count: writeCount - writeOffset)
    }

    enum WriteOutcome: Equatable {
        /// Its lines are in the file.
        case done(lines: UInt64)
        /// A short write: submit the rest.
        case more(UnsafeRawBufferPointer)
        /// The write failed (errno); its lines are lost.
        /// The write failed: `lines` are lost, `written` (whole lines before
        /// a short write's failure) are in the file.
        case failed(CInt, lines: UInt64, written: UInt64 = 0)

        static func == (a: WriteOutcome, b: WriteOutcome) -> Bool {
            switch (a, b) {
            case let (.done(x), .done(y)): return x == y
            case let (.more(x), .more(y)): return x.baseAddress == y.baseAddress && x.count == y.count
            case let (.failed(e, x, v), .failed(f, y, w)): return e == f && x == y && v == w
            default: return false
            }
        }
    }

    /// A write completed with `result` (bytes, or -errno).
    mutating func written(_ result: Int32) -> WriteOutcome {
        if result < 0 {
            writing = false
            return failure(-result)
        }
        writeOffset += Int(result)
        if result > 0 && writeOffset < writeCount { return .more(remaining) }
        writing = false
        return writeOffset < writeCount ? failure(EIO) : .done(lines: writeLines)
    }

    /// A write that stopped part-way: the whole lines before `writeOffset`
    /// reached the file, the rest are lost.
    private func failure(_ error: CInt) -> WriteOutcome {
        let sent = UnsafeRawBufferPointer(start: buffers + writeBuffer * AccessLog.bufferSize, count: writeOffset)
        let whole = UInt64(sent.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) })
        return .failed(error, lines: writeLines - min(whole, writeLines), written: min(whole, writeLines))
    }

    /// Whether lines wait in the fill buffer (the loop then wakes within a second).
    var hasLines: Bool { fillCount > 0 || pending }

    /// From now on lines go to `next` (an open descriptor), or, with -1,
    /// nowhere: the switch completes in `completeSwitch`. Returns a
    /// descriptor an earlier, not yet completed, switch was waiting to
    /// move to, for the caller to close.
    mutating func reopen(_ next: CInt) -> CInt? {
        let superseded = nextFD.flatMap { $0 >= 0 ? $0 : nil }
        nextFD = next
        if next >= 0 {
            if !allocated {
                records.deallocate()
                buffers.deallocate()
                (records, buffers) = AccessLog.allocate(clients: clients, buffers: true)
                allocated = true
            } else if !enabled {
                // Records left from before the removal describe requests
                // whose lines were never to be written.
                for i in 0..<clients { record(i).pointee.active = false }
            }
            enabled = true
        } else {
            enabled = false
        }
        return superseded
    }

    /// Moves to the next descriptor once nothing is in flight to the
    /// current one (and, for a removal, once every buffered line is
    /// written). Returns the descriptor left behind (-1: there was none),
    /// for the caller to close; nil while the switch must wait.
    mutating func completeSwitch() -> CInt? {
        guard let next = nextFD, !writing, next >= 0 || fillCount == 0 else { return nil }
        let old = fd
        fd = next
        nextFD = nil
        return old
    }

    /// At exit, once no write is in flight: what is left, written in place.
    /// The lines written, and those lost.
    mutating func writeRest() -> (written: UInt64, dropped: UInt64) {
        if writing {
            // The disk did not finish in time: neither the write in flight
            // nor what waits behind it is known to be in the file.
            let lost = fillLines + writeLines
            fillCount = 0
            fillLines = 0
            return (0, lost)
        }
        guard fd >= 0, fillCount > 0 else { return (0, 0) }
        let lines = fillLines
        let failed = (try? Posix.writeAll(fd, UnsafeRawBufferPointer(start: buffers + filling * AccessLog.bufferSize, count: fillCount))) == nil
        fillCount = 0
        fillLines = 0
        return failed ? (0, lines) : (lines, 0)
    }
}
