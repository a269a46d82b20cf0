import HTTPWire
import Testing

struct ResponseCase: Sendable, CustomTestStringConvertible {
    let name: String
    let raw: String
    let method: HTTPMethod
    let expected: ScanResult<ResponseHead>
    var testDescription: String { name }

    /// A valid response whose head is the whole input.
    init(_ name: String, _ raw: String, method: HTTPMethod = .get, status: UInt16, minor: UInt8 = 1,
         body: BodyFraming, keepAlive: Bool, informational: Bool = false, switching: Bool = false) {
        self.name = name
        self.raw = raw
        self.method = method
        expected = .complete(ResponseHead(
            headLength: raw.utf8.count, status: status, versionMinor: minor, body: body,
            keepAlive: keepAlive, isInformational: informational, switchingProtocols: switching))
    }

    /// An invalid response: 502 for the reason.
    init(_ name: String, _ raw: String, method: HTTPMethod = .get, _ reason: WireError.Reason) {
        self.name = name
        self.raw = raw
        self.method = method
        expected = .invalid(WireError(status: 502, reason: reason))
    }
}

let responseCases: [ResponseCase] = [
    ResponseCase("200 with Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", status: 200, body: .contentLength(5), keepAlive: true),
    ResponseCase("HTTP/1.0 closes", "HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n", status: 200, minor: 0, body: .contentLength(5), keepAlive: false),
    ResponseCase("HTTP/1.0 keep-alive", "HTTP/1.0 200 OK\r\nContent-Length: 5\r\nConnection: Keep-Alive\r\n\r\n",
                 status: 200, minor: 0, body: .contentLength(5), keepAlive: true),
    ResponseCase("Connection: close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
                 status: 200, body: .contentLength(0), keepAlive: false),
    ResponseCase("chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", status: 200, body: .chunked, keepAlive: true),
    ResponseCase("gzip then chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", status: 200, body: .chunked, keepAlive: true),
    ResponseCase("unknown coding then chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: br, chunked\r\n\r\n", status: 200, body: .chunked, keepAlive: true),
    ResponseCase("coding without chunked: until close (RFC 9112 §6.3 item 4)", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
                 status: 200, body: .untilClose, keepAlive: false),
    ResponseCase("neither Content-Length nor Transfer-Encoding", "HTTP/1.1 200 OK\r\nServer: x\r\n\r\n", status: 200, body: .untilClose, keepAlive: false),
    ResponseCase("equal Content-Length values", "HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\nContent-Length: 003\r\n\r\n",
                 status: 200, body: .contentLength(3), keepAlive: true),
    ResponseCase("204 has no body", "HTTP/1.1 204 No Content\r\n\r\n", status: 204, body: .none, keepAlive: true),
    ResponseCase("304 ignores Content-Length", "HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n", status: 304, body: .none, keepAlive: true),
    ResponseCase("HEAD response ignores Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", method: .head,
                 status: 200, body: .none, keepAlive: true),
    ResponseCase("HEAD response ignores chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", method: .head,
                 status: 200, body: .none, keepAlive: true),
    ResponseCase("HEAD response without length stays open", "HTTP/1.1 200 OK\r\n\r\n", method: .head, status: 200, body: .none, keepAlive: true),
    ResponseCase("100 Continue", "HTTP/1.1 100 Continue\r\n\r\n", status: 100, body: .none, keepAlive: true, informational: true),
    ResponseCase("103 Early Hints with fields", "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n",
                 status: 103, body: .none, keepAlive: true, informational: true),
    ResponseCase("101 Switching Protocols", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
                 status: 101, body: .tunnel, keepAlive: false, switching: true),
    ResponseCase("CONNECT 200 is a tunnel", "HTTP/1.1 200 Connection Established\r\n\r\n", method: .connect, status: 200, body: .tunnel, keepAlive: false),
    ResponseCase("CONNECT 407 has a body", "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 4\r\n\r\n", method: .connect,
                 status: 407, body: .contentLength(4), keepAlive: true),
    ResponseCase("no reason phrase", "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", status: 200, body: .contentLength(0), keepAlive: true),
    ResponseCase("no reason phrase and no space", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", status: 200, body: .contentLength(0), keepAlive: true),
    ResponseCase("reason with HTAB and obs-text", "HTTP/1.1 404 Nicht\tgefunden \u{FC}\r\nContent-Length: 0\r\n\r\n",
                 status: 404, body: .contentLength(0), keepAlive: true),
    ResponseCase("HTTP/1.2 is read as HTTP/1.1", "HTTP/1.2 200 OK\r\nContent-Length: 0\r\n\r\n", status: 200, body: .contentLength(0), keepAlive: true),
    ResponseCase("status 599", "HTTP/1.1 599 X\r\nContent-Length: 0\r\n\r\n", status: 599, body: .contentLength(0), keepAlive: true),

    ResponseCase("status of two digits", "HTTP/1.1 20 OK\r\n\r\n", .invalidStatusCode),
    ResponseCase("status of four digits", "HTTP/1.1 2000 OK\r\n\r\n", .invalidStatusCode),
    ResponseCase("status 099", "HTTP/1.1 099 X\r\n\r\n", .invalidStatusCode),
    ResponseCase("status 600", "HTTP/1.1 600 X\r\n\r\n", .invalidStatusCode),
    ResponseCase("letters in the status", "HTTP/1.1 2x0 OK\r\n\r\n", .invalidStatusCode),
    ResponseCase("two spaces before the status", "HTTP/1.1  200 OK\r\n\r\n", .invalidStatusCode),
    ResponseCase("HTTP/2.0", "HTTP/2.0 200 OK\r\n\r\n", .unsupportedVersion),
    ResponseCase("HTTP/1.x", "HTTP/1.x 200 OK\r\n\r\n", .unsupportedVersion),
    ResponseCase("not HTTP", "ICY 200 OK\r\n\r\n", .invalidStatusLine),
    ResponseCase("short status line", "HTTP/1.1\r\n\r\n", .invalidStatusLine),
    ResponseCase("CTL in the reason", "HTTP/1.1 200 O\u{01}K\r\n\r\n", .invalidStatusLine),
    ResponseCase("status line ends in bare LF", "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", .bareLF),
    ResponseCase("status line ends in bare CR", "HTTP/1.1 200 OK\rContent-Length: 0\r\n\r\n", .bareCR),
    ResponseCase("Content-Length and Transfer-Encoding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 30\r\n\r\n",
                 .contentLengthWithTransferEncoding),
    ResponseCase("Transfer-Encoding in HTTP/1.0", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", .transferEncodingInHTTP10),
    ResponseCase("chunked, chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", .chunkedRepeated),
    ResponseCase("chunked, gzip, chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip, chunked\r\n\r\n", .chunkedRepeated),
    ResponseCase("chunked, gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", .chunkedNotFinal),
    ResponseCase("empty Transfer-Encoding", "HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n\r\n", .invalidTransferEncoding),
    ResponseCase("invalid Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", .invalidContentLength),
    ResponseCase("differing Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", .conflictingContentLength),
    ResponseCase("obs-fold", "HTTP/1.1 200 OK\r\nFoo: a\r\n b\r\nContent-Length: 0\r\n\r\n", .obsoleteLineFolding),
    ResponseCase("space before the colon", "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n", .whitespaceBeforeColon),
    ResponseCase("empty field name", "HTTP/1.1 200 OK\r\n: bar\r\n\r\n", .emptyHeaderName),
    ResponseCase("NUL in a name", "HTTP/1.1 200 OK\r\nF\0oo: bar\r\n\r\n", .invalidHeaderName),
    ResponseCase("CTL in a value", "HTTP/1.1 200 OK\r\nFoo: b\u{01}ar\r\n\r\n", .invalidHeaderValue),
    ResponseCase("field line ends in bare LF", "HTTP/1.1 200 OK\r\nFoo: bar\n\r\n", .bareLF),
]

@Test(arguments: responseCases)
func responseScansAsExpected(_ response: ResponseCase) {
    #expect(checkResponseSplits(bytes(response.raw), method: response.method) == response.expected)
}

@Test func responseHeadLimit() {
    let raw = bytes("HTTP/1.1 200 OK\r\nServer: tether-test\r\nContent-Length: 0\r\n\r\n")
    guard case .complete = checkResponseSplits(raw, maxHeadBytes: raw.count) else {
        Issue.record("a response head of exactly maxHeadBytes must be accepted")
        return
    }
    #expect(checkResponseSplits(raw, maxHeadBytes: raw.count - 1) == .invalid(WireError(status: 502, reason: .headTooLarge)))
}

@Test func responseFollowedByBodyAndNextResponse() {
    let raw = bytes("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
    var scanner = ResponseHeadScanner(maxHeadBytes: 1024)
    let first = raw.withUnsafeBytes { scanner.scan($0, requestMethod: .post) }
    guard case .complete(let interim) = first else {
        Issue.record("expected the 100 head, got \(first)")
        return
    }
    #expect(interim.isInformational && interim.headLength == 25)
    scanner.reset()
    let rest = Array(raw[interim.headLength...])
    let second = rest.withUnsafeBytes { scanner.scan($0, requestMethod: .post) }
    #expect(second == .complete(ResponseHead(headLength: 38, status: 200, versionMinor: 1, body: .contentLength(2), keepAlive: true)))
}
