import Foundation
import Testing

/// `tether reload` against the real binary: a new table is obeyed by every
/// worker, a bad one is refused with the old table serving, reloads under
/// traffic lose no request, and server state is shared across workers.
@Suite(.serialized) struct ReloadTests {
    static func twoWorkers(_ configure: (inout ProxyUnderTest.Options) -> Void = { _ in }) -> ProxyUnderTest.Options {
        var options = ProxyUnderTest.Options()
        options.workers = "2"
        configure(&options)
        return options
    }

    /// Backends reached by `count` requests for `value`, each on a fresh
    /// connection (so both workers' listeners are hit).
    static func backends(for value: String, count: Int, proxy: ProxyUnderTest) throws -> [String: Int] {
        var seen: [String: Int] = [:]
        for _ in 0 ..< count {
            let response = try proxy.get("/", headers: ["X-Server: \(value)"])
            seen[response.header("X-Backend") ?? "status \(response.status)", default: 0] += 1
        }
        return seen
    }

    @Test func aReloadedMappingIsObeyedByEveryWorker() throws {
        let fleet = try BackendFleet(names: ["apache1", "apache2", "apache3"])
        var options = Self.twoWorkers()
        let proxy = try ProxyUnderTest(fleet: fleet, options: options)
        #expect(try Self.backends(for: "server1", count: 10, proxy: proxy) == ["apache1": 10])

        options.headerValues = ["server9", "server1", "server3"]
        try proxy.writeConfig(options)
        let reload = try proxy.reload()
        #expect(reload.status == .exited(0), "\(reload.stderr)\n\(proxy.process.logs)")
        #expect(reload.stdout.hasPrefix("reload applied: generation 2, live in all 2 workers ("), "\(reload.stdout)")

        #expect(try Self.backends(for: "server1", count: 40, proxy: proxy) == ["apache2": 40])
        #expect(try Self.backends(for: "server9", count: 10, proxy: proxy) == ["apache1": 10])
        // A connection opened before the reload follows the new table too.
        let connection = try proxy.connect()
        try connection.send("GET / HTTP/1.1\r\nHost: t\r\nX-Server: server3\r\n\r\n")
        #expect(try connection.readResponse().header("X-Backend") == "apache3")
    }

    @Test func aBadConfigurationIsRefusedAndTheOldTableServes() throws {
        let fleet = try BackendFleet(names: ["apache1", "apache2"])
        let options = Self.twoWorkers()
        let proxy = try ProxyUnderTest(fleet: fleet, options: options)
        let good = try String(contentsOf: proxy.configURL, encoding: .utf8)

        try good.replacingOccurrences(of: "pool: web", with: "pool: webb").write(to: proxy.configURL, atomically: true, encoding: .utf8)
        let refused = try proxy.reload()
        #expect(refused.status == .exited(1))
        #expect(refused.stderr.contains("reload refused; generation 1 keeps serving"), "\(refused.stderr)")
        #expect(refused.stderr.contains("webb"), "\(refused.stderr)")
        #expect(proxy.process.output(.stderr).contains("webb"), "the supervisor logs every error")
        #expect(try Self.backends(for: "server1", count: 10, proxy: proxy) == ["apache1": 10])

        try good.replacingOccurrences(of: "workers: 2", with: "workers: 3")
            .write(to: proxy.configURL, atomically: true, encoding: .utf8)
        let resized = try proxy.reload()
        #expect(resized.status == .exited(1))
        #expect(resized.stderr.contains("workers changed from 2 to 3: restart tether to apply"), "\(resized.stderr)")

        // A good configuration afterwards applies as the next generation
        // (`-c`: the runtime directory comes from the configuration).
        try proxy.writeConfig(options)
        let applied = try proxy.reload(arguments: ["-c", proxy.configURL.path])
        #expect(applied.status == .exited(0), "\(applied.stderr)")
        #expect(applied.stdout.hasPrefix("reload applied: generation 2,"), "\(applied.stdout)")
    }

    @Test func reloadsUnderTrafficLoseNoRequest() throws {
        let fleet = try BackendFleet(names: ["apache1", "apache2"])
        var options = Self.twoWorkers()
        let proxy = try ProxyUnderTest(fleet: fleet, options: options)

        final class Tally: @unchecked Sendable {
            let lock = NSLock()
            var requests = 0
            var failures: [String] = []
            var stop = false
            var done = false
        }
        let tally = Tally()
        let port = proxy.port
        let client = Thread {
            var kept: RawHTTPConnection?
            var n = 0
            while !tally.lock.withLock({ tally.stop }) {
                n += 1
                do {
                    let fresh = n % 2 == 0
                    if fresh || kept == nil { kept?.close(); kept = try RawHTTPConnection(port: port) }
                    let connection = kept!
                    try connection.send("GET / HTTP/1.1\r\nHost: t\r\nX-Server: server\(n % 2 + 1)\r\n\r\n")
                    let response = try connection.readResponse()
                    if response.status != 200 { throw HarnessError("status \(response.status)") }
                    if fresh { connection.close(); kept = nil }
                    tally.lock.withLock { tally.requests += 1 }
                } catch {
                    kept?.close()
                    kept = nil
                    tally.lock.withLock { tally.failures.append("request \(n): \(error)") }
                }
            }
            kept?.close()
            tally.lock.withLock { tally.done = true }
        }
        client.start()
        defer {
            tally.lock.withLock { tally.stop = true }
            _ = eventually { tally.lock.withLock { tally.done } }
        }

        for k in 0 ..< 20 {
            options.headerValues = k % 2 == 0 ? ["server2", "server1"] : ["server1", "server2"]
            try proxy.writeConfig(options)
            let reload = try proxy.reload()
            #expect(reload.status == .exited(0), "reload \(k): \(reload.stderr)")
            #expect(reload.stdout.hasPrefix("reload applied: generation \(k + 2),"), "\(reload.stdout)")
        }
        tally.lock.withLock { tally.stop = true }
        #expect(eventually { tally.lock.withLock { tally.done } })
        let (requests, failures) = tally.lock.withLock { (tally.requests, tally.failures) }
        #expect(failures.isEmpty, "\(failures.prefix(5))\n\(proxy.process.logs)")
        #expect(requests > 20)

        // Old tables are reclaimed: the supervisor keeps only the current
        // table's memfd open, each worker maps only the current table.
        func tableDescriptors(_ pid: pid_t) -> Int {
            let directory = "/proc/\(pid)/fd"
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            return entries.filter {
                ((try? FileManager.default.destinationOfSymbolicLink(atPath: "\(directory)/\($0)")) ?? "").contains("tether-table")
            }.count
        }
        func tableMappings(_ pid: pid_t) -> Int {
            // /proc files have no size: read to the end, not by stat.
            let data = FileHandle(forReadingAtPath: "/proc/\(pid)/maps")?.readDataToEndOfFile() ?? Data()
            let maps = String(decoding: data, as: UTF8.self)
            return maps.split(separator: "\n").filter { $0.contains("tether-table") }.count
        }
        let workers = try SupervisorTests.workers(of: proxy, count: 2)
        var seen = ""
        #expect(eventually {
            seen = "supervisor fds \(tableDescriptors(proxy.process.pid)), worker mappings \(workers.map(tableMappings))"
            return tableDescriptors(proxy.process.pid) == 1 && workers.allSatisfy { tableMappings($0) == 1 }
        }, "\(seen)")
    }

    @Test func aPinnedLimitHoldsAcrossWorkers() throws {
        let fleet = try BackendFleet(names: ["apache1", "apache2"])
        let options = Self.twoWorkers {
            $0.maxConnectionsPerServer = 1
            $0.serverDown = "never"
        }
        let proxy = try ProxyUnderTest(fleet: fleet, options: options)
        // Eight connections spread over both workers' listeners; every one
        // asks for the same pinned server at once. One request may run there.
        var connections: [RawHTTPConnection] = []
        for _ in 0 ..< 8 { connections.append(try proxy.connect()) }
        for c in connections { try c.send("GET /slow/1500 HTTP/1.1\r\nHost: t\r\nX-Server: server1\r\n\r\n") }
        var statuses: [Int] = []
        for c in connections { statuses.append(try c.readResponse().status) }
        #expect(statuses.filter { $0 == 200 }.count == 1, "\(statuses)")
        #expect(statuses.filter { $0 == 503 }.count == 7, "\(statuses)")
        // Once it is done, the count is back to zero in every worker.
        #expect(try eventually { try proxy.get("/", headers: ["X-Server: server1"]).status == 200 })
    }

    @Test func serverStateFollowsTheServerAcrossAReloadThatReordersThePool() throws {
        let fleet = try BackendFleet(names: ["apache1", "apache2"])
        var options = Self.twoWorkers {
            $0.maxConnectionsPerServer = 1
            $0.serverDown = "never"
        }
        let proxy = try ProxyUnderTest(fleet: fleet, options: options)
        // The slow request reaches apache1 (the only connection open there
        // besides the /stats one) before anything else asks for it.
        let slow = try proxy.connect()
        try slow.send("GET /slow/3000 HTTP/1.1\r\nHost: t\r\nX-Server: server1\r\n\r\n")
        #expect(try eventually { try fleet.stats("apache1")["open"] ?? 0 >= 2 })
        #expect(try proxy.get("/", headers: ["X-Server: server1"]).status == 503)

        // apache1 moves to index 1 and answers to a new value: its state
        // slot, and the request in flight on it, stay.
        options.headerValues = ["server7", "server2"]
        try proxy.writeConfig(options)
        var yaml = try String(contentsOf: proxy.configURL, encoding: .utf8)
        let lines = yaml.split(separator: "\n", omittingEmptySubsequences: false)
        let servers = lines.indices.filter { lines[$0].contains("- { name: apache") }
        var reordered = lines
        reordered.swapAt(servers[0], servers[1])
        yaml = reordered.joined(separator: "\n")
        try yaml.write(to: proxy.configURL, atomically: true, encoding: .utf8)
        let reload = try proxy.reload()
        #expect(reload.status == .exited(0), "\(reload.stderr)")

        let during = try proxy.get("/", headers: ["X-Server: server7"])
        #expect(during.status == 503, "apache1 still has its one request in flight")
        let other = try proxy.get("/", headers: ["X-Server: server2"])
        #expect(other.header("X-Backend") == "apache2", "\(other.status) \(other.bodyText)\n\(proxy.process.logs)")
        let finished = try slow.readResponse()
        #expect(finished.status == 200)
        #expect(finished.header("X-Backend") == "apache1")
        #expect(try eventually { try proxy.get("/", headers: ["X-Server: server7"]).header("X-Backend") == "apache1" })
    }

    @Test func reloadWithoutARunningTetherSaysSo() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tether-none-\(UUID().uuidString)")
        let command = try ManagedProcess(arguments: ["reload", "--runtime-dir", directory.path], label: "tether reload")
        #expect(try command.waitForExit() == .exited(1))
        #expect(command.output(.stderr).contains("no running tether in \(directory.path)"), "\(command.logs)")
    }

    @Test func aRespawnedWorkerStartsOnTheReloadedTable() throws {
        let fleet = try BackendFleet(names: ["apache1", "apache2"])
        var options = Self.twoWorkers()
        let proxy = try ProxyUnderTest(fleet: fleet, options: options)
        let before = try SupervisorTests.workers(of: proxy, count: 2)
        options.headerValues = ["server2", "server1"]
        try proxy.writeConfig(options)
        #expect(try proxy.reload().status == .exited(0))
        for pid in before { kill(pid, SIGKILL) }
        _ = try SupervisorTests.workers(of: proxy, count: 2, excluding: Set(before))
        #expect(try eventually { (try? Self.backends(for: "server1", count: 20, proxy: proxy)) == ["apache2": 20] },
                "\(proxy.process.logs)")
    }

    // MARK: Listen changes

    /// The configuration with the service listening on `ports` instead.
    static func writeListen(_ ports: [UInt16], proxy: ProxyUnderTest, options: ProxyUnderTest.Options) throws {
        try proxy.writeConfig(options)
        let yaml = try String(contentsOf: proxy.configURL, encoding: .utf8)
        let listen = ports.map { "\"127.0.0.1:\($0)\"" }.joined(separator: ", ")
        try yaml.replacingOccurrences(of: "listen: [\"127.0.0.1:\(proxy.port)\"]", with: "listen: [\(listen)]")
            .write(to: proxy.configURL, atomically: true, encoding: .utf8)
    }

    /// Whether `count` requests on fresh connections to `port` are all answered 200.
    static func answers(_ port: UInt16, count: Int = 10) -> Bool {
        for _ in 0 ..< count {
            guard let connection = try? RawHTTPConnection(port: port, timeout: .seconds(2)) else { return false }
            defer { connection.close() }
            guard (try? connection.send("GET / HTTP/1.1\r\nHost: t\r\nX-Server: server1\r\n\r\n")) != nil,
                  let response = try? connection.readResponse(), response.status == 200 else { return false }
        }
        return true
    }

    static func refusesConnections(_ port: UInt16) -> Bool {
        (try? RawHTTPConnection(port: port, timeout: .seconds(2))).map { $0.close(); return false } ?? true
    }

    @Test func aRequestCutOffByTheDrainTimeoutStopsCountingAgainstItsServer() throws {
        let fleet = try BackendFleet(names: ["apache1", "apache2"])
        var options = ProxyUnderTest.Options()
        options.maxConnectionsPerServer = 1
        options.serverDown = "never"
        options.drainTimeout = "500ms"
        let proxy = try ProxyUnderTest(fleet: fleet, options: options)
        let before = try SupervisorTests.workers(of: proxy, count: 1)
        // apache1's one allowed request, held far past the drain timeout.
        let slow = try proxy.connect()
        defer { slow.close() }
        try slow.send("GET /slow/20000 HTTP/1.1\r\nHost: t\r\nX-Server: server1\r\n\r\n")
        #expect(try eventually { try fleet.stats("apache1")["open"] ?? 0 >= 2 })
        #expect(try proxy.get("/", headers: ["X-Server: server1"]).status == 503)

        // A listen change replaces the worker; the old one drains 500 ms and
        // then cuts the slow request off.
        let added = try freeLoopbackPort()
        try Self.writeListen([proxy.port, added], proxy: proxy, options: options)
        #expect(try proxy.reload().status == .exited(0))
        #expect(eventually { before.allSatisfy { !processExists($0) } }, "\(proxy.process.logs)")
        #expect(slow.isClosedByPeer(timeout: .seconds(5)))
        // Its slot in apache1's limit is free again: no leaked in-flight count.
        #expect(try eventually { try proxy.get("/", headers: ["X-Server: server1"]).status == 200 }, "\(proxy.process.logs)")
        // It uncounted everything itself: the supervisor found nothing left to take back.
        #expect(!proxy.process.stderr.contains("exited but still held"), "\(proxy.process.logs)")
    }

    @Test func aReloadThatAddsAnAddressReplacesEveryWorkerWithoutAFailedRequest() throws {
        let fleet = try BackendFleet(names: ["apache1", "apache2"])
        let options = Self.twoWorkers()
        let proxy = try ProxyUnderTest(fleet: fleet, options: options)
        let before = try SupervisorTests.workers(of: proxy, count: 2)
        let client = ClientLoop(port: proxy.port)
        client.start()
        defer { client.stop() }
        #expect(client.waitForSuccesses(5), "\(client.summary)")

        let added = try freeLoopbackPort()
        try Self.writeListen([proxy.port, added], proxy: proxy, options: options)
        let reload = try proxy.reload()
        #expect(reload.status == .exited(0), "\(reload.stderr)\n\(proxy.process.logs)")
        // Both workers are replaced; the old ones drain and are gone.
        let after = try SupervisorTests.workers(of: proxy, count: 2, excluding: Set(before))
        #expect(eventually { before.allSatisfy { !processExists($0) } }, "\(proxy.process.logs)")
        #expect(after.count == 2)
        #expect(eventually { Self.answers(added) }, "\(proxy.process.logs)")
        #expect(Self.answers(proxy.port))
        let answered = client.successes
        #expect(client.waitForSuccesses(answered + 5), "\(client.summary)")
        client.stop()
        #expect(client.failures == 0, "\(client.summary)\n\(proxy.process.logs)")
    }

    @Test func aReloadThatMovesTheServiceListensOnlyOnTheNewAddress() throws {
        let fleet = try BackendFleet(names: ["apache1", "apache2"])
        let options = Self.twoWorkers()
        let proxy = try ProxyUnderTest(fleet: fleet, options: options)
        let moved = try freeLoopbackPort()
        try Self.writeListen([moved], proxy: proxy, options: options)
        let reload = try proxy.reload()
        #expect(reload.status == .exited(0), "\(reload.stderr)\n\(proxy.process.logs)")
        #expect(eventually { Self.answers(moved) }, "\(proxy.process.logs)")
        #expect(eventually { Self.refusesConnections(proxy.port) }, "\(proxy.process.logs)")
        #expect(Self.answers(moved))
    }

    @Test func aReloadToAnAddressInUseIsRefusedAndTheOldAddressesServe() throws {
        let fleet = try BackendFleet(names: ["apache1", "apache2"])
        let options = Self.twoWorkers()
        let proxy = try ProxyUnderTest(fleet: fleet, options: options)
        let before = try SupervisorTests.workers(of: proxy, count: 2)

        // Another process's listener, without SO_REUSEPORT.
        let busy = try freeLoopbackPort()
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #expect(fd >= 0)
        defer { close(fd) }
        var address = loopbackAddress(port: busy)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        #expect(bound == 0)
        #expect(listen(fd, 16) == 0)

        try Self.writeListen([proxy.port, busy], proxy: proxy, options: options)
        let refused = try proxy.reload()
        #expect(refused.status == .exited(1))
        #expect(refused.stderr.contains("cannot listen on 127.0.0.1:\(busy)"), "\(refused.stderr)")
        #expect(refused.stderr.contains("reload refused; generation 1 keeps serving"), "\(refused.stderr)")
        #expect(Self.answers(proxy.port))
        #expect(Set(childProcesses(of: proxy.process.pid).filter { workerIndex(of: $0) != nil }) == Set(before), "no worker was replaced")
    }
}
