import HTTPWire
import Testing

/// Request-smuggling shapes: a front end and a back end that disagree on where
/// a request ends. Written after reading llhttp's test/request fixtures, Apache
/// httpd-tests t/apache/http_strict.t, HAProxy's reg-tests/http-messaging
/// (http_transfer_encoding.vtc) and RFC 9112 §6.3 and §11.2; the cases are our
/// own. Each must be rejected before any byte reaches a server.
struct SmugglingCase: Sendable, CustomTestStringConvertible {
    let name: String
    let raw: String
    let status: UInt16
    var testDescription: String { name }

    init(_ name: String, _ raw: String, _ status: UInt16 = 400) {
        self.name = name
        self.raw = raw
        self.status = status
    }
}

let smugglingCases: [SmugglingCase] = [
    // CL.TE: the front end counts Content-Length, the back end decodes chunks.
    SmugglingCase("CL.TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 13\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nSMUGGLED"),
    // TE.CL: the reverse order of the same two lines.
    SmugglingCase("TE.CL", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n"),
    SmugglingCase("CL.TE with Content-Length 0", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n"),
    // TE.TE: one side is talked out of chunked by an obfuscated header.
    SmugglingCase("TE.TE xchunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n"),
    SmugglingCase("TE.TE chunked1 beside chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked1\r\n\r\n"),
    SmugglingCase("TE.TE chunked, identity", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n"),
    SmugglingCase("TE.TE identity then chunked lines", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
    SmugglingCase("TE.TE space before colon", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n"),
    SmugglingCase("TE.TE tab before colon", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding\t: chunked\r\n\r\n"),
    SmugglingCase("TE.TE leading space on the line", "POST / HTTP/1.1\r\nHost: a\r\n Transfer-Encoding: chunked\r\n\r\n"),
    SmugglingCase("TE.TE value folded onto the next line", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n"),
    SmugglingCase("TE.TE obs-fold after chunked", "PUT / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n  abc\r\n\r\n"),
    SmugglingCase("TE.TE vertical tab", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \u{0B}chunked\r\n\r\n"),
    SmugglingCase("TE.TE form feed", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\u{0C}\r\n\r\n"),
    SmugglingCase("TE.TE NUL", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\0\r\n\r\n"),
    SmugglingCase("TE.TE quoted", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n"),
    SmugglingCase("TE.TE chunkedchunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunkedchunked\r\n\r\n"),
    SmugglingCase("TE.TE bare LF hides a header", "POST / HTTP/1.1\r\nHost: a\r\nX: y\nTransfer-Encoding: chunked\r\n\r\n"),
    SmugglingCase("TE.TE bare CR hides a header", "POST / HTTP/1.1\r\nHost: a\r\nX:\rTransfer-Encoding: chunked\r\n\r\n"),
    SmugglingCase("TE.TE CR instead of a dash", "PUT / HTTP/1.1\r\nHost: a\r\nTransfer\rEncoding: chunked\r\n\r\n"),
    SmugglingCase("TE in HTTP/1.0 with Content-Length", "POST / HTTP/1.0\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"),
    SmugglingCase("empty Transfer-Encoding lines beside Content-Length",
                  "POST / HTTP/1.1\r\nHost: foo\r\nContent-Length: 10\r\nTransfer-Encoding:\r\nTransfer-Encoding:\r\n\r\n"),
    // CL.CL: two lengths.
    SmugglingCase("duplicate Content-Length lines", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\n"),
    SmugglingCase("duplicate Content-Length in a list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4, 40\r\n\r\n"),
    SmugglingCase("Content-Length +5", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n"),
    SmugglingCase("Content-Length 0x5", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n"),
    SmugglingCase("Content-Length space inside", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 3\r\n\r\n"),
    SmugglingCase("Content-Length space before colon", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\n"),
    SmugglingCase("Content-Length NUL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\0\r\n\r\n"),
    SmugglingCase("Content-Length obs-fold", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n 0\r\n\r\n"),
    SmugglingCase("Content-Length wraps around 2^64", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551621\r\n\r\n"),
    // Header lines that another parser splits differently.
    SmugglingCase("Missing CR between headers", "GET / HTTP/1.1\r\nHost: localhost\r\nDummy: x\nContent-Length: 23\r\n\r\n"),
    SmugglingCase("space before the first header", "POST /hello HTTP/1.1\r\nHost: localhost\r\nFoo: bar\r\n Content-Length: 38\r\n\r\n"),
    SmugglingCase("two Host lines", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
    SmugglingCase("request line ended by LF", "GET / HTTP/1.1\nHost: a\r\n\r\n"),
    SmugglingCase("NUL in the request line", "GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n"),
]

@Test(arguments: smugglingCases)
func smugglingShapeIsRejected(_ shape: SmugglingCase) {
    let result = checkRequestSplits(bytes(shape.raw))
    guard case .invalid(let error) = result else {
        Issue.record("accepted: \(result)")
        return
    }
    #expect(error.status == shape.status)
}

/// Transfer-Encoding values that must not be taken for chunked, and the ones
/// that must: whitespace around the value is OWS, case is folded.
@Test(arguments: [
    (" chunked", true), ("chunked ", true), ("\tchunked\t", true), ("CHUNKED", true), ("gzip, chunked", true),
    ("chunked,", true), (",chunked", true),
    ("xchunked", false), ("chunkedx", false), ("chunk", false), ("chunked, identity", false), ("chunked;", false),
    ("chunked, gzip", false), ("ch unked", false), ("\"chunked\"", false), ("chunked chunked", false),
])
func transferEncodingSpelling(_ value: String, _ isChunked: Bool) {
    let result = checkRequestSplits(bytes("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \(value)\r\n\r\n"))
    if isChunked {
        guard case .complete(let head) = result else {
            Issue.record("\(value): \(result)")
            return
        }
        #expect(head.body == .chunked)
    } else {
        #expect(isInvalid(result), "\(value): \(result)")
    }
}
