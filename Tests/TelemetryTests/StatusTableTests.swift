import Testing
@testable import Telemetry

@Suite struct StatusTableTests {
    @Test func headerReloadAndRowsAreShown() {
        let text = StatusTable.render(handSnapshot())
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines[0] == "tether: supervisor pid 10, up 1m 40s (since 2023-11-14T22:13:20.000Z)")
        #expect(lines[1] == "table: generation 3, loaded 50s ago (2023-11-14T22:14:10.000Z)")
        #expect(lines[2] == "last reload: #3 REFUSED 40s ago (2023-11-14T22:14:20.000Z); generation 3 keeps serving:")
        #expect(lines[3] == "  a.yaml:3:5: pool: no pool named \"webb\"")
        #expect(lines.contains("reloads: 2 applied, 1 refused"))
        #expect(lines.contains("health monitor: not running"))
        #expect(lines.contains("access log: file generation 4, 12 lines written, 1 dropped"))
        #expect(lines.contains("workers"), "no rate note without a previous snapshot")
        let header = lines.first { $0.hasPrefix("WORKER") }!
        let row = lines[lines.firstIndex(of: header)! + 1]
        // Columns line up under their headers (right-aligned numbers).
        #expect(row.hasPrefix("     0   11    0  running    3"), "\(row)")
        #expect(lines.contains { $0.hasPrefix("web   apache \"1\"  10.0.0.11:8080  up     1m 0s  2 consecutive checks passed") },
                "\(text)")
    }

    @Test func ratesComeFromThePreviousSnapshot() {
        var before = handSnapshot()
        before.takenAtMs -= 500
        before.workers[0].counters[0] -= 5  // requests
        before.servers[0].counters[0] -= 2
        let text = StatusTable.render(handSnapshot(), previous: before)
        #expect(text.contains("workers (req/s over the last 0.50 s)"))
        let workerRow = text.split(separator: "\n").first { $0.contains("  running  ") }!
        #expect(workerRow.contains(" 13   10.0 "), "\(workerRow)")
        let serverRow = text.split(separator: "\n").first { $0.hasPrefix("web") }!
        #expect(serverRow.contains(" 12    4.0 "), "\(serverRow)")
    }

    @Test(arguments: [(UInt64(0), "0s"), (42_000, "42s"), (303_000, "5m 3s"), (3_720_000, "1h 2m"), (273_600_000, "3d 4h")])
    func durationsAreShort(ms: UInt64, text: String) {
        #expect(StatusTable.duration(ms, since: 0) == text)
    }

    @Test(arguments: [(0.0, 1, "0.0"), (10.0, 1, "10.0"), (2.345, 2, "2.35"), (0.05, 1, "0.1"), (153.24, 1, "153.2")])
    func fixedDecimals(x: Double, decimals: Int, text: String) {
        #expect(StatusTable.fixed(x, decimals) == text)
    }
}
