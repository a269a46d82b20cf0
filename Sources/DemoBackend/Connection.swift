import Glibc

/// One client connection: reads requests in order, answers each completely
/// before looking at the next (so pipelined requests are answered in order),
/// and applies backpressure in both directions.
final class Connection {
    /// Stop starting new requests while this much output waits for the client.
    static let outputHighWater = 256 * 1024
    /// Refill a streamed body when less than this is waiting.
    static let streamLowWater = 64 * 1024
    /// Stop reading while this much unprocessed input (or tunnel output) waits.
    static let bufferedLimit = 1024 * 1024
    /// After our last byte, read and discard the client's bytes this long before
    /// closing, so a close does not reset what it has not read yet (as nginx's
    /// lingering close does).
    static let lingerNanoseconds: UInt64 = 2_000_000_000

    private enum Phase {
        case head
        case body
        case waiting(deadline: UInt64)
        case streaming
        case tunnel
        case closing
        case lingering(deadline: UInt64)
    }

    private struct PendingRequest {
        var head: RequestHead
        var route: Route
        var serial: Int
        var bodyRemaining: UInt64 = 0
        var chunkedDecoder: ChunkedBodyDecoder?
        var bodyLength: UInt64 = 0
        var bodyHash = FNV1a64()

        var disposition: ConnectionDisposition {
            guard head.keepAlive else { return .close }
            return head.minorVersion == 0 ? .persistentHTTP10 : .persistent
        }
    }

    let fd: Int32
    let serial: Int
    let listener: ListenerState
    unowned let loop: EventLoop
    /// Index of this connection's entry in the loop's poll set.
    var pollSlot = -1
    /// Set once the connection should be closed; the loop closes it.
    private(set) var finished = false
    private(set) var closed = false

    private var phase = Phase.head
    private var request: PendingRequest?

    private var input: [UInt8] = []
    private var inputStart = 0
    private var headScanned = 0
    private var peerFinished = false

    private var output: [UInt8] = []
    private var outputStart = 0
    private var patternBody: PatternBody?

    init(fd: Int32, serial: Int, listener: ListenerState, loop: EventLoop) {
        self.fd = fd
        self.serial = serial
        self.listener = listener
        self.loop = loop
    }

    private var inputAvailable: Int { input.count - inputStart }
    private var pendingOutput: Int { output.count - outputStart }

    private var discardsInput: Bool {
        switch phase {
        case .closing, .lingering: true
        default: false
        }
    }

    var wantsRead: Bool {
        if finished || peerFinished { return false }
        switch phase {
        case .closing, .lingering: return true
        case .tunnel: return pendingOutput < Connection.bufferedLimit
        default: return inputAvailable < Connection.bufferedLimit
        }
    }

    var wantsWrite: Bool { !finished && pendingOutput > 0 }

    // MARK: Events

    /// Reads what the socket has. Returns false when the connection failed.
    func readAvailable(into scratch: UnsafeMutableRawBufferPointer) -> Bool {
        var total = 0
        while total < Connection.bufferedLimit {
            let count = recv(fd, scratch.baseAddress, scratch.count, 0)
            if count > 0 {
                if !discardsInput {
                    input.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[0 ..< count]))
                }
                total += count
                if count < scratch.count { break }
            } else if count == 0 {
                peerFinished = true
                break
            } else {
                let code = errno
                if code == EINTR { continue }
                if code == EAGAIN || code == EWOULDBLOCK { break }
                return false
            }
        }
        return true
    }

    /// Runs the connection as far as it can go without waiting.
    func drive(now: UInt64) {
        while !finished {
            let advanced = advance(now: now)
            if finished { break }
            guard let sent = flush() else {
                finished = true
                break
            }
            if !advanced && sent == 0 { break }
        }
        compactInput()
    }

    func timerFired(now: UInt64) {
        switch phase {
        case let .waiting(deadline) where deadline <= now:
            answerSimply(status: 200, body: Array("\(listener.name)\n".utf8))
        case let .lingering(deadline) where deadline <= now:
            finished = true
        default:
            return
        }
        drive(now: now)
    }

    func markClosed() {
        finished = true
        closed = true
    }

    // MARK: The request cycle

    /// One step; returns whether anything changed.
    private func advance(now: UInt64) -> Bool {
        switch phase {
        case .head:
            return startRequest(now: now)
        case .body:
            return readBody(now: now)
        case .waiting:
            return false
        case .streaming:
            guard patternBody?.finished ?? true else { return false }
            patternBody = nil
            finishResponse()
            return true
        case .tunnel:
            var changed = false
            if inputAvailable > 0 {
                output.append(contentsOf: input[inputStart...])
                inputStart = input.count
                changed = true
            }
            if peerFinished {
                phase = .closing
                changed = true
            }
            return changed
        case .closing:
            inputStart = input.count
            guard pendingOutput == 0 else { return false }
            shutdown(fd, Int32(SHUT_WR))
            if peerFinished {
                finished = true
            } else {
                let deadline = now + Connection.lingerNanoseconds
                phase = .lingering(deadline: deadline)
                loop.schedule(deadline: deadline, for: self)
            }
            return true
        case .lingering:
            inputStart = input.count
            if peerFinished { finished = true }
            return peerFinished
        }
    }

    private func startRequest(now: UInt64) -> Bool {
        guard pendingOutput <= Connection.outputHighWater else { return false }
        // RFC 9112 §2.2: empty lines before a request line are ignored.
        var skipped = false
        while inputAvailable >= 2, input[inputStart] == UInt8(ascii: "\r"), input[inputStart + 1] == UInt8(ascii: "\n") {
            inputStart += 2
            headScanned = 0
            skipped = true
        }
        guard inputAvailable > 0 else {
            if peerFinished && pendingOutput == 0 { finished = true }
            return skipped || finished
        }
        let scan = input.withUnsafeBufferPointer {
            RequestHead.scanForEnd(of: UnsafeBufferPointer(rebasing: $0[inputStart...]), from: headScanned)
        }
        switch scan {
        case let .incomplete(scanned):
            headScanned = scanned
            if peerFinished {
                refuse(.badRequest("connection closed inside a request head"))
                return true
            }
            return skipped
        case let .invalid(failure):
            refuse(failure)
            return true
        case let .complete(length):
            let bytes = Array(input[inputStart ..< inputStart + length])
            inputStart += length
            headScanned = 0
            let head: RequestHead
            do {
                head = try RequestHead.parse(bytes)
            } catch {
                refuse(error)
                return true
            }
            var pending = PendingRequest(
                head: head,
                route: Route(path: head.path, query: head.query),
                serial: listener.countRequest()
            )
            switch head.framing {
            case .none: break
            case let .length(length): pending.bodyRemaining = length
            case .chunked: pending.chunkedDecoder = ChunkedBodyDecoder()
            }
            if head.expectsContinue && head.framing != .none && head.minorVersion == 1 {
                output.append(contentsOf: "HTTP/1.1 100 Continue\r\n\r\n".utf8)
            }
            request = pending
            phase = .body
            return true
        }
    }

    private func readBody(now: UInt64) -> Bool {
        let hashing = request!.route == .echo
        let complete: Bool
        var consumed = 0
        switch request!.head.framing {
        case .none:
            complete = true
        case .length:
            consumed = Int(min(request!.bodyRemaining, UInt64(inputAvailable)))
            if consumed > 0 {
                if hashing {
                    input.withUnsafeBytes {
                        request!.bodyHash.update(UnsafeRawBufferPointer(rebasing: $0[inputStart ..< inputStart + consumed]))
                    }
                }
                request!.bodyRemaining -= UInt64(consumed)
                request!.bodyLength += UInt64(consumed)
                inputStart += consumed
            }
            complete = request!.bodyRemaining == 0
        case .chunked:
            // Work on copies so the decoder's callback does not overlap an
            // access to `request`.
            var decoder = request!.chunkedDecoder!
            request!.chunkedDecoder = nil
            var hash = request!.bodyHash
            var length = request!.bodyLength
            let start = inputStart
            let outcome = input.withUnsafeBufferPointer { buffer in
                Result { () throws(RequestFailure) in
                    try decoder.decode(UnsafeBufferPointer(rebasing: buffer[start...])) { data in
                        length += UInt64(data.count)
                        if hashing { hash.update(UnsafeRawBufferPointer(data)) }
                    }
                }
            }
            request!.chunkedDecoder = decoder
            request!.bodyHash = hash
            request!.bodyLength = length
            switch outcome {
            case let .success((count, progress)):
                consumed = count
                inputStart += count
                complete = progress == .done
            case let .failure(failure):
                refuse(failure)
                return true
            }
        }
        if complete {
            respond(now: now)
            return true
        }
        if peerFinished {
            // The client gave up inside the body: nothing to answer.
            finished = true
            return true
        }
        return consumed > 0
    }

    private func respond(now: UInt64) {
        let pending = request!
        switch pending.route {
        case .name:
            answerSimply(status: 200, body: Array("\(listener.name)\n".utf8))
        case .echo:
            answerSimply(status: 200, body: echoReport(pending))
        case let .bytes(count, chunked):
            let chunkedBody = chunked && pending.head.minorVersion == 1
            output += responseHead(
                status: 200,
                framing: chunkedBody ? .chunked(trailer: PatternBody.trailerName) : .length(count),
                disposition: pending.disposition,
                extraFields: [("Content-Type", "application/octet-stream")]
            )
            if !pending.head.isHead {
                patternBody = PatternBody(total: count, chunked: chunkedBody)
            }
            phase = .streaming
        case let .status(code):
            if code == 204 || code == 304 {
                output += responseHead(status: code, framing: .bodiless, disposition: pending.disposition)
                finishResponse()
            } else {
                answerSimply(status: code, body: Array("\(code) \(reasonPhrase(code))\n".utf8))
            }
        case let .slow(milliseconds):
            let deadline = now + UInt64(milliseconds) * 1_000_000
            phase = .waiting(deadline: deadline)
            loop.schedule(deadline: deadline, for: self)
        case .closeMid:
            output += responseHead(status: 200, framing: .length(1000), disposition: .persistent,
                                   extraFields: [("Content-Type", "application/octet-stream")])
            if !pending.head.isHead {
                var body = PatternBody(total: 10, chunked: false)
                body.produce(into: &output, budget: 10)
            }
            request = nil
            phase = .closing
        case .close:
            answerSimply(status: 200, body: Array("\(listener.name)\n".utf8), forceClose: true)
        case .webSocket:
            guard pending.head.asksForWebSocket, pending.head.minorVersion == 1, let key = pending.head.webSocketKey else {
                answerSimply(status: 400, body: Array(
                    "/ws needs HTTP/1.1 with Connection: Upgrade, Upgrade: websocket and Sec-WebSocket-Key\n".utf8))
                return
            }
            output += responseHead(status: 101, framing: .bodiless, disposition: .persistent, extraFields: [
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Accept", webSocketAccept(forKey: key)),
            ])
            request = nil
            phase = .tunnel
        case .healthz:
            if loop.shared.healthy {
                answerSimply(status: 200, body: Array("ok\n".utf8))
            } else {
                answerSimply(status: 500, body: Array("failing\n".utf8))
            }
        case .stats:
            answerSimply(status: 200, body: Array(listener.statsReport(healthy: loop.shared.healthy).utf8))
        case let .invalid(message):
            answerSimply(status: 400, body: Array("\(message)\n".utf8))
        }
    }

    private func answerSimply(status: Int, body: [UInt8], forceClose: Bool = false) {
        let pending = request!
        output += responseHead(
            status: status,
            framing: .length(UInt64(body.count)),
            disposition: forceClose ? .close : pending.disposition,
            extraFields: [("Content-Type", "text/plain")]
        )
        if !pending.head.isHead { output += body }
        finishResponse(forceClose: forceClose)
    }

    private func finishResponse(forceClose: Bool = false) {
        let keepAlive = request!.head.keepAlive && !forceClose
        request = nil
        phase = keepAlive ? .head : .closing
    }

    /// Answers a request that cannot be read to its end, then closes.
    private func refuse(_ failure: RequestFailure) {
        let body = Array("\(failure.message)\n".utf8)
        let builder = ResponseHeadBuilder(
            backendName: listener.name,
            connectionSerial: serial,
            requestSerial: request?.serial ?? listener.countRequest()
        )
        output += builder.head(status: failure.status, framing: .length(UInt64(body.count)), disposition: .close,
                               extraFields: [("Content-Type", "text/plain")])
        output += body
        request = nil
        phase = .closing
    }

    private func responseHead(
        status: Int,
        framing: ResponseHeadBuilder.Framing,
        disposition: ConnectionDisposition,
        extraFields: [(String, String)] = []
    ) -> [UInt8] {
        ResponseHeadBuilder(backendName: listener.name, connectionSerial: serial, requestSerial: request!.serial)
            .head(status: status, framing: framing, disposition: disposition, extraFields: extraFields)
    }

    /// `/echo`: the backend's name, the request line and field lines exactly
    /// as received, a blank line, the body's length and FNV-1a 64, then any
    /// trailer field lines, each prefixed with `trailer: `.
    private func echoReport(_ pending: PendingRequest) -> [UInt8] {
        let head = pending.head
        var report = Array("\(listener.name)\n".utf8)
        report += head.bytes[head.requestLine]
        report.append(UInt8(ascii: "\n"))
        for line in head.fieldLines {
            report += head.bytes[line]
            report.append(UInt8(ascii: "\n"))
        }
        report += "\nbody-length: \(pending.bodyLength)\nbody-fnv64: \(pending.bodyHash.hexDigest)\n".utf8
        for line in pending.chunkedDecoder?.trailerLines ?? [] {
            report += "trailer: ".utf8
            report += line
            report.append(UInt8(ascii: "\n"))
        }
        return report
    }

    // MARK: Buffers

    /// Sends what is pending, refilling a streamed body as it drains.
    /// Returns the bytes sent, or nil when the peer is gone.
    private func flush() -> Int? {
        var sent = 0
        while true {
            if var body = patternBody, !body.finished, pendingOutput < Connection.streamLowWater {
                compactOutput()
                body.produce(into: &output, budget: 4 * Connection.streamLowWater)
                patternBody = body
            }
            let pending = pendingOutput
            if pending == 0 { break }
            let count = output.withUnsafeBytes { send(fd, $0.baseAddress! + outputStart, pending, Int32(MSG_NOSIGNAL)) }
            if count > 0 {
                outputStart += count
                sent += count
                continue
            }
            let code = errno
            if count < 0 && code == EINTR { continue }
            if count < 0 && (code == EAGAIN || code == EWOULDBLOCK) { break }
            return nil
        }
        if outputStart == output.count {
            output.removeAll(keepingCapacity: output.capacity <= 4 * Connection.streamLowWater)
            outputStart = 0
        }
        return sent
    }

    private func compactOutput() {
        guard outputStart > 0 else { return }
        output.removeSubrange(0 ..< outputStart)
        outputStart = 0
    }

    private func compactInput() {
        if inputStart == input.count {
            input.removeAll(keepingCapacity: input.capacity <= 64 * 1024)
            inputStart = 0
        } else if inputStart >= 64 * 1024 {
            input.removeSubrange(0 ..< inputStart)
            inputStart = 0
        }
    }
}
