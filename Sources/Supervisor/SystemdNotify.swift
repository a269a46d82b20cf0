import CLinux
import Posix

/// The sd_notify protocol, written by us: one datagram of `KEY=VALUE` lines
/// to the socket systemd names in NOTIFY_SOCKET (`Type=notify` units).
/// Without NOTIFY_SOCKET (not started by systemd) every call does nothing.
public struct SystemdNotify: Sendable {
    let socketPath: String?

    public init(environment socketPath: String? = SystemdNotify.socketFromEnvironment()) {
        self.socketPath = socketPath.flatMap { $0.isEmpty ? nil : $0 }
    }

    public static func socketFromEnvironment() -> String? {
        guard let value = getenv("NOTIFY_SOCKET") else { return nil }
        return String(cString: value)
    }

    /// The service is up: every worker started.
    public func ready(status: String) { send("READY=1\nSTATUS=\(status)\nMAINPID=\(Posix.processID())") }
    /// A reload began; `monotonicMicroseconds` is CLOCK_MONOTONIC, as systemd 253+ requires.
    public func reloading(monotonicMicroseconds: UInt64) { send("RELOADING=1\nMONOTONIC_USEC=\(monotonicMicroseconds)") }
    /// The reload ended (applied or refused); the service runs on.
    public func reloaded(status: String) { send("READY=1\nSTATUS=\(status)") }
    public func stopping() { send("STOPPING=1") }

    func send(_ text: String) {
        guard let socketPath else { return }
        // A lost notification must not take the supervisor down: systemd
        // times out and says so in its own log.
        try? Posix.sendUnixDatagram(Array(text.utf8), to: socketPath)
    }
}
