import Config
import RoutingTable

extension Conversion {
    static let serverDownPolicies: [String: ServerDownPolicy] = [
        "HM_DOWN_PICK_NEW_SERVER": .immediate,
        "HM_DOWN_CONTINUE_PERSISTENT_SERVER": .never,
        "HM_DOWN_ABORT_CONNECTION": .abort,
    ]

    /// The sub-profiles of the persistence types tether lacks: in a custom
    /// header profile they have no effect.
    static let otherPersistenceProfiles = [
        "app_cookie_persistence_profile", "http_cookie_persistence_profile", "ip_persistence_profile",
    ]

    mutating func persistenceProfile(_ object: AviObject) -> PersistenceProfile? {
        let errorsBefore = log.errors.count
        var r = object.reader()
        guard let type = text(&r, "persistence_type") else {
            if log.errors.count == errorsBefore { log.error(object.subject, "has no persistence_type (Avi requires one)") }
            profiles[object.name] = .failed
            return nil
        }
        guard type == "PERSISTENCE_TYPE_CUSTOM_HTTP_HEADER" else {
            log.warning(object.subject, setting: "persistence_type", "persistence_type \(type) is not supported by tether "
                + "(only PERSISTENCE_TYPE_CUSTOM_HTTP_HEADER); profile not converted, the pools that use it get no persistence")
            profiles[object.name] = .unsupported(kind: type)
            return nil
        }
        r.skip(Conversion.otherPersistenceProfiles)
        let description = text(&r, "description")

        var headerName: String?
        if var header = nested(&r, "hdr_persistence_profile") {
            headerName = text(&header, "prst_hdr_name")
            FieldRules.persistenceProfile.report(header, log: &log)
        }
        var serverDown = ServerDownPolicy.immediate
        if let value = text(&r, "server_hm_down_recovery") {
            if let policy = Conversion.serverDownPolicies[value] {
                serverDown = policy
            } else {
                log.warning(object.subject, setting: "server_hm_down_recovery", "server_hm_down_recovery \(value) is not "
                    + "one tether knows; HM_DOWN_PICK_NEW_SERVER (server_down: immediate, Avi's default) is used")
            }
        }
        FieldRules.persistenceProfile.report(r, log: &log)

        guard log.errors.count == errorsBefore else {
            profiles[object.name] = .failed
            return nil
        }
        guard let headerName else {
            log.error(object.subject, "has no hdr_persistence_profile.prst_hdr_name (a custom HTTP header profile needs one)")
            profiles[object.name] = .failed
            return nil
        }
        guard HTTPRules.isHeaderName(headerName) else {
            log.warning(object.subject, setting: "hdr_persistence_profile.prst_hdr_name", "prst_hdr_name '\(headerName)' "
                + "is not a valid HTTP header name; profile not converted, the pools that use it get no persistence")
            profiles[object.name] = .unsupported(kind: "an invalid header name")
            return nil
        }
        profiles[object.name] = .converted
        return PersistenceProfile(name: object.name, description: description, headerName: headerName, serverDown: serverDown)
    }

    static let statusClasses: [String: [StatusMatch]] = [
        "HTTP_1XX": [.class(1)], "HTTP_2XX": [.class(2)], "HTTP_3XX": [.class(3)], "HTTP_4XX": [.class(4)],
        "HTTP_5XX": [.class(5)], "HTTP_ANY": (1...5).map { .class($0) },
    ]

    /// Avi's defaults for an HTTP monitor without http_request or
    /// http_response_code.
    static let aviDefaultRequest = HTTPCheckRequest(method: "GET", target: "/", version: "HTTP/1.0")
    static let aviDefaultExpectedStatus: [StatusMatch] = [.class(2)]

    mutating func healthMonitor(_ object: AviObject) -> HealthMonitor? {
        let errorsBefore = log.errors.count
        var r = object.reader()
        guard let type = text(&r, "type") else {
            if log.errors.count == errorsBefore { log.error(object.subject, "has no type (Avi requires one)") }
            monitors[object.name] = .failed
            return nil
        }
        let own: String
        switch type {
        case "HEALTH_MONITOR_HTTP": own = "http_monitor"
        case "HEALTH_MONITOR_TCP": own = "tcp_monitor"
        default:
            log.warning(object.subject, setting: "type", "type \(type) is not supported by tether (HTTP and TCP checks "
                + "only); monitor not converted, the pools that use it lose it")
            monitors[object.name] = .unsupported(kind: type)
            return nil
        }
        // The settings of the other monitor types have no effect here.
        r.skip(object.members.map(\.key).filter { $0.hasSuffix("_monitor") && $0 != own })

        let interval = integer(&r, "send_interval", 1...3600) ?? 10
        let timeout = integer(&r, "receive_timeout", 1...2400) ?? 4
        let successes = integer(&r, "successful_checks", 1...50) ?? 2
        let failures = integer(&r, "failed_checks", 1...50) ?? 2
        if timeout >= interval {
            log.error(object.subject, "receive_timeout (\(timeout)s) must be shorter than send_interval (\(interval)s), as Avi requires")
        }

        var check = HealthCheck.tcp
        if type == "HEALTH_MONITOR_HTTP" {
            var request = Conversion.aviDefaultRequest
            var expected = Conversion.aviDefaultExpectedStatus
            if var http = nested(&r, "http_monitor") {
                if let text = text(&http, "http_request") {
                    switch HTTPRules.checkRequest(text) {
                    case .success(let parsed):
                        request = parsed
                    case .failure(let problem):
                        log.warning(object.subject, setting: "http_monitor.http_request", "field 'http_monitor.http_request' "
                            + "(\(JSONValue.string(text).brief)) is not a request tether can send (\(problem.message)); "
                            + "Avi's default GET / HTTP/1.0 is used")
                    }
                }
                if let codes = list(&http, "http_response_code") {
                    var matches: [StatusMatch] = []
                    for code in codes {
                        guard let name = code.string, let classes = Conversion.statusClasses[name] else {
                            log.warning(object.subject, setting: "http_monitor.http_response_code \(code.brief)",
                                        "http_response_code \(code.brief) is not one tether knows (HTTP_1XX to HTTP_5XX, HTTP_ANY), dropped")
                            continue
                        }
                        matches += classes.filter { !matches.contains($0) }
                    }
                    if !matches.isEmpty { expected = matches }
                }
                FieldRules.healthMonitor.report(http, log: &log)
            }
            check = .http(request: request, expectedStatus: expected)
        } else if let tcp = nested(&r, "tcp_monitor") {
            FieldRules.healthMonitor.report(tcp, log: &log)
        }
        FieldRules.healthMonitor.report(r, log: &log)

        guard log.errors.count == errorsBefore else {
            monitors[object.name] = .failed
            return nil
        }
        monitors[object.name] = .converted
        return HealthMonitor(name: object.name, check: check, interval: .seconds(interval), timeout: .seconds(timeout),
                             successfulChecks: successes, failedChecks: failures)
    }
}
