import Testing
import SharedState
@testable import Telemetry

@Suite struct PrometheusTests {
    @Test func eachFamilyHasHelpAndTypeOnceBeforeItsSamples() {
        let text = PrometheusText.render(handSnapshot())
        var seen: [String: String] = [:]  // family -> type
        var current = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
            if line.hasPrefix("# HELP ") {
                current = String(line.dropFirst(7).prefix { $0 != " " })
                #expect(seen[current] == nil, "family \(current) appears twice")
            } else if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                #expect(parts.count == 4 && parts[2] == Substring(current))
                #expect(parts[3] == "counter" || parts[3] == "gauge")
                seen[current] = String(parts[3])
                if parts[3] == "counter" { #expect(current.hasSuffix("_total"), "\(current)") }
            } else {
                let name = line.prefix { $0 != "{" && $0 != " " }
                #expect(name == Substring(current), "sample \(line) outside its family \(current)")
                #expect(Double(line.split(separator: " ").last!) != nil, "\(line)")
            }
        }
        #expect(text.hasSuffix("\n"))
    }

    @Test(arguments: [
        "tether_table_generation 3",
        "tether_reloads_total{result=\"applied\"} 2",
        "tether_reloads_total{result=\"refused\"} 1",
        "tether_last_reload_successful 0",
        "tether_start_time_seconds 1700000000.000",
        "tether_monitor_up 0",
        "tether_worker_up{worker=\"0\",cpu=\"0\"} 1",
        "tether_worker_up{worker=\"1\",cpu=\"1\"} 0",
        "tether_worker_table_generation{worker=\"0\",cpu=\"0\"} 3",
        "tether_worker_requests_total{worker=\"0\",cpu=\"0\"} 13",
        "tether_worker_connections{worker=\"0\",cpu=\"0\"} 2",
        "tether_worker_routed_total{worker=\"0\",cpu=\"0\",reason=\"pinned\"} 7",
        "tether_worker_routed_total{worker=\"0\",cpu=\"0\",reason=\"balanced\"} 5",
        "tether_worker_local_responses_total{worker=\"0\",cpu=\"0\"} 1",
        "tether_access_log_lines_total{worker=\"0\",cpu=\"0\",result=\"written\"} 12",
        "tether_access_log_lines_total{worker=\"0\",cpu=\"0\",result=\"dropped\"} 1",
        "tether_access_log_lines_total{worker=\"1\",cpu=\"1\",result=\"dropped\"} 0",
        "tether_server_requests_total{pool=\"web\",server=\"apache \\\"1\\\"\",address=\"10.0.0.11:8080\"} 12",
        "tether_server_responses_total{pool=\"web\",server=\"apache \\\"1\\\"\",address=\"10.0.0.11:8080\",class=\"2xx\"} 10",
        "tether_server_responses_total{pool=\"web\",server=\"apache \\\"1\\\"\",address=\"10.0.0.11:8080\",class=\"4xx\"} 2",
        "tether_server_responses_total{pool=\"web\",server=\"apache \\\"1\\\"\",address=\"10.0.0.11:8080\",class=\"5xx\"} 0",
        "tether_server_bytes_total{pool=\"web\",server=\"apache \\\"1\\\"\",address=\"10.0.0.11:8080\",direction=\"to_server\"} 1200",
        "tether_server_bytes_total{pool=\"web\",server=\"apache \\\"1\\\"\",address=\"10.0.0.11:8080\",direction=\"from_server\"} 3400",
        "tether_server_persistence_total{pool=\"web\",server=\"apache \\\"1\\\"\",address=\"10.0.0.11:8080\",outcome=\"hit\"} 7",
        "tether_server_persistence_total{pool=\"web\",server=\"apache \\\"1\\\"\",address=\"10.0.0.11:8080\",outcome=\"balanced\"} 5",
        "tether_server_up{pool=\"web\",server=\"apache \\\"1\\\"\",address=\"10.0.0.11:8080\"} 1",
        "tether_server_in_flight{pool=\"web\",server=\"apache \\\"1\\\"\",address=\"10.0.0.11:8080\"} 1",
        "tether_server_connections{pool=\"web\",server=\"apache \\\"1\\\"\",address=\"10.0.0.11:8080\"} 3",
        "tether_server_state_change_time_seconds{pool=\"web\",server=\"apache \\\"1\\\"\",address=\"10.0.0.11:8080\"} 1700000040.000",
    ])
    func samplesCarryTheSnapshotsNumbers(line: String) {
        let lines = PrometheusText.render(handSnapshot()).split(separator: "\n").map(String.init)
        #expect(lines.contains(line), "missing: \(line)")
    }

    @Test func anOfflineWorkerHasNoGenerationSample() {
        let text = PrometheusText.render(handSnapshot())
        #expect(!text.contains("tether_worker_table_generation{worker=\"1\""))
        #expect(!text.contains("tether_worker_start_time_seconds{worker=\"1\""))
    }

    @Test(arguments: [
        ("plain", "plain"),
        ("a\"b", "a\\\"b"),
        ("back\\slash", "back\\\\slash"),
        ("two\nlines", "two\\nlines"),
        ("ünïcode", "ünïcode"),
    ])
    func labelValuesAreEscaped(value: String, escaped: String) {
        #expect(PrometheusText.escapeLabelValue(value) == escaped)
    }

    @Test(arguments: [(UInt64(0), "0.000"), (1, "0.001"), (1_234, "1.234"), (1_700_000_000_050, "1700000000.050")])
    func timestampsAreSecondsWithMilliseconds(ms: UInt64, text: String) {
        #expect(PrometheusText.seconds(ms) == text)
    }

    @Test func aMonitorAddsItsFamilies() {
        var s = handSnapshot()
        s.monitor = .init(pid: 99, generation: 3, startedAtMs: 1, checks: 40, checkFailures: 2, restarts: 0)
        let lines = PrometheusText.render(s).split(separator: "\n").map(String.init)
        #expect(lines.contains("tether_monitor_up 1"))
        #expect(lines.contains("tether_monitor_checks_total 40"))
        #expect(lines.contains("tether_monitor_check_failures_total 2"))
    }

    @Test func aRestartingMonitorIsDownButKeepsItsCounters() {
        var s = handSnapshot()
        s.monitor = .init(pid: 0, generation: 3, startedAtMs: 1, checks: 40, checkFailures: 2, restarts: 1)
        let lines = PrometheusText.render(s).split(separator: "\n").map(String.init)
        #expect(lines.contains("tether_monitor_up 0"))
        #expect(lines.contains("tether_monitor_checks_total 40"))
        #expect(lines.contains("tether_monitor_restarts_total 1"))
        #expect(StatusTable.render(s).contains("health monitor: restarting (40 checks, 2 failed, 1 restarts so far)"))
    }
}
