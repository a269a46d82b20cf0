import SharedState

/// The admin endpoint's `GET /metrics`: the Prometheus text exposition
/// format (version 0.0.4), one family per metric with its HELP and TYPE
/// lines. Servers are labelled `pool`, `server` and `address`; workers
/// `worker` and `cpu`.
public enum PrometheusText {
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    public static func render(_ s: StatusSnapshot) -> String {
        var out = Exposition()

        out.family("tether_start_time_seconds", .gauge, "When the supervisor started, in seconds since the Unix epoch.") {
            $0.sample([], seconds(s.startedAtMs))
        }
        out.family("tether_table_generation", .gauge, "The generation of the live routing table.") {
            $0.sample([], "\(s.generation)")
        }
        out.family("tether_table_loaded_time_seconds", .gauge, "When the live routing table was published.") {
            $0.sample([], seconds(s.tableLoadedAtMs))
        }
        out.family("tether_reloads_total", .counter, "Reload attempts by result.") {
            $0.sample([("result", "applied")], "\(s.reloadsApplied)")
            $0.sample([("result", "refused")], "\(s.reloadsRefused)")
        }
        out.family("tether_last_reload_successful", .gauge, "1 when the last reload was applied or none was tried, 0 when it was refused.") {
            $0.sample([], s.lastReload.map { $0.applied ? "1" : "0" } ?? "1")
        }
        if let r = s.lastReload {
            out.family("tether_last_reload_time_seconds", .gauge, "When the last reload was attempted.") {
                $0.sample([], seconds(r.atMs))
            }
        }

        out.family("tether_monitor_up", .gauge, "1 when the health monitor runs.") {
            $0.sample([], (s.monitor?.pid ?? 0) == 0 ? "0" : "1")
        }
        if let m = s.monitor {
            out.family("tether_monitor_checks_total", .counter, "Health checks run.") { $0.sample([], "\(m.checks)") }
            out.family("tether_monitor_check_failures_total", .counter, "Health checks that failed.") { $0.sample([], "\(m.checkFailures)") }
            out.family("tether_monitor_restarts_total", .counter, "Health monitor restarts.") { $0.sample([], "\(m.restarts)") }
        }

        workerFamilies(s.workers, into: &out)
        serverFamilies(s.servers, into: &out)
        return out.text
    }

    static func workerFamilies(_ workers: [StatusSnapshot.Worker], into out: inout Exposition) {
        func labels(_ w: StatusSnapshot.Worker) -> [(String, String)] { [("worker", "\(w.index)"), ("cpu", "\(w.cpu)")] }
        func counter(_ name: String, _ help: String, _ c: WorkerSlot.Counter) {
            out.family(name, .counter, help) { f in for w in workers { f.sample(labels(w), "\(w[c])") } }
        }
        out.family("tether_worker_up", .gauge, "1 when a worker runs in the slot.") { f in
            for w in workers { f.sample(labels(w), w.online ? "1" : "0") }
        }
        out.family("tether_worker_table_generation", .gauge, "The table generation the worker routes new requests with.") { f in
            for w in workers { if let g = w.generation { f.sample(labels(w), "\(g)") } }
        }
        out.family("tether_worker_start_time_seconds", .gauge, "When the worker in the slot started.") { f in
            for w in workers where w.startedAtMs > 0 { f.sample(labels(w), seconds(w.startedAtMs)) }
        }
        counter("tether_worker_requests_total", "Requests read from clients (forwarded or answered locally).", .requests)
        counter("tether_worker_connections_accepted_total", "Client connections accepted.", .connectionsAccepted)
        out.family("tether_worker_connections", .gauge, "Client connections open.") { f in
            for w in workers { f.sample(labels(w), "\(w[.connectionsOpen])") }
        }
        counter("tether_worker_local_responses_total", "Responses the worker made itself (400, 408, 502, 503, 504, ...).", .localResponses)
        out.family("tether_worker_bytes_total", .counter, "Bytes read from and written to clients.") { f in
            for w in workers {
                f.sample(labels(w) + [("direction", "from_client")], "\(w[.bytesIn])")
                f.sample(labels(w) + [("direction", "to_client")], "\(w[.bytesOut])")
            }
        }
        out.family("tether_worker_routed_total", .counter, "Requests sent to a server, by why that server.") { f in
            for w in workers {
                f.sample(labels(w) + [("reason", "pinned")], "\(w[.pinned])")
                f.sample(labels(w) + [("reason", "failover")], "\(w[.failovers])")
                f.sample(labels(w) + [("reason", "balanced")], "\(w[.balanced])")
            }
        }
        counter("tether_worker_restarts_total", "Workers started in the slot after one died.", .restarts)
        counter("tether_worker_table_switches_total", "Table generations the worker switched to.", .tableSwitches)
        counter("tether_worker_tls_handshake_failures_total",
                "TLS connections that ended before their handshake completed (failed, cleartext, stalled or abandoned).",
                .tlsHandshakeFailures)
        counter("tether_worker_buffer_waits_total",
                "Receives that found every receive buffer taken and waited for one (slow readers holding buffers, or a burst).",
                .bufferWaits)
        out.family("tether_access_log_lines_total", .counter,
                   "Access log lines by result: written to the file in full, or dropped (both buffers full while the disk lagged, or a failed write).") { f in
            for w in workers {
                f.sample(labels(w) + [("result", "written")], "\(w[.accessLogLinesWritten])")
                f.sample(labels(w) + [("result", "dropped")], "\(w[.accessLogLinesDropped])")
            }
        }
    }

    static func serverFamilies(_ servers: [StatusSnapshot.Server], into out: inout Exposition) {
        func labels(_ s: StatusSnapshot.Server) -> [(String, String)] { [("pool", s.pool), ("server", s.name), ("address", s.address)] }
        func counter(_ name: String, _ help: String, _ c: ServerSlot.Counter) {
            out.family(name, .counter, help) { f in for s in servers { f.sample(labels(s), "\(s[c])") } }
        }
        out.family("tether_server_up", .gauge, "1 unless the health monitor or a worker's failed connects marked the server down.") { f in
            for s in servers { f.sample(labels(s), s.down.rawValue == 0 ? "1" : "0") }
        }
        out.family("tether_server_enabled", .gauge, "1 unless the configuration disables the server.") { f in
            for s in servers { f.sample(labels(s), s.enabled ? "1" : "0") }
        }
        out.family("tether_server_state_change_time_seconds", .gauge, "When the server's up/down state last changed.") { f in
            for s in servers where s.changedAtMs > 0 { f.sample(labels(s), seconds(s.changedAtMs)) }
        }
        out.family("tether_server_in_flight", .gauge, "Requests in flight to the server, across workers.") { f in
            for s in servers { f.sample(labels(s), "\(s.inFlight)") }
        }
        out.family("tether_server_connections", .gauge, "TCP connections open to the server, idle pooled ones included.") { f in
            for s in servers { f.sample(labels(s), "\(s.connectionsOpen)") }
        }
        counter("tether_server_requests_total", "Requests sent to the server.", .requests)
        out.family("tether_server_responses_total", .counter, "Responses relayed from the server, by status class.") { f in
            for s in servers {
                for c in ServerSlot.Counter.responseClasses { f.sample(labels(s) + [("class", c.statusClass)], "\(s[c])") }
            }
        }
        out.family("tether_server_bytes_total", .counter, "Bytes written to and read from the server.") { f in
            for s in servers {
                f.sample(labels(s) + [("direction", "to_server")], "\(s[.bytesToServer])")
                f.sample(labels(s) + [("direction", "from_server")], "\(s[.bytesFromServer])")
            }
        }
        out.family("tether_server_persistence_total", .counter,
                   "Requests sent to the server: pinned by their header (hit), failed over from a pinned server that was not available, or balanced.") { f in
            for s in servers {
                f.sample(labels(s) + [("outcome", "hit")], "\(s[.pinnedHits])")
                f.sample(labels(s) + [("outcome", "failover")], "\(s[.failovers])")
                f.sample(labels(s) + [("outcome", "balanced")], "\(s[.balanced])")
            }
        }
        counter("tether_server_connect_failures_total", "Connects to the server that were refused or timed out.", .connectFailures)
        counter("tether_server_state_changes_total", "Up/down transitions of the server.", .stateChanges)
    }

    /// Milliseconds since the epoch as seconds with three decimals.
    static func seconds(_ ms: UInt64) -> String {
        let fraction = ms % 1000
        return "\(ms / 1000).\(fraction < 10 ? "00" : fraction < 100 ? "0" : "")\(fraction)"
    }

    /// A label value: backslash, double quote and line feed escaped.
    public static func escapeLabelValue(_ value: String) -> String {
        var out = ""
        out.reserveCapacity(value.utf8.count)
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// HELP text: backslash and line feed escaped.
    static func escapeHelp(_ text: String) -> String {
        text.replacing("\\", with: "\\\\").replacing("\n", with: "\\n")
    }

    enum Kind: String { case counter, gauge }

    struct Exposition {
        var text = ""

        /// A family's HELP and TYPE lines and its samples; nothing when it
        /// has no sample.
        mutating func family(_ name: String, _ kind: Kind, _ help: String, _ samples: (inout Samples) -> Void) {
            var f = Samples(name: name)
            samples(&f)
            if f.lines.isEmpty { return }
            text += "# HELP \(name) \(PrometheusText.escapeHelp(help))\n# TYPE \(name) \(kind.rawValue)\n"
            text += f.lines
        }
    }

    struct Samples {
        let name: String
        var lines = ""

        mutating func sample(_ labels: [(String, String)], _ value: String) {
            lines += name
            if !labels.isEmpty {
                lines += "{"
                for (k, (key, v)) in labels.enumerated() {
                    if k > 0 { lines += "," }
                    lines += "\(key)=\"\(PrometheusText.escapeLabelValue(v))\""
                }
                lines += "}"
            }
            lines += " \(value)\n"
        }
    }
}
