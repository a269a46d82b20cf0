import CLinux
import Posix
import SharedState

/// What the supervisor needs: the compiled table, where to listen, how many
/// workers on which CPUs, and how to spell a worker's command line.
public struct SupervisorConfiguration {
    /// One listen address of a virtual service (its table index).
    public struct Listen {
        public var address: SocketAddress
        public var service: UInt32

        public init(address: SocketAddress, service: UInt32) {
            self.address = address
            self.service = service
        }
    }

    /// What one worker process gets; its descriptors are already in place
    /// when it starts.
    public struct WorkerLaunch {
        public var index: Int
        public var cpu: Int
        /// The sealed memfd holding the table image.
        public var tableDescriptor: CInt
        /// The generation of that table.
        public var generation: UInt64
        /// The shared state region (`SharedRegion`), mapped shared.
        public var stateDescriptor: CInt
        /// The worker's listening sockets and the service each feeds.
        public var listeners: [(descriptor: CInt, service: UInt32)]
        public var drainTimeoutMilliseconds: UInt64
        public var supervisor: pid_t
        /// The access log file (appending), when there is one.
        public var accessLogDescriptor: CInt?
        /// The generation of that file (or of its absence) in the shared
        /// state: a worker moves to any newer one published there.
        public var accessLogGeneration: UInt32
        /// The worker's holdings record in the shared state (its share of
        /// each server's counts, taken back when it dies); nil: none free.
        public var holdingsRecord: Int?
        /// The claim number stored in its worker slot just before it starts
        /// (`WorkerSlot.claim`); 0: claim unconditionally.
        public var slotClaim: UInt64 = 0
    }

    /// What the health-monitor process gets: the live table (3) and the
    /// shared state (4).
    public struct MonitorLaunch {
        public var tableDescriptor: CInt
        public var generation: UInt64
        public var stateDescriptor: CInt
        public var supervisor: pid_t
    }

    public var tableImage: [UInt8]
    public var listen: [Listen]
    public var workerCount: Int
    /// Worker `i` runs on `cpus[i % cpus.count]`.
    public var cpus: [Int]
    public var drainTimeoutMilliseconds: UInt64
    /// How long past the drain timeout a stopping worker may take before it
    /// is killed.
    public var drainMarginMilliseconds: UInt64 = 2_000
    /// The worker's argv (argv[0] included) for a launch.
    public var workerArguments: (WorkerLaunch) -> [String]
    /// The health monitor's argv; nil runs no monitor (every server stays up).
    public var monitorArguments: ((MonitorLaunch) -> [String])? = nil
    /// The program that runs a worker: this process's own binary.
    public var executable = "/proc/self/exe"
    public var backoff = RespawnBackoff()
    /// Where the shared state (`state`) and the pid file (`tether.pid`) live.
    public var runtimeDirectory: String
    /// Server state slots the shared region holds (reloads may add servers
    /// up to this many distinct identities).
    public var serverSlotCapacity: Int = 65_536
    /// The user to become once every socket and the shared state exist
    /// (workers then start as that user); nil keeps the starting user.
    public var user: String? = nil
    /// SIGHUP: re-reads the configuration; nil refuses every reload.
    public var reload: (() -> ReloadResult)? = nil
    /// Where the admin endpoint listens (`GET /metrics`, `GET /status`); nil: nowhere.
    public var admin: SocketAddress? = nil
    /// The access log file: opened (appending, created 0640) before
    /// privileges drop, and handed to every worker; nil: no access log.
    /// SIGUSR1 opens it again (after log rotation moved it), and every
    /// worker moves to the new file.
    public var accessLogPath: String? = nil

    /// What a reload produced.
    public enum ReloadResult {
        /// A new table, what it listens on, how many workers it wants,
        /// where the admin endpoint listens and the access log's path.
        case table(image: [UInt8], listen: [Listen], workerCount: Int, admin: SocketAddress?, accessLog: String?)
        /// The configuration is invalid: every error, one per element.
        case refused([String])
    }

    public init(
        tableImage: [UInt8], listen: [Listen], workerCount: Int, cpus: [Int],
        drainTimeoutMilliseconds: UInt64, runtimeDirectory: String,
        workerArguments: @escaping (WorkerLaunch) -> [String]
    ) {
        self.runtimeDirectory = runtimeDirectory
        self.tableImage = tableImage
        self.listen = listen
        self.workerCount = workerCount
        self.cpus = cpus
        self.drainTimeoutMilliseconds = drainTimeoutMilliseconds
        self.workerArguments = workerArguments
    }
}

public enum SupervisorError: Error, CustomStringConvertible {
    case cannotListen(String, PosixError)
    case system(PosixError)
    case badConfiguration(String)
    case cannotCreateState(String, PosixError)
    case cannotOpenAccessLog(String, PosixError)

    public var description: String {
        switch self {
        case .cannotListen(let address, let error): return "cannot listen on \(address): \(error)"
        case .system(let error): return "\(error)"
        case .badConfiguration(let message): return message
        case .cannotCreateState(let directory, let error): return "cannot create the shared state in \(directory): \(error)"
        case .cannotOpenAccessLog(let path, let error): return "cannot open the access log \(path): \(error)"
        }
    }
}

/// Runs the supervisor in the foreground until it is told to stop; returns
/// once every worker is gone. It owns the listening sockets (one
/// SO_REUSEPORT socket per worker per address, so a restarted worker takes
/// over its predecessor's queue), starts the workers, restarts any that die
/// and never touches client traffic.
///
/// Signals: SIGTERM or SIGINT drain (each worker stops accepting and
/// finishes its requests; a worker still running after the drain timeout is
/// killed); SIGQUIT kills every worker at once; SIGUSR1 reopens the access
/// log (the file is opened at its path again, and every worker switches to
/// it once its write in flight to the old one completes); SIGHUP reloads: the
/// configuration is read again and, when valid, its table is published as
/// the next generation (workers switch between requests); when not, the old
/// table keeps serving and the errors are logged and recorded. A reload that
/// changes the listen addresses binds the new sockets first (a bind failure
/// refuses it), keeps the sockets of unchanged addresses, and replaces the
/// workers one at a time: each old worker drains once its replacement is up.
public func runSupervisor(_ configuration: SupervisorConfiguration) throws(SupervisorError) {
    var supervisor = try Supervisor(configuration)
    defer { supervisor.closeDescriptors() }
    try supervisor.run()
}

struct Supervisor {
    struct MonitorProcess {
        var pid: pid_t = 0
        var startedAt: UInt64 = 0
        var restartAt: UInt64 = 0
        var backoff = RespawnBackoff()
        var restarts: UInt64 = 0
    }

    struct Slot {
        var pid: pid_t = 0
        var cpu: Int
        var startedAt: UInt64 = 0
        /// A worker has run in this slot: the next start after a death is a restart.
        var everStarted = false
        /// When to start it again; 0 when none is due.
        var restartAt: UInt64 = 0
        var backoff: RespawnBackoff
        /// The supervisor's own copy of this worker's listening sockets.
        var listeners: [CInt] = []
        /// During a listen change: the worker being replaced, still serving
        /// until this slot's replacement is up; 0 when none.
        var predecessor: pid_t = 0
        /// The sockets only the predecessor listens on, closed once it is
        /// told to drain.
        var predecessorListeners: [CInt] = []
    }

    /// A listen change in progress: slots are replaced one at a time.
    struct Replacement {
        /// The slot whose replacement is starting; nil before the first.
        var current: Int? = nil
        /// When `current`'s replacement must be up before it is reported late.
        var deadline: UInt64 = 0
        var reportedLate = false
        /// The slots still to replace, in order.
        var pending: [Int]
        let attempt: UInt64
    }

    enum Phase {
        case running
        /// SIGTERM went to every worker; kill what runs after the deadline.
        case draining(deadline: UInt64)
        /// Everything got SIGKILL; wait this long at most for it to end.
        case killing(deadline: UInt64)
    }

    let configuration: SupervisorConfiguration
    /// What the workers listen on now (a reload may change it).
    var listen: [SupervisorConfiguration.Listen]
    var slots: [Slot] = []
    /// The health monitor: one process, restarted like a worker.
    var monitor = MonitorProcess()
    /// Old workers told to drain after their replacement came up.
    var retiring: [pid_t] = []
    var replacement: Replacement? = nil
    /// How long a replacement worker may take to come up before the log says so.
    static let replacementPatienceMilliseconds: UInt64 = 10_000
    var tableDescriptor: CInt = -1
    var generation: UInt64 = 1
    /// Tables no longer current, kept open until no worker can still open them.
    var retiredTables: [(generation: UInt64, fd: CInt)] = []
    var signalDescriptor: CInt = -1
    var phase = Phase.running
    let notify = SystemdNotify()
    var stateDescriptor: CInt = -1
    var region: SharedRegion? = nil
    /// Which worker process holds which holdings record of `region`.
    var holdings = HoldingsRecords(capacity: 0)
    var pidFile = ""
    var reloadAttempts: UInt64 = 0
    /// The session ticket keys workers share, and when the next one is made.
    var ticketKeys: TicketKeys? = nil
    var nextTicketKeyRotation: UInt64 = 0
    /// Where the admin endpoint listens now, its socket until its thread
    /// takes it, and the thread.
    var adminAddress: SocketAddress? = nil
    var adminListener: CInt = -1
    var admin: AdminServer? = nil
    /// The access log: its path now (a reload may change it), the
    /// supervisor's descriptor of the file workers write to (workers open
    /// it as /proc/PID/fd/FD), and that file's generation.
    var accessLogPath: String?
    var accessLog: CInt = -1
    var accessLogGeneration: UInt32 = 1
    /// The next worker start's slot claim (`WorkerLaunch.slotClaim`).
    var nextSlotClaim: UInt64 = 1

    init(_ configuration: SupervisorConfiguration) throws(SupervisorError) {
        guard configuration.workerCount > 0 else { throw .badConfiguration("no workers to start") }
        guard !configuration.cpus.isEmpty else { throw .badConfiguration("no CPU to run workers on") }
        guard !configuration.listen.isEmpty else { throw .badConfiguration("nothing to listen on") }
        self.configuration = configuration
        self.listen = configuration.listen
        accessLogPath = configuration.accessLogPath
        monitor.backoff = configuration.backoff
        for i in 0..<configuration.workerCount {
            slots.append(Slot(cpu: configuration.cpus[i % configuration.cpus.count], backoff: configuration.backoff))
        }
        do throws(SupervisorError) {
            for i in slots.indices {
                for l in configuration.listen {
                    slots[i].listeners.append(try Supervisor.openListener(l.address))
                }
            }
            if let address = configuration.admin {
                do throws(PosixError) {
                    adminListener = try AdminServer.openListener(address)
                } catch {
                    throw SupervisorError.cannotListen("\(address) (admin)", error)
                }
                adminAddress = address
            }
            if let path = configuration.accessLogPath {
                do throws(PosixError) {
                    accessLog = try Supervisor.openAccessLog(path)
                } catch {
                    throw SupervisorError.cannotOpenAccessLog(path, error)
                }
            }
            tableDescriptor = try wrap { () throws(PosixError) in
                try Posix.sealedMemory(name: "tether-table", bytes: configuration.tableImage)
            }
            try openSharedState()
            Posix.ignoreSignal(SIGPIPE)
            signalDescriptor = try wrap { () throws(PosixError) in
                try Posix.signalDescriptor([SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGCHLD, SIGUSR1])
            }
        } catch {
            closeDescriptors()
            throw error
        }
    }

    /// Creates `runtime_dir/state` (0600), maps it shared, lays out the
    /// region, publishes the first table and writes `runtime_dir/tether.pid`.
    mutating func openSharedState() throws(SupervisorError) {
        let directory = configuration.runtimeDirectory
        let workers = configuration.workerCount
        let size = SharedRegion.size(workers: workers, servers: configuration.serverSlotCapacity)
        let pid = Posix.processID()
        do throws(PosixError) {
            try Posix.makeDirectory(directory)
            // A fresh file renamed over any earlier one: a stale region is
            // never reused, and readers see either the old file or the new.
            let path = directory + "/state"
            let fresh = path + ".\(pid)"
            unlink(fresh)
            stateDescriptor = try Posix.open(fresh, flags: O_RDWR | O_CREAT | O_EXCL, mode: 0o600)
            try Posix.setFileSize(stateDescriptor, bytes: size)
            let base = try Posix.mapShared(stateDescriptor, bytes: size, writable: true)
            let region = SharedRegion.initialize(base, size: size, workers: workers, servers: configuration.serverSlotCapacity,
                                                 supervisorPID: pid, nowMs: Supervisor.wallMilliseconds())
            for i in 0..<workers {
                region.worker(i).announce(epoch: WorkerSlot.offline)
                // Known before the worker runs: status and metrics label it right from the start.
                region.worker(i).cpu = Int32(slots[i].cpu)
            }
            let keys = TicketKeys(current: try Posix.randomBytes(TicketKeys.keySize), previous: nil,
                                  rotatedAtMs: Supervisor.wallMilliseconds())
            region.publish(keys)
            ticketKeys = keys
            nextTicketKeyRotation = Posix.monotonicMilliseconds() + TicketKeys.rotationIntervalMilliseconds
            region.publish(TableDescriptor(generation: 1, supervisorPID: pid, fd: tableDescriptor,
                                           size: UInt64(configuration.tableImage.count), publishedAtMs: Supervisor.wallMilliseconds()))
            region.publish(AccessLogFile(generation: accessLogGeneration, fd: accessLog))
            self.region = region
            holdings = HoldingsRecords(capacity: region.holdingsCapacity)
            if rename(fresh, path) != 0 { throw PosixError("rename", errno: tether_errno()) }
            pidFile = directory + "/tether.pid"
            let pidFD = try Posix.open(pidFile, flags: O_WRONLY | O_CREAT | O_TRUNC, mode: 0o644)
            defer { Posix.close(pidFD) }
            var text = "\(pid)\n"
            var failure: PosixError? = nil
            text.withUTF8 { b in
                do throws(PosixError) { try Posix.writeAll(pidFD, UnsafeRawBufferPointer(b)) } catch { failure = error }
            }
            if let failure { throw failure }
        } catch {
            throw .cannotCreateState(directory, error)
        }
    }

    static func wallMilliseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UInt64(ts.tv_sec) * 1000 + UInt64(ts.tv_nsec) / 1_000_000
    }

    /// A socket bound to `address` and listening, SO_REUSEPORT so that each
    /// worker has its own accept queue. `listening: false` only binds it
    /// (the address is taken, a conflict is found now), and `start` makes it
    /// listen just before its worker starts: a socket in the SO_REUSEPORT
    /// group gets its share of new connections from the moment it listens,
    /// so it must not listen before a worker will accept from it.
    static func openListener(_ address: SocketAddress, listening: Bool = true) throws(SupervisorError) -> CInt {
        do {
            return try bindListener(address, listening: listening)
        } catch {
            throw .cannotListen("\(address)", error)
        }
    }

    static func bindListener(_ address: SocketAddress, listening: Bool = true) throws(PosixError) -> CInt {
        let v6 = address.storage.ss_family == sa_family_t(AF_INET6)
        let fd = try Posix.socket(family: v6 ? AF_INET6 : AF_INET, type: CInt(SOCK_STREAM.rawValue))
        do {
            try Posix.setOption(fd, level: SOL_SOCKET, name: SO_REUSEADDR, value: 1)
            try Posix.setOption(fd, level: SOL_SOCKET, name: SO_REUSEPORT, value: 1)
            try Posix.setOption(fd, level: CInt(IPPROTO_TCP), name: TCP_NODELAY, value: 1)
            if v6 { try Posix.setOption(fd, level: CInt(IPPROTO_IPV6), name: IPV6_V6ONLY, value: 1) }
            try Posix.bind(fd, address)
            if listening { try Posix.listen(fd, backlog: SOMAXCONN) }
        } catch {
            Posix.close(fd)
            throw error
        }
        return fd
    }

    mutating func closeDescriptors() {
        admin?.stop()
        admin = nil
        if adminListener >= 0 { Posix.close(adminListener); adminListener = -1 }
        if accessLog >= 0 { Posix.close(accessLog); accessLog = -1 }
        stopListening()
        if tableDescriptor >= 0 { Posix.close(tableDescriptor); tableDescriptor = -1 }
        for t in retiredTables { Posix.close(t.fd) }
        retiredTables = []
        if stateDescriptor >= 0 { Posix.close(stateDescriptor); stateDescriptor = -1 }
        if !pidFile.isEmpty { unlink(pidFile); pidFile = "" }
        if signalDescriptor >= 0 { Posix.close(signalDescriptor); signalDescriptor = -1 }
    }

    // MARK: The loop

    /// `user:`: after binding and creating the shared state as the starting
    /// user, become `user`; the state file and pid file become its own.
    func dropPrivileges(to user: String) throws(SupervisorError) {
        let found: (uid: uid_t, gid: gid_t)?
        do throws(PosixError) { found = try Posix.lookUpUser(user) } catch {
            throw SupervisorError.badConfiguration("user: cannot look up '\(user)': \(error)")
        }
        guard let (uid, gid) = found else { throw SupervisorError.badConfiguration("user: no user named '\(user)'") }
        do throws(PosixError) {
            try Posix.changeOwner(stateDescriptor, uid: uid, gid: gid)
            // A log file root owns could not be opened again after a
            // rotation (SIGUSR1) by the user the supervisor becomes: it
            // passes to that user, keeping its group.
            if accessLog >= 0, uid != 0, (try? Posix.fileOwner(accessLog)) == 0 {
                try Posix.changeOwner(accessLog, uid: uid, gid: gid_t.max)
            }
            try Posix.becomeUser(user, uid: uid, gid: gid)
            log.notice("running as user \(user) (uid \(uid), gid \(gid))")
        } catch {
            throw SupervisorError.badConfiguration("user: cannot become '\(user)': \(error)")
        }
    }

    mutating func run() throws(SupervisorError) {
        let migration = ListenerMigration.enable()
        log.write(migration.level, { migration.message }, [:])
        if let user = configuration.user { try dropPrivileges(to: user) }
        if adminListener >= 0, let address = adminAddress {
            // startAdmin owns the socket from here, closing it if it fails.
            let listener = adminListener
            adminListener = -1
            try startAdmin(listener: listener, address: address, table: configuration.tableImage)
        }
        let now = Posix.monotonicMilliseconds()
        for i in slots.indices { start(i, now: now) }
        startMonitor(now: now)
        let addresses = listen.map { "\($0.address)" }.joined(separator: ", ")
        log.notice("ready: \(slots.count) worker\(slots.count == 1 ? "" : "s") listening on \(addresses)")
        notify.ready(status: "\(slots.count) worker\(slots.count == 1 ? "" : "s") listening on \(addresses)")

        while true {
            _ = try wrap { () throws(PosixError) in
                try Posix.waitReadable(signalDescriptor, timeoutMilliseconds: waitLimit())
            }
            while let signal = try wrap({ () throws(PosixError) in try Posix.readSignal(signalDescriptor) }) {
                try handle(signal: signal)
            }
            while let (pid, exit) = try wrap({ () throws(PosixError) in try Posix.reapChild() }) {
                ended(pid: pid, exit: exit)
            }
            let now = Posix.monotonicMilliseconds()
            reclaimTables()
            if now >= nextTicketKeyRotation { rotateTicketKeys(now: now) }
            switch phase {
            case .running:
                for i in slots.indices where slots[i].pid == 0 && slots[i].restartAt != 0 && slots[i].restartAt <= now {
                    start(i, now: now)
                }
                if monitor.pid == 0 && monitor.restartAt != 0 && monitor.restartAt <= now { startMonitor(now: now) }
                advanceReplacement(now: now)
            case .draining(let deadline):
                if runningCount == 0 { log.notice("stopped"); return }
                if now >= deadline {
                    log.warning("\(runningCount) worker\(runningCount == 1 ? "" : "s") still running after the drain timeout; killing")
                    try killAll()
                }
            case .killing(let deadline):
                if runningCount == 0 { log.notice("stopped"); return }
                if now >= deadline {
                    log.error("\(runningCount) worker\(runningCount == 1 ? "" : "s") did not end after SIGKILL; exiting anyway")
                    return
                }
            }
        }
    }

    var runningCount: Int {
        slots.reduce(0) { $0 + ($1.pid != 0 ? 1 : 0) + ($1.predecessor != 0 ? 1 : 0) } + retiring.count
            + (monitor.pid != 0 ? 1 : 0)
    }

    /// Every child alive: workers (current, awaiting replacement, draining)
    /// and the health monitor.
    var runningPIDs: [pid_t] {
        (slots.flatMap { [$0.pid, $0.predecessor] } + [monitor.pid]).filter { $0 != 0 } + retiring
    }

    /// Milliseconds until the next restart or deadline; -1 when nothing is due.
    func waitLimit() -> CInt {
        let now = Posix.monotonicMilliseconds()
        var due = UInt64.max
        switch phase {
        case .running:
            for s in slots where s.pid == 0 && s.restartAt != 0 { due = min(due, s.restartAt) }
            if monitor.pid == 0 && monitor.restartAt != 0 { due = min(due, monitor.restartAt) }
            if replacement != nil { due = min(due, now + 20) }  // poll for the replacement being up
        case .draining(let deadline), .killing(let deadline):
            due = deadline
        }
        if !retiredTables.isEmpty { due = min(due, now + 100) }  // poll for reclamation
        due = min(due, nextTicketKeyRotation)
        if due == .max { return -1 }
        // The coarse clock ticks every few milliseconds: never wait less than one tick.
        return CInt(min(due > now ? due - now : 0, 60_000)) + 1
    }

    /// A new current session ticket key; the old one is kept for tickets
    /// already issued with it. Workers take both at their next loop turn.
    mutating func rotateTicketKeys(now: UInt64) {
        nextTicketKeyRotation = now + TicketKeys.rotationIntervalMilliseconds
        guard let region, let old = ticketKeys else { return }
        do {
            let keys = TicketKeys(current: try Posix.randomBytes(TicketKeys.keySize), previous: old.current,
                                  rotatedAtMs: Supervisor.wallMilliseconds())
            region.publish(keys)
            ticketKeys = keys
        } catch {
            log.error("cannot make a new session ticket key: \(error); keeping the current one")
        }
    }

    mutating func handle(signal: CInt) throws(SupervisorError) {
        switch signal {
        case SIGTERM, SIGINT:
            guard case .running = phase else { return }
            notify.stopping()
            let workers = runningCount - (monitor.pid != 0 ? 1 : 0)
            log.notice("\(signal == SIGTERM ? "SIGTERM" : "SIGINT"): draining \(workers) worker\(workers == 1 ? "" : "s") (drain timeout \(configuration.drainTimeoutMilliseconds) ms)")
            stopListening()
            let deadline = Posix.monotonicMilliseconds() + configuration.drainTimeoutMilliseconds + configuration.drainMarginMilliseconds
            phase = .draining(deadline: deadline)
            replacement = nil
            for i in slots.indices { slots[i].restartAt = 0 }
            monitor.restartAt = 0
            for pid in runningPIDs {
                _ = try wrap { () throws(PosixError) in try Posix.sendSignal(SIGTERM, to: pid) }
            }
        case SIGQUIT:
            notify.stopping()
            log.notice("SIGQUIT: killing every worker")
            stopListening()
            try killAll()
        case SIGHUP:
            guard case .running = phase else { return }
            notify.reloading(monotonicMicroseconds: Posix.monotonicMilliseconds() * 1000)
            reload()
            notify.reloaded(status: "generation \(generation)")
        case SIGUSR1:
            reopenAccessLog()
        default:
            break  // SIGCHLD: the reaping after every wake handles it.
        }
    }

    /// Closes the supervisor's copies of the listening sockets: once the
    /// workers close theirs, new connections are refused rather than queued
    /// where nobody accepts them.
    mutating func stopListening() {
        for i in slots.indices {
            for fd in slots[i].listeners + slots[i].predecessorListeners { Posix.close(fd) }
            slots[i].listeners = []
            slots[i].predecessorListeners = []
        }
    }

    mutating func killAll() throws(SupervisorError) {
        replacement = nil
        for i in slots.indices { slots[i].restartAt = 0 }
        monitor.restartAt = 0
        for pid in runningPIDs {
            _ = try wrap { () throws(PosixError) in try Posix.sendSignal(SIGKILL, to: pid) }
        }
        phase = .killing(deadline: Posix.monotonicMilliseconds() + 5_000)
    }

    // MARK: Reloads

    /// Reads the configuration again; publishes its table as the next
    /// generation, or keeps the current one and records why.
    mutating func reload() {
        guard let region else { return }
        reloadAttempts += 1
        let attempt = reloadAttempts
        func refuse(_ errors: [String]) {
            for e in errors { log.error("reload refused: \(e)") }
            log.error("reload \(attempt) refused; generation \(generation) keeps serving")
            region.record(ReloadRecord(attempt: attempt, outcome: .refused, generation: generation,
                                       atMs: Supervisor.wallMilliseconds(), message: errors.joined(separator: "\n")))
        }
        guard let load = configuration.reload else {
            refuse(["this supervisor was started without a configuration file to reload"])
            return
        }
        switch load() {
        case .refused(let errors):
            refuse(errors.isEmpty ? ["the configuration is invalid"] : errors)
        case .table(let image, let newListen, let workerCount, let newAdmin, let newAccessLogPath):
            if workerCount != configuration.workerCount {
                refuse(["workers changed from \(configuration.workerCount) to \(workerCount): restart tether to apply"])
                return
            }
            let listenChanged = listen.map { "\($0.address)/\($0.service)" } != newListen.map { "\($0.address)/\($0.service)" }
            if listenChanged && replacement != nil {
                refuse(["the previous listen change is still replacing workers: reload again once it is done"])
                return
            }
            if listenChanged && newListen.isEmpty {
                refuse(["nothing to listen on"])
                return
            }
            // Each replacement worker needs a holdings record while the worker
            // it replaces drains; the shared state has three per worker slot.
            if listenChanged && holdings.freeCount < slots.count {
                refuse(["workers replaced by an earlier listen change are still draining (pids \(retiring.map { "\($0)" }.joined(separator: ", "))): reload again once they have exited, at most drain_timeout from their replacement"])
                return
            }
            // Every new socket and file is open before anything changes: a
            // bind failure, or an access log that cannot be opened, leaves
            // the running workers, their sockets and their file as they are.
            let accessLogChanged = newAccessLogPath != accessLogPath
            var newAccessLog: CInt = -1
            if accessLogChanged, let path = newAccessLogPath {
                do throws(PosixError) {
                    newAccessLog = try Supervisor.openAccessLog(path)
                } catch {
                    refuse(["\(SupervisorError.cannotOpenAccessLog(path, error))"])
                    return
                }
            }
            let adminChanged = newAdmin.map { "\($0)" } != adminAddress.map { "\($0)" }
            var newAdminListener: CInt = -1
            if adminChanged, let address = newAdmin {
                do throws(PosixError) {
                    newAdminListener = try AdminServer.openListener(address)
                } catch {
                    if newAccessLog >= 0 { Posix.close(newAccessLog) }
                    refuse(["\(SupervisorError.cannotListen("\(address) (admin)", error))"])
                    return
                }
            }
            var next: [[CInt]] = []
            if listenChanged {
                do throws(SupervisorError) {
                    next = try openListeners(for: newListen)
                } catch {
                    if newAdminListener >= 0 { Posix.close(newAdminListener) }
                    if newAccessLog >= 0 { Posix.close(newAccessLog) }
                    refuse([error.description])
                    return
                }
            }
            let fd: CInt
            do {
                fd = try Posix.sealedMemory(name: "tether-table", bytes: image)
            } catch {
                if listenChanged { closeOpened(next) }
                if newAdminListener >= 0 { Posix.close(newAdminListener) }
                if newAccessLog >= 0 { Posix.close(newAccessLog) }
                refuse(["cannot store the new table: \(error)"])
                return
            }
            retiredTables.append((generation, tableDescriptor))
            tableDescriptor = fd
            generation += 1
            region.publish(TableDescriptor(generation: generation, supervisorPID: Posix.processID(), fd: fd,
                                           size: UInt64(image.count), publishedAtMs: Supervisor.wallMilliseconds()))
            region.record(ReloadRecord(attempt: attempt, outcome: .applied, generation: generation,
                                       atMs: Supervisor.wallMilliseconds(), message: "generation \(generation): \(image.count) bytes"
                                           + (listenChanged ? "; listening on \(newListen.map { "\($0.address)" }.joined(separator: ", ")), workers replaced one at a time" : "")
                                           + (accessLogChanged ? "; access log \(newAccessLogPath ?? "off")" : "")))
            log.notice("reload \(attempt) applied: generation \(generation) (\(image.count) bytes)")
            if accessLogChanged {
                accessLogPath = newAccessLogPath
                publishAccessLog(newAccessLog)
                log.notice("reload \(attempt): access log \(newAccessLogPath.map { "now \($0)" } ?? "off") (file generation \(accessLogGeneration))")
            }
            // Wake every worker now rather than at its next idle tick.
            wakeChildren()
            admin?.update(table: image, generation: generation)
            if adminChanged { moveAdmin(to: newAdmin, listener: newAdminListener, table: image) }
            if listenChanged { beginReplacement(listen: newListen, listeners: next, attempt: attempt) }
            reclaimTables()
        }
    }

    // MARK: The access log

    /// The access log at `path`, for appending (created 0640).
    static func openAccessLog(_ path: String) throws(PosixError) -> CInt {
        try Posix.open(path, flags: O_WRONLY | O_APPEND | O_CREAT, mode: 0o640)
    }

    /// SIGUSR1: opens the access log at its path again (a rotation moved
    /// the old file away) and hands it to every worker. A file that cannot
    /// be opened leaves every worker writing to the one it has.
    mutating func reopenAccessLog() {
        guard let path = accessLogPath else {
            log.notice("SIGUSR1: no access log to reopen")
            return
        }
        let fd: CInt
        do throws(PosixError) {
            fd = try Supervisor.openAccessLog(path)
        } catch {
            log.error("SIGUSR1: \(SupervisorError.cannotOpenAccessLog(path, error)); workers keep writing to the file they have")
            return
        }
        publishAccessLog(fd)
        log.notice("SIGUSR1: access log \(path) reopened (file generation \(accessLogGeneration))")
        wakeChildren()
    }

    /// Makes `fd` (-1: none) the access log file workers write to. Its
    /// generation is published before the old descriptor closes, so a
    /// worker that still reads the old generation and opens its number
    /// sees, when it reads the generation again, that it changed.
    mutating func publishAccessLog(_ fd: CInt) {
        let old = accessLog
        accessLog = fd
        accessLogGeneration &+= 1
        region?.publish(AccessLogFile(generation: accessLogGeneration, fd: fd))
        if old >= 0 { Posix.close(old) }
    }

    /// Every child looks at the shared state now rather than at its next idle tick.
    func wakeChildren() {
        for pid in runningPIDs { _ = try? Posix.sendSignal(SIGWINCH, to: pid) }
    }

    // MARK: The admin endpoint

    /// Starts the admin endpoint's thread on `listener` (which it then owns).
    mutating func startAdmin(listener: CInt, address: SocketAddress, table: [UInt8]) throws(SupervisorError) {
        guard let region else { return }
        do throws(PosixError) {
            admin = try AdminServer(region: region, listener: listener, table: table, generation: generation)
        } catch {
            Posix.close(listener)
            throw .system(error)
        }
        log.notice("admin endpoint on \(address): GET /metrics, GET /status")
    }

    /// A reload moved the admin endpoint to `address` (bound to `listener`)
    /// or, with nil, removed it.
    mutating func moveAdmin(to address: SocketAddress?, listener: CInt, table: [UInt8]) {
        adminAddress = address
        guard let address else {
            admin?.replace(listener: -1)
            log.notice("admin endpoint closed")
            return
        }
        if let admin {
            admin.replace(listener: listener)
            log.notice("admin endpoint moved to \(address)")
            return
        }
        do throws(SupervisorError) {
            try startAdmin(listener: listener, address: address, table: table)
        } catch {
            adminAddress = nil
            log.error("admin endpoint on \(address) not started: \(error)")
        }
    }

    /// The sockets each slot needs for `newListen`: an address already
    /// listened on keeps its socket (and the connections queued on it), a new
    /// one is bound now. Throws, with nothing left open, when one cannot be.
    func openListeners(for newListen: [SupervisorConfiguration.Listen]) throws(SupervisorError) -> [[CInt]] {
        var out: [[CInt]] = []
        do throws(SupervisorError) {
            for slot in slots {
                var taken = [Bool](repeating: false, count: listen.count)
                var fds: [CInt] = []
                for l in newListen {
                    let key = "\(l.address)"
                    if let k = listen.indices.first(where: { !taken[$0] && "\(listen[$0].address)" == key && $0 < slot.listeners.count }) {
                        taken[k] = true
                        fds.append(slot.listeners[k])
                    } else {
                        do throws(SupervisorError) {
                            // Listening only once this slot's replacement starts.
                            fds.append(try Supervisor.openListener(l.address, listening: false))
                        } catch {
                            out.append(fds)
                            throw error
                        }
                    }
                }
                out.append(fds)
            }
        } catch {
            closeOpened(out)
            throw error
        }
        return out
    }

    /// Closes the sockets in `sets` that no slot listens on now.
    func closeOpened(_ sets: [[CInt]]) {
        let current = Set(slots.flatMap { $0.listeners })
        for fd in sets.joined() where !current.contains(fd) { Posix.close(fd) }
    }

    /// Switches every slot to its new sockets and starts replacing the
    /// workers one at a time (`advanceReplacement`).
    mutating func beginReplacement(listen newListen: [SupervisorConfiguration.Listen], listeners: [[CInt]], attempt: UInt64) {
        let addresses = newListen.map { "\($0.address)" }.joined(separator: ", ")
        log.notice("reload \(attempt): listening on \(addresses); replacing \(slots.count) worker\(slots.count == 1 ? "" : "s") one at a time")
        listen = newListen
        for i in slots.indices {
            let kept = Set(listeners[i])
            slots[i].predecessorListeners = slots[i].listeners.filter { !kept.contains($0) }
            slots[i].listeners = listeners[i]
        }
        replacement = Replacement(pending: Array(slots.indices), attempt: attempt)
        advanceReplacement(now: Posix.monotonicMilliseconds())
    }

    /// One step of a listen change: once the current slot's new worker is up
    /// (its shared slot shows its pid and a live epoch), its predecessor is
    /// told to drain and the next slot's replacement starts.
    mutating func advanceReplacement(now: UInt64) {
        guard var r = replacement, let region else { return }
        defer { replacement = r.pending.isEmpty && r.current == nil ? nil : r }
        while true {
            if let i = r.current {
                let pid = slots[i].pid
                let up = pid != 0 && region.worker(i).pid == pid && region.worker(i).epoch != WorkerSlot.offline
                if !up {
                    if now >= r.deadline && !r.reportedLate {
                        r.reportedLate = true
                        log.warning("worker \(i)'s replacement is not up after \(Supervisor.replacementPatienceMilliseconds) ms; its predecessor keeps serving until it is")
                    }
                    return
                }
                retirePredecessor(i)
                r.current = nil
            }
            guard !r.pending.isEmpty else {
                log.notice("reload \(r.attempt): every worker replaced; listening on \(listen.map { "\($0.address)" }.joined(separator: ", "))")
                return
            }
            let i = r.pending.removeFirst()
            r.current = i
            r.deadline = now + Supervisor.replacementPatienceMilliseconds
            r.reportedLate = false
            slots[i].predecessor = slots[i].pid
            slots[i].pid = 0
            slots[i].backoff = configuration.backoff
            start(i, now: now)
        }
    }

    /// Tells slot `i`'s replaced worker to drain and closes the sockets only it used.
    mutating func retirePredecessor(_ i: Int) {
        let old = slots[i].predecessor
        if old != 0 {
            log.info("worker \(i) replaced by pid \(slots[i].pid); draining pid \(old)")
            _ = try? Posix.sendSignal(SIGTERM, to: old)
            retiring.append(old)
        }
        slots[i].predecessor = 0
        for fd in slots[i].predecessorListeners { Posix.close(fd) }
        slots[i].predecessorListeners = []
    }

    /// Closes the tables no running worker can still be about to open.
    mutating func reclaimTables() {
        guard let region, !retiredTables.isEmpty else { return }
        let oldest = region.oldestGenerationInUse()
        retiredTables.removeAll { t in
            if t.generation < oldest { Posix.close(t.fd); return true }
            return false
        }
    }

    // MARK: Workers

    mutating func start(_ i: Int, now: UInt64) {
        slots[i].restartAt = 0
        // A listen change's new sockets were only bound; listening again on
        // one that listens already just keeps it.
        for fd in slots[i].listeners {
            do throws(PosixError) { try Posix.listen(fd, backlog: SOMAXCONN) } catch {
                log.error("worker \(i): a listening socket could not listen: \(error)")
            }
        }
        let record = holdings.take()
        if record == nil {
            log.error("worker \(i) starts without a holdings record (all \(region?.holdingsCapacity ?? 0) are held): if it dies, its requests and connections keep counting against their servers")
        }
        // The worker's descriptors: 3 is the table, 4 the shared state, 5... its
        // listeners, then the access log.
        let launch = SupervisorConfiguration.WorkerLaunch(
            index: i, cpu: slots[i].cpu, tableDescriptor: 3, generation: generation, stateDescriptor: 4,
            listeners: listen.enumerated().map { (CInt(5 + $0.offset), $0.element.service) },
            drainTimeoutMilliseconds: configuration.drainTimeoutMilliseconds,
            supervisor: Posix.processID(),
            accessLogDescriptor: accessLog >= 0 ? CInt(5 + slots[i].listeners.count) : nil,
            accessLogGeneration: accessLogGeneration,
            holdingsRecord: record,
            slotClaim: nextSlotClaim
        )
        // Before the start: from now on only this worker may claim slot i.
        region?.worker(i).claim = nextSlotClaim
        nextSlotClaim += 1
        do {
            let pid = try Posix.spawn(
                configuration.executable, arguments: configuration.workerArguments(launch),
                descriptors: [tableDescriptor, stateDescriptor] + slots[i].listeners + (accessLog >= 0 ? [accessLog] : []),
                defaultSignals: [SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGCHLD, SIGPIPE],
                // Ignored by workers and the monitor once started; a
                // `systemctl kill -s USR1` must not kill one still starting.
                blockedSignals: [SIGUSR1]
            )
            slots[i].pid = pid
            slots[i].startedAt = now
            if let record { holdings.assign(record, to: pid) }
            if let region {
                let shared = region.worker(i)
                shared.startedAtMs = Supervisor.wallMilliseconds()
                if slots[i].everStarted && slots[i].predecessor == 0 { shared.add(.restarts) }
            }
            slots[i].everStarted = true
            log.info("worker \(i) started: pid \(pid), cpu \(slots[i].cpu)")
        } catch {
            if let record { holdings.putBack(record) }
            log.error("worker \(i) could not start: \(error)")
            scheduleRestart(i, now: now, startedAt: now)
        }
    }

    mutating func ended(pid: pid_t, exit: ChildExit) {
        if pid == monitor.pid {
            monitorEnded(exit: exit)
            return
        }
        takeBackHoldings(of: pid, exit: exit)
        if let k = retiring.firstIndex(of: pid) {
            retiring.remove(at: k)
            if exit != .exited(0) { log.warning("replaced worker (pid \(pid)) \(exit) while draining") }
            return
        }
        if let i = slots.firstIndex(where: { $0.predecessor == pid }) {
            // Its replacement takes over the slot; nothing to restart.
            slots[i].predecessor = 0
            log.warning("worker \(i)'s predecessor (pid \(pid)) \(exit) before its replacement was up")
            return
        }
        guard let i = slots.firstIndex(where: { $0.pid == pid }) else { return }
        slots[i].pid = 0
        if let region {
            let shared = region.worker(i)
            shared.announce(epoch: WorkerSlot.offline)  // never blocks reclamation
            // Its connections died with it; the slot's next worker counts its own.
            shared.pid = 0
            shared.set(.connectionsOpen, 0)
        }
        guard case .running = phase else {
            if exit != .exited(0) { log.warning("worker \(i) (pid \(pid)) \(exit) while stopping") }
            return
        }
        let now = Posix.monotonicMilliseconds()
        let lived = now - slots[i].startedAt
        log.write(exit == .exited(0) ? .warning : .error, { "worker \(i) (pid \(pid)) \(exit) after \(lived) ms" }, [:])
        scheduleRestart(i, now: now, startedAt: slots[i].startedAt)
    }

    /// A worker process is gone: what it still held in the server slots
    /// (after a SIGKILL or a crash: every request it had in flight and every
    /// server connection it had open) stops counting against its servers,
    /// and its record is free for the next worker. A worker that exits
    /// cleanly has closed everything; whatever it left is taken back too.
    mutating func takeBackHoldings(of pid: pid_t, exit: ChildExit) {
        guard let region, let record = holdings.release(pid) else { return }
        let taken = region.takeBackHoldings(record)
        guard taken.requests > 0 || taken.connections > 0 else { return }
        let held = "held \(taken.requests) request\(taken.requests == 1 ? "" : "s") in flight and \(taken.connections) server connection\(taken.connections == 1 ? "" : "s")"
        if exit == .exited(0) {
            log.warning("worker pid \(pid) exited but still \(held); they no longer count against their servers")
        } else {
            log.notice("worker pid \(pid) (\(exit)) \(held); they no longer count against their servers")
        }
    }

    // MARK: The health monitor

    mutating func startMonitor(now: UInt64) {
        monitor.restartAt = 0
        guard let arguments = configuration.monitorArguments else { return }
        let launch = SupervisorConfiguration.MonitorLaunch(
            tableDescriptor: 3, generation: generation, stateDescriptor: 4, supervisor: Posix.processID())
        do {
            let pid = try Posix.spawn(
                configuration.executable, arguments: arguments(launch),
                descriptors: [tableDescriptor, stateDescriptor],
                defaultSignals: [SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGCHLD, SIGPIPE],
                // Ignored by workers and the monitor once started; a
                // `systemctl kill -s USR1` must not kill one still starting.
                blockedSignals: [SIGUSR1]
            )
            monitor.pid = pid
            monitor.startedAt = now
            region?.monitor.pid = pid
            log.info("health monitor started: pid \(pid)")
        } catch {
            log.error("health monitor could not start: \(error)")
            scheduleMonitorRestart(now: now, startedAt: now)
        }
    }

    /// The monitor died: server states stay as it left them in the shared
    /// memory (workers keep routing by them) until its successor, which
    /// starts from those states, checks again.
    mutating func monitorEnded(exit: ChildExit) {
        let pid = monitor.pid
        monitor.pid = 0
        region?.monitor.pid = 0
        region?.monitor.generation = WorkerSlot.offline  // never blocks reclamation
        guard case .running = phase else {
            if exit != .exited(0) && exit != .signaled(SIGTERM) { log.warning("health monitor (pid \(pid)) \(exit) while stopping") }
            return
        }
        let now = Posix.monotonicMilliseconds()
        log.error("health monitor (pid \(pid)) \(exit) after \(now - monitor.startedAt) ms; server states are kept")
        monitor.restarts += 1
        region?.monitor.add(.restarts)
        scheduleMonitorRestart(now: now, startedAt: monitor.startedAt)
    }

    mutating func scheduleMonitorRestart(now: UInt64, startedAt: UInt64) {
        let decision = monitor.backoff.died(at: now, startedAt: startedAt)
        monitor.restartAt = now + decision.delayMilliseconds
        log.info("health monitor restarting in \(decision.delayMilliseconds) ms\(decision.crashLoop ? " (crash-looping: \(decision.recentDeaths) deaths)" : "")")
    }

    mutating func scheduleRestart(_ i: Int, now: UInt64, startedAt: UInt64) {
        let decision = slots[i].backoff.died(at: now, startedAt: startedAt)
        slots[i].restartAt = now + decision.delayMilliseconds
        if decision.crashLoop {
            log.error("worker \(i) is crash-looping (\(decision.recentDeaths) deaths within \(slots[i].backoff.crashLoopWindowMilliseconds / 1000) s); restarting in \(decision.delayMilliseconds) ms")
        } else {
            log.info("worker \(i) restarting in \(decision.delayMilliseconds) ms")
        }
    }
}

@inline(__always)
func wrap<R>(_ body: () throws(PosixError) -> R) throws(SupervisorError) -> R {
    do { return try body() } catch { throw .system(error) }
}

let log = Logger(component: "supervisor")
