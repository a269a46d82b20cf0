import Foundation
import Glibc
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

    // MARK: Reopening, reloads and counters

    static func temporaryLog() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("tether-access-\(UUID().uuidString).log")
    }

    /// The access log's part of `tether status --json`: the published file
    /// generation (nil: no access log) and, per online worker, the
    /// generation it writes to and its lines written and dropped.
    struct Reading {
        var generation: Int?
        var workers: [(generation: Int, written: Int, dropped: Int)]
        var written: Int { workers.reduce(0) { $0 + $1.written } }
        var dropped: Int { workers.reduce(0) { $0 + $1.dropped } }
        /// Every online worker writes to the published file.
        var switched: Bool { workers.allSatisfy { $0.generation == (generation ?? $0.generation) } }
    }

    static func reading(_ proxy: ProxyUnderTest) throws -> Reading {
        let status = try StatusTests.status(proxy)
        let generation = (status["access_log"] as? [String: Any]).map { StatusTests.number($0, "generation") }
        let workers = (status["workers"] as? [[String: Any]] ?? []).filter { $0["online"] as? Bool == true }.map {
            (StatusTests.number($0, "access_log_generation"), StatusTests.number($0, "access_log_lines_written"),
             StatusTests.number($0, "access_log_lines_dropped"))
        }
        return Reading(generation: generation, workers: workers)
    }

    /// Polls until every worker writes to file generation `generation`
    /// (`open: false`: a generation with no file, the log turned off).
    static func waitForSwitch(_ proxy: ProxyUnderTest, to generation: Int, open: Bool = true) throws {
        var last: Reading? = nil
        let switched = try eventually {
            last = try reading(proxy)
            return last!.generation == (open ? generation : nil) && !last!.workers.isEmpty
                && last!.workers.allSatisfy { $0.generation == generation }
        }
        if !switched { throw HarnessError("workers not on access log file \(generation): \(String(describing: last))\n\(proxy.process.logs)") }
    }

    /// `count` requests, each on its own connection (so that they spread
    /// over the workers), with targets `/PREFIX-0` ...
    static func send(_ proxy: ProxyUnderTest, _ count: Int, prefix: String) throws {
        for k in 0..<count {
            let response = try proxy.get("/\(prefix)-\(k)")
            if response.status != 200 { throw HarnessError("/\(prefix)-\(k): \(response.status)\n\(proxy.process.logs)") }
        }
    }

    /// The request targets in `url`'s lines.
    static func targets(_ url: URL) -> [String] {
        lines(url).map { fields($0)["target"] ?? "" }
    }

    @Test func sigusr1ReopensTheLogAfterRotationAndTheCountersMatchTheFiles() throws {
        let fleet = try BackendFleet(names: ["apache1", "apache2"])
        let log = Self.temporaryLog()
        let rotated = URL(fileURLWithPath: log.path + ".1")
        defer { for url in [log, rotated] { try? FileManager.default.removeItem(at: url) } }
        let adminPort = try freeLoopbackPort()
        var options = ProxyUnderTest.Options()
        options.workers = "2"
        options.accessLog = "{ path: \(log.path) }"
        options.adminListen = "127.0.0.1:\(adminPort)"
        let proxy = try ProxyUnderTest(fleet: fleet, options: options)
        try waitForPort(adminPort)
        try Self.waitForSwitch(proxy, to: 1)

        try Self.send(proxy, 6, prefix: "old")
        #expect(eventually { Self.lines(log).count == 6 }, "\(Self.lines(log))\n\(proxy.process.logs)")

        // logrotate's rename, then nginx's convention for "reopen your logs".
        try FileManager.default.moveItem(at: log, to: rotated)
        try proxy.process.send(signal: SIGUSR1)
        try proxy.process.waitForLine(containing: "SIGUSR1: access log \(log.path) reopened (file generation 2)", in: .stderr)
        try Self.waitForSwitch(proxy, to: 2)
        #expect(FileManager.default.fileExists(atPath: log.path))

        try Self.send(proxy, 5, prefix: "new")
        #expect(eventually { Self.lines(log).count == 5 }, "\(Self.lines(log))\n\(proxy.process.logs)")
        #expect(Set(Self.targets(rotated)) == Set((0..<6).map { "\"/old-\($0)\"" }), "\(Self.lines(rotated))")
        #expect(Set(Self.targets(log)) == Set((0..<5).map { "\"/new-\($0)\"" }), "\(Self.lines(log))")
        let mode = try FileManager.default.attributesOfItem(atPath: log.path)[.posixPermissions] as? Int
        #expect(mode == 0o640)

        // Every line the workers counted as written is in one of the files.
        var counted = try Self.reading(proxy)
        let matched = try eventually {
            counted = try Self.reading(proxy)
            return counted.written == 11
        }
        #expect(matched, "\(counted)")
        #expect(counted.dropped == 0)
        let metrics = try StatusTests.metrics(port: adminPort)
        func total(_ result: String) -> Double {
            metrics.filter { $0.key.hasPrefix("tether_access_log_lines_total{") && $0.key.hasSuffix("result=\"\(result)\"}") }
                .reduce(0) { $0 + $1.value }
        }
        #expect(total("written") == 11 && total("dropped") == 0, "\(metrics.filter { $0.key.contains("access_log") })")
    }

    @Test func aReopenThatCannotCreateTheFileKeepsTheOldOneAndTheProxyServing() throws {
        let fleet = try BackendFleet(names: ["apache1"])
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tether-logs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false)
        defer {
            chmod(directory.path, 0o755)
            try? FileManager.default.removeItem(at: directory)
        }
        let log = directory.appendingPathComponent("access.log")
        let rotated = directory.appendingPathComponent("access.log.1")
        var options = ProxyUnderTest.Options()
        options.accessLog = "{ path: \(log.path) }"
        // Root writes into any directory: as root, the proxy runs as nobody.
        let root = getuid() == 0
        if root { options.user = "nobody" }
        #expect(chmod(directory.path, root ? 0o777 : 0o755) == 0)
        let proxy = try ProxyUnderTest(fleet: fleet, options: options)
        try Self.send(proxy, 2, prefix: "before")
        #expect(eventually { Self.lines(log).count == 2 }, "\(proxy.process.logs)")
        if root {
            // Created by root before privileges dropped, the file passed to
            // nobody: logrotate's `create` (the old file's owner by default)
            // then makes one the supervisor can open again.
            let owner = try FileManager.default.attributesOfItem(atPath: log.path)[.ownerAccountID] as? Int
            #expect(owner.map { uid_t($0) } == getpwnam("nobody")?.pointee.pw_uid)
        }

        try FileManager.default.moveItem(at: log, to: rotated)
        #expect(chmod(directory.path, 0o555) == 0)
        try proxy.process.send(signal: SIGUSR1)
        let error = try proxy.process.waitForLine(containing: "SIGUSR1: cannot open the access log \(log.path)", in: .stderr)
        #expect(error.contains("level=error") && error.contains("workers keep writing to the file they have"), "\(error)")

        // Still serving, still logging: into the file it has, renamed or not.
        try Self.send(proxy, 3, prefix: "after")
        #expect(eventually { Self.lines(rotated).count == 5 }, "\(Self.lines(rotated))\n\(proxy.process.logs)")
        #expect(!FileManager.default.fileExists(atPath: log.path))
        let reading = try Self.reading(proxy)
        #expect(reading.generation == 1 && reading.switched, "\(reading)")

        // Once the directory is writable again, the next SIGUSR1 works.
        #expect(chmod(directory.path, root ? 0o777 : 0o755) == 0)
        try proxy.process.send(signal: SIGUSR1)
        try Self.waitForSwitch(proxy, to: 2)
        try Self.send(proxy, 1, prefix: "again")
        #expect(eventually { Self.targets(log) == ["\"/again-0\""] }, "\(Self.lines(log))\n\(proxy.process.logs)")
        #expect(Self.lines(rotated).count == 5)
    }

    @Test func aReloadTurnsTheLogOnMovesItAndTurnsItOff() throws {
        let fleet = try BackendFleet(names: ["apache1"])
        let first = Self.temporaryLog(), second = Self.temporaryLog()
        defer { for url in [first, second] { try? FileManager.default.removeItem(at: url) } }
        var options = ProxyUnderTest.Options()
        let proxy = try ProxyUnderTest(fleet: fleet, options: options)
        try Self.send(proxy, 1, prefix: "unlogged")
        #expect(try Self.reading(proxy).generation == nil)

        func reload() throws {
            try proxy.writeConfig(options)
            let result = try proxy.reload()
            if result.status != .exited(0) { throw HarnessError("reload: \(result.status)\n\(result.stderr)\n\(proxy.process.logs)") }
        }

        options.accessLog = "{ path: \(first.path) }"
        try reload()
        try Self.waitForSwitch(proxy, to: 2)
        try Self.send(proxy, 2, prefix: "first")
        #expect(eventually { Self.lines(first).count == 2 }, "\(proxy.process.logs)")
        let line = Self.fields(Self.lines(first).first ?? "")
        #expect(line["pool"] == "web" && line["server"] == "apache1" && line["route"] == "balanced", "\(line)")

        options.accessLog = "{ path: \(second.path) }"
        try reload()
        try Self.waitForSwitch(proxy, to: 3)
        try Self.send(proxy, 3, prefix: "second")
        #expect(eventually { Self.lines(second).count == 3 }, "\(proxy.process.logs)")
        #expect(Self.lines(first).count == 2)

        // An access log that cannot be opened refuses the reload; the old one stays.
        options.accessLog = "{ path: /nonexistent-dir-\(UUID().uuidString)/access.log }"
        try proxy.writeConfig(options)
        let refused = try proxy.reload()
        #expect(refused.status == .exited(1))
        #expect(refused.stderr.contains("cannot open the access log /nonexistent-dir-"), "\(refused.stderr)")
        #expect(try Self.reading(proxy).generation == 3)

        options.accessLog = nil
        try reload()
        try Self.waitForSwitch(proxy, to: 4, open: false)
        try Self.send(proxy, 2, prefix: "off")
        var counted = try Self.reading(proxy)
        let matched = try eventually {
            counted = try Self.reading(proxy)
            return counted.written == 5
        }
        #expect(matched, "\(counted)")
        #expect(Self.lines(first).count == 2 && Self.lines(second).count == 3, "no line after the log was turned off")
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
