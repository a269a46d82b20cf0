import Config
import Foundation
import RoutingTable
import Testing
@testable import AviImport

/// Whole exports, written from Avi's published object model the way
/// /api/configuration/export writes them (defaults spelled out, uuids,
/// tenant and cloud references).
@Suite struct ExampleTests {
    /// tools/avi-export-example.json: DESIGN.md §2's example as an Avi
    /// export, on loopback like tools/example.yaml.
    @Test func repositoryExample() throws {
        let text = try String(contentsOf: repositoryRoot.appendingPathComponent("tools/avi-export-example.json"), encoding: .utf8)
        let (config, warnings) = try converted(text)

        #expect(config.persistenceProfiles == [
            PersistenceProfile(name: "by-x-server", description: "Pin clients to the server named in X-Server",
                               headerName: "X-Server", serverDown: .immediate),
        ])
        #expect(config.healthMonitors == [
            HealthMonitor(name: "http-health",
                          check: .http(request: HTTPCheckRequest(method: "GET", target: "/healthz", version: "HTTP/1.1"),
                                       expectedStatus: [.class(2), .class(3)]),
                          interval: .seconds(10), timeout: .seconds(4), successfulChecks: 2, failedChecks: 2),
        ])
        let loopback = IPAddress("127.0.0.1")!
        #expect(config.pools == [
            Pool(name: "web", lbAlgorithm: .leastConnections, persistenceProfile: "by-x-server",
                 healthMonitors: ["http-health"], maxConnectionsPerServer: 0,
                 whenAllDown: .localResponse(status: 503, retryAfterSeconds: 0),
                 servers: [
                     Server(name: "apache1", address: loopback, port: 9001, headerValue: "server1"),
                     Server(name: "apache2", address: loopback, port: 9002, headerValue: "server2", ratio: 2),
                     Server(name: "apache3", address: loopback, port: 9003, headerValue: "server3", enabled: false),
                 ]),
        ])
        #expect(config.virtualServices == [
            VirtualService(name: "www", listen: [listen("127.0.0.1:8080")], pool: "web", xForwardedFor: true,
                           timeouts: VirtualServiceTimeouts(clientHeader: .seconds(10), clientIdle: .seconds(30)),
                           maxHeaderBytes: 48 * 1024),
        ])
        // Avi's Enterprise defaults that tether does not match; every other
        // field is converted, metadata, or at a value tether matches.
        #expect(warnings == [
            "Pool 'web': field 'inline_health_monitor' (true) is not supported by tether (tether's passive "
                + "detection marks a server down only when a connect to it fails; it does not lower its share on failed "
                + "responses), dropped",
            "Pool 'web': field 'connection_ramp_duration' (10) is not supported by tether (no slow start: a server that "
                + "comes up gets its full share at once), dropped",
        ])
    }

    /// DESIGN.md §2's example with its own addresses, the VIP on the
    /// virtual service itself (`vip`, as exports before VsVip have it) and
    /// references by uuid.
    @Test func designExample() throws {
        let json = export(
            profiles: ["""
                { "name": "by-x-server", "uuid": "applicationpersistenceprofile-1",
                  "persistence_type": "PERSISTENCE_TYPE_CUSTOM_HTTP_HEADER",
                  "hdr_persistence_profile": { "prst_hdr_name": "X-Server" } }
                """],
            monitors: ["""
                { "name": "http-health", "uuid": "healthmonitor-1", "type": "HEALTH_MONITOR_HTTP",
                  "send_interval": 10, "receive_timeout": 4, "successful_checks": 2, "failed_checks": 2,
                  "http_monitor": { "http_request": "GET /healthz HTTP/1.1", "http_response_code": ["HTTP_2XX", "HTTP_3XX"] } }
                """],
            pools: ["""
                { "name": "web", "uuid": "pool-1",
                  "lb_algorithm": "LB_ALGORITHM_LEAST_CONNECTIONS",
                  "application_persistence_profile_ref": "https://avi.example.com/api/applicationpersistenceprofile/applicationpersistenceprofile-1",
                  "health_monitor_refs": ["https://avi.example.com/api/healthmonitor/healthmonitor-1#http-health"],
                  "max_concurrent_connections_per_server": 0,
                  "fail_action": { "type": "FAIL_ACTION_HTTP_LOCAL_RSP", "local_rsp": { "status_code": "FAIL_HTTP_STATUS_CODE_503" } },
                  "default_server_port": 8080,
                  "servers": [
                    { "ip": { "addr": "10.0.0.11", "type": "V4" }, "hostname": "apache1", "prst_hdr_val": "server1" },
                    { "ip": { "addr": "10.0.0.12", "type": "V4" }, "hostname": "apache2", "prst_hdr_val": "server2", "ratio": 2 },
                    { "ip": { "addr": "10.0.0.13", "type": "V4" }, "port": 8080, "hostname": "apache3", "prst_hdr_val": "server3", "enabled": false }
                  ] }
                """],
            virtualServices: ["""
                { "name": "www", "pool_ref": "https://avi.example.com/api/pool/pool-1",
                  "services": [ { "port": 80, "enable_ssl": false } ],
                  "vip": [ { "vip_id": "0", "ip_address": { "addr": "10.0.0.100", "type": "V4" } },
                           { "vip_id": "1", "ip6_address": { "addr": "2001:db8::100", "type": "V6" } } ] }
                """])
        let (config, warnings) = try converted(json)
        #expect(warnings == [])
        #expect(config.persistenceProfiles == [PersistenceProfile(name: "by-x-server", headerName: "X-Server")])
        let pool = try #require(config.pools.first)
        #expect(pool.persistenceProfile == "by-x-server")
        #expect(pool.healthMonitors == ["http-health"])
        #expect(pool.servers == [
            Server(name: "apache1", address: IPAddress("10.0.0.11")!, port: 8080, headerValue: "server1"),
            Server(name: "apache2", address: IPAddress("10.0.0.12")!, port: 8080, headerValue: "server2", ratio: 2),
            Server(name: "apache3", address: IPAddress("10.0.0.13")!, port: 8080, headerValue: "server3", enabled: false),
        ])
        #expect(config.virtualServices == [
            VirtualService(name: "www", listen: [listen("10.0.0.100:80"), listen("[2001:db8::100]:80")], pool: "web"),
        ])
    }

    /// The YAML is what an operator reads: the example's, in full.
    @Test func yamlOfTheDesignExample() throws {
        let json = export(
            profiles: ["""
                { "name": "by-x-server", "persistence_type": "PERSISTENCE_TYPE_CUSTOM_HTTP_HEADER",
                  "hdr_persistence_profile": { "prst_hdr_name": "X-Server" }, "server_hm_down_recovery": "HM_DOWN_CONTINUE_PERSISTENT_SERVER" }
                """],
            pools: ["""
                { "name": "web", "application_persistence_profile_ref": "/api/applicationpersistenceprofile/?name=by-x-server",
                  "servers": [ { "ip": { "addr": "10.0.0.11", "type": "V4" }, "port": 8080, "hostname": "apache1", "prst_hdr_val": "server1" } ] }
                """],
            virtualServices: [virtualService()])
        let result = convert(json)
        #expect(result.yaml == """
            # Converted by `tether import-avi` from export.json.
            # Each Avi setting this file does not carry was reported as a warning.

            persistence_profiles:
              - name: by-x-server
                type: custom_http_header
                header_name: X-Server
                server_down: never

            pools:
              - name: web
                lb_algorithm: least_connections
                persistence_profile: by-x-server
                when_all_down: { action: close }
                servers:
                  - { name: apache1, address: 10.0.0.11, port: 8080, header_value: server1 }

            virtual_services:
              - name: www
                listen: ["10.0.0.100:80"]
                pool: web
                x_forwarded_for: true

            """)
    }
}
