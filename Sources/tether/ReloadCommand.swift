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
        let directory = try resolveDirectory()
        let clock = ContinuousClock()
        let started = clock.now
        let deadline = started + .seconds(timeout)

        let pidText: [UInt8]
        let region: SharedRegion
        do {
            let pidFD = try Posix.open(directory + "/tether.pid", flags: O_RDONLY)
            pidText = try Posix.readAll(pidFD)
            Posix.close(pidFD)
            let stateFD = try Posix.open(directory + "/state", flags: O_RDONLY)
            defer { Posix.close(stateFD) }
            let size = try Posix.fileSize(stateFD)
            let base = try Posix.mapShared(stateFD, bytes: size, writable: false)
            region = try SharedRegion(attaching: base, size: size)
        } catch {
            printError("tether reload: no running tether in \(directory): \(error)")
            throw ExitCode(1)
        }
        let text = String(decoding: pidText, as: UTF8.self).split(whereSeparator: \.isWhitespace).first.map(String.init) ?? ""
        guard let pid = Int32(text), pid > 0 else {
            printError("tether reload: \(directory)/tether.pid holds no pid")
            throw ExitCode(1)
        }
        guard region.supervisorPID == pid else {
            printError("tether reload: \(directory)/tether.pid names pid \(pid), the shared state pid \(region.supervisorPID): a stale runtime directory")
            throw ExitCode(1)
        }

        let before = region.lastReload().attempt
        do {
            guard try Posix.sendSignal(SIGHUP, to: pid) else {
                printError("tether reload: the supervisor (pid \(pid)) is not running")
                throw ExitCode(1)
            }
        } catch {
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

    func resolveDirectory() throws -> String {
        if let runtimeDirectory { return runtimeDirectory }
        guard let config else { return TetherConfig.defaultRuntimeDirectory }
        let result = ConfigLoader.load(path: config)
        guard let loaded = result.config, result.errors.isEmpty else {
            for d in result.errors { printError(d.description) }
            printError("tether reload: cannot read runtime_dir from \(config)")
            throw ExitCode(1)
        }
        return loaded.runtimeDirectory
    }
}
