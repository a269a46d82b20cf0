import ArgumentParser
import Config
import Glibc
import Posix
import RoutingTable
import Supervisor

/// `tether run -c FILE`: the supervisor, in the foreground. Validates and
/// compiles the configuration (refusing to start with every error), opens
/// the listening sockets and runs one worker process per CPU (`tether
/// worker`, the same binary), restarting any that die.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Serve a configuration in the foreground."
    )

    @Option(name: [.short, .customLong("config")], help: "The configuration file (YAML or JSON).")
    var config: String

    func run() throws {
        // A reload or log reopen asked for while the configuration is still
        // being compiled waits for the supervisor's signalfd instead of
        // killing the process (their default action).
        Posix.blockSignals([SIGHUP, SIGUSR1])
        // Blocked, their default action no longer applies; an ignored one
        // (inherited from a parent) would be discarded before the signalfd.
        for s in [SIGHUP, SIGUSR1] { signal(s, SIG_DFL) }
        let slots = StateSlots(capacity: 65_536)
        let compiled = try CompiledConfiguration(path: config, refusal: "not started", prepare: slots.assign)
        let loaded = compiled.config, image = compiled.image
        let cpus: [Int]
        do {
            cpus = try Posix.cpusInAffinity()
        } catch {
            printError("tether: \(error)")
            throw ExitCode(1)
        }
        let workerCount: Int
        switch loaded.workers {
        case .auto: workerCount = max(1, cpus.count)
        case .fixed(let n): workerCount = n
        }
        let listen = RunCommand.listen(of: loaded)
        let drain = loaded.drainTimeout.components
        let drainMilliseconds = UInt64(drain.seconds) * 1000 + UInt64(drain.attoseconds / 1_000_000_000_000_000)
        var supervisor = SupervisorConfiguration(
            tableImage: image, listen: listen, workerCount: workerCount, cpus: cpus,
            drainTimeoutMilliseconds: drainMilliseconds, runtimeDirectory: loaded.runtimeDirectory,
            workerArguments: WorkerCommand.arguments(for:)
        )
        supervisor.serverSlotCapacity = slots.capacity
        supervisor.monitorArguments = MonitorCommand.arguments(for:)
        supervisor.user = loaded.user
        supervisor.accessLogPath = loaded.accessLog?.path
        supervisor.admin = loaded.admin.map { SocketAddress($0.listen.address, port: $0.listen.port) }
        let path = config
        supervisor.reload = {
            switch CompiledConfiguration.load(path: path, prepare: slots.assign) {
            case .failure(let errors, _):
                return .refused(errors)
            case .success(let compiled, let diagnostics):
                for d in diagnostics { printError(d) }
                let workers: Int
                switch compiled.config.workers {
                case .auto: workers = max(1, cpus.count)
                case .fixed(let n): workers = n
                }
                if compiled.config.runtimeDirectory != loaded.runtimeDirectory {
                    return .refused(["runtime_dir changed: restart tether to apply"])
                }
                return .table(image: compiled.image, listen: RunCommand.listen(of: compiled.config), workerCount: workers,
                              admin: compiled.config.admin.map { SocketAddress($0.listen.address, port: $0.listen.port) },
                              accessLog: compiled.config.accessLog?.path)
            }
        }
        do {
            try runSupervisor(supervisor)
        } catch {
            Logger(component: "supervisor").error("\(error)")
            throw ExitCode(1)
        }
    }
}

extension RunCommand {
    static func listen(of config: TetherConfig) -> [SupervisorConfiguration.Listen] {
        var listen: [SupervisorConfiguration.Listen] = []
        for (service, vs) in config.virtualServices.enumerated() {
            for address in vs.listen {
                listen.append(.init(address: SocketAddress(address.address, port: address.port), service: UInt32(service)))
            }
        }
        return listen
    }
}

/// Server state slots in the shared region, one per server identity (pool
/// name, address, port), assigned once and kept across reloads so that
/// connection counts and down bits follow the server, not its table index.
final class StateSlots {
    let capacity: Int
    private var slots: [String: UInt32] = [:]

    init(capacity: Int) { self.capacity = capacity }

    /// Writes every server's slot into `spec`; a message when the shared
    /// region has no slot left. Nothing is assigned unless all fit.
    func assign(_ spec: inout TableSpec) -> String? {
        var fresh: [String: UInt32] = [:]
        var next = slots.count
        for p in spec.pools.indices {
            for s in spec.pools[p].servers.indices {
                let server = spec.pools[p].servers[s]
                let key = "\(spec.pools[p].name)\u{0}\(server.address)\u{0}\(server.port)"
                if let slot = slots[key] ?? fresh[key] {
                    spec.pools[p].servers[s].stateSlot = slot
                    continue
                }
                guard next < capacity else {
                    return "more than \(capacity) distinct servers since tether started: restart tether to apply"
                }
                fresh[key] = UInt32(next)
                spec.pools[p].servers[s].stateSlot = UInt32(next)
                next += 1
            }
        }
        slots.merge(fresh) { a, _ in a }
        return nil
    }
}
