/// A complete, validated response head.
public struct ResponseHead: Equatable, Hashable, Sendable {
    /// Bytes from the buffer's first byte through the final CRLF CRLF.
    public var headLength: Int
    public var status: UInt16
    /// 0 for HTTP/1.0, 1 for HTTP/1.1 (and for HTTP/1.2 to HTTP/1.9, which
    /// RFC 9110 §2.5 has a recipient process as the highest minor it knows).
    public var versionMinor: UInt8
    /// RFC 9112 §6.3, in its order: no body after a HEAD request or for 1xx,
    /// 204, 304; `.tunnel` for 2xx to CONNECT and for 101; `.chunked` when
    /// Transfer-Encoding ends in chunked; `.untilClose` when Transfer-Encoding
    /// does not name chunked (item 4) or when neither Transfer-Encoding nor
    /// Content-Length is present; else `.contentLength`.
    public var body: BodyFraming
    /// Whether the server connection can carry another request after this
    /// response: as for requests (RFC 9112 §9.3), and never after `.untilClose`
    /// or `.tunnel`.
    public var keepAlive: Bool
    /// 1xx other than 101: an interim response; a final one follows. Relay it,
    /// `reset()` the scanner and scan the next head from `headLength` on.
    public var isInformational: Bool
    /// 101 Switching Protocols (body `.tunnel`). Only valid if the request
    /// asked for an upgrade (RFC 9110 §15.2.2); the caller checks that.
    public var switchingProtocols: Bool

    public init(
        headLength: Int,
        status: UInt16,
        versionMinor: UInt8,
        body: BodyFraming,
        keepAlive: Bool,
        isInformational: Bool = false,
        switchingProtocols: Bool = false
    ) {
        self.headLength = headLength
        self.status = status
        self.versionMinor = versionMinor
        self.body = body
        self.keepAlive = keepAlive
        self.isInformational = isInformational
        self.switchingProtocols = switchingProtocols
    }
}

/// Scans a response head from a server in place. Every defect is a 502 for the
/// client. The syntax rules are those of `RequestHeadScanner` (CRLF only, token
/// names, no whitespace before the colon, no obs-fold: RFC 9112 §5.2 lets a
/// proxy answer 502 instead of unfolding), with these leniencies:
///
/// - HTTP/1.2 to HTTP/1.9 are read as HTTP/1.1 (RFC 9110 §2.5).
/// - A Transfer-Encoding that does not name chunked means the body runs until
///   the server closes (RFC 9112 §6.3 item 4), whatever its codings; the
///   client gets them as sent.
/// - The reason phrase may be missing together with the SP before it
///   (`HTTP/1.1 200` CRLF). RFC 9112 §4 has a server send the SP, but its
///   absence cannot change where the message ends, and servers omit it.
///
/// Strict where RFC 9112 allows a choice: Content-Length with
/// Transfer-Encoding (§6.3 item 3: "ought to be handled as an error"), and
/// Transfer-Encoding in an HTTP/1.0 response (§6.1: framing is faulty) are 502.
///
/// Usage as for `RequestHeadScanner`.
public struct ResponseHeadScanner: Sendable {
    public let maxHeadBytes: Int

    enum Stage: UInt8 {
        case statusLine
        case fields
        case complete
        case failed
    }

    var stage: Stage = .statusLine
    var position = 0
    var lexer = FieldLexer(at: 0)
    var head = ResponseHead(headLength: 0, status: 0, versionMinor: 1, body: .none, keepAlive: false)
    var framing = FramingFields()
    var failure = WireError(status: 502, reason: .invalidStatusLine)

    /// - Parameter maxHeadBytes: the largest head accepted, final CRLF CRLF included.
    public init(maxHeadBytes: Int) {
        precondition(maxHeadBytes > 0, "head limit must be positive")
        self.maxHeadBytes = maxHeadBytes
    }

    public mutating func reset() {
        self = ResponseHeadScanner(maxHeadBytes: maxHeadBytes)
    }

    /// - Parameter requestMethod: the method of the request this answers.
    public mutating func scan(_ buffer: UnsafeRawBufferPointer, requestMethod: HTTPMethod) -> ScanResult<ResponseHead> {
        switch stage {
        case .complete: return .complete(head)
        case .failed: return .invalid(failure)
        case .statusLine, .fields: break
        }
        guard let base = buffer.baseAddress, buffer.count > 0 else { return .incomplete }
        let end = min(buffer.count, maxHeadBytes)

        if stage == .statusLine {
            // HTAB may appear in the reason phrase; parseStatusLine rejects it elsewhere.
            var p = firstValueStop(base, from: position, to: end)
            while p < end && loadByte(base, p) == asciiHTAB {
                p = firstValueStop(base, from: p &+ 1, to: end)
            }
            guard p < end else {
                position = p
                return exhausted(end)
            }
            let stop = loadByte(base, p)
            guard stop == asciiCR else { return fail(stop == asciiLF ? .bareLF : .invalidStatusLine) }
            guard p &+ 1 < end else {
                position = p
                return exhausted(end)
            }
            guard loadByte(base, p &+ 1) == asciiLF else { return fail(.bareCR) }
            if let reason = parseStatusLine(base, lineEnd: p) { return fail(reason) }
            lexer = FieldLexer(at: p &+ 2)
            stage = .fields
        }

        switch lexer.run(base, end: end, into: &framing) {
        case .endOfHead(let length): return finish(headLength: length, requestMethod: requestMethod)
        case .exhausted: return exhausted(end)
        case .invalid(let reason): return fail(reason)
        }
    }

    @inline(__always)
    mutating func exhausted(_ end: Int) -> ScanResult<ResponseHead> {
        end >= maxHeadBytes ? fail(.headTooLarge) : .incomplete
    }

    mutating func fail(_ reason: WireError.Reason) -> ScanResult<ResponseHead> {
        failure = WireError(status: 502, reason: reason)
        stage = .failed
        return .invalid(failure)
    }

    /// `HTTP/1.x SP 3DIGIT [SP reason-phrase]` in `0..<lineEnd`, free of CTL
    /// other than HTAB and of DEL.
    mutating func parseStatusLine(_ base: UnsafeRawPointer, lineEnd: Int) -> WireError.Reason? {
        guard lineEnd >= 12 else { return .invalidStatusLine }
        // "HTTP/1." then one digit.
        guard loadWord(base, 0) & 0x00ff_ffff_ffff_ffff == 0x002e_312f_5054_5448 else {
            return loadWord32(base, 0) == 0x5054_5448 ? .unsupportedVersion : .invalidStatusLine
        }
        let minor = loadByte(base, 7) &- 0x30
        guard minor < 10 else { return .unsupportedVersion }
        guard loadByte(base, 8) == asciiSP else { return .invalidStatusLine }
        var status: UInt16 = 0
        for i in 9..<12 {
            let digit = loadByte(base, i) &- 0x30
            guard digit < 10 else { return .invalidStatusCode }
            status = status &* 10 &+ UInt16(digit)
        }
        guard (100...599).contains(status) else { return .invalidStatusCode }
        if lineEnd > 12 {
            guard loadByte(base, 12) == asciiSP else { return .invalidStatusCode }
        }
        head.versionMinor = minor == 0 ? 0 : 1
        head.status = status
        return nil
    }

    mutating func finish(headLength: Int, requestMethod: HTTPMethod) -> ScanResult<ResponseHead> {
        let minor = head.versionMinor
        let status = head.status
        var teBody = BodyFraming.none
        if framing.transferEncodingSeen {
            if let reason = framing.transferEncodingProblem(versionMinor: minor) { return fail(reason) }
            if framing.chunkedCount == 1 {
                guard framing.lastCodingIsChunked else { return fail(.chunkedNotFinal) }
                teBody = .chunked
            } else {
                teBody = .untilClose
            }
        }
        let body: BodyFraming
        if status < 200 {
            body = status == 101 ? .tunnel : .none
        } else if requestMethod == .head || status == 204 || status == 304 {
            body = .none
        } else if requestMethod == .connect && status < 300 {
            body = .tunnel
        } else if framing.transferEncodingSeen {
            body = teBody
        } else if framing.contentLengthSeen {
            body = .contentLength(UInt64(framing.contentLength))
        } else {
            body = .untilClose
        }
        head.headLength = headLength
        head.body = body
        head.isInformational = status < 200 && status != 101
        head.switchingProtocols = status == 101
        head.keepAlive = framing.keepAlive(versionMinor: minor) && body != .untilClose && body != .tunnel
        stage = .complete
        return .complete(head)
    }
}

/// A response head's field lines matter only for framing and persistence.
extension FramingFields: FieldLineSink {
    @inline(__always)
    mutating func addField(_ base: UnsafeRawPointer, nameStart: Int, colon: Int, lineEnd: Int) -> WireError.Reason? {
        switch KnownField.classify(base, nameStart, colon &- nameStart) {
        case .contentLength:
            let value = trimmedValue(base, colon: colon, lineEnd: lineEnd)
            return addContentLength(base, value.start, value.end)
        case .transferEncoding:
            let value = trimmedValue(base, colon: colon, lineEnd: lineEnd)
            return addTransferEncoding(base, value.start, value.end)
        case .connection:
            let value = trimmedValue(base, colon: colon, lineEnd: lineEnd)
            addConnection(base, value.start, value.end)
        case .other, .host, .expect, .upgrade, .xForwardedFor:
            break
        }
        return nil
    }
}
