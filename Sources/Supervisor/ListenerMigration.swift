import Posix

/// `net.ipv4.tcp_migrate_req`: when a listening socket closes (a worker
/// died or is replaced), the kernel moves the connections queued on it to a
/// sibling SO_REUSEPORT socket instead of resetting them. tether sets it
/// where it may (it needs CAP_NET_ADMIN in the network namespace) and says
/// so where it may not.
enum ListenerMigration {
    static let path = "/proc/sys/net/ipv4/tcp_migrate_req"

    /// A line for the log: what was found and done.
    static func enable() -> (level: LogLevel, message: String) {
        let current = (try? Posix.readFile(path)).map { String(decoding: $0, as: UTF8.self) }
        if current?.hasPrefix("1") == true { return (.info, "net.ipv4.tcp_migrate_req is 1: queued connections move to a sibling listener") }
        do {
            try Posix.writeFile(path, "1\n")
            return (.info, "set net.ipv4.tcp_migrate_req=1: queued connections move to a sibling listener")
        } catch {
            return (.warning, "cannot set net.ipv4.tcp_migrate_req=1 (\(error)); connections queued on a dying worker's listener may be reset")
        }
    }
}
