import Glibc
import Synchronization

/// One address the backend listens on, and the name it answers with there.
public struct DemoBackendListener: Sendable, Hashable {
    public var name: String
    public var address: ListenAddress

    public init(name: String, address: ListenAddress) {
        self.name = name
        self.address = address
    }
}

public struct DemoBackendConfiguration: Sendable {
    public static let maximumThreads = 64

    public var listeners: [DemoBackendListener]
    /// Event-loop threads; each has its own listening sockets (SO_REUSEPORT)
    /// and serves its connections alone.
    public var threads: Int

    public init(listeners: [DemoBackendListener], threads: Int = 1) {
        self.listeners = listeners
        self.threads = threads
    }

    /// Pairs `--listen` and `--name` values: one name for every address, or
    /// one name per address in the same order. No name means "backend".
    public init(listen: [String], names: [String], threads: Int = 1) throws(DemoBackendError) {
        guard !listen.isEmpty else { throw .invalidConfiguration("at least one --listen ADDRESS is required") }
        guard names.count <= 1 || names.count == listen.count else {
            throw .invalidConfiguration(
                "give one --name for all \(listen.count) addresses or one per address, not \(names.count)")
        }
        var listeners: [DemoBackendListener] = []
        for (index, text) in listen.enumerated() {
            let name = names.isEmpty ? "backend" : names[names.count == 1 ? 0 : index]
            listeners.append(DemoBackendListener(name: name, address: try ListenAddress(parsing: text)))
        }
        self.init(listeners: listeners, threads: threads)
        try validate()
    }

    public func validate() throws(DemoBackendError) {
        guard !listeners.isEmpty else { throw .invalidConfiguration("at least one listen address is required") }
        guard (1 ... DemoBackendConfiguration.maximumThreads).contains(threads) else {
            throw .invalidConfiguration("--threads must be from 1 to \(DemoBackendConfiguration.maximumThreads), got \(threads)")
        }
        for listener in listeners {
            guard !listener.name.isEmpty,
                  listener.name.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f })
            else { throw .invalidConfiguration("backend name '\(listener.name)' must be visible ASCII without spaces") }
        }
        var seen: Set<ListenAddress> = []
        for listener in listeners where listener.address.port != 0 {
            guard seen.insert(listener.address).inserted else {
                throw .invalidConfiguration("\(listener.address) is given twice")
            }
        }
    }
}

/// Counters of one listen address, shared by every thread.
final class ListenerState: Sendable {
    let name: String
    let address: ListenAddress
    private let requests = Atomic<Int>(0)
    private let connectionsAccepted = Atomic<Int>(0)
    private let connectionsOpen = Atomic<Int>(0)

    init(name: String, address: ListenAddress) {
        self.name = name
        self.address = address
    }

    /// Counts a request; returns its serial number (1, 2, …).
    func countRequest() -> Int { requests.wrappingAdd(1, ordering: .relaxed).newValue }

    func countConnection() -> Int {
        connectionsOpen.wrappingAdd(1, ordering: .relaxed)
        return connectionsAccepted.wrappingAdd(1, ordering: .relaxed).newValue
    }

    func connectionClosed() { connectionsOpen.wrappingSubtract(1, ordering: .relaxed) }

    var requestCount: Int { requests.load(ordering: .relaxed) }

    func statsReport(healthy: Bool) -> String {
        """
        name: \(name)
        address: \(address)
        requests: \(requests.load(ordering: .relaxed))
        connections: \(connectionsAccepted.load(ordering: .relaxed))
        open: \(connectionsOpen.load(ordering: .relaxed))
        healthy: \(healthy)

        """
    }
}

/// What every thread of one server reads: the listeners' counters and the
/// `/healthz` switch that SIGUSR1 flips.
final class SharedServerState: Sendable {
    let listeners: [ListenerState]
    private let failingHealthChecks = Atomic<Bool>(false)

    init(listeners: [ListenerState]) {
        self.listeners = listeners
    }

    var healthy: Bool { !failingHealthChecks.load(ordering: .relaxed) }

    /// Flips `/healthz` between 200 and 500; returns whether it is now healthy.
    func toggleHealth() -> Bool {
        let wasFailing = failingHealthChecks.load(ordering: .relaxed)
        failingHealthChecks.store(!wasFailing, ordering: .relaxed)
        return wasFailing
    }
}

/// The demo HTTP/1.1 origin server behind tether's tests, demo and benchmarks.
///
/// `init` binds every address (so errors surface before anything is
/// announced); `run` prints `backend NAME listening on ADDRESS` per address
/// on stdout (the real port where 0 was asked) and serves until SIGTERM or
/// SIGINT, then prints `backend NAME stopping after N requests` and exits 0.
/// SIGUSR1 toggles `/healthz` between 200 and 500 and prints
/// `backend NAME healthz failing` (or `ok`).
///
/// HTTP/1.1 and 1.0 keep-alive, pipelining (answered in order), bodies by
/// Content-Length or chunked with trailers, `Expect: 100-continue` (answered
/// `HTTP/1.1 100 Continue` before the body is read). Requests are parsed
/// strictly (RFC 9112); a malformed one is answered 400 (431, 505) and the
/// connection closed. Every response carries `X-Backend: NAME`,
/// `X-Backend-Connection: C` (the connection's number on this address, from 1)
/// and `X-Backend-Request: R` (the request's number on this address, from 1),
/// and Content-Length unless it is 1xx/204/304 or chunked.
///
/// | target | answer |
/// |---|---|
/// | `/` and any unknown path | `NAME\n` |
/// | `/echo` (any method) | `NAME`, the request line, every field line as received, an empty line, `body-length: N`, `body-fnv64: HEX` (64-bit FNV-1a, 16 hex digits), then `trailer: LINE` per trailer field line; each line ends in `\n` |
/// | `/bytes/N` | N bytes, byte i = `UInt8(i % 251)`, streamed; `?chunked=1`: 16 KiB chunks and trailer `X-Body-Length: N` (HTTP/1.1 only) |
/// | `/status/CODE` | CODE (200–599) with body `CODE REASON\n`; 204 and 304 without body |
/// | `/slow/MS` | `NAME\n` after MS milliseconds (at most 600000); other connections go on |
/// | `/close-mid` | Content-Length: 1000, 10 bytes of the pattern, then close |
/// | `/close` | `NAME\n` with `Connection: close`, then close |
/// | `/ws` | with `Connection: Upgrade`, `Upgrade: websocket` and `Sec-WebSocket-Key`: `101` with `Sec-WebSocket-Accept`, then every byte echoed until the peer closes; else 400 |
/// | `/healthz` | `200 ok\n`, or `500 failing\n` while toggled by SIGUSR1 |
/// | `/stats` | `name`, `address`, `requests`, `connections`, `open`, `healthy` lines for this address |
///
/// Every close after a response is a lingering one: write side shut, the
/// client's bytes read and dropped for up to 2 s, so a client never gets a
/// reset instead of the response it has not read yet.
public final class DemoBackendServer {
    public let configuration: DemoBackendConfiguration
    /// The listeners with the ports actually bound (port 0 resolved).
    public let boundListeners: [DemoBackendListener]
    /// `listenerFDs[thread][listener]`.
    private let listenerFDs: [[Int32]]
    private let shared: SharedServerState

    public init(configuration: DemoBackendConfiguration) throws(DemoBackendError) {
        try configuration.validate()
        self.configuration = configuration
        var bound: [DemoBackendListener] = []
        var fdsByThread = [[Int32]](repeating: [], count: configuration.threads)
        let reusePort = configuration.threads > 1
        do {
            for listener in configuration.listeners {
                let first = try openListener(listener.address, reusePort: reusePort)
                fdsByThread[0].append(first.fd)
                let address = listener.address.withPort(first.port)
                for thread in 1 ..< configuration.threads {
                    fdsByThread[thread].append(try openListener(address, reusePort: true).fd)
                }
                bound.append(DemoBackendListener(name: listener.name, address: address))
            }
        } catch {
            for fd in fdsByThread.joined() { Glibc.close(fd) }
            throw error
        }
        boundListeners = bound
        listenerFDs = fdsByThread
        shared = SharedServerState(listeners: bound.map { ListenerState(name: $0.name, address: $0.address) })
    }

    /// Serves forever; the process exits 0 on SIGTERM or SIGINT.
    public func run() -> Never {
        signal(SIGPIPE, SIG_IGN)
        // Blocked in every thread; one thread takes them with sigwait.
        var handled = handledSignals()
        pthread_sigmask(SIG_BLOCK, &handled, nil)
        let shared = self.shared
        startThread { waitForSignals(shared: shared) }
        for fds in listenerFDs.dropFirst() {
            startThread { EventLoop(listenerFDs: fds, shared: shared).run() }
        }
        for listener in boundListeners {
            emitLine("backend \(listener.name) listening on \(listener.address)")
        }
        EventLoop(listenerFDs: listenerFDs[0], shared: shared).run()
    }
}

private func handledSignals() -> sigset_t {
    var set = sigset_t()
    sigemptyset(&set)
    for signalNumber in [SIGTERM, SIGINT, SIGUSR1] { sigaddset(&set, signalNumber) }
    return set
}

private func waitForSignals(shared: SharedServerState) -> Never {
    var handled = handledSignals()
    let names = uniqueNames(shared.listeners)
    while true {
        var signalNumber: Int32 = 0
        guard sigwait(&handled, &signalNumber) == 0 else { continue }
        switch signalNumber {
        case SIGUSR1:
            let healthy = shared.toggleHealth()
            for name in names {
                emitLine("backend \(name) healthz \(healthy ? "ok" : "failing")")
            }
        default:
            for name in names {
                let requests = shared.listeners.filter { $0.name == name }.reduce(0) { $0 + $1.requestCount }
                emitLine("backend \(name) stopping after \(requests) requests")
            }
            exit(0)
        }
    }
}

private func uniqueNames(_ listeners: [ListenerState]) -> [String] {
    var names: [String] = []
    for listener in listeners where !names.contains(listener.name) { names.append(listener.name) }
    return names
}

private func openListener(_ address: ListenAddress, reusePort: Bool) throws(DemoBackendError) -> (fd: Int32, port: UInt16) {
    let context = "listening on \(address)"
    let fd = socket(address.addressFamily, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw .systemCall("socket", errno: errno, context: context) }
    func fail(_ call: String) -> DemoBackendError {
        let code = errno
        Glibc.close(fd)
        return .systemCall(call, errno: code, context: context)
    }
    var one: Int32 = 1
    let size = socklen_t(MemoryLayout<Int32>.size)
    guard setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, size) == 0 else { throw fail("setsockopt(SO_REUSEADDR)") }
    if reusePort {
        guard setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, size) == 0 else { throw fail("setsockopt(SO_REUSEPORT)") }
    }
    if address.family == .ipv6 {
        guard setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, size) == 0 else { throw fail("setsockopt(IPV6_V6ONLY)") }
    }
    guard address.withSocketAddress({ bind(fd, $0, $1) }) == 0 else { throw fail("bind") }
    guard listen(fd, 4096) == 0 else { throw fail("listen") }
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let named = withUnsafeMutablePointer(to: &storage) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    guard named == 0 else { throw fail("getsockname") }
    let port = withUnsafePointer(to: &storage) { pointer -> UInt16 in
        if address.family == .ipv4 {
            pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
        } else {
            pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) }
        }
    }
    return (fd, port)
}

/// Runs `body` on a new detached thread.
private func startThread(_ body: @escaping @Sendable () -> Void) {
    final class Box: Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    var thread = pthread_t()
    let context = Unmanaged.passRetained(Box(body)).toOpaque()
    let created = pthread_create(&thread, nil, { context in
        Unmanaged<Box>.fromOpaque(context!).takeRetainedValue().body()
        return nil
    }, context)
    guard created == 0 else { fatal("pthread_create", errno: created) }
    pthread_detach(thread)
}
