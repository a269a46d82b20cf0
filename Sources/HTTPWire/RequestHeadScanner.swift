/// Scans an HTTP/1.1 request head in place (RFC 9112), strictly: whatever it
/// accepts has one meaning for every server behind tether.
///
/// Lines must end in CRLF. A bare LF is rejected (400), not taken as a line
/// end, although RFC 9112 §2.2 would allow it: a proxy that reads lines
/// differently from the server behind it is how requests get smuggled.
///
/// Rejections: 400 for any syntax error, framing conflict (Content-Length with
/// Transfer-Encoding, differing Content-Lengths, chunked not last or twice,
/// Transfer-Encoding in HTTP/1.0), a missing or repeated Host, or a Host with
/// a byte no host or port has; 414 for a request line over
/// `maxRequestLineBytes`; 431 for a head over `maxHeadBytes`; 501 for a
/// transfer coding other than chunked, gzip, x-gzip, deflate, compress and
/// x-compress when chunked is last. The version must be exactly HTTP/1.0 or
/// HTTP/1.1. A request target may hold any byte but CTL, SP and DEL (obs-text
/// included); its URI syntax is the server's business.
///
/// Usage: call `scan` with all bytes received so far for this head, starting
/// at its first byte, until it answers `.complete` or `.invalid`; then
/// `reset()` before the next head. The scanner remembers how far it got, so a
/// head that arrives in pieces is examined about twice in total, not once per
/// piece. Each call must pass the same bytes as before (the buffer may move)
/// and the same `wanted` headers. Once finished, `scan` repeats its answer.
public struct RequestHeadScanner: Sendable {
    /// The largest head accepted, final CRLF CRLF included (431 above).
    public let maxHeadBytes: Int
    /// The longest request line accepted, CRLF excluded (414 above).
    public let maxRequestLineBytes: Int

    enum Stage: UInt8 {
        case emptyLines
        case requestLine
        case fields
        case complete
        case failed
    }

    var stage: Stage = .emptyLines
    var failure = WireError(status: 400, reason: .invalidRequestLine)
    /// First byte not yet examined while in `.emptyLines` or `.requestLine`.
    var position = 0
    var requestLineStart = 0
    var lexer = FieldLexer(at: 0)
    var fields = RequestFields()

    /// Limits above 2^31 - 1 bytes are taken as 2^31 - 1.
    public init(maxHeadBytes: Int, maxRequestLineBytes: Int = 8192) {
        precondition(maxHeadBytes > 0 && maxRequestLineBytes > 0, "head limits must be positive")
        self.maxHeadBytes = min(maxHeadBytes, Int(Int32.max))
        self.maxRequestLineBytes = min(maxRequestLineBytes, Int(Int32.max))
    }

    /// Forgets the current head; the next `scan` starts a new one.
    public mutating func reset() {
        stage = .emptyLines
        position = 0
        requestLineStart = 0
        lexer = FieldLexer(at: 0)
        fields = RequestFields()
    }

    public mutating func scan(_ buffer: UnsafeRawBufferPointer, wanted: WantedHeaders) -> ScanResult<RequestHead> {
        switch stage {
        case .complete: return .complete(fields.head)
        case .failed: return .invalid(failure)
        case .emptyLines, .requestLine, .fields: break
        }
        guard let base = buffer.baseAddress, buffer.count > 0 else { return .incomplete }
        let end = min(buffer.count, maxHeadBytes)

        if stage == .emptyLines {
            var p = position
            while true {
                guard p < end else {
                    position = p
                    return exhausted(end)
                }
                let b = loadByte(base, p)
                if b == asciiCR {
                    guard p &+ 1 < end else {
                        position = p
                        return exhausted(end)
                    }
                    guard loadByte(base, p &+ 1) == asciiLF else { return fail(.bareCR) }
                    p &+= 2
                } else if b == asciiLF {
                    return fail(.bareLF)
                } else {
                    break
                }
            }
            requestLineStart = p
            position = p
            stage = .requestLine
        }

        if stage == .requestLine {
            // The CR may sit at most maxRequestLineBytes after the line's start.
            let lineLimit = requestLineStart &+ maxRequestLineBytes &+ 1
            let scanEnd = min(end, lineLimit)
            let p = firstValueStop(base, from: position, to: scanEnd)
            guard p < scanEnd else {
                position = p
                return p >= lineLimit ? fail(.requestLineTooLong) : exhausted(end)
            }
            let stop = loadByte(base, p)
            guard stop == asciiCR else { return fail(stop == asciiLF ? .bareLF : .invalidRequestLine) }
            guard p &+ 1 < end else {
                position = p
                return exhausted(end)
            }
            guard loadByte(base, p &+ 1) == asciiLF else { return fail(.bareCR) }
            if let reason = parseRequestLine(base, lineEnd: p) { return fail(reason) }
            lexer = FieldLexer(at: p &+ 2)
            stage = .fields
        }

        fields.wanted = wanted
        switch lexer.run(base, end: end, into: &fields) {
        case .endOfHead(let length): return finish(headLength: length)
        case .exhausted: return exhausted(end)
        case .invalid(let reason): return fail(reason)
        }
    }

    /// Out of bytes at `end`: more may come, unless `end` is the head limit.
    @inline(__always)
    mutating func exhausted(_ end: Int) -> ScanResult<RequestHead> {
        end >= maxHeadBytes ? fail(.headTooLarge) : .incomplete
    }

    mutating func fail(_ reason: WireError.Reason) -> ScanResult<RequestHead> {
        let status: UInt16
        switch reason {
        case .requestLineTooLong: status = 414
        case .headTooLarge: status = 431
        case .unknownTransferCoding: status = 501
        default: status = 400
        }
        failure = WireError(status: status, reason: reason)
        stage = .failed
        return .invalid(failure)
    }

    /// `METHOD SP request-target SP HTTP-version` in `requestLineStart..<lineEnd`,
    /// which holds no CTL and no DEL.
    mutating func parseRequestLine(_ base: UnsafeRawPointer, lineEnd: Int) -> WireError.Reason? {
        let start = requestLineStart
        var i = start
        while i < lineEnd, byteClass(loadByte(base, i)) & ByteClass.token != 0 { i &+= 1 }
        let methodEnd = i
        guard methodEnd < lineEnd else { return .invalidRequestLine }
        guard loadByte(base, methodEnd) == asciiSP else { return .invalidMethod }
        guard methodEnd > start else { return .invalidRequestLine }
        // The shortest rest is SP "x" SP "HTTP/1.1".
        guard lineEnd &- methodEnd >= 11 else { return .invalidRequestLine }
        let versionStart = lineEnd &- 8
        let version = loadWord(base, versionStart)
        let minor: UInt8
        if version == 0x312e_312f_5054_5448 {  // "HTTP/1.1"
            minor = 1
        } else if version == 0x302e_312f_5054_5448 {  // "HTTP/1.0"
            minor = 0
        } else {
            return loadWord32(base, versionStart) == 0x5054_5448 ? .unsupportedVersion : .invalidRequestLine
        }
        guard loadByte(base, versionStart &- 1) == asciiSP else { return .invalidRequestLine }
        let targetStart = methodEnd &+ 1
        let targetEnd = versionStart &- 1
        var t = targetStart
        while t &+ 8 <= targetEnd {
            if SWAR.equal(loadWord(base, t), asciiSP) != 0 { return .invalidTarget }
            t &+= 8
        }
        while t < targetEnd {
            if loadByte(base, t) == asciiSP { return .invalidTarget }
            t &+= 1
        }
        fields.head.methodStart = Int32(truncatingIfNeeded: start)
        fields.head.methodCount = Int32(truncatingIfNeeded: methodEnd &- start)
        fields.head.storedMethodKind = Self.methodKind(base, start, methodEnd &- start)
        fields.head.targetStart = Int32(truncatingIfNeeded: targetStart)
        fields.head.targetCount = Int32(truncatingIfNeeded: targetEnd &- targetStart)
        fields.head.storedVersionMinor = minor
        return nil
    }

    /// Methods are case-sensitive (RFC 9110 §9.1). The byte after the method
    /// is its SP, so a three-letter method is compared together with the SP.
    @inline(__always)
    static func methodKind(_ base: UnsafeRawPointer, _ start: Int, _ count: Int) -> HTTPMethod {
        switch count {
        case 3:
            let w = loadWord32(base, start)
            if w == 0x2054_4547 { return .get }  // "GET "
            if w == 0x2054_5550 { return .put }  // "PUT "
        case 4:
            let w = loadWord32(base, start)
            if w == 0x5453_4f50 { return .post }  // "POST"
            if w == 0x4441_4548 { return .head }  // "HEAD"
        case 5:
            let w = loadWord32(base, start)
            let tail = loadWord32(base, start &+ 1)
            if w == 0x4354_4150 && tail == 0x4843_5441 { return .patch }  // "PATC" "ATCH"
            if w == 0x4341_5254 && tail == 0x4543_4152 { return .trace }  // "TRAC" "RACE"
        case 6:
            if loadWord32(base, start) == 0x454c_4544 && loadWord16(base, start &+ 4) == 0x4554 {
                return .delete  // "DELE" "TE"
            }
        case 7:
            let w = loadWord32(base, start)
            let tail = loadWord32(base, start &+ 3)
            if w == 0x4954_504f && tail == 0x534e_4f49 { return .options }  // "OPTI" "IONS"
            if w == 0x4e4e_4f43 && tail == 0x5443_454e { return .connect }  // "CONN" "NECT"
        default:
            break
        }
        return .other
    }

    mutating func finish(headLength: Int) -> ScanResult<RequestHead> {
        let minor = fields.head.storedVersionMinor
        let framing = fields.framing
        if minor == 1 && fields.hostCount == 0 { return fail(.missingHost) }
        if framing.transferEncodingSeen {
            if let reason = framing.transferEncodingProblem(versionMinor: minor) { return fail(reason) }
            // RFC 9112 §6.3: without chunked last, a request's length is unknowable.
            if !framing.lastCodingIsChunked { return fail(.chunkedNotFinal) }
            if framing.unknownCodingSeen { return fail(.unknownTransferCoding) }
            fields.head.bodyKind = .chunked
        } else if framing.contentLengthSeen {
            fields.head.bodyKind = .contentLength
            fields.head.contentLength = UInt64(framing.contentLength)
        }
        var flags = fields.head.flags
        if framing.keepAlive(versionMinor: minor) { flags.insert(.keepAlive) }
        if minor == 1 && framing.connectionUpgrade && fields.upgradeHeaderSeen { flags.insert(.upgrade) }
        if minor == 1 && fields.expectContinueSeen { flags.insert(.expectContinue) }
        fields.head.flags = flags
        if minor == 1 && framing.closeOptionCount == 1 { fields.head.closeOptionStart = framing.closeOptionStart }
        fields.head.storedHeadLength = Int32(truncatingIfNeeded: headLength)
        stage = .complete
        return .complete(fields.head)
    }
}

/// What the field lines of a request head said so far, and the head being built.
struct RequestFields: FieldLineSink {
    var head = RequestHead(
        headLength: 0, method: ByteRange(start: 0, count: 0), methodKind: .other,
        target: ByteRange(start: 0, count: 0), versionMinor: 1, keepAlive: false)
    var wanted = WantedHeaders.none
    var framing = FramingFields()
    var hostCount: UInt8 = 0
    var upgradeHeaderSeen = false
    var expectContinueSeen = false

    @inline(__always)
    mutating func addField(_ base: UnsafeRawPointer, nameStart: Int, colon: Int, lineEnd: Int) -> WireError.Reason? {
        let nameCount = colon &- nameStart
        if nameCount == wanted.persistenceCount, head.persistenceCount < 0,
           let name = wanted.persistenceName, nameEquals(base, nameStart, nameCount, name) {
            let (start, end) = trimmedValue(base, colon: colon, lineEnd: lineEnd)
            head.persistenceStart = Int32(truncatingIfNeeded: start)
            head.persistenceCount = Int32(truncatingIfNeeded: end &- start)
        }
        if nameCount == wanted.hashKeyCount, head.hashKeyCount < 0,
           let name = wanted.hashKeyName, nameEquals(base, nameStart, nameCount, name) {
            let (start, end) = trimmedValue(base, colon: colon, lineEnd: lineEnd)
            head.hashKeyStart = Int32(truncatingIfNeeded: start)
            head.hashKeyCount = Int32(truncatingIfNeeded: end &- start)
        }
        let known = KnownField.classify(base, nameStart, nameCount)
        if known == .other { return nil }
        let (start, end) = trimmedValue(base, colon: colon, lineEnd: lineEnd)
        switch known {
        case .other:
            return nil
        case .host:
            hostCount &+= 1
            if hostCount > 1 { return .duplicateHost }
            for i in start..<end where byteClass(loadByte(base, i)) & ByteClass.host == 0 {
                return .invalidHost
            }
            head.hostStart = Int32(truncatingIfNeeded: start)
            head.hostCount = Int32(truncatingIfNeeded: end &- start)
        case .contentLength:
            return framing.addContentLength(base, start, end)
        case .transferEncoding:
            return framing.addTransferEncoding(base, start, end)
        case .connection:
            framing.addConnection(base, start, end)
        case .expect:
            if equalsFolded(base, start, end &- start, "100-continue") { expectContinueSeen = true }
        case .upgrade:
            upgradeHeaderSeen = true
        case .xForwardedFor:
            head.xffInsertion = Int32(truncatingIfNeeded: end)
            if start == end { head.flags.insert(.xffEmpty) } else { head.flags.remove(.xffEmpty) }
        }
        return nil
    }
}

/// The value of a field line with SP/HTAB trimmed on both sides. An empty
/// value sits at the line's CR.
@inline(__always)
func trimmedValue(_ base: UnsafeRawPointer, colon: Int, lineEnd: Int) -> (start: Int, end: Int) {
    let start = skipWhitespace(base, from: colon &+ 1, to: lineEnd)
    return (start, trimWhitespaceBack(base, from: start, to: lineEnd))
}

/// Whether the token `base[start..<start+count]` equals the lower-case `name`
/// (also `count` bytes) ignoring ASCII case, eight bytes at a time.
@inline(__always)
func nameEquals(_ base: UnsafeRawPointer, _ start: Int, _ count: Int, _ name: UnsafeRawPointer) -> Bool {
    if count < 8 {
        for i in 0..<count where asciiLowercased(loadByte(base, start &+ i)) != loadByte(name, i) {
            return false
        }
        return true
    }
    var i = 0
    while i &+ 8 <= count {
        if SWAR.lowercased(loadWord(base, start &+ i)) != loadWord(name, i) { return false }
        i &+= 8
    }
    if i < count {
        let last = count &- 8
        if SWAR.lowercased(loadWord(base, start &+ last)) != loadWord(name, last) { return false }
    }
    return true
}
