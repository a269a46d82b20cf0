import RoutingTable
import Testing
@testable import Config

@Suite struct CompileTests {
    static let yaml = """
        persistence_profiles:
          - { name: by-x-server, type: custom_http_header, header_name: X-Server, server_down: never }
          - { name: by-session, type: custom_http_header, header_name: x-session, server_down: abort }
        pools:
          - name: api
            lb_algorithm: consistent_hash
            hash_key: header:X-User
            persistence_profile: by-session
            max_connections_per_server: 100
            when_all_down: { action: redirect, status: 307, location: "https://sorry.example.com/" }
            servers:
              - { name: api1, address: "2001:db8::10", port: 9000, header_value: "node one", ratio: 20 }
              - { name: api2, address: 10.1.0.2, port: 9000, enabled: false }
          - name: web
            lb_algorithm: round_robin
            persistence_profile: by-x-server
            when_all_down: { action: close }
            servers:
              - { name: apache1, address: 10.0.0.11, port: 8080, header_value: server1 }
          - name: plain
            when_all_down: { action: local_response, status: 429, retry_after: 1m }
            servers:
              - { name: only, address: 127.0.0.1, port: 1 }
        virtual_services:
          - name: www
            listen: ["0.0.0.0:80", "[::]:80"]
            pool: web
          - name: api
            listen: ["[2001:db8::1]:8443"]
            pool: api
            x_forwarded_for: false
            timeouts: { client_header: 1.5s, client_idle: 2m, connect: 250ms, server_response: 24h }
            max_header_bytes: 1MiB
          - name: plain
            listen: ["127.0.0.1:8081"]
            pool: plain
            max_header_bytes: 1024
        """

    let spec: TableSpec

    init() throws {
        spec = compile(try #require(load(Self.yaml)))
    }

    @Test func poolsKeepTheirOrder() {
        #expect(spec.pools.map(\.name) == ["api", "web", "plain"])
    }

    @Test func virtualServicesPointAtPoolIndices() {
        #expect(spec.virtualServices.map(\.name) == ["www", "api", "plain"])
        #expect(spec.virtualServices.map(\.pool) == [1, 0, 2])
        #expect(spec.virtualServices.map(\.listen) == [["0.0.0.0:80", "[::]:80"], ["[2001:db8::1]:8443"], ["127.0.0.1:8081"]])
        #expect(spec.virtualServices.allSatisfy { $0.tls == nil })
    }

    @Test func virtualServiceSettings() {
        let www = spec.virtualServices[0], api = spec.virtualServices[1], plain = spec.virtualServices[2]
        #expect(www.xForwardedFor == true)
        #expect(www.timeouts == Timeouts(clientHeaderMs: 10_000, clientIdleMs: 60_000, connectMs: 3_000,
                                         serverResponseMs: 30_000))
        #expect(www.maxHeaderBytes == 32_768)
        #expect(api.xForwardedFor == false)
        #expect(api.timeouts == Timeouts(clientHeaderMs: 1_500, clientIdleMs: 120_000, connectMs: 250,
                                         serverResponseMs: 86_400_000))
        #expect(api.maxHeaderBytes == 1_048_576)
        #expect(plain.maxHeaderBytes == 1024)
    }

    @Test func poolSettings() {
        let api = spec.pools[0], web = spec.pools[1], plain = spec.pools[2]
        #expect(api.lbAlgorithm == .consistentHash)
        #expect(api.hashKey == .header("X-User"))
        #expect(api.persistence == PersistenceSpec(headerName: "x-session", serverDown: .abort))
        #expect(api.maxConnectionsPerServer == 100)
        #expect(api.whenAllDown == .redirect(status: 307, location: "https://sorry.example.com/"))
        #expect(web.lbAlgorithm == .roundRobin)
        #expect(web.hashKey == .clientIP)
        #expect(web.persistence == PersistenceSpec(headerName: "X-Server", serverDown: .never))
        #expect(web.maxConnectionsPerServer == 0)
        #expect(web.whenAllDown == .close)
        #expect(plain.lbAlgorithm == .leastConnections)
        #expect(plain.persistence == nil)
        #expect(plain.whenAllDown == .localResponse(status: 429, retryAfterSeconds: 60))
    }

    @Test func servers() {
        #expect(spec.pools[0].servers == [
            ServerSpec(name: "api1", address: IPAddress("2001:db8::10")!, port: 9000, headerValue: "node one", ratio: 20),
            ServerSpec(name: "api2", address: IPAddress(v4: 10, 1, 0, 2), port: 9000, headerValue: nil, enabled: false),
        ])
        #expect(spec.pools[1].servers == [
            ServerSpec(name: "apache1", address: IPAddress(v4: 10, 0, 0, 11), port: 8080, headerValue: "server1"),
        ])
        #expect(spec.pools[2].servers == [ServerSpec(name: "only", address: IPAddress(v4: 127, 0, 0, 1), port: 1)])
    }

    @Test func exampleFileCompiles() throws {
        let path = repositoryRoot.appendingPathComponent("tools/example.yaml").path
        let config = try #require(ConfigLoader.load(path: path).config)
        let servers = (1...3).map { i in
            ServerSpec(name: "apache\(i)", address: IPAddress(v4: 127, 0, 0, 1), port: UInt16(9000 + i),
                       headerValue: "server\(i)")
        }
        #expect(compile(config) == TableSpec(
            virtualServices: [VirtualServiceSpec(name: "www", listen: ["127.0.0.1:8080"], pool: 0)],
            pools: [PoolSpec(name: "web", persistence: PersistenceSpec(headerName: "X-Server"), servers: servers,
                             healthMonitors: [0])],
            healthMonitors: [compile(config.healthMonitors[0])]))
        #expect(config.healthMonitors.map(\.name) == ["http-health"])
    }
}

@Suite struct CompileMonitorTests {
    @Test func monitorsBecomeSpecsAndPoolsReferToThem() throws {
        let config = try #require(load("""
            health_monitors:
              - { name: tcp-fast, type: tcp, interval: 2s, timeout: 500ms, successful_checks: 3, failed_checks: 1 }
              - name: http-health
                type: http
                request: "GET /healthz HTTP/1.1"
                expected_status: [2xx, 3xx, 418]
              - name: with-host
                type: http
                request: "HEAD /ping HTTP/1.0\\nHost: example.com\\nConnection: keep-alive"
            pools:
              - name: web
                health_monitors: [http-health, tcp-fast]
                servers:
                  - { name: a, address: 10.0.0.1, port: 80 }
              - name: api
                health_monitors: [with-host]
                servers:
                  - { name: b, address: 10.0.0.2, port: 80 }
              - name: none
                servers:
                  - { name: c, address: 10.0.0.3, port: 80 }
            virtual_services:
              - { name: www, listen: ["0.0.0.0:80"], pool: web }
            """))
        let spec = compile(config)
        #expect(spec.pools.map(\.healthMonitors) == [[1, 0], [2], []])
        #expect(spec.healthMonitors == [
            HealthMonitorSpec(name: "tcp-fast", check: .tcp, intervalMs: 2_000, timeoutMs: 500,
                              successfulChecks: 3, failedChecks: 1),
            HealthMonitorSpec(name: "http-health",
                              check: .http(request: "GET /healthz HTTP/1.1\r\nConnection: close\r\n", hasHost: false,
                                           expected: ExpectedStatus(classes: 0b1100, codes: [418])),
                              intervalMs: 10_000, timeoutMs: 4_000, successfulChecks: 2, failedChecks: 2),
            HealthMonitorSpec(name: "with-host",
                              check: .http(request: "HEAD /ping HTTP/1.0\r\nHost: example.com\r\nConnection: keep-alive\r\n",
                                           hasHost: true, expected: ExpectedStatus(classes: 0b1100)),
                              intervalMs: 10_000, timeoutMs: 4_000, successfulChecks: 2, failedChecks: 2),
        ])
        // And the compiled table carries them.
        let image = try TableBuilder.build(spec)
        try image.withUnsafeBytes { raw in
            let table = try RoutingTableView(validating: raw)
            #expect((0..<3).map { table.monitor(UInt32($0)).spec } == spec.healthMonitors)
            #expect(table.pool(0).monitors == [1, 0])
        }
    }
}
