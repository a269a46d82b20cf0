import Foundation
import Testing

/// `tether import-avi` as an operator runs it, then `tether check` on what
/// it wrote: the real binary, real files.
@Suite struct ImportAvi {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let example = root.appendingPathComponent("tools/avi-export-example.json").path

    func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("import-avi-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func importedConfigurationPassesCheck() throws {
        let out = try temporaryDirectory().appendingPathComponent("tether.yaml").path
        let importer = try ManagedProcess(arguments: ["import-avi", Self.example, "-o", out])
        #expect(try importer.waitForExit(timeout: .seconds(30)) == .exited(0), "\(importer.logs)")
        #expect(importer.stdout.isEmpty)
        let warnings = importer.stderr.split(separator: "\n").filter { $0.hasPrefix("warning: ") }.map(String.init)
        let expected: [String] = [
            "warning: Pool 'web': field 'inline_health_monitor' (true) is not supported by tether (tether's passive "
                + "detection marks a server down only when a connect to it fails; it does not lower its share on failed "
                + "responses), dropped",
            "warning: Pool 'web': field 'connection_ramp_duration' (10) is not supported by tether (no slow start: a "
                + "server that comes up gets its full share at once), dropped",
        ]
        #expect(warnings == expected)
        #expect(importer.stderr.contains("converted 1 virtual service, 1 pool, 1 health monitor, 1 persistence profile; "
            + "2 warnings; check it with: tether check -c \(out)"))

        let check = try ManagedProcess(arguments: ["check", "-c", out])
        #expect(try check.waitForExit(timeout: .seconds(30)) == .exited(0), "\(check.logs)")
        #expect(check.stdout.contains("configuration OK: 1 virtual service, 1 pool, 3 servers, 3 header values"))
        #expect(check.stdout.contains("www  listen 127.0.0.1:8080  →  pool web"))
        #expect(check.stdout.contains("persistence: header X-Server, 3 values, server_down immediate"))
        #expect(check.stdout.contains("apache2  127.0.0.1:9002  header_value server2  ratio 2"))
        #expect(check.stdout.contains("apache3  127.0.0.1:9003  header_value server3  (disabled)"))
        #expect(check.stderr.isEmpty, "\(check.stderr)")

        // Without -o the same YAML goes to standard output.
        let toStdout = try ManagedProcess(arguments: ["import-avi", Self.example])
        #expect(try toStdout.waitForExit(timeout: .seconds(30)) == .exited(0), "\(toStdout.logs)")
        #expect(toStdout.stdout == (try String(contentsOfFile: out, encoding: .utf8)))
    }

    @Test func aBrokenExportExits1AndWritesNothing() throws {
        let dir = try temporaryDirectory()
        let input = dir.appendingPathComponent("export.json")
        try """
            {"Pool": [{"name": "web", "servers": [{"ip": {"addr": "10.0.0.1", "type": "V4"}, "port": 80}]}],
             "VirtualService": [{"name": "www", "pool_ref": "/api/pool/?name=webb", "services": [{"port": 80}]}]}
            """.write(to: input, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("tether.yaml").path
        let p = try ManagedProcess(arguments: ["import-avi", input.path, "--output", out])
        #expect(try p.waitForExit(timeout: .seconds(30)) == .exited(1))
        #expect(p.stderr.contains("error: VirtualService 'www': field 'pool_ref' refers to Pool 'webb', which is not in the export"),
                "\(p.stderr)")
        #expect(p.stderr.contains("\(input.path): 1 error; nothing was written"))
        #expect(!FileManager.default.fileExists(atPath: out))

        let missing = try ManagedProcess(arguments: ["import-avi", dir.appendingPathComponent("absent.json").path])
        #expect(try missing.waitForExit(timeout: .seconds(30)) == .exited(1))
        #expect(missing.stderr.contains("absent.json: cannot read: open: No such file or directory"), "\(missing.stderr)")
    }
}
