import CLinux
import Posix
import Ring
import RoutingTable
import Selection
import SharedState
import TLS

/// What an io_uring operation was, carried in its user data.
enum Operation: UInt8 {
    case accept = 1
    case signal
    case clientReceive
    case clientSend
    case serverConnect
    case serverReceive
    case serverSend
    /// A cancel or close whose failure needs no action.
    case teardown
    /// A TLS client's ciphertext receive, record send, and a decrypt of
    /// what it already holds (a no-op that runs on the next turn).
    case clientTLSReceive
    case clientTLSSend
    case clientTLSReady
    /// An append to the access log.
    case accessLogWrite
}

/// A virtual service's settings, copied out of the table once.
struct ServiceSettings {
    var pool: UInt32
    var xForwardedFor: Bool
    /// Clients speak TLS (the table's contexts are in `tls`).
    var tls: Bool
    var clientHeaderMilliseconds: UInt64
    var clientIdleMilliseconds: UInt64
    var connectMilliseconds: UInt64
    var serverResponseMilliseconds: UInt64
    var maxHeaderBytes: Int
}

/// A pool's settings the data path reads per request.
struct PoolSettings {
    var persistenceName: UnsafeRawBufferPointer?
    var hashName: UnsafeRawBufferPointer?
    var serverDown: ServerDownPolicy
    /// 0: no limit.
    var maxConnectionsPerServer: UInt32
    /// The pool has a health monitor: a failed connect marks its server down.
    var monitored = false
}

struct HeldAccept {
    var fd: CInt
    var listener: UInt32
}

struct ListenerSlot {
    var fd: CInt
    var service: UInt32
    /// Not yet closed by a drain.
    var open: Bool
    /// A multishot accept is armed (until a completion without `hasMore`).
    var accepting = false
    /// Re-arm no earlier than this (after a resource error); 0: no wait.
    var retryAt: UInt64 = 0

    init(fd: CInt, service: UInt32, open: Bool) {
        self.fd = fd
        self.service = service
        self.open = open
    }
}

/// One worker's event loop: one ring, fixed slabs of client and server
/// connection slots, one timer wheel. Every completion is dispatched on its
/// operation kind; every request is handled without allocating.
struct EventLoop: ~Copyable {
    var ring: Ring
    var buffers: BufferPool
    /// The current table's bytes: allocated (the first table) or mapped
    /// from the supervisor's sealed memfd (every reloaded one).
    var tableImage: UnsafeMutableRawBufferPointer
    var tableImageMapped = false
    var table: RoutingTableView
    var tableGeneration: UInt64
    /// Earlier tables that exchanges in flight may still read.
    var retiredTables: [RetiredTable] = []
    var nextReclaimCheck: UInt64 = 0
    /// A generation this worker could not load; not retried.
    var refusedGeneration: UInt64 = 0
    let region: SharedRegion?
    let workerIndex: Int
    let log: Logger
    let selectorSeed: UInt32
    var selector: Selector
    let counters: ServerCounters
    /// What `tether status` and the admin endpoint count, kept privately
    /// and published once per loop iteration.
    var tally: Tally
    let processID: Int32
    var responses = LocalResponses()
    /// Made with the first table that has a TLS virtual service.
    var tls: TLSWorker? = nil

    var services: UnsafeMutablePointer<ServiceSettings>
    var pools: UnsafeMutablePointer<PoolSettings>
    var serverCount: Int
    var serverAddresses: UnsafeMutablePointer<SocketAddress>
    /// Each table server's slot in the shared server state (`counters`).
    var serverStateSlots: UnsafeMutablePointer<UInt32>
    /// With an access log: what its lines name each table server by.
    var serverLogNames: UnsafeMutablePointer<UInt8>?
    var serverLogNameCounts: UnsafeMutablePointer<UInt8>?
    var accessLog: AccessLog
    var reportedDroppedLines: UInt64 = 0
    /// The access log file generation last looked at, and the one the
    /// switch in progress (or the last one) moves to.
    var accessLogSeen: UInt32
    /// A file this worker could not open is tried again from then on (once a second).
    var accessLogRetryAt: UInt64 = 0
    var accessLogSwitchingTo: UInt32

    let clients: UnsafeMutablePointer<ClientConnection>
    let clientCapacity: Int
    var freeClients: FreeSlots
    let servers: UnsafeMutablePointer<ServerConnection>
    let serverCapacity: Int
    var freeServers: FreeSlots
    let vectoredSends: UnsafeMutablePointer<VectoredSend>

    /// Keep-alive pool: per table server, the most recently pooled slot.
    var poolHeads: UnsafeMutablePointer<UInt32>
    var pooledCount = 0
    let maxPooled: Int
    let serverIdleMilliseconds: UInt64
    let lingerMilliseconds: UInt64

    var timers: TimerWheel
    let completions: UnsafeMutableBufferPointer<Completion>
    let expired: UnsafeMutableBufferPointer<UInt32>
    /// Timer ids (client i, or clientCapacity + server s) waiting for a buffer.
    let starved: UnsafeMutablePointer<UInt32>
    var starvedHead = 0
    var starvedCount = 0

    let listeners: UnsafeMutablePointer<ListenerSlot>
    let listenerCount: Int
    let signalFD: CInt
    let signalBuffer: UnsafeMutableRawPointer

    var now: UInt64
    var draining = false
    /// The drain began in this batch; idle connections close after it.
    var drainStarted = false
    /// Connections accepted just before a drain get this long to send their
    /// first request (they may be racing the drain of a worker whose socket
    /// a replacement shares); then idle ones are closed too.
    static let freshConnectionGraceMilliseconds: UInt64 = 1_000
    var freshGraceUntil: UInt64 = 0
    var freshGraceOver = false
    var drainDeadline: UInt64 = 0
    let drainMilliseconds: UInt64
    var openClients = 0
    /// One past the highest client slot ever used (slots are taken lowest first).
    var clientHighWater = 0
    /// Every client slot is in use: accepts are cancelled, and connections
    /// wait in the kernel's backlog until a slot frees.
    var acceptPaused = false
    var lastRareLog: UInt64 = 0
    /// Connections accepted while no slot was free (one accept batch can
    /// overshoot the last slot), served as slots free.
    let heldAccepts: UnsafeMutablePointer<HeldAccept>
    let heldAcceptCapacity = 256
    var heldAcceptHead = 0
    var heldAcceptCount = 0

    init(_ configuration: WorkerConfiguration) throws {
        _ = try Posix.raiseOpenFileLimit()
        Posix.ignoreSignal(SIGPIPE)
        let image = UnsafeMutableRawBufferPointer.allocate(byteCount: configuration.tableImage.count, alignment: 64)
        image.copyBytes(from: configuration.tableImage)
        let table: RoutingTableView
        do {
            table = try RoutingTableView(validating: UnsafeRawBufferPointer(image))
        } catch {
            image.deallocate()
            throw error
        }
        var slotsNeeded = 0
        for s in 0..<table.serverCount { slotsNeeded = max(slotsNeeded, Int(table.server(UInt32(s)).stateSlot) + 1) }
        var configuredCounters = configuration.counters ?? ServerCounters.allocatePrivate(servers: slotsNeeded)
        if let region = configuration.region, configuration.counters == nil {
            guard configuration.holdingsRecord.map({ $0 >= 0 && $0 < region.holdingsCapacity }) ?? true else {
                image.deallocate()
                throw WorkerError.badConfiguration("holdings record \(configuration.holdingsRecord!) is not one of the \(region.holdingsCapacity) in the shared state")
            }
            let slots = region.serverSlots
            // Without a record of its own the worker's shares stay private:
            // nobody could take them back.
            let holdings = configuration.holdingsRecord.map { region.holdings($0) }
                ?? .allocatePrivate(servers: region.serverCapacity)
            configuredCounters = ServerCounters(inFlight: slots.base + 4, down: slots.base, stride: slots.stride,
                                                servers: region.serverCapacity, holdings: holdings)
        }
        guard configuredCounters.count >= slotsNeeded else {
            image.deallocate()
            throw WorkerError.badConfiguration("server counters cover \(configuredCounters.count) state slots; the table uses \(slotsNeeded)")
        }
        var maxHead = 0
        for v in 0..<table.virtualServiceCount {
            maxHead = max(maxHead, Int(table.virtualService(v).maxHeaderBytes))
        }

        var bound: [ListenerSlot] = []
        var signalFD: CInt = -1
        do {
            let wanted = configuration.listeners.isEmpty ? try EventLoop.tableListeners(table) : configuration.listeners
            for l in wanted {
                switch l {
                case .descriptor(let fd, let service):
                    bound.append(ListenerSlot(fd: fd, service: service, open: true))
                case .address(let address, let port, let service):
                    bound.append(ListenerSlot(fd: try EventLoop.bindListener(address, port: port), service: service, open: true))
                }
            }
            // SIGWINCH: the supervisor published a new table (its default
            // action is to be ignored, so one that arrives before this point
            // is harmless: the first loop iteration sees the generation).
            signalFD = try Posix.signalDescriptor([SIGTERM, SIGINT, SIGWINCH])
        } catch {
            for l in bound { Posix.close(l.fd) }
            image.deallocate()
            throw error
        }
        let opened = bound
        let closeOpened = {
            image.deallocate()
            for l in opened { Posix.close(l.fd) }
            Posix.close(signalFD)
        }
        var ring: Ring
        do {
            ring = try Ring(entries: configuration.ringEntries)
        } catch {
            closeOpened()
            throw error
        }
        var buffers: BufferPool
        do {
            buffers = try BufferPool(ring: &ring, providedCount: configuration.bufferCount,
                                     providedSize: configuration.bufferSize,
                                     largeCount: maxHead > configuration.bufferSize ? configuration.largeBufferCount : 0,
                                     largeSize: max(maxHead, configuration.bufferSize))
        } catch {
            closeOpened()
            throw error
        }
        if EventLoop.hasTLS(table) {
            do {
                let worker = try EventLoop.makeTLS(buffers: &buffers, clientCapacity: configuration.maxClientConnections)
                (worker.contexts, worker.sources) = try worker.contexts(for: table)
                tls = worker
            } catch {
                closeOpened()
                throw WorkerError.badConfiguration("TLS: \(error)")
            }
        }
        tableImage = image
        self.table = table
        tableGeneration = configuration.tableGeneration
        region = configuration.region
        workerIndex = configuration.workerIndex
        log = Logger(component: "worker", context: [("worker", "\(configuration.workerIndex)")])
        selectorSeed = configuration.selectorSeed
        selector = Selector(table: table, seed: configuration.selectorSeed)
        counters = configuredCounters
        counters.holdings.extendReach(to: UInt32(slotsNeeded))
        tally = Tally(servers: table.serverCount)
        processID = Posix.processID()
        accessLog = AccessLog(fd: configuration.accessLogDescriptor, clients: configuration.maxClientConnections)
        accessLogSeen = configuration.accessLogGeneration
        accessLogSwitchingTo = configuration.accessLogGeneration
        let settings = TableSettings(table, logNames: configuration.accessLogDescriptor != nil)
        serverCount = table.serverCount
        services = settings.services
        pools = settings.pools
        serverAddresses = settings.serverAddresses
        serverStateSlots = settings.serverStateSlots
        poolHeads = settings.poolHeads
        serverLogNames = settings.serverLogNames
        serverLogNameCounts = settings.serverLogNameCounts
        clientCapacity = configuration.maxClientConnections
        serverCapacity = configuration.maxClientConnections + configuration.maxIdleServerConnections
        self.ring = ring
        self.buffers = buffers
        clients = .allocate(capacity: clientCapacity)
        clients.initialize(repeating: ClientConnection(), count: clientCapacity)
        freeClients = FreeSlots(capacity: clientCapacity)
        servers = .allocate(capacity: serverCapacity)
        servers.initialize(repeating: ServerConnection(), count: serverCapacity)
        freeServers = FreeSlots(capacity: serverCapacity)
        vectoredSends = .allocate(capacity: serverCapacity)
        vectoredSends.initialize(repeating: VectoredSend(), count: serverCapacity)
        maxPooled = configuration.maxIdleServerConnections
        serverIdleMilliseconds = configuration.serverIdleTimeoutMilliseconds
        lingerMilliseconds = configuration.lingerMilliseconds
        drainMilliseconds = configuration.drainTimeoutMilliseconds

        now = Posix.monotonicMilliseconds()
        timers = TimerWheel(capacity: clientCapacity + serverCapacity, nowMilliseconds: now)
        completions = .allocate(capacity: 256)
        expired = .allocate(capacity: 256)
        starved = .allocate(capacity: clientCapacity + serverCapacity)
        heldAccepts = .allocate(capacity: heldAcceptCapacity)

        self.signalFD = signalFD
        listenerCount = bound.count
        listeners = .allocate(capacity: max(1, bound.count))
        for (i, l) in bound.enumerated() { listeners[i] = l }
        signalBuffer = .allocate(byteCount: MemoryLayout<signalfd_siginfo>.size, alignment: 8)
        if let region {
            tls?.followTicketKeys(region)
            let slot = region.worker(configuration.workerIndex)
            // A start that ran late, after the supervisor started this
            // worker's replacement, leaves the slot to the replacement.
            if configuration.slotClaim == 0 || slot.claim == configuration.slotClaim {
                slot.pid = Posix.processID()
                slot.cpu = Int32(configuration.cpu)
                slot.accessLogGeneration = UInt64(configuration.accessLogGeneration)
                slot.announce(epoch: tableGeneration)
            } else {
                log.warning("worker slot \(configuration.workerIndex) already belongs to this worker's replacement; serving without it until told to drain")
            }
        }
    }

    deinit {
        releaseImage(tableImage, mapped: tableImageMapped)
        for r in retiredTables { releaseImage(r.image, mapped: r.mapped) }
        currentSettings.deallocate()
        clients.deallocate()
        servers.deallocate()
        vectoredSends.deallocate()
        completions.deallocate()
        expired.deallocate()
        starved.deallocate()
        heldAccepts.deallocate()
        listeners.deallocate()
        signalBuffer.deallocate()
    }

    // MARK: Listeners

    static func tableListeners(_ table: RoutingTableView) throws -> [WorkerConfiguration.Listener] {
        var out: [WorkerConfiguration.Listener] = []
        for v in 0..<table.virtualServiceCount {
            for text in table.virtualService(v).listen {
                guard let colon = text.lastIndex(of: ":"),
                      let address = IPAddress(String(text[..<colon])),
                      let port = UInt16(text[text.index(after: colon)...]) else {
                    throw WorkerError.badListenAddress(text)
                }
                out.append(.address(address, port: port, service: UInt32(v)))
            }
        }
        return out
    }

    static func bindListener(_ address: IPAddress, port: UInt16) throws(PosixError) -> CInt {
        let v6 = address.family == .v6
        let fd = try Posix.socket(family: v6 ? AF_INET6 : AF_INET, type: CInt(SOCK_STREAM.rawValue))
        do {
            try Posix.setOption(fd, level: SOL_SOCKET, name: SO_REUSEADDR, value: 1)
            try Posix.setOption(fd, level: SOL_SOCKET, name: SO_REUSEPORT, value: 1)
            try Posix.setOption(fd, level: CInt(IPPROTO_TCP), name: TCP_NODELAY, value: 1)
            if v6 { try Posix.setOption(fd, level: CInt(IPPROTO_IPV6), name: IPV6_V6ONLY, value: 1) }
            try Posix.bind(fd, SocketAddress(address, port: port))
            try Posix.listen(fd, backlog: SOMAXCONN)
        } catch {
            Posix.close(fd)
            throw error
        }
        return fd
    }

    // MARK: The loop

    mutating func run() throws {
        for l in 0..<listenerCount {
            armAccept(l)
            if let address = try? Posix.localAddress(listeners[l].fd) {
                log.info("listening on \(address) for \(table.virtualService(Int(listeners[l].service)).name)")
            }
        }
        armSignalRead()
        while true {
            if let region {
                followTable(region)
                tls?.followTicketKeys(region)
                followAccessLog(region)
                publishCounters(region)
            }
            if accessLog.fd >= 0 || accessLog.nextFD != nil { flushAccessLog() }
            let wait = waitLimit()
            try ring.submitAndWait(timeoutMilliseconds: wait)
            now = Posix.monotonicMilliseconds()
            while true {
                let n = ring.harvest(into: completions)
                var tookBuffers = 0, foundEmpty = 0
                for k in 0..<n {
                    if completions[k].bufferID != nil { tookBuffers += 1 }
                    if completions[k].result == -ENOBUFS { foundEmpty += 1 }
                    dispatch(completions[k])
                }
                // The ring's fill level is known only from these reports;
                // receives that found it empty make it grow.
                buffers.provided.consumed(tookBuffers, foundEmpty: foundEmpty)
                if n < completions.count { break }
            }
            if drainStarted {
                drainStarted = false
                closeIdleClients(includingFresh: false)
                freshGraceUntil = now + EventLoop.freshConnectionGraceMilliseconds
            }
            if draining && !freshGraceOver && now >= freshGraceUntil {
                freshGraceOver = true
                closeIdleClients(includingFresh: true)
            }
            expireTimers()
            retryAccepts()
            // Receives that found the ring empty try again once it holds
            // buffers: just added, or there since (their ENOBUFS can arrive
            // after the publish that refilled it).
            if buffers.publish() > 0 || (starvedCount > 0 && buffers.provided.inRing > 0) { rearmStarved() }
            if draining && (openClients == 0 || now >= drainDeadline) { break }
        }
        // Past the drain timeout: what still runs is cut off, and its
        // requests stop counting against their servers (in flight and open
        // connections live in shared memory and outlive this process).
        for i in 0..<clientCapacity where clients[i].phase != .free && clients[i].phase != .closed {
            closeClient(UInt32(i))
        }
        closeAllServerConnections()
        closeAccessLog()
        if let region { publishCounters(region) }
        try ring.submit()
    }

    /// Moves the counts of the last batch into the shared region.
    @inline(__always)
    mutating func publishCounters(_ region: SharedRegion) {
        tally.publish(to: region, workerIndex: workerIndex, stateSlots: serverStateSlots, holdings: counters.holdings,
                      openConnections: openClients, ownsSlot: region.worker(workerIndex).pid == processID)
    }

    /// Counts for the server an exchange or connection was routed to: into
    /// the tally while `generation` is the current table (whose indices the
    /// tally uses), else, for one that straddles a reload, straight into the
    /// shared slot.
    @inline(__always)
    mutating func count(_ counter: ServerSlot.Counter, server: UInt32, generation: UInt64, stateSlot: UInt32, _ n: UInt64 = 1) {
        if generation == tableGeneration {
            tally.add(counter, server: server, n)
        } else if let region {
            region.server(stateSlot).add(counter, n)
        }
    }

    func waitLimit() -> UInt64? {
        // With a shared region the loop wakes at least this often anyway, so
        // the timer wheel need not look further ahead (each turn under load
        // would otherwise scan hundreds of empty buckets).
        let horizon: UInt64? = region == nil ? nil : (retiredTables.isEmpty ? 200 : 50)
        var limit = timers.millisecondsUntilNextExpiry(now: now, horizon: horizon)
        if draining {
            let left = drainDeadline > now ? drainDeadline - now : 0
            limit = min(limit ?? left, left)
            if !freshGraceOver {
                let grace = freshGraceUntil > now ? freshGraceUntil - now : 0
                limit = min(limit ?? grace, grace)
            }
        }
        if starvedCount > 0 { limit = min(limit ?? 10, 10) }
        if accessLog.hasLines { limit = min(limit ?? AccessLog.flushMilliseconds, AccessLog.flushMilliseconds) }
        // A new table is noticed on the next wake; an idle worker wakes to look.
        if let horizon { limit = min(limit ?? horizon, horizon) }
        for l in 0..<listenerCount where listeners[l].retryAt > 0 {
            let left = listeners[l].retryAt > now ? listeners[l].retryAt - now : 0
            limit = min(limit ?? left, left)
        }
        return limit
    }

    @inline(__always)
    mutating func dispatch(_ c: Completion) {
        switch Operation(rawValue: c.userData.kind) {
        case .clientReceive: clientReceived(c)
        case .clientSend: clientSent(c)
        case .serverReceive: serverReceived(c)
        case .serverSend: serverSent(c)
        case .serverConnect: serverConnected(c)
        case .accept: accepted(c)
        case .signal: signalArrived(c)
        case .clientTLSReceive: tlsReceived(c)
        case .clientTLSSend: tlsSent(c)
        case .clientTLSReady: tlsReady(c)
        case .accessLogWrite: accessLogWritten(c)
        case .teardown, .none: break
        }
    }

    mutating func expireTimers() {
        while true {
            let n = timers.expire(now: now, into: expired)
            for k in 0..<n {
                let id = Int(expired[k])
                if id < clientCapacity { clientTimedOut(UInt32(id)) } else { serverTimedOut(UInt32(id - clientCapacity)) }
            }
            if n < expired.count { break }
        }
    }

    // MARK: Buffers

    /// Queues a connection whose buffer-select receive found the ring empty.
    mutating func waitForBuffer(timerID: UInt32) {
        tally.add(.bufferWaits)
        let tail = (starvedHead + starvedCount) % (clientCapacity + serverCapacity)
        starved[tail] = timerID
        starvedCount += 1
    }

    /// Re-arms receives that failed with ENOBUFS, now that buffers are back.
    mutating func rearmStarved() {
        var budget = starvedCount
        while budget > 0 && starvedCount > 0 {
            budget -= 1
            let id = Int(starved[starvedHead])
            starvedHead = (starvedHead + 1) % (clientCapacity + serverCapacity)
            starvedCount -= 1
            if id < clientCapacity {
                let i = UInt32(id)
                if clients[id].waitingForBuffer {
                    clients[id].waitingForBuffer = false
                    receiveFromClient(i)
                }
            } else {
                let s = UInt32(id - clientCapacity)
                if servers[Int(s)].waitingForBuffer {
                    servers[Int(s)].waitingForBuffer = false
                    receiveFromServer(s)
                }
            }
        }
    }

    // MARK: Signals and draining

    mutating func armSignalRead() {
        ring.queueRead(fd: signalFD, into: signalBuffer, count: UInt32(MemoryLayout<signalfd_siginfo>.size),
                       userData: UserData(kind: Operation.signal.rawValue, slot: 0, generation: 0))
    }

    mutating func signalArrived(_ c: Completion) {
        if c.result == -EAGAIN || c.result == -EINTR { armSignalRead(); return }
        if c.result > 0 && signalBuffer.load(as: UInt32.self) == UInt32(SIGWINCH) {
            // Only a wake-up: the top of the loop checks the table generation.
            armSignalRead()
            return
        }
        if c.result > 0 && !draining {
            beginDrain()
            drainStarted = true
        }
        if !draining { armSignalRead() }
    }

    /// Stops accepting at once, closes idle connections, and lets every
    /// exchange in flight finish; each client connection closes after its
    /// current response.
    mutating func beginDrain() {
        draining = true
        drainDeadline = now + drainMilliseconds
        for l in 0..<listenerCount where listeners[l].open {
            listeners[l].open = false
            listeners[l].retryAt = 0
            ring.queueCancelAndClose(fd: listeners[l].fd, userData: teardownTag)
        }
        while heldAcceptCount > 0 {
            Posix.close(heldAccepts[heldAcceptHead].fd)
            heldAcceptHead = (heldAcceptHead + 1) % heldAcceptCapacity
            heldAcceptCount -= 1
        }
        closeAllServerConnections()
    }

    /// Closes every connection with no request in progress. Runs after the
    /// batch that saw the signal, so a request that arrived in the same
    /// batch is served.
    /// Closes connections waiting for a request; `includingFresh: false`
    /// spares those that have not sent their first one yet.
    mutating func closeIdleClients(includingFresh: Bool) {
        for i in 0..<clientCapacity where clients[i].phase == .idle && clients[i].input.isEmpty
            && (includingFresh || clients[i].startedARequest) {
            // Part of a TLS record is part of a request, as a partial head is.
            if clients[i].stream == .tls && tlsHoldsPartialInput(UInt32(i)) { continue }
            if clients[i].stream == .tls && tlsSessionEstablished(UInt32(i)) && !clients[i].sending {
                lingerClose(UInt32(i))  // close_notify first
            } else {
                closeClient(UInt32(i))
            }
        }
    }

    mutating func closeAllServerConnections() {
        for s in 0..<serverCapacity where servers[s].phase == .pooled {
            unpool(UInt32(s))
            closeServer(UInt32(s))
        }
    }

    var teardownTag: UserData { UserData(kind: Operation.teardown.rawValue, slot: 0, generation: 0) }
}

enum WorkerError: Error, CustomStringConvertible {
    case badListenAddress(String)
    case badConfiguration(String)

    var description: String {
        switch self {
        case .badListenAddress(let text): return "listen address \"\(text)\" is not ADDRESS:PORT"
        case .badConfiguration(let message): return "worker configuration: \(message)"
        }
    }
}
