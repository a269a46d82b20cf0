import Testing
@testable import Config

@Suite struct SyntaxTests {
    @Test(arguments: [
        ("a: [1, 2\nb: 3\n",
         "t.yaml:2:2: invalid YAML: did not find expected ',' or ']' while parsing a flow sequence (which starts at 1:4)"),
        ("pools:\n  - name: web\n    servers: []\n   bad: 1\n",
         "t.yaml:4:4: invalid YAML: did not find expected '-' indicator while parsing a block collection (which starts at 2:3)"),
        ("a: b: c\n", "t.yaml:1:5: invalid YAML: mapping values are not allowed in this context"),
        ("workers: 2\n---\nworkers: 3\n", "t.yaml:2:1: a configuration holds one YAML document; found a second one here"),
        ("x: \u{7}\n", "t.yaml:1:4: invalid YAML: control characters are not allowed"),
        ("x: &a 1\ny: *b\n", "t.yaml:2:4: invalid YAML: found undefined alias"),
        ("", "t.yaml:1:1: the configuration is empty"),
        ("# nothing but a comment\n", "t.yaml:1:1: the configuration is empty"),
        ("- workers: 2\n", "t.yaml:1:1: the configuration: expected a mapping, found a list"),
        ("workers\n", "t.yaml:1:1: the configuration: expected a mapping, found 'workers'"),
    ])
    func syntaxErrors(yaml: String, message: String) {
        #expect(diagnostics(yaml) == [message])
    }

    /// Each later occurrence of a key is an error at its own position; the
    /// renaming behind the recovery does not shift later columns.
    @Test func duplicateKeysInBlockMapping() {
        let yaml = """
            pools:
              - name: web
                servers: []
                name: web2
                servers: []
                name: web3
                bogus: 1
            """
        #expect(errors(yaml) == [
            "t.yaml:4:5: duplicate key 'name' in pool 'web'; first given at 2:5",
            "t.yaml:5:5: duplicate key 'servers' in pool 'web'; first given at 3:5",
            "t.yaml:6:5: duplicate key 'name' in pool 'web'; first given at 2:5",
            "t.yaml:7:5: unknown key 'bogus' in pool 'web'",
        ])
    }

    @Test func duplicateKeysInJSONOnOneLine() {
        let json = #"{"pools": [{"name": "a", "name": "b", "servers": [], "bogus": 1, "name": "c"}], "pools": [], "x": 1}"#
        #expect(errors(json) == [
            "t.yaml:1:26: duplicate key 'name' in pool 'a'; first given at 1:13",
            "t.yaml:1:54: unknown key 'bogus' in pool 'a'",
            "t.yaml:1:66: duplicate key 'name' in pool 'a'; first given at 1:13",
            "t.yaml:1:81: duplicate key 'pools' in the configuration; first given at 1:2",
            "t.yaml:1:94: unknown key 'x' in the configuration",
        ])
    }

    @Test func duplicateKeysDoNotHideOtherErrors() {
        let yaml = """
            workers: 2
            workers: 3
            pools:
              - { name: web, servers: [{ name: a, address: 10.0.0.1, port: 80, port: 81 }] }
            virtual_services:
              - { name: www, listen: ["0.0.0.0:80"], pool: nope }
            """
        #expect(errors(yaml) == [
            "t.yaml:2:1: duplicate key 'workers' in the configuration; first given at 1:1",
            "t.yaml:4:68: duplicate key 'port' in server 'a'; first given at 4:58",
            "t.yaml:6:48: pool: no pool named 'nope'",
        ])
    }

    @Test func tooManyDuplicateKeysStop() {
        var yaml = ""
        for _ in 0...(YAMLSource.maxDuplicateRecoveries + 1) { yaml += "workers: 2\n" }
        let found = errors(yaml)
        #expect(found.count == 1)
        #expect(found.first == "t.yaml:\(YAMLSource.maxDuplicateRecoveries + 1):1: duplicate key 'workers' in one mapping; "
            + "the rest of the file was not checked")
    }

    @Test func positionMapUndoesInsertions() {
        var map = PositionMap()
        map.recordInsertion(line: 1, column: 5, length: 10)   // original column 5
        map.recordInsertion(line: 1, column: 25, length: 3)   // original column 15
        #expect(map.original(line: 1, column: 4) == SourcePosition(line: 1, column: 4))
        #expect(map.original(line: 1, column: 5) == SourcePosition(line: 1, column: 5))
        #expect(map.original(line: 1, column: 14) == SourcePosition(line: 1, column: 5))
        #expect(map.original(line: 1, column: 15) == SourcePosition(line: 1, column: 5))
        #expect(map.original(line: 1, column: 24) == SourcePosition(line: 1, column: 14))
        #expect(map.original(line: 1, column: 28) == SourcePosition(line: 1, column: 15))
        #expect(map.original(line: 2, column: 28) == SourcePosition(line: 2, column: 28))
    }

    /// Lines end at LF, CRLF or CR alike; columns count Unicode scalars.
    @Test(arguments: ["\n", "\r\n", "\r"])
    func lineEndings(_ eol: String) {
        let yaml = ["workers: 2", "pools:", "  - { name: \u{e9}t\u{e9}, servers: [], oops: 1 }"].joined(separator: eol)
        #expect(errors(yaml) == ["t.yaml:3:31: unknown key 'oops' in pool '\u{e9}t\u{e9}'"])
    }

    @Test func byteOrderMarkIsSkipped() {
        #expect(errors("\u{FEFF}workers: none\n") == [
            "t.yaml:1:10: workers: expected 'auto' or a number of workers from 1 to 1024, found 'none'",
        ])
    }
}
