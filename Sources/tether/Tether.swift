import ArgumentParser

@main
struct Tether: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tether",
        abstract: "An HTTP/1.1 load balancer with custom HTTP header persistence.",
        subcommands: [
            CheckCommand.self, RunCommand.self, DemoCommand.self, ReloadCommand.self, StatusCommand.self, ImportAviCommand.self,
            WorkerCommand.self, MonitorCommand.self, BackendCommand.self,
        ]
    )
}
