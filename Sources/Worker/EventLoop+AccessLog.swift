import CLinux
import HTTPWire
import Posix
import Ring
import Selection
import SharedState

/// The access log's side of the loop: the hooks the data path calls (each
/// behind one predictable branch when the log is off), the writes, and the
/// switch to another file when the supervisor publishes one.
extension EventLoop {
    /// The request on client `i` is over: its line goes into the buffer.
    mutating func logRequest(_ i: UInt32, status: UInt16) {
        let c = Int(i)
        var text = clients[c].address.text
        let count = Int(clients[c].address.textCount)
        let kept = withUnsafeBytes(of: &text) { raw in
            accessLog.finish(c, client: UnsafeRawBufferPointer(rebasing: raw[0..<count]), status: status,
                             wallMilliseconds: Posix.wallMillisecondsCoarse(), now: Posix.monotonicMicroseconds())
        }
        if !kept { tally.add(.accessLogLinesDropped) }
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
        if accessLog.nextFD != nil { finishAccessLogSwitch() }
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
        case .done(let lines):
            tally.add(.accessLogLinesWritten, lines)
        case .more(let rest):
            queueAccessLogWrite(rest)
            return
        case .failed(let error, let lines, let written):
            tally.add(.accessLogLinesWritten, written)
            tally.add(.accessLogLinesDropped, lines)
            logRarely(.error, "access log: a write failed (\(PosixError("write", errno: error))); its \(lines) lines are lost")
        }
        // The write in flight was the last to the old file.
        if accessLog.nextFD != nil { finishAccessLogSwitch() }
        submitAccessLog(force: false)
    }

    // MARK: Reopening

    /// Top of every loop iteration: one acquire load; a new access log
    /// file (a reopen, a reload that moved or removed the log) is opened
    /// from the supervisor's descriptor and written to once the write in
    /// flight to the current one has completed.
    @inline(__always)
    mutating func followAccessLog(_ region: SharedRegion) {
        if region.accessLogFile().generation != accessLogSeen && now >= accessLogRetryAt { switchAccessLog(region) }
    }

    mutating func switchAccessLog(_ region: SharedRegion) {
        var file = region.accessLogFile()
        var next: CInt = -1
        // The supervisor closes a file's descriptor only after publishing
        // the next file: if the word is unchanged once the descriptor is
        // open, it was this file's. A changed word is tried again.
        var attempts = 0
        while file.isOpen {
            attempts += 1
            do {
                next = try Posix.open("/proc/\(region.supervisorPID)/fd/\(file.fd)", flags: O_WRONLY | O_APPEND)
            } catch {
                let now = region.accessLogFile()
                if now != file && attempts < 4 { file = now; continue }
                if now != file { return }  // the next loop turn looks again
                // Perhaps passing (out of descriptors): tried again in a second.
                accessLogRetryAt = self.now + 1_000
                logRarely(.error, "access log: cannot open file generation \(file.generation) from the supervisor (\(error)); lines keep going to the file this worker has, and it tries again every second")
                return
            }
            let now = region.accessLogFile()
            if now == file { break }
            Posix.close(next)
            next = -1
            guard attempts < 4 else { return }
            file = now
        }
        accessLogSeen = file.generation
        accessLogSwitchingTo = file.generation
        if let superseded = accessLog.reopen(next) { Posix.close(superseded) }
        if accessLog.enabled && serverLogNames == nil {
            (serverLogNames, serverLogNameCounts) = TableSettings.logNames(table)
        }
        finishAccessLogSwitch()
    }

    /// Completes a switch once no write to the old file is in flight: the
    /// old descriptor is closed and the worker slot says which file this
    /// worker writes to now.
    mutating func finishAccessLogSwitch() {
        guard let old = accessLog.completeSwitch() else { return }
        if old >= 0 { Posix.close(old) }
        if let region, region.worker(workerIndex).pid == processID {
            region.worker(workerIndex).accessLogGeneration = UInt64(accessLogSwitchingTo)
        }
        if accessLog.fd >= 0 {
            log.info("access log: writing to file generation \(accessLogSwitchingTo)")
        } else {
            log.info("access log: turned off (file generation \(accessLogSwitchingTo)); what was buffered is written")
        }
    }

    /// At exit: every line written before the worker ends (waiting at most
    /// a few seconds for the disk).
    mutating func closeAccessLog() {
        guard accessLog.fd >= 0 || accessLog.nextFD != nil else { return }
        var rounds = 0
        while rounds < 50 && (accessLog.writing || accessLog.hasLines) {
            rounds += 1
            if accessLog.nextFD != nil { finishAccessLogSwitch() }
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
        if accessLog.nextFD != nil { finishAccessLogSwitch() }
        let rest = accessLog.writeRest()
        tally.add(.accessLogLinesWritten, rest.written)
        tally.add(.accessLogLinesDropped, rest.dropped)
    }
}
