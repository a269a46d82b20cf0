import RoutingTable
import SharedState

/// Everything `tether status` and the admin endpoint show, read from the
/// shared region at one moment (each number is read once, relaxed: a
/// consistent picture of counters that move is neither possible nor needed).
/// Servers are named by the live table; without one, none are listed.
public struct StatusSnapshot: Sendable, Equatable {
    /// Wall-clock milliseconds since the Unix epoch.
    public var takenAtMs: UInt64
    public var supervisorPID: Int32
    public var startedAtMs: UInt64
    /// The live table's generation and when it was published.
    public var generation: UInt64
    public var tableLoadedAtMs: UInt64
    /// The last reload attempt; nil before the first.
    public var lastReload: Reload?
    public var reloadsApplied: UInt64
    public var reloadsRefused: UInt64
    /// Nil when no health monitor has ever registered.
    public var monitor: Monitor?
    /// The generation of the access log file workers are to write to (each
    /// SIGUSR1 reopen, each reload that moves the log, counts one); nil:
    /// no access log.
    public var accessLogGeneration: UInt64?
    public var workers: [Worker]
    public var servers: [Server]

    public struct Reload: Sendable, Equatable {
        public var attempt: UInt64
        public var applied: Bool
        /// The generation live after it.
        public var generation: UInt64
        public var atMs: UInt64
        /// A summary, or the errors of a refused reload, one a line.
        public var message: String

        public init(attempt: UInt64, applied: Bool, generation: UInt64, atMs: UInt64, message: String) {
            self.attempt = attempt
            self.applied = applied
            self.generation = generation
            self.atMs = atMs
            self.message = message
        }
    }

    public struct Monitor: Sendable, Equatable {
        /// 0 while the supervisor restarts it.
        public var pid: Int32
        /// The generation whose servers it checks.
        public var generation: UInt64
        public var startedAtMs: UInt64
        public var checks: UInt64
        public var checkFailures: UInt64
        public var restarts: UInt64

        public init(pid: Int32, generation: UInt64, startedAtMs: UInt64, checks: UInt64, checkFailures: UInt64, restarts: UInt64) {
            self.pid = pid
            self.generation = generation
            self.startedAtMs = startedAtMs
            self.checks = checks
            self.checkFailures = checkFailures
            self.restarts = restarts
        }
    }

    public struct Worker: Sendable, Equatable {
        public var index: Int
        /// 0 while no worker runs in the slot.
        public var pid: Int32
        public var cpu: Int32
        /// The generation it routes new requests with; nil when offline.
        public var generation: UInt64?
        public var startedAtMs: UInt64
        /// The access log file generation it writes to (it has closed the
        /// ones before); 0 before its first report.
        public var accessLogGeneration: UInt64
        /// Indexed by `WorkerSlot.Counter.rawValue`.
        public var counters: [UInt64]

        public init(index: Int, pid: Int32, cpu: Int32, generation: UInt64?, startedAtMs: UInt64,
                    accessLogGeneration: UInt64 = 0, counters: [UInt64]) {
            self.index = index
            self.pid = pid
            self.cpu = cpu
            self.generation = generation
            self.startedAtMs = startedAtMs
            self.accessLogGeneration = accessLogGeneration
            self.counters = counters
        }

        public var online: Bool { generation != nil }
        public subscript(_ c: WorkerSlot.Counter) -> UInt64 { c.rawValue < counters.count ? counters[c.rawValue] : 0 }
    }

    public struct Server: Sendable, Equatable {
        public var pool: String
        public var name: String
        /// "10.0.0.11:8080", "[2001:db8::1]:8080".
        public var address: String
        public var stateSlot: UInt32
        public var enabled: Bool
        public var down: ServerSlot.Down
        public var reason: DownReason
        /// When the state last changed; 0: never (since tether started).
        public var changedAtMs: UInt64
        public var inFlight: UInt32
        public var connectionsOpen: UInt32
        /// Indexed by `ServerSlot.Counter.rawValue`.
        public var counters: [UInt64]

        public init(pool: String, name: String, address: String, stateSlot: UInt32, enabled: Bool, down: ServerSlot.Down,
                    reason: DownReason, changedAtMs: UInt64, inFlight: UInt32, connectionsOpen: UInt32, counters: [UInt64]) {
            self.pool = pool
            self.name = name
            self.address = address
            self.stateSlot = stateSlot
            self.enabled = enabled
            self.down = down
            self.reason = reason
            self.changedAtMs = changedAtMs
            self.inFlight = inFlight
            self.connectionsOpen = connectionsOpen
            self.counters = counters
        }

        public subscript(_ c: ServerSlot.Counter) -> UInt64 { c.rawValue < counters.count ? counters[c.rawValue] : 0 }

        /// "disabled" (by the configuration), "down" (by the health monitor
        /// or a worker's failed connects) or "up".
        public var state: String {
            if !enabled { return "disabled" }
            return down.rawValue != 0 ? "down" : "up"
        }

        /// Who marked it down: "monitor", "passive", both, or none.
        public var downBy: [String] {
            var out: [String] = []
            if down.contains(.byMonitor) { out.append("monitor") }
            if down.contains(.byPassiveCheck) { out.append("passive") }
            return out
        }
    }

    public init(takenAtMs: UInt64, supervisorPID: Int32, startedAtMs: UInt64, generation: UInt64, tableLoadedAtMs: UInt64,
                lastReload: Reload?, reloadsApplied: UInt64, reloadsRefused: UInt64, monitor: Monitor?,
                accessLogGeneration: UInt64? = nil, workers: [Worker], servers: [Server]) {
        self.takenAtMs = takenAtMs
        self.supervisorPID = supervisorPID
        self.startedAtMs = startedAtMs
        self.generation = generation
        self.tableLoadedAtMs = tableLoadedAtMs
        self.lastReload = lastReload
        self.reloadsApplied = reloadsApplied
        self.reloadsRefused = reloadsRefused
        self.monitor = monitor
        self.accessLogGeneration = accessLogGeneration
        self.workers = workers
        self.servers = servers
    }

    /// Reads `region`; `table` (the live one, when the caller could map it)
    /// names the servers.
    public init(region: SharedRegion, table: RoutingTableView?, nowMs: UInt64) {
        let generation = region.currentGeneration()
        let record = region.lastReload()
        // Every applied reload publishes the next generation; every attempt
        // is numbered.
        let applied = generation > 0 ? generation - 1 : 0
        var workers: [Worker] = []
        for i in 0..<region.workerCapacity {
            let slot = region.worker(i)
            let epoch = slot.epoch
            workers.append(Worker(index: i, pid: slot.pid, cpu: slot.cpu,
                                  generation: epoch == WorkerSlot.offline ? nil : epoch,
                                  startedAtMs: slot.startedAtMs, accessLogGeneration: slot.accessLogGeneration,
                                  counters: WorkerSlot.Counter.allCases.map { slot.value($0) }))
        }
        var servers: [Server] = []
        if let table {
            for p in 0..<table.poolCount {
                let pool = table.pool(UInt32(p))
                let poolName = pool.name
                for s in pool.servers {
                    let view = table.server(s)
                    guard Int(view.stateSlot) < region.serverCapacity else { continue }
                    let slot = region.server(view.stateSlot)
                    let address = view.address.family == .v6 ? "[\(view.address)]:\(view.port)" : "\(view.address):\(view.port)"
                    servers.append(Server(pool: poolName, name: view.name, address: address, stateSlot: view.stateSlot,
                                          enabled: view.enabled, down: slot.down, reason: slot.reason,
                                          changedAtMs: slot.changedAtMs, inFlight: slot.inFlight,
                                          connectionsOpen: slot.connectionsOpen,
                                          counters: ServerSlot.Counter.allCases.map { slot.value($0) }))
                }
            }
        }
        let monitor = region.monitor
        let monitorPID = monitor.pid
        let accessLog = region.accessLogFile()
        self.init(
            takenAtMs: nowMs, supervisorPID: region.supervisorPID, startedAtMs: region.startedAtMs,
            generation: generation, tableLoadedAtMs: region.descriptor(of: generation)?.publishedAtMs ?? 0,
            lastReload: record.attempt == 0 ? nil : Reload(attempt: record.attempt, applied: record.outcome == .applied,
                                                            generation: record.generation, atMs: record.atMs,
                                                            message: record.message),
            reloadsApplied: applied, reloadsRefused: record.attempt > applied ? record.attempt - applied : 0,
            // A monitor that has run keeps its counters while it restarts
            // (pid 0): scrapes see its counters continue, not vanish.
            monitor: monitorPID == 0 && monitor.startedAtMs == 0 ? nil : Monitor(pid: monitorPID, generation: monitor.generation,
                                                     startedAtMs: monitor.startedAtMs,
                                                     checks: monitor.value(.checks),
                                                     checkFailures: monitor.value(.checkFailures),
                                                     restarts: monitor.value(.restarts)),
            accessLogGeneration: accessLog.isOpen ? UInt64(accessLog.generation) : nil,
            workers: workers, servers: servers)
    }
}
