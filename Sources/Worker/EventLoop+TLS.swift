import CLinux
import Posix
import Ring
import RoutingTable
import SharedState
import TLS

/// The TLS stream: ciphertext comes in through provided buffers and is
/// decrypted into the connection's input, where the HTTP code reads it as
/// it would a plain connection's; HTTP writes are encrypted into the
/// connection's output buffer and sent from there. All socket I/O stays on
/// the ring; OpenSSL only ever reads and writes memory (`TLSTransport`).
///
/// Two rules keep the HTTP code unaware: input is decrypted only when the
/// HTTP code asked for it (`receiveFromClient`), and an HTTP write
/// completes (`clientWriteDone`) only once its last record is sent, with
/// the plaintext byte count it asked for. Records of the stream's own
/// (handshake, session tickets, alerts, close_notify) go out through the
/// same output buffer, one send in flight at a time (`streamSending`).
extension EventLoop {
    /// Below this much room in the output buffer a read waits for the send
    /// under way: what OpenSSL writes while reading (a ticket, an alert, a
    /// key update) is small.
    static let minimumTLSOutputRoom = 1024

    static func hasTLS(_ table: RoutingTableView) -> Bool {
        (0..<table.virtualServiceCount).contains { table.virtualService($0).tls }
    }

    /// Makes the TLS machinery, once: per-connection states, output buffers
    /// that hold a full record of a provided buffer's plaintext, and the
    /// plaintext buffers connections decrypt into.
    mutating func enableTLS() throws {
        guard tls == nil else { return }
        tls = try EventLoop.makeTLS(buffers: &buffers, clientCapacity: clientCapacity)
    }

    static func makeTLS(buffers: inout BufferPool, clientCapacity: Int) throws -> TLSWorker {
        try buffers.enablePlaintext(count: buffers.provided.count)
        return try TLSWorker(clientCapacity: clientCapacity, outputSize: max(buffers.providedSize, 16 * 1024) + 1024)
    }

    /// A new connection on a TLS virtual service: its server-side TLS state,
    /// at the start of the handshake. False when OpenSSL is out of memory.
    mutating func openTLS(_ i: UInt32, service: Int) -> Bool {
        guard let worker = tls, service < worker.contexts.count, let context = worker.contexts[service],
              let connection = context.makeConnection() else {
            logRarely(.error, "cannot start a TLS connection: out of memory")
            return false
        }
        worker.clients[Int(i)] = TLSClientState(connection: connection)
        clients[Int(i)].stream = .tls
        return true
    }

    /// The connection holds ciphertext or plaintext it can deliver without
    /// a receive (or the client's close_notify, to deliver as an end).
    func tlsHoldsInput(_ i: UInt32) -> Bool {
        let t = tls.unsafelyUnwrapped.clients[Int(i)]
        return !t.ciphertext.isEmpty || t.peerClosed || (t.connection?.bufferedPlaintext ?? 0) > 0
    }

    /// Some of the client's next request has arrived, still encrypted or
    /// as part of a record.
    func tlsHoldsPartialInput(_ i: UInt32) -> Bool {
        let t = tls.unsafelyUnwrapped.clients[Int(i)]
        return !t.ciphertext.isEmpty || (t.connection?.hasBufferedInput ?? false)
    }

    // MARK: Receiving

    mutating func tlsReceived(_ completion: Completion) {
        let i = completion.userData.slot, c = Int(i)
        guard let n = takeClientReceive(completion) else { return }
        if n < 0 {
            tlsPeerLeft(i)
            clientVanished(i)
            return
        }
        if n == 0 {
            tlsPeerLeft(i)
            clientClosedInput(i)
            return
        }
        tally.add(.bytesIn, UInt64(n))
        let t = tls.unsafelyUnwrapped.clients + c
        guard let b = completion.bufferID else {
            preconditionFailure("a TLS receive completed without a provided buffer")
        }
        t.pointee.ciphertext = InputBuffer(id: BufferID(b), start: 0, end: UInt32(n))
        t.pointee.started = true
        tlsDecrypt(i)
    }

    /// A decrypt queued by `receiveFromClient` (the connection held input).
    mutating func tlsReady(_ completion: Completion) {
        let i = completion.userData.slot, c = Int(i)
        guard clients[c].generation == completion.userData.generation else { return }
        clients[c].receiving = false
        if clients[c].phase == .closed {
            // closeClient left the input to the pending decrypt: give it back.
            buffers.releaseInput(&clients[c].input)
            freeClientIfDone(i)
            return
        }
        tlsDecrypt(i)
    }

    /// Advances the handshake and decrypts into the input buffer, then hands
    /// the HTTP code what came out (or arms another receive when nothing
    /// did). Runs only on the HTTP code's behalf: it asked for input.
    mutating func tlsDecrypt(_ i: UInt32) {
        let c = Int(i)
        let t = tls.unsafelyUnwrapped.clients + c
        // The client's close_notify first: once it came, nothing more will,
        // even after our own close_notify (checking that first would decrypt
        // the same nothing again and again until the linger timer).
        if t.pointee.peerClosed {
            buffers.releaseInput(&t.pointee.ciphertext)
            clientClosedInput(i)
            return
        }
        if t.pointee.shutdownSent {
            // After our close_notify: read and dropped until the client's FIN.
            buffers.releaseInput(&t.pointee.ciphertext)
            clientInputArrived(i)
            return
        }
        guard let output = tlsOutputWindow(i) else {
            t.pointee.readAfterOutput = true
            tlsPump(i)
            return
        }
        if !clients[c].input.holdsBuffer {
            guard let id = buffers.takePlaintext() else {
                // The ciphertext waits with the connection until a buffer is back.
                clients[c].waitingForBuffer = true
                waitForBuffer(timerID: i)
                return
            }
            clients[c].input = InputBuffer(id: id, start: 0, end: 0)
        }
        let input = clients[c].input
        let room = buffers.capacity(input.id) - Int(input.end)
        precondition(room > 0, "decrypt into a full buffer")
        let window = UnsafeMutableRawBufferPointer(start: buffers.address(input.id) + Int(input.end), count: room)
        let ciphertext = t.pointee.ciphertext.holdsBuffer
            ? buffers.bytes(t.pointee.ciphertext) : UnsafeRawBufferPointer(start: nil, count: 0)
        let result = t.pointee.connection!.read(ciphertext, into: window, output: output)

        t.pointee.ciphertext.start += UInt32(result.consumed)
        if t.pointee.ciphertext.isEmpty { buffers.releaseInput(&t.pointee.ciphertext) }
        clients[c].input.end += UInt32(result.produced)
        if clients[c].input.isEmpty { buffers.releaseInput(&clients[c].input) }
        t.pointee.end += UInt32(result.written)
        if !t.pointee.handshakeDone && t.pointee.connection.unsafelyUnwrapped.handshakeComplete {
            t.pointee.handshakeDone = true
            // From now on the connection waits for its request like any other.
            if clients[c].phase == .idle {
                timers.schedule(i, at: now + services[Int(clients[c].service)].clientIdleMilliseconds)
            }
        }
        switch result.status {
        case .failed(.plaintext):
            tlsCleartext(i)
            return
        case .failed(let failure):
            tlsFailed(i, failure)
            return
        case .closed:
            t.pointee.peerClosed = true
        case .needOutputRoom:
            t.pointee.readAfterOutput = true
        case .needInput, .plaintextFull:
            break
        }
        if t.pointee.hasOutput { tlsSendOutput(i) } else { tlsReleaseOutput(i) }
        if result.produced > 0 {
            t.pointee.readAfterOutput = false  // the HTTP code asks again if it wants more
            clientInputArrived(i)
        } else if t.pointee.peerClosed {
            clientClosedInput(i)
        } else if !t.pointee.readAfterOutput {
            // Handshake messages or part of a record: the HTTP code still waits.
            receiveFromClient(i)
        }
    }

    // MARK: Writing

    /// An HTTP write: encrypted as output room allows, complete once its
    /// last record is sent.
    mutating func tlsWrite(_ i: UInt32, _ bytes: UnsafeRawPointer, count: Int) {
        let t = tls.unsafelyUnwrapped.clients + Int(i)
        precondition(!t.pointee.writePending, "second write on a TLS client connection")
        t.pointee.writeNext = bytes
        t.pointee.writeLeft = count
        t.pointee.writeTotal = count
        t.pointee.writePending = true
        tlsPump(i)
    }

    /// Moves output toward the socket: encrypts what is left of the HTTP
    /// write and keeps one send in flight; once everything is sent, does
    /// what waited for that (a read, a FIN, a close, and last the write's
    /// completion, which may start the next write).
    mutating func tlsPump(_ i: UInt32) {
        let c = Int(i)
        if clients[c].streamSending { return }
        let worker = tls.unsafelyUnwrapped
        let t = worker.clients + c
        if t.pointee.writeLeft > 0, let window = tlsOutputWindow(i) {
            let plaintext = UnsafeRawBufferPointer(start: t.pointee.writeNext, count: t.pointee.writeLeft)
            let result = t.pointee.connection!.write(plaintext, output: window)
            t.pointee.writeNext = t.pointee.writeNext.unsafelyUnwrapped + result.consumed
            t.pointee.writeLeft -= result.consumed
            t.pointee.end += UInt32(result.written)
            if case .failed(let failure) = result.status {
                let peer = clientAddressText(i)
                logRarely(.warning, "TLS write to \(peer) failed: \(failure)")
                t.pointee.writeLeft = 0
                t.pointee.writePending = false
                clientWriteDone(i, result: -EPROTO)
                return
            }
        }
        if t.pointee.hasOutput {
            tlsSendOutput(i)
            return
        }
        tlsReleaseOutput(i)
        if t.pointee.readAfterOutput && !clients[c].receiving {
            t.pointee.readAfterOutput = false
            ring.queueNop(userData: clientTag(.clientTLSReady, i))
            clients[c].receiving = true
        }
        if t.pointee.finishAfterOutput {
            t.pointee.finishAfterOutput = false
            Posix.shutdownWrite(clients[c].fd)
        }
        if t.pointee.closeAfterOutput {
            closeClient(i)
            return
        }
        if t.pointee.writePending && t.pointee.writeLeft == 0 {
            t.pointee.writePending = false
            clientWriteDone(i, result: Int32(t.pointee.writeTotal))
        }
    }

    /// Sends the output not yet sent, unless a send is under way.
    mutating func tlsSendOutput(_ i: UInt32) {
        let c = Int(i)
        let worker = tls.unsafelyUnwrapped
        let t = worker.clients + c
        guard !clients[c].streamSending, t.pointee.hasOutput else { return }
        let start = t.pointee.sendStart
        t.pointee.sendEnd = t.pointee.end
        clients[c].streamSending = true
        ring.queueSend(fd: clients[c].fd, from: worker.outputs.address(t.pointee.output) + Int(start),
                       count: Int(t.pointee.end - start), userData: clientTag(.clientTLSSend, i))
    }

    mutating func tlsSent(_ completion: Completion) {
        let i = completion.userData.slot, c = Int(i)
        if completion.result > 0 { tally.add(.bytesOut, UInt64(completion.result)) }
        guard clients[c].generation == completion.userData.generation else { return }
        clients[c].streamSending = false
        let t = tls.unsafelyUnwrapped.clients + c
        if clients[c].phase == .closed {
            tlsReleaseOutput(i)
            if t.pointee.writePending {
                t.pointee.writePending = false
                clientWriteDone(i, result: -ECANCELED)  // frees the slot
            } else {
                freeClientIfDone(i)
            }
            return
        }
        if completion.result != Int32(t.pointee.sendEnd - t.pointee.sendStart) {
            if t.pointee.writePending {
                t.pointee.writePending = false
                clientWriteDone(i, result: completion.result < 0 ? completion.result : -EPIPE)
            } else {
                tlsPeerLeft(i)
                clientVanished(i)
            }
            return
        }
        t.pointee.sendStart = t.pointee.sendEnd
        tlsPump(i)
    }

    /// The free end of the connection's output buffer, taking one when it
    /// holds none and moving unsent bytes to the front when nothing is in
    /// flight; nil when there is too little room until the send under way
    /// completes.
    mutating func tlsOutputWindow(_ i: UInt32) -> UnsafeMutableRawBufferPointer? {
        let c = Int(i)
        let worker = tls.unsafelyUnwrapped
        let t = worker.clients + c
        if t.pointee.output == .max {
            guard let b = worker.outputs.take() else { return nil }  // one per client slot: never short
            t.pointee.output = b
            t.pointee.sendStart = 0
            t.pointee.sendEnd = 0
            t.pointee.end = 0
        }
        let base = worker.outputs.address(t.pointee.output)
        if !clients[c].streamSending && t.pointee.sendStart > 0 {
            let pending = Int(t.pointee.end - t.pointee.sendStart)
            base.copyMemory(from: base + Int(t.pointee.sendStart), byteCount: pending)
            t.pointee.sendStart = 0
            t.pointee.sendEnd = 0
            t.pointee.end = UInt32(pending)
        }
        let room = worker.outputs.size - Int(t.pointee.end)
        guard room >= EventLoop.minimumTLSOutputRoom else { return nil }
        return UnsafeMutableRawBufferPointer(start: base + Int(t.pointee.end), count: room)
    }

    /// Gives the output buffer back once it holds nothing and no send reads it.
    mutating func tlsReleaseOutput(_ i: UInt32) {
        let worker = tls.unsafelyUnwrapped
        let t = worker.clients + Int(i)
        guard t.pointee.output != .max, !clients[Int(i)].streamSending else { return }
        worker.outputs.release(t.pointee.output)
        t.pointee.output = .max
        t.pointee.sendStart = 0
        t.pointee.sendEnd = 0
        t.pointee.end = 0
    }

    // MARK: Ending

    /// finishClientWrites: close_notify, then FIN once it is sent.
    mutating func tlsFinish(_ i: UInt32) {
        let t = tls.unsafelyUnwrapped.clients + Int(i)
        t.pointee.shutdownSent = true
        if let window = tlsOutputWindow(i) {
            t.pointee.end += UInt32(t.pointee.connection!.shutdown(output: window))
        }
        t.pointee.finishAfterOutput = true
        tlsPump(i)
    }

    /// The connection is closing (`closeClient`): OpenSSL's state goes now;
    /// the output buffer once no send reads it.
    mutating func tlsClosed(_ i: UInt32) {
        let c = Int(i)
        let t = tls.unsafelyUnwrapped.clients + c
        t.pointee.connection?.free()
        t.pointee.connection = nil
        buffers.releaseInput(&t.pointee.ciphertext)
        tlsReleaseOutput(i)
        if t.pointee.writePending && !clients[c].streamSending {
            // No send carries the write any more: it is over.
            t.pointee.writePending = false
            clients[c].sending = false
            if clients[c].orphan != .none {
                buffers.release(clients[c].orphan)
                clients[c].orphan = .none
            }
        }
    }

    /// The handshake is done: the connection carries a TLS session.
    func tlsSessionEstablished(_ i: UInt32) -> Bool {
        tls.unsafelyUnwrapped.clients[Int(i)].handshakeDone
    }

    /// client_header (or client_idle) ran out: a stalled handshake counts.
    mutating func tlsTimedOut(_ i: UInt32) {
        if !tls.unsafelyUnwrapped.clients[Int(i)].handshakeDone {
            tlsCountFailure(i, "no complete handshake within client_header")
        }
    }

    /// The client closed or reset the connection; mid-handshake, it counts.
    mutating func tlsPeerLeft(_ i: UInt32) {
        let t = tls.unsafelyUnwrapped.clients[Int(i)]
        if t.started && !t.handshakeDone { tlsCountFailure(i, "the client closed the connection mid-handshake") }
    }

    /// OpenSSL refused the client's bytes: send the alert it wrote (during a
    /// handshake), then close.
    mutating func tlsFailed(_ i: UInt32, _ failure: TLSFailure) {
        let c = Int(i)
        let t = tls.unsafelyUnwrapped.clients + c
        guard !t.pointee.handshakeDone else {
            let peer = clientAddressText(i)
            logRarely(.notice, "TLS connection from \(peer) failed: \(failure)")
            clientVanished(i)
            return
        }
        tlsCountFailure(i, failure.description)
        if t.pointee.hasOutput {
            t.pointee.closeAfterOutput = true
            tlsPump(i)
        } else {
            clientVanished(i)
        }
    }

    /// Cleartext HTTP on a TLS port: answered in cleartext (400, "use
    /// https://"), as nginx does, then closed.
    mutating func tlsCleartext(_ i: UInt32) {
        let c = Int(i)
        tlsCountFailure(i, "cleartext (plain HTTP) on a TLS port")
        guard !clients[c].streamSending, !clients[c].sending else {
            clientVanished(i)
            return
        }
        tlsClosed(i)
        clients[c].stream = .plain
        buffers.releaseInput(&clients[c].input)
        respondLocally(i, LocalResponses.cleartextOnTLSPort)
    }

    mutating func tlsCountFailure(_ i: UInt32, _ reason: String) {
        let worker = tls.unsafelyUnwrapped
        let t = worker.clients + Int(i)
        if t.pointee.failureCounted { return }
        t.pointee.failureCounted = true
        worker.handshakeFailures += 1
        tally.add(.tlsHandshakeFailures)
        let total = worker.handshakeFailures
        let peer = clientAddressText(i)
        logRarely(.notice, "TLS handshake with \(peer) failed: \(reason) (\(total) since start)")
    }

    /// The client's address as X-Forwarded-For writes it (for logs).
    func clientAddressText(_ i: UInt32) -> String {
        var address = clients[Int(i)].address
        return withUnsafeBytes(of: &address.text) { raw in
            String(decoding: UnsafeRawBufferPointer(rebasing: raw[0..<Int(address.textCount)]), as: UTF8.self)
        }
    }
}
