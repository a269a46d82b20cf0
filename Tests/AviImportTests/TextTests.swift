import Config
import RoutingTable
import Testing
@testable import AviImport

@Suite struct YAMLTests {
    @Test(arguments: [
        ("web", "web"), ("apache-1.example.com", "apache-1.example.com"), ("10.0.0.1", "10.0.0.1"), ("_x", "_x"),
        ("/healthz", "/healthz"),
        ("", #""""#), ("two words", #""two words""#), ("null", #""null""#), ("True", #""True""#), ("off", #""off""#),
        ("~", #""~""#), ("123", #""123""#), ("1.5", #""1.5""#), ("0x1F", #""0x1F""#), ("-web", #""-web""#),
        ("2001:db8::1", #""2001:db8::1""#), ("a: b", #""a: b""#), ("a#b", #""a#b""#), ("[x]", #""[x]""#),
        ("say \"hi\"", #""say \"hi\"""#), ("back\\slash", #""back\\slash""#), ("line\nbreak", #""line\nbreak""#),
        ("tab\there", #""tab\there""#), ("bell\u{7}", #""bell\u0007""#), ("nel\u{85}", #""nel\u0085""#),
        ("café", #""café""#),
    ])
    func scalars(text: String, yaml: String) {
        #expect(ConfigYAML.scalar(text) == yaml)
    }

    /// Names, descriptions and values that need quoting come back as they
    /// were: the converter checks that, and so does this test.
    @Test func awkwardTextRoundTrips() throws {
        let names = ["pool: blue", "null", "true", "123", "#1 web", "web \"blue\"", "ünïcödé", "{braces}", "- dash", "a\\b"]
        let profiles = [#"""
            { "name": "p: 1", "description": "multi\nline \"described\"\ttab", "persistence_type": "PERSISTENCE_TYPE_CUSTOM_HTTP_HEADER",
              "hdr_persistence_profile": { "prst_hdr_name": "X-Server" } }
            """#]
        var pools: [String] = []
        var services: [String] = []
        for (i, name) in names.enumerated() {
            let json = JSONText.escaped(name)
            pools.append("""
                { "name": "\(json)", "application_persistence_profile_ref": "/api/applicationpersistenceprofile/?name=p%3A%201",
                  "servers": [ { "ip": { "addr": "10.0.0.1", "type": "V4" }, "port": 80, "hostname": "\(json)", "prst_hdr_val": "v: \(i) #x" } ] }
                """)
            services.append("""
                { "name": "vs \(json)", "pool_ref": "/api/pool/?name=\(json.replacingOccurrences(of: "#", with: "%23"))",
                  "services": [ { "port": \(8000 + i) } ], "vip": [ { "ip_address": { "addr": "::1", "type": "V6" } } ] }
                """)
        }
        let (config, warnings) = try converted(export(profiles: profiles, pools: pools, virtualServices: services))
        #expect(warnings == [])
        #expect(config.persistenceProfiles[0].name == "p: 1")
        #expect(config.persistenceProfiles[0].description == "multi\nline \"described\"\ttab")
        #expect(config.pools.map(\.name) == names)
        #expect(config.pools.map { $0.servers[0].name } == names)
        #expect(config.pools.enumerated().map { $0.element.servers[0].headerValue } == names.indices.map { "v: \($0) #x" })
        #expect(config.virtualServices.map(\.pool) == names)
        #expect(config.virtualServices[0].listen == [ListenAddress(text: "[::1]:8000", address: IPAddress("::1")!, port: 8000)])
    }

    @Test(arguments: [(Duration.seconds(10), "10s"), (.milliseconds(1500), "1500ms"), (.seconds(3600), "3600s")])
    func durations(duration: Duration, text: String) {
        #expect(ConfigYAML.duration(duration) == text)
    }
}

@Suite struct JSONTests {
    @Test func values() throws {
        let text = #"""
            {"a": [1, -0.5, 2e10, 0, -0], "b": {"c": null, "d": true, "e": false},
             "s": "q\"b\\s\/\b\f\n\r\t\u00e9\ud83d\ude00", "empty": {}, "list": []}
            """#
        let value = try JSONParser.parse(Array(text.utf8))
        #expect(value == .object([
            JSONMember(key: "a", value: .array([.number("1"), .number("-0.5"), .number("2e10"), .number("0"), .number("-0")])),
            JSONMember(key: "b", value: .object([
                JSONMember(key: "c", value: .null), JSONMember(key: "d", value: .bool(true)), JSONMember(key: "e", value: .bool(false)),
            ])),
            JSONMember(key: "s", value: .string("q\"b\\s/\u{8}\u{C}\n\r\té😀")),
            JSONMember(key: "empty", value: .object([])),
            JSONMember(key: "list", value: .array([])),
        ]))
    }

    @Test func aByteOrderMarkIsSkipped() throws {
        #expect(try JSONParser.parse([0xEF, 0xBB, 0xBF] + Array("[]".utf8)) == .array([]))
    }

    @Test(arguments: [
        ("{\"a\": 1, \"a\": 2}", "1:10: duplicate key \"a\" in one object"),
        ("{\"a\": 01}", "1:7: a number cannot start with 0 unless it is 0"),
        ("{\"a\": 1.}", "1:7: a number needs digits after its decimal point"),
        ("{\"a\": -}", "1:7: a number needs digits"),
        ("{\"a\": 1e}", "1:7: a number needs digits in its exponent"),
        ("{\"a\": [1, 2,]}", "1:13: unexpected ']'; expected a value"),
        ("{\"a\" 1}", "1:6: unexpected '1'; expected ':' after a key"),
        ("{'a': 1}", "1:2: unexpected '''; expected a key in double quotes"),
        ("{\"a\": tru}", "1:7: unexpected 't'; expected a value"),
        ("{\"a\": \"x\ty\"}", "1:9: a string holds an unescaped control character (U+0009); write it as an escape"),
        ("{\"a\": \"\\x\"}", "1:8: unknown escape '\\x' in a string"),
        ("{\"a\": \"\\u12\"}", "1:8: a \\u escape needs four hexadecimal digits"),
        ("{\"a\": \"\\ud83d\"}", "1:8: \\uD83D is half of a surrogate pair without its other half"),
        ("{\"a\": \"\\ude00\"}", "1:8: \\uDE00 is half of a surrogate pair without its other half"),
        ("{\"a\": \"é\" x}", "1:11: unexpected 'x'; expected ',' or '}'"),
        ("{\"a\":\n  \"b\"", "2:6: unexpected end of file; expected ',' or '}'"),
        ("{\"a\": \"b", "1:9: unexpected end of file inside a string"),
        ("  ", "1:3: the file is empty; expected a JSON object"),
    ])
    func syntaxErrors(text: String, expected: String) {
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(Array(text.utf8)) }
        do {
            _ = try JSONParser.parse(Array(text.utf8))
        } catch {
            #expect(error.description == expected)
        }
    }

    @Test func invalidUTF8InAStringIsAnError() {
        #expect(throws: JSONSyntaxError(line: 1, column: 8, message: "a string holds bytes that are not UTF-8")) {
            try JSONParser.parse(Array("{\"a\": \"".utf8) + [0xC3, 0x28] + Array("\"}".utf8))
        }
    }

    @Test func nestingIsBounded() {
        let deep = String(repeating: "[", count: JSONParser.maxDepth + 1) + String(repeating: "]", count: JSONParser.maxDepth + 1)
        #expect(throws: JSONSyntaxError(line: 1, column: JSONParser.maxDepth + 1,
                                        message: "nested more than \(JSONParser.maxDepth) levels deep")) {
            try JSONParser.parse(Array(deep.utf8))
        }
        let fine = String(repeating: "[", count: JSONParser.maxDepth) + String(repeating: "]", count: JSONParser.maxDepth)
        #expect(throws: Never.self) { try JSONParser.parse(Array(fine.utf8)) }
    }
}
