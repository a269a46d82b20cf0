import ArgumentParser
import Config
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
        let compiled = try CompiledConfiguration(path: config, refusal: "not started")
        let loaded = compiled.config, image = compiled.image
        if let user = loaded.user {
            printError("\(config): warning: user: '\(user)' is not applied yet; workers run as the starting user")
        }
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
        var listen: [SupervisorConfiguration.Listen] = []
        for (service, vs) in loaded.virtualServices.enumerated() {
            for address in vs.listen {
                listen.append(.init(address: SocketAddress(address.address, port: address.port), service: UInt32(service)))
            }
        }
        let drain = loaded.drainTimeout.components
        let drainMilliseconds = UInt64(drain.seconds) * 1000 + UInt64(drain.attoseconds / 1_000_000_000_000_000)
        let supervisor = SupervisorConfiguration(
            tableImage: image, listen: listen, workerCount: workerCount, cpus: cpus,
            drainTimeoutMilliseconds: drainMilliseconds, workerArguments: WorkerCommand.arguments(for:)
        )
        do {
            try runSupervisor(supervisor)
        } catch {
            printError("tether: \(error)")
            throw ExitCode(1)
        }
    }
}

extension SocketAddress {
    init(_ address: IPAddress, port: UInt16) {
        let o = address.octets
        if address.family == .v4 {
            self.init(v4: (o[0], o[1], o[2], o[3]), port: port)
        } else {
            self.init(v6: o, port: port)
        }
    }
}
