import Foundation
import Testing

/// `tether check` as an operator runs it: the real binary, real files.
@Suite struct CheckCommand {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func check(_ text: String, name: String = "tether.yaml") throws -> (ManagedProcess.ExitStatus, ManagedProcess) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("check-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let file = dir.appendingPathComponent(name)
        try text.write(to: file, atomically: true, encoding: .utf8)
        let p = try ManagedProcess(arguments: ["check", "-c", file.path])
        return (try p.waitForExit(timeout: .seconds(30)), p)
    }

    @Test func exampleConfigPassesWithASummary() throws {
        let example = Self.root.appendingPathComponent("tools/example.yaml").path
        let p = try ManagedProcess(arguments: ["check", "-c", example])
        #expect(try p.waitForExit(timeout: .seconds(30)) == .exited(0), "\(p.logs)")
        #expect(p.stdout.contains("configuration OK: 1 virtual service, 1 pool, 3 servers, 3 header values"))
        #expect(p.stdout.contains("www  listen 127.0.0.1:8080  →  pool web"))
        #expect(p.stdout.contains("apache2  127.0.0.1:9002  header_value server2"))
        #expect(p.stdout.contains("monitor http-health: http GET /healthz HTTP/1.1, every 10000 ms, timeout 4000 ms, down after 2 failed, up after 2 passed"), "\(p.stdout)")
        #expect(p.stdout.contains("routing table: "))
        #expect(p.stderr.isEmpty, "\(p.stderr)")
    }

    @Test func everyErrorIsReportedWithItsPositionAndExitIs1() throws {
        let (status, p) = try check("""
            pools:
              - name: web
                lb_algorithm: fastest
                servers:
                  - { name: a, address: 10.0.0.300, port: 80, header_value: x }
                  - { name: b, address: 10.0.0.2, port: 0, header_value: x }
            virtual_services:
              - { name: www, listen: ["127.0.0.1:80"], pool: webb, timeouts: { connect: 3 } }
            """, name: "bad.yaml")
        #expect(status == .exited(1))
        let lines = p.stderr.split(separator: "\n").map(String.init)
        let errors = lines.filter { $0.range(of: #"bad\.yaml:\d+:\d+: "#, options: .regularExpression) != nil && !$0.contains("warning:") }
        #expect(errors.count == 6, "\(p.stderr)")
        for (position, fragment) in [("3:19", "fastest"), ("5:29", "10.0.0.300"), ("6:45", "port"), ("6:62", "'x'"),
                                     ("8:50", "webb"), ("8:77", "no unit")] {
            #expect(errors.contains { $0.contains("bad.yaml:\(position):") && $0.contains(fragment) }, "\(position) missing in \(p.stderr)")
        }
        #expect(lines.last?.hasSuffix("6 errors; nothing was compiled") == true)
        #expect(p.stdout.isEmpty)
    }

    @Test func jsonIsAccepted() throws {
        let (status, p) = try check("""
            {"pools": [{"name": "web", "persistence_profile": "p", "servers": [{"name": "a", "address": "::1", "port": 8080, "header_value": "s1"}]}],
             "persistence_profiles": [{"name": "p", "type": "custom_http_header", "header_name": "X-Server"}],
             "virtual_services": [{"name": "www", "listen": ["[::1]:8080"], "pool": "web"}]}
            """, name: "c.json")
        #expect(status == .exited(0), "\(p.logs)")
        #expect(p.stdout.contains("a  [::1]:8080  header_value s1"))
    }

    @Test func unreadableFileIsAnError() throws {
        let p = try ManagedProcess(arguments: ["check", "-c", "/nonexistent/tether.yaml"])
        #expect(try p.waitForExit(timeout: .seconds(30)) == .exited(1))
        #expect(p.stderr.contains("/nonexistent/tether.yaml: cannot read"), "\(p.stderr)")
    }
}
