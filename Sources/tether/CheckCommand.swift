import ArgumentParser
import Config
import RoutingTable

#if canImport(Glibc)
import Glibc
#endif

/// `tether check -c FILE`: the validator every reload runs, plus the
/// compile, with a one-screen summary of what would be served.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate and compile a configuration; print a summary, or every error."
    )

    @Option(name: [.short, .customLong("config")], help: "The configuration file (YAML or JSON).")
    var config: String

    func run() throws {
        let clock = ContinuousClock()
        var compiled: CompiledConfiguration?
        let elapsed = try clock.measure { compiled = try CompiledConfiguration(path: config, refusal: "nothing was compiled") }
        guard let compiled else { return }
        print(Summary(config: compiled.config, spec: compiled.spec, imageBytes: compiled.image.count, compileTime: elapsed).text)
    }
}

/// A configuration file loaded, validated and compiled into a table image,
/// as `check`, `run` and every reload do it.
struct CompiledConfiguration {
    let config: TetherConfig
    let spec: TableSpec
    let image: [UInt8]

    /// For `check` and `run`: every diagnostic goes to standard error, and
    /// any error exits 1 with `refusal` said.
    init(path: String, refusal: String, prepare: (inout TableSpec) -> String? = { _ in nil }) throws {
        switch CompiledConfiguration.load(path: path, prepare: prepare) {
        case .success(let compiled, let diagnostics):
            for d in diagnostics { printError(d) }
            self = compiled
        case .failure(let errors, let diagnostics):
            for d in diagnostics { printError(d) }
            printError("\(path): \(errors.count) error\(errors.count == 1 ? "" : "s"); \(refusal)")
            throw ExitCode(1)
        }
    }

    init(config: TetherConfig, spec: TableSpec, image: [UInt8]) {
        self.config = config
        self.spec = spec
        self.image = image
    }

    enum Outcome {
        /// `diagnostics`: every warning (and error), in file order.
        case success(CompiledConfiguration, diagnostics: [String])
        case failure(errors: [String], diagnostics: [String])
    }

    /// Loads, validates and compiles `path`; `prepare` may amend the table's
    /// input (state slots) or refuse it with a message. Prints nothing.
    static func load(path: String, prepare: (inout TableSpec) -> String?) -> Outcome {
        let result = ConfigLoader.load(path: path)
        let errors = result.errors.map(\.description)
        var diagnostics = result.diagnostics.map(\.description)
        guard let loaded = result.config, errors.isEmpty else {
            return .failure(errors: errors.isEmpty ? ["\(path): cannot be loaded"] : errors, diagnostics: diagnostics)
        }
        var spec = compile(loaded)
        if let problem = prepare(&spec) {
            diagnostics.append("\(path): \(problem)")
            return .failure(errors: ["\(path): \(problem)"], diagnostics: diagnostics)
        }
        do {
            let image = try TableBuilder.build(spec)
            return .success(CompiledConfiguration(config: loaded, spec: spec, image: image), diagnostics: diagnostics)
        } catch {
            diagnostics.append("\(path): cannot compile: \(error)")
            return .failure(errors: ["\(path): cannot compile: \(error)"], diagnostics: diagnostics)
        }
    }
}

struct Summary {
    let config: TetherConfig
    let spec: TableSpec
    let imageBytes: Int
    let compileTime: Duration

    var text: String {
        var lines: [String] = []
        let servers = spec.pools.reduce(0) { $0 + $1.servers.count }
        let values = spec.pools.reduce(0) { $0 + $1.servers.filter { $0.headerValue != nil }.count }
        lines.append("configuration OK: \(plural(spec.virtualServices.count, "virtual service")), \(plural(spec.pools.count, "pool")), "
                     + "\(plural(servers, "server")), \(plural(values, "header value"))")
        lines.append("")
        lines.append("virtual services")
        for vs in spec.virtualServices {
            lines.append("  \(vs.name)  listen \(vs.listen.joined(separator: ", "))  →  pool \(spec.pools[vs.pool].name)"
                         + (vs.xForwardedFor ? "  (X-Forwarded-For)" : ""))
            guard let tls = config.virtualServices.first(where: { $0.name == vs.name })?.tls else { continue }
            lines.append("    TLS \(tls.settings.minVersion)+, ALPN http/1.1, \(plural(tls.certificates.count, "certificate"))")
            for (k, c) in tls.certificates.enumerated() {
                let names = c.serverNames.isEmpty ? "no server names" : c.serverNames.joined(separator: ", ")
                lines.append("    \(k == 0 ? "default " : "")\(c.certificatePath)  \(c.summary.keyDescription), serial \(c.summary.serial), "
                             + "until \(UTCText.day(c.summary.notAfter))  →  \(names)")
            }
        }
        lines.append("")
        lines.append("pools")
        for pool in spec.pools {
            let enabled = pool.servers.filter(\.enabled).count
            var line = "  \(pool.name)  \(name(pool.lbAlgorithm))  \(enabled)/\(pool.servers.count) servers enabled"
            if let p = pool.persistence {
                let n = pool.servers.filter { $0.headerValue != nil }.count
                line += "  persistence: header \(p.headerName), \(plural(n, "value")), server_down \(name(p.serverDown))"
            }
            if pool.maxConnectionsPerServer > 0 { line += "  limit \(pool.maxConnectionsPerServer)/server" }
            lines.append(line)
            for m in pool.healthMonitors.map({ spec.healthMonitors[$0] }) {
                let what: String
                switch m.check {
                case .tcp: what = "tcp connect"
                case .http(let request, _, _): what = "http \(request.split(separator: "\r\n").first ?? "")"
                }
                lines.append("    monitor \(m.name): \(what), every \(m.intervalMs) ms, timeout \(m.timeoutMs) ms, "
                             + "down after \(m.failedChecks) failed, up after \(m.successfulChecks) passed")
            }
            if pool.healthMonitors.isEmpty { lines.append("    no health monitor: servers count as up") }
            for s in pool.servers.prefix(8) {
                let address = s.address.family == .v6 ? "[\(s.address)]" : "\(s.address)"
                lines.append("    \(s.name)  \(address):\(s.port)"
                             + (s.headerValue.map { "  header_value \($0)" } ?? "")
                             + (s.ratio != 1 ? "  ratio \(s.ratio)" : "") + (s.enabled ? "" : "  (disabled)"))
            }
            if pool.servers.count > 8 { lines.append("    … and \(pool.servers.count - 8) more") }
        }
        lines.append("")
        let ms = Double(compileTime.components.seconds) * 1000 + Double(compileTime.components.attoseconds) / 1e15
        lines.append("routing table: \(imageBytes) bytes; loaded, validated and compiled in \(Int(ms * 10 + 0.5) / 10).\(Int(ms * 10 + 0.5) % 10) ms")
        return lines.joined(separator: "\n")
    }

    func plural(_ n: Int, _ word: String) -> String { "\(n) \(word)\(n == 1 ? "" : "s")" }

    func name(_ a: LBAlgorithm) -> String {
        switch a {
        case .leastConnections: return "least_connections"
        case .roundRobin: return "round_robin"
        case .consistentHash: return "consistent_hash"
        }
    }

    func name(_ p: ServerDownPolicy) -> String {
        switch p {
        case .immediate: return "immediate"
        case .never: return "never"
        case .abort: return "abort"
        }
    }
}

/// Writes a line to standard error.
func printError(_ line: String) {
    var text = line + "\n"
    text.withUTF8 { bytes in
        var done = 0
        while done < bytes.count {
            let n = write(2, bytes.baseAddress! + done, bytes.count - done)
            if n <= 0 { break }
            done += n
        }
    }
}
