import Posix
import SharedState

/// `tether status` for people: the supervisor, the table and the last
/// reload, then one row per worker and per server. With a `previous`
/// snapshot, requests per second are the difference over the time between
/// the two.
public enum StatusTable {
    public static func render(_ s: StatusSnapshot, previous: StatusSnapshot? = nil) -> String {
        var lines: [String] = []
        let now = s.takenAtMs
        lines.append("tether: supervisor pid \(s.supervisorPID), up \(duration(now, since: s.startedAtMs)) (since \(Timestamp.rfc3339(milliseconds: s.startedAtMs)))")
        lines.append("table: generation \(s.generation), loaded \(ago(now, s.tableLoadedAtMs))")
        if let r = s.lastReload {
            if r.applied {
                lines.append("last reload: #\(r.attempt) applied \(ago(now, r.atMs)): \(firstLine(r.message))")
            } else {
                lines.append("last reload: #\(r.attempt) REFUSED \(ago(now, r.atMs)); generation \(r.generation) keeps serving:")
                let errors = r.message.split(separator: "\n")
                for e in errors.prefix(5) { lines.append("  \(e)") }
                if errors.count > 5 { lines.append("  … and \(errors.count - 5) more") }
            }
        } else {
            lines.append("last reload: none since start")
        }
        lines.append("reloads: \(s.reloadsApplied) applied, \(s.reloadsRefused) refused")
        if let m = s.monitor, m.pid == 0 {
            lines.append("health monitor: restarting (\(m.checks) checks, \(m.checkFailures) failed, \(m.restarts) restarts so far)")
        } else if let m = s.monitor {
            lines.append("health monitor: pid \(m.pid), checking generation \(m.generation), \(m.checks) checks, \(m.checkFailures) failed, \(m.restarts) restarts")
        } else {
            lines.append("health monitor: not running")
        }
        if let g = s.accessLogGeneration {
            let written = s.workers.reduce(0) { $0 &+ $1[.accessLogLinesWritten] }
            let dropped = s.workers.reduce(0) { $0 &+ $1[.accessLogLinesDropped] }
            lines.append("access log: file generation \(g), \(written) lines written, \(dropped) dropped")
        }

        let interval = previous.map { s.takenAtMs > $0.takenAtMs ? Double(s.takenAtMs - $0.takenAtMs) / 1000 : 0 } ?? 0
        let rateNote = interval > 0 ? " (req/s over the last \(fixed(interval, 2)) s)" : ""

        lines.append("")
        lines.append("workers" + rateNote)
        var workerRows: [[String]] = []
        for w in s.workers {
            let before = previous?.workers.first { $0.index == w.index && $0.pid == w.pid }
            workerRows.append([
                "\(w.index)", w.pid == 0 ? "-" : "\(w.pid)", w.cpu < 0 ? "-" : "\(w.cpu)",
                w.online ? "running" : "offline", w.generation.map { "\($0)" } ?? "-",
                w.online && w.startedAtMs > 0 ? duration(now, since: w.startedAtMs) : "-",
                "\(w[.connectionsOpen])", "\(w[.requests])",
                rate(w[.requests], before?[.requests], interval),
                "\(w[.pinned])", "\(w[.failovers])", "\(w[.balanced])", "\(w[.localResponses])",
                "\(w[.restarts])",
            ])
        }
        lines += columns(["WORKER", "PID", "CPU", "STATE", "GEN", "UP", "CONNS", "REQUESTS", "REQ/S", "PINNED", "FAILOVER",
                          "BALANCED", "LOCAL", "RESTARTS"],
                         workerRows, left: [3])

        lines.append("")
        lines.append("servers" + rateNote)
        if s.servers.isEmpty {
            lines.append("  (none: the live table could not be read)")
        } else {
            var serverRows: [[String]] = []
            for v in s.servers {
                let before = previous?.servers.first { $0.stateSlot == v.stateSlot }
                serverRows.append([
                    v.pool, v.name, v.address, v.state + (v.downBy.isEmpty ? "" : " (\(v.downBy.joined(separator: "+")))"),
                    v.changedAtMs > 0 ? duration(now, since: v.changedAtMs) : "-", v.reason.description,
                    "\(v.connectionsOpen)", "\(v.inFlight)", "\(v[.requests])", rate(v[.requests], before?[.requests], interval),
                    "\(v[.responses2xx])", "\(v[.responses3xx])", "\(v[.responses4xx])", "\(v[.responses5xx])",
                    "\(v[.pinnedHits])", "\(v[.failovers])", "\(v[.balanced])", "\(v[.connectFailures])",
                ])
            }
            lines += columns(["POOL", "SERVER", "ADDRESS", "STATE", "SINCE", "REASON", "CONNS", "IN-FLIGHT", "REQUESTS",
                              "REQ/S", "2XX", "3XX", "4XX", "5XX", "PINNED", "FAILOVER", "BALANCED", "CONN-FAIL"],
                             serverRows, left: [0, 1, 2, 3, 5])
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Rows padded into columns two spaces apart; numbers right-aligned,
    /// the columns in `left` left-aligned.
    static func columns(_ header: [String], _ rows: [[String]], left: Set<Int>) -> [String] {
        var widths = header.map(\.count)
        for row in rows { for (k, cell) in row.enumerated() { widths[k] = max(widths[k], cell.count) } }
        func line(_ cells: [String]) -> String {
            var out = ""
            for (k, cell) in cells.enumerated() {
                let pad = String(repeating: " ", count: widths[k] - cell.count)
                let last = k == cells.count - 1
                if left.contains(k) { out += cell + (last ? "" : pad) } else { out += pad + cell }
                if !last { out += "  " }
            }
            return out
        }
        return [line(header)] + rows.map(line)
    }

    static func rate(_ now: UInt64, _ before: UInt64?, _ seconds: Double) -> String {
        guard let before, seconds > 0, now >= before else { return "-" }
        return fixed(Double(now - before) / seconds, 1)
    }

    static func fixed(_ x: Double, _ decimals: Int) -> String {
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let n = Int((x * scale).rounded())
        let whole = n / Int(scale), fraction = n % Int(scale)
        let digits = String(fraction)
        return "\(whole).\(String(repeating: "0", count: decimals - digits.count))\(digits)"
    }

    static func firstLine(_ text: String) -> String {
        text.split(separator: "\n", maxSplits: 1).first.map(String.init) ?? ""
    }

    static func ago(_ now: UInt64, _ then: UInt64) -> String {
        then == 0 ? "-" : "\(duration(now, since: then)) ago (\(Timestamp.rfc3339(milliseconds: then)))"
    }

    /// "42s", "5m 3s", "1h 2m", "3d 4h".
    public static func duration(_ now: UInt64, since then: UInt64) -> String {
        let total = now > then ? (now - then) / 1000 : 0
        let days = total / 86_400, hours = total % 86_400 / 3600, minutes = total % 3600 / 60, seconds = total % 60
        if days > 0 { return "\(days)d \(hours)h" }
        if hours > 0 { return "\(hours)h \(minutes)m" }
        if minutes > 0 { return "\(minutes)m \(seconds)s" }
        return "\(seconds)s"
    }
}
