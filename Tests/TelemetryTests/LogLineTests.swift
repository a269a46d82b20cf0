import Testing
import Posix

/// The log line format (Posix's `Logger`), tested here for want of a Posix test target.
@Suite struct LogLineTests {
    @Test func aLineIsLogfmtWithATimestamp() {
        let line = LogLine.format(level: .info, component: "worker", pid: 123, message: "table generation 2 live",
                                  fields: [("worker", "0"), ("note", "a=b")], timestampMs: 1_700_000_000_123)
        #expect(line == "2023-11-14T22:13:20.123Z level=info component=worker pid=123 msg=\"table generation 2 live\" worker=0 note=\"a=b\"\n")
    }

    @Test func underJournaldThePriorityLeadsAndTheTimestampIsLeftOut() {
        let line = LogLine.format(level: .error, component: "supervisor", pid: 1, message: "stopped", fields: [], timestampMs: nil)
        #expect(line == "<3>level=error component=supervisor pid=1 msg=stopped\n")
    }

    @Test(arguments: [
        ("plain", "plain"),
        ("", "\"\""),
        ("two words", "\"two words\""),
        ("say \"hi\"", "\"say \\\"hi\\\"\""),
        ("back\\slash", "\"back\\\\slash\""),
        ("line\nbreak", "\"line\\nbreak\""),
        ("bell\u{07}", "\"bell\\u0007\""),
    ])
    func valuesAreQuotedWhenTheyNeedIt(value: String, written: String) {
        let line = LogLine.format(level: .debug, component: "c", pid: 1, message: value, fields: [], timestampMs: nil)
        #expect(line == "<7>level=debug component=c pid=1 msg=\(written)\n")
    }

    @Test(arguments: [
        (UInt64(0), "1970-01-01T00:00:00.000Z"),
        (951_782_400_000, "2000-02-29T00:00:00.000Z"),
        (1_709_164_799_999, "2024-02-28T23:59:59.999Z"),
        (4_102_444_800_000, "2100-01-01T00:00:00.000Z"),
    ])
    func timestampsAreRFC3339InUTC(ms: UInt64, text: String) {
        #expect(Timestamp.rfc3339(milliseconds: ms) == text)
    }

    @Test func levelsOrderByImportance() {
        #expect(LogLevel.debug < .info && LogLevel.info < .notice && LogLevel.notice < .warning && LogLevel.warning < .error)
        #expect(LogLevel(name: "warning") == .warning && LogLevel(name: "loud") == nil)
    }
}
