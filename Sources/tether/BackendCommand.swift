import ArgumentParser
import DemoBackend

/// `tether backend`: the demo/test origin server that integration tests,
/// `tether demo` and benchmarks run behind the proxy.
struct BackendCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backend",
        abstract: "Run the demo HTTP/1.1 backend server.",
        discussion: """
            Prints 'backend NAME listening on ADDRESS' per address when ready; SIGTERM or \
            SIGINT exits 0; SIGUSR1 toggles GET /healthz between 200 and 500.
            Paths: / (the name), /echo, /bytes/N[?chunked=1], /status/CODE, /slow/MS, \
            /close-mid, /close, /ws, /healthz, /stats.
            """
    )

    @Option(name: .long, help: ArgumentHelp("Address to listen on: IPv4:PORT or [IPv6]:PORT (port 0: any free port). Repeatable.", valueName: "address"))
    var listen: [String] = []

    @Option(name: .long, help: ArgumentHelp("Name to answer with: once for every address, or once per --listen in order.", valueName: "name"))
    var name: [String] = []

    @Option(name: .long, help: "Event-loop threads, each with its own listening sockets.")
    var threads: Int = 1

    func validate() throws {
        do {
            _ = try makeConfiguration()
        } catch {
            throw ValidationError(error.description)
        }
    }

    func run() throws {
        try DemoBackendServer(configuration: makeConfiguration()).run()
    }

    private func makeConfiguration() throws(DemoBackendError) -> DemoBackendConfiguration {
        try DemoBackendConfiguration(listen: listen, names: name, threads: threads)
    }
}
