import Glibc

/// `tether backend` processes for a test: each listens on a free loopback
/// port (it binds port 0 and reports the port it got, so no other process
/// can take the port between choosing and binding) and is ready when
/// `BackendFleet.init` returns. Stopped when the fleet goes away.
final class BackendFleet {
    final class Backend {
        let name: String
        let port: UInt16
        let threads: Int
        fileprivate(set) var process: ManagedProcess

        var address: String { "127.0.0.1:\(port)" }

        fileprivate init(name: String, port: UInt16, threads: Int, process: ManagedProcess) {
            self.name = name
            self.port = port
            self.threads = threads
            self.process = process
        }
    }

    private(set) var backends: [Backend] = []

    init(names: [String], threads: Int = 1, timeout: Duration = .seconds(10)) throws {
        for name in names {
            let (process, port) = try Self.launch(name: name, listen: "127.0.0.1:0", threads: threads, timeout: timeout)
            backends.append(Backend(name: name, port: port, threads: threads, process: process))
        }
    }

    deinit { stop() }

    subscript(name: String) -> Backend {
        guard let backend = backends.first(where: { $0.name == name }) else {
            preconditionFailure("no backend named \(name) in \(backends.map(\.name))")
        }
        return backend
    }

    /// Every backend's stdout and stderr, for failure messages.
    var logs: String { backends.map(\.process.logs).joined(separator: "\n") }

    /// SIGTERM to every backend; waits for them to exit.
    func stop() {
        for backend in backends { backend.process.terminate() }
    }

    /// Starts a stopped or killed backend again on its port.
    func restart(_ name: String, timeout: Duration = .seconds(10)) throws {
        let backend = self[name]
        backend.process.terminate()
        backend.process = try Self.launch(name: name, listen: backend.address, threads: backend.threads, timeout: timeout).process
    }

    /// SIGUSR1: `/healthz` flips between 200 and 500. Returns once the backend
    /// reports the new state; `healthy` is what it reported.
    @discardableResult
    func toggleHealth(_ name: String, timeout: Duration = .seconds(10)) throws -> Bool {
        let process = self[name].process
        try process.send(signal: SIGUSR1)
        let line = try process.waitForLine(containing: "backend \(name) healthz ", timeout: timeout)
        return line.hasSuffix(" ok")
    }

    private static func launch(
        name: String, listen: String, threads: Int, timeout: Duration
    ) throws -> (process: ManagedProcess, port: UInt16) {
        let process = try ManagedProcess(
            arguments: ["backend", "--listen", listen, "--name", name, "--threads", "\(threads)"],
            label: "backend \(name)"
        )
        let line = try process.waitForLine(containing: "backend \(name) listening on ", timeout: timeout)
        guard let portText = line.split(separator: ":").last, let port = UInt16(portText) else {
            throw HarnessError("cannot read the port from '\(line)'\n\(process.logs)")
        }
        return (process, port)
    }
}
