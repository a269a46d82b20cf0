import Foundation
import Glibc

/// A child process under a test's control: its stdout and stderr go to
/// files (`logs` has both, for failure messages: `#expect(ok, "\(process.logs)")`),
/// it runs in its own process group, and it never outlives its owner:
/// `deinit` terminates it (SIGTERM, then SIGKILL).
final class ManagedProcess {
    enum Stream: String {
        case stdout, stderr
    }

    enum ExitStatus: Equatable, CustomStringConvertible {
        case exited(Int32)
        case signaled(Int32)

        var description: String {
            switch self {
            case let .exited(code): "exited with status \(code)"
            case let .signaled(signal): "killed by signal \(signal)"
            }
        }
    }

    let label: String
    let executable: URL
    let arguments: [String]
    let pid: pid_t
    let stdoutURL: URL
    let stderrURL: URL
    private let directory: URL
    private var exitStatus: ExitStatus?
    /// Bytes of each stream already matched by `waitForLine`.
    private var cursors: [Stream: Int] = [:]

    /// Starts `executable` with `arguments`; `environment` is added to (and
    /// overrides) the test process's own.
    init(
        _ executable: URL = TetherBinary.url,
        arguments: [String],
        environment: [String: String] = [:],
        label: String? = nil
    ) throws {
        guard FileManager.default.isExecutableFile(atPath: executable.path) else {
            throw HarnessError("no executable at \(executable.path) (build it, or set TETHER_BINARY)")
        }
        self.executable = executable
        self.arguments = arguments
        self.label = label ?? ([executable.lastPathComponent] + arguments).joined(separator: " ")
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("tether-test-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        stdoutURL = directory.appendingPathComponent("stdout")
        stderrURL = directory.appendingPathComponent("stderr")

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdoutURL.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderrURL.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)

        // A fresh process group (so a hung child's own children can be killed
        // with it), no blocked signals and default dispositions, whatever the
        // test runner's threads had.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var defaultSignals = sigset_t()
        sigemptyset(&defaultSignals)
        for signalNumber in [SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2, SIGCHLD] {
            sigaddset(&defaultSignals, signalNumber)
        }
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &defaultSignals)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        markDescriptorsCloseOnExec()
        var merged = ProcessInfo.processInfo.environment
        merged.merge(environment) { _, new in new }
        let argv = ([executable.path] + arguments).map { strdup($0) } + [nil]
        let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var child = pid_t()
        let spawned = posix_spawn(&child, executable.path, &actions, &attributes, argv, envp)
        guard spawned == 0 else {
            throw HarnessError("posix_spawn \(executable.path): \(errnoDescription(spawned))")
        }
        pid = child
    }

    /// With `TETHER_TEST_LOGS=1` in the environment, every process's output is
    /// printed (and its files kept) when it is cleaned up; otherwise output
    /// appears in the errors the harness throws.
    deinit {
        if isRunning { terminate(gracePeriod: .seconds(2)) }
        if ProcessInfo.processInfo.environment["TETHER_TEST_LOGS"] == "1" {
            FileHandle.standardError.write(Data("\(logs)\n(kept in \(directory.path))\n".utf8))
        } else {
            try? FileManager.default.removeItem(at: directory)
        }
    }

    // MARK: Output

    func output(_ stream: Stream) -> String {
        let url = stream == .stdout ? stdoutURL : stderrURL
        return (try? String(contentsOf: url, encoding: .utf8)) ?? ""
    }

    var stdout: String { output(.stdout) }
    var stderr: String { output(.stderr) }

    /// Both streams, labelled, for a failure message.
    var logs: String {
        """
        --- \(label) (pid \(pid)\(exitStatus.map { ", \($0)" } ?? "")) stdout:
        \(stdout)--- stderr:
        \(stderr)---
        """
    }

    /// Waits for the next complete line (after the last one this matched)
    /// that contains `text`, and returns it. Fails early if the process exits.
    @discardableResult
    func waitForLine(containing text: String, in stream: Stream = .stdout, timeout: Duration = .seconds(10)) throws -> String {
        let deadline = Deadline(after: timeout)
        while true {
            // Whether it exited is read before the output, so a line printed
            // just before exiting is still seen.
            let running = isRunning
            let start = cursors[stream] ?? 0
            let bytes = readBytes(stream, from: start)
            var lineStart = 0
            while let newline = bytes[lineStart...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: bytes[lineStart ..< newline], as: UTF8.self)
                lineStart = newline + 1
                if line.contains(text) {
                    cursors[stream] = start + lineStart
                    return line
                }
            }
            if !running {
                throw HarnessError("\(label) \(exitStatus!) before printing a line containing '\(text)' on \(stream)\n\(logs)")
            }
            if deadline.hasPassed {
                throw HarnessError("\(label) printed no line containing '\(text)' on \(stream) within \(timeout)\n\(logs)")
            }
            pollInterval()
        }
    }

    private func readBytes(_ stream: Stream, from offset: Int) -> [UInt8] {
        guard let handle = try? FileHandle(forReadingFrom: stream == .stdout ? stdoutURL : stderrURL) else { return [] }
        defer { try? handle.close() }
        guard (try? handle.seek(toOffset: UInt64(offset))) != nil else { return [] }
        return [UInt8]((try? handle.readToEnd()) ?? Data())
    }

    // MARK: Lifetime

    /// Whether the process still runs (reaps it, without blocking, once it has exited).
    var isRunning: Bool {
        if exitStatus != nil { return false }
        return reap(blocking: false) == nil
    }

    func send(signal signalNumber: Int32) throws {
        guard isRunning else { throw HarnessError("\(label) cannot get signal \(signalNumber): it \(exitStatus!)\n\(logs)") }
        guard kill(pid, signalNumber) == 0 else { throw HarnessError("kill(\(pid), \(signalNumber)): \(errnoDescription())") }
    }

    func waitForExit(timeout: Duration = .seconds(10)) throws -> ExitStatus {
        let deadline = Deadline(after: timeout)
        while true {
            if let status = exitStatus ?? reap(blocking: false) { return status }
            if deadline.hasPassed { throw HarnessError("\(label) still running after \(timeout)\n\(logs)") }
            pollInterval()
        }
    }

    /// SIGTERM; SIGKILL to the whole process group after `gracePeriod`.
    @discardableResult
    func terminate(gracePeriod: Duration = .seconds(5)) -> ExitStatus {
        if let exitStatus { return exitStatus }
        kill(pid, SIGTERM)
        if let status = try? waitForExit(timeout: gracePeriod) { return status }
        kill(-pid, SIGKILL)
        kill(pid, SIGKILL)
        return reap(blocking: true)!
    }

    /// SIGKILL to the whole process group, at once.
    @discardableResult
    func killImmediately() -> ExitStatus {
        if let exitStatus { return exitStatus }
        kill(-pid, SIGKILL)
        kill(pid, SIGKILL)
        return reap(blocking: true)!
    }

    private func reap(blocking: Bool) -> ExitStatus? {
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, blocking ? 0 : WNOHANG)
            if result == pid { break }
            if result == 0 { return nil }
            if result < 0 && errno == EINTR { continue }
            // ECHILD: someone else reaped it; report it as killed.
            exitStatus = .signaled(SIGKILL)
            return exitStatus
        }
        let low = status & 0x7f
        exitStatus = low == 0 ? .exited((status >> 8) & 0xff) : .signaled(low)
        return exitStatus
    }
}

/// Children get stdin, stdout and stderr only: a descriptor of the test
/// process (another test's socket, the runner's pipes) inherited by a child
/// that outlives its test would keep it open.
private func markDescriptorsCloseOnExec() {
    guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return }
    for entry in entries {
        guard let fd = Int32(entry), fd > 2 else { continue }
        let flags = fcntl(fd, F_GETFD)
        if flags >= 0 && flags & FD_CLOEXEC == 0 {
            _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC)
        }
    }
}
