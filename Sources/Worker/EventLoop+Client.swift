import CLinux
import Posix
import SharedState
import Ring
import RoutingTable
import Selection
import HTTPWire

/// The client side: accepting, reading request heads and bodies, sending
/// responses, closing.
extension EventLoop {
    // MARK: Accept

    @inline(__always)
    func acceptTag(_ listener: Int) -> UserData {
        UserData(kind: Operation.accept.rawValue, slot: UInt32(listener), generation: 0)
    }

    mutating func armAccept(_ listener: Int) {
        ring.queueMultishotAccept(listener: listeners[listener].fd, userData: acceptTag(listener))
        listeners[listener].accepting = true
        listeners[listener].retryAt = 0
    }

    mutating func accepted(_ c: Completion) {
        let l = Int(c.userData.slot)
        if !c.hasMore {
            listeners[l].accepting = false
            if listeners[l].open && !acceptPaused {
                switch -c.result {
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    // Out of descriptors or memory: try again shortly rather
                    // than spin on the same error.
                    listeners[l].retryAt = now + 100
                default:
                    armAccept(l)
                }
            }
        }
        guard c.result >= 0 else {
            if c.result != -ECANCELED {
                logRarely(.error, "accept failed: \(PosixError("accept", errno: -c.result))")
            }
            return
        }
        // Accepted before the drain cancelled the accept (or, after a listen
        // change, from a socket the replacement worker shares): the kernel
        // handed this connection to us, so it is served, and closed after
        // its response like every connection of a draining worker.
        let fd = c.result
        guard let slot = freeClients.pop() else {
            // Accepted in the same batch as the connection that took the last
            // slot: hold it until a slot frees.
            if heldAcceptCount < heldAcceptCapacity {
                heldAccepts[(heldAcceptHead + heldAcceptCount) % heldAcceptCapacity] = HeldAccept(fd: fd, listener: UInt32(l))
                heldAcceptCount += 1
            } else {
                Posix.close(fd)
            }
            pauseAccepting()
            return
        }
        if freeClients.count == 0 { pauseAccepting() }
        openClient(slot, fd: fd, listener: l)
    }

    /// Starts serving an accepted connection in slot `slot`.
    mutating func openClient(_ slot: UInt32, fd: CInt, listener l: Int) {
        if Int(slot) >= clientHighWater { clientHighWater = Int(slot) + 1 }
        let i = Int(slot)
        let service = Int(listeners[l].service)
        clients[i].fd = fd
        clients[i].generation &+= 1
        clients[i].phase = .idle
        clients[i].startedARequest = false
        clients[i].service = listeners[l].service
        clients[i].server = .max
        clients[i].input = InputBuffer()
        clients[i].scanner = RequestHeadScanner(maxHeadBytes: services[service].maxHeaderBytes,
                                                maxRequestLineBytes: min(8192, services[service].maxHeaderBytes))
        clients[i].responseScanner = ResponseHeadScanner(maxHeadBytes: services[service].maxHeaderBytes)
        clients[i].exchange = Exchange()
        clients[i].stream = .plain
        clients[i].address = ClientAddress()
        openClients += 1
        tally.add(.connectionsAccepted)
        guard let peer = try? Posix.peerAddress(fd) else {
            // Reset before we got to it.
            closeClient(slot)
            return
        }
        let slots = clients
        withUnsafeMutableBytes(of: &slots[i].address.text) { raw in
            slots[i].address.textCount = UInt8(peer.formatHost(into: raw))
        }
        clients[i].address.hash = peer.withAddressBytes { TetherHash.hash($0) }
        if services[service].tls {
            // The handshake must be done within client_header.
            guard openTLS(slot, service: service) else {
                closeClient(slot)
                return
            }
            receiveFromClient(slot)
            timers.schedule(slot, at: now + services[service].clientHeaderMilliseconds)
            return
        }
        receiveFromClient(slot)
        timers.schedule(slot, at: now + services[service].clientIdleMilliseconds)
    }

    // MARK: Receive

    @inline(__always)
    func clientTag(_ op: Operation, _ i: UInt32) -> UserData {
        UserData(kind: op.rawValue, slot: i, generation: clients[Int(i)].generation)
    }

    /// The start of every client receive completion, plain or TLS: a stale
    /// one gives its buffer back, a closed connection finishes, a receive
    /// that found no provided buffer waits for one. Returns the result to
    /// act on, or nil when that was all.
    @inline(__always)
    mutating func takeClientReceive(_ completion: Completion) -> Int32? {
        let i = completion.userData.slot, c = Int(i)
        guard clients[c].generation == completion.userData.generation else {
            if let b = completion.bufferID { buffers.release(BufferID(b)) }
            return nil
        }
        clients[c].receiving = false
        if clients[c].phase == .closed {
            if let b = completion.bufferID { buffers.release(BufferID(b)) }
            buffers.releaseInput(&clients[c].input)
            freeClientIfDone(i)
            return nil
        }
        if completion.result == -ENOBUFS {
            clients[c].waitingForBuffer = true
            waitForBuffer(timerID: i)
            return nil
        }
        // A receive that failed or found the end after the kernel picked a
        // buffer (its io-wq path) still hands the buffer over.
        if completion.result <= 0, let b = completion.bufferID { buffers.release(BufferID(b)) }
        return completion.result
    }

    mutating func clientReceived(_ completion: Completion) {
        let i = completion.userData.slot
        guard let n = takeClientReceive(completion) else { return }
        if n < 0 {
            clientVanished(i)
            return
        }
        if n == 0 {
            clientClosedInput(i)
            return
        }
        clientStreamReceived(i, count: n, buffer: completion.bufferID)
        clientInputArrived(i)
    }

    /// New bytes are in the client's input: the HTTP code takes them as
    /// its phase says.
    @inline(__always)
    mutating func clientInputArrived(_ i: UInt32) {
        let c = Int(i)
        switch clients[c].phase {
        case .idle, .head: readRequestHead(i)
        case .exchanging: forwardRequestBody(i)
        case .tunnel: forwardTunnelFromClient(i)
        case .lingering:
            buffers.releaseInput(&clients[c].input)
            receiveFromClient(i)
        case .responding, .connecting, .free, .closed:
            // Bytes that no one will read: the connection is closing.
            buffers.releaseInput(&clients[c].input)
        }
    }

    /// The client sent FIN (or reset) before we were done with it.
    mutating func clientClosedInput(_ i: UInt32) {
        let c = Int(i)
        switch clients[c].phase {
        case .lingering, .idle, .head: closeClient(i)
        case .responding:
            // Our response is in flight; the close follows its completion.
            buffers.releaseInput(&clients[c].input)
        default: clientVanished(i)
        }
    }

    /// The client is gone mid-exchange: give up on the server side too.
    mutating func clientVanished(_ i: UInt32) {
        detachServer(i, reusable: false)
        closeClient(i)
    }

    // MARK: Request head

    mutating func readRequestHead(_ i: UInt32) {
        let c = Int(i)
        let service = services[Int(clients[c].service)]
        let pool = pools[Int(service.pool)]
        let bytes = buffers.bytes(clients[c].input)
        let wanted = WantedHeaders(persistence: pool.persistenceName, hashKey: pool.hashName)
        switch clients[c].scanner.scan(bytes, wanted: wanted) {
        case .incomplete:
            if clients[c].phase == .idle {
                clients[c].phase = .head
                timers.schedule(i, at: now + service.clientHeaderMilliseconds)
            }
            guard buffers.makeRoom(&clients[c].input, limit: service.maxHeaderBytes) else {
                tally.add(.requests)
                respondLocally(i, buffers.isLarge(clients[c].input.id) || Int(clients[c].input.end) >= service.maxHeaderBytes
                               ? LocalResponses.headersTooLarge : LocalResponses.serviceUnavailable)
                return
            }
            receiveFromClient(i)
        case .invalid(let error):
            tally.add(.requests)
            respondLocally(i, LocalResponses.fixed(error.status))
        case .complete(let head):
            tally.add(.requests)
            if accessLog.enabled { logRequestStarted(i, head: head, bytes: bytes) }
            var key = clients[c].address.hash
            if pool.hashName != nil, let v = head.hashKeyValue {
                key = TetherHash.hash(UnsafeRawBufferPointer(rebasing: bytes[v.start..<(v.start + v.count)]))
            }
            clients[c].exchange = Exchange(head: head, hashKey: key)
            clients[c].startedARequest = true
            clients[c].scanner.reset()
            clients[c].phase = .exchanging
            route(i, excluding: noServer)
        }
    }

    /// Decides the server for the current request and starts it there, or
    /// answers locally.
    mutating func route(_ i: UInt32, excluding: UInt32) {
        let c = Int(i)
        let service = services[Int(clients[c].service)]
        let exchange = clients[c].exchange
        var value: UnsafeRawBufferPointer? = nil
        if let v = exchange.persistenceValue {
            value = UnsafeRawBufferPointer(start: buffers.address(clients[c].input.id) + Int(clients[c].input.start) + v.start,
                                           count: v.count)
        }
        clients[c].exchange.tableGeneration = tableGeneration
        let limit = pools[Int(service.pool)].maxConnectionsPerServer
        var decision = selector.route(pool: service.pool, persistenceValue: value, hashKey: exchange.hashKey,
                                      excluding: excluding, load: counters)
        // The selector saw room on the server; another worker may have
        // taken it since. Decide again with the count that won (bounded:
        // the last loser gets a 503).
        var attempts = 0
        while case .forward(let server, _) = decision, !counters.reserve(serverStateSlots[Int(server)], limit: limit) {
            attempts += 1
            decision = attempts < 4
                ? selector.route(pool: service.pool, persistenceValue: value, hashKey: exchange.hashKey,
                                 excluding: excluding, load: counters)
                : .respond(status: 503, retryAfter: 0)
        }
        switch decision {
        case .forward(let server, let reason):
            let slot = serverStateSlots[Int(server)]  // reserved above
            clients[c].exchange.server = server
            clients[c].exchange.stateSlot = slot
            clients[c].exchange.countedInFlight = true
            clients[c].exchange.reason = reason
            if accessLog.enabled { logRouted(i, server: server, reason: reason) }
            clients[c].exchange.retryAllowed = reason != .pinned || pools[Int(service.pool)].serverDown == .immediate
            clients[c].exchange.monitored = pools[Int(service.pool)].monitored
            if let s = takePooled(server) {
                clients[c].exchange.reusedConnection = true
                attach(s, to: i)
                sendRequestHead(i)
            } else {
                connect(i, to: server)
            }
        case .respond(let status, let retryAfter):
            respondLocally(i, responses.status(status, retryAfter: retryAfter))
        case .redirect(let status, let pool):
            respondLocally(i, responses.redirect(status, location: table.pool(pool).redirectLocation))
        case .close:
            closeClient(i)
        }
    }

    // MARK: Request body

    /// Bytes of the request body arrived: send the ones that belong to it.
    mutating func forwardRequestBody(_ i: UInt32) {
        let c = Int(i)
        let s = clients[c].server
        precondition(s != .max && !servers[Int(s)].sending, "request body with no server send slot")
        switch clients[c].exchange.request.take(buffers.bytes(clients[c].input)) {
        case .invalid:
            requestBodyInvalid(i)
        case .body(let count, let finished):
            if finished { clients[c].exchange.requestReceived = true }
            if accessLog.enabled { accessLog.record(c).pointee.bytesIn &+= UInt64(count) }
            sendToServer(s, from: clients[c].input, count: count)
        }
    }

    /// A chunked request body broke its framing after part of it was sent.
    mutating func requestBodyInvalid(_ i: UInt32) {
        failExchange(i, status: 400)
    }

    // MARK: Send

    /// Sends response bytes (`count` at the front of server `s`'s input).
    mutating func sendToClient(_ i: UInt32, fromServer s: UInt32, count: Int) {
        let c = Int(i)
        let input = servers[Int(s)].input
        clients[c].sendSource = .response
        clients[c].sendConsumed = UInt32(count)
        clients[c].sending = true
        clients[c].exchange.sentToClient = true
        // A client that stops reading is bounded by its idle timeout. The
        // timer first: a TLS write can fail at once and free the slot.
        timers.schedule(i, at: now + services[Int(clients[c].service)].clientIdleMilliseconds)
        writeToClient(i, buffers.address(input.id) + Int(input.start), count: count)
    }

    mutating func clientSent(_ completion: Completion) {
        let i = completion.userData.slot
        if completion.result > 0 { tally.add(.bytesOut, UInt64(completion.result)) }
        guard clients[Int(i)].generation == completion.userData.generation else { return }
        clientWriteDone(i, result: completion.result)
    }

    /// The write the HTTP code asked for completed: `result` is its byte
    /// count (plaintext, for TLS), or -errno.
    mutating func clientWriteDone(_ i: UInt32, result: Int32) {
        let c = Int(i)
        if result > 0 && accessLog.enabled && clients[c].sendSource != .local {
            accessLog.record(c).pointee.bytesOut &+= UInt64(result)
        }
        clients[c].sending = false
        if clients[c].orphan != .none {
            buffers.release(clients[c].orphan)
            clients[c].orphan = .none
        }
        if clients[c].phase == .closed {
            freeClientIfDone(i)
            return
        }
        let expected: Int32 = switch clients[c].sendSource {
        case .local: -1
        case .response: Int32(clients[c].sendConsumed)
        case .announcedHead: Int32(clients[c].sendConsumed) + Int32(announcedCloseField.utf8CodeUnitCount)
        }
        if result < 0 || (expected >= 0 && result != expected) {
            clientVanished(i)
            return
        }
        if clients[c].sendSource == .local {
            lingerClose(i)
            return
        }
        let s = clients[c].server
        servers[Int(s)].input.start += clients[c].sendConsumed
        if servers[Int(s)].input.isEmpty { buffers.releaseInput(&servers[Int(s)].input) }
        responseBytesDelivered(i)
    }

    // MARK: Local responses and closing

    /// Answers the current request locally and closes the connection after.
    mutating func respondLocally(_ i: UInt32, _ response: LocalResponse) {
        let c = Int(i)
        precondition(!clients[c].sending, "local response while a send is in flight")
        detachServer(i, reusable: false)
        tally.add(.localResponses)
        if accessLog.enabled {
            let record = accessLog.record(c)
            // A head that never completed: what arrived of it.
            if !record.pointee.active { record.pointee.bytesIn = UInt64(clients[c].input.count) }
            record.pointee.bytesOut &+= UInt64(response.count)
            logRequest(i, status: EventLoop.status(of: response))
        }
        clients[c].phase = .responding
        clients[c].sendSource = .local
        clients[c].sending = true
        timers.schedule(i, at: now + services[Int(clients[c].service)].clientIdleMilliseconds)
        writeToClient(i, response.bytes, count: response.count)
    }

    /// Sends FIN and reads until the client's FIN, so that request bytes we
    /// never read cannot make the kernel reset the connection (and destroy
    /// the response) when we close.
    mutating func lingerClose(_ i: UInt32) {
        let c = Int(i)
        finishClientWrites(i)
        clients[c].phase = .lingering
        // A receive still in flight into the held buffer releases it when it completes.
        if !clients[c].receiving {
            buffers.releaseInput(&clients[c].input)
            if !clients[c].waitingForBuffer { receiveFromClient(i) }
        }
        timers.schedule(i, at: now + min(lingerMilliseconds, services[Int(clients[c].service)].clientIdleMilliseconds))
    }

    /// Closes the client connection now. The slot is reused once every
    /// operation it had in flight has completed.
    mutating func closeClient(_ i: UInt32) {
        let c = Int(i)
        if clients[c].phase == .closed || clients[c].phase == .free { return }
        if clients[c].server != .max { detachServer(i, reusable: false) }
        if accessLog.enabled && accessLog.record(c).pointee.active { logRequest(i, status: clients[c].exchange.responseStatus) }
        if clients[c].hasOperationsInFlight {
            ring.queueCancelAndClose(fd: clients[c].fd, userData: teardownTag)
        } else {
            ring.queueClose(fd: clients[c].fd, userData: teardownTag)
        }
        clients[c].fd = -1
        clients[c].phase = .closed
        clients[c].waitingForBuffer = false
        if clients[c].stream == .tls { tlsClosed(i) }
        if !clients[c].receiving { buffers.releaseInput(&clients[c].input) }
        timers.cancel(i)
        openClients -= 1
        freeClientIfDone(i)
    }

    mutating func freeClientIfDone(_ i: UInt32) {
        let c = Int(i)
        guard clients[c].phase == .closed, !clients[c].hasOperationsInFlight else { return }
        clients[c].phase = .free
        clients[c].generation &+= 1
        if heldAcceptCount > 0 && !draining {
            let held = heldAccepts[heldAcceptHead]
            heldAcceptHead = (heldAcceptHead + 1) % heldAcceptCapacity
            heldAcceptCount -= 1
            openClient(i, fd: held.fd, listener: Int(held.listener))
            return
        }
        freeClients.push(i)
        if acceptPaused { resumeAccepting() }
    }

    /// Every slot is taken: stop accepting so that new connections wait in
    /// the listen backlog instead of being accepted and dropped.
    mutating func pauseAccepting() {
        if acceptPaused { return }
        acceptPaused = true
        let slots = clientCapacity
        logRarely(.warning, "all \(slots) client connection slots in use; accepting paused")
        for l in 0..<listenerCount where listeners[l].accepting {
            ring.queueCancel(target: acceptTag(l), userData: teardownTag)
        }
    }

    mutating func resumeAccepting() {
        acceptPaused = false
        if draining { return }
        // A listener whose cancelled accept has not completed yet re-arms
        // when that completion arrives.
        for l in 0..<listenerCount where listeners[l].open && !listeners[l].accepting && listeners[l].retryAt == 0 {
            armAccept(l)
        }
    }

    /// Re-arms accepts that a resource error paused.
    mutating func retryAccepts() {
        for l in 0..<listenerCount where listeners[l].retryAt > 0 && listeners[l].retryAt <= now {
            listeners[l].retryAt = 0
            if listeners[l].open && !listeners[l].accepting && !acceptPaused { armAccept(l) }
        }
    }

    // MARK: Timeouts

    mutating func clientTimedOut(_ i: UInt32) {
        let c = Int(i)
        switch clients[c].phase {
        case .idle where clients[c].stream == .tls && tlsSessionEstablished(i) && !clients[c].sending:
            // An idle TLS session ends with close_notify, as nginx's do: a
            // client must not take the close for a truncation attack.
            lingerClose(i)
        case .idle, .lingering, .responding, .tunnel:
            if clients[c].stream == .tls { tlsTimedOut(i) }
            closeClient(i)
        case .head:
            respondLocally(i, LocalResponses.requestTimeout)
        case .connecting:
            connectFailed(i, reason: DownReason(.passiveConnectTimeout))
        case .exchanging:
            switch clients[c].exchange.timedOut(clientSendPending: clients[c].sending) {
            case .respond(let status):
                failExchange(i, status: status)
            case .close:
                clientVanished(i)
            }
        case .free, .closed:
            break
        }
    }
}

extension EventLoop {
    /// Logs at most one line a second: conditions that can repeat per
    /// connection under overload (out of descriptors, slots) must not flood.
    mutating func logRarely(_ level: LogLevel, _ message: @autoclosure () -> String) {
        if now < lastRareLog + 1000 { return }
        lastRareLog = now
        log.write(level, message, [:])
    }
}
