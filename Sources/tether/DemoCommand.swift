import ArgumentParser
import Foundation
import Posix
import RoutingTable
import SharedState

/// `tether demo`: DESIGN.md's example on an embedded configuration, with
/// nothing to write: three demo servers apache1..3 (header values
/// server1..3) as child processes, `tether run` in front of them on
/// 127.0.0.1:8080 with the full process model (workers, health monitor),
/// and the curl lines to try. `tether demo stop|start NAME` takes a demo
/// server away and brings it back, from another terminal.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the demo: three demo servers behind tether on 127.0.0.1:8080.",
        subcommands: [DemoServe.self, DemoStop.self, DemoStart.self],
        defaultSubcommand: DemoServe.self
    )
}

struct DemoOptions: ParsableArguments {
    @Option(help: "Where the demo keeps its configuration, pid files and shared state.")
    var dir: String = DemoOptions.defaultDirectory

    static var defaultDirectory: String {
        let base = ProcessInfo.processInfo.environment["XDG_RUNTIME_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        return "\(base)/tether-demo-\(getuid())"
    }

    /// `dir` made absolute (the configuration needs an absolute runtime_dir).
    var directory: String {
        dir.hasPrefix("/") ? dir : FileManager.default.currentDirectoryPath + "/" + dir
    }
    var runtimeDirectory: String { directory + "/run" }
    func pidFile(_ name: String) -> String { "\(directory)/\(name).pid" }
    var serversFile: String { directory + "/servers" }
    var demoPIDFile: String { directory + "/demo.pid" }
    var configFile: String { directory + "/tether.yaml" }

    /// Makes the demo's directory: a new one (mode 0700, ours), or one an
    /// earlier demo left behind (its files are replaced). Anything else is
    /// refused: the demo never deletes a directory it did not make.
    func prepareDirectory() throws {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: directory, isDirectory: &isDirectory) {
            let attributes = try fm.attributesOfItem(atPath: directory)
            let owner = (attributes[.ownerAccountID] as? NSNumber)?.uint32Value
            let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue ?? 0o777
            let empty = (try? fm.contentsOfDirectory(atPath: directory))?.isEmpty ?? false
            guard isDirectory.boolValue, owner == getuid(), mode & 0o077 == 0,
                  fm.fileExists(atPath: demoPIDFile) || empty else {
                throw DemoError("\(directory) exists and is not an earlier demo's directory (mode 0700, yours, with demo.pid); "
                    + "pick another with --dir")
            }
            removeFiles()
        } else {
            try fm.createDirectory(atPath: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        }
    }

    /// Removes what the demo wrote, then the directory if that left it empty.
    func removeFiles() {
        let fm = FileManager.default
        for name in ["apache1", "apache2", "apache3"] { try? fm.removeItem(atPath: pidFile(name)) }
        for path in [serversFile, configFile, runtimeDirectory + "/state", runtimeDirectory + "/tether.pid", demoPIDFile] {
            try? fm.removeItem(atPath: path)
        }
        rmdir(runtimeDirectory)
    }
}

/// The demo servers: name, header value, port.
struct DemoServers {
    var entries: [(name: String, value: String, port: UInt16)]

    init(ports: [UInt16]) {
        entries = ports.enumerated().map { ("apache\($0.offset + 1)", "server\($0.offset + 1)", $0.element) }
    }

    /// What `tether demo` wrote for `stop`/`start`: "NAME PORT" lines.
    init(file: String) throws {
        let text = try String(contentsOfFile: file, encoding: .utf8)
        entries = text.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: " ")
            guard parts.count == 2, let port = UInt16(parts[1]) else { return nil }
            let name = String(parts[0])
            return (name, "server" + name.dropFirst("apache".count), port)
        }
    }

    func port(of name: String) -> UInt16? { entries.first { $0.name == name }?.port }
}

struct DemoServe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Run the demo in the foreground (the default).")

    @OptionGroup var options: DemoOptions
    @Option(help: "The proxy's port on 127.0.0.1.") var port: UInt16 = 8080
    @Option(help: "The demo servers' ports, comma-separated.") var serverPorts: String = "9001,9002,9003"

    func run() throws {
        let ports = serverPorts.split(separator: ",").compactMap { UInt16($0.trimmingCharacters(in: .whitespaces)) }
        guard ports.count == 3, Set(ports).count == 3, !ports.contains(port) else {
            printError("tether demo: --server-ports needs three distinct ports, none of them --port \(port)")
            throw ExitCode(2)
        }
        let servers = DemoServers(ports: ports)
        if let pid = DemoProcesses.livePID(in: options.demoPIDFile) {
            printError("tether demo: a demo is already running (pid \(pid), \(options.directory)); stop it with Ctrl-C first")
            throw ExitCode(1)
        }
        for p in [port] + ports where !DemoProcesses.portIsFree(p) {
            printError("tether demo: 127.0.0.1:\(p) is in use; pick others with --port / --server-ports")
            throw ExitCode(1)
        }
        do {
            try options.prepareDirectory()
        } catch {
            printError("tether demo: \(error)")
            throw ExitCode(1)
        }
        try "\(getpid())\n".write(toFile: options.demoPIDFile, atomically: true, encoding: .utf8)
        try servers.entries.map { "\($0.name) \($0.port)" }.joined(separator: "\n")
            .write(toFile: options.serversFile, atomically: true, encoding: .utf8)
        let configPath = options.configFile
        try DemoServe.config(port: port, servers: servers, runtimeDirectory: options.runtimeDirectory)
            .write(toFile: configPath, atomically: true, encoding: .utf8)

        var processes = DemoProcesses(options: options)
        // Ctrl-C, SIGTERM, a closed terminal: stop everything, leave nothing
        // behind. SIGUSR1 (a log reopen aimed at tether) is not for us.
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        signal(SIGHUP, SIG_IGN)
        signal(SIGUSR1, SIG_IGN)
        let stop = DispatchSemaphore(value: 0)
        let sources = [SIGINT, SIGTERM, SIGHUP].map { number -> DispatchSourceSignal in
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { stop.signal() }
            source.resume()
            return source
        }
        defer {
            sources.forEach { $0.cancel() }
            processes.stopAll()
            options.removeFiles()
            rmdir(options.directory)
        }

        do {
            for server in servers.entries {
                try processes.startServer(server.name, port: server.port)
            }
            try processes.startProxy(config: configPath)
            let proxyUp = DemoProcesses.waitUntil(timeout: 30) { DemoProcesses.portAccepts(port) || !processes.proxyIsRunning }
            guard proxyUp && processes.proxyIsRunning else {
                printError("tether demo: the proxy did not start listening on 127.0.0.1:\(port)")
                throw ExitCode(1)
            }
        } catch let error as ExitCode {
            throw error
        } catch {
            printError("tether demo: \(error)")
            throw ExitCode(1)
        }
        // One write, unbuffered: a reader of a pipe sees the whole guide at once.
        var guide = DemoServe.guide(port: port, servers: servers, binary: DemoProcesses.binary, options: options,
                                    defaultDirectory: options.dir == DemoOptions.defaultDirectory, configPath: configPath) + "\n"
        guide.withUTF8 { try? Posix.writeAll(1, UnsafeRawBufferPointer($0)) }
        // Serve until told to stop, or until the proxy itself ends.
        while stop.wait(timeout: .now() + .milliseconds(200)) == .timedOut {
            if !processes.proxyIsRunning {
                printError("tether demo: the proxy exited; stopping the demo")
                throw ExitCode(1)
            }
        }
        printError("tether demo: stopping")
    }

    /// DESIGN.md §2's example, on loopback, with checks quick enough to watch.
    static func config(port: UInt16, servers: DemoServers, runtimeDirectory: String) -> String {
        """
        # tether demo: DESIGN.md's example on loopback.
        workers: auto
        runtime_dir: "\(runtimeDirectory.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\""))"
        drain_timeout: 2s

        persistence_profiles:
          - name: by-x-server
            description: Pin clients to the server named in X-Server
            type: custom_http_header
            header_name: X-Server
            server_down: immediate

        health_monitors:
          - name: http-health
            type: http
            interval: 1s
            timeout: 500ms
            successful_checks: 2
            failed_checks: 2
            request: "GET /healthz HTTP/1.1"
            expected_status: [2xx, 3xx]

        pools:
          - name: web
            lb_algorithm: least_connections
            persistence_profile: by-x-server
            health_monitors: [http-health]
            servers:
        \(servers.entries.map { "      - { name: \($0.name), address: 127.0.0.1, port: \($0.port), header_value: \($0.value) }" }.joined(separator: "\n"))

        virtual_services:
          - name: www
            listen: ["127.0.0.1:\(port)"]
            pool: web

        """
    }

    /// The lines to try. Each `$ ` line is followed by `# → ` and what it
    /// prints: one name, "A, B or C" (any of them), or text it contains.
    static func guide(port: UInt16, servers: DemoServers, binary: String, options: DemoOptions,
                      defaultDirectory: Bool, configPath: String) -> String {
        let url = "http://127.0.0.1:\(port)"
        let dir = defaultDirectory ? "" : " --dir '\(options.directory)'"
        func line(_ command: String, _ result: String) -> String {
            let padded = command.count < 64 ? command + String(repeating: " ", count: 64 - command.count) : command + "  "
            return "  $ \(padded)# → \(result)"
        }
        let names = servers.entries.map(\.name)
        let anyServer = names.dropLast().joined(separator: ", ") + " or " + names.last!
        let second = servers.entries[1], third = servers.entries[2]
        let others = [servers.entries[0].name, third.name].joined(separator: " or ")
        return """

            tether is serving \(url) with its workers and a health monitor, in front of
            \(servers.entries.map { "  \($0.name) on 127.0.0.1:\($0.port), header value \($0.value)" }.joined(separator: "\n"))

            Pinned: the X-Server value names the server, every time (any case, whitespace trimmed).
            \(line("curl -s -H 'X-Server: \(second.value)' \(url)/", second.name))
            \(line("curl -s -H 'x-server:   \(third.value)  ' \(url)/", third.name))

            Balanced (least connections): no header, or a value no server carries.
            \(line("curl -s \(url)/", anyServer))
            \(line("curl -s -H 'X-Server: nobody' \(url)/", anyServer))

            What the server received: X-Forwarded-For is added.
            \(line("curl -s -H 'X-Server: server1' \(url)/echo", "X-Forwarded-For: 127.0.0.1"))

            Smuggling attempts are answered 400 before any server sees them.
            \(line("curl -si -H 'Content-Length: 4' -H 'Transfer-Encoding: chunked' --data-binary abcd \(url)/echo", "HTTP/1.1 400 Bad Request"))

            Stop a server: the health monitor marks it down and its pinned clients move to one
            replacement (server_down: immediate); start it again and they come back.
            \(line("\(binary) demo stop \(second.name)\(dir)", "\(second.name) stopped and marked down"))
            \(line("curl -s -H 'X-Server: \(second.value)' \(url)/", others))
            \(line("\(binary) demo start \(second.name)\(dir)", "\(second.name) started and marked up"))
            \(line("curl -s -H 'X-Server: \(second.value)' \(url)/", second.name))

            Reload: edit \(configPath) (say, swap server1 and server2), then
              $ \(binary) reload -c \(configPath)
            and the new mapping is live in every worker, without a restart.

            Ctrl-C stops the demo.
            """
    }
}

struct DemoStop: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stop", abstract: "Stop a demo server; returns once the health monitor marked it down.")

    @OptionGroup var options: DemoOptions
    @Argument(help: "apache1, apache2 or apache3.") var name: String

    func run() throws {
        let port = try DemoProcesses.port(of: name, options)
        guard let pid = DemoProcesses.livePID(in: options.pidFile(name)) else {
            print("\(name) is already stopped")
            return
        }
        kill(pid, SIGTERM)
        guard DemoProcesses.waitUntil(timeout: 10, { !DemoProcesses.portAccepts(port) }) else {
            printError("tether demo: \(name) (pid \(pid)) did not stop")
            throw ExitCode(1)
        }
        try? FileManager.default.removeItem(atPath: options.pidFile(name))
        let isDown = try DemoProcesses.downState(of: name, options)
        guard DemoProcesses.waitUntil(timeout: 15, isDown) else {
            printError("tether demo: \(name) stopped, but the health monitor has not marked it down yet")
            throw ExitCode(1)
        }
        print("\(name) stopped and marked down")
    }
}

struct DemoStart: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start", abstract: "Start a stopped demo server; returns once the health monitor marked it up.")

    @OptionGroup var options: DemoOptions
    @Argument(help: "apache1, apache2 or apache3.") var name: String

    func run() throws {
        let port = try DemoProcesses.port(of: name, options)
        if DemoProcesses.livePID(in: options.pidFile(name)) == nil {
            var processes = DemoProcesses(options: options)
            try processes.startServer(name, port: port)
            processes.forget()  // it outlives this command; the demo stops it
        }
        let isDown = try DemoProcesses.downState(of: name, options)
        guard DemoProcesses.waitUntil(timeout: 15, { !isDown() }) else {
            printError("tether demo: \(name) runs, but the health monitor has not marked it up yet")
            throw ExitCode(1)
        }
        print("\(name) started and marked up")
    }
}

/// The demo's child processes and the checks around them.
struct DemoProcesses {
    let options: DemoOptions
    var children: [Process] = []
    var proxy: Process? = nil

    init(options: DemoOptions) { self.options = options }

    static var binary: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    mutating func startServer(_ name: String, port: UInt16) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: DemoProcesses.binary)
        process.arguments = ["backend", "--listen", "127.0.0.1:\(port)", "--name", name]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        try "\(process.processIdentifier)\n".write(toFile: options.pidFile(name), atomically: true, encoding: .utf8)
        children.append(process)
        guard DemoProcesses.waitForPort(port, timeout: 10) else {
            throw DemoError("demo server \(name) did not start listening on 127.0.0.1:\(port)")
        }
    }

    mutating func startProxy(config: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: DemoProcesses.binary)
        process.arguments = ["run", "-c", config]
        // The proxy's log goes to the demo's stderr: transitions show up there.
        try process.run()
        proxy = process
    }

    var proxyIsRunning: Bool { proxy?.isRunning ?? false }

    mutating func forget() { children = [] }

    /// SIGTERM to the proxy (it drains) and to every demo server, including
    /// ones `tether demo start` started; waits for them.
    mutating func stopAll() {
        if let proxy, proxy.isRunning {
            proxy.terminate()
            proxy.waitUntilExit()
        }
        for name in (try? DemoServers(file: options.serversFile))?.entries.map(\.name) ?? [] {
            if let pid = DemoProcesses.livePID(in: options.pidFile(name)) { kill(pid, SIGTERM) }
        }
        for child in children where child.isRunning { child.waitUntilExit() }
    }

    /// The port of demo server `name` of the running demo; exits with a
    /// message when there is no demo or no such server.
    static func port(of name: String, _ options: DemoOptions) throws -> UInt16 {
        let servers = try runningDemo(options)
        guard let port = servers.port(of: name) else {
            printError("tether demo: no demo server named \(name) (\(servers.entries.map(\.name).joined(separator: ", ")))")
            throw ExitCode(2)
        }
        return port
    }

    static func runningDemo(_ options: DemoOptions) throws -> DemoServers {
        guard livePID(in: options.demoPIDFile) != nil, let servers = try? DemoServers(file: options.serversFile) else {
            printError("tether demo: no demo is running in \(options.directory); start one with `tether demo`")
            throw ExitCode(1)
        }
        return servers
    }

    /// The pid in `path` if that process runs.
    static func livePID(in path: String) -> pid_t? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
              let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0, kill(pid, 0) == 0 else { return nil }
        return pid
    }

    /// A reader of demo server `name`'s down state in the running demo's
    /// shared memory (its slot is found once in the live table: slots follow
    /// a server's identity, so a reload does not move it).
    static func downState(of name: String, _ options: DemoOptions) throws -> () -> Bool {
        let attachment = try RuntimeAttachment(directory: options.runtimeDirectory, command: "tether demo")
        guard let (table, _) = attachment.mapLiveTable(command: "tether demo") else { throw ExitCode(1) }
        defer { Posix.unmap(UnsafeMutableRawPointer(mutating: table.base), bytes: table.size) }
        guard let s = (0..<table.serverCount).first(where: { table.server(UInt32($0)).name == name }) else {
            printError("tether demo: the running proxy has no server named \(name)")
            throw ExitCode(1)
        }
        let slot = attachment.region.server(table.server(UInt32(s)).stateSlot)
        return { slot.isDown }
    }

    static func portAccepts(_ port: UInt16) -> Bool {
        let fd = socket(AF_INET, CInt(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let address = SocketAddress(v4: (127, 0, 0, 1), port: port)
        return address.withSockaddr { connect(fd, $0, $1) } == 0
    }

    static func portIsFree(_ port: UInt16) -> Bool {
        let fd = socket(AF_INET, CInt(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var one: CInt = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<CInt>.size))
        let address = SocketAddress(v4: (127, 0, 0, 1), port: port)
        return address.withSockaddr { bind(fd, $0, $1) } == 0
    }

    static func waitForPort(_ port: UInt16, timeout: Double) -> Bool {
        waitUntil(timeout: timeout) { portAccepts(port) }
    }

    /// Polls `condition` every 50 ms until it holds or `timeout` seconds pass.
    static func waitUntil(timeout: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition() { return true }
            usleep(50_000)
        }
        return condition()
    }
}

struct DemoError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
