import Testing
import Health

@Suite struct MonitorVerdictTests {
    /// Feeds `results` ("s" success, "f" failure) and returns the state after each.
    func run(_ results: String, up: Bool = true, rise: Int = 2, fall: Int = 3) -> String {
        var v = MonitorVerdict(up: up)
        return String(results.map { r -> Character in
            _ = v.record(passed: r == "s", successfulChecks: rise, failedChecks: fall)
            return v.isUp ? "U" : "D"
        })
    }

    @Test(arguments: [
        // (results, states after each) with rise 2, fall 3, starting up.
        ("fff", "UUD"),
        ("ffsfff", "UUUUUD"),      // a success resets the failure streak
        ("fffss", "UUDDU"),
        ("fffsfss", "UUDDDDU"),    // a failure resets the success streak
        ("ssss", "UUUU"),
        ("", ""),
    ])
    func consecutiveResultsDecide(results: String, states: String) {
        #expect(run(results) == states)
    }

    @Test func oneCheckEachWay() {
        #expect(run("fsfs", rise: 1, fall: 1) == "DUDU")
    }

    @Test func startingDownNeedsSuccesses() {
        #expect(run("sfsss", up: false, rise: 3, fall: 1) == "DDDDU")
    }

    @Test func recordReportsTransitionsOnly() {
        var v = MonitorVerdict(up: true)
        let changed = "ffss".map { v.record(passed: $0 == "s", successfulChecks: 2, failedChecks: 2) }
        #expect(changed == [false, true, false, true])
    }

    @Test func forceDownNeedsTheFullRiseAgain() {
        var v = MonitorVerdict(up: true)
        _ = v.record(passed: false, successfulChecks: 2, failedChecks: 5)
        v.forceDown()
        #expect(!v.isUp && v.streak == 0)
        let first = v.record(passed: true, successfulChecks: 2, failedChecks: 5)
        let second = v.record(passed: true, successfulChecks: 2, failedChecks: 5)
        #expect(!first && second && v.isUp)
    }
}

@Suite struct StatusLineTests {
    func parse(_ s: String) -> StatusLine {
        Array(s.utf8).withUnsafeBytes { parseStatusLine($0) }
    }

    @Test(arguments: [
        ("HTTP/1.1 200 OK\r\n", StatusLine.status(200)),
        ("HTTP/1.0 503 Service Unavailable\r\n", .status(503)),
        ("HTTP/1.1 204\r\n", .status(204)),
        ("HTTP/1.1 301 ", .status(301)),
        ("HTTP/2.0 200 OK\r\n", .status(200)),
        ("", .incomplete),
        ("HTTP/1.1 20", .incomplete),
        ("HTTP/1.1 200", .incomplete),
        ("HTT", .incomplete),
        ("SSH-2.0-OpenSSH\r\n", .malformed),
        ("http/1.1 200 OK\r\n", .malformed),
        ("HTTP/1.1 20x OK\r\n", .malformed),
        ("HTTP/1.1  200 OK\r\n", .malformed),
        ("HTTP/1.1 2000 OK\r\n", .malformed),
        ("HTTP/1.1 099 OK\r\n", .malformed),
        ("HTTP/1.1 200\n", .malformed),
        ("HTTP/11 200 OK\r\n", .malformed),
    ])
    func statusLines(text: String, expected: StatusLine) {
        #expect(parse(text) == expected)
    }

    @Test func everyPrefixOfAValidLineIsIncomplete() {
        let line = "HTTP/1.1 404 Not Found\r\n"
        for n in 0..<13 { #expect(parse(String(line.prefix(n))) == .incomplete, "prefix \(n)") }
        for n in 13...line.count { #expect(parse(String(line.prefix(n))) == .status(404), "prefix \(n)") }
    }
}

@Suite struct FirstCheckTests {
    @Test func delaysStayInTheWindow() {
        for key in 0..<2_000 as Range<UInt64> {
            #expect(firstCheckDelay(key: key, intervalMs: 10_000) < 1_000)
            #expect(firstCheckDelay(key: key, intervalMs: 300) < 300)
        }
        #expect(firstCheckDelay(key: 7, intervalMs: 0) == 0)
    }

    @Test func delaysSpreadOut() {
        // 2,000 consecutive keys over 10 buckets of 100 ms: none gets more than twice its share.
        var buckets = [Int](repeating: 0, count: 10)
        for key in 0..<2_000 as Range<UInt64> { buckets[Int(firstCheckDelay(key: key, intervalMs: 10_000) / 100)] += 1 }
        #expect(buckets.allSatisfy { $0 > 100 && $0 < 400 }, "\(buckets)")
    }
}
