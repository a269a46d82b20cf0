import ArgumentParser
import Config
import RoutingTable
import Worker

/// `tether run -c FILE`: serves the configuration in the foreground with one
/// worker that binds its own listening sockets. The supervisor (worker
/// processes per CPU, shared memory, reloads) replaces this body; the worker
/// entry point stays the same.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Serve a configuration in the foreground."
    )

    @Option(name: [.short, .customLong("config")], help: "The configuration file (YAML or JSON).")
    var config: String

    func run() throws {
        let result = ConfigLoader.load(path: config)
        for d in result.diagnostics { printError(d.description) }
        guard let loaded = result.config, result.errors.isEmpty else {
            printError("\(config): \(result.errors.count) error\(result.errors.count == 1 ? "" : "s"); not started")
            throw ExitCode(1)
        }
        let image: [UInt8]
        do {
            image = try TableBuilder.build(compile(loaded))
        } catch {
            printError("\(config): cannot compile: \(error)")
            throw ExitCode(1)
        }
        var worker = WorkerConfiguration(tableImage: image)
        let drain = loaded.drainTimeout.components
        worker.drainTimeoutMilliseconds = UInt64(drain.seconds) * 1000 + UInt64(drain.attoseconds / 1_000_000_000_000_000)
        do {
            try runWorker(worker)
        } catch {
            printError("tether: \(error)")
            throw ExitCode(1)
        }
    }
}
