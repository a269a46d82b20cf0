import Foundation
import Glibc
import Testing

/// `tether demo` as a new user meets it: every `$ ` line it prints is run
/// as printed, in order, and must print what its `# → ` comment says.
@Suite struct DemoCommandTests {
    @Test func everyLineTheDemoPrintsAnswersAsItSays() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tether-demo-\(UUID().uuidString)").path
        let port = try freeLoopbackPort()
        let serverPorts = try (0..<3).map { _ in try freeLoopbackPort() }
        let demo = try ManagedProcess(
            arguments: ["demo", "--dir", dir, "--port", "\(port)", "--server-ports", serverPorts.map(String.init).joined(separator: ",")],
            label: "tether demo")
        try demo.waitForLine(containing: "Ctrl-C stops the demo.", timeout: .seconds(60))

        let lines = demo.stdout.split(separator: "\n").map(String.init).filter { $0.hasPrefix("  $ ") && $0.contains("# → ") }
        #expect(lines.count == 10, "\(demo.stdout)")
        for line in lines {
            let body = line.dropFirst(4)
            let parts = body.components(separatedBy: "# → ")
            let command = parts[0].trimmingCharacters(in: .whitespaces)
            let expected = parts[1].trimmingCharacters(in: .whitespaces)
            let output = try Self.shell(command)
            if expected.contains(" or ") {
                // "A, B or C": one of them, exactly.
                let choices = expected.replacingOccurrences(of: " or ", with: ", ").components(separatedBy: ", ")
                #expect(choices.contains(output.trimmingCharacters(in: .whitespacesAndNewlines)), "\(command) printed \(output)")
            } else if expected.hasPrefix("HTTP/") {
                #expect(output.hasPrefix(expected), "\(command) printed \(output)")
            } else if expected.contains(":") {
                #expect(output.contains(expected), "\(command) printed \(output)")
            } else {
                #expect(output.trimmingCharacters(in: .whitespacesAndNewlines) == expected, "\(command) printed \(output)")
            }
        }
        // Ctrl-C: everything stops and the demo's directory is gone.
        try demo.send(signal: SIGINT)
        #expect(try demo.waitForExit(timeout: .seconds(30)) == .exited(0))
        #expect(!FileManager.default.fileExists(atPath: dir))
        for p in [port] + serverPorts { #expect(!Self.accepts(p), "127.0.0.1:\(p) still accepts after the demo stopped") }
    }

    @Test func aDirectoryThatIsNotADemosIsNeverTouched() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tether-demo-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "precious\n".write(toFile: dir + "/notes.txt", atomically: true, encoding: .utf8)
        let ports = try (0..<4).map { _ in try freeLoopbackPort() }
        let demo = try ManagedProcess(
            arguments: ["demo", "--dir", dir, "--port", "\(ports[0])", "--server-ports", ports[1...].map(String.init).joined(separator: ",")],
            label: "tether demo")
        #expect(try demo.waitForExit(timeout: .seconds(20)) == .exited(1))
        #expect(demo.stderr.contains("exists and is not an earlier demo's directory"), "\(demo.stderr)")
        #expect(try String(contentsOfFile: dir + "/notes.txt", encoding: .utf8) == "precious\n")
    }

    @Test func stopWithoutARunningDemoSaysSo() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tether-demo-\(UUID().uuidString)").path
        let command = try ManagedProcess(arguments: ["demo", "stop", "apache2", "--dir", dir], label: "tether demo stop")
        #expect(try command.waitForExit() == .exited(1))
        #expect(command.stderr.contains("no demo is running in \(dir)"))
    }

    static func shell(_ command: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    static func accepts(_ port: UInt16) -> Bool {
        (try? RawHTTPConnection(port: port, timeout: .seconds(1))).map { $0.close(); return true } ?? false
    }
}
