import Foundation
import Glibc
import Testing

/// `tether run` as a supervisor of worker processes: the real binary, real
/// demo backends, and the kernel's view of the processes (/proc).
@Suite(.serialized) struct SupervisorTests {
    static func twoWorkers(_ fleet: BackendFleet) throws -> ProxyUnderTest {
        var options = ProxyUnderTest.Options()
        options.workers = "2"
        let proxy = try ProxyUnderTest(fleet: fleet, options: options)
        try proxy.process.waitForLine(containing: "component=supervisor pid=\(proxy.process.pid) msg=\"ready: 2 workers", in: .stderr)
        return proxy
    }

    /// Polls until the supervisor has `count` worker children.
    static func workers(of proxy: ProxyUnderTest, count: Int, excluding gone: Set<pid_t> = []) throws -> [pid_t] {
        var children: [pid_t] = []
        var workers: [pid_t] = []
        let found = eventually {
            children = childProcesses(of: proxy.process.pid)
            workers = children.filter { workerIndex(of: $0) != nil }
            // A just-spawned child shows the supervisor's command line until it has exec'd.
            return workers.count == count && gone.isDisjoint(with: workers)
                && children.allSatisfy { workerIndex(of: $0) != nil || isMonitor($0) }
        }
        guard found else {
            throw HarnessError("expected \(count) workers (none of \(gone)), found \(children)\n\(proxy.process.logs)")
        }
        return workers
    }

    @Test func twoWorkersAreChildrenPinnedToDifferentCPUsAndServe() throws {
        let fleet = try BackendFleet(names: ["apache1"])
        let proxy = try Self.twoWorkers(fleet)
        let children = try Self.workers(of: proxy, count: 2)
        for pid in children {
            #expect(commandLine(of: pid).starts(with: ["tether", "worker"]), "\(commandLine(of: pid))")
        }
        // Each worker pins itself as it starts.
        var pinned: [Set<Int>] = []
        #expect(eventually {
            pinned = children.map { cpusAllowed(of: $0) }
            return pinned.allSatisfy { $0.count == 1 }
        }, "worker CPUs \(pinned)")
        let available = cpusAllowed(of: proxy.process.pid)
        for cpus in pinned {
            #expect(cpus.count == 1 && cpus.isSubset(of: available), "worker CPUs \(pinned), supervisor \(available)")
        }
        if available.count >= 2 {
            #expect(pinned[0] != pinned[1], "both workers on \(pinned[0])")
        }
        for _ in 0..<4 {
            let response = try proxy.get("/")
            #expect(response.status == 200)
            #expect(response.bodyText == "apache1\n")
        }
        // One startup line per worker, with its pid and CPU.
        for pid in children {
            #expect(proxy.process.stderr.contains("started: pid \(pid), cpu "), "\(proxy.process.logs)")
        }
    }

    @Test func autoStartsOneWorkerPerCPU() throws {
        let fleet = try BackendFleet(names: ["apache1"])
        var options = ProxyUnderTest.Options()
        options.workers = "auto"
        let proxy = try ProxyUnderTest(fleet: fleet, options: options)
        let cpus = cpusAllowed(of: proxy.process.pid)
        try proxy.process.waitForLine(containing: "component=supervisor pid=\(proxy.process.pid) msg=\"ready: \(cpus.count) worker", in: .stderr)
        let children = try Self.workers(of: proxy, count: cpus.count)
        var pinned: [Set<Int>] = []
        #expect(eventually {
            pinned = children.map { cpusAllowed(of: $0) }
            return Set(pinned) == Set(cpus.map { [$0] })
        }, "worker CPUs \(pinned), available \(cpus)")
        #expect(try proxy.get("/").status == 200)
    }

    @Test func aKilledWorkerIsReplacedWhileRequestsKeepBeingAnswered() throws {
        let fleet = try BackendFleet(names: ["apache1"])
        let proxy = try Self.twoWorkers(fleet)
        let before = try Self.workers(of: proxy, count: 2)

        let client = ClientLoop(port: proxy.port)
        client.start()
        defer { client.stop() }
        #expect(client.waitForSuccesses(10), "\(client.summary)")

        let victim = before[0]
        #expect(kill(victim, SIGKILL) == 0)
        let after = try Self.workers(of: proxy, count: 2, excluding: [victim])
        #expect(after.contains(before[1]), "the other worker was left alone")
        let replacement = after.first { $0 != before[1] }!
        #expect(cpusAllowed(of: replacement) == cpusAllowed(of: victim) || cpusAllowed(of: victim).isEmpty)

        // Requests keep being answered after the new worker is there.
        let served = client.successes
        #expect(client.waitForSuccesses(served + 20), "\(client.summary)")
        client.stop()
        // Only a request in flight on the killed worker may have failed:
        // the client has one at a time.
        #expect(client.failures <= 1, "\(client.summary)\n\(proxy.process.logs)")
        let log = proxy.process.stderr
        #expect(log.contains("(pid \(victim)) killed by signal 9"), "\(log)")
        #expect(log.contains("started: pid \(replacement)"), "\(log)")
    }

    /// Each death of the same worker in quick succession doubles the wait.
    @Test func repeatedDeathsBackOff() throws {
        let fleet = try BackendFleet(names: ["apache1"])
        let proxy = try Self.twoWorkers(fleet)
        for expected in [50, 100, 200] {
            let children = try Self.workers(of: proxy, count: 2)
            guard let pid = children.first(where: { workerIndex(of: $0) == 0 }) else {
                throw HarnessError("no worker 0 among \(children)\n\(proxy.process.logs)")
            }
            #expect(kill(pid, SIGKILL) == 0)
            try proxy.process.waitForLine(containing: "worker 0 (pid \(pid)) killed by signal 9", in: .stderr)
            try proxy.process.waitForLine(containing: "worker 0 restarting in \(expected) ms", in: .stderr)
            try proxy.process.waitForLine(containing: "worker 0 started: pid ", in: .stderr)
        }
        #expect(try proxy.get("/").status == 200)
    }

    @Test func sigtermLetsASlowRequestFinishThenExitsWithNoChildLeft() throws {
        let fleet = try BackendFleet(names: ["apache1"])
        let proxy = try Self.twoWorkers(fleet)
        let children = try Self.workers(of: proxy, count: 2)
        let slow = try proxy.connect()
        try slow.send("GET /slow/1000 HTTP/1.1\r\nHost: t\r\n\r\n")
        // The request has reached the server (the /stats connection is the other).
        #expect(try eventually { (try fleet.stats("apache1")["open"] ?? 0) >= 2 })
        try proxy.process.send(signal: SIGTERM)
        let response = try slow.readResponse()
        #expect(response.status == 200)
        // Closing at once spares the worker its lingering close's wait for our FIN.
        slow.close()
        #expect(try proxy.process.waitForExit(timeout: .seconds(10)) == .exited(0))
        #expect(eventually { children.allSatisfy { !processExists($0) } }, "workers \(children) outlived the supervisor")
        #expect(proxy.process.stderr.contains("component=supervisor pid=\(proxy.process.pid) msg=stopped"), "\(proxy.process.logs)")
    }

    @Test func sigquitExitsPromptlyWithNoChildLeft() throws {
        let fleet = try BackendFleet(names: ["apache1"])
        let proxy = try Self.twoWorkers(fleet)
        let children = try Self.workers(of: proxy, count: 2)
        // A request in flight does not hold it up.
        let slow = try proxy.connect()
        try slow.send("GET /slow/5000 HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(try eventually { (try fleet.stats("apache1")["open"] ?? 0) >= 2 })
        let sent = ContinuousClock.now
        try proxy.process.send(signal: SIGQUIT)
        #expect(try proxy.process.waitForExit(timeout: .seconds(3)) == .exited(0))
        #expect(ContinuousClock.now - sent < .seconds(3))
        #expect(eventually { children.allSatisfy { !processExists($0) } }, "workers \(children) outlived the supervisor")
        #expect(slow.isClosedByPeer())
    }

    @Test func workersStopWhenTheSupervisorIsKilled() throws {
        let fleet = try BackendFleet(names: ["apache1"])
        let proxy = try Self.twoWorkers(fleet)
        let children = try Self.workers(of: proxy, count: 2)
        // The supervisor alone, not its process group.
        #expect(kill(proxy.process.pid, SIGKILL) == 0)
        #expect(try proxy.process.waitForExit() == .signaled(SIGKILL))
        #expect(eventually { children.allSatisfy { !processExists($0) } }, "workers \(children) outlived the supervisor")
    }

    @Test(arguments: [
        ("workers: 0\n", "workers: 0 is out of range"),
        ("pools: [ { name: web, servers: [] } ]\nvirtual_services: [ { name: www, listen: [\"127.0.0.1:1\"], pool: nope } ]\n", "nope"),
    ])
    func aBadConfigurationRefusesToStart(yaml: String, mentions: String) throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tether-bad-\(UUID().uuidString).yaml")
        try yaml.write(to: url, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: url) }
        let process = try ManagedProcess(arguments: ["run", "-c", url.path], label: "tether run (bad)")
        #expect(try process.waitForExit() == .exited(1))
        #expect(process.stderr.contains(mentions), "\(process.logs)")
        #expect(process.stderr.contains("not started"), "\(process.logs)")
        #expect(!process.stderr.contains("component=supervisor"), "\(process.logs)")
    }

    @Test func aPortInUseRefusesToStart() throws {
        let fleet = try BackendFleet(names: ["apache1"])
        // A socket without SO_REUSEPORT holds the port: tether cannot share it.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = loopbackAddress(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        #expect(bound == 0)
        #expect(listen(fd, 1) == 0)
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        let port = UInt16(bigEndian: actual.sin_port)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tether-busy-\(UUID().uuidString).yaml")
        let yaml = """
            workers: 2
            pools: [ { name: web, servers: [ { name: a, address: 127.0.0.1, port: \(fleet["apache1"].port) } ] } ]
            virtual_services: [ { name: www, listen: ["127.0.0.1:\(port)"], pool: web } ]

            """
        try yaml.write(to: url, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: url) }
        let process = try ManagedProcess(arguments: ["run", "-c", url.path], label: "tether run (busy port)")
        #expect(try process.waitForExit() == .exited(1))
        #expect(process.stderr.contains("cannot listen on 127.0.0.1:\(port)"), "\(process.logs)")
        #expect(!process.stderr.contains("started"), "\(process.logs)")
    }
}

// MARK: What /proc says

/// The children of `pid` (every thread's list).
func childProcesses(of pid: pid_t) -> [pid_t] {
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
    var out: [pid_t] = []
    for task in tasks {
        let text = (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/children", encoding: .utf8)) ?? ""
        out += text.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { pid_t($0) }
    }
    return out.sorted()
}

/// The CPUs in `Cpus_allowed_list` of /proc/PID/status ("0-3,6"); empty
/// when the process is gone.
func cpusAllowed(of pid: pid_t) -> Set<Int> {
    let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
    guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed_list:") }) else { return [] }
    var cpus = Set<Int>()
    for part in line.dropFirst("Cpus_allowed_list:".count).trimmingWhitespace().split(separator: ",") {
        let bounds = part.split(separator: "-").compactMap { Int($0) }
        if bounds.count == 1 { cpus.insert(bounds[0]) }
        if bounds.count == 2 { cpus.formUnion(bounds[0]...bounds[1]) }
    }
    return cpus
}

func commandLine(of pid: pid_t) -> [String] {
    let text = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
    return text.split(separator: "\0").map(String.init)
}

/// Whether `pid` runs `tether monitor`.
func isMonitor(_ pid: pid_t) -> Bool {
    commandLine(of: pid).starts(with: ["tether", "monitor"])
}

/// The `--index` on a worker's command line.
func workerIndex(of pid: pid_t) -> Int? {
    let arguments = commandLine(of: pid)
    guard let flag = arguments.firstIndex(of: "--index"), flag + 1 < arguments.count else { return nil }
    return Int(arguments[flag + 1])
}

/// Whether `pid` is a live process (a zombie awaiting its reaper is not).
func processExists(_ pid: pid_t) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
    guard let close = stat.lastIndex(of: ")") else { return false }
    return !stat[stat.index(after: close)...].trimmingWhitespace().hasPrefix("Z")
}

// MARK: A client that keeps asking

/// One request at a time on a fresh connection, on a thread of its own,
/// until stopped; counts what was answered 200 and what failed.
final class ClientLoop: @unchecked Sendable {
    let port: UInt16
    private let lock = NSLock()
    private var _successes = 0
    private var _failures: [String] = []
    private var stopping = false
    private var thread: Thread?
    private let done = DispatchSemaphore(value: 0)

    init(port: UInt16) { self.port = port }

    var successes: Int { lock.withLock { _successes } }
    var failures: Int { lock.withLock { _failures.count } }
    var summary: String { lock.withLock { "\(_successes) answered, failures: \(_failures)" } }

    func start() {
        let thread = Thread { [self] in
            while !lock.withLock({ stopping }) {
                do {
                    let connection = try RawHTTPConnection(port: port, timeout: .seconds(5))
                    defer { connection.close() }
                    try connection.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n")
                    let response = try connection.readResponse()
                    lock.withLock {
                        if response.status == 200 { _successes += 1 } else { _failures.append("status \(response.status)") }
                    }
                } catch {
                    lock.withLock { _failures.append("\(error)") }
                }
            }
            done.signal()
        }
        self.thread = thread
        thread.start()
    }

    /// Polls until `count` requests have been answered.
    func waitForSuccesses(_ count: Int, timeout: Duration = .seconds(10)) -> Bool {
        eventually(timeout: timeout) { successes >= count }
    }

    func stop() {
        guard thread != nil else { return }
        lock.withLock { stopping = true }
        _ = done.wait(timeout: .now() + 15)
        thread = nil
    }
}
