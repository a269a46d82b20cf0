import ArgumentParser
import CLinux
import Monitor
import Posix
import SharedState
import Supervisor

/// `tether monitor`: the health-monitor process, started by `tether run`
/// with the live table and the shared state already open (not for people
/// to run).
struct MonitorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "monitor",
        abstract: "The health-monitor process (started by `tether run`).",
        shouldDisplay: false
    )

    @Option(help: "The inherited descriptor holding the table image.") var tableFd: CInt
    @Option(help: "The generation of that table.") var generation: UInt64
    @Option(help: "The inherited descriptor of the shared state region.") var stateFd: CInt
    @Option(help: "The supervisor's pid; the monitor stops when it is gone.") var supervisor: Int32

    static func arguments(for launch: SupervisorConfiguration.MonitorLaunch) -> [String] {
        ["tether", "monitor", "--table-fd", "\(launch.tableDescriptor)", "--generation", "\(launch.generation)",
         "--state-fd", "\(launch.stateDescriptor)", "--supervisor", "\(launch.supervisor)"]
    }

    func run() throws {
        let log = Logger(component: "monitor")
        do {
            let (image, region) = try ChildStart.attach(tableFd: tableFd, stateFd: stateFd, supervisor: supervisor, log: log)
            log.info("started")
            try runMonitor(MonitorConfiguration(region: region, tableImage: image, generation: generation))
        } catch let error as ExitCode {
            throw error
        } catch {
            log.error("\(error)")
            throw ExitCode(1)
        }
    }
}
