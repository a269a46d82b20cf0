import HTTPWire
import CLinux
import Posix
import Ring
import SharedState

/// The server side: connecting, the keep-alive pool, sending requests,
/// reading responses, tunnels.
extension EventLoop {
    @inline(__always)
    func serverTag(_ op: Operation, _ s: UInt32) -> UserData {
        UserData(kind: op.rawValue, slot: s, generation: servers[Int(s)].generation)
    }

    @inline(__always)
    func serverTimerID(_ s: UInt32) -> UInt32 { UInt32(clientCapacity) + s }

    // MARK: Connect

    mutating func connect(_ i: UInt32, to server: UInt32) {
        let c = Int(i)
        guard let s = freeServers.pop() else {
            logRarely(.warning, "no free server connection slot")
            detachServer(i, reusable: false)
            respondLocally(i, LocalResponses.serviceUnavailable)
            return
        }
        let address = serverAddresses + Int(server)
        let fd: CInt
        do {
            fd = try Posix.socket(family: address.pointee.family, type: CInt(SOCK_STREAM.rawValue) | CInt(SOCK_NONBLOCK.rawValue))
        } catch {
            logRarely(.error, "cannot open a server connection: \(error)")
            freeServers.push(s)
            clients[c].phase = .connecting
            connectFailed(i, reason: nil)  // our failure, not the server's
            return
        }
        try? Posix.setOption(fd, level: CInt(IPPROTO_TCP), name: TCP_NODELAY, value: 1)
        let t = Int(s)
        servers[t].fd = fd
        servers[t].generation &+= 1
        servers[t].phase = .connecting
        servers[t].server = server
        servers[t].stateSlot = serverStateSlots[Int(server)]
        servers[t].established = false
        servers[t].tableGeneration = tableGeneration
        servers[t].client = i
        servers[t].input = InputBuffer()
        servers[t].connecting = true
        clients[c].server = s
        clients[c].phase = .connecting
        let sockaddrPointer = UnsafeRawPointer(address).advanced(by: MemoryLayout<SocketAddress>.offset(of: \.storage)!)
            .assumingMemoryBound(to: sockaddr.self)
        ring.queueConnect(fd: fd, address: sockaddrPointer, length: address.pointee.length,
                          userData: serverTag(.serverConnect, s))
        timers.schedule(i, at: now + services[Int(clients[c].service)].connectMilliseconds)
    }

    mutating func serverConnected(_ completion: Completion) {
        let s = completion.userData.slot, t = Int(s)
        guard servers[t].generation == completion.userData.generation else { return }
        servers[t].connecting = false
        if servers[t].phase == .closed {
            freeServerIfDone(s)
            return
        }
        let i = servers[t].client
        if completion.result < 0 {
            connectFailed(i, reason: EventLoop.serverFault(connectResult: completion.result))
            return
        }
        servers[t].established = true
        countConnection(t, +1)
        servers[t].phase = .attached
        clients[Int(i)].phase = .exchanging
        sendRequestHead(i)
    }

    /// Why a failed connect says the server is down, or nil when the failure
    /// is this machine's own (out of ports, buffers or memory): those must
    /// not take healthy servers out of rotation.
    static func serverFault(connectResult result: Int32) -> DownReason? {
        switch -result {
        case ECONNREFUSED: return DownReason(.passiveConnectRefused)
        case ETIMEDOUT: return DownReason(.passiveConnectTimeout)
        case EHOSTUNREACH, ENETUNREACH, ECONNRESET: return DownReason(.socketError, detail: UInt16(clamping: -result))
        default: return nil
        }
    }

    /// A connect was refused or timed out: nothing reached the server, so the
    /// request may go to another server once, when its route allows.
    /// `reason` (nil when the failure was this worker's own) marks a
    /// monitored server down at once: passive detection.
    mutating func connectFailed(_ i: UInt32, reason: DownReason?) {
        let c = Int(i)
        let s = clients[c].server
        if s != .max {
            count(.connectFailures, server: servers[Int(s)].server, generation: servers[Int(s)].tableGeneration,
                  stateSlot: servers[Int(s)].stateSlot)
        }
        if let reason, let region, clients[c].exchange.stateSlot != .max, clients[c].exchange.monitored {
            let state = region.server(clients[c].exchange.stateSlot)
            // A server already down (`never` still sends to it) is the
            // monitor's to bring back; nothing new to report.
            if !state.isDown {
                // Why and when first, so the monitor never logs an older reason.
                state.reason = reason
                state.changedAtMs = Posix.wallClockMilliseconds()
                if state.mark(.byPassiveCheck).isEmpty { state.add(.stateChanges) }
            }
        }
        var failed = clients[c].exchange.server
        if clients[c].exchange.tableGeneration != tableGeneration {
            failed = currentIndex(ofStateSlot: clients[c].exchange.stateSlot)  // the table changed meanwhile
        }
        detachServer(i, reusable: false)
        clients[c].phase = .exchanging
        if clients[c].exchange.retryAllowed && !clients[c].exchange.retried {
            clients[c].exchange.retried = true
            route(i, excluding: failed)
        } else {
            respondLocally(i, LocalResponses.badGateway)
        }
    }

    // MARK: Keep-alive pool

    /// The most recently pooled idle connection to `server`, if any.
    mutating func takePooled(_ server: UInt32) -> UInt32? {
        let s = poolHeads[Int(server)]
        if s == .max { return nil }
        unpool(s)
        return s
    }

    mutating func attach(_ s: UInt32, to i: UInt32) {
        servers[Int(s)].phase = .attached
        servers[Int(s)].client = i
        clients[Int(i)].server = s
    }

    /// Puts an idle connection in the pool with a receive armed, so a close
    /// by the server is noticed at once.
    mutating func pool(_ s: UInt32) {
        let t = Int(s)
        if pooledCount >= maxPooled || servers[t].tableGeneration != tableGeneration {
            closeServer(s)
            return
        }
        let server = Int(servers[t].server)
        servers[t].phase = .pooled
        servers[t].client = .max
        servers[t].poolPrev = .max
        servers[t].poolNext = poolHeads[server]
        if poolHeads[server] != .max { servers[Int(poolHeads[server])].poolPrev = s }
        poolHeads[server] = s
        pooledCount += 1
        if !servers[t].receiving && !servers[t].waitingForBuffer { receiveFromServer(s) }
        timers.schedule(serverTimerID(s), at: now + serverIdleMilliseconds)
    }

    mutating func unpool(_ s: UInt32) {
        let t = Int(s)
        let p = servers[t].poolPrev, n = servers[t].poolNext
        if p == .max { poolHeads[Int(servers[t].server)] = n } else { servers[Int(p)].poolNext = n }
        if n != .max { servers[Int(n)].poolPrev = p }
        servers[t].poolPrev = .max
        servers[t].poolNext = .max
        servers[t].phase = .attached
        pooledCount -= 1
        timers.cancel(serverTimerID(s))
    }

    mutating func serverTimedOut(_ s: UInt32) {
        if servers[Int(s)].phase == .pooled {
            unpool(s)
            closeServer(s)
        }
    }

    // MARK: Send

    /// Sends the request head, with X-Forwarded-For inserted when the virtual
    /// service asks for it, and whatever body bytes arrived with it, straight
    /// from the client's receive buffer.
    mutating func sendRequestHead(_ i: UInt32) {
        let c = Int(i)
        let s = clients[c].server
        let t = Int(s)
        let input = clients[c].input
        let headLength = clients[c].exchange.headLength
        let all = buffers.bytes(input)
        let bodyCount: Int
        switch clients[c].exchange.request.take(UnsafeRawBufferPointer(rebasing: all[headLength...])) {
        case .invalid:
            requestBodyInvalid(i)
            return
        case .body(let count, let finished):
            bodyCount = count
            if finished { clients[c].exchange.requestReceived = true }
        }
        countRequestSent(c)
        let total = headLength + bodyCount
        if accessLog.enabled { accessLog.record(c).pointee.bytesIn &+= UInt64(total) }
        let base = buffers.address(input.id) + Int(input.start)
        let closeOption = Int(clients[c].exchange.connectionCloseOption)
        if closeOption >= 0 {
            // The client's `Connection: close` ends the client connection
            // only; blanked, it leaves an empty list element for the server,
            // whose connection goes back to the pool.
            (base + closeOption).initializeMemory(as: UInt8.self, repeating: 0x20, count: 5)
        }
        servers[t].sending = true
        servers[t].sendConsumed = UInt32(total)
        let service = services[Int(clients[c].service)]
        if service.xForwardedFor {
            let message = vectoredSends + t
            let addressText = UnsafeMutableRawPointer(clients + c)
                .advanced(by: MemoryLayout<ClientConnection>.offset(of: \.address.text)!)
            let addressCount = Int(clients[c].address.textCount)
            var extra = 0
            withUnsafeMutablePointer(to: &message.pointee.parts) { tuple in
                tuple.withMemoryRebound(to: iovec.self, capacity: 5) { iov in
                    if let at = clients[c].exchange.xForwardedForInsertion {
                        let separator = clients[c].exchange.xForwardedForIsEmpty ? XForwardedFor.space : XForwardedFor.separator
                        iov[0] = iovec(iov_base: base, iov_len: at)
                        iov[1] = iovec(iov_base: UnsafeMutableRawPointer(mutating: separator.bytes), iov_len: separator.count)
                        iov[2] = iovec(iov_base: addressText, iov_len: addressCount)
                        iov[3] = iovec(iov_base: base + at, iov_len: total - at)
                        message.pointee.header.msg_iovlen = 4
                        extra = separator.count + addressCount
                    } else {
                        let at = headLength - 2
                        iov[0] = iovec(iov_base: base, iov_len: at)
                        iov[1] = iovec(iov_base: UnsafeMutableRawPointer(mutating: XForwardedFor.name.bytes), iov_len: XForwardedFor.name.count)
                        iov[2] = iovec(iov_base: addressText, iov_len: addressCount)
                        iov[3] = iovec(iov_base: UnsafeMutableRawPointer(mutating: XForwardedFor.lineEnd.bytes), iov_len: XForwardedFor.lineEnd.count)
                        iov[4] = iovec(iov_base: base + at, iov_len: total - at)
                        message.pointee.header.msg_iovlen = 5
                        extra = XForwardedFor.name.count + addressCount + XForwardedFor.lineEnd.count
                    }
                    message.pointee.header.msg_iov = iov
                }
            }
            servers[t].sendTotal = UInt32(total + extra)
            ring.queueSendMessage(fd: servers[t].fd, message: UnsafePointer(message).withMemoryRebound(to: msghdr.self, capacity: 1) { $0 },
                                  userData: serverTag(.serverSend, s))
        } else {
            servers[t].sendTotal = UInt32(total)
            ring.queueSend(fd: servers[t].fd, from: base, count: total, userData: serverTag(.serverSend, s))
        }
        if !servers[t].receiving && !servers[t].waitingForBuffer { receiveFromServer(s, expectingNothingYet: true) }
        timers.schedule(i, at: now + service.clientIdleMilliseconds)
    }

    /// Sends `count` bytes at the front of `input` (the client's) to server `s`.
    mutating func sendToServer(_ s: UInt32, from input: InputBuffer, count: Int) {
        let t = Int(s)
        servers[t].sending = true
        servers[t].sendConsumed = UInt32(count)
        servers[t].sendTotal = UInt32(count)
        ring.queueSend(fd: servers[t].fd, from: buffers.address(input.id) + Int(input.start), count: count,
                       userData: serverTag(.serverSend, s))
    }

    mutating func serverSent(_ completion: Completion) {
        let s = completion.userData.slot, t = Int(s)
        guard servers[t].generation == completion.userData.generation else { return }
        if completion.result > 0 {
            count(.bytesToServer, server: servers[t].server, generation: servers[t].tableGeneration,
                  stateSlot: servers[t].stateSlot, UInt64(completion.result))
        }
        servers[t].sending = false
        if servers[t].orphan != .none {
            buffers.release(servers[t].orphan)
            servers[t].orphan = .none
        }
        if servers[t].phase == .closed {
            freeServerIfDone(s)
            return
        }
        let i = servers[t].client, c = Int(i)
        if completion.result != Int32(servers[t].sendTotal) {
            if clients[c].exchange.responseSent {
                detachServer(i, reusable: false)
                lingerClose(i)
            } else if clients[c].phase == .tunnel {
                closeClient(i)
            } else {
                serverFailed(i, "the request could not be sent", result: completion.result)
            }
            return
        }
        clients[c].input.start += servers[t].sendConsumed
        if clients[c].input.isEmpty { buffers.releaseInput(&clients[c].input) }
        let service = services[Int(clients[c].service)]
        if clients[c].phase == .tunnel {
            if clients[c].input.isEmpty { receiveFromClient(i) } else { forwardTunnelFromClient(i) }
            timers.schedule(i, at: now + service.clientIdleMilliseconds)
            return
        }
        if clients[c].exchange.requestReceived {
            clients[c].exchange.requestSent = true
            if !clients[c].exchange.responseSent {
                if !clients[c].sending {
                    timers.schedule(i, at: now + service.serverResponseMilliseconds)
                }
                return
            }
            finishExchange(i)
        } else {
            receiveFromClient(i)
            timers.schedule(i, at: now + service.clientIdleMilliseconds)
        }
    }

    // MARK: Receive

    /// Arms the server connection's one receive. `expectingNothingYet`: the
    /// request is being sent in the same batch, so no response can be there
    /// yet and the kernel should wait before it tries.
    mutating func receiveFromServer(_ s: UInt32, expectingNothingYet: Bool = false) {
        let t = Int(s)
        precondition(!servers[t].receiving, "second receive on a server connection")
        if servers[t].input.holdsBuffer && servers[t].input.isEmpty { buffers.releaseInput(&servers[t].input) }
        let input = servers[t].input
        if input.holdsBuffer {
            let room = buffers.capacity(input.id) - Int(input.end)
            precondition(room > 0, "receive into a full buffer")
            ring.queueReceive(fd: servers[t].fd, into: buffers.address(input.id) + Int(input.end), count: room,
                              expectingNothingYet: expectingNothingYet, userData: serverTag(.serverReceive, s))
        } else {
            ring.queueReceive(fd: servers[t].fd, group: buffers.provided.group, expectingNothingYet: expectingNothingYet,
                              userData: serverTag(.serverReceive, s))
        }
        servers[t].receiving = true
    }

    mutating func serverReceived(_ completion: Completion) {
        let s = completion.userData.slot, t = Int(s)
        guard servers[t].generation == completion.userData.generation else {
            if let b = completion.bufferID { buffers.release(BufferID(b)) }
            return
        }
        servers[t].receiving = false
        if servers[t].phase == .closed {
            if let b = completion.bufferID { buffers.release(BufferID(b)) }
            buffers.releaseInput(&servers[t].input)
            freeServerIfDone(s)
            return
        }
        if servers[t].phase == .pooled {
            // An idle connection has nothing to say: a close, a reset or
            // stray bytes all retire it.
            if let b = completion.bufferID { buffers.release(BufferID(b)) }
            if completion.result == -ENOBUFS {
                servers[t].waitingForBuffer = true
                waitForBuffer(timerID: serverTimerID(s))
                return
            }
            unpool(s)
            closeServer(s)
            return
        }
        let i = servers[t].client
        let n = completion.result
        if n > 0 {
            count(.bytesFromServer, server: servers[t].server, generation: servers[t].tableGeneration,
                  stateSlot: servers[t].stateSlot, UInt64(n))
        }
        if n < 0 {
            if let b = completion.bufferID { buffers.release(BufferID(b)) }
            if n == -ENOBUFS {
                servers[t].waitingForBuffer = true
                waitForBuffer(timerID: serverTimerID(s))
            } else if clients[Int(i)].phase == .tunnel {
                closeClient(i)
            } else {
                serverFailed(i, "receive error")
            }
            return
        }
        if let b = completion.bufferID {
            precondition(!servers[t].input.holdsBuffer, "provided buffer delivered to a connection holding one")
            servers[t].input = InputBuffer(id: BufferID(b), start: 0, end: UInt32(n))
        } else {
            servers[t].input.end += UInt32(n)
        }
        if n == 0 {
            serverClosedInput(i)
            return
        }
        if clients[Int(i)].phase == .tunnel {
            sendToClient(i, fromServer: s, count: servers[t].input.count)
            return
        }
        readResponse(i)
    }

    /// The server sent FIN: the end of an until-close body, or a failure.
    mutating func serverClosedInput(_ i: UInt32) {
        let c = Int(i)
        if clients[c].phase == .tunnel {
            closeClient(i)
            return
        }
        if clients[c].exchange.responseHeadComplete && clients[c].exchange.response.endOfInput() {
            clients[c].exchange.responseReceived = true
            clients[c].exchange.serverPoisoned = true
            if !clients[c].sending {
                clients[c].exchange.responseSent = true
                finishExchange(i)
            }
            return
        }
        serverFailed(i, "closed before a complete response")
    }

    /// Scans the server's input for the response head, or frames body bytes,
    /// and relays what belongs to the response.
    mutating func readResponse(_ i: UInt32) {
        let c = Int(i)
        let s = clients[c].server, t = Int(s)
        while true {
            let bytes = buffers.bytes(servers[t].input)
            if clients[c].exchange.responseHeadComplete {
                relayResponseBody(i, s, after: 0)
                return
            }
            switch clients[c].responseScanner.scan(bytes, requestMethod: clients[c].exchange.method) {
            case .incomplete:
                guard buffers.makeRoom(&servers[t].input, limit: services[Int(clients[c].service)].maxHeaderBytes) else {
                    serverFailed(i, "response head too large")
                    return
                }
                receiveFromServer(s)
                return
            case .invalid:
                serverFailed(i, "invalid response head")
                return
            case .complete(let head):
                clients[c].responseScanner.reset()
                switch clients[c].exchange.responseHead(head) {
                case .invalid:
                    serverFailed(i, "invalid response")
                    return
                case .dropInformational(let count):
                    servers[t].input.start += UInt32(count)
                    if servers[t].input.isEmpty {
                        buffers.releaseInput(&servers[t].input)
                        receiveFromServer(s)
                        return
                    }
                case .relayInformational(let count):
                    sendToClient(i, fromServer: s, count: count)
                    return
                case .relaySwitch:
                    countResponse(i, status: head.status)
                    sendToClient(i, fromServer: s, count: bytes.count)
                    return
                case .relayHead(let count):
                    countResponse(i, status: head.status)
                    // The client connection ends after this response: a
                    // drain, or its `close` that the server did not see.
                    let closing = draining || clients[c].exchange.connectionCloseOption >= 0
                    if closing {
                        let added = announceClose(s, headLength: count)
                        if added == 0 && sendAnnouncedHead(i, s, headLength: count) { return }
                        relayResponseBody(i, s, after: count + added)
                        return
                    }
                    relayResponseBody(i, s, after: count)
                    return
                }
            }
        }
    }

    /// The client connection closes after this response (a drain, or the
    /// client's own `close`, blanked for the server): say so in its head (`Connection: close` before the blank line, so the
    /// client sends nothing more on it), moving the bytes after it in place.
    /// Returns the bytes added: 0 when the buffer has no room for them
    /// (the connection still closes after the response).
    mutating func announceClose(_ s: UInt32, headLength: Int) -> Int {
        let t = Int(s)
        let field = announcedCloseField
        let input = servers[t].input
        guard headLength >= 4, buffers.capacity(input.id) - Int(input.end) >= field.utf8CodeUnitCount else { return 0 }
        let blankLine = buffers.address(input.id) + Int(input.start) + headLength - 2
        let after = input.count - (headLength - 2)
        memmove(blankLine + field.utf8CodeUnitCount, blankLine, after)
        blankLine.copyMemory(from: field.utf8Start, byteCount: field.utf8CodeUnitCount)
        servers[t].input.end += UInt32(field.utf8CodeUnitCount)
        return field.utf8CodeUnitCount
    }

    /// The server's buffer is full, so the field cannot go in place: sends
    /// a copy of the head with it from a spare provided buffer, then (when
    /// that send completes, `responseBytesDelivered`) the body bytes behind
    /// the head as usual. False, and nothing done, when none is spare or
    /// nothing follows the head (the body's framing is decided by the
    /// caller's relay then); the response then goes out unannounced.
    mutating func sendAnnouncedHead(_ i: UInt32, _ s: UInt32, headLength: Int) -> Bool {
        let c = Int(i), t = Int(s)
        let input = servers[t].input
        let field = announcedCloseField.utf8CodeUnitCount
        guard headLength >= 4, input.count > headLength, clients[c].orphan == .none,
              headLength + field <= buffers.providedSize,
              let copy = buffers.takeProvided() else { return false }
        let head = buffers.address(input.id) + Int(input.start)
        let out = buffers.address(copy)
        out.copyMemory(from: head, byteCount: headLength - 2)
        (out + headLength - 2).copyMemory(from: announcedCloseField.utf8Start, byteCount: field)
        (out + headLength - 2 + field).copyMemory(from: head + headLength - 2, byteCount: 2)
        clients[c].orphan = copy
        clients[c].sendSource = .announcedHead
        clients[c].sendConsumed = UInt32(headLength)
        clients[c].sending = true
        clients[c].exchange.sentToClient = true
        // The timer first: a TLS write can fail at once and free the slot.
        timers.schedule(i, at: now + services[Int(clients[c].service)].clientIdleMilliseconds)
        writeToClient(i, out, count: headLength + field)
        return true
    }

    /// Relays `headCount` head bytes plus the body bytes that follow them.
    mutating func relayResponseBody(_ i: UInt32, _ s: UInt32, after headCount: Int) {
        let c = Int(i), t = Int(s)
        let bytes = buffers.bytes(servers[t].input)
        switch clients[c].exchange.response.take(UnsafeRawBufferPointer(rebasing: bytes[headCount...])) {
        case .invalid:
            serverFailed(i, "invalid response body")
        case .body(let count, let finished):
            if finished {
                clients[c].exchange.responseReceived = true
                if headCount + count < bytes.count { clients[c].exchange.serverPoisoned = true }
            }
            if headCount + count == 0 {
                // A head-only response already relayed (nothing new to send).
                responseBytesDelivered(i)
                return
            }
            sendToClient(i, fromServer: s, count: headCount + count)
        }
    }

    /// A send of response bytes to the client completed.
    mutating func responseBytesDelivered(_ i: UInt32) {
        let c = Int(i)
        let s = clients[c].server, t = Int(s)
        let service = services[Int(clients[c].service)]
        if clients[c].phase == .tunnel {
            receiveFromServer(s)
            timers.schedule(i, at: now + service.clientIdleMilliseconds)
            return
        }
        if clients[c].exchange.switchingToTunnel {
            enterTunnel(i)
            return
        }
        if !clients[c].exchange.responseHeadComplete {
            // A 1xx went out; the final response follows.
            if servers[t].input.isEmpty { receiveFromServer(s) } else { readResponse(i) }
            timers.schedule(i, at: now + service.serverResponseMilliseconds)
            return
        }
        if clients[c].exchange.responseReceived {
            clients[c].exchange.responseSent = true
            finishExchange(i)
            return
        }
        if servers[t].input.isEmpty {
            receiveFromServer(s)
        } else {
            relayResponseBody(i, s, after: 0)
        }
        timers.schedule(i, at: now + service.serverResponseMilliseconds)
    }

    /// The 101 and whatever followed it have reached the client: from now on
    /// bytes flow both ways unframed.
    mutating func enterTunnel(_ i: UInt32) {
        let c = Int(i)
        let s = clients[c].server
        clients[c].phase = .tunnel
        clients[c].exchange.switchingToTunnel = false
        timers.schedule(i, at: now + services[Int(clients[c].service)].clientIdleMilliseconds)
        receiveFromServer(s)
        if !servers[Int(s)].sending {
            if clients[c].input.isEmpty {
                receiveFromClient(i)
            } else {
                forwardTunnelFromClient(i)
            }
        }
    }

    mutating func forwardTunnelFromClient(_ i: UInt32) {
        let c = Int(i)
        if accessLog.enabled { accessLog.record(c).pointee.bytesIn &+= UInt64(clients[c].input.count) }
        sendToServer(clients[c].server, from: clients[c].input, count: clients[c].input.count)
    }

    // MARK: Completion and failure

    /// Both directions are done: return the server connection to the pool
    /// when it can carry another request, and read the client's next request
    /// (perhaps already in its buffer).
    mutating func finishExchange(_ i: UInt32) {
        let c = Int(i)
        let s = Int(clients[c].server)
        switch clients[c].exchange.end(serverSendPending: servers[s].sending, serverHasLeftover: !servers[s].input.isEmpty,
                                       draining: draining) {
        case .notYet:
            return
        case .done(let poolServer, let keepClient):
            if accessLog.enabled && accessLog.record(c).pointee.active { logRequest(i, status: clients[c].exchange.responseStatus) }
            detachServer(i, reusable: poolServer)
            guard keepClient else {
                lingerClose(i)
                return
            }
        }
        clients[c].phase = .idle
        clients[c].exchange = Exchange()
        timers.schedule(i, at: now + services[Int(clients[c].service)].clientIdleMilliseconds)
        if clients[c].input.isEmpty {
            // The response has just reached the client's socket: its next request cannot be here yet.
            receiveFromClient(i, expectingNothingYet: true)
        } else {
            readRequestHead(i)
        }
    }

    /// The server connection broke or answered nonsense: 502 when the client
    /// has seen nothing of the response yet, else close. Logged (at most
    /// once a second) with why and which server.
    mutating func serverFailed(_ i: UInt32, _ why: StaticString, result: Int32 = 0) {
        let c = Int(i)
        if clients[c].exchange.stateSlot != .max {
            let server = clients[c].exchange.server, slot = clients[c].exchange.stateSlot
            let reused = clients[c].exchange.reusedConnection
            logRarely(.warning, "server connection failed: \(why)\(result < 0 ? " (errno \(-result))" : "") (server \(server), state slot \(slot), \(reused ? "a reused" : "a new") connection)")
        }
        failExchange(i, status: 502)
    }

    /// Gives up on the exchange: the server connection closes, and the client
    /// gets `status` if it has seen nothing of a response, else a close.
    mutating func failExchange(_ i: UInt32, status: UInt16) {
        let c = Int(i)
        detachServer(i, reusable: false)
        switch clients[c].exchange.failure(status: status, clientSendPending: clients[c].sending) {
        case .respond(let status): respondLocally(i, LocalResponses.fixed(status))
        case .close: closeClient(i)
        }
    }

    /// Ends the client's use of its server connection: uncounts the request,
    /// and pools or closes the connection. A buffer that an in-flight send
    /// still reads moves to the sender, which releases it on completion.
    mutating func detachServer(_ i: UInt32, reusable: Bool) {
        let c = Int(i)
        if clients[c].exchange.countedInFlight {
            counters.decrement(clients[c].exchange.stateSlot)
            clients[c].exchange.countedInFlight = false
        }
        let s = clients[c].server
        if s == .max { return }
        let t = Int(s)
        clients[c].server = .max
        servers[t].client = .max
        if servers[t].sending && clients[c].input.holdsBuffer {
            servers[t].orphan = clients[c].input.id
            clients[c].input = InputBuffer()
        }
        if clients[c].sending && clients[c].sendSource == .response && servers[t].input.holdsBuffer {
            clients[c].orphan = servers[t].input.id
            servers[t].input = InputBuffer()
        }
        if reusable {
            pool(s)
        } else {
            closeServer(s)
        }
    }

    mutating func closeServer(_ s: UInt32) {
        let t = Int(s)
        if servers[t].phase == .closed || servers[t].phase == .free { return }
        if servers[t].established {
            servers[t].established = false
            countConnection(t, -1)
        }
        if servers[t].phase == .pooled { unpool(s) }
        if servers[t].hasOperationsInFlight {
            ring.queueCancelAndClose(fd: servers[t].fd, userData: teardownTag)
        } else {
            ring.queueClose(fd: servers[t].fd, userData: teardownTag)
        }
        servers[t].fd = -1
        servers[t].phase = .closed
        servers[t].client = .max
        servers[t].waitingForBuffer = false
        if !servers[t].receiving { buffers.releaseInput(&servers[t].input) }
        timers.cancel(serverTimerID(s))
        freeServerIfDone(s)
    }

    mutating func freeServerIfDone(_ s: UInt32) {
        let t = Int(s)
        guard servers[t].phase == .closed, !servers[t].hasOperationsInFlight else { return }
        servers[t].phase = .free
        servers[t].generation &+= 1
        freeServers.push(s)
    }
}

extension EventLoop {
    // MARK: Counting

    /// The request is on its way to its server: counted there, with why it
    /// went there.
    @inline(__always)
    mutating func countRequestSent(_ c: Int) {
        let server = clients[c].exchange.server, generation = clients[c].exchange.tableGeneration
        let slot = clients[c].exchange.stateSlot
        count(.requests, server: server, generation: generation, stateSlot: slot)
        switch clients[c].exchange.reason {
        case .pinned:
            count(.pinnedHits, server: server, generation: generation, stateSlot: slot)
            tally.add(.pinned)
        case .failover:
            count(.failovers, server: server, generation: generation, stateSlot: slot)
            tally.add(.failovers)
        case .balanced:
            count(.balanced, server: server, generation: generation, stateSlot: slot)
            tally.add(.balanced)
        }
    }

    /// The final response's head is being relayed.
    @inline(__always)
    mutating func countResponse(_ i: UInt32, status: UInt16) {
        let c = Int(i)
        clients[c].exchange.responseStatus = status
        if accessLog.enabled { accessLog.responded(c, status: status, now: Posix.monotonicMicroseconds()) }
        count(Tally.responseCounter(status: status), server: clients[c].exchange.server,
              generation: clients[c].exchange.tableGeneration, stateSlot: clients[c].exchange.stateSlot)
    }

    /// A connection to a server opened (+1) or closed (-1).
    @inline(__always)
    mutating func countConnection(_ t: Int, _ delta: Int64) {
        if servers[t].tableGeneration == tableGeneration {
            tally.addConnections(server: servers[t].server, delta)
        } else if let region {
            let slot = servers[t].stateSlot
            counters.holdings.addConnections(Int32(delta), to: region.server(slot), slot: slot)
        }
    }
}

/// The fixed pieces of an inserted X-Forwarded-For.
enum XForwardedFor {
    static let separator = LocalResponse(", ")
    /// After an empty X-Forwarded-For value.
    static let space = LocalResponse(" ")
    static let name = LocalResponse("X-Forwarded-For: ")
    static let lineEnd = LocalResponse("\r\n")
}
