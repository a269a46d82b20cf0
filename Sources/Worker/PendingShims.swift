// THROWAWAY: a stand-in for HTTPWire with the shapes of the `wire` branch.
// Deleted when HTTPWire lands on main.

public struct ByteRange: Sendable, Equatable { public var start: Int; public var count: Int }
public struct WireError: Error, Equatable { public var status: UInt16 }
public enum ScanResult<Head> { case complete(Head), incomplete, invalid(WireError) }
public enum HTTPMethod: UInt8, Sendable { case get, head, post, put, delete, options, patch, connect, trace, other }
public enum BodyFraming: Sendable, Equatable { case none, contentLength(UInt64), chunked, untilClose, tunnel }
public enum ChunkProgress: Equatable, Sendable { case needMore, done(consumed: Int), invalid }

public struct WantedHeaders {
    var persistenceName: UnsafeRawBufferPointer?
    var hashName: UnsafeRawBufferPointer?
    public init(persistence: UnsafeRawBufferPointer?, hashKey: UnsafeRawBufferPointer?) {
        persistenceName = (persistence?.count ?? 0) > 0 ? persistence : nil
        hashName = (hashKey?.count ?? 0) > 0 ? hashKey : nil
    }
}

public struct RequestHead {
    public var headLength: Int
    public var methodKind: HTTPMethod
    public var versionMinor: UInt8
    public var body: BodyFraming
    public var keepAlive: Bool
    public var upgrade: Bool
    public var expectContinue: Bool
    public var persistenceValue: ByteRange?
    public var hashKeyValue: ByteRange?
    public var xForwardedForInsertion: Int?
    public var xForwardedForIsEmpty: Bool = false
}

public struct ResponseHead {
    public var headLength: Int
    public var status: UInt16
    public var body: BodyFraming
    public var keepAlive: Bool
    public var isInformational: Bool
    public var switchingProtocols: Bool
}

struct ShimLine { var start: Int; var end: Int }

func shimLower(_ b: UInt8) -> UInt8 { (b >= 65 && b <= 90) ? b | 0x20 : b }

func shimFindHeadEnd(_ buf: UnsafeRawBufferPointer) -> Int? {
    if buf.count < 4 { return nil }
    var i = 0
    while i + 3 < buf.count {
        if buf[i] == 13 && buf[i+1] == 10 && buf[i+2] == 13 && buf[i+3] == 10 { return i + 4 }
        i += 1
    }
    return nil
}

func shimEach(_ buf: UnsafeRawBufferPointer, _ headEnd: Int, _ body: (Int, Int, Int, Int) -> Void) {
    // calls body(nameStart, nameEnd, valueStart, valueEnd) for each header line, and the line start
    var i = 0
    while i < headEnd && buf[i] != 10 { i += 1 }
    i += 1
    while i < headEnd - 2 {
        var e = i
        while e < headEnd && buf[e] != 13 { e += 1 }
        var c = i
        while c < e && buf[c] != 58 { c += 1 }
        var vs = c + 1
        while vs < e && (buf[vs] == 32 || buf[vs] == 9) { vs += 1 }
        var ve = e
        while ve > vs && (buf[ve-1] == 32 || buf[ve-1] == 9) { ve -= 1 }
        body(i, c, vs, ve)
        i = e + 2
    }
}

func shimNameIs(_ buf: UnsafeRawBufferPointer, _ s: Int, _ e: Int, _ name: StaticString) -> Bool {
    let u = UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount)
    if e - s != u.count { return false }
    for k in 0..<u.count where shimLower(buf[s+k]) != u[k] { return false }
    return true
}
func shimNameIs(_ buf: UnsafeRawBufferPointer, _ s: Int, _ e: Int, _ name: UnsafeRawBufferPointer) -> Bool {
    if e - s != name.count { return false }
    for k in 0..<name.count where shimLower(buf[s+k]) != name[k] { return false }
    return true
}
func shimValueHas(_ buf: UnsafeRawBufferPointer, _ s: Int, _ e: Int, _ token: StaticString) -> Bool {
    let u = UnsafeRawBufferPointer(start: token.utf8Start, count: token.utf8CodeUnitCount)
    if e - s < u.count { return false }
    var i = s
    while i + u.count <= e {
        var ok = true
        for k in 0..<u.count where shimLower(buf[i+k]) != u[k] { ok = false; break }
        if ok { return true }
        i += 1
    }
    return false
}
func shimNumber(_ buf: UnsafeRawBufferPointer, _ s: Int, _ e: Int) -> UInt64? {
    if s == e { return nil }
    var v: UInt64 = 0
    for k in s..<e { guard buf[k] >= 48 && buf[k] <= 57 else { return nil }; v = v * 10 + UInt64(buf[k] - 48) }
    return v
}

public struct RequestHeadScanner {
    let maxHeadBytes: Int
    public init(maxHeadBytes: Int) { self.maxHeadBytes = maxHeadBytes }
    public mutating func reset() {}
    public mutating func scan(_ buf: UnsafeRawBufferPointer, wanted: WantedHeaders) -> ScanResult<RequestHead> {
        guard let end = shimFindHeadEnd(buf) else {
            return buf.count >= maxHeadBytes ? .invalid(WireError(status: 431)) : .incomplete
        }
        if end > maxHeadBytes { return .invalid(WireError(status: 431)) }
        var sp = 0
        while sp < end && buf[sp] != 32 { sp += 1 }
        let isHead = sp == 4 && buf[0] == 72 && buf[1] == 69 && buf[2] == 65 && buf[3] == 68
        var le = 0
        while le < end && buf[le] != 13 { le += 1 }
        guard le >= 8, buf[le-8] == 72, buf[le-3] == 49, buf[le-2] == 46 else { return .invalid(WireError(status: 400)) }
        let minor = buf[le-1] - 48
        var head = RequestHead(headLength: end, methodKind: isHead ? .head : .get, versionMinor: minor, body: .none,
                               keepAlive: minor == 1, upgrade: false, expectContinue: false,
                               persistenceValue: nil, hashKeyValue: nil, xForwardedForInsertion: nil)
        var cl: UInt64? = nil, chunked = false, te = false, bad = false
        shimEach(buf, end) { ns, ne, vs, ve in
            if shimNameIs(buf, ns, ne, "content-length") {
                guard let n = shimNumber(buf, vs, ve), cl == nil || cl == n else { bad = true; return }
                cl = n
            } else if shimNameIs(buf, ns, ne, "transfer-encoding") {
                te = true; chunked = shimValueHas(buf, vs, ve, "chunked")
            } else if shimNameIs(buf, ns, ne, "connection") {
                if shimValueHas(buf, vs, ve, "close") { head.keepAlive = false }
                if shimValueHas(buf, vs, ve, "keep-alive") { head.keepAlive = true }
                if shimValueHas(buf, vs, ve, "upgrade") { head.upgrade = true }
            } else if shimNameIs(buf, ns, ne, "expect") {
                head.expectContinue = shimValueHas(buf, vs, ve, "100-continue")
            } else if shimNameIs(buf, ns, ne, "x-forwarded-for") {
                head.xForwardedForInsertion = ve
            } else if let p = wanted.persistenceName, head.persistenceValue == nil, shimNameIs(buf, ns, ne, p) {
                head.persistenceValue = ByteRange(start: vs, count: ve - vs)
            }
            if let h = wanted.hashName, head.hashKeyValue == nil, shimNameIs(buf, ns, ne, h) {
                head.hashKeyValue = ByteRange(start: vs, count: ve - vs)
            }
        }
        if bad || (te && cl != nil) || (te && !chunked) { return .invalid(WireError(status: 400)) }
        if chunked { head.body = .chunked } else if let n = cl, n > 0 { head.body = .contentLength(n) }
        return .complete(head)
    }
}

public struct ResponseHeadScanner {
    let maxHeadBytes: Int
    public init(maxHeadBytes: Int) { self.maxHeadBytes = maxHeadBytes }
    public mutating func reset() {}
    public mutating func scan(_ buf: UnsafeRawBufferPointer, requestMethod: HTTPMethod) -> ScanResult<ResponseHead> {
        guard let end = shimFindHeadEnd(buf) else { return buf.count >= maxHeadBytes ? .invalid(WireError(status: 502)) : .incomplete }
        guard end > 12, buf[0] == 72, let status = shimNumber(buf, 9, 12) else { return .invalid(WireError(status: 502)) }
        let minor = buf[7] - 48
        var head = ResponseHead(headLength: end, status: UInt16(status), body: .untilClose, keepAlive: minor == 1,
                                isInformational: status < 200, switchingProtocols: status == 101)
        var cl: UInt64? = nil, chunked = false
        shimEach(buf, end) { ns, ne, vs, ve in
            if shimNameIs(buf, ns, ne, "content-length") { cl = shimNumber(buf, vs, ve) }
            else if shimNameIs(buf, ns, ne, "transfer-encoding") { chunked = shimValueHas(buf, vs, ve, "chunked") }
            else if shimNameIs(buf, ns, ne, "connection") {
                if shimValueHas(buf, vs, ve, "close") { head.keepAlive = false }
                if shimValueHas(buf, vs, ve, "keep-alive") { head.keepAlive = true }
            }
        }
        if status == 101 { head.body = .tunnel; head.keepAlive = false }
        else if status < 200 || status == 204 || status == 304 || requestMethod == .head { head.body = .none }
        else if chunked { head.body = .chunked }
        else if let n = cl { head.body = n == 0 ? .none : .contentLength(n) }
        else { head.keepAlive = false }
        return .complete(head)
    }
}

public struct ChunkedBodyTracker {
    public typealias Progress = ChunkProgress
    enum State { case size, sizeExt, sizeLF, data, dataCR, dataLF, trailerStart, trailerLine, trailerLF, finalLF }
    var state = State.size
    var remaining: UInt64 = 0
    var sawDigit = false
    var lastChunk = false
    public init() {}
    public mutating func reset() { self = ChunkedBodyTracker() }
    public mutating func advance(_ bytes: UnsafeRawBufferPointer) -> Progress {
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            switch state {
            case .size:
                if let d = hex(b) { remaining = remaining * 16 + UInt64(d); sawDigit = true }
                else if b == 13 && sawDigit { state = .sizeLF }
                else if b == 59 && sawDigit { state = .sizeExt }
                else { return .invalid }
            case .sizeExt: if b == 13 { state = .sizeLF }
            case .sizeLF:
                guard b == 10 else { return .invalid }
                sawDigit = false
                if remaining == 0 { state = .trailerStart } else { state = .data }
            case .data:
                let n = min(UInt64(bytes.count - i), remaining)
                remaining -= n; i += Int(n)
                if remaining == 0 { state = .dataCR }
                continue
            case .dataCR: guard b == 13 else { return .invalid }; state = .dataLF
            case .dataLF: guard b == 10 else { return .invalid }; state = .size
            case .trailerStart: if b == 13 { state = .finalLF } else { state = .trailerLine }
            case .trailerLine: if b == 13 { state = .trailerLF }
            case .trailerLF: guard b == 10 else { return .invalid }; state = .trailerStart
            case .finalLF: guard b == 10 else { return .invalid }; return .done(consumed: i + 1)
            }
            i += 1
        }
        return .needMore
    }
    func hex(_ b: UInt8) -> UInt8? {
        switch b { case 48...57: return b - 48; case 97...102: return b - 87; case 65...70: return b - 55; default: return nil }
    }
}

