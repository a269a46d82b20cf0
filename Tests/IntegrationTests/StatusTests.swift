import Foundation
import Glibc
import Testing

/// `tether status --json` and the admin endpoint's `/metrics` against
/// known traffic: every counter is checked exactly.
@Suite(.serialized) struct StatusTests {
    /// A proxy with an admin endpoint; one worker, so every count is its.
    static func proxy(_ fleet: BackendFleet, _ configure: (inout ProxyUnderTest.Options) -> Void = { _ in })
        throws -> (ProxyUnderTest, adminPort: UInt16) {
        let adminPort = try freeLoopbackPort()
        var options = ProxyUnderTest.Options()
        options.adminListen = "127.0.0.1:\(adminPort)"
        configure(&options)
        let proxy = try ProxyUnderTest(fleet: fleet, options: options)
        try waitForPort(adminPort)
        return (proxy, adminPort)
    }

    /// `tether status --json`, parsed.
    static func status(_ proxy: ProxyUnderTest) throws -> [String: Any] {
        let command = try ManagedProcess(arguments: ["status", "--json", "--runtime-dir", proxy.runtimeDirectory.path],
                                         label: "tether status --json")
        let exit = try command.waitForExit(timeout: .seconds(20))
        guard exit == .exited(0) else { throw HarnessError("tether status --json: \(exit)\n\(command.logs)") }
        let json = try JSONSerialization.jsonObject(with: Data(command.output(.stdout).utf8))
        guard let object = json as? [String: Any] else { throw HarnessError("status is not an object: \(command.output(.stdout))") }
        return object
    }

    /// `GET /metrics`: each sample line's value, keyed by name and labels as written.
    static func metrics(port: UInt16) throws -> [String: Double] {
        let response = try get(port: port, "/metrics")
        guard response.status == 200 else { throw HarnessError("/metrics: \(response.status) \(response.bodyText)") }
        #expect(response.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8")
        var out: [String: Double] = [:]
        for line in response.bodyText.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                throw HarnessError("not a sample line: \(line)")
            }
            out[String(line[..<space])] = value
        }
        return out
    }

    static func get(port: UInt16, _ path: String, method: String = "GET") throws -> HTTPTestResponse {
        let connection = try RawHTTPConnection(port: port)
        defer { connection.close() }
        try connection.send("\(method) \(path) HTTP/1.1\r\nHost: admin\r\n\r\n")
        return try connection.readResponse(requestMethod: method)
    }

    static func server(_ status: [String: Any], _ name: String) -> [String: Any] {
        let servers = status["servers"] as? [[String: Any]] ?? []
        return servers.first { $0["name"] as? String == name } ?? [:]
    }

    static func number(_ object: [String: Any], _ key: String) -> Int { (object[key] as? NSNumber)?.intValue ?? -1 }

    /// What the test sent and saw, to compare with the proxy's counters.
    struct Traffic {
        var requests = 0
        var bytesToProxy = 0
        var bytesFromProxy = 0
        /// Bytes of responses the proxy made itself.
        var localBytes = 0
        /// X-Backend of each forwarded request, by why it went there.
        var pinned: [String: Int] = [:]
        var balanced: [String: Int] = [:]
        var failover: [String: Int] = [:]
        var status4xx: [String: Int] = [:]

        mutating func send(_ proxy: ProxyUnderTest, _ request: String) throws -> HTTPTestResponse {
            let connection = try proxy.connect()
            defer { connection.close() }
            try connection.send(request)
            let response = try connection.readResponse()
            requests += 1
            bytesToProxy += request.utf8.count
            bytesFromProxy += connection.bytesReceived
            if response.header("X-Backend") == nil { localBytes += connection.bytesReceived }
            return response
        }
    }

    @Test func statusJSONAndMetricsCountKnownTrafficExactly() throws {
        let fleet = try BackendFleet(names: ["apache1", "apache2", "apache3"])
        let deadPort = try freeLoopbackPort()
        let (proxy, adminPort) = try Self.proxy(fleet) {
            $0.deadServers = [(name: "ghost", port: deadPort, headerValue: "server9")]
        }
        var t = Traffic()
        for _ in 0..<7 {
            let r = try t.send(proxy, "GET / HTTP/1.1\r\nHost: t\r\nX-Server: server2\r\n\r\n")
            #expect(r.status == 200 && r.header("X-Backend") == "apache2")
            t.pinned["apache2", default: 0] += 1
        }
        for _ in 0..<3 {
            let r = try t.send(proxy, "GET /unpinned HTTP/1.1\r\nHost: t\r\n\r\n")
            let backend = try #require(r.header("X-Backend"))
            t.balanced[backend, default: 0] += 1
        }
        for _ in 0..<2 {
            let r = try t.send(proxy, "GET /status/404 HTTP/1.1\r\nHost: t\r\nX-Server: server1\r\n\r\n")
            #expect(r.status == 404 && r.header("X-Backend") == "apache1")
            t.pinned["apache1", default: 0] += 1
            t.status4xx["apache1", default: 0] += 1
        }
        // Pinned to a server with nothing listening: its connect fails, and
        // `immediate` fails over to a replacement.
        let failedOver = try t.send(proxy, "GET / HTTP/1.1\r\nHost: t\r\nX-Server: server9\r\n\r\n")
        let replacement = try #require(failedOver.header("X-Backend"))
        t.failover[replacement, default: 0] += 1
        // Malformed: answered 400 by the worker itself.
        let bad = try t.send(proxy, "GET / HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n")
        #expect(bad.status == 400)

        let forwarded = t.requests - 1
        let toServerBytes = t.bytesToProxy - "GET / HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n".utf8.count
            + forwarded * "X-Forwarded-For: 127.0.0.1\r\n".utf8.count

        // The worker publishes after each batch; the last one may trail.
        var status: [String: Any] = [:]
        #expect(try eventually {
            status = try Self.status(proxy)
            let w = (status["workers"] as? [[String: Any]])?.first ?? [:]
            return Self.number(w, "requests") == t.requests && Self.number(w, "connections_open") == 0
                && Self.number(w, "bytes_out") == t.bytesFromProxy
        }, "\(status)")

        let worker = try #require((status["workers"] as? [[String: Any]])?.first)
        #expect(worker["online"] as? Bool == true)
        #expect(Self.number(worker, "requests") == 14)
        // The harness's probe that the port is open is one more connection.
        #expect(Self.number(worker, "connections_accepted") == 14 + 1)
        #expect(Self.number(worker, "connections_open") == 0)
        #expect(Self.number(worker, "pinned") == 9)
        #expect(Self.number(worker, "balanced") == 3)
        #expect(Self.number(worker, "failovers") == 1)
        #expect(Self.number(worker, "local_responses") == 1)
        #expect(Self.number(worker, "bytes_in") == t.bytesToProxy)
        #expect(Self.number(worker, "bytes_out") == t.bytesFromProxy)
        #expect(Self.number(worker, "restarts") == 0)
        #expect(Self.number(worker, "pid") > 0)

        var bytesFromServers = 0, bytesToServers = 0
        for name in ["apache1", "apache2", "apache3"] {
            let s = Self.server(status, name)
            let pinned = t.pinned[name] ?? 0, balanced = t.balanced[name] ?? 0, failover = t.failover[name] ?? 0
            let notFound = t.status4xx[name] ?? 0
            #expect(s["pool"] as? String == "web" && s["state"] as? String == "up", "\(s)")
            #expect(s["address"] as? String == "127.0.0.1:\(fleet[name].port)")
            #expect(Self.number(s, "requests") == pinned + balanced + failover, "\(name): \(s)")
            #expect(Self.number(s, "pinned_hits") == pinned, "\(name)")
            #expect(Self.number(s, "balanced") == balanced, "\(name)")
            #expect(Self.number(s, "failovers") == failover, "\(name)")
            let responses = s["responses"] as? [String: Any] ?? [:]
            #expect(Self.number(responses, "2xx") == pinned + balanced + failover - notFound, "\(name)")
            #expect(Self.number(responses, "4xx") == notFound, "\(name)")
            #expect(Self.number(responses, "5xx") == 0 && Self.number(responses, "1xx") == 0)
            #expect(Self.number(s, "in_flight") == 0)
            #expect(Self.number(s, "connect_failures") == 0)
            bytesFromServers += Self.number(s, "bytes_from_server")
            bytesToServers += Self.number(s, "bytes_to_server")
        }
        #expect(bytesFromServers == t.bytesFromProxy - t.localBytes)
        #expect(bytesToServers == toServerBytes)
        let ghost = Self.server(status, "ghost")
        #expect(Self.number(ghost, "connect_failures") == 1)
        #expect(Self.number(ghost, "requests") == 0)
        #expect(ghost["address"] as? String == "127.0.0.1:\(deadPort)")

        let reloads = try #require(status["reloads"] as? [String: Any])
        #expect(Self.number(reloads, "applied") == 0 && Self.number(reloads, "refused") == 0)
        #expect(reloads["last"] is NSNull)
        #expect(Self.number(try #require(status["table"] as? [String: Any]), "generation") == 1)

        // /metrics: the same numbers.
        let m = try Self.metrics(port: adminPort)
        let w = "worker=\"0\",cpu=\"\(Self.number(worker, "cpu"))\""
        #expect(m["tether_worker_requests_total{\(w)}"] == 14)
        #expect(m["tether_worker_routed_total{\(w),reason=\"pinned\"}"] == 9)
        #expect(m["tether_worker_routed_total{\(w),reason=\"balanced\"}"] == 3)
        #expect(m["tether_worker_routed_total{\(w),reason=\"failover\"}"] == 1)
        #expect(m["tether_worker_local_responses_total{\(w)}"] == 1)
        #expect(m["tether_worker_bytes_total{\(w),direction=\"from_client\"}"] == Double(t.bytesToProxy))
        #expect(m["tether_worker_bytes_total{\(w),direction=\"to_client\"}"] == Double(t.bytesFromProxy))
        #expect(m["tether_worker_up{\(w)}"] == 1)
        for name in ["apache1", "apache2", "apache3"] {
            let l = "pool=\"web\",server=\"\(name)\",address=\"127.0.0.1:\(fleet[name].port)\""
            let pinned = t.pinned[name] ?? 0, balanced = t.balanced[name] ?? 0, failover = t.failover[name] ?? 0
            let notFound = t.status4xx[name] ?? 0
            let s = Self.server(status, name)
            #expect(m["tether_server_requests_total{\(l)}"] == Double(pinned + balanced + failover), "\(name)")
            #expect(m["tether_server_responses_total{\(l),class=\"2xx\"}"] == Double(pinned + balanced + failover - notFound))
            #expect(m["tether_server_responses_total{\(l),class=\"4xx\"}"] == Double(notFound))
            #expect(m["tether_server_persistence_total{\(l),outcome=\"hit\"}"] == Double(pinned))
            #expect(m["tether_server_persistence_total{\(l),outcome=\"balanced\"}"] == Double(balanced))
            #expect(m["tether_server_persistence_total{\(l),outcome=\"failover\"}"] == Double(failover))
            #expect(m["tether_server_bytes_total{\(l),direction=\"from_server\"}"] == Double(Self.number(s, "bytes_from_server")))
            #expect(m["tether_server_bytes_total{\(l),direction=\"to_server\"}"] == Double(Self.number(s, "bytes_to_server")))
            #expect(m["tether_server_in_flight{\(l)}"] == 0)
            #expect(m["tether_server_up{\(l)}"] == 1)
        }
        #expect(m["tether_server_connect_failures_total{pool=\"web\",server=\"ghost\",address=\"127.0.0.1:\(deadPort)\"}"] == 1)
        #expect(m["tether_reloads_total{result=\"applied\"}"] == 0)
        #expect(m["tether_table_generation"] == 1)
    }

    @Test func theTableShowsWorkersAndServersWithRates() throws {
        let fleet = try BackendFleet(names: ["apache1", "apache2"])
        let (proxy, _) = try Self.proxy(fleet)
        for _ in 0..<4 { _ = try proxy.get("/", headers: ["X-Server: server1"]) }
        let command = try ManagedProcess(arguments: ["status", "--runtime-dir", proxy.runtimeDirectory.path, "--interval", "200"],
                                         label: "tether status")
        #expect(try command.waitForExit(timeout: .seconds(20)) == .exited(0), "\(command.logs)")
        let text = command.output(.stdout)
        #expect(text.contains("table: generation 1, loaded "), "\(text)")
        #expect(text.contains("workers (req/s over the last 0.2"), "\(text)")
        let row = text.split(separator: "\n").first { $0.hasPrefix("web") && $0.contains("apache1") }
        #expect(row?.contains("127.0.0.1:\(fleet["apache1"].port)  up") == true, "\(text)")
    }

    @Test func statusOfNoRunningTetherFails() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tether-none-\(UUID().uuidString)")
        let command = try ManagedProcess(arguments: ["status", "--runtime-dir", directory.path], label: "tether status")
        #expect(try command.waitForExit() == .exited(1))
        #expect(command.output(.stderr).contains("tether status: no running tether in \(directory.path)"), "\(command.logs)")
    }

    @Test func aRestartedWorkerIsCountedAndItsConnectionsForgotten() throws {
        let fleet = try BackendFleet(names: ["apache1"])
        let (proxy, adminPort) = try Self.proxy(fleet)
        // An idle connection the worker holds when it dies.
        let idle = try proxy.connect()
        _ = try proxy.get("/")
        var before: [String: Any] = [:]
        #expect(try eventually {
            before = (try Self.status(proxy)["workers"] as? [[String: Any]])?.first ?? [:]
            return Self.number(before, "connections_open") == 1
        }, "\(before)")
        let victim = Int32(Self.number(before, "pid"))
        #expect(kill(victim, SIGKILL) == 0)
        var after: [String: Any] = [:]
        #expect(try eventually {
            after = (try Self.status(proxy)["workers"] as? [[String: Any]])?.first ?? [:]
            return Self.number(after, "restarts") == 1 && Self.number(after, "pid") != Int(victim) && after["online"] as? Bool == true
        }, "\(after)")
        #expect(Self.number(after, "connections_open") == 0)
        #expect(Self.number(after, "requests") == 1, "counts of the slot survive its worker")
        #expect(try Self.metrics(port: adminPort)["tether_worker_restarts_total{worker=\"0\",cpu=\"\(Self.number(after, "cpu"))\"}"] == 1)
        idle.close()
    }

    @Test func theAdminEndpointAnswersOnlyWhatItServes() throws {
        let fleet = try BackendFleet(names: ["apache1"])
        let (proxy, adminPort) = try Self.proxy(fleet)
        defer { withExtendedLifetime(proxy) {} }
        #expect(try Self.get(port: adminPort, "/nope").status == 404)
        let post = try Self.get(port: adminPort, "/metrics", method: "DELETE")
        #expect(post.status == 405 && post.header("Allow") == "GET, HEAD")
        let status = try Self.get(port: adminPort, "/status")
        #expect(status.status == 200 && status.header("Content-Type") == "application/json")
        let json = try JSONSerialization.jsonObject(with: Data(status.body)) as? [String: Any]
        #expect((json?["servers"] as? [Any])?.count == 1)
        let head = try Self.get(port: adminPort, "/metrics", method: "HEAD")
        #expect(head.status == 200 && head.body.isEmpty && Int(head.header("Content-Length") ?? "") ?? 0 > 0)

        // A client that never finishes its request does not hold up others,
        // and gets 408 once its time is up.
        let stuck = try RawHTTPConnection(port: adminPort, timeout: .seconds(15))
        try stuck.send("GET /metr")
        #expect(try Self.get(port: adminPort, "/metrics").status == 200)
        #expect(try stuck.readResponse().status == 408)
    }

    @Test func aReloadMovesTheAdminEndpointOrIsRefusedWhenItCannotBind() throws {
        let fleet = try BackendFleet(names: ["apache1"])
        let first = try freeLoopbackPort()
        var options = ProxyUnderTest.Options()
        options.adminListen = "127.0.0.1:\(first)"
        let proxy = try ProxyUnderTest(fleet: fleet, options: options)
        try waitForPort(first)

        let second = try freeLoopbackPort()
        options.adminListen = "127.0.0.1:\(second)"
        try proxy.writeConfig(options)
        let moved = try proxy.reload()
        #expect(moved.status == .exited(0), "\(moved.stderr)")
        #expect(try Self.metrics(port: second)["tether_table_generation"] == 2)
        #expect((try? RawHTTPConnection(port: first, timeout: .seconds(1))) == nil, "the old address is closed")

        // A port another socket holds (without SO_REUSEPORT): the reload is refused.
        let holder = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(holder) }
        let busy = try freeLoopbackPort()
        var address = loopbackAddress(port: busy)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(holder, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        #expect(bound == 0 && listen(holder, 1) == 0)
        options.adminListen = "127.0.0.1:\(busy)"
        try proxy.writeConfig(options)
        let refused = try proxy.reload()
        #expect(refused.status == .exited(1))
        #expect(refused.stderr.contains("cannot listen on 127.0.0.1:\(busy) (admin)"), "\(refused.stderr)")
        let m = try Self.metrics(port: second)
        #expect(m["tether_reloads_total{result=\"refused\"}"] == 1)
        #expect(m["tether_last_reload_successful"] == 0)
    }
}
