import CLinux
import HTTPWire
import Posix
import RoutingTable
import SharedState
import Synchronization
import Telemetry

/// The admin endpoint (`admin.listen`): `GET /metrics` (Prometheus) and
/// `GET /status` (JSON), answered by one thread of the supervisor from the
/// shared region. Workers never see it, and reading the region costs the
/// data path nothing.
///
/// Non-blocking and poll-based: at most `maxConnections` clients at once,
/// each bounded in request size (`AdminEndpoint.maxRequestBytes`) and in
/// time (`requestMilliseconds` to send its request head, then
/// `responseMilliseconds` to take the response), so a stuck or slow client
/// cannot wedge it. Every response closes its connection.
///
/// The supervisor's main thread talks to it through `control` and an
/// eventfd: a new listener after a reload moved the address, a new table
/// (for server names), stop.
final class AdminServer: @unchecked Sendable {
    static let maxConnections = 32
    static let requestMilliseconds: UInt64 = 5_000
    static let responseMilliseconds: UInt64 = 10_000
    /// After the response, how long to read and drop what the client still
    /// sends before closing (so unread input does not turn the close into a
    /// reset that destroys the response).
    static let lingerMilliseconds: UInt64 = 1_000

    struct Control {
        /// A listener to serve from now on (the thread closes the one it
        /// had); -1: stop listening.
        var newListener: CInt? = nil
        var table: [UInt8]
        var tableGeneration: UInt64
        var stop = false
    }

    let region: SharedRegion
    let wake: CInt
    let control: Mutex<Control>
    /// Only the supervisor's main thread touches this.
    private var thread: PosixThread? = nil

    /// Starts serving `listener` (bound, listening, non-blocking; the thread
    /// owns it from now on).
    init(region: SharedRegion, listener: CInt, table: [UInt8], generation: UInt64) throws(PosixError) {
        self.region = region
        wake = try Posix.eventDescriptor()
        control = Mutex(Control(newListener: listener, table: table, tableGeneration: generation))
        do {
            thread = try PosixThread { [self] in
                var loop = AdminLoop()
                loop.run(self)
            }
        } catch {
            Posix.close(wake)
            throw error
        }
    }

    /// A bound, listening, non-blocking socket for the admin endpoint. No
    /// SO_REUSEPORT: a second tether on the same address fails to bind
    /// rather than sharing it.
    static func openListener(_ address: SocketAddress) throws(PosixError) -> CInt {
        let v6 = address.family == AF_INET6
        let fd = try Posix.socket(family: v6 ? AF_INET6 : AF_INET, type: CInt(SOCK_STREAM.rawValue) | CInt(SOCK_NONBLOCK.rawValue))
        do {
            try Posix.setOption(fd, level: SOL_SOCKET, name: SO_REUSEADDR, value: 1)
            if v6 { try Posix.setOption(fd, level: CInt(IPPROTO_IPV6), name: IPV6_V6ONLY, value: 1) }
            try Posix.bind(fd, address)
            try Posix.listen(fd, backlog: 64)
        } catch {
            Posix.close(fd)
            throw error
        }
        return fd
    }

    /// Serves `listener` from now on (-1: none), closing the previous one.
    /// A listener handed over earlier that the thread has not taken yet is
    /// closed here, so two moves in a row leak no socket.
    func replace(listener: CInt) {
        control.withLock { c in
            if let pending = c.newListener, pending >= 0, pending != listener { Posix.close(pending) }
            c.newListener = listener
        }
        Posix.signalEvent(wake)
    }

    /// The live table changed: servers are named by `table` from now on.
    func update(table: [UInt8], generation: UInt64) {
        control.withLock {
            $0.table = table
            $0.tableGeneration = generation
        }
        Posix.signalEvent(wake)
    }

    /// Stops the thread and waits for it; its sockets are closed.
    func stop() {
        guard let running = thread else { return }
        control.withLock { $0.stop = true }
        Posix.signalEvent(wake)
        running.join()
        thread = nil
        Posix.close(wake)
    }
}

/// One client of the admin endpoint.
struct AdminConnection {
    enum Phase { case reading, writing, lingering, closed }

    var fd: CInt
    var phase = Phase.reading
    var deadline: UInt64
    var input = [UInt8](repeating: 0, count: AdminEndpoint.maxRequestBytes)
    var received = 0
    var scanner = RequestHeadScanner(maxHeadBytes: AdminEndpoint.maxRequestBytes)
    var output: [UInt8] = []
    var sent = 0
}

/// The admin thread's state; nothing here is shared.
struct AdminLoop {
    var listener: CInt = -1
    var connections: [AdminConnection] = []
    /// The table servers are named by: the supervisor's latest image, copied
    /// and checked the first time a request needs it.
    var latestTable: [UInt8] = []
    var latestGeneration: UInt64 = 0
    var image: UnsafeMutableRawBufferPointer? = nil
    var view: RoutingTableView? = nil
    var viewGeneration: UInt64 = 0
    var lastErrorLog: UInt64 = 0
    /// After an accept error, the listener is left alone this long.
    var acceptPausedUntil: UInt64 = 0

    mutating func run(_ server: AdminServer) {
        defer {
            for c in connections where c.phase != .closed { Posix.close(c.fd) }
            if listener >= 0 { Posix.close(listener) }
            image?.deallocate()
        }
        if takeControl(server) { return }
        while true {
            var fds = [pollfd(fd: server.wake, events: Int16(POLLIN), revents: 0)]
            let listening = listener >= 0 && connections.count < AdminServer.maxConnections
                && Posix.monotonicMilliseconds() >= acceptPausedUntil
            if listening { fds.append(pollfd(fd: listener, events: Int16(POLLIN), revents: 0)) }
            let first = fds.count
            for c in connections {
                fds.append(pollfd(fd: c.fd, events: Int16(c.phase == .writing ? POLLOUT : POLLIN), revents: 0))
            }
            var timeout: CInt = -1
            let now = Posix.monotonicMilliseconds()
            if let next = connections.map(\.deadline).min() {
                timeout = CInt(min(next > now ? next - now : 0, 60_000)) + 1
            }
            if listener >= 0 && acceptPausedUntil > now {
                let pause = CInt(acceptPausedUntil - now) + 1
                timeout = timeout < 0 ? pause : min(timeout, pause)
            }
            do {
                _ = try Posix.pollDescriptors(&fds, timeoutMilliseconds: timeout)
            } catch {
                logRarely("admin endpoint: \(error)")
                continue
            }
            if fds[0].revents != 0 {
                Posix.drainEvent(server.wake)
                if takeControl(server) { return }
            }
            let after = Posix.monotonicMilliseconds()
            var list = connections
            connections = []
            for k in list.indices where fds[first + k].revents != 0 {
                serve(&list[k], now: after, region: server.region)
            }
            for k in list.indices where list[k].phase != .closed && list[k].deadline <= after {
                expire(&list[k], now: after)
            }
            connections = list.filter { $0.phase != .closed }
            // The listener polled, if it is still the one (a reload may have
            // replaced or removed it in `takeControl` above), and not while
            // an accept error (out of descriptors) waits out its pause.
            if listening && fds[1].revents != 0 && fds[1].fd == listener && after >= acceptPausedUntil {
                acceptAll(now: after)
            }
        }
    }

    /// Applies what the main thread asked for; true: stop.
    mutating func takeControl(_ server: AdminServer) -> Bool {
        let c = server.control.withLock { c -> AdminServer.Control in
            let copy = c
            c.newListener = nil
            return copy
        }
        if let fd = c.newListener {
            if listener >= 0 { Posix.close(listener) }
            listener = fd
        }
        if c.tableGeneration != latestGeneration || latestTable.isEmpty {
            latestTable = c.table
            latestGeneration = c.tableGeneration
        }
        return c.stop
    }

    mutating func acceptAll(now: UInt64) {
        while connections.count < AdminServer.maxConnections {
            do {
                guard let fd = try Posix.accept(listener) else { return }
                connections.append(AdminConnection(fd: fd, deadline: now + AdminServer.requestMilliseconds))
            } catch {
                // Out of descriptors or memory: the queue keeps the client;
                // try again in 100 ms rather than spin on a readable listener.
                logRarely("admin endpoint: \(error)")
                acceptPausedUntil = now + 100
                return
            }
        }
    }

    mutating func serve(_ c: inout AdminConnection, now: UInt64, region: SharedRegion) {
        do {
            switch c.phase {
            case .reading:
                let n = try c.input.withUnsafeMutableBytes { raw in
                    try Posix.receive(c.fd, into: UnsafeMutableRawBufferPointer(rebasing: raw[c.received...]))
                }
                guard let n else { return }
                if n == 0 { close(&c); return }
                c.received += n
                let outcome = c.input.withUnsafeBytes { raw in
                    AdminEndpoint.handle(UnsafeRawBufferPointer(rebasing: raw[0..<c.received]), scanner: &c.scanner) {
                        snapshot(region: region)
                    }
                }
                if case .respond(let response) = outcome { respond(&c, response, now: now) }
            case .writing:
                try write(&c, now: now)
            case .lingering:
                var scratch = [UInt8](repeating: 0, count: 4096)
                let n = try scratch.withUnsafeMutableBytes { try Posix.receive(c.fd, into: $0) }
                if n == 0 { close(&c) }
            case .closed:
                break
            }
        } catch {
            close(&c)  // reset by the client
        }
    }

    mutating func respond(_ c: inout AdminConnection, _ response: AdminEndpoint.Response, now: UInt64) {
        c.output = response.bytes
        c.sent = 0
        c.phase = .writing
        c.deadline = now + AdminServer.responseMilliseconds
        do { try write(&c, now: now) } catch { close(&c) }
    }

    func write(_ c: inout AdminConnection, now: UInt64) throws(PosixError) {
        while c.sent < c.output.count {
            let (fd, sent) = (c.fd, c.sent)
            let result = c.output.withUnsafeBytes { raw -> Result<Int?, PosixError> in
                do throws(PosixError) { return .success(try Posix.send(fd, UnsafeRawBufferPointer(rebasing: raw[sent...]))) } catch { return .failure(error) }
            }
            guard let n = try result.get() else { return }
            c.sent += n
        }
        Posix.shutdownWrite(c.fd)
        c.output = []
        c.phase = .lingering
        c.deadline = now + AdminServer.lingerMilliseconds
    }

    mutating func expire(_ c: inout AdminConnection, now: UInt64) {
        if c.phase == .reading {
            respond(&c, AdminEndpoint.Response(status: 408, body: "no complete request within \(AdminServer.requestMilliseconds / 1000) s\n"),
                    now: now)
            c.deadline = now + AdminServer.lingerMilliseconds
        } else {
            close(&c)
        }
    }

    func close(_ c: inout AdminConnection) {
        if c.phase != .closed { Posix.close(c.fd) }
        c.phase = .closed
    }

    /// The shared region now, servers named by the latest table.
    mutating func snapshot(region: SharedRegion) -> StatusSnapshot {
        if viewGeneration != latestGeneration || view == nil {
            let fresh = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, latestTable.count), alignment: 64)
            fresh.copyBytes(from: latestTable)
            if let checked = try? RoutingTableView(validating: UnsafeRawBufferPointer(rebasing: fresh[0..<latestTable.count])) {
                image?.deallocate()
                image = fresh
                view = checked
                viewGeneration = latestGeneration
            } else {
                fresh.deallocate()
                logRarely("admin endpoint: table generation \(latestGeneration) does not validate; servers are not listed")
            }
        }
        return StatusSnapshot(region: region, table: view, nowMs: Posix.wallClockMilliseconds())
    }

    mutating func logRarely(_ message: String) {
        let now = Posix.monotonicMilliseconds()
        if now < lastErrorLog + 1000 { return }
        lastErrorLog = now
        log.error(message)
    }
}
