import Foundation
import Glibc
import Testing

/// The health monitor end to end: the real binary, real backends that are
/// stopped, started again, frozen or made to answer 500, and the policies
/// of DESIGN.md §1 seen from a client.
@Suite(.serialized) struct HealthMonitorTests {
    /// Fast checks: 2 failures to go down, 2 successes to come back.
    static let httpCheck = "type: http, interval: 300ms, timeout: 200ms, successful_checks: 2, failed_checks: 2, request: \"GET /healthz HTTP/1.1\""
    static let tcpCheck = "type: tcp, interval: 300ms, timeout: 200ms, successful_checks: 2, failed_checks: 2"

    static func proxy(_ fleet: BackendFleet, check: String, configure: (inout ProxyUnderTest.Options) -> Void = { _ in }) throws -> ProxyUnderTest {
        var options = ProxyUnderTest.Options()
        options.healthMonitor = check
        configure(&options)
        let proxy = try ProxyUnderTest(fleet: fleet, options: options)
        try proxy.process.waitForLine(containing: "msg=\"checking \(fleet.backends.count) servers", in: .stderr)
        return proxy
    }

    /// The backend that answered a request pinned to `value`, or "status N".
    static func answer(_ proxy: ProxyUnderTest, pinnedTo value: String?) throws -> String {
        let response = try proxy.get("/", headers: value.map { ["X-Server: \($0)"] } ?? [])
        return response.status == 200 ? response.bodyText.trimmingCharacters(in: .whitespacesAndNewlines) : "status \(response.status)"
    }

    static func label(_ fleet: BackendFleet, _ name: String) -> String {
        "server web/\(name) 127.0.0.1:\(fleet[name].port)"
    }

    @Test func theSupervisorRunsTheWorkersAndOneMonitor() throws {
        let fleet = try BackendFleet(names: ["apache1", "apache2"])
        let proxy = try Self.proxy(fleet, check: Self.tcpCheck) { $0.workers = "2" }
        var children: [pid_t] = []
        #expect(eventually {
            children = childProcesses(of: proxy.process.pid)
            return children.filter { workerIndex(of: $0) != nil }.count == 2 && children.filter(isMonitor).count == 1
                && children.count == 3
        }, "children \(children.map(commandLine(of:)))")
        #expect(proxy.process.stderr.contains("component=supervisor pid=\(proxy.process.pid) msg=\"health monitor started: pid "))
    }

    @Test func aServerAnswering500GoesDownAfterFailedChecksAndComesBackAfterSuccessfulChecks() throws {
        let fleet = try BackendFleet(names: ["apache1", "apache2", "apache3"])
        let proxy = try Self.proxy(fleet, check: Self.httpCheck)
        #expect(try Self.answer(proxy, pinnedTo: "server2") == "apache2")

        let broken = ContinuousClock.now
        #expect(try fleet.toggleHealth("apache2") == false)
        try proxy.process.waitForLine(
            containing: "\(Self.label(fleet, "apache2")) is down: status 500 (monitor hc, 2 consecutive failures)", in: .stderr)
        print("apache2 marked down \(ContinuousClock.now - broken) after it began answering 500 (bound: 2 × 300 ms + 200 ms)")

        // `immediate`: every pinned request goes to one stable replacement.
        let replacements = try (0..<12).map { _ in try Self.answer(proxy, pinnedTo: "server2") }
        #expect(Set(replacements).count == 1 && replacements[0] != "apache2", "\(replacements)")
        #expect(["apache1", "apache3"].contains(replacements[0]))
        // Pins to the others are untouched.
        #expect(try Self.answer(proxy, pinnedTo: "server1") == "apache1")

        let healed = ContinuousClock.now
        #expect(try fleet.toggleHealth("apache2") == true)
        try proxy.process.waitForLine(
            containing: "\(Self.label(fleet, "apache2")) is up: 2 consecutive checks of monitor hc passed", in: .stderr)
        print("apache2 marked up \(ContinuousClock.now - healed) after it healed (bound: 2 × 300 ms)")
        #expect(try Self.answer(proxy, pinnedTo: "server2") == "apache2")
    }

    @Test func underNeverAStoppedServersClientsGet502AndReachNoOtherServer() throws {
        let fleet = try BackendFleet(names: ["apache1", "apache2", "apache3"])
        let proxy = try Self.proxy(fleet, check: Self.tcpCheck) { $0.serverDown = "never" }
        _ = fleet["apache2"].process.killImmediately()
        try proxy.process.waitForLine(containing: "\(Self.label(fleet, "apache2")) is down: connection refused", in: .stderr)
        let before = try fleet.stats("apache1")["requests"]! + fleet.stats("apache3")["requests"]!
        let answers = try (0..<6).map { _ in try Self.answer(proxy, pinnedTo: "server2") }
        #expect(answers == Array(repeating: "status 502", count: 6))
        let after = try fleet.stats("apache1")["requests"]! + fleet.stats("apache3")["requests"]!
        // Two /stats requests each time, nothing else: health checks are TCP connects.
        #expect(after == before + 2, "pinned requests reached another server: \(before) → \(after)")

        try fleet.restart("apache2")
        try proxy.process.waitForLine(containing: "\(Self.label(fleet, "apache2")) is up", in: .stderr)
        #expect(try Self.answer(proxy, pinnedTo: "server2") == "apache2")
    }

    @Test func underImmediateAStoppedServersClientsMoveToOneReplacementAndComeBack() throws {
        let fleet = try BackendFleet(names: ["apache1", "apache2", "apache3"])
        let proxy = try Self.proxy(fleet, check: Self.tcpCheck)
        _ = fleet["apache3"].process.killImmediately()
        try proxy.process.waitForLine(containing: "\(Self.label(fleet, "apache3")) is down: connection refused", in: .stderr)
        let moved = try (0..<10).map { _ in try Self.answer(proxy, pinnedTo: "server3") }
        #expect(Set(moved).count == 1 && moved[0] != "apache3" && !moved[0].hasPrefix("status"), "\(moved)")
        try fleet.restart("apache3")
        try proxy.process.waitForLine(containing: "\(Self.label(fleet, "apache3")) is up", in: .stderr)
        #expect(try Self.answer(proxy, pinnedTo: "server3") == "apache3")
    }

    @Test func aFrozenServerTimesOut() throws {
        let fleet = try BackendFleet(names: ["apache1", "apache2"])
        let proxy = try Self.proxy(fleet, check: Self.httpCheck)
        // SIGSTOP: the kernel still completes connects, nothing answers.
        try fleet["apache1"].process.send(signal: SIGSTOP)
        defer { try? fleet["apache1"].process.send(signal: SIGCONT) }
        try proxy.process.waitForLine(
            containing: "\(Self.label(fleet, "apache1")) is down: no response within the timeout", in: .stderr)
        #expect(try Self.answer(proxy, pinnedTo: "server1") == "apache2")
        try fleet["apache1"].process.send(signal: SIGCONT)
        try proxy.process.waitForLine(containing: "\(Self.label(fleet, "apache1")) is up", in: .stderr)
        #expect(try Self.answer(proxy, pinnedTo: "server1") == "apache1")
    }

    @Test func aRefusedConnectMarksTheServerDownBeforeTheNextCheck() throws {
        let fleet = try BackendFleet(names: ["apache1", "apache2", "apache3"])
        // Checks a minute apart that need three failures: only passive
        // detection can mark the server down within this test.
        let proxy = try Self.proxy(fleet, check: "type: tcp, interval: 60s, timeout: 1s, successful_checks: 1, failed_checks: 3")
        _ = fleet["apache3"].process.killImmediately()
        // Round robin reaches apache3: its connect is refused, the request is retried elsewhere.
        let answers = try (0..<6).map { _ in try Self.answer(proxy, pinnedTo: nil) }
        #expect(answers.allSatisfy { $0 == "apache1" || $0 == "apache2" }, "\(answers)")
        try proxy.process.waitForLine(
            containing: "\(Self.label(fleet, "apache3")) is down: connection refused (seen by a worker)", in: .stderr,
            timeout: .seconds(10))
        // Pinned clients of apache3 now go straight to its replacement.
        let moved = try (0..<4).map { _ in try Self.answer(proxy, pinnedTo: "server3") }
        #expect(Set(moved).count == 1 && moved[0] != "apache3", "\(moved)")
    }

    @Test func aKilledMonitorIsRestartedAndServerStatesAreKept() throws {
        let fleet = try BackendFleet(names: ["apache1", "apache2", "apache3"])
        let proxy = try Self.proxy(fleet, check: Self.httpCheck)
        #expect(try fleet.toggleHealth("apache2") == false)
        let down = "\(Self.label(fleet, "apache2")) is down"
        try proxy.process.waitForLine(containing: down, in: .stderr)
        let replacement = try Self.answer(proxy, pinnedTo: "server2")
        #expect(replacement != "apache2")

        var monitors: [pid_t] = []
        #expect(eventually {
            monitors = childProcesses(of: proxy.process.pid).filter(isMonitor)
            return monitors.count == 1
        })
        let first = try #require(monitors.first)
        #expect(kill(first, SIGKILL) == 0)
        var second: pid_t = 0
        #expect(eventually {
            let now = childProcesses(of: proxy.process.pid).filter(isMonitor)
            second = now.first ?? 0
            return now.count == 1 && second != first
        }, "the monitor was not restarted\n\(proxy.process.logs)")
        #expect(eventually { proxy.process.stderr.components(separatedBy: "msg=\"checking 3 servers").count == 3 })
        // The new monitor starts from the shared state: apache2 stays down
        // (no second "is down" transition, no flap up), its clients stay moved.
        for _ in 0..<5 { #expect(try Self.answer(proxy, pinnedTo: "server2") == replacement) }
        #expect(try fleet.toggleHealth("apache2") == true)
        try proxy.process.waitForLine(containing: "\(Self.label(fleet, "apache2")) is up", in: .stderr)
        #expect(proxy.process.stderr.components(separatedBy: down).count == 2, "\(proxy.process.stderr)")
        #expect(try Self.answer(proxy, pinnedTo: "server2") == "apache2")
    }

    @Test func aReloadChangesWhatIsCheckedAndKeepsVerdicts() throws {
        let fleet = try BackendFleet(names: ["apache1", "apache2", "apache3"])
        var options = ProxyUnderTest.Options()
        options.healthMonitor = Self.httpCheck
        let proxy = try ProxyUnderTest(fleet: fleet, options: options)
        try proxy.process.waitForLine(containing: "msg=\"checking 3 servers", in: .stderr)
        #expect(try fleet.toggleHealth("apache2") == false)
        let down = "\(Self.label(fleet, "apache2")) is down"
        try proxy.process.waitForLine(containing: down, in: .stderr)

        // Same servers, same monitor, a changed mapping: apache2 stays down.
        options.headerValues = ["server1", "server2", "server3-renamed"]
        try proxy.writeConfig(options)
        #expect(try proxy.reload().status == .exited(0))
        try proxy.process.waitForLine(containing: "table generation 2: the same checks; none interrupted", in: .stderr)
        #expect(try Self.answer(proxy, pinnedTo: "server2") != "apache2")
        #expect(try Self.answer(proxy, pinnedTo: "server3-renamed") == "apache3")

        // No monitor any more: every server is up by definition.
        options.healthMonitor = nil
        try proxy.writeConfig(options)
        #expect(try proxy.reload().status == .exited(0))
        try proxy.process.waitForLine(containing: "\(Self.label(fleet, "apache2")) is up: its pool has no health monitor", in: .stderr)
        #expect(try Self.answer(proxy, pinnedTo: "server2") == "apache2")
        #expect(proxy.process.stderr.components(separatedBy: down).count == 2)
    }

    /// Freezes apache1 (a 1 s check timeout), then reloads as fast as it can,
    /// each reload changing the options with `change(&options, flip)`, until
    /// the monitor reports apache1 down by its timeout; returns the proxy.
    static func reloadWhileFrozen(_ change: (inout ProxyUnderTest.Options, Bool) throws -> Void) throws -> ProxyUnderTest {
        let fleet = try BackendFleet(names: ["apache1", "apache2"])
        var options = ProxyUnderTest.Options()
        options.healthMonitor = "type: http, interval: 1500ms, timeout: 1s, successful_checks: 1, failed_checks: 1, request: \"GET /healthz HTTP/1.1\""
        let proxy = try ProxyUnderTest(fleet: fleet, options: options)
        try proxy.process.waitForLine(containing: "msg=\"checking 2 servers", in: .stderr)
        try fleet["apache1"].process.send(signal: SIGSTOP)
        defer { try? fleet["apache1"].process.send(signal: SIGCONT) }
        let down = "\(Self.label(fleet, "apache1")) is down: no response within the timeout"
        var flip = false
        let found = try eventually(timeout: .seconds(20)) {
            flip.toggle()
            try change(&options, flip)
            try proxy.writeConfig(options)
            #expect(try proxy.reload().status == .exited(0))
            return proxy.process.stderr.contains(down)
        }
        #expect(found, "\(proxy.process.stderr)")
        return proxy
    }

    @Test func reloadsFasterThanTheTimeoutDoNotHideAFrozenServer() throws {
        // Routing-only reloads, each well inside the check's 1 s timeout.
        _ = try Self.reloadWhileFrozen { options, flip in
            options.headerValues = flip ? ["server1", "server2b"] : ["server1", "server2"]
        }
    }

    @Test func reloadsThatChangeOtherServersDoNotHideAFrozenServer() throws {
        // Each reload adds or removes a third server, so the monitor replans,
        // well inside the frozen server's 1 s timeout; its check must carry on.
        let spare = try freeLoopbackPort()
        let proxy = try Self.reloadWhileFrozen { options, flip in
            options.deadServers = flip ? [(name: "spare", port: spare, headerValue: "spare")] : []
        }
        #expect(proxy.process.stderr.contains("in flight carried over"), "\(proxy.process.stderr)")
    }

    @Test(arguments: ["local_response", "close", "redirect"])
    func whenEveryServerIsDownTheConfiguredActionAnswers(action: String) throws {
        let fleet = try BackendFleet(names: ["apache1", "apache2"])
        let proxy = try Self.proxy(fleet, check: Self.httpCheck) {
            $0.whenAllDown = switch action {
            case "local_response": "{ action: local_response, status: 503 }"
            case "close": "{ action: close }"
            default: "{ action: redirect, status: 302, location: \"https://sorry.example/\" }"
            }
        }
        for name in ["apache1", "apache2"] {
            #expect(try fleet.toggleHealth(name) == false)
            try proxy.process.waitForLine(containing: "\(Self.label(fleet, name)) is down", in: .stderr)
        }
        for pinned in [nil, "server1"] as [String?] {
            let connection = try proxy.connect()
            defer { connection.close() }
            try connection.send("GET / HTTP/1.1\r\nHost: t\r\n" + (pinned.map { "X-Server: \($0)\r\n" } ?? "") + "\r\n")
            switch action {
            case "local_response":
                let response = try connection.readResponse()
                #expect(response.status == 503 && response.header("Retry-After") == "5")
            case "close":
                #expect(connection.isClosedByPeer())
            default:
                let response = try connection.readResponse()
                #expect(response.status == 302 && response.header("Location") == "https://sorry.example/")
            }
        }
    }

    @Test(arguments: [("immediate", "replacement"), ("never", "status 503")])
    func aServerAtItsConnectionLimit(policy: String, expected: String) throws {
        let fleet = try BackendFleet(names: ["apache1", "apache2"])
        var options = ProxyUnderTest.Options()
        options.serverDown = policy
        options.maxConnectionsPerServer = 1
        let proxy = try ProxyUnderTest(fleet: fleet, options: options)
        let slow = try proxy.connect()
        defer { slow.close() }
        try slow.send("GET /slow/3000 HTTP/1.1\r\nHost: t\r\nX-Server: server1\r\n\r\n")
        // Until the slow request is in flight, a second one may still get apache1.
        var answer = ""
        #expect(try eventually {
            answer = try Self.answer(proxy, pinnedTo: "server1")
            return answer != "apache1"
        })
        #expect(answer == (expected == "replacement" ? "apache2" : expected))
        #expect(try slow.readResponse().status == 200)
    }
}

@Suite(.serialized) struct LoadBalancingTests {
    /// Requests each backend served between two `requestCounts()` (which count themselves).
    static func served(_ fleet: BackendFleet, _ body: () throws -> Void) throws -> [String: Int] {
        let before = try fleet.requestCounts()
        try body()
        let after = try fleet.requestCounts()
        return after.merging(before) { a, b in a - b - 1 }
    }

    @Test func roundRobinHonoursRatiosExactly() throws {
        let fleet = try BackendFleet(names: ["apache1", "apache2", "apache3"])
        var options = ProxyUnderTest.Options()
        options.ratios = [1, 2, 3]
        let proxy = try ProxyUnderTest(fleet: fleet, options: options)
        let connection = try proxy.connect()
        defer { connection.close() }
        let counts = try Self.served(fleet) {
            for _ in 0..<600 {
                try connection.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n")
                #expect(try connection.readResponse().status == 200)
            }
        }
        // One worker: the smooth weighted order repeats every 6 requests.
        #expect(counts == ["apache1": 100, "apache2": 200, "apache3": 300])
    }

    @Test func leastConnectionsAvoidsABusyServer() throws {
        let fleet = try BackendFleet(names: ["apache1", "apache2", "apache3"])
        var options = ProxyUnderTest.Options()
        options.lbAlgorithm = "least_connections"
        let proxy = try ProxyUnderTest(fleet: fleet, options: options)
        // Two requests held in flight on apache1 and apache2.
        var held: [RawHTTPConnection] = []
        defer { held.forEach { $0.close() } }
        for value in ["server1", "server2"] {
            let c = try proxy.connect()
            try c.send("GET /slow/4000 HTTP/1.1\r\nHost: t\r\nX-Server: \(value)\r\n\r\n")
            held.append(c)
        }
        #expect(try eventually {
            let open2 = try fleet.stats("apache2")["open"] ?? 0
            let open1 = try fleet.stats("apache1")["open"] ?? 0
            return open1 >= 2 && open2 >= 2
        })
        var answers: [String] = []
        let counts = try Self.served(fleet) {
            for _ in 0..<20 { answers.append(try HealthMonitorTests.answer(proxy, pinnedTo: nil)) }
        }
        #expect(answers == Array(repeating: "apache3", count: 20))
        #expect(counts["apache3"] == 20)
        for c in held { #expect(try c.readResponse().status == 200) }
        // With nothing in flight, ties rotate over every server.
        let idle = try Self.served(fleet) {
            for _ in 0..<30 { _ = try HealthMonitorTests.answer(proxy, pinnedTo: nil) }
        }
        #expect(idle.values.allSatisfy { $0 == 10 }, "\(idle)")
    }

    @Test func consistentHashMovesOnlyTheKeysOfALeavingServer() throws {
        let fleet = try BackendFleet(names: ["apache1", "apache2", "apache3"])
        var options = ProxyUnderTest.Options()
        options.lbAlgorithm = "consistent_hash"
        options.hashKey = "header:X-User"
        options.healthMonitor = HealthMonitorTests.tcpCheck
        let proxy = try ProxyUnderTest(fleet: fleet, options: options)
        try proxy.process.waitForLine(containing: "msg=\"checking 3 servers", in: .stderr)
        func route(_ user: Int) throws -> String {
            let response = try proxy.get("/", headers: ["X-User: user-\(user)"])
            return response.bodyText.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let users = 0..<240
        let before = try users.map(route)
        // Stable, and spread over every server.
        #expect(try users.prefix(20).map(route) == Array(before.prefix(20)))
        for name in ["apache1", "apache2", "apache3"] {
            let share = before.filter { $0 == name }.count
            #expect(share > 40 && share < 120, "\(name) got \(share) of 240")
        }
        _ = fleet["apache2"].process.killImmediately()
        try proxy.process.waitForLine(containing: "server web/apache2 127.0.0.1:\(fleet["apache2"].port) is down", in: .stderr)
        let after = try users.map(route)
        for (b, a) in zip(before, after) {
            if b == "apache2" { #expect(a == "apache1" || a == "apache3") } else { #expect(a == b, "a key of \(b) moved to \(a)") }
        }
    }
}

@Suite struct HealthMonitorScaleTests {
    /// One monitor process, no thread per server: 1,000 servers on
    /// addresses where nothing listens are all found down in one round.
    @Test func aThousandDeadServersAreAllMarkedDownByOneProcess() throws {
        let fleet = try BackendFleet(names: ["apache1"])
        let port = try freeLoopbackPort()  // nothing listens on it, on any 127.x address
        let runtime = FileManager.default.temporaryDirectory.appendingPathComponent("tether-scale-\(UUID().uuidString)")
        let configURL = FileManager.default.temporaryDirectory.appendingPathComponent("tether-scale-\(UUID().uuidString).yaml")
        defer {
            try? FileManager.default.removeItem(at: configURL)
            try? FileManager.default.removeItem(at: runtime)
        }
        let listen = try freeLoopbackPort()
        var servers = "      - { name: live, address: 127.0.0.1, port: \(fleet["apache1"].port) }\n"
        for i in 0..<1_000 {
            servers += "      - { name: dead\(i), address: 127.0.\(1 + i / 250).\(1 + i % 250), port: \(port) }\n"
        }
        try """
            workers: 1
            runtime_dir: \(runtime.path)
            health_monitors:
              - { name: tcp, type: tcp, interval: 2s, timeout: 1s, successful_checks: 1, failed_checks: 1 }
            pools:
              - name: big
                health_monitors: [tcp]
                servers:
            \(servers)
            virtual_services:
              - { name: www, listen: ["127.0.0.1:\(listen)"], pool: big }

            """.write(to: configURL, atomically: true, encoding: .utf8)
        let proxy = try ManagedProcess(arguments: ["run", "-c", configURL.path], label: "tether run")
        defer { _ = proxy.terminate() }
        try proxy.waitForLine(containing: "msg=\"checking 1001 servers", in: .stderr)
        #expect(eventually(timeout: .seconds(20)) {
            proxy.stderr.components(separatedBy: " is down: connection refused (monitor tcp").count - 1 == 1_000
        }, "\(proxy.stderr.components(separatedBy: " is down: ").count - 1) of 1,000 marked down")
        #expect(!proxy.stderr.contains("server big/live 127.0.0.1:\(fleet["apache1"].port) is down"))
        // Every balanced request reaches the one live server.
        for _ in 0..<5 {
            let connection = try RawHTTPConnection(port: listen)
            defer { connection.close() }
            try connection.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(try connection.readResponse().bodyText == "apache1\n")
        }
        // The monitor is one process among the supervisor's children.
        #expect(childProcesses(of: proxy.pid).filter(isMonitor).count == 1)
    }
}
