import HTTPWire
import Testing

struct InvalidRequest: Sendable, CustomTestStringConvertible {
    let name: String
    let raw: String
    let status: UInt16
    let reason: WireError.Reason
    var testDescription: String { name }

    init(_ name: String, _ raw: String, _ reason: WireError.Reason) {
        self.init(name, raw, 400, reason)
    }

    init(_ name: String, _ raw: String, _ status: UInt16, _ reason: WireError.Reason) {
        self.name = name
        self.raw = raw
        self.status = status
        self.reason = reason
    }
}

/// Malformed requests, one rule each (DESIGN.md §1, RFC 9112).
let invalidRequests: [InvalidRequest] = [
    // Request line: METHOD SP target SP HTTP/1.x CRLF, nothing else.
    InvalidRequest("two spaces after the method", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", .invalidTarget),
    InvalidRequest("two spaces before the version", "GET /  HTTP/1.1\r\nHost: a\r\n\r\n", .invalidTarget),
    InvalidRequest("space inside the target", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", .invalidTarget),
    InvalidRequest("space after the version", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", .invalidRequestLine),
    InvalidRequest("word after the version", "GET / HTTP/1.0 x\r\n\r\n", .invalidRequestLine),
    InvalidRequest("no version", "GET /\r\nHost: a\r\n\r\n", .invalidRequestLine),
    InvalidRequest("no target", "GET HTTP/1.1\r\nHost: a\r\n\r\n", .invalidRequestLine),
    InvalidRequest("method only", "GET\r\n\r\n", .invalidRequestLine),
    InvalidRequest("line starts with a space", " GET / HTTP/1.1\r\nHost: a\r\n\r\n", .invalidRequestLine),
    InvalidRequest("HTAB as separator", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", .invalidRequestLine),
    InvalidRequest("HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", .unsupportedVersion),
    InvalidRequest("HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", .unsupportedVersion),
    InvalidRequest("HTTP/0.9", "GET / HTTP/0.9\r\n\r\n", .unsupportedVersion),
    InvalidRequest("HTTP/1.11", "GET / HTTP/1.11\r\nHost: a\r\n\r\n", .invalidRequestLine),
    InvalidRequest("HTTP/10.0", "GET / HTTP/10.0\r\nHost: a\r\n\r\n", .invalidRequestLine),
    InvalidRequest("lower-case version", "GET / http/1.1\r\nHost: a\r\n\r\n", .invalidRequestLine),
    InvalidRequest("not HTTP", "GET / HTT/1.0\r\n\r\n", .invalidRequestLine),
    InvalidRequest("non-token method", "G/T / HTTP/1.1\r\nHost: a\r\n\r\n", .invalidMethod),
    InvalidRequest("method with a quote", "GE\"T / HTTP/1.1\r\nHost: a\r\n\r\n", .invalidMethod),
    InvalidRequest("NUL in the method", "G\0ET / HTTP/1.1\r\nHost: a\r\n\r\n", .invalidRequestLine),
    InvalidRequest("NUL in the target", "GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n", .invalidRequestLine),
    InvalidRequest("NUL after the version", "GET / HTTP/1.1\0\r\nHost: a\r\n\r\n", .invalidRequestLine),
    InvalidRequest("CTL in the target", "GET /\u{01} HTTP/1.1\r\nHost: a\r\n\r\n", .invalidRequestLine),
    InvalidRequest("DEL in the target", "GET /a\u{7F}b HTTP/1.1\r\nHost: a\r\n\r\n", .invalidRequestLine),
    InvalidRequest("request line ends in bare LF", "GET / HTTP/1.1\nHost: a\r\n\r\n", .bareLF),
    InvalidRequest("only LF line ends", "GET / HTTP/1.0\n\n", .bareLF),
    InvalidRequest("request line ends in bare CR", "GET / HTTP/1.1\rHost: a\r\n\r\n", .bareCR),
    InvalidRequest("CR CR", "GET / HTTP/1.0\r\r", .bareCR),
    InvalidRequest("bare LF before the request line", "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", .bareLF),
    InvalidRequest("bare CR before the request line", "\r\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", .bareCR),

    // Header lines.
    InvalidRequest("space before the colon", "GET / HTTP/1.1\r\nHost: a\r\nFoo : bar\r\n\r\n", .whitespaceBeforeColon),
    InvalidRequest("HTAB before the colon", "GET / HTTP/1.1\r\nHost: a\r\nFoo\t: bar\r\n\r\n", .whitespaceBeforeColon),
    InvalidRequest("space inside a name", "GET / HTTP/1.1\r\nHost: a\r\nFoo bar: x\r\n\r\n", .whitespaceBeforeColon),
    InvalidRequest("empty name", "GET / HTTP/1.1\r\nHost: a\r\n: bar\r\n\r\n", .emptyHeaderName),
    InvalidRequest("no colon", "GET / HTTP/1.1\r\nHost: a\r\nFoo bar\r\n\r\n", .whitespaceBeforeColon),
    InvalidRequest("no colon, one token", "GET / HTTP/1.1\r\nHost: a\r\nFoo\r\n\r\n", .missingColon),
    InvalidRequest("separator in a name", "GET / HTTP/1.1\r\nHost: a\r\nF@o: bar\r\n\r\n", .invalidHeaderName),
    InvalidRequest("slash in a long name", "GET / HTTP/1.1\r\nHost: a\r\nX-Very-Long-Name/x: bar\r\n\r\n", .invalidHeaderName),
    InvalidRequest("quote in a name", "GET / HTTP/1.1\r\nHost: a\r\n\"Foo\": bar\r\n\r\n", .invalidHeaderName),
    InvalidRequest("CTL in a name", "GET / HTTP/1.1\r\nHost: a\r\nF\u{01}o: bar\r\n\r\n", .invalidHeaderName),
    InvalidRequest("NUL in a name", "GET / HTTP/1.1\r\nHost: a\r\nFoo\0: bar\r\n\r\n", .invalidHeaderName),
    InvalidRequest("DEL in a name", "GET / HTTP/1.1\r\nHost: a\r\nFo\u{7F}: bar\r\n\r\n", .invalidHeaderName),
    InvalidRequest("obs-text in a name", "GET / HTTP/1.1\r\nHost: a\r\nF\u{E9}o: bar\r\n\r\n", .invalidHeaderName),
    InvalidRequest("CR in a name", "GET / HTTP/1.1\r\nHost: a\r\nF\ro: bar\r\n\r\n", .missingColon),
    InvalidRequest("NUL in a value", "GET / HTTP/1.1\r\nHost: a\r\nFoo: b\0ar\r\n\r\n", .invalidHeaderValue),
    InvalidRequest("CTL in a value", "GET / HTTP/1.1\r\nHost: a\r\nFoo: b\u{01}ar\r\n\r\n", .invalidHeaderValue),
    InvalidRequest("ESC in a long value", "GET / HTTP/1.1\r\nHost: a\r\nFoo: 0123456789abcdef\u{1B}\r\n\r\n", .invalidHeaderValue),
    InvalidRequest("DEL in a value", "GET / HTTP/1.1\r\nHost: a\r\nFoo: b\u{7F}ar\r\n\r\n", .invalidHeaderValue),
    InvalidRequest("value ends in CR CR LF", "GET / HTTP/1.1\r\nHost: a\r\nFoo: bar\r\r\n\r\n", .bareCR),
    InvalidRequest("headers separated by CR", "GET / HTTP/1.1\r\nHost: a\r\nFoo: 1\rBar: 2\r\n\r\n", .bareCR),
    InvalidRequest("headers separated by LF", "POST / HTTP/1.1\r\nHost: a\r\nx:x\nTransfer-Encoding: chunked\r\n\r\n", .bareLF),
    InvalidRequest("empty value then LF", "POST / HTTP/1.1\r\nHost: a\r\nx:\nTransfer-Encoding: chunked\r\n\r\n", .bareLF),
    InvalidRequest("head ends in LF LF", "GET / HTTP/1.1\r\nHost: a\n\n", .bareLF),
    InvalidRequest("head ends in CRLF LF", "GET / HTTP/1.1\r\nHost: a\r\n\n", .bareLF),
    InvalidRequest("head ends in CRLF CR x", "GET / HTTP/1.1\r\nHost: a\r\n\rZGET /evil HTTP/1.1\r\n\r\n", .bareCR),
    InvalidRequest("whitespace before the first header", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", .obsoleteLineFolding),
    InvalidRequest("obs-fold with SP", "GET / HTTP/1.1\r\nHost: a\r\nFoo: bar\r\n baz\r\n\r\n", .obsoleteLineFolding),
    InvalidRequest("obs-fold with HTAB", "GET / HTTP/1.1\r\nHost: a\r\nFoo: bar\r\n\tbaz\r\n\r\n", .obsoleteLineFolding),
    InvalidRequest("folded header name", "GET / HTTP/1.1\r\nname\r\n : value\r\n\r\n", .missingColon),

    // Host (RFC 9112 §3.2).
    InvalidRequest("HTTP/1.1 without Host", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", .missingHost),
    InvalidRequest("two Host lines", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", .duplicateHost),
    InvalidRequest("two Host lines in HTTP/1.0", "GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", .duplicateHost),
    InvalidRequest("space inside Host", "GET / HTTP/1.1\r\nHost: localhost:80 x\r\n\r\n", .invalidHost),
    InvalidRequest("userinfo in Host", "GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", .invalidHost),
    InvalidRequest("path in Host", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", .invalidHost),
    InvalidRequest("backslash in Host", "GET / HTTP/1.1\r\nHost: abc\\foo\r\n\r\n", .invalidHost),
    InvalidRequest("obs-text in Host", "GET / HTTP/1.1\r\nHost: abc\u{A0}\r\n\r\n", .invalidHost),

    // Content-Length (RFC 9110 §8.6, RFC 9112 §6.3).
    InvalidRequest("empty Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", .invalidContentLength),
    InvalidRequest("Content-Length +5", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", .invalidContentLength),
    InvalidRequest("Content-Length -1", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", .invalidContentLength),
    InvalidRequest("Content-Length 0x5", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n", .invalidContentLength),
    InvalidRequest("Content-Length 5a", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5a\r\n\r\n", .invalidContentLength),
    InvalidRequest("Content-Length 4 2", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4 2\r\n\r\n", .invalidContentLength),
    InvalidRequest("Content-Length 1.0", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1.0\r\n\r\n", .invalidContentLength),
    InvalidRequest("Content-Length with a trailing comma", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,\r\n\r\n", .invalidContentLength),
    InvalidRequest("Content-Length with an empty element", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,,5\r\n\r\n", .invalidContentLength),
    InvalidRequest("Content-Length 2^63", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775808\r\n\r\n", .invalidContentLength),
    InvalidRequest("Content-Length 10^21", "PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000000000000000000\r\n\r\n", .invalidContentLength),
    InvalidRequest("differing Content-Length list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n", .conflictingContentLength),
    InvalidRequest("differing Content-Length lines", "PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", .conflictingContentLength),

    // Transfer-Encoding (RFC 9112 §6.1, §6.3).
    InvalidRequest("chunked, chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", .chunkedRepeated),
    InvalidRequest("chunked on two lines", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", .chunkedRepeated),
    InvalidRequest("chunked, gzip, chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip, chunked\r\n\r\n", .chunkedRepeated),
    InvalidRequest("chunked before gzip", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", .chunkedNotFinal),
    InvalidRequest("chunked then deflate on a second line", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: deflate\r\n\r\n", .chunkedNotFinal),
    InvalidRequest("gzip only", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", .chunkedNotFinal),
    InvalidRequest("identity", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", .chunkedNotFinal),
    InvalidRequest("unknown coding alone", "PUT / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: pigeons\r\n\r\n", .chunkedNotFinal),
    InvalidRequest("unknown coding before chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: foo, chunked\r\n\r\n", 501, .unknownTransferCoding),
    InvalidRequest("identity before chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity, chunked\r\n\r\n", 501, .unknownTransferCoding),
    InvalidRequest("empty Transfer-Encoding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n", .invalidTransferEncoding),
    InvalidRequest("Transfer-Encoding of commas", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: , ,\r\n\r\n", .invalidTransferEncoding),
    InvalidRequest("quoted chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n", .invalidTransferEncoding),
    InvalidRequest("chunked with a parameter", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", .invalidTransferEncoding),
    InvalidRequest("two codings without a comma", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip chunked\r\n\r\n", .invalidTransferEncoding),
    InvalidRequest("Transfer-Encoding in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", .transferEncodingInHTTP10),
]

@Test(arguments: invalidRequests)
func invalidRequestIsRejected(_ request: InvalidRequest) {
    let result = checkRequestSplits(bytes(request.raw))
    #expect(result == .invalid(WireError(status: request.status, reason: request.reason)))
}

@Test func everyReasonHasAMessage() {
    for reason in WireError.Reason.allCases {
        let error = WireError(status: 400, reason: reason)
        #expect(!error.description.isEmpty)
        #expect(error.message.utf8CodeUnitCount > 10)
    }
}

// MARK: - Every byte value in every position

/// RFC 9110 §5.6.2 tchar.
func isTokenByte(_ b: UInt8) -> Bool {
    switch b {
    case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"):
        return true
    default:
        return "!#$%&'*+-.^_`|~".utf8.contains(b)
    }
}

/// Field-value bytes: HTAB, SP, VCHAR, obs-text.
func isValueByte(_ b: UInt8) -> Bool { b == 0x09 || (b >= 0x20 && b != 0x7F) }

/// The byte at every offset within an eight-byte word of a name, a value, a
/// target and a method, so each lane of the word-at-a-time search sees it.
@Test(arguments: 0...255)
func everyByteValueIsClassifiedLikeTheRFC(_ value: Int) {
    let b = UInt8(value)
    let lf = UInt8(ascii: "\n")
    let cr = UInt8(ascii: "\r")
    for lane in 0..<9 {
        let pad = Array(repeating: UInt8(ascii: "n"), count: lane)
        // In a header name.
        let name = bytes("GET / HTTP/1.1\r\nHost: a\r\nX") + pad + [b] + bytes("y: v\r\n\r\n")
        let nameResult = scanRequest(name)
        if isTokenByte(b) {
            #expect(nameResult != .incomplete && !isInvalid(nameResult), "name byte \(b) lane \(lane)")
        } else if b != UInt8(ascii: ":") {
            #expect(isInvalid(nameResult), "name byte \(b) lane \(lane)")
        }
        // In a header value.
        let valueBytes = bytes("GET / HTTP/1.1\r\nHost: a\r\nX-Server: v") + pad + [b] + bytes("w\r\n\r\n")
        let valueResult = scanRequest(valueBytes)
        if isValueByte(b) {
            guard case .complete(let head) = valueResult else {
                Issue.record("value byte \(b) lane \(lane): \(valueResult)")
                continue
            }
            #expect(head.persistenceValue?.count == lane + 3)
        } else if b != cr {
            #expect(isInvalid(valueResult), "value byte \(b) lane \(lane)")
        }
        // In the request target.
        let target = bytes("GET /") + pad + [b] + bytes("x HTTP/1.1\r\nHost: a\r\n\r\n")
        let targetResult = scanRequest(target)
        if b > 0x20 && b != 0x7F {
            #expect(!isInvalid(targetResult) && targetResult != .incomplete, "target byte \(b) lane \(lane)")
        } else if b != cr && b != lf {
            #expect(isInvalid(targetResult), "target byte \(b) lane \(lane)")
        }
        // In the method.
        let method = bytes("G") + pad + [b] + bytes("T / HTTP/1.1\r\nHost: a\r\n\r\n")
        let methodResult = scanRequest(method)
        if isTokenByte(b) {
            #expect(!isInvalid(methodResult), "method byte \(b) lane \(lane)")
        } else {
            #expect(isInvalid(methodResult), "method byte \(b) lane \(lane)")
        }
    }
}

func isInvalid<Head>(_ result: ScanResult<Head>) -> Bool {
    if case .invalid = result { return true }
    return false
}

/// Every pair of adjacent bytes in a name and in a value, at three lanes of a
/// word: a carry or borrow out of one byte (obs-text, say) must never change
/// the verdict on the next.
@Test(arguments: 0...255)
func everyBytePairIsClassifiedLikeTheRFC(_ first: Int) {
    let b1 = UInt8(first)
    for second in 0...255 {
        let b2 = UInt8(second)
        for lane in [0, 3, 6] {
            let pad = Array(repeating: UInt8(ascii: "n"), count: lane)
            let value = bytes("GET / HTTP/1.1\r\nHost: a\r\nX-Server: v") + pad + [b1, b2] + bytes("w\r\n\r\n")
            let valueOK = isValueByte(b1) && isValueByte(b2)
            let valueResult = scanRequest(value)
            if valueOK {
                guard case .complete(let head) = valueResult, head.persistenceValue?.count == lane + 4 else {
                    Issue.record("value bytes \(b1) \(b2) lane \(lane): \(valueResult)")
                    continue
                }
            } else if b1 != 0x0D && b2 != 0x0D {
                #expect(isInvalid(valueResult), "value bytes \(b1) \(b2) lane \(lane)")
            }
            let name = bytes("GET / HTTP/1.1\r\nHost: a\r\nX") + pad + [b1, b2] + bytes("y: v\r\n\r\n")
            let nameResult = scanRequest(name)
            if isTokenByte(b1) && isTokenByte(b2) {
                #expect(!isInvalid(nameResult) && nameResult != .incomplete, "name bytes \(b1) \(b2) lane \(lane)")
            } else if b1 != UInt8(ascii: ":") && (b2 != UInt8(ascii: ":") || !isTokenByte(b1)) {
                #expect(isInvalid(nameResult), "name bytes \(b1) \(b2) lane \(lane)")
            }
        }
    }
}

/// Every byte value at every lane of two words, in a header name and in a
/// value: the one-shot scan (which takes the whole-line path: CR first, then
/// the colon) must give exactly the answer, reason included, of the same
/// bytes fed one at a time (which takes the step-by-step path).
@Test(arguments: 0...255)
func wholeLinesAndBytewiseFeedingAgree(_ value: Int) {
    let b = UInt8(value)
    for lane in 0..<24 {
        let pad = Array(repeating: UInt8(ascii: "n"), count: lane)
        let cases = [
            bytes("GET / HTTP/1.1\r\nHost: a\r\nX") + pad + [b] + bytes("y: v\r\nAccept: */*\r\n\r\n"),
            bytes("GET / HTTP/1.1\r\nHost: a\r\nX-Server: v") + pad + [b] + bytes("w\r\nAccept: */*\r\n\r\n"),
            bytes("GET / HTTP/1.1\r\nHost: a\r\nX-Server:") + pad + [b] + bytes("\r\nAccept: */*\r\n\r\n"),
        ]
        for request in cases {
            let whole = scanRequest(request)
            var scanner = RequestHeadScanner(maxHeadBytes: 32 * 1024)
            var bytewise = ScanResult<RequestHead>.incomplete
            withWanted { wanted in
                for count in 1...request.count {
                    bytewise = withExactBuffer(request, count: count) { scanner.scan($0, wanted: wanted) }
                    if bytewise != .incomplete { break }
                }
            }
            #expect(whole == bytewise, "byte \(b) lane \(lane): \(whole) one-shot, \(bytewise) byte by byte")
        }
    }
}
