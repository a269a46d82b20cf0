import Foundation
import Glibc

/// `tether run` in front of a `BackendFleet`: one virtual service on a free
/// loopback port, pool `web` with the fleet's backends as apache1..N
/// (header values server1..N, persistence header X-Server).
final class ProxyUnderTest {
    struct Options {
        var lbAlgorithm = "round_robin"
        var serverDown = "immediate"
        var maxConnectionsPerServer = 0
        var xForwardedFor = true
        var clientHeader = "10s"
        var clientIdle = "60s"
        var connect = "3s"
        var serverResponse = "30s"
        var maxHeaderBytes = "32KiB"
        var whenAllDown = "{ action: local_response, status: 503 }"
        var drainTimeout = "30s"
        /// One worker unless a test says otherwise: round-robin order and
        /// per-server limits are per worker until counters are shared.
        var workers = "1"
        /// Extra servers (name, port) with no backend behind them.
        var deadServers: [(name: String, port: UInt16, headerValue: String)] = []
        /// Header values of the fleet's backends, in order; nil: server1..N.
        var headerValues: [String]? = nil
        /// `user:`, when set.
        var user: String? = nil
        /// `admin: { listen: ... }`, when set ("127.0.0.1:PORT").
        var adminListen: String? = nil
        /// `access_log:`'s YAML value, when set.
        var accessLog: String? = nil
        /// A health monitor for the pool, as a YAML flow mapping without its
        /// name, e.g. `type: tcp, interval: 300ms, timeout: 200ms`.
        var healthMonitor: String? = nil
        /// `hash_key:` (consistent_hash only).
        var hashKey: String? = nil
        /// Ratios of the fleet's backends, in order; nil: all 1.
        var ratios: [Int]? = nil
        /// `tls:` of the virtual service, as YAML (a flow mapping), when set.
        var tls: String? = nil
        /// Added to `tether run`'s environment (its workers inherit it).
        var environment: [String: String] = [:]
    }

    let process: ManagedProcess
    let port: UInt16
    let configURL: URL
    /// The proxy's runtime_dir: shared state and pid file.
    let runtimeDirectory: URL
    let fleet: BackendFleet

    /// `waitForPort: false` for a proxy that is expected not to start.
    init(fleet: BackendFleet, options: Options = Options(), waitForPort wait: Bool = true) throws {
        port = try freeLoopbackPort()
        self.fleet = fleet
        runtimeDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("tether-run-\(UUID().uuidString)")
        configURL = FileManager.default.temporaryDirectory.appendingPathComponent("tether-proxy-\(UUID().uuidString).yaml")
        try Self.writeConfig(options, fleet: fleet, port: port, runtimeDirectory: runtimeDirectory, to: configURL)
        process = try ManagedProcess(arguments: ["run", "-c", configURL.path], environment: options.environment,
                                     label: "tether run")
        guard wait else { return }
        do {
            try waitForPort(port)
        } catch {
            throw HarnessError("\(error)\n\(process.logs)")
        }
    }

    /// Writes the configuration for `options` (what a reload then reads).
    func writeConfig(_ options: Options) throws {
        try Self.writeConfig(options, fleet: fleet, port: port, runtimeDirectory: runtimeDirectory, to: configURL)
    }

    static func writeConfig(_ options: Options, fleet: BackendFleet, port: UInt16, runtimeDirectory: URL, to configURL: URL) throws {
        var servers = ""
        for (k, backend) in fleet.backends.enumerated() {
            let value = options.headerValues?[k] ?? "server\(k + 1)"
            let ratio = options.ratios.map { ", ratio: \($0[k])" } ?? ""
            servers += "      - { name: \(backend.name), address: 127.0.0.1, port: \(backend.port), header_value: \(value)\(ratio) }\n"
        }
        for dead in options.deadServers {
            servers += "      - { name: \(dead.name), address: 127.0.0.1, port: \(dead.port), header_value: \(dead.headerValue) }\n"
        }
        let yaml = """
            workers: \(options.workers)
            runtime_dir: \(runtimeDirectory.path)\(options.user.map { "\nuser: \($0)" } ?? "")\(options.adminListen.map { "\nadmin: { listen: \"\($0)\" }" } ?? "")\(options.accessLog.map { "\naccess_log: \($0)" } ?? "")
            drain_timeout: \(options.drainTimeout)
            persistence_profiles:
              - { name: by-x-server, type: custom_http_header, header_name: X-Server, server_down: \(options.serverDown) }
            \(options.healthMonitor.map { "health_monitors:\n  - { name: hc, \($0) }" } ?? "")
            pools:
              - name: web
                lb_algorithm: \(options.lbAlgorithm)\(options.hashKey.map { "\n    hash_key: \"\($0)\"" } ?? "")\(options.healthMonitor == nil ? "" : "\n    health_monitors: [hc]")
                persistence_profile: by-x-server
                max_connections_per_server: \(options.maxConnectionsPerServer)
                when_all_down: \(options.whenAllDown)
                servers:
            \(servers)
            virtual_services:
              - name: www
                listen: ["127.0.0.1:\(port)"]
                pool: web
                x_forwarded_for: \(options.xForwardedFor)
                max_header_bytes: \(options.maxHeaderBytes)
                timeouts: { client_header: \(options.clientHeader), client_idle: \(options.clientIdle), connect: \(options.connect), server_response: \(options.serverResponse) }\(options.tls.map { "\n    tls: \($0)" } ?? "")

            """
        try yaml.write(to: configURL, atomically: true, encoding: .utf8)
    }

    /// `tether reload` for this proxy: its exit status and its output.
    func reload(arguments: [String]? = nil) throws -> (status: ManagedProcess.ExitStatus, stdout: String, stderr: String) {
        let command = try ManagedProcess(arguments: ["reload"] + (arguments ?? ["--runtime-dir", runtimeDirectory.path]),
                                         label: "tether reload")
        let status = try command.waitForExit(timeout: .seconds(40))
        return (status, command.output(.stdout), command.output(.stderr))
    }

    deinit {
        process.terminate()
        try? FileManager.default.removeItem(at: configURL)
        try? FileManager.default.removeItem(at: runtimeDirectory)
    }

    func connect(timeout: Duration = .seconds(10)) throws -> RawHTTPConnection {
        try RawHTTPConnection(port: port, timeout: timeout)
    }

    /// One request on a fresh connection.
    func get(_ path: String, headers: [String] = [], method: String = "GET") throws -> HTTPTestResponse {
        let connection = try connect()
        defer { connection.close() }
        try connection.send("\(method) \(path) HTTP/1.1\r\nHost: test\r\n" + headers.map { $0 + "\r\n" }.joined() + "\r\n")
        return try connection.readResponse(requestMethod: method)
    }
}

extension BackendFleet {
    /// A backend's `/stats` counters ("requests", "connections", "open"),
    /// which count the `/stats` request and its connection too.
    func stats(_ name: String) throws -> [String: Int] {
        let connection = try RawHTTPConnection(port: self[name].port)
        defer { connection.close() }
        try connection.send("GET /stats HTTP/1.1\r\n\r\n")
        var out: [String: Int] = [:]
        for line in try connection.readResponse().bodyText.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, let n = Int(parts[1].drop { $0 == " " }) { out[String(parts[0])] = n }
        }
        return out
    }

    /// Requests each backend has served, counting the `/stats` request.
    func requestCounts() throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for backend in backends { counts[backend.name] = try stats(backend.name)["requests"] ?? -1 }
        return counts
    }
}

/// Polls `condition` until it holds or `timeout` passes.
func eventually(timeout: Duration = .seconds(10), _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Deadline(after: timeout)
    repeat {
        if try condition() { return true }
        pollInterval()
    } while !deadline.hasPassed
    return try condition()
}
