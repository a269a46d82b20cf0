import HTTPWire
import Testing

struct ChunkedCase: Sendable, CustomTestStringConvertible {
    let name: String
    let raw: String
    /// Bytes after the body in `raw` (the next message).
    var trailing = 0
    var testDescription: String { name }

    /// Where the body ends in `raw`.
    var end: Int { raw.utf8.count - trailing }
}

/// Valid bodies; `end` is where the body stops (anything after it is the next message).
let validChunkedBodies: [ChunkedCase] = [
    ChunkedCase(name: "last chunk only", raw: "0\r\n\r\n"),
    ChunkedCase(name: "one chunk", raw: "5\r\nhello\r\n0\r\n\r\n"),
    ChunkedCase(name: "two chunks", raw: "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
    ChunkedCase(name: "lower-case hex", raw: "a\r\n0123456789\r\n0\r\n\r\n"),
    ChunkedCase(name: "upper-case hex", raw: "A\r\n0123456789\r\n0\r\n\r\n"),
    ChunkedCase(name: "leading zeros", raw: "005\r\nhello\r\n000\r\n\r\n"),
    ChunkedCase(name: "sixteen hex digits", raw: "0000000000000003\r\nabc\r\n0\r\n\r\n"),
    ChunkedCase(name: "data holding CRLF and a fake last chunk", raw: "7\r\n0\r\n\r\nxy\r\n0\r\n\r\n"),
    ChunkedCase(name: "extension name", raw: "5;ilovew3\r\nhello\r\n0\r\n\r\n"),
    ChunkedCase(name: "extensions with values", raw: "5;a=b;c=d\r\nhello\r\n0;last=yes\r\n\r\n"),
    ChunkedCase(name: "extension whitespace (BWS)", raw: "5 ; a = b\t;\tc\r\nhello\r\n0\r\n\r\n"),
    ChunkedCase(name: "quoted extension value", raw: "5;q=\"I \\\"love\\\"; \\\\ext\"\r\nhello\r\n0\r\n\r\n"),
    ChunkedCase(name: "empty quoted extension value", raw: "1;e=\"\"\r\nx\r\n0\r\n\r\n"),
    ChunkedCase(name: "quoted value then whitespace then extension", raw: "1;e=\"v\" ;f\r\nx\r\n0\r\n\r\n"),
    ChunkedCase(name: "trailers", raw: "5\r\nhello\r\n0\r\nVary: *\r\nContent-Type: text/plain\r\n\r\n"),
    ChunkedCase(name: "trailer with empty value", raw: "0\r\nX-Empty:\r\n\r\n"),
    ChunkedCase(name: "trailer value with HTAB and obs-text", raw: "0\r\nX-T: a\tb\u{E9}\r\n\r\n"),
    ChunkedCase(name: "pipelined request after the body", raw: "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n", trailing: 18),
    ChunkedCase(name: "pipelined bytes after trailers", raw: "0\r\nT: v\r\n\r\nXYZ", trailing: 3),
]

let invalidChunkedBodies: [ChunkedCase] = [
    ChunkedCase(name: "empty size", raw: "\r\nhello\r\n0\r\n\r\n"),
    ChunkedCase(name: "non-hex size", raw: "g\r\n"),
    ChunkedCase(name: "0x prefix", raw: "0x5\r\nhello\r\n0\r\n\r\n"),
    ChunkedCase(name: "plus sign", raw: "+5\r\nhello\r\n0\r\n\r\n"),
    ChunkedCase(name: "minus sign", raw: "-1\r\n"),
    ChunkedCase(name: "seventeen hex digits", raw: "00000000000000005\r\nhello\r\n0\r\n\r\n"),
    ChunkedCase(name: "size 2^63", raw: "8000000000000000\r\n"),
    ChunkedCase(name: "size 2^64 - 1", raw: "ffffffffffffffff\r\n"),
    ChunkedCase(name: "size overflowing 64 bits", raw: "1ffffffffffffffff\r\n"),
    ChunkedCase(name: "size ends in bare LF", raw: "5\nhello\r\n0\r\n\r\n"),
    ChunkedCase(name: "size ends in CR CR", raw: "5\r\r;ABCD\r\n34\r\nE\r\n0\r\n\r\n"),
    ChunkedCase(name: "space after the size", raw: "a \r\n0123456789\r\n0\r\n\r\n"),
    ChunkedCase(name: "extension without semicolon", raw: "2 erfrferferf\r\naa\r\n0 rrrr\r\n\r\n"),
    ChunkedCase(name: "empty extension", raw: "2;\r\naa\r\n0\r\n\r\n"),
    ChunkedCase(name: "extension with empty value", raw: "2;a=\r\naa\r\n0\r\n\r\n"),
    ChunkedCase(name: "two names in one extension", raw: "2;a b\r\naa\r\n0\r\n\r\n"),
    ChunkedCase(name: "whitespace after the last extension", raw: "2;a \r\naa\r\n0\r\n\r\n"),
    ChunkedCase(name: "unterminated quoted value", raw: "5;a=\"abc\r\nhello\r\n0\r\n\r\n"),
    ChunkedCase(name: "CTL in a quoted value", raw: "5;a=\"a\u{01}\"\r\nhello\r\n0\r\n\r\n"),
    ChunkedCase(name: "separator in an extension name", raw: "5;a/b\r\nhello\r\n0\r\n\r\n"),
    ChunkedCase(name: "data not followed by CRLF", raw: "5\r\nABCDE0\r\n\r\n"),
    ChunkedCase(name: "data followed by LF", raw: "5\r\nhello\n0\r\n\r\n"),
    ChunkedCase(name: "data followed by CR x", raw: "5\r\nhello\rx0\r\n\r\n"),
    ChunkedCase(name: "data longer than its size", raw: "3\r\nfoobar\r\n0\r\n\r\n"),
    ChunkedCase(name: "missing last chunk", raw: "3\r\nfoo\r\n\r\n"),
    ChunkedCase(name: "last chunk ends in bare LF", raw: "0\r\n\n"),
    ChunkedCase(name: "body ends in CR x", raw: "0\r\n\rx"),
    ChunkedCase(name: "trailer without colon", raw: "0\r\nVary\r\n\r\n"),
    ChunkedCase(name: "trailer with space before colon", raw: "0\r\nVary : *\r\n\r\n"),
    ChunkedCase(name: "trailer starting with whitespace", raw: "0\r\n Vary: *\r\n\r\n"),
    ChunkedCase(name: "trailer obs-fold", raw: "0\r\nVary: a\r\n b\r\n\r\n"),
    ChunkedCase(name: "trailer with NUL", raw: "0\r\nVary: a\0b\r\n\r\n"),
    ChunkedCase(name: "trailer with DEL", raw: "0\r\nVary: a\u{7F}\r\n\r\n"),
    ChunkedCase(name: "trailer ends in bare LF", raw: "0\r\nVary: *\n\r\n"),
    ChunkedCase(name: "trailer with empty name", raw: "0\r\n: x\r\n\r\n"),
]

@Test(arguments: validChunkedBodies)
func validChunkedBodyEndsWhereExpected(_ body: ChunkedCase) {
    let result = checkChunkedSplits(bytes(body.raw))
    #expect(result == .done(consumed: body.end))
}

@Test(arguments: invalidChunkedBodies)
func invalidChunkedBodyIsRejected(_ body: ChunkedCase) {
    #expect(checkChunkedSplits(bytes(body.raw)) == .invalid)
}

@Test func everyPrefixOfAValidBodyNeedsMore() {
    for body in validChunkedBodies {
        let raw = bytes(body.raw)
        for cut in 0..<body.end {
            let (progress, _) = trackChunked(Array(raw[..<cut]), cuts: [])
            #expect(progress == .needMore, "\(body.name) cut at \(cut)")
        }
    }
}

@Test func consumedCountsOnlyTheCurrentInput() {
    var tracker = ChunkedBodyTracker()
    let first = bytes("5\r\nhel")
    let second = bytes("lo\r\n0\r\n\r\nNEXT")
    #expect(first.withUnsafeBytes { tracker.advance($0) } == .needMore)
    #expect(second.withUnsafeBytes { tracker.advance($0) } == .done(consumed: 9))
    // Finished: repeats until reset.
    #expect(second.withUnsafeBytes { tracker.advance($0) } == .done(consumed: 0))
    tracker.reset()
    #expect(bytes("0\r\n\r\n").withUnsafeBytes { tracker.advance($0) } == .done(consumed: 5))
}

@Test func invalidIsSticky() {
    var tracker = ChunkedBodyTracker()
    #expect(bytes("z").withUnsafeBytes { tracker.advance($0) } == .invalid)
    #expect(bytes("0\r\n\r\n").withUnsafeBytes { tracker.advance($0) } == .invalid)
}

@Test func largeChunkIsSkippedByCount() {
    // A 2^40-byte chunk: the tracker only counts, so feeding its size line and
    // announcing the data in pieces costs nothing.
    var tracker = ChunkedBodyTracker()
    #expect(bytes("10000000000\r\n").withUnsafeBytes { tracker.advance($0) } == .needMore)
    let piece = [UInt8](repeating: 0x41, count: 65536)
    for _ in 0..<4 {
        #expect(piece.withUnsafeBytes { tracker.advance($0) } == .needMore)
    }
    // 2^63 - 1 is the largest size accepted.
    var largest = ChunkedBodyTracker()
    #expect(bytes("7fffffffffffffff\r\n").withUnsafeBytes { largest.advance($0) } == .needMore)
}

@Test func chunkLineAndTrailerLimits() {
    let longExtension = "1;" + String(repeating: "e", count: 5000) + "\r\nx\r\n0\r\n\r\n"
    #expect(trackChunked(bytes(longExtension), cuts: []).0 == .invalid)
    var roomy = ChunkedBodyTracker(maxChunkLineBytes: 8192)
    #expect(bytes(longExtension).withUnsafeBytes { roomy.advance($0) } == .done(consumed: longExtension.utf8.count))

    let trailers = "0\r\n" + String(repeating: "X-T: 0123456789\r\n", count: 100) + "\r\n"
    var small = ChunkedBodyTracker(maxTrailerBytes: 1000)
    #expect(bytes(trailers).withUnsafeBytes { small.advance($0) } == .invalid)
    var large = ChunkedBodyTracker(maxTrailerBytes: 2000)
    #expect(bytes(trailers).withUnsafeBytes { large.advance($0) } == .done(consumed: trailers.utf8.count))
}
