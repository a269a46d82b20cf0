import ArgumentParser
import CLinux
import Posix
import Telemetry

/// `tether status`: what the running tether's shared state says, read-only
/// (it adds nothing to the data path): the table generation and the last
/// reload, every worker and every server of the live table with its state
/// and counters.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the running tether's workers, servers and counters.",
        discussion: """
            The table reads the shared state twice, --interval milliseconds apart, \
            for requests per second. --json prints one reading: totals and \
            timestamps (ms since the Unix epoch), the document of the admin \
            endpoint's GET /status; compute rates from two of them.
            """
    )

    @Option(name: .customLong("runtime-dir"), help: "The runtime directory of the running tether.")
    var runtimeDirectory: String?

    @Option(name: [.short, .customLong("config")], help: "A configuration file to read runtime_dir from.")
    var config: String?

    @Flag(help: "Print JSON (totals, no rates) for scripts.")
    var json = false

    @Option(help: "Milliseconds between the two readings that give requests per second (0: totals only).")
    var interval: Int = 500

    func validate() throws {
        guard (0...60_000).contains(interval) else { throw ValidationError("--interval must be 0 to 60000 milliseconds") }
    }

    func run() throws {
        let directory = try RuntimeAttachment.directory(runtimeDirectory: runtimeDirectory, config: config, command: "tether status")
        let attachment = try RuntimeAttachment(directory: directory, command: "tether status")
        do {
            guard try Posix.sendSignal(0, to: attachment.supervisorPID) else {
                printError("tether status: the supervisor (pid \(attachment.supervisorPID)) is not running; \(directory) is stale")
                throw ExitCode(1)
            }
        } catch let error as PosixError where error.errno == EPERM {
            // Alive, and another user's: reading its state is still allowed.
        }
        let table = attachment.mapLiveTable(command: "tether status")
        let first = StatusSnapshot(region: attachment.region, table: table?.view, nowMs: Posix.wallClockMilliseconds())
        if json {
            print(StatusJSON.render(first), terminator: "")
            return
        }
        var previous: StatusSnapshot? = nil
        var current = first
        if interval > 0 {
            usleep(useconds_t(interval) * 1000)
            previous = first
            current = StatusSnapshot(region: attachment.region, table: table?.view, nowMs: Posix.wallClockMilliseconds())
        }
        print(StatusTable.render(current, previous: previous), terminator: "")
    }
}
