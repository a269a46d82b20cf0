import HTTPWire
import Testing

/// The bytes of a string written with explicit `\r\n`.
func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// The header names the request tests ask for.
let persistenceName = bytes("x-server")
let hashKeyName = bytes("x-user")

/// Copies `bytes[0..<count]` into a buffer of exactly that size, so a read past
/// the end is a read of someone else's memory (caught by ASan in the fuzzer).
func withExactBuffer<R>(_ bytes: [UInt8], count: Int, _ body: (UnsafeRawBufferPointer) -> R) -> R {
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 1)
    defer { buffer.deallocate() }
    if count > 0 {
        bytes.withUnsafeBytes { source in
            buffer.baseAddress!.copyMemory(from: source.baseAddress!, byteCount: count)
        }
    }
    return body(UnsafeRawBufferPointer(start: buffer.baseAddress, count: count))
}

func withWanted<R>(persistence: [UInt8]? = persistenceName, hashKey: [UInt8]? = hashKeyName, _ body: (WantedHeaders) -> R) -> R {
    let p = persistence ?? []
    let h = hashKey ?? []
    return p.withUnsafeBytes { pb in
        h.withUnsafeBytes { hb in
            body(WantedHeaders(persistence: persistence == nil ? nil : pb, hashKey: hashKey == nil ? nil : hb))
        }
    }
}

struct RequestLimits: Sendable {
    var maxHeadBytes = 32 * 1024
    var maxRequestLineBytes = 8192
}

/// One scan of `bytes[0..<count]` (all of it by default) by a fresh scanner.
func scanRequest(
    _ bytes: [UInt8], count: Int? = nil, limits: RequestLimits = RequestLimits(),
    persistence: [UInt8]? = persistenceName, hashKey: [UInt8]? = hashKeyName
) -> ScanResult<RequestHead> {
    var scanner = RequestHeadScanner(maxHeadBytes: limits.maxHeadBytes, maxRequestLineBytes: limits.maxRequestLineBytes)
    return withWanted(persistence: persistence, hashKey: hashKey) { wanted in
        withExactBuffer(bytes, count: count ?? bytes.count) { scanner.scan($0, wanted: wanted) }
    }
}

/// Checks that a request head gives the same answer however it is split:
/// - a fresh scanner given any prefix answers `.incomplete` or the very same
///   `.invalid` as the whole, and the same scanner given the whole afterwards
///   answers exactly what a one-shot scan does;
/// - fed one byte at a time, the first answer that is not `.incomplete` is
///   the one-shot answer, and a complete head is found exactly when its last
///   byte arrives.
/// Returns the one-shot answer.
@discardableResult
func checkRequestSplits(
    _ bytes: [UInt8], limits: RequestLimits = RequestLimits(),
    sourceLocation: SourceLocation = #_sourceLocation
) -> ScanResult<RequestHead> {
    let whole = scanRequest(bytes, limits: limits)
    withWanted { wanted in
        for cut in 0..<bytes.count {
            var scanner = RequestHeadScanner(maxHeadBytes: limits.maxHeadBytes, maxRequestLineBytes: limits.maxRequestLineBytes)
            let first = withExactBuffer(bytes, count: cut) { scanner.scan($0, wanted: wanted) }
            switch first {
            case .incomplete:
                break
            case .invalid:
                #expect(first == whole, "prefix of \(cut) bytes", sourceLocation: sourceLocation)
            case .complete(let head):
                // Only possible once the head is in the prefix, followed by more bytes.
                #expect(first == whole && head.headLength <= cut, "prefix of \(cut) bytes", sourceLocation: sourceLocation)
            }
            let second = withExactBuffer(bytes, count: bytes.count) { scanner.scan($0, wanted: wanted) }
            #expect(second == whole, "resumed after \(cut) bytes", sourceLocation: sourceLocation)
        }

        var scanner = RequestHeadScanner(maxHeadBytes: limits.maxHeadBytes, maxRequestLineBytes: limits.maxRequestLineBytes)
        var answered = false
        for count in 1...max(bytes.count, 1) where count <= bytes.count {
            let result = withExactBuffer(bytes, count: count) { scanner.scan($0, wanted: wanted) }
            if case .incomplete = result { continue }
            #expect(result == whole, "one byte at a time, at \(count) bytes", sourceLocation: sourceLocation)
            if case .complete(let head) = result {
                #expect(head.headLength == count, "complete as soon as the head is in", sourceLocation: sourceLocation)
            }
            answered = true
            break
        }
        if !answered {
            #expect(whole == .incomplete, "one byte at a time never answered", sourceLocation: sourceLocation)
        }
    }
    if case .complete(let head) = whole {
        checkRanges(head, count: bytes.count, sourceLocation: sourceLocation)
    }
    return whole
}

/// Every range of a head lies inside the head.
func checkRanges(_ head: RequestHead, count: Int, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(head.headLength >= 4 && head.headLength <= count, sourceLocation: sourceLocation)
    var ranges = [head.method, head.target]
    for optional in [head.host, head.persistenceValue, head.hashKeyValue] {
        if let range = optional { ranges.append(range) }
    }
    for range in ranges {
        #expect(range.start >= 0 && range.count >= 0 && range.end <= head.headLength, sourceLocation: sourceLocation)
    }
    if let insertion = head.xForwardedForInsertion {
        #expect(insertion > 0 && insertion < head.headLength, sourceLocation: sourceLocation)
    }
}

/// The bytes of `range`, as a string (obs-text shown as UTF-8 would be).
func text(_ bytes: [UInt8], _ range: ByteRange?) -> String? {
    guard let range else { return nil }
    return String(decoding: bytes[range.start..<range.end], as: UTF8.self)
}

/// The same for responses.
func scanResponse(
    _ bytes: [UInt8], count: Int? = nil, method: HTTPMethod = .get, maxHeadBytes: Int = 32 * 1024
) -> ScanResult<ResponseHead> {
    var scanner = ResponseHeadScanner(maxHeadBytes: maxHeadBytes)
    return withExactBuffer(bytes, count: count ?? bytes.count) { scanner.scan($0, requestMethod: method) }
}

@discardableResult
func checkResponseSplits(
    _ bytes: [UInt8], method: HTTPMethod = .get, maxHeadBytes: Int = 32 * 1024,
    sourceLocation: SourceLocation = #_sourceLocation
) -> ScanResult<ResponseHead> {
    let whole = scanResponse(bytes, method: method, maxHeadBytes: maxHeadBytes)
    for cut in 0..<bytes.count {
        var scanner = ResponseHeadScanner(maxHeadBytes: maxHeadBytes)
        let first = withExactBuffer(bytes, count: cut) { scanner.scan($0, requestMethod: method) }
        switch first {
        case .incomplete: break
        case .invalid: #expect(first == whole, "prefix of \(cut) bytes", sourceLocation: sourceLocation)
        case .complete: #expect(first == whole, "prefix of \(cut) bytes", sourceLocation: sourceLocation)
        }
        let second = withExactBuffer(bytes, count: bytes.count) { scanner.scan($0, requestMethod: method) }
        #expect(second == whole, "resumed after \(cut) bytes", sourceLocation: sourceLocation)
    }
    var scanner = ResponseHeadScanner(maxHeadBytes: maxHeadBytes)
    var answered = false
    for count in 1...max(bytes.count, 1) where count <= bytes.count {
        let result = withExactBuffer(bytes, count: count) { scanner.scan($0, requestMethod: method) }
        if case .incomplete = result { continue }
        #expect(result == whole, "one byte at a time, at \(count) bytes", sourceLocation: sourceLocation)
        if case .complete(let head) = result {
            #expect(head.headLength == count, sourceLocation: sourceLocation)
        }
        answered = true
        break
    }
    if !answered {
        #expect(whole == .incomplete, "one byte at a time never answered", sourceLocation: sourceLocation)
    }
    return whole
}

/// Runs a chunked body through a tracker in the given pieces; the verdict and,
/// when done, the offset (within the whole input) where the body ended.
func trackChunked(_ bytes: [UInt8], cuts: [Int]) -> (ChunkProgress, Int?) {
    var tracker = ChunkedBodyTracker()
    var start = 0
    for end in cuts + [bytes.count] where end >= start {
        let progress = withExactBuffer(Array(bytes[start..<end]), count: end - start) { tracker.advance($0) }
        switch progress {
        case .needMore:
            start = end
        case .done(let consumed):
            return (.done(consumed: start + consumed), start + consumed)
        case .invalid:
            return (.invalid, nil)
        }
    }
    return (.needMore, nil)
}

/// Checks that a chunked body gets the same verdict, in whole-input terms,
/// split once at every offset and fed one byte at a time.
@discardableResult
func checkChunkedSplits(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) -> ChunkProgress {
    let (whole, _) = trackChunked(bytes, cuts: [])
    for cut in 0...bytes.count {
        let (split, _) = trackChunked(bytes, cuts: [cut])
        #expect(split == whole, "split at \(cut)", sourceLocation: sourceLocation)
    }
    let (single, _) = trackChunked(bytes, cuts: Array(0...bytes.count))
    #expect(single == whole, "one byte at a time", sourceLocation: sourceLocation)
    return whole
}
