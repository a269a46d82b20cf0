// libFuzzer entry for HTTPWire. Built together with Sources/HTTPWire/*.swift
// into one module by tools/fuzz, so it calls the module's API directly.
//
// Every input goes through the request scanner, the response scanner and the
// chunked body tracker, whole and split at offsets derived from the input, and
// the answers must agree. Any disagreement traps, which libFuzzer reports as a
// crash and saves the input.

/// FNV-1a over the input: the source of every choice below, so a saved input
/// replays exactly.
func inputHash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in bytes { hash = (hash ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
    return hash
}

func require(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("HTTPWire invariant: \(message())") }
}

let wantedPersistence: [UInt8] = Array("x-server".utf8)
let wantedHashKey: [UInt8] = Array("x-user".utf8)

func scanRequest(_ scanner: inout RequestHeadScanner, _ bytes: UnsafeRawBufferPointer, count: Int, wanted: WantedHeaders) -> ScanResult<RequestHead> {
    scanner.scan(UnsafeRawBufferPointer(rebasing: bytes[0..<count]), wanted: wanted)
}

func checkRequest(_ bytes: UnsafeRawBufferPointer, hash: UInt64, cuts: (Int, Int), wanted: WantedHeaders) {
    let small = hash & 1 == 0
    let maxHead = small ? 16 + Int(hash >> 8 & 0x1ff) : 64 * 1024
    let maxLine = small ? 8 + Int(hash >> 20 & 0xff) : 8192
    var oneShot = RequestHeadScanner(maxHeadBytes: maxHead, maxRequestLineBytes: maxLine)
    let whole = scanRequest(&oneShot, bytes, count: bytes.count, wanted: wanted)

    switch whole {
    case .complete(let head):
        require(head.headLength >= 4 && head.headLength <= bytes.count && head.headLength <= maxHead, "head length \(head.headLength)")
        var ranges = [head.method, head.target]
        for optional in [head.host, head.persistenceValue, head.hashKeyValue] {
            if let range = optional { ranges.append(range) }
        }
        for range in ranges {
            require(range.start >= 0 && range.count >= 0 && range.end <= head.headLength, "range \(range) outside the head")
        }
        require(head.method.count > 0 && head.target.count > 0, "empty method or target")
        // METHOD SP target SP HTTP/1.x: the line is target.end + 9 - method.start long.
        require(head.target.end + 9 - head.method.start <= maxLine, "request line over the limit")
        require(head.target.start == head.method.end + 1, "target does not follow the method")
        if let insertion = head.xForwardedForInsertion {
            require(insertion > head.target.end && insertion < head.headLength - 2, "X-Forwarded-For insertion \(insertion)")
        }
        require(head.body != .untilClose && head.body != .tunnel, "request body \(head.body)")
        // The head alone, scanned from scratch, gives the same head.
        var fresh = RequestHeadScanner(maxHeadBytes: maxHead, maxRequestLineBytes: maxLine)
        let again = scanRequest(&fresh, bytes, count: head.headLength, wanted: wanted)
        require(again == whole, "head alone scans to \(again), whole input to \(whole)")
    case .invalid(let error):
        require([400, 414, 431, 501].contains(error.status), "request status \(error.status)")
    case .incomplete:
        require(bytes.count < maxHead, "incomplete at \(bytes.count) bytes with a limit of \(maxHead)")
    }

    // The same bytes in three pieces.
    var pieces = RequestHeadScanner(maxHeadBytes: maxHead, maxRequestLineBytes: maxLine)
    for cut in [cuts.0, cuts.1, bytes.count] {
        let partial = scanRequest(&pieces, bytes, count: cut, wanted: wanted)
        switch partial {
        case .incomplete:
            require(cut < bytes.count || whole == .incomplete, "incomplete with all bytes")
        case .invalid, .complete:
            require(partial == whole, "after \(cut) bytes: \(partial), whole input: \(whole)")
        }
    }
}

func checkResponse(_ bytes: UnsafeRawBufferPointer, hash: UInt64, cuts: (Int, Int)) {
    let methods = HTTPMethod.allCases
    let method = methods[Int(hash >> 32 % UInt64(methods.count)) % methods.count]
    let maxHead = hash & 2 == 0 ? 16 + Int(hash >> 12 & 0x1ff) : 64 * 1024
    var oneShot = ResponseHeadScanner(maxHeadBytes: maxHead)
    let whole = oneShot.scan(bytes, requestMethod: method)
    switch whole {
    case .complete(let head):
        require(head.headLength >= 14 && head.headLength <= min(bytes.count, maxHead), "response head length")
        require((100...599).contains(head.status), "status \(head.status)")
        if head.body == .untilClose || head.body == .tunnel { require(!head.keepAlive, "keep-alive after \(head.body)") }
        if head.status < 200 { require(head.body == .none || head.status == 101, "1xx with a body") }
        var fresh = ResponseHeadScanner(maxHeadBytes: maxHead)
        let again = fresh.scan(UnsafeRawBufferPointer(rebasing: bytes[0..<head.headLength]), requestMethod: method)
        require(again == whole, "response head alone scans differently")
    case .invalid(let error):
        require(error.status == 502, "response status \(error.status)")
    case .incomplete:
        require(bytes.count < maxHead, "response incomplete over the limit")
    }
    var pieces = ResponseHeadScanner(maxHeadBytes: maxHead)
    for cut in [cuts.0, cuts.1, bytes.count] {
        let partial = pieces.scan(UnsafeRawBufferPointer(rebasing: bytes[0..<cut]), requestMethod: method)
        switch partial {
        case .incomplete:
            require(cut < bytes.count || whole == .incomplete, "response incomplete with all bytes")
        case .invalid, .complete:
            require(partial == whole, "response after \(cut) bytes differs")
        }
    }
}

/// Feeds `bytes` to a tracker in pieces ending at `cuts`; the verdict and where
/// in `bytes` the body ended.
func trackChunked(_ bytes: UnsafeRawBufferPointer, cuts: [Int]) -> (ChunkProgress, Int) {
    var tracker = ChunkedBodyTracker(maxChunkLineBytes: 256, maxTrailerBytes: 512)
    var start = 0
    for end in cuts + [bytes.count] where end >= start {
        switch tracker.advance(UnsafeRawBufferPointer(rebasing: bytes[start..<end])) {
        case .needMore:
            start = end
        case .done(let consumed):
            require(consumed >= 0 && consumed <= end - start, "consumed \(consumed) of \(end - start)")
            return (.done(consumed: start + consumed), start + consumed)
        case .invalid:
            return (.invalid, -1)
        }
    }
    return (.needMore, -1)
}

func checkChunked(_ bytes: UnsafeRawBufferPointer, cuts: (Int, Int)) {
    let (whole, end) = trackChunked(bytes, cuts: [])
    let (split, _) = trackChunked(bytes, cuts: [cuts.0, cuts.1])
    require(split == whole, "chunked split at \(cuts): \(split), whole: \(whole)")
    if case .done = whole {
        // The body alone ends at its last byte; every shorter prefix needs more.
        let (alone, _) = trackChunked(UnsafeRawBufferPointer(rebasing: bytes[0..<end]), cuts: [])
        require(alone == whole, "body alone: \(alone)")
        let (short, _) = trackChunked(UnsafeRawBufferPointer(rebasing: bytes[0..<(end - 1)]), cuts: [])
        require(short == .needMore, "one byte short: \(short)")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size > 0 else { return 0 }
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    let hash = inputHash(bytes)
    let a = Int(hash % UInt64(size + 1))
    let b = Int((hash >> 24) % UInt64(size + 1))
    let cuts = (min(a, b), max(a, b))
    wantedPersistence.withUnsafeBytes { persistence in
        wantedHashKey.withUnsafeBytes { hashKey in
            let wanted = hash & 4 == 0
                ? WantedHeaders(persistence: persistence, hashKey: hashKey)
                : WantedHeaders(persistence: hashKey, hashKey: nil)
            checkRequest(bytes, hash: hash, cuts: cuts, wanted: wanted)
        }
    }
    checkResponse(bytes, hash: hash, cuts: cuts)
    checkChunked(bytes, cuts: cuts)
    return 0
}
