import SharedState

/// `tether status --json` and the admin endpoint's `GET /status`: totals
/// and timestamps (milliseconds since the Unix epoch), no rates; a script
/// computes rates from two documents and their `taken_at_ms`.
public enum StatusJSON {
    public static func render(_ s: StatusSnapshot) -> String {
        document(s).rendered()
    }

    public static func document(_ s: StatusSnapshot) -> JSONValue {
        .object([
            ("taken_at_ms", .unsigned(s.takenAtMs)),
            ("supervisor", .object([("pid", .signed(Int64(s.supervisorPID))), ("started_at_ms", .unsigned(s.startedAtMs))])),
            ("table", .object([("generation", .unsigned(s.generation)), ("loaded_at_ms", .unsigned(s.tableLoadedAtMs))])),
            ("reloads", .object([
                ("applied", .unsigned(s.reloadsApplied)),
                ("refused", .unsigned(s.reloadsRefused)),
                ("last", s.lastReload.map { r in
                    .object([("attempt", .unsigned(r.attempt)), ("result", .string(r.applied ? "applied" : "refused")),
                             ("generation", .unsigned(r.generation)), ("at_ms", .unsigned(r.atMs)),
                             ("message", .string(r.message))])
                } ?? .null),
            ])),
            ("monitor", s.monitor.map { m in
                .object([("pid", .signed(Int64(m.pid))), ("generation", .unsigned(m.generation)),
                         ("started_at_ms", .unsigned(m.startedAtMs)), ("checks", .unsigned(m.checks)),
                         ("check_failures", .unsigned(m.checkFailures)), ("restarts", .unsigned(m.restarts))])
            } ?? .null),
            ("access_log", s.accessLogGeneration.map { .object([("generation", .unsigned($0))]) } ?? .null),
            ("workers", .array(s.workers.map(worker))),
            ("servers", .array(s.servers.map(server))),
        ])
    }

    static func worker(_ w: StatusSnapshot.Worker) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("index", .unsigned(UInt64(w.index))),
            ("pid", .signed(Int64(w.pid))),
            ("cpu", .signed(Int64(w.cpu))),
            ("online", .bool(w.online)),
            ("generation", w.generation.map { .unsigned($0) } ?? .null),
            ("started_at_ms", .unsigned(w.startedAtMs)),
            ("access_log_generation", .unsigned(w.accessLogGeneration)),
        ]
        for c in WorkerSlot.Counter.allCases { members.append((c.jsonName, .unsigned(w[c]))) }
        return .object(members)
    }

    static func server(_ s: StatusSnapshot.Server) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("pool", .string(s.pool)),
            ("name", .string(s.name)),
            ("address", .string(s.address)),
            ("state", .string(s.state)),
            ("down_by", .array(s.downBy.map { .string($0) })),
            ("since_ms", .unsigned(s.changedAtMs)),
            ("reason", .string(s.reason.description)),
            ("in_flight", .unsigned(UInt64(s.inFlight))),
            ("connections_open", .unsigned(UInt64(s.connectionsOpen))),
            ("requests", .unsigned(s[.requests])),
            ("responses", .object(ServerSlot.Counter.responseClasses.map { ($0.statusClass, .unsigned(s[$0])) })),
        ]
        for c in ServerSlot.Counter.allCases where c != .requests && c.statusClass.isEmpty {
            members.append((c.jsonName, .unsigned(s[c])))
        }
        return .object(members)
    }
}

extension WorkerSlot.Counter {
    /// Its name in JSON.
    var jsonName: String {
        switch self {
        case .requests: return "requests"
        case .connectionsAccepted: return "connections_accepted"
        case .connectionsOpen: return "connections_open"
        case .localResponses: return "local_responses"
        case .bytesIn: return "bytes_in"
        case .bytesOut: return "bytes_out"
        case .restarts: return "restarts"
        case .pinned: return "pinned"
        case .balanced: return "balanced"
        case .failovers: return "failovers"
        case .tableSwitches: return "table_switches"
        case .tlsHandshakeFailures: return "tls_handshake_failures"
        case .accessLogLinesWritten: return "access_log_lines_written"
        case .accessLogLinesDropped: return "access_log_lines_dropped"
        case .bufferWaits: return "buffer_waits"
        }
    }
}

extension ServerSlot.Counter {
    static let responseClasses: [ServerSlot.Counter] = [.responses1xx, .responses2xx, .responses3xx, .responses4xx, .responses5xx]

    /// "1xx" ... "5xx" for the response counters, "" for the others.
    var statusClass: String {
        switch self {
        case .responses1xx: return "1xx"
        case .responses2xx: return "2xx"
        case .responses3xx: return "3xx"
        case .responses4xx: return "4xx"
        case .responses5xx: return "5xx"
        default: return ""
        }
    }

    /// Its name in JSON (the response classes go under "responses").
    var jsonName: String {
        switch self {
        case .requests: return "requests"
        case .responses1xx, .responses2xx, .responses3xx, .responses4xx, .responses5xx: return statusClass
        case .bytesToServer: return "bytes_to_server"
        case .bytesFromServer: return "bytes_from_server"
        case .connectFailures: return "connect_failures"
        case .pinnedHits: return "pinned_hits"
        case .failovers: return "failovers"
        case .balanced: return "balanced"
        case .stateChanges: return "state_changes"
        }
    }
}
