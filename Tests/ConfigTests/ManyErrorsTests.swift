import Testing
@testable import Config

@Suite struct ManyErrorsTests {
    static let yaml = """
        workers: 0
        user: "bad user"
        runtime_dir: run/tether
        drain_timeout: 10
        admin: { listen: "localhost:9901" }
        persistence_profiles:
          - name: p
            type: http_cookie
            header_name: "X Server"
            server_down: immediatly
          - name: p
            type: custom_http_header
            header_name: X-A
        health_monitors:
          - name: m
            type: tcp
            interval: 2s
            request: "GET / HTTP/1.1"
            succesful_checks: 3
        pools:
          - name: web
            lb_algoritm: round_robin
            persistence_profile: q
            health_monitors: [m, m, nope]
            max_connections_per_server: -1
            when_all_down: { action: close, status: 503 }
            servers:
              - { name: a, address: web1.example.com, port: 80, header_value: " s1" }
              - { name: a, address: 10.0.0.1, port: 70000, header_value: s2, ratio: 21 }
              - { name: b, address: 10.0.0.1, port: 80, header_value: s2, enabled: yes }
              - { name: c, address: 10.0.0.1, port: 80 }
        virtual_services:
          - name: www
            listen: ["0.0.0.0:80", "0.0.0.0:80", "::1:80"]
            pool: webb
            tls: { certificate: /a, key: /b }
            timeouts: { client_header: 0s, connect: 1.5, server_response: 10us }
            max_header_bytes: 32KB
        """

    /// Every mistake is reported, in file order, and nothing else.
    @Test func reportsEveryError() {
        let result = ConfigLoader.parse(text: Self.yaml, fileName: "bad.yaml")
        #expect(result.config == nil)
        #expect(result.diagnostics.map(\.description) == [
            "bad.yaml:1:10: workers: 0 is out of range; expected 'auto' or 1 to 1024",
            "bad.yaml:2:7: user: 'bad user' is not a valid user name",
            "bad.yaml:3:14: runtime_dir: 'run/tether' must be an absolute path",
            "bad.yaml:4:16: drain_timeout: '10' has no unit; write 10s for seconds or 10ms for milliseconds",
            "bad.yaml:5:18: listen: 'localhost' is a host name; tether needs an IPv4 or IPv6 address (it resolves no names, so every machine routes alike)",
            "bad.yaml:8:11: type: 'http_cookie' persistence is not supported; the only type is custom_http_header",
            "bad.yaml:9:18: header_name: 'X Server' contains a space, which HTTP header names cannot contain",
            "bad.yaml:10:18: server_down: unknown value 'immediatly'; expected one of immediate, never, abort; did you mean 'immediate'?",
            "bad.yaml:11:11: duplicate persistence profile name 'p'; first defined at 7:11",
            "bad.yaml:17:15: interval: 2s must be longer than the timeout (4s, the default)",
            "bad.yaml:18:5: request: applies to http monitors only",
            "bad.yaml:19:5: unknown key 'succesful_checks' in health monitor 'm'; did you mean 'successful_checks'?",
            "bad.yaml:22:5: unknown key 'lb_algoritm' in pool 'web'; did you mean 'lb_algorithm'?",
            "bad.yaml:23:26: persistence_profile: no persistence profile named 'q'; did you mean 'p'?",
            "bad.yaml:24:26: health_monitors: 'm' is already listed at 24:23",
            "bad.yaml:24:29: health_monitors: no health monitor named 'nope'",
            "bad.yaml:25:33: max_connections_per_server: -1 is out of range; expected 0 to 4294967295",
            "bad.yaml:26:37: status: does not apply to action close",
            "bad.yaml:28:29: address: 'web1.example.com' is a host name; tether needs an IPv4 or IPv6 address (it resolves no names, so every machine routes alike)",
            "bad.yaml:28:71: header_value: ' s1' has leading or trailing whitespace, which a request's value never has after trimming",
            "bad.yaml:29:17: duplicate server name 'a' in pool 'web'; first defined at 28:17",
            "bad.yaml:29:45: port: 70000 is out of range; expected 1 to 65535",
            "bad.yaml:29:77: ratio: 21 is out of range; expected 1 to 20",
            "bad.yaml:30:63: header_value: 's2' is already the value of server 'a' at 29:66; values must be unique within a pool",
            "bad.yaml:30:76: enabled: expected true or false, found 'yes'",
            "bad.yaml:31:29: server 10.0.0.1:80 is already in pool 'web' as 'b' at 30:29",
            "bad.yaml:34:28: listen: 0.0.0.0:80 is already used by virtual service 'www' at 34:14",
            "bad.yaml:34:42: listen: '::1:80': an IPv6 address needs brackets, as in [::1]:80",
            "bad.yaml:35:11: pool: no pool named 'webb'; did you mean 'web'?",
            "bad.yaml:36:25: certificate: cannot read /a: No such file or directory",
            "bad.yaml:36:34: key: cannot read /b: No such file or directory",
            "bad.yaml:37:32: client_header: must be longer than 0s",
            "bad.yaml:37:45: connect: '1.5' has no unit; write 1.5s for seconds",
            "bad.yaml:37:67: server_response: '10us' is finer than tether's resolution of 1ms",
            "bad.yaml:38:23: max_header_bytes: '32KB' has an ambiguous unit 'KB'; write 32KiB or a number of bytes",
        ])
    }

    @Test func diagnosticsAreSortedByPosition() {
        let locations = ConfigLoader.parse(text: Self.yaml, fileName: "bad.yaml").diagnostics.compactMap(\.location)
        #expect(locations == locations.sorted())
    }

    @Test func diagnosticFields() throws {
        let first = try #require(ConfigLoader.parse(text: Self.yaml, fileName: "bad.yaml").diagnostics.first)
        #expect(first.file == "bad.yaml")
        #expect(first.line == 1)
        #expect(first.column == 10)
        #expect(first.severity == .error)
        #expect(first.message == "workers: 0 is out of range; expected 'auto' or 1 to 1024")
    }
}
