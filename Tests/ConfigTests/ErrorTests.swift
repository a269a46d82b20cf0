import Testing
@testable import Config

/// One configuration with one kind of mistake, and every error it must give.
struct ErrorCase: CustomTestStringConvertible, Sendable {
    let name: String
    let yaml: String
    let expected: [String]

    var testDescription: String { name }
}

/// Wraps `body` (indented two spaces, one pool 'web' entry) in a valid configuration.
func poolCase(_ name: String, _ poolBody: String, _ expected: [String]) -> ErrorCase {
    ErrorCase(name: name, yaml: """
        pools:
          - name: web
        \(poolBody)
        virtual_services:
          - { name: www, listen: ["0.0.0.0:80"], pool: web }
        """, expected: expected)
}

let errorCases: [ErrorCase] = [
    // Top level.
    ErrorCase(name: "unknown top-level key", yaml: "pool: []\n" + minimalPool, expected: [
        "t.yaml:1:1: unknown key 'pool' in the configuration; did you mean 'pools'?",
    ]),
    ErrorCase(name: "workers not a number", yaml: "workers: many\n" + minimalPool, expected: [
        "t.yaml:1:10: workers: expected 'auto' or a number of workers from 1 to 1024, found 'many'",
    ]),
    ErrorCase(name: "workers zero", yaml: "workers: 0\n" + minimalPool, expected: [
        "t.yaml:1:10: workers: 0 is out of range; expected 'auto' or 1 to 1024",
    ]),
    ErrorCase(name: "workers too many", yaml: "workers: 5000\n" + minimalPool, expected: [
        "t.yaml:1:10: workers: 5000 is out of range; expected 'auto' or 1 to 1024",
    ]),
    ErrorCase(name: "user invalid", yaml: "user: 'web user'\n" + minimalPool, expected: [
        "t.yaml:1:7: user: 'web user' is not a valid user name",
    ]),
    ErrorCase(name: "runtime_dir relative", yaml: "runtime_dir: run/tether\n" + minimalPool, expected: [
        "t.yaml:1:14: runtime_dir: 'run/tether' must be an absolute path",
    ]),
    ErrorCase(name: "drain_timeout without unit", yaml: "drain_timeout: 30\n" + minimalPool, expected: [
        "t.yaml:1:16: drain_timeout: '30' has no unit; write 30s for seconds or 30ms for milliseconds",
    ]),
    ErrorCase(name: "drain_timeout negative", yaml: "drain_timeout: -1s\n" + minimalPool, expected: [
        "t.yaml:1:16: drain_timeout: '-1s' is negative",
    ]),
    ErrorCase(name: "admin without listen", yaml: "admin: {}\n" + minimalPool, expected: [
        "t.yaml:1:8: admin is missing required key 'listen'",
    ]),
    ErrorCase(name: "admin listen hostname", yaml: "admin: { listen: 'localhost:9901' }\n" + minimalPool, expected: [
        "t.yaml:1:18: listen: 'localhost' is a host name; tether needs an IPv4 or IPv6 address (it resolves no names, so every machine routes alike)",
    ]),
    ErrorCase(name: "admin listen clashes with a virtual service",
              yaml: "admin: { listen: '0.0.0.0:80' }\n" + minimalPool, expected: [
        "t.yaml:7:27: listen: 0.0.0.0:80 is already used by admin at 1:18",
    ]),
    ErrorCase(name: "access_log without path", yaml: "access_log: {}\n" + minimalPool, expected: [
        "t.yaml:1:13: access_log is missing required key 'path'",
    ]),
    ErrorCase(name: "access_log relative", yaml: "access_log: { path: logs/access.log }\n" + minimalPool, expected: [
        "t.yaml:1:21: path: 'logs/access.log' must be an absolute path",
    ]),
    ErrorCase(name: "access_log a directory", yaml: "access_log: { path: /var/log/ }\n" + minimalPool, expected: [
        "t.yaml:1:21: path: '/var/log/' names a directory; access_log needs a file",
    ]),
    ErrorCase(name: "access_log unknown key", yaml: "access_log: { path: /a.log, format: json }\n" + minimalPool, expected: [
        "t.yaml:1:29: unknown key 'format' in access_log",
    ]),
    ErrorCase(name: "pools not a list", yaml: "pools: { name: web }\n", expected: [
        "t.yaml:1:8: pools: expected a list, found a mapping",
    ]),
    ErrorCase(name: "pools null", yaml: "pools:\nvirtual_services: []\n", expected: [
        "t.yaml:1:7: pools: expected a list, found nothing",
    ]),

    // Persistence profiles.
    ErrorCase(name: "profile type", yaml: """
        persistence_profiles:
          - { name: p, type: http_cookie, header_name: X-Server }
        """, expected: [
        "t.yaml:2:22: type: 'http_cookie' persistence is not supported; the only type is custom_http_header",
    ]),
    ErrorCase(name: "profile without type and header_name", yaml: """
        persistence_profiles:
          - name: p
        """, expected: [
        "t.yaml:2:5: persistence profile 'p' is missing required key 'type'",
        "t.yaml:2:5: persistence profile 'p' is missing required key 'header_name'",
    ]),
    ErrorCase(name: "profile header_name not a token", yaml: """
        persistence_profiles:
          - { name: p, type: custom_http_header, header_name: "X Server" }
          - { name: q, type: custom_http_header, header_name: "X-Server:" }
          - { name: r, type: custom_http_header, header_name: "" }
        """, expected: [
        "t.yaml:2:55: header_name: 'X Server' contains a space, which HTTP header names cannot contain",
        "t.yaml:3:55: header_name: 'X-Server:' must not end with ':'",
        "t.yaml:4:55: header_name: the header name is empty",
    ]),
    ErrorCase(name: "profile server_down", yaml: """
        persistence_profiles:
          - { name: p, type: custom_http_header, header_name: X-Server, server_down: pick_new }
        """, expected: [
        "t.yaml:2:78: server_down: unknown value 'pick_new'; expected one of immediate, never, abort",
    ]),
    ErrorCase(name: "duplicate profile names", yaml: """
        persistence_profiles:
          - { name: p, type: custom_http_header, header_name: X-A }
          - { name: p, type: custom_http_header, header_name: X-B }
        """, expected: [
        "t.yaml:3:13: duplicate persistence profile name 'p'; first defined at 2:13",
    ]),

    // Health monitors.
    ErrorCase(name: "monitor type", yaml: """
        health_monitors:
          - { name: m, type: https }
        """, expected: [
        "t.yaml:2:22: type: unknown value 'https'; expected one of http, tcp; did you mean 'http'?",
    ]),
    ErrorCase(name: "monitor timeout not below interval", yaml: """
        health_monitors:
          - { name: m, type: tcp, interval: 5s, timeout: 5s }
          - { name: n, type: tcp, interval: 3s }
        """, expected: [
        "t.yaml:2:50: timeout: 5s must be shorter than the interval (5s)",
        "t.yaml:3:37: interval: 3s must be longer than the timeout (4s, the default)",
    ]),
    ErrorCase(name: "monitor counts", yaml: """
        health_monitors:
          - { name: m, type: tcp, successful_checks: 0, failed_checks: 51 }
        """, expected: [
        "t.yaml:2:46: successful_checks: 0 is out of range; expected 1 to 50",
        "t.yaml:2:64: failed_checks: 51 is out of range; expected 1 to 50",
    ]),
    ErrorCase(name: "http-only fields on a tcp monitor", yaml: """
        health_monitors:
          - name: m
            type: tcp
            request: GET / HTTP/1.1
            expected_status: [200]
        """, expected: [
        "t.yaml:4:5: request: applies to http monitors only",
        "t.yaml:5:5: expected_status: applies to http monitors only",
    ]),
    ErrorCase(name: "monitor request and expected_status", yaml: """
        health_monitors:
          - { name: a, type: http, request: "GET /", expected_status: [2xx, 600, 6xx] }
          - { name: b, type: http, request: "GET /x HTTP/2", expected_status: [] }
          - { name: c, type: http, request: "GET x HTTP/1.1" }
          - { name: d, type: http, request: "GET / HTTP/1.1\\r\\nHost example.com" }
        """, expected: [
        "t.yaml:2:37: request: 'GET /' is not a request line: expected METHOD SP target SP HTTP/1.x, for example \"GET /healthz HTTP/1.1\"",
        "t.yaml:2:69: expected_status: '600' is not a status class such as 2xx or a status code such as 200 (1xx to 5xx, 100 to 599)",
        "t.yaml:2:74: expected_status: '6xx' is not a status class such as 2xx or a status code such as 200 (1xx to 5xx, 100 to 599)",
        "t.yaml:3:37: request: version 'HTTP/2' must be HTTP/1.1 or HTTP/1.0",
        "t.yaml:3:71: expected_status: list at least one status, for example [2xx, 3xx]",
        "t.yaml:4:37: request: target 'x' must start with '/'",
        "t.yaml:5:37: request: header line 'Host example.com' must be 'Name: value'",
    ]),
    ErrorCase(name: "monitor durations", yaml: """
        health_monitors:
          - { name: m, type: tcp, interval: 10, timeout: 0s }
          - { name: n, type: tcp, interval: 2h, timeout: 1ms }
        """, expected: [
        "t.yaml:2:37: interval: '10' has no unit; write 10s for seconds or 10ms for milliseconds",
        "t.yaml:2:50: timeout: must be longer than 0s",
        "t.yaml:3:37: interval: 2h is out of range; expected 100ms to 1h",
        "t.yaml:3:50: timeout: 1ms is out of range; expected 10ms to 1h",
    ]),

    // Pools.
    poolCase("lb_algorithm", "    lb_algorithm: leastconn\n    servers: []", [
        "t.yaml:3:19: lb_algorithm: unknown value 'leastconn'; expected one of least_connections, round_robin, consistent_hash; did you mean 'least_connections'?",
    ]),
    poolCase("hash_key", "    lb_algorithm: consistent_hash\n    hash_key: cookie\n    servers: []", [
        "t.yaml:4:15: hash_key: unknown value 'cookie'; expected client_ip or header:NAME",
    ]),
    poolCase("hash_key header name", "    lb_algorithm: consistent_hash\n    hash_key: 'header:X Y'\n    servers: []", [
        "t.yaml:4:15: hash_key: 'X Y' contains a space, which HTTP header names cannot contain",
    ]),
    poolCase("missing profile reference", "    persistence_profile: by-x-server\n    servers: []", [
        "t.yaml:3:26: persistence_profile: no persistence profile named 'by-x-server'",
    ]),
    poolCase("missing monitor reference", "    health_monitors: [http-health]\n    servers: []", [
        "t.yaml:3:23: health_monitors: no health monitor named 'http-health'",
    ]),
    poolCase("max_connections_per_server negative", "    max_connections_per_server: -1\n    servers: []", [
        "t.yaml:3:33: max_connections_per_server: -1 is out of range; expected 0 to 4294967295",
    ]),
    poolCase("when_all_down status", "    when_all_down: { action: local_response, status: 302 }\n    servers: []", [
        "t.yaml:3:54: status: 302 is out of range; expected 400 to 599",
    ]),
    poolCase("when_all_down close with status", "    when_all_down: { action: close, status: 503 }\n    servers: []", [
        "t.yaml:3:37: status: does not apply to action close",
    ]),
    poolCase("when_all_down redirect", "    when_all_down: { action: redirect, status: 200, location: /sorry }\n    servers: []", [
        "t.yaml:3:48: status: 200 is not a redirect status; expected 301, 302, 303, 307 or 308",
        "t.yaml:3:63: location: '/sorry' is not an absolute http:// or https:// URL",
    ]),
    poolCase("when_all_down redirect without location", "    when_all_down: { action: redirect }\n    servers: []", [
        "t.yaml:3:20: when_all_down is missing required key 'location'",
    ]),
    poolCase("when_all_down retry_after", "    when_all_down: { action: local_response, retry_after: 1500ms }\n    servers: []", [
        "t.yaml:3:59: retry_after: Retry-After counts whole seconds; write for example 5s",
    ]),
    poolCase("when_all_down action", "    when_all_down: { action: drop }\n    servers: []", [
        "t.yaml:3:30: action: unknown value 'drop'; expected one of local_response, close, redirect",
    ]),
    poolCase("servers not a list", "    servers: apache1", [
        "t.yaml:3:14: servers: expected a list, found 'apache1'",
    ]),

    // Servers.
    poolCase("server missing fields", "    servers:\n      - { name: a }", [
        "t.yaml:4:9: server 'a' is missing required key 'address'",
        "t.yaml:4:9: server 'a' is missing required key 'port'",
    ]),
    poolCase("server hostname", "    servers:\n      - { name: a, address: web1.example.com, port: 80 }", [
        "t.yaml:4:29: address: 'web1.example.com' is a host name; tether needs an IPv4 or IPv6 address (it resolves no names, so every machine routes alike)",
    ]),
    poolCase("server address with port", "    servers:\n      - { name: a, address: '10.0.0.1:80', port: 80 }", [
        "t.yaml:4:29: address: '10.0.0.1:80' includes a port; give the port on its own",
    ]),
    poolCase("server address invalid", "    servers:\n      - { name: a, address: 10.0.0.256, port: 80 }", [
        "t.yaml:4:29: address: '10.0.0.256' is not a valid IPv4 or IPv6 address",
    ]),
    poolCase("server unspecified address", "    servers:\n      - { name: a, address: '::', port: 80 }", [
        "t.yaml:4:29: address: '::' is the unspecified address; give the server's own address",
    ]),
    poolCase("server port", "    servers:\n      - { name: a, address: 10.0.0.1, port: 0 }\n      - { name: b, address: 10.0.0.1, port: 65536 }\n      - { name: c, address: 10.0.0.1, port: http }", [
        "t.yaml:4:45: port: 0 is out of range; expected 1 to 65535",
        "t.yaml:5:45: port: 65536 is out of range; expected 1 to 65535",
        "t.yaml:6:45: port: expected an integer from 1 to 65535, found 'http'",
    ]),
    poolCase("server ratio", "    servers:\n      - { name: a, address: 10.0.0.1, port: 80, ratio: 0 }\n      - { name: b, address: 10.0.0.2, port: 80, ratio: 21 }", [
        "t.yaml:4:56: ratio: 0 is out of range; expected 1 to 20",
        "t.yaml:5:56: ratio: 21 is out of range; expected 1 to 20",
    ]),
    poolCase("server enabled", "    servers:\n      - { name: a, address: 10.0.0.1, port: 80, enabled: no }", [
        "t.yaml:4:58: enabled: expected true or false, found 'no'",
    ]),
    poolCase("server header_value", "    servers:\n      - { name: a, address: 10.0.0.1, port: 80, header_value: ' s1' }\n      - { name: b, address: 10.0.0.2, port: 80, header_value: '' }\n      - { name: c, address: 10.0.0.3, port: 80, header_value: \"s\\u00e9\" }\n      - { name: d, address: 10.0.0.4, port: 80, header_value: \"a\\tb\" }", [
        "t.yaml:4:63: header_value: ' s1' has leading or trailing whitespace, which a request's value never has after trimming",
        "t.yaml:5:63: header_value: is empty; leave header_value out for a server that takes no pinned traffic",
        "t.yaml:6:63: header_value: contains U+00E9; only visible ASCII and inner spaces are allowed",
        "t.yaml:7:63: header_value: contains a tab; only visible ASCII and inner spaces are allowed",
    ]),
    poolCase("duplicate server names", "    servers:\n      - { name: a, address: 10.0.0.1, port: 80 }\n      - { name: a, address: 10.0.0.2, port: 80 }", [
        "t.yaml:5:17: duplicate server name 'a' in pool 'web'; first defined at 4:17",
    ]),
    poolCase("duplicate header values", "    servers:\n      - { name: a, address: 10.0.0.1, port: 80, header_value: s1 }\n      - { name: b, address: 10.0.0.2, port: 80, header_value: s1 }", [
        "t.yaml:5:63: header_value: 's1' is already the value of server 'a' at 4:63; values must be unique within a pool",
    ]),
    poolCase("duplicate server endpoints", "    servers:\n      - { name: a, address: 10.0.0.1, port: 80 }\n      - { name: b, address: 10.0.0.1, port: 80 }\n      - { name: c, address: '2001:db8::1', port: 80 }\n      - { name: d, address: '2001:DB8:0::1', port: 80 }", [
        "t.yaml:5:29: server 10.0.0.1:80 is already in pool 'web' as 'a' at 4:29",
        "t.yaml:7:29: server [2001:db8::1]:80 is already in pool 'web' as 'c' at 6:29",
    ]),

    // Virtual services.
    ErrorCase(name: "missing pool reference", yaml: """
        virtual_services:
          - { name: www, listen: ["0.0.0.0:80"], pool: web }
        """, expected: [
        "t.yaml:2:48: pool: no pool named 'web'",
    ]),
    ErrorCase(name: "virtual service missing fields", yaml: minimalPool + "  - { name: api }\n", expected: [
        "t.yaml:7:5: virtual service 'api' is missing required key 'listen'",
        "t.yaml:7:5: virtual service 'api' is missing required key 'pool'",
    ]),
    ErrorCase(name: "listen addresses", yaml: minimalPool + """
          - name: api
            pool: web
            listen: ["10.0.0.1", "::1:80", "[::1]:http", "[10.0.0.1]:80", "api.example.com:80", "0.0.0.0:65536", 80]
        """, expected: [
        "t.yaml:9:14: listen: '10.0.0.1' has no port; write ADDRESS:PORT, for example 0.0.0.0:80 or [::]:80",
        "t.yaml:9:26: listen: '::1:80': an IPv6 address needs brackets, as in [::1]:80",
        "t.yaml:9:36: listen: '[::1]:http': port 'http' is not a number from 1 to 65535",
        "t.yaml:9:50: listen: '[10.0.0.1]:80': brackets are for IPv6 addresses; write 10.0.0.1:80",
        "t.yaml:9:67: listen: 'api.example.com' is a host name; tether needs an IPv4 or IPv6 address (it resolves no names, so every machine routes alike)",
        "t.yaml:9:89: listen: '0.0.0.0:65536': port 65536 is out of range; expected 1 to 65535",
        "t.yaml:9:106: listen: '80' has no address; write ADDRESS:PORT, for example 0.0.0.0:80 or [::]:80",
    ]),
    ErrorCase(name: "listen empty", yaml: minimalPool + "  - { name: api, pool: web, listen: [] }\n", expected: [
        "t.yaml:7:37: listen: list at least one address, for example [\"0.0.0.0:80\"]",
    ]),
    ErrorCase(name: "same listen address twice", yaml: minimalPool + """
          - { name: api, pool: web, listen: ["10.0.0.1:81", "0.0.0.0:80"] }
          - { name: api2, pool: web, listen: ["[::]:81", "[0::0]:81", "10.0.0.1:81"] }
        """, expected: [
        "t.yaml:7:53: listen: 0.0.0.0:80 is already used by virtual service 'www' at 6:27",
        "t.yaml:8:50: listen: [::]:81 is already used by virtual service 'api2' at 8:39",
        "t.yaml:8:63: listen: 10.0.0.1:81 is already used by virtual service 'api' at 7:38",
    ]),
    ErrorCase(name: "a wildcard listen address overlaps a specific one", yaml: minimalPool + """
          - { name: api, pool: web, listen: ["10.0.0.1:80", "[::1]:80", "127.0.0.1:81"] }
          - { name: api2, pool: web, listen: ["[::]:80", "0.0.0.0:81", "[::]:82", "[::1]:82"] }
        """, expected: [
        "t.yaml:7:38: listen: 10.0.0.1:80 overlaps 0.0.0.0:80 of virtual service 'www' at 6:27: a wildcard address takes every address of its family on that port",
        "t.yaml:8:39: listen: [::]:80 overlaps [::1]:80 of virtual service 'api' at 7:53: a wildcard address takes every address of its family on that port",
        "t.yaml:8:50: listen: 0.0.0.0:81 overlaps 127.0.0.1:81 of virtual service 'api' at 7:65: a wildcard address takes every address of its family on that port",
    ]),
    ErrorCase(name: "duplicate virtual service names", yaml: minimalPool + "  - { name: www, listen: ['0.0.0.0:81'], pool: web }\n", expected: [
        "t.yaml:7:13: duplicate virtual service name 'www'; first defined at 6:13",
    ]),
    ErrorCase(name: "tls", yaml: minimalPool + "  - { name: api, listen: ['0.0.0.0:443'], pool: web, tls: { certificate: /c.pem, key: k.pem } }\n", expected: [
        "t.yaml:7:74: certificate: cannot read /c.pem: No such file or directory",
        "t.yaml:7:87: key: 'k.pem' must be an absolute path",
    ]),
    ErrorCase(name: "timeouts", yaml: minimalPool + "  - { name: api, listen: ['0.0.0.0:81'], pool: web, timeouts: { client_header: 0s, client_idle: 2d, connect: 3 , server_response: 25h, read: 1s } }\n", expected: [
        "t.yaml:7:80: client_header: must be longer than 0s",
        "t.yaml:7:97: client_idle: '2d': write days in hours, for example 24h",
        "t.yaml:7:110: connect: '3' has no unit; write 3s for seconds or 3ms for milliseconds",
        "t.yaml:7:131: server_response: 25h is out of range; expected 1ms to 24h",
        "t.yaml:7:136: unknown key 'read' in timeouts",
    ]),
    ErrorCase(name: "max_header_bytes", yaml: minimalPool + """
          - { name: a, listen: ['0.0.0.0:81'], pool: web, max_header_bytes: 32KB }
          - { name: b, listen: ['0.0.0.0:82'], pool: web, max_header_bytes: 512 }
          - { name: c, listen: ['0.0.0.0:83'], pool: web, max_header_bytes: 2MiB }
          - { name: d, listen: ['0.0.0.0:84'], pool: web, max_header_bytes: 1.5KiB }
        """, expected: [
        "t.yaml:7:69: max_header_bytes: '32KB' has an ambiguous unit 'KB'; write 32KiB or a number of bytes",
        "t.yaml:8:69: max_header_bytes: 512 is out of range; expected 1KiB to 1MiB",
        "t.yaml:9:69: max_header_bytes: 2MiB is out of range; expected 1KiB to 1MiB",
        "t.yaml:10:69: max_header_bytes: '1.5KiB' is not a whole number; write it in a smaller unit",
    ]),
    ErrorCase(name: "x_forwarded_for", yaml: minimalPool + "  - { name: api, listen: ['0.0.0.0:81'], pool: web, x_forwarded_for: 'true' }\n", expected: [
        "t.yaml:7:70: x_forwarded_for: expected true or false, found the string 'true'",
    ]),

    // Types.
    ErrorCase(name: "mapping where a scalar belongs", yaml: """
        pools:
          - name: { first: web }
            servers: []
        """, expected: [
        "t.yaml:2:11: name: expected a string, found a mapping",
    ]),
    ErrorCase(name: "list where a mapping belongs", yaml: """
        pools:
          - [web]
        """, expected: [
        "t.yaml:2:5: pool: expected a mapping, found a list",
    ]),
    ErrorCase(name: "non-string key", yaml: """
        pools:
          - { name: web, servers: [], [a]: 1 }
        """, expected: [
        "t.yaml:2:31: pool 'web': keys must be strings, found a list",
    ]),
]

@Suite struct ErrorTests {
    @Test(arguments: errorCases)
    func reportsExactly(_ c: ErrorCase) {
        #expect(errors(c.yaml) == c.expected)
    }
}
