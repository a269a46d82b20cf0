import Foundation
import Testing

/// tools/gen-config: its large tables pass `tether check` and serve.
@Suite struct GenConfigTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("tools/gen-config").path

    @Test func aGeneratedTableOfLoopbackServersChecksAndRoutesEveryValue() throws {
        // One backend on 127.0.0.1-3 answers the first three servers.
        let backendPort = try freeLoopbackPort()
        let backend = try ManagedProcess(
            arguments: ["backend", "--name", "big"] + (1...3).flatMap { ["--listen", "127.0.0.\($0):\(backendPort)"] },
            label: "tether backend")
        defer { _ = backend.terminate() }
        try waitForPort(backendPort, timeout: .seconds(30))
        let listen = try freeLoopbackPort()
        let runtime = FileManager.default.temporaryDirectory.appendingPathComponent("tether-gen-\(UUID().uuidString)").path
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("tether-gen-\(UUID().uuidString).yaml")
        defer {
            try? FileManager.default.removeItem(at: config)
            try? FileManager.default.removeItem(atPath: runtime)
        }
        let generate = Process()
        generate.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        generate.arguments = ["python3", Self.script, "--servers", "2000", "--pools", "1", "--backend-port", "\(backendPort)",
                              "--listen", "127.0.0.1:\(listen)", "--runtime-dir", runtime, "--workers", "1"]
        FileManager.default.createFile(atPath: config.path, contents: nil)
        generate.standardOutput = try FileHandle(forWritingTo: config)
        try generate.run()
        generate.waitUntilExit()
        #expect(generate.terminationStatus == 0)

        let check = try ManagedProcess(arguments: ["check", "-c", config.path], label: "tether check")
        #expect(try check.waitForExit(timeout: .seconds(60)) == .exited(0), "\(check.logs)")
        #expect(check.stdout.contains("2000 servers") || check.stdout.contains("2,000 servers"), "\(check.stdout)")

        let proxy = try ManagedProcess(arguments: ["run", "-c", config.path], label: "tether run")
        defer { _ = proxy.terminate() }
        // One pool: a second would listen on the next port, which another
        // test may hold. A debug build compiles 2,000 servers slowly on a
        // busy machine.
        do { try waitForPort(listen, timeout: .seconds(90)) } catch { throw HarnessError("\(error)\n\(proxy.logs)") }
        // value-0..2 are 127.0.0.1-3:PORT: the backend's three addresses.
        for value in ["value-0", "value-1", "value-2"] {
            let connection = try RawHTTPConnection(port: listen)
            defer { connection.close() }
            try connection.send("GET / HTTP/1.1\r\nHost: t\r\nX-Server: \(value)\r\n\r\n")
            #expect(try connection.readResponse().bodyText == "big\n", "\(value)")
        }
    }
}
