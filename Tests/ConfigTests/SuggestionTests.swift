import Testing
@testable import Config

@Suite struct SuggestionTests {
    @Test(arguments: [
        ("lb_algoritm", "lb_algorithm"), ("LB-Algorithm", "lb_algorithm"), ("server", "servers"),
        ("helth_monitors", "health_monitors"), ("persistance_profile", "persistence_profile"),
        ("max_connections", "max_connections_per_server"), ("when_all_dwon", "when_all_down"),
        ("bogus", nil), ("x", nil),
    ] as [(String, String?)])
    func poolKeys(word: String, suggestion: String?) {
        #expect(Suggestions.closest(to: word, in: ConfigDecoder.poolKeys) == suggestion)
    }

    @Test(arguments: [
        ("leastconn", "least_connections"), ("round-robin", "round_robin"), ("consistent", "consistent_hash"),
        ("random", nil),
    ] as [(String, String?)])
    func algorithms(word: String, suggestion: String?) {
        let words = ["least_connections", "round_robin", "consistent_hash"]
        #expect(Suggestions.closest(to: word, in: words) == suggestion)
    }

    /// The message for an unknown key names the key, where it is, and the
    /// likely intended key; Avi's names are translated.
    @Test(arguments: [
        ("  - { name: p, type: custom_http_header, header_name: X-S, hedaer_name: X-T }",
         "t.yaml:2:60: unknown key 'hedaer_name' in persistence profile 'p'; did you mean 'header_name'?"),
        ("  - { name: p, type: custom_http_header, header_name: X-S, colour: red }",
         "t.yaml:2:60: unknown key 'colour' in persistence profile 'p'"),
        ("  - { name: p, type: custom_http_header, header_name: X-S, server_down: HM_DOWN_CONTINUE_PERSISTENT_SERVER }",
         "t.yaml:2:73: server_down: unknown value 'HM_DOWN_CONTINUE_PERSISTENT_SERVER'; expected one of immediate, never, abort; tether calls Avi's HM_DOWN_CONTINUE_PERSISTENT_SERVER 'never'"),
        ("  - { <<: {a: 1}, name: p, type: custom_http_header, header_name: X-S }",
         "t.yaml:2:7: merge keys (<<) are not supported in persistence profile 'p'; write the keys out"),
    ])
    func unknownKeyMessages(profile: String, message: String) {
        #expect(errors("persistence_profiles:\n" + profile + "\n") == [message])
    }

    @Test func aviKeyIsTranslated() {
        #expect(errors("persistence_profiles:\n  - { name: p, type: custom_http_header, prst_hdr_name: X-S }\n") == [
            "t.yaml:2:5: persistence profile 'p' is missing required key 'header_name'",
            "t.yaml:2:42: unknown key 'prst_hdr_name' in persistence profile 'p'; tether calls Avi's prst_hdr_name 'header_name'",
        ])
    }

    @Test func referenceSuggestion() {
        let yaml = """
            persistence_profiles:
              - { name: by-x-server, type: custom_http_header, header_name: X-Server }
            health_monitors:
              - { name: http-health, type: http }
            pools:
              - name: web
                persistence_profile: by-x-sever
                health_monitors: [http-heath]
                servers: [{ name: a, address: 10.0.0.1, port: 80, header_value: a }]
            virtual_services:
              - { name: www, listen: ["0.0.0.0:80"], pool: Web }
            """
        #expect(errors(yaml) == [
            "t.yaml:7:26: persistence_profile: no persistence profile named 'by-x-sever'; did you mean 'by-x-server'?",
            "t.yaml:8:23: health_monitors: no health monitor named 'http-heath'; did you mean 'http-health'?",
            "t.yaml:11:48: pool: no pool named 'Web'; did you mean 'web'?",
        ])
    }
}
