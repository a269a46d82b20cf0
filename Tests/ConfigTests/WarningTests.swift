import Testing
@testable import Config

struct WarningCase: CustomTestStringConvertible, Sendable {
    let name: String
    let yaml: String
    let expected: [String]

    var testDescription: String { name }
}

let warningCases: [WarningCase] = [
    WarningCase(name: "header_value without a persistence profile", yaml: minimalPool.replacingOccurrences(
        of: "port: 80 }", with: "port: 80, header_value: s1 }"), expected: [
        "t.yaml:4:63: warning: header_value has no effect: pool 'web' has no persistence_profile",
    ]),
    WarningCase(name: "unused pool, profile and monitor", yaml: """
        persistence_profiles:
          - { name: p, type: custom_http_header, header_name: X-Server }
        health_monitors:
          - { name: h, type: tcp }
        pools:
          - { name: web, servers: [{ name: a, address: 10.0.0.1, port: 80 }] }
          - { name: spare, servers: [{ name: a, address: 10.0.0.1, port: 80 }] }
        virtual_services:
          - { name: www, listen: ["0.0.0.0:80"], pool: web }
        """, expected: [
        "t.yaml:2:13: warning: persistence profile 'p' is never used: no pool uses it",
        "t.yaml:4:13: warning: health monitor 'h' is never used: no pool uses it",
        "t.yaml:7:13: warning: pool 'spare' is never used: no virtual service uses it",
    ]),
    WarningCase(name: "hash_key without consistent_hash", yaml: minimalPool.replacingOccurrences(
        of: "  - name: web\n", with: "  - name: web\n    lb_algorithm: round_robin\n    hash_key: header:X-User\n"),
        expected: ["t.yaml:4:5: warning: hash_key has no effect unless lb_algorithm is consistent_hash"]),
    WarningCase(name: "persistence profile but no header values", yaml: """
        persistence_profiles:
          - { name: p, type: custom_http_header, header_name: X-Server }
        """ + "\n" + minimalPool.replacingOccurrences(
        of: "  - name: web\n", with: "  - name: web\n    persistence_profile: p\n"), expected: [
        "t.yaml:5:5: warning: no server of pool 'web' has a header_value, so no request is ever pinned",
    ]),
    WarningCase(name: "pool without servers", yaml: """
        pools:
          - { name: a, servers: [] }
          - { name: b }
        virtual_services:
          - { name: www, listen: ["0.0.0.0:80"], pool: a }
          - { name: api, listen: ["0.0.0.0:81"], pool: b }
        """, expected: [
        "t.yaml:2:25: warning: pool 'a' has no servers; every request gets its when_all_down action",
        "t.yaml:3:5: warning: pool 'b' has no servers; every request gets its when_all_down action",
    ]),
    WarningCase(name: "no virtual services", yaml: "workers: 2\n", expected: [
        "t.yaml:1:1: warning: no virtual_services: tether will not listen for traffic",
    ]),
]

@Suite struct WarningTests {
    /// Warnings are reported and do not fail the load.
    @Test(arguments: warningCases)
    func warns(_ c: WarningCase) {
        let result = ConfigLoader.parse(text: c.yaml, fileName: "t.yaml")
        #expect(result.errors.map(\.description) == [])
        #expect(result.warnings.map(\.description) == c.expected)
        #expect(result.config != nil)
    }

    /// A reference that resolves to nothing is an error; the target it was
    /// meant for is not also reported as unused.
    @Test func danglingReferenceSuppressesUnusedWarnings() {
        let yaml = minimalPool.replacingOccurrences(of: "pool: web }", with: "pool: wbe }")
        #expect(diagnostics(yaml) == ["t.yaml:6:48: pool: no pool named 'wbe'; did you mean 'web'?"])
    }
}
