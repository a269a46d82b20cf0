import ArgumentParser
import CLinux
import Glibc
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
    @Option(help: "The generation of the access log file (or of its absence) in the shared state.") var accessLogGeneration: UInt32 = 0
    @Option(help: "The claim number of this start in the worker's shared slot (0: claim it regardless).") var slotClaim: UInt64 = 0
    @Option(help: "The worker's holdings record in the shared state, if it has one.") var holdings: Int?

    static func arguments(for launch: SupervisorConfiguration.WorkerLaunch) -> [String] {
        var out = [
            "tether", "worker", "--index", "\(launch.index)", "--cpu", "\(launch.cpu)",
            "--table-fd", "\(launch.tableDescriptor)", "--generation", "\(launch.generation)",
            "--state-fd", "\(launch.stateDescriptor)", "--drain-ms", "\(launch.drainTimeoutMilliseconds)",
            "--supervisor", "\(launch.supervisor)",
        ]
        for l in launch.listeners { out += ["--listener", "\(l.descriptor):\(l.service)"] }
        if let fd = launch.accessLogDescriptor { out += ["--access-log-fd", "\(fd)"] }
        out += ["--access-log-generation", "\(launch.accessLogGeneration)"]
        out += ["--slot-claim", "\(launch.slotClaim)"]
        if let record = launch.holdingsRecord { out += ["--holdings", "\(record)"] }
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
            // SIGTERM from the supervisor's death is a drain for a worker.
            let (image, region) = try ChildStart.attach(tableFd: tableFd, stateFd: stateFd, supervisor: supervisor, log: log)
            try Posix.pinToCPU(cpu)
            guard index >= 0 && index < region.workerCapacity else {
                log.error("the shared state has \(region.workerCapacity) worker slots")
                throw ExitCode(1)
            }
            log.info("started on cpu \(cpu)", ["cpu": "\(cpu)"])
            var worker = WorkerConfiguration(tableImage: image)
            worker.listeners = listeners
            worker.region = region
            worker.workerIndex = index
            worker.holdingsRecord = holdings
            worker.cpu = cpu
            worker.tableGeneration = generation
            worker.selectorSeed = UInt32(truncatingIfNeeded: index)
            worker.drainTimeoutMilliseconds = drainMs
            worker.accessLogDescriptor = accessLogFd
            worker.accessLogGeneration = accessLogGeneration
            worker.slotClaim = slotClaim
            if let raw = getenv("TETHER_RECEIVE_BUFFERS") {
                let text = String(cString: raw)
                // A tuning knob (and the tests' way to starve a worker).
                if let n = Int(text), n >= 64, n <= 32768, n & (n - 1) == 0 {
                    worker.bufferCount = n
                } else {
                    log.warning("TETHER_RECEIVE_BUFFERS=\(text) ignored: a power of two from 64 to 32768; using \(worker.bufferCount)")
                }
            }
            try runWorker(worker)
        } catch let error as ExitCode {
            throw error
        } catch {
            log.error("\(error)")
            throw ExitCode(1)
        }
    }
}
