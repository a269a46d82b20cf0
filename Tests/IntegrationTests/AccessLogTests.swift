import Foundation
import Testing

/// `access_log:` with the real binary: one line per request, in the file
/// the supervisor opened, saying where each request went and why.
@Suite(.serialized) struct AccessLogIntegrationTests {
    static func lines(_ url: URL) -> [String] {
        ((try? String(contentsOf: url, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    /// `key=value` pairs of a line (values bare or quoted, as written).
    static func fields(_ line: String) -> [String: String] {
        var out: [String: String] = [:]
        for part in line.split(separator: " ").dropFirst() {
            let kv = part.split(separator: "=", maxSplits: 1)
            if kv.count == 2 { out[String(kv[0])] = String(kv[1]) }
        }
        return out
    }

    @Test func eachRequestGetsALineWithItsServerAndWhy() throws {
        let fleet = try BackendFleet(names: ["apache1", "apache2"])
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("tether-access-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: log) }
        let deadPort = try freeLoopbackPort()
        var options = ProxyUnderTest.Options()
        options.accessLog = "{ path: \(log.path) }"
        options.deadServers = [(name: "ghost", port: deadPort, headerValue: "server9")]
        let proxy = try ProxyUnderTest(fleet: fleet, options: options)

        #expect(try proxy.get("/pinned", headers: ["X-Server: server2"]).status == 200)
        let balanced = try proxy.get("/balanced?x=\"1\"")
        #expect(try proxy.get("/status/404", headers: ["X-Server: server1"]).status == 404)
        let failedOver = try proxy.get("/", headers: ["X-Server: server9"])
        let bad = try proxy.connect()
        try bad.send("GET / HTTP/1.1\r\nBad Header: x\r\n\r\n")
        #expect(try bad.readResponse().status == 400)
        bad.close()

        // Lines are written within a second.
        #expect(eventually { Self.lines(log).count == 5 }, "\(Self.lines(log))\n\(proxy.process.logs)")
        let lines = Self.lines(log).map(Self.fields)
        func line(_ target: String) -> [String: String] { lines.first { $0["target"] == target } ?? [:] }

        let pinned = line("\"/pinned\"")
        #expect(pinned["method"] == "GET" && pinned["status"] == "200" && pinned["version"] == "HTTP/1.1")
        #expect(pinned["pool"] == "web" && pinned["server"] == "apache2" && pinned["route"] == "pinned")
        #expect(pinned["client"] == "127.0.0.1")
        #expect(Int(pinned["bytes_in"] ?? "") == "GET /pinned HTTP/1.1\r\nHost: test\r\nX-Server: server2\r\n\r\n".utf8.count)
        #expect(Int(pinned["bytes_out"] ?? "") ?? 0 > 0)
        #expect(Double(pinned["duration_ms"] ?? "") != nil && Double(pinned["response_ms"] ?? "") != nil)

        let b = line("\"/balanced?x=\\\"1\\\"\"")
        #expect(b["route"] == "balanced" && b["server"] == balanced.header("X-Backend"), "\(lines)")
        let notFound = line("\"/status/404\"")
        #expect(notFound["status"] == "404" && notFound["server"] == "apache1" && notFound["route"] == "pinned")
        let failover = line("\"/\"")
        #expect(failover["route"] == "failover" && failover["server"] == failedOver.header("X-Backend"), "\(lines)")
        let local = lines.first { $0["status"] == "400" } ?? [:]
        #expect(local["route"] == "local" && local["method"] == "-" && local["server"] == "-", "\(lines)")
    }

    @Test func changingTheAccessLogNeedsARestart() throws {
        let fleet = try BackendFleet(names: ["apache1"])
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("tether-access-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: log) }
        var options = ProxyUnderTest.Options()
        options.accessLog = "{ path: \(log.path) }"
        let proxy = try ProxyUnderTest(fleet: fleet, options: options)
        options.accessLog = nil
        try proxy.writeConfig(options)
        let refused = try proxy.reload()
        #expect(refused.status == .exited(1))
        #expect(refused.stderr.contains("access_log changed: restart tether to apply"), "\(refused.stderr)")
    }

    @Test func anAccessLogThatCannotBeOpenedRefusesToStart() throws {
        let fleet = try BackendFleet(names: ["apache1"])
        var options = ProxyUnderTest.Options()
        options.accessLog = "{ path: /nonexistent-dir-\(UUID().uuidString)/access.log }"
        let proxy = try ProxyUnderTest(fleet: fleet, options: options, waitForPort: false)
        #expect(try proxy.process.waitForExit() == .exited(1))
        #expect(proxy.process.stderr.contains("cannot open the access log /nonexistent-dir-"), "\(proxy.process.logs)")
    }
}
