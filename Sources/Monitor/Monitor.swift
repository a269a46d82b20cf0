import CLinux
import Health
import Posix
import Ring
import RoutingTable
import SharedState

/// What the health-monitor process needs: the shared state, and the table
/// that was live when it started (later ones it follows itself).
public struct MonitorConfiguration {
    public var region: SharedRegion
    public var tableImage: [UInt8]
    public var generation: UInt64
    /// At most this many checks in flight at once.
    public var concurrency = 512

    public init(region: SharedRegion, tableImage: [UInt8], generation: UInt64) {
        self.region = region
        self.tableImage = tableImage
        self.generation = generation
    }
}

/// Runs the health monitor until SIGTERM: one thread, one io_uring, every
/// check a non-blocking connect (+ request and status line for HTTP) with a
/// deadline, so thousands of servers cost thousands of small records, not
/// threads. Each server's down bit in the shared state is the monitor's to
/// set and clear; workers set a second bit when a connect fails (passive
/// detection), which the monitor turns into a full down state.
public func runMonitor(_ configuration: MonitorConfiguration) throws(PosixError) {
    var monitor = try HealthMonitor(configuration)
    defer { monitor.shutDown() }
    try monitor.run()
}

struct HealthMonitor: ~Copyable {
    enum Op: UInt8 { case connect = 1, send, receive, close }

    let region: SharedRegion
    let concurrency: Int
    var ring: Ring
    var plan = Plan()
    var generation: UInt64 = 0
    /// A generation that could not be loaded; not retried until the next one.
    var refusedGeneration: UInt64 = 0
    var nextAttempt: UInt32 = 1
    var inFlight = 0
    /// First-byte buffers of the checks, `bufferSize` bytes per probe.
    var buffers = UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 8)
    static let bufferSize = 64
    let completions = UnsafeMutableBufferPointer<Completion>.allocate(capacity: 256)
    var stopping = false
    var nextUnmonitoredSweep: UInt64 = 0
    /// Plans replaced by a reload, freed once the kernel is done with their
    /// addresses and request bytes (their checks were cancelled).
    var retiredPlans: [(plan: Plan, buffers: UnsafeMutableRawPointer, freeAt: UInt64)] = []
    /// Checks carried over a replan, by attempt: their operations issued
    /// before it name the probe's index in the plan they started in.
    var attemptIndex: [UInt32: Int] = [:]

    init(_ configuration: MonitorConfiguration) throws(PosixError) {
        region = configuration.region
        concurrency = configuration.concurrency
        ring = try Ring(entries: 1024)
        let now = Posix.monotonicMilliseconds()
        let loaded = configuration.tableImage.withUnsafeBytes { raw -> Bool in
            do {
                let table = try RoutingTableView(validating: raw)
                install(table, generation: configuration.generation, now: now)
                return true
            } catch {
                log.error("table generation \(configuration.generation) is invalid: \(error)")
                return false
            }
        }
        if !loaded { refusedGeneration = configuration.generation }
        region.monitor.startedAtMs = Posix.wallClockMilliseconds()
    }

    mutating func shutDown() {
        for i in plan.probes.indices where plan.probes[i].fd >= 0 { Posix.close(plan.probes[i].fd) }
        plan.release()
        for r in retiredPlans { r.plan.release(); r.buffers.deallocate() }
        buffers.deallocate()
        completions.deallocate()
        region.monitor.generation = WorkerSlot.offline
    }

    // MARK: Plans

    /// Makes `table` the one whose servers are checked. A table that checks
    /// exactly what the current plan checks (a reload of routing only) just
    /// moves the generation on: checks in flight carry on, so reloads more
    /// frequent than a timeout cannot keep a check from ever finishing.
    /// Otherwise verdicts of probes that survive (same server slot, same
    /// monitor settings) are kept, and checks in flight run again.
    mutating func install(_ table: RoutingTableView, generation: UInt64, now: UInt64) {
        for s in 0..<table.serverCount where Int(table.server(UInt32(s)).stateSlot) >= region.serverCapacity {
            log.error("table generation \(generation) refused: server state slot \(table.server(UInt32(s)).stateSlot) is beyond the \(region.serverCapacity) shared slots")
            refusedGeneration = generation
            return
        }
        let region = region
        let candidate = Plan(table: table, now: now, previous: plan.carried,
                             initiallyDown: { region.server($0).down.contains(.byMonitor) })
        if self.generation != 0 && candidate.checksTheSame(as: plan) {
            candidate.release()
            self.generation = generation
            region.monitor.generation = generation
            log.info("table generation \(generation): the same checks; none interrupted")
            return
        }
        // Checks in flight that the new plan makes the same way carry on
        // under it (so reloads that change other servers, more often than a
        // timeout, cannot keep a check from finishing); the rest are
        // cancelled and run again at once.
        var next = candidate
        var carried = 0
        var lastDeadline = now
        attemptIndex.removeAll(keepingCapacity: true)
        for i in plan.probes.indices where plan.probes[i].fd >= 0 {
            let old = plan.probes[i]
            if let j = next.probeIndex(for: ProbeKey(slot: old.slot, monitor: plan.monitors[old.monitor])),
               next.probes[j].phase == .idle,
               old.sameCheck(as: next.probes[j], monitors: plan.monitors, otherMonitors: next.monitors) {
                next.probes[j].phase = old.phase
                next.probes[j].fd = old.fd
                next.probes[j].attempt = old.attempt
                next.probes[j].startedAt = old.startedAt
                next.probes[j].deadline = old.deadline
                next.probes[j].sent = old.sent
                next.probes[j].received = old.received
                next.probes[j].buffer = old.buffer
                next.probes[j].verdict = old.verdict
                attemptIndex[old.attempt] = j
                carried += 1
                lastDeadline = max(lastDeadline, old.deadline)
            } else {
                ring.queueCancelAndClose(fd: old.fd, userData: UserData(kind: Op.close.rawValue, slot: 0, generation: 0))
            }
            plan.probes[i].fd = -1
        }
        inFlight = carried
        // Receives of cancelled checks may still land in the old buffers, and
        // carried checks use them (and the old request bytes) until they end.
        retiredPlans.append((plan, buffers, lastDeadline + 10_000))
        plan = next
        buffers = .allocate(byteCount: max(1, plan.probes.count) * HealthMonitor.bufferSize, alignment: 8)
        if carried > 0 { log.info("table generation \(generation): \(carried) check\(carried == 1 ? "" : "s") in flight carried over") }
        self.generation = generation
        region.monitor.generation = generation
        region.monitor.serversChecked = UInt64(plan.probes.count)
        // Servers of pools without a monitor are up, whatever an earlier
        // table's monitors said about them.
        for (slot, label) in plan.unmonitored {
            let state = region.server(slot)
            if !state.down.isEmpty {
                state.clear([.byMonitor, .byPassiveCheck])
                record(state, reason: DownReason(.unmonitored))
                log.notice("server \(label) is up: its pool has no health monitor")
            }
        }
        // Carried verdicts decide where they disagree with the bit: a server
        // that lost the one monitor calling it down is up now.
        for server in plan.servers {
            let state = region.server(server.slot)
            let up = server.probes.allSatisfy { plan.probes[$0].verdict.isUp }
            if up && state.down.contains(.byMonitor) {
                state.clear(.byMonitor)
                record(state, reason: DownReason(.checksPassed))
                log.notice("server \(server.label) is up: every monitor it still has says so")
            } else if !up && !state.down.contains(.byMonitor) {
                state.mark(.byMonitor)
                log.warning("server \(server.label) is down: \(state.reason)")
            }
        }
        let monitors = plan.monitors.count
        log.info("checking \(plan.servers.count) server\(plan.servers.count == 1 ? "" : "s") with \(plan.probes.count) probe\(plan.probes.count == 1 ? "" : "s") (\(monitors) monitor\(monitors == 1 ? "" : "s"), table generation \(generation))")
    }

    /// Loads the live table when the supervisor has published a new one.
    mutating func followTable(now: UInt64) {
        let current = region.currentGeneration()
        guard current != generation && current != refusedGeneration else { return }
        guard let d = region.descriptor(of: current) else {
            refusedGeneration = current
            return
        }
        let image: [UInt8]
        do {
            let fd = try Posix.open("/proc/\(d.supervisorPID)/fd/\(d.fd)", flags: O_RDONLY)
            defer { Posix.close(fd) }
            image = try Posix.readAll(fd)
        } catch {
            log.error("cannot open table generation \(current): \(error); still checking generation \(generation)'s servers")
            refusedGeneration = current
            return
        }
        image.withUnsafeBytes { raw in
            do {
                install(try RoutingTableView(validating: raw), generation: current, now: now)
            } catch {
                log.error("table generation \(current) is invalid: \(error); still checking generation \(generation)'s servers")
                refusedGeneration = current
            }
        }
    }

    // MARK: The loop

    mutating func run() throws(PosixError) {
        while !stopping {
            let now = Posix.monotonicMilliseconds()
            followTable(now: now)
            retiredPlans.removeAll { r in
                if r.freeAt <= now { r.plan.release(); r.buffers.deallocate(); return true }
                return false
            }
            takePassiveReports(now: now)
            clearUnmonitored(now: now)
            expireChecks(now: now)
            startDueChecks(now: now)
            try ring.submitAndWait(timeoutMilliseconds: waitLimit(now: now))
            while true {
                let n = ring.harvest(into: completions)
                if n == 0 { break }
                for k in 0..<n { handle(completions[k]) }
            }
        }
    }

    /// Until the next check is due or a deadline passes; at most 100 ms, so
    /// a new table or a passive report is seen soon.
    func waitLimit(now: UInt64) -> UInt64 {
        var due = now + 100
        // At the concurrency limit, due checks wait for a slot: only a
        // deadline (or a completion) can free one.
        let full = inFlight >= concurrency
        for p in plan.probes where !(full && p.phase == .idle) {
            due = min(due, p.phase == .idle ? p.nextDue : p.deadline)
        }
        return due > now ? due - now : 0
    }

    /// A worker's connect to a monitored server failed: the server is down
    /// now (the worker set the bit, reason and time), and the monitor needs
    /// `successful_checks` passing checks before it is up again.
    mutating func takePassiveReports(now: UInt64) {
        for server in plan.servers {
            let state = region.server(server.slot)
            guard state.down.contains(.byPassiveCheck) else { continue }
            if state.mark(.byMonitor).contains(.byMonitor) {
                // Already down by the checks: nothing new.
                state.clear(.byPassiveCheck)
                continue
            }
            for p in server.probes {
                plan.probes[p].verdict.forceDown()
                if plan.probes[p].phase == .idle { plan.probes[p].nextDue = now }
            }
            state.clear(.byPassiveCheck)
            log.warning("server \(server.label) is down: \(state.reason) (a worker's connect failed; \(plan.monitors[plan.probes[server.probes[0]].monitor].successfulChecks) passing checks bring it back)")
        }
    }

    /// A worker routing with an older table may mark a server whose pool has
    /// no monitor now: nothing checks it, so the bit is cleared here (once a
    /// second is soon enough; the list can be long).
    mutating func clearUnmonitored(now: UInt64) {
        guard now >= nextUnmonitoredSweep else { return }
        nextUnmonitoredSweep = now + 1_000
        for (slot, label) in plan.unmonitored where region.server(slot).down.contains(.byPassiveCheck) {
            region.server(slot).clear(.byPassiveCheck)
            log.notice("server \(label) is up: its pool has no health monitor (a worker on an older table marked it)")
        }
    }

    mutating func startDueChecks(now: UInt64) {
        for i in plan.probes.indices where inFlight < concurrency {
            guard plan.probes[i].phase == .idle && plan.probes[i].nextDue <= now else { continue }
            start(i, now: now)
        }
    }

    mutating func expireChecks(now: UInt64) {
        for i in plan.probes.indices where plan.probes[i].phase != .idle && plan.probes[i].deadline <= now {
            let reason = plan.probes[i].phase == .connecting ? DownReason(.connectTimeout) : DownReason(.responseTimeout)
            finish(i, passed: false, reason: reason, now: now)
        }
    }

    mutating func start(_ i: Int, now: UInt64) {
        let monitor = plan.monitors[plan.probes[i].monitor]
        let family = plan.probes[i].address.pointee.family
        let fd: CInt
        do {
            fd = try Posix.socket(family: family, type: CInt(SOCK_STREAM.rawValue) | CInt(SOCK_NONBLOCK.rawValue))
        } catch {
            // Out of descriptors, most likely: try again at the next interval.
            log.error("cannot open a check socket: \(error)")
            plan.probes[i].nextDue = now + UInt64(monitor.intervalMs)
            return
        }
        try? Posix.setOption(fd, level: CInt(IPPROTO_TCP), name: TCP_NODELAY, value: 1)
        nextAttempt = nextAttempt == UInt32.max ? 1 : nextAttempt + 1
        plan.probes[i].attempt = nextAttempt
        plan.probes[i].fd = fd
        plan.probes[i].phase = .connecting
        plan.probes[i].startedAt = now
        plan.probes[i].deadline = now + UInt64(monitor.timeoutMs)
        plan.probes[i].sent = 0
        plan.probes[i].received = 0
        plan.probes[i].buffer = buffers + i * HealthMonitor.bufferSize
        inFlight += 1
        let address = plan.probes[i].address
        let sockaddrPointer = UnsafeRawPointer(address).advanced(by: MemoryLayout<SocketAddress>.offset(of: \.storage)!)
            .assumingMemoryBound(to: sockaddr.self)
        ring.queueConnect(fd: fd, address: sockaddrPointer, length: address.pointee.length, userData: tag(.connect, i))
    }

    func tag(_ op: Op, _ i: Int) -> UserData {
        UserData(kind: op.rawValue, slot: UInt32(i), generation: plan.probes[i].attempt)
    }

    mutating func handle(_ c: Completion) {
        guard let op = Op(rawValue: c.userData.kind), op != .close else { return }
        var i = Int(c.userData.slot)
        if i >= plan.probes.count || plan.probes[i].attempt != c.userData.generation {
            guard let j = attemptIndex[c.userData.generation] else { return }
            i = j
        }
        guard plan.probes[i].attempt == c.userData.generation, plan.probes[i].phase != .idle else { return }
        let now = Posix.monotonicMilliseconds()
        let r = c.result
        switch op {
        case .connect:
            if r < 0 {
                finish(i, passed: false, reason: r == -ECONNREFUSED ? DownReason(.connectRefused) : socketError(r), now: now)
            } else if plan.probes[i].request.count == 0 {
                finish(i, passed: true, reason: DownReason(.checksPassed), now: now)  // TCP: connected is up
            } else {
                plan.probes[i].phase = .sending
                send(i)
            }
        case .send:
            if r <= 0 {
                finish(i, passed: false, reason: r == -EPIPE || r == -ECONNRESET || r == 0 ? DownReason(.closedEarly) : socketError(r), now: now)
                return
            }
            plan.probes[i].sent += Int(r)
            if plan.probes[i].sent < plan.probes[i].request.count {
                send(i)
            } else {
                plan.probes[i].phase = .receiving
                receive(i)
            }
        case .receive:
            if r <= 0 {
                finish(i, passed: false, reason: r == 0 || r == -ECONNRESET ? DownReason(.closedEarly) : socketError(r), now: now)
                return
            }
            plan.probes[i].received += Int(r)
            let bytes = UnsafeRawBufferPointer(start: buffer(i), count: plan.probes[i].received)
            switch parseStatusLine(bytes) {
            case .incomplete:
                if plan.probes[i].received < HealthMonitor.bufferSize {
                    receive(i)
                } else {
                    finish(i, passed: false, reason: DownReason(.malformedResponse), now: now)
                }
            case .malformed:
                finish(i, passed: false, reason: DownReason(.malformedResponse), now: now)
            case .status(let status):
                guard case let .http(_, _, expected) = plan.monitors[plan.probes[i].monitor].check else { return }
                let ok = expected.matches(status)
                finish(i, passed: ok, reason: ok ? DownReason(.checksPassed) : DownReason(.badStatus, detail: status), now: now)
            }
        case .close:
            break
        }
    }

    func buffer(_ i: Int) -> UnsafeMutableRawPointer { plan.probes[i].buffer ?? buffers + i * HealthMonitor.bufferSize }

    mutating func send(_ i: Int) {
        let p = plan.probes[i]
        ring.queueSend(fd: p.fd, from: p.request.baseAddress! + p.sent, count: p.request.count - p.sent, userData: tag(.send, i))
    }

    mutating func receive(_ i: Int) {
        let p = plan.probes[i]
        ring.queueReceive(fd: p.fd, into: buffer(i) + p.received, count: HealthMonitor.bufferSize - p.received,
                          userData: tag(.receive, i))
    }

    func socketError(_ result: Int32) -> DownReason {
        DownReason(.socketError, detail: UInt16(clamping: -result))
    }

    // MARK: Verdicts

    /// Ends probe `i`'s check: closes its socket, applies the result to its
    /// verdict and the server's state, and schedules the next check one
    /// interval after this one started.
    mutating func finish(_ i: Int, passed: Bool, reason: DownReason, now: UInt64) {
        let monitor = plan.monitors[plan.probes[i].monitor]
        if plan.probes[i].fd >= 0 {
            ring.queueCancelAndClose(fd: plan.probes[i].fd, userData: UserData(kind: Op.close.rawValue, slot: 0, generation: 0))
            plan.probes[i].fd = -1
        }
        plan.probes[i].phase = .idle
        if !attemptIndex.isEmpty { attemptIndex[plan.probes[i].attempt] = nil }
        plan.probes[i].attempt = 0
        inFlight -= 1
        plan.probes[i].nextDue = max(plan.probes[i].startedAt + UInt64(monitor.intervalMs), now + 1)
        region.monitor.add(.checks)
        if !passed { region.monitor.add(.checkFailures) }

        let wasUp = plan.probes[i].verdict.isUp
        let failuresBefore = plan.probes[i].verdict.streak
        guard plan.probes[i].verdict.record(passed: passed, successfulChecks: Int(monitor.successfulChecks),
                                            failedChecks: Int(monitor.failedChecks)) else { return }
        guard let s = plan.servers.firstIndex(where: { $0.slot == plan.probes[i].slot }) else { return }
        let server = plan.servers[s]
        let state = region.server(server.slot)
        let serverUp = server.probes.allSatisfy { plan.probes[$0].verdict.isUp }
        if wasUp {
            // This monitor went down, so the server is down.
            guard !state.down.contains(.byMonitor) else { return }
            state.mark(.byMonitor)
            record(state, reason: reason)
            log.warning("server \(server.label) is down: \(reason) (monitor \(monitor.name), \(failuresBefore + 1) consecutive failure\(failuresBefore == 0 ? "" : "s"))")
        } else if serverUp && state.down.contains(.byMonitor) {
            state.clear(.byMonitor)
            record(state, reason: DownReason(.checksPassed, detail: UInt16(monitor.successfulChecks)))
            log.notice("server \(server.label) is up: \(monitor.successfulChecks) consecutive check\(monitor.successfulChecks == 1 ? "" : "s") of monitor \(monitor.name) passed")
        }
    }

    func record(_ state: ServerSlot, reason: DownReason) {
        state.reason = reason
        state.changedAtMs = Posix.wallClockMilliseconds()
        state.add(.stateChanges)
    }
}

let log = Logger(component: "monitor")
