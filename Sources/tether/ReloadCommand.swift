import ArgumentParser
import CLinux
import Config
import Posix
import SharedState

/// `tether reload`: SIGHUP the running supervisor and wait until its new
/// table is live in every worker, or print why it was refused.
struct ReloadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload",
        abstract: "Reload the running tether's configuration and wait until it is live."
    )

    @Option(name: .customLong("runtime-dir"), help: "The runtime directory of the running tether.")
    var runtimeDirectory: String?

    @Option(name: [.short, .customLong("config")], help: "A configuration file to read runtime_dir from.")
    var config: String?

    @Option(help: "Seconds to wait for the reload to be live.")
    var timeout: Int = 30

    func run() throws {
        let directory = try RuntimeAttachment.directory(runtimeDirectory: runtimeDirectory, config: config, command: "tether reload")
        let clock = ContinuousClock()
        let started = clock.now
        let deadline = started + .seconds(timeout)
        let attachment = try RuntimeAttachment(directory: directory, command: "tether reload")
        let region = attachment.region, pid = attachment.supervisorPID

        let before = region.lastReload().attempt
        do {
            guard try Posix.sendSignal(SIGHUP, to: pid) else {
                printError("tether reload: the supervisor (pid \(pid)) is not running")
                throw ExitCode(1)
            }
        } catch let error as PosixError {
            printError("tether reload: cannot signal the supervisor (pid \(pid)): \(error)")
            throw ExitCode(1)
        }

        var record = region.lastReload()
        while record.attempt <= before {
            guard clock.now < deadline else {
                printError("tether reload: the supervisor (pid \(pid)) did not answer within \(timeout) s")
                throw ExitCode(1)
            }
            usleep(5_000)
            record = region.lastReload()
        }
        guard record.outcome == .applied else {
            printError("reload refused; generation \(record.generation) keeps serving:")
            for line in record.message.split(separator: "\n") { printError("  \(line)") }
            throw ExitCode(1)
        }

        var online = 0
        while true {
            online = 0
            var behind = 0
            for i in 0..<region.workerCapacity {
                let epoch = region.worker(i).epoch
                if epoch == WorkerSlot.offline { continue }
                online += 1
                if epoch < record.generation { behind += 1 }
            }
            if behind == 0 && region.currentGeneration() >= record.generation { break }
            guard clock.now < deadline else {
                printError("tether reload: generation \(record.generation) applied, but \(behind) of \(online) workers still hold an older table after \(timeout) s")
                throw ExitCode(1)
            }
            usleep(5_000)
        }
        let elapsed = (clock.now - started).components
        let ms = elapsed.seconds * 1000 + elapsed.attoseconds / 1_000_000_000_000_000
        print("reload applied: generation \(record.generation), live in all \(online) worker\(online == 1 ? "" : "s") (\(ms) ms)")
    }
}
