import ArgumentParser
import CLinux
import Posix
import SharedState
import Supervisor
import Worker

/// `tether worker`: one worker process, started by `tether run` with its
/// table and listening sockets already open (not for people to run).
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "One worker process (started by `tether run`).",
        shouldDisplay: false
    )

    @Option(help: "The worker's index.") var index: Int
    @Option(help: "The CPU to pin the worker to.") var cpu: Int
    @Option(help: "The inherited descriptor holding the table image.") var tableFd: CInt
    @Option(help: "The generation of that table.") var generation: UInt64
    @Option(help: "The inherited descriptor of the shared state region.") var stateFd: CInt
    @Option(help: "An inherited listening socket and its virtual service: FD:SERVICE.") var listener: [String]
    @Option(help: "The drain timeout in milliseconds.") var drainMs: UInt64
    @Option(help: "The supervisor's pid; the worker stops when it is gone.") var supervisor: Int32
    @Option(help: "The inherited descriptor of the access log, if there is one.") var accessLogFd: CInt?

    static func arguments(for launch: SupervisorConfiguration.WorkerLaunch) -> [String] {
        var out = [
            "tether", "worker", "--index", "\(launch.index)", "--cpu", "\(launch.cpu)",
            "--table-fd", "\(launch.tableDescriptor)", "--generation", "\(launch.generation)",
            "--state-fd", "\(launch.stateDescriptor)", "--drain-ms", "\(launch.drainTimeoutMilliseconds)",
            "--supervisor", "\(launch.supervisor)",
        ]
        for l in launch.listeners { out += ["--listener", "\(l.descriptor):\(l.service)"] }
        if let fd = launch.accessLogDescriptor { out += ["--access-log-fd", "\(fd)"] }
        return out
    }

    func run() throws {
        let log = Logger(component: "worker", context: [("worker", "\(index)")])
        var listeners: [WorkerConfiguration.Listener] = []
        for text in listener {
            let parts = text.split(separator: ":")
            guard parts.count == 2, let fd = CInt(parts[0]), let service = UInt32(parts[1]) else {
                log.error("--listener \(text) is not FD:SERVICE")
                throw ExitCode(2)
            }
            listeners.append(.descriptor(fd, service: service))
        }
        do {
            // A worker never outlives its supervisor: SIGTERM (a drain)
            // when it goes, and a check for it having gone already.
            try Posix.setParentDeathSignal(SIGTERM)
            if Posix.parentProcessID() != supervisor {
                log.error("the supervisor (pid \(supervisor)) is gone; not starting")
                throw ExitCode(1)
            }
            try Posix.pinToCPU(cpu)
            let image = try Posix.readAll(tableFd)
            Posix.close(tableFd)
            let stateSize = try Posix.fileSize(stateFd)
            let stateBase = try Posix.mapShared(stateFd, bytes: stateSize, writable: true)
            Posix.close(stateFd)
            let region = try SharedRegion(attaching: stateBase, size: stateSize)
            guard index >= 0 && index < region.workerCapacity else {
                log.error("the shared state has \(region.workerCapacity) worker slots")
                throw ExitCode(1)
            }
            log.info("started on cpu \(cpu)", ["cpu": "\(cpu)"])
            var worker = WorkerConfiguration(tableImage: image)
            worker.listeners = listeners
            worker.region = region
            worker.workerIndex = index
            worker.cpu = cpu
            worker.tableGeneration = generation
            worker.selectorSeed = UInt32(truncatingIfNeeded: index)
            worker.drainTimeoutMilliseconds = drainMs
            worker.accessLogDescriptor = accessLogFd
            try runWorker(worker)
        } catch let error as ExitCode {
            throw error
        } catch {
            log.error("\(error)")
            throw ExitCode(1)
        }
    }
}
