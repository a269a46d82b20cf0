import CLinux
import HTTPWire
import Posix
import Ring
import Selection

/// The access log's side of the loop: the hooks the data path calls (each
/// behind one predictable branch when the log is off) and the writes.
extension EventLoop {
    /// The request on client `i` is over: its line goes into the buffer.
    mutating func logRequest(_ i: UInt32, status: UInt16) {
        let c = Int(i)
        var text = clients[c].address.text
        let count = Int(clients[c].address.textCount)
        withUnsafeBytes(of: &text) { raw in
            accessLog.finish(c, client: UnsafeRawBufferPointer(rebasing: raw[0..<count]), status: status,
                             wallMilliseconds: Posix.wallMillisecondsCoarse(), now: Posix.monotonicMicroseconds())
        }
        submitAccessLog(force: false)
    }

    /// A request head is complete (`bytes`: the buffer it was scanned in).
    @inline(__always)
    mutating func logRequestStarted(_ i: UInt32, head: RequestHead, bytes: UnsafeRawBufferPointer) {
        accessLog.begin(Int(i), head: head, bytes: bytes, now: Posix.monotonicMicroseconds())
    }

    @inline(__always)
    mutating func logRouted(_ i: UInt32, server: UInt32, reason: RouteReason) {
        let route: AccessRoute
        switch reason {
        case .pinned: route = .pinned
        case .failover: route = .failover
        case .balanced: route = .balanced
        }
        accessLog.routed(Int(i), server: currentSettings.logName(server), route: route)
    }

    /// The status of a local response (its bytes begin "HTTP/1.1 NNN").
    static func status(of response: LocalResponse) -> UInt16 {
        guard response.count >= 12 else { return 0 }
        var status: UInt16 = 0
        for k in 9..<12 {
            let d = response.bytes.load(fromByteOffset: k, as: UInt8.self) &- UInt8(ascii: "0")
            guard d < 10 else { return 0 }
            status = status * 10 + UInt16(d)
        }
        return status
    }

    /// Top of the loop: writes the buffer once it is due; reports dropped lines.
    mutating func flushAccessLog() {
        submitAccessLog(force: false)
        if accessLog.dropped > reportedDroppedLines && now >= lastRareLog + 1000 {
            let dropped = accessLog.dropped
            reportedDroppedLines = dropped
            logRarely(.warning, "access log: \(dropped) lines dropped since start: its writes do not keep up")
        }
    }

    mutating func submitAccessLog(force: Bool) {
        guard let bytes = accessLog.nextWrite(now: now, force: force) else { return }
        queueAccessLogWrite(bytes)
    }

    mutating func queueAccessLogWrite(_ bytes: UnsafeRawBufferPointer) {
        ring.queueWrite(fd: accessLog.fd, from: bytes.baseAddress!, count: UInt32(bytes.count),
                        userData: UserData(kind: Operation.accessLogWrite.rawValue, slot: 0, generation: 0))
    }

    mutating func accessLogWritten(_ c: Completion) {
        switch accessLog.written(c.result) {
        case .done:
            submitAccessLog(force: false)
        case .more(let rest):
            queueAccessLogWrite(rest)
        case .failed(let error):
            logRarely(.error, "access log: a write failed (\(PosixError("write", errno: error))); its lines are lost")
        }
    }

    /// At exit: every line written before the worker ends (waiting at most
    /// a few seconds for the disk).
    mutating func closeAccessLog() {
        guard accessLog.enabled else { return }
        var rounds = 0
        while rounds < 50 && (accessLog.writing || accessLog.hasLines) {
            rounds += 1
            if !accessLog.writing { submitAccessLog(force: true) }
            do { try ring.submitAndWait(timeoutMilliseconds: 100) } catch { break }
            while true {
                let n = ring.harvest(into: completions)
                for k in 0..<n where completions[k].userData.kind == Operation.accessLogWrite.rawValue {
                    accessLogWritten(completions[k])
                }
                if n < completions.count { break }
            }
        }
        accessLog.writeRest()
    }
}
