import Foundation
import RoutingTable
import Testing
@testable import Config

@Suite struct ExampleTests {
    @Test func exampleFileLoadsWithoutDiagnostics() throws {
        let path = repositoryRoot.appendingPathComponent("tools/example.yaml").path
        let result = ConfigLoader.load(path: path)
        #expect(result.diagnostics.map(\.description) == [])
        let config = try #require(result.config)
        #expect(config.workers == .auto)
        #expect(config.admin?.listen.description == "127.0.0.1:9901")
        #expect(config.pools.map(\.name) == ["web"])
        let servers = config.pools[0].servers
        #expect(servers.map(\.name) == ["apache1", "apache2", "apache3"])
        #expect(servers.map(\.headerValue) == ["server1", "server2", "server3"])
        #expect(servers.map(\.port) == [9001, 9002, 9003])
        #expect(servers.allSatisfy { $0.address == IPAddress(v4: 127, 0, 0, 1) })
        #expect(config.virtualServices.map { $0.listen.map(\.text) } == [["127.0.0.1:8080"]])
    }

    /// The example's certificate files do not exist here: their reads are the only errors.
    @Test func designExampleFailsOnlyOnItsCertificateFiles() {
        let result = ConfigLoader.parse(text: designExample, fileName: "design.yaml")
        #expect(result.config == nil)
        #expect(result.errors.map(\.description) == [
            "design.yaml:40:25: certificate: cannot read /etc/tether/www.crt: No such file or directory",
            "design.yaml:40:51: key: cannot read /etc/tether/www.key: No such file or directory",
        ])
        #expect(result.warnings.map(\.description) == [
            "design.yaml:26:5: warning: hash_key has no effect unless lb_algorithm is consistent_hash",
        ])
    }

    @Test func designExampleWithoutTLSCompiles() throws {
        let text = designExample.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.contains("tls:") }.joined(separator: "\n")
        let config = try #require(load(text))
        #expect(config.user == "tether")
        #expect(config.runtimeDirectory == "/run/tether")
        let spec = compile(config)
        let servers = spec.pools[0].servers
        #expect(servers.map(\.ratio) == [1, 2, 1])
        #expect(servers.map(\.enabled) == [true, true, false])
        #expect(spec.virtualServices[0].listen == ["0.0.0.0:80", "[::]:80"])
        #expect(config.virtualServices[0].listen[1].address == IPAddress("::"))
    }

    @Test func jsonIsReadLikeYAML() throws {
        let json = """
            {
              "workers": 4,
              "admin": {"listen": "127.0.0.1:9901"},
              "persistence_profiles": [
                {"name": "by-x-server", "type": "custom_http_header", "header_name": "X-Server", "server_down": "never"}
              ],
              "health_monitors": [
                {"name": "tcp-check", "type": "tcp", "interval": "5s", "timeout": "1s"}
              ],
              "pools": [
                {
                  "name": "web",
                  "persistence_profile": "by-x-server",
                  "health_monitors": ["tcp-check"],
                  "when_all_down": {"action": "close"},
                  "servers": [
                    {"name": "apache1", "address": "127.0.0.1", "port": 9001, "header_value": "server1"},
                    {"name": "apache2", "address": "::1", "port": 9002, "header_value": "server2", "ratio": 3,
                     "enabled": false}
                  ]
                }
              ],
              "virtual_services": [
                {"name": "www", "listen": ["127.0.0.1:8080"], "pool": "web", "x_forwarded_for": false,
                 "max_header_bytes": 65536}
              ]
            }
            """
        let config = try #require(load(json))
        #expect(config.workers == .fixed(4))
        #expect(config.persistenceProfiles == [
            PersistenceProfile(name: "by-x-server", headerName: "X-Server", serverDown: .never),
        ])
        #expect(config.healthMonitors == [
            HealthMonitor(name: "tcp-check", check: .tcp, interval: .seconds(5), timeout: .seconds(1)),
        ])
        #expect(config.pools == [
            Pool(name: "web", persistenceProfile: "by-x-server", healthMonitors: ["tcp-check"], whenAllDown: .close,
                 servers: [
                    Server(name: "apache1", address: IPAddress(v4: 127, 0, 0, 1), port: 9001, headerValue: "server1"),
                    Server(name: "apache2", address: IPAddress("::1")!, port: 9002, headerValue: "server2",
                           ratio: 3, enabled: false),
                 ]),
        ])
        #expect(config.virtualServices.map(\.xForwardedFor) == [false])
        #expect(config.virtualServices.map(\.maxHeaderBytes) == [65536])
    }

    /// A quoted number is a string in JSON and YAML alike: strict typing
    /// reports it rather than guessing.
    @Test func jsonStringWhereANumberBelongsIsAnError() {
        let json = """
            {"pools": [{"name": "web", "servers": [{"name": "a", "address": "10.0.0.1", "port": "80"}]}],
             "virtual_services": [{"name": "www", "listen": ["0.0.0.0:80"], "pool": "web"}]}
            """
        #expect(errors(json) == ["t.yaml:1:85: port: expected an integer from 1 to 65535, found the string '80'"])
    }
}
