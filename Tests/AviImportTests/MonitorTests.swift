import Config
import RoutingTable
import Testing
@testable import AviImport

@Suite struct HealthMonitorTests {
    /// An export whose pool uses the monitor `monitor` (named "m").
    static func withMonitor(_ monitor: String) -> String {
        export(monitors: [monitor], pools: [pool("web", #""health_monitor_refs": ["/api/healthmonitor/?name=m"]"#)],
               virtualServices: [virtualService()])
    }

    @Test func httpMonitor() throws {
        let monitor = """
            { "name": "m", "type": "HEALTH_MONITOR_HTTP", "send_interval": 5, "receive_timeout": 2, "successful_checks": 3,
              "failed_checks": 4, "monitor_port": 0,
              "http_monitor": { "http_request": "GET /status HTTP/1.1\\r\\nHost: app.example.com\\r\\nUser-Agent: avi\\r\\n\\r\\n",
                                "http_response_code": ["HTTP_2XX", "HTTP_4XX", "HTTP_2XX"], "exact_http_request": false } }
            """
        let (config, warnings) = try converted(Self.withMonitor(monitor))
        #expect(warnings == [])
        #expect(config.healthMonitors == [
            HealthMonitor(name: "m",
                          check: .http(request: HTTPCheckRequest(method: "GET", target: "/status", version: "HTTP/1.1", headers: [
                              HeaderField(name: "Host", value: "app.example.com"), HeaderField(name: "User-Agent", value: "avi"),
                          ]), expectedStatus: [.class(2), .class(4)]),
                          interval: .seconds(5), timeout: .seconds(2), successfulChecks: 3, failedChecks: 4),
        ])
        #expect(config.pools[0].healthMonitors == ["m"])
    }

    /// Avi's documentation writes header fields on the request line.
    @Test func headersOnTheRequestLine() throws {
        let monitor = """
            { "name": "m", "type": "HEALTH_MONITOR_HTTP",
              "http_monitor": { "http_request": "GET /index.htm HTTP/1.1 Host: www.site.com Connection: Close", "http_response_code": ["HTTP_ANY"] } }
            """
        let (config, warnings) = try converted(Self.withMonitor(monitor))
        #expect(warnings == [])
        #expect(config.healthMonitors[0].check == .http(
            request: HTTPCheckRequest(method: "GET", target: "/index.htm", version: "HTTP/1.1", headers: [
                HeaderField(name: "Host", value: "www.site.com"), HeaderField(name: "Connection", value: "Close"),
            ]),
            expectedStatus: [.class(1), .class(2), .class(3), .class(4), .class(5)]))
    }

    /// Avi's defaults, written out so the file says what Avi did.
    @Test func aviDefaults() throws {
        let (config, warnings) = try converted(Self.withMonitor(#"{ "name": "m", "type": "HEALTH_MONITOR_HTTP" }"#))
        #expect(warnings == [])
        #expect(config.healthMonitors == [
            HealthMonitor(name: "m", check: .http(request: HTTPCheckRequest(method: "GET", target: "/", version: "HTTP/1.0"),
                                                  expectedStatus: [.class(2)]),
                          interval: .seconds(10), timeout: .seconds(4), successfulChecks: 2, failedChecks: 2),
        ])
    }

    @Test func tcpMonitor() throws {
        let monitor = """
            { "name": "m", "type": "HEALTH_MONITOR_TCP", "send_interval": 30, "receive_timeout": 10,
              "tcp_monitor": { "tcp_half_open": false }, "http_monitor": { "http_request": "HEAD / HTTP/1.0" } }
            """
        let (config, warnings) = try converted(Self.withMonitor(monitor))
        #expect(warnings == [])
        #expect(config.healthMonitors == [HealthMonitor(name: "m", check: .tcp, interval: .seconds(30), timeout: .seconds(10))])
    }

    @Test(arguments: [
        "HEALTH_MONITOR_HTTPS", "HEALTH_MONITOR_PING", "HEALTH_MONITOR_UDP", "HEALTH_MONITOR_DNS", "HEALTH_MONITOR_EXTERNAL",
    ])
    func otherTypesAreDroppedFromTheirPools(type: String) throws {
        let monitor = #"{ "name": "m", "type": "\#(type)", "https_monitor": { "http_request": "GET / HTTP/1.0" } }"#
        let (config, warnings) = try converted(Self.withMonitor(monitor))
        #expect(config.healthMonitors == [])
        #expect(config.pools[0].healthMonitors == [])
        #expect(warnings == [
            "HealthMonitor 'm': type \(type) is not supported by tether (HTTP and TCP checks only); monitor not converted, "
                + "the pools that use it lose it",
            "Pool 'web': health monitor 'm' (\(type)) is not supported by tether, dropped from the pool",
        ])
    }

    @Test func unsupportedCheckSettingsAreReported() throws {
        let monitor = """
            { "name": "m", "type": "HEALTH_MONITOR_HTTP", "monitor_port": 8081,
              "http_monitor": { "http_request": "GET /health HTTP/1.1", "http_response": "OK", "maintenance_code": [503],
                                "exact_http_request": true } }
            """
        let (config, warnings) = try converted(Self.withMonitor(monitor))
        #expect(config.healthMonitors.count == 1)
        #expect(warnings == [
            "HealthMonitor 'm': field 'http_monitor.http_response' (\"OK\") is not supported by tether (tether matches the "
                + "status code only), dropped",
            "HealthMonitor 'm': field 'http_monitor.maintenance_code' ([…]) is not supported by tether (tether has no "
                + "maintenance mode), dropped",
            "HealthMonitor 'm': field 'http_monitor.exact_http_request' (true) is not supported by tether (tether adds "
                + "Host, and Connection: close for HTTP/1.1, when the request lacks them), dropped",
            "HealthMonitor 'm': field 'monitor_port' (8081) is not supported by tether (tether checks each server on the "
                + "port it serves on), dropped",
        ])
    }

    @Test func aRequestTetherCannotSendFallsBackToAvisDefault() throws {
        let monitor = #"{ "name": "m", "type": "HEALTH_MONITOR_HTTP", "http_monitor": { "http_request": "GET /x HTTP/2" } }"#
        let (config, warnings) = try converted(Self.withMonitor(monitor))
        #expect(config.healthMonitors[0].check == .http(request: HTTPCheckRequest(method: "GET", target: "/", version: "HTTP/1.0"),
                                                        expectedStatus: [.class(2)]))
        #expect(warnings == [
            "HealthMonitor 'm': field 'http_monitor.http_request' (\"GET /x HTTP/2\") is not a request tether can send "
                + "(version 'HTTP/2' must be HTTP/1.1 or HTTP/1.0); Avi's default GET / HTTP/1.0 is used",
        ])
    }

    @Test func theTimeoutMustBeShorterThanTheInterval() {
        let result = convert(Self.withMonitor(#"{ "name": "m", "type": "HEALTH_MONITOR_TCP", "send_interval": 5, "receive_timeout": 5 }"#))
        #expect(result.errors == [
            "HealthMonitor 'm': receive_timeout (5s) must be shorter than send_interval (5s), as Avi requires",
        ])
    }

    @Test(arguments: [
        (#""send_interval": 0"#, "field 'send_interval' must be an integer from 1 to 3600, found 0"),
        (#""successful_checks": 51"#, "field 'successful_checks' must be an integer from 1 to 50, found 51"),
        (#""failed_checks": "two""#, "field 'failed_checks' must be an integer from 1 to 50, found \"two\""),
    ])
    func valuesOutsideAvisRangesAreErrors(field: String, message: String) {
        let result = convert(Self.withMonitor(#"{ "name": "m", "type": "HEALTH_MONITOR_TCP", \#(field) }"#))
        #expect(result.errors == ["HealthMonitor 'm': " + message])
    }
}
