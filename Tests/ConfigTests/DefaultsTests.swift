import RoutingTable
import Testing
@testable import Config

@Suite struct DefaultsTests {
    /// Every optional key left out: DESIGN.md §2's (Avi's) defaults apply.
    static let sparse = """
        persistence_profiles:
          - { name: p, type: custom_http_header, header_name: X-Server }
        health_monitors:
          - { name: h, type: http }
          - { name: t, type: tcp }
        pools:
          - name: web
            persistence_profile: p
            health_monitors: [h, t]
            servers:
              - { name: a, address: 10.0.0.1, port: 80, header_value: s1 }
        virtual_services:
          - { name: www, listen: ["0.0.0.0:80"], pool: web }
        """

    @Test func topLevelDefaults() throws {
        let config = try #require(load(Self.sparse))
        #expect(config.workers == .auto)
        #expect(config.user == nil)
        #expect(config.runtimeDirectory == "/run/tether")
        #expect(config.admin == nil)
        #expect(config.accessLog == nil)
        #expect(config.drainTimeout == .seconds(30))
    }

    @Test func accessLogAndAdminAreReadWhenGiven() throws {
        let config = try #require(load("access_log: { path: /var/log/tether/access.log }\nadmin: { listen: '[::1]:9901' }\n" + Self.sparse))
        #expect(config.accessLog == AccessLogSettings(path: "/var/log/tether/access.log"))
        #expect(config.admin?.listen.description == "[::1]:9901")
    }

    @Test func profileDefaults() throws {
        let profile = try #require(load(Self.sparse)?.persistenceProfiles.first)
        #expect(profile.serverDown == .immediate)
        #expect(profile.description == nil)
    }

    @Test func monitorDefaults() throws {
        let monitors = try #require(load(Self.sparse)?.healthMonitors)
        for monitor in monitors {
            #expect(monitor.interval == .seconds(10))
            #expect(monitor.timeout == .seconds(4))
            #expect(monitor.successfulChecks == 2)
            #expect(monitor.failedChecks == 2)
        }
        #expect(monitors[0].check == .http(
            request: HTTPCheckRequest(method: "HEAD", target: "/", version: "HTTP/1.0"),
            expectedStatus: [.class(2), .class(3)]))
        #expect(monitors[1].check == .tcp)
    }

    @Test func poolAndServerDefaults() throws {
        let pool = try #require(load(Self.sparse)?.pools.first)
        #expect(pool.lbAlgorithm == .leastConnections)
        #expect(pool.hashKey == .clientIP)
        #expect(pool.maxConnectionsPerServer == 0)
        #expect(pool.whenAllDown == .localResponse(status: 503, retryAfterSeconds: 5))
        #expect(pool.servers[0].ratio == 1)
        #expect(pool.servers[0].enabled == true)
    }

    @Test func virtualServiceDefaults() throws {
        let vs = try #require(load(Self.sparse)?.virtualServices.first)
        #expect(vs.xForwardedFor == true)
        #expect(vs.timeouts.clientHeader == .seconds(10))
        #expect(vs.timeouts.clientIdle == .seconds(60))
        #expect(vs.timeouts.connect == .seconds(3))
        #expect(vs.timeouts.serverResponse == .seconds(30))
        #expect(vs.maxHeaderBytes == 32 * 1024)
    }

    @Test func partialTimeoutsKeepTheOtherDefaults() throws {
        let yaml = minimalPool.replacingOccurrences(
            of: "pool: web }", with: "pool: web, timeouts: { connect: 250ms } }")
        let timeouts = try #require(load(yaml)?.virtualServices.first?.timeouts)
        #expect(timeouts == VirtualServiceTimeouts(connect: .milliseconds(250)))
    }

    @Test(arguments: [
        ("{ action: local_response }", WhenAllDown.localResponse(status: 503, retryAfterSeconds: 5)),
        ("{ action: local_response, status: 429 }", .localResponse(status: 429, retryAfterSeconds: 5)),
        ("{ action: local_response, retry_after: 0s }", .localResponse(status: 503, retryAfterSeconds: 0)),
        ("{ action: local_response, status: 500, retry_after: 2m }", .localResponse(status: 500, retryAfterSeconds: 120)),
        ("{ action: close }", .close),
        ("{ action: redirect, location: 'https://sorry.example.com/' }",
         .redirect(status: 302, location: "https://sorry.example.com/")),
        ("{ action: redirect, status: 307, location: 'http://[2001:db8::1]:8080/down?x=1' }",
         .redirect(status: 307, location: "http://[2001:db8::1]:8080/down?x=1")),
    ])
    func whenAllDown(yaml: String, expected: WhenAllDown) throws {
        let text = minimalPool.replacingOccurrences(of: "  - name: web\n", with: "  - name: web\n    when_all_down: \(yaml)\n")
        let pool = try #require(load(text)?.pools.first)
        #expect(pool.whenAllDown == expected)
    }
}
