import Testing
import HTTPWire
@testable import Worker

@Suite struct AccessLogTests {
    func line(_ entry: AccessLogEntry, capacity: Int = 4096) -> String? {
        var writer = AccessLogWriter()
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 1)
        defer { out.deallocate() }
        let n = writer.write(entry, into: out)
        return n == 0 ? nil : String(decoding: out[0..<n], as: UTF8.self)
    }

    func withEntry<R>(client: String = "10.0.0.5", method: String = "GET", target: String = "/a?b=1",
                      server: String = "pool=web server=apache1", _ body: (inout AccessLogEntry) -> R) -> R {
        let strings = [client, method, target, server].map { Array($0.utf8) }
        return strings[0].withUnsafeBytes { c in
            strings[1].withUnsafeBytes { m in
                strings[2].withUnsafeBytes { t in
                    strings[3].withUnsafeBytes { s in
                        var e = AccessLogEntry(wallMilliseconds: 1_700_000_000_123, client: c, method: m, target: t,
                                               versionMinor: 1, status: 200, server: s, route: .pinned,
                                               durationMicroseconds: 1234, responseMicroseconds: 812, bytesIn: 612, bytesOut: 1024)
                        return body(&e)
                    }
                }
            }
        }
    }

    @Test func aForwardedRequestsLine() {
        let text = withEntry { line($0) }
        #expect(text == "2023-11-14T22:13:20.123Z client=10.0.0.5 method=GET target=\"/a?b=1\" version=HTTP/1.1 status=200 pool=web server=apache1 route=pinned duration_ms=1.234 response_ms=0.812 bytes_in=612 bytes_out=1024\n")
    }

    @Test func aLocalAnswerToAnIncompleteHead() {
        let text = withEntry(method: "", target: "", server: "") { e -> String? in
            e.versionMinor = nil
            e.status = 400
            e.route = .local
            e.responseMicroseconds = nil
            e.durationMicroseconds = 0
            e.bytesIn = 30
            e.bytesOut = 105
            return line(e)
        }
        #expect(text == "2023-11-14T22:13:20.123Z client=10.0.0.5 method=- target=- version=- status=400 pool=- server=- route=local duration_ms=0.000 response_ms=- bytes_in=30 bytes_out=105\n")
    }

    @Test(arguments: [
        ("/plain", "\"/plain\""),
        ("/q?x=\"y\"", "\"/q?x=\\\"y\\\"\""),
        ("/back\\slash", "\"/back\\\\slash\""),
        ("/caf\u{e9}", "\"/caf\\xc3\\xa9\""),
    ])
    func targetsAreQuotedAndEscaped(target: String, written: String) {
        let text = withEntry(target: target) { line($0) } ?? ""
        #expect(text.contains(" target=\(written) "), "\(text)")
    }

    @Test func aTruncatedTargetSaysSo() {
        let text = withEntry { e -> String? in
            e.targetTruncated = true
            e.status = 0
            return line(e)
        } ?? ""
        #expect(text.contains(" target=\"/a?b=1\"... "))
        #expect(text.contains(" status=- "))
    }

    @Test func aLineThatDoesNotFitIsNotWritten() {
        #expect(withEntry { line($0, capacity: 100) } == nil)
    }

    @Test func theDateFollowsTheSecond() {
        var writer = AccessLogWriter()
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
        defer { out.deallocate() }
        let stamps: [(UInt64, String)] = [(86_399_999, "1970-01-01T23:59:59.999Z"), (86_400_000, "1970-01-02T00:00:00.000Z"),
                                          (86_400_001, "1970-01-02T00:00:00.001Z")]
        for (ms, text) in stamps {
            let n = withEntry { e -> Int in
                e.wallMilliseconds = ms
                return writer.write(e, into: out)
            }
            #expect(String(decoding: out[0..<n], as: UTF8.self).hasPrefix(text + " "))
        }
    }

    @Test func linesFillOneBufferWhileTheOtherIsWritten() throws {
        var log = AccessLog(fd: 99, clients: 2)
        let client = Array("127.0.0.1".utf8)
        func finish() {
            client.withUnsafeBytes { _ = log.finish(0, client: $0, status: 200, wallMilliseconds: 0, now: 10) }
        }
        finish()
        #expect(log.nextWrite(now: 0, force: false) == nil, "a young, small buffer waits")
        let firstWrite = log.nextWrite(now: 0, force: true)
        let first = try #require(firstWrite)
        #expect(log.writing && log.fillCount == 0)
        finish()
        #expect(log.nextWrite(now: 5000, force: true) == nil, "one write at a time")
        // A short write: the rest goes next.
        guard case .more(let rest) = log.written(Int32(first.count - 10)) else { Issue.record("expected the rest"); return }
        #expect(rest.count == 10)
        #expect(log.written(10) == .done(lines: 1))
        let secondWrite = log.nextWrite(now: 5000, force: false)
        let second = try #require(secondWrite, "a second old: due")
        #expect(second.count == first.count)
        guard case .failed(let errno, let lines, let written) = log.written(-28) else { Issue.record("expected a failure"); return }
        #expect(errno == 28 && lines == 1 && written == 0 && !log.writing)
    }

    @Test func aWriteThatFailsPartWayCountsTheWholeLinesItWrote() throws {
        var log = AccessLog(fd: 99, clients: 1)
        let client = Array("127.0.0.1".utf8)
        for _ in 0..<3 {
            client.withUnsafeBytes { _ = log.finish(0, client: $0, status: 200, wallMilliseconds: 0, now: 10) }
        }
        let write = log.nextWrite(now: 0, force: true)
        let text = Array(try #require(write))
        let firstEnd = try #require(text.firstIndex(of: 0x0A))
        // The first line and half the second reach the file, then the disk fails.
        guard case .more = log.written(Int32(firstEnd + 1 + 5)) else { Issue.record("expected the rest"); return }
        let failed = log.written(-5)
        #expect(failed == .failed(5, lines: 2, written: 1))
        let writing = log.writing
        #expect(!writing)
    }

    @Test func aFullBufferIsHandedOverAndLinesBeyondBothAreDropped() {
        var log = AccessLog(fd: 99, clients: 1)
        let client = Array("127.0.0.1".utf8)
        var lines = 0
        while log.dropped == 0 {
            client.withUnsafeBytes { _ = log.finish(0, client: $0, status: 200, wallMilliseconds: 0, now: 10) }
            lines += 1
        }
        // The first buffer filled and was handed over (awaiting its write);
        // the second filled; the next line found no room.
        #expect(log.writing && log.hasLines)
        #expect(lines > 2 * (AccessLog.bufferSize / 200))
        let handedOver = log.nextWrite(now: 0, force: false)
        #expect(handedOver != nil && handedOver!.count > AccessLog.bufferSize - 200)
    }

    @Test func theRecordKeepsTheHeadsMethodAndTarget() throws {
        var log = AccessLog(fd: 99, clients: 4)
        let request = Array("POST /submit?id=7 HTTP/1.0\r\nHost: x\r\nContent-Length: 0\r\n\r\n".utf8)
        var scanner = RequestHeadScanner(maxHeadBytes: 1024)
        let result = request.withUnsafeBytes { scanner.scan($0, wanted: WantedHeaders(persistence: nil, hashKey: nil)) }
        guard case .complete(let head) = result else { Issue.record("\(result)"); return }
        request.withUnsafeBytes { log.begin(3, head: head, bytes: $0, now: 1000) }
        let server = Array("pool=api server=b".utf8)
        server.withUnsafeBytes { log.routed(3, server: $0, route: .balanced) }
        log.responded(3, status: 201, now: 1500)
        log.record(3).pointee.bytesIn = UInt64(request.count)
        log.record(3).pointee.bytesOut = 99
        Array("::1".utf8).withUnsafeBytes { _ = log.finish(3, client: $0, status: 201, wallMilliseconds: 0, now: 3000) }
        #expect(!log.record(3).pointee.active)
        let write = log.nextWrite(now: 0, force: true)
        let bytes = try #require(write)
        #expect(String(decoding: bytes, as: UTF8.self) == "1970-01-01T00:00:00.000Z client=::1 method=POST target=\"/submit?id=7\" version=HTTP/1.0 status=201 pool=api server=b route=balanced duration_ms=2.000 response_ms=0.500 bytes_in=\(request.count) bytes_out=99\n")
    }

    // MARK: Counting and switching files

    static let client = Array("127.0.0.1".utf8)

    /// What the loop reads of the log, as one value (`AccessLog` is not
    /// copyable, so the test macros see this instead).
    struct State: Equatable {
        var fd: CInt
        var nextFD: CInt?
        var enabled: Bool
        var writing: Bool
        var hasLines: Bool
    }

    func state(_ log: borrowing AccessLog) -> State {
        State(fd: log.fd, nextFD: log.nextFD, enabled: log.enabled, writing: log.writing, hasLines: log.hasLines)
    }

    func finish(_ log: inout AccessLog, _ count: Int = 1) {
        for _ in 0..<count {
            Self.client.withUnsafeBytes { _ = log.finish(0, client: $0, status: 200, wallMilliseconds: 0, now: 10) }
        }
    }

    /// Everything `nextWrite` hands out is written in full.
    func writeAll(_ log: inout AccessLog, force: Bool = true) -> AccessLog.WriteOutcome? {
        guard let bytes = log.nextWrite(now: 0, force: force) else { return nil }
        return log.written(Int32(bytes.count))
    }

    @Test func writesReportTheLinesTheyCarried() throws {
        var log = AccessLog(fd: 99, clients: 1)
        finish(&log, 3)
        let first = try #require(log.nextWrite(now: 0, force: true).map(\.count))
        finish(&log, 2)
        let done = log.written(Int32(first))
        #expect(done == .done(lines: 3))
        let second = try #require(log.nextWrite(now: 0, force: true).map(\.count))
        let half = log.written(Int32(second / 2))
        guard case .more = half else { Issue.record("expected the rest, got \(half)"); return }
        let failed = log.written(-5)
        // Half of two equal lines is the first one whole: it is in the file.
        #expect(failed == .failed(5, lines: 1, written: 1), "a failed rest loses the lines it did not finish")
    }

    @Test func aLineWithNoRoomSaysSo() {
        var log = AccessLog(fd: 99, clients: 1)
        var kept = 0
        while Self.client.withUnsafeBytes({ log.finish(0, client: $0, status: 200, wallMilliseconds: 0, now: 10) }) { kept += 1 }
        let dropped = log.dropped
        #expect(dropped == 1 && kept > 0)
    }

    @Test func aReopenWaitsForTheWriteInFlightToTheOldFile() throws {
        var log = AccessLog(fd: 10, clients: 1)
        finish(&log, 2)
        let first = try #require(log.nextWrite(now: 0, force: true).map(\.count))
        finish(&log)
        let superseded = log.reopen(11)
        let early = log.completeSwitch()
        #expect(superseded == nil && early == nil, "a write is in flight to the old file")
        #expect(state(log) == State(fd: 10, nextFD: 11, enabled: true, writing: true, hasLines: true))
        let short = log.written(Int32(first - 1))
        guard case .more(let rest) = short else { Issue.record("expected the rest, got \(short)"); return }
        let stillEarly = log.completeSwitch()
        #expect(rest.count == 1 && stillEarly == nil && state(log).fd == 10, "the rest goes to the old file too")
        let done = log.written(1)
        let closed = log.completeSwitch()
        #expect(done == .done(lines: 2) && closed == 10)
        #expect(state(log) == State(fd: 11, nextFD: nil, enabled: true, writing: false, hasLines: true))
        // What was buffered meanwhile goes to the new file.
        let next = writeAll(&log)
        #expect(next == .done(lines: 1) && state(log).fd == 11)
    }

    @Test func aReopenWithNothingInFlightSwitchesAtOnce() {
        var log = AccessLog(fd: 10, clients: 1)
        finish(&log)
        let superseded = log.reopen(11)
        let closed = log.completeSwitch()
        let again = log.completeSwitch()
        #expect(superseded == nil && closed == 10 && again == nil)
        #expect(state(log) == State(fd: 11, nextFD: nil, enabled: true, writing: false, hasLines: true))
    }

    @Test func aSecondReopenHandsBackTheFileTheFirstWaitedFor() throws {
        var log = AccessLog(fd: 10, clients: 1)
        finish(&log)
        let first = try #require(log.nextWrite(now: 0, force: true).map(\.count))
        let none = log.reopen(11)
        let superseded = log.reopen(12)
        #expect(none == nil && superseded == 11, "11 was never written to: close it")
        let done = log.written(Int32(first))
        let closed = log.completeSwitch()
        #expect(done == .done(lines: 1) && closed == 10 && state(log).fd == 12)
    }

    @Test func aRemovalStopsNewLinesAndWritesWhatIsBufferedToTheOldFile() throws {
        var log = AccessLog(fd: 10, clients: 1)
        finish(&log, 2)
        let superseded = log.reopen(-1)
        let early = log.completeSwitch()
        #expect(superseded == nil && early == nil, "two lines still to write")
        #expect(state(log) == State(fd: 10, nextFD: -1, enabled: false, writing: false, hasLines: true))
        // Young and small, yet due: the file is going away.
        let rest = writeAll(&log, force: false)
        let closed = log.completeSwitch()
        #expect(rest == .done(lines: 2) && closed == 10)
        #expect(state(log) == State(fd: -1, nextFD: nil, enabled: false, writing: false, hasLines: false))
        let nothing = log.nextWrite(now: 10_000, force: true) == nil
        #expect(nothing)
    }

    @Test func aLogThatWasOffIsTurnedOn() throws {
        var log = AccessLog(fd: nil, clients: 4)
        #expect(state(log) == State(fd: -1, nextFD: nil, enabled: false, writing: false, hasLines: false))
        let superseded = log.reopen(20)
        let closed = log.completeSwitch()
        #expect(superseded == nil && closed == -1, "nothing to close")
        #expect(state(log) == State(fd: 20, nextFD: nil, enabled: true, writing: false, hasLines: false))
        let request = Array("GET /x HTTP/1.1\r\nHost: a\r\n\r\n".utf8)
        var scanner = RequestHeadScanner(maxHeadBytes: 1024)
        let result = request.withUnsafeBytes { scanner.scan($0, wanted: WantedHeaders(persistence: nil, hashKey: nil)) }
        guard case .complete(let head) = result else { Issue.record("\(result)"); return }
        request.withUnsafeBytes { log.begin(3, head: head, bytes: $0, now: 0) }
        Self.client.withUnsafeBytes { _ = log.finish(3, client: $0, status: 204, wallMilliseconds: 0, now: 10) }
        let text = try #require(log.nextWrite(now: 0, force: true).map { String(decoding: $0, as: UTF8.self) })
        #expect(text.contains(" method=GET target=\"/x\" "), "\(text)")
    }

    @Test func aLogTurnedOnAgainForgetsRequestsFromBefore() {
        var log = AccessLog(fd: 10, clients: 2)
        log.record(1).pointee.active = true
        _ = log.reopen(-1)
        _ = log.completeSwitch()
        _ = log.reopen(11)
        let active = log.record(1).pointee.active
        let closed = log.completeSwitch()
        #expect(!active, "its line was never to be written")
        #expect(closed == -1 && state(log).fd == 11)
    }

    @Test func localStatusesAreReadFromTheResponse() {
        #expect(EventLoop.status(of: LocalResponses.badRequest) == 400)
        #expect(EventLoop.status(of: LocalResponses.serviceUnavailable) == 503)
        #expect(EventLoop.status(of: LocalResponse("nonsense")) == 0)
    }
}
