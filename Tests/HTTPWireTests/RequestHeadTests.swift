import HTTPWire
import Testing

/// What a valid request head must scan to. Ranges are given as the text they
/// must cover; nil means absent.
struct RequestExpectation: Sendable {
    var method = "GET"
    var methodKind = HTTPMethod.get
    var target = "/"
    var versionMinor: UInt8 = 1
    var body = BodyFraming.none
    var keepAlive = true
    var upgrade = false
    var expectContinue = false
    var host: String? = "a"
    var persistence: String?
    var hashKey: String?
    /// The head after inserting ", 203.0.113.7" (or "203.0.113.7" into an
    /// empty value) at the X-Forwarded-For insertion point.
    var afterXFFInsertion: String?
    /// The head after its `close` option is overwritten with five spaces;
    /// nil when the head reports no option to blank.
    var afterCloseBlanked: String?
    /// Bytes of the head; the whole input when nil.
    var headLength: Int?
}

struct ValidRequest: Sendable, CustomTestStringConvertible {
    let name: String
    let raw: String
    let expected: RequestExpectation
    var testDescription: String { name }

    init(_ name: String, _ raw: String, _ configure: (inout RequestExpectation) -> Void = { _ in }) {
        self.name = name
        self.raw = raw
        var expected = RequestExpectation()
        configure(&expected)
        self.expected = expected
    }
}

let validRequests: [ValidRequest] = [
    ValidRequest("minimal HTTP/1.1", "GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
    ValidRequest("HTTP/1.0 without Host closes", "GET /x HTTP/1.0\r\n\r\n") {
        $0.target = "/x"; $0.versionMinor = 0; $0.keepAlive = false; $0.host = nil
    },
    ValidRequest("HTTP/1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n") {
        $0.versionMinor = 0; $0.host = nil
    },
    ValidRequest("HTTP/1.0 Keep-Alive in another case and list", "GET / HTTP/1.0\r\nconnection: foo , Keep-Alive\r\n\r\n") {
        $0.versionMinor = 0; $0.host = nil
    },
    ValidRequest("HTTP/1.0 keep-alive and close: close wins", "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n") {
        $0.versionMinor = 0; $0.host = nil; $0.keepAlive = false
    },
    ValidRequest("HTTP/1.1 close", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n") {
        $0.keepAlive = false; $0.afterCloseBlanked = "GET / HTTP/1.1\r\nHost: a\r\nConnection:      \r\n\r\n"
    },
    ValidRequest("HTTP/1.1 CLOSE in a list with empty elements", "GET / HTTP/1.1\r\nHost: a\r\nConnection: ,, te ,\tCLOSE\t,\r\n\r\n") {
        $0.keepAlive = false; $0.afterCloseBlanked = "GET / HTTP/1.1\r\nHost: a\r\nConnection: ,, te ,\t     \t,\r\n\r\n"
    },
    ValidRequest("close in a second Connection line", "GET / HTTP/1.1\r\nHost: a\r\nConnection: te\r\nConnection: close\r\n\r\n") {
        $0.keepAlive = false; $0.afterCloseBlanked = "GET / HTTP/1.1\r\nHost: a\r\nConnection: te\r\nConnection:      \r\n\r\n"
    },
    ValidRequest("HTTP/1.1 keep-alive and close", "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n") {
        $0.keepAlive = false; $0.afterCloseBlanked = "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive,      \r\n\r\n"
    },
    ValidRequest("close named twice is not blanked", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nConnection: Close\r\n\r\n") {
        $0.keepAlive = false
    },
    ValidRequest("closed is not close", "GET / HTTP/1.1\r\nHost: a\r\nConnection: closed, xclose\r\n\r\n"),
    ValidRequest("mixed-case names", "GET / HTTP/1.1\r\nhOsT: a\r\nCONTENT-length: 5\r\nX-SERVER: s1\r\n\r\n") {
        $0.body = .contentLength(5); $0.persistence = "s1"
    },
    ValidRequest("Content-Length", "POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 42\r\n\r\n") {
        $0.method = "POST"; $0.methodKind = .post; $0.target = "/f"; $0.body = .contentLength(42)
    },
    ValidRequest("Content-Length 0", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n") {
        $0.method = "POST"; $0.methodKind = .post; $0.body = .contentLength(0)
    },
    ValidRequest("Content-Length leading zeros are digits", "PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 005\r\n\r\n") {
        $0.method = "PUT"; $0.methodKind = .put; $0.body = .contentLength(5)
    },
    ValidRequest("Content-Length with OWS", "PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: \t 7 \t\r\n\r\n") {
        $0.method = "PUT"; $0.methodKind = .put; $0.body = .contentLength(7)
    },
    ValidRequest("Content-Length list of equal values", "PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 , 5,5\r\n\r\n") {
        $0.method = "PUT"; $0.methodKind = .put; $0.body = .contentLength(5)
    },
    ValidRequest("Content-Length repeated with equal values", "PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\ncontent-length: 05\r\n\r\n") {
        $0.method = "PUT"; $0.methodKind = .put; $0.body = .contentLength(5)
    },
    ValidRequest("Content-Length 2^63 - 1", "PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n") {
        $0.method = "PUT"; $0.methodKind = .put; $0.body = .contentLength(9_223_372_036_854_775_807)
    },
    ValidRequest("chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n") {
        $0.method = "POST"; $0.methodKind = .post; $0.body = .chunked
    },
    ValidRequest("Chunked in another case with OWS", "POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding:  \tChUnKeD \r\n\r\n") {
        $0.method = "POST"; $0.methodKind = .post; $0.body = .chunked
    },
    ValidRequest("gzip then chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n") {
        $0.method = "POST"; $0.methodKind = .post; $0.body = .chunked
    },
    ValidRequest("codings over two lines", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: x-gzip, deflate\r\nTransfer-Encoding: chunked\r\n\r\n") {
        $0.method = "POST"; $0.methodKind = .post; $0.body = .chunked
    },
    ValidRequest("empty coding list elements are skipped", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: , compress ,, chunked\r\n\r\n") {
        $0.method = "POST"; $0.methodKind = .post; $0.body = .chunked
    },
    ValidRequest("persistence value", "GET / HTTP/1.1\r\nHost: a\r\nX-Server: server1\r\n\r\n") { $0.persistence = "server1" },
    ValidRequest("persistence name in mixed case", "GET / HTTP/1.1\r\nHost: a\r\nx-SeRvEr: server2\r\n\r\n") { $0.persistence = "server2" },
    ValidRequest("persistence value trimmed of SP and HTAB", "GET / HTTP/1.1\r\nHost: a\r\nX-Server: \t server 3\t \r\n\r\n") {
        $0.persistence = "server 3"
    },
    ValidRequest("persistence value empty", "GET / HTTP/1.1\r\nHost: a\r\nX-Server:\r\n\r\n") { $0.persistence = "" },
    ValidRequest("persistence value only whitespace", "GET / HTTP/1.1\r\nHost: a\r\nX-Server: \t \r\n\r\n") { $0.persistence = "" },
    ValidRequest("first persistence line counts", "GET / HTTP/1.1\r\nX-Server: first\r\nHost: a\r\nX-Server: second\r\n\r\n") {
        $0.persistence = "first"
    },
    ValidRequest("first persistence line counts even when empty", "GET / HTTP/1.1\r\nX-Server: \r\nHost: a\r\nX-Server: second\r\n\r\n") {
        $0.persistence = ""
    },
    ValidRequest("similar names are not the persistence header", "GET / HTTP/1.1\r\nHost: a\r\nX-Servers: no\r\nX-Serve: no\r\nXX-Server: no\r\n\r\n"),
    ValidRequest("persistence value with obs-text and HTAB", "GET / HTTP/1.1\r\nHost: a\r\nX-Server: caf\u{E9}\tbar\r\n\r\n") {
        $0.persistence = "caf\u{E9}\tbar"
    },
    ValidRequest("hash key and persistence", "GET / HTTP/1.1\r\nHost: a\r\nX-User: alice\r\nX-Server: s\r\nX-User: bob\r\n\r\n") {
        $0.persistence = "s"; $0.hashKey = "alice"
    },
    ValidRequest("long value across words", "GET / HTTP/1.1\r\nHost: a\r\nX-Server: 0123456789abcdefghijklmnopqrstuvwxyz:/?=&\r\n\r\n") {
        $0.persistence = "0123456789abcdefghijklmnopqrstuvwxyz:/?=&"
    },
    ValidRequest("no X-Forwarded-For", "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-Host: b\r\n\r\n"),
    ValidRequest("one X-Forwarded-For", "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 198.51.100.1\r\n\r\n") {
        $0.afterXFFInsertion = "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 198.51.100.1, 203.0.113.7\r\n\r\n"
    },
    ValidRequest("X-Forwarded-For with trailing whitespace", "GET / HTTP/1.1\r\nHost: a\r\nx-forwarded-for: 198.51.100.1 \t\r\n\r\n") {
        $0.afterXFFInsertion = "GET / HTTP/1.1\r\nHost: a\r\nx-forwarded-for: 198.51.100.1, 203.0.113.7 \t\r\n\r\n"
    },
    ValidRequest("two X-Forwarded-For lines: the last gets the address",
                 "GET / HTTP/1.1\r\nX-Forwarded-For: 192.0.2.1\r\nHost: a\r\nX-FORWARDED-FOR: 198.51.100.1, 198.51.100.2\r\nAccept: */*\r\n\r\n") {
        $0.afterXFFInsertion =
            "GET / HTTP/1.1\r\nX-Forwarded-For: 192.0.2.1\r\nHost: a\r\nX-FORWARDED-FOR: 198.51.100.1, 198.51.100.2, 203.0.113.7\r\nAccept: */*\r\n\r\n"
    },
    ValidRequest("empty X-Forwarded-For", "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For:  \r\n\r\n") {
        $0.afterXFFInsertion = "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For:  203.0.113.7\r\n\r\n"
    },
    ValidRequest("Expect 100-continue", "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n") {
        $0.method = "PUT"; $0.methodKind = .put; $0.expectContinue = true; $0.body = .contentLength(3)
    },
    ValidRequest("Expect 100-Continue in another case", "PUT / HTTP/1.1\r\nHost: a\r\nexpect:  100-CONTINUE \r\n\r\n") {
        $0.method = "PUT"; $0.methodKind = .put; $0.expectContinue = true
    },
    ValidRequest("Expect ignored in HTTP/1.0", "PUT / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n") {
        $0.method = "PUT"; $0.methodKind = .put; $0.versionMinor = 0; $0.keepAlive = false; $0.host = nil
    },
    ValidRequest("other expectations are not 100-continue", "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continued\r\n\r\n") {
        $0.method = "PUT"; $0.methodKind = .put
    },
    ValidRequest("Upgrade", "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n") {
        $0.target = "/ws"; $0.upgrade = true
    },
    ValidRequest("upgrade token without Upgrade header", "GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n"),
    ValidRequest("Upgrade header without upgrade token", "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n"),
    ValidRequest("Upgrade ignored in HTTP/1.0", "GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n") {
        $0.versionMinor = 0; $0.keepAlive = false; $0.host = nil
    },
    ValidRequest("empty lines before the request line are skipped", "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"),
    ValidRequest("HEAD", "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n") { $0.method = "HEAD"; $0.methodKind = .head },
    ValidRequest("DELETE", "DELETE /r HTTP/1.1\r\nHost: a\r\n\r\n") { $0.method = "DELETE"; $0.methodKind = .delete; $0.target = "/r" },
    ValidRequest("OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n") { $0.method = "OPTIONS"; $0.methodKind = .options; $0.target = "*" },
    ValidRequest("PATCH", "PATCH / HTTP/1.1\r\nHost: a\r\n\r\n") { $0.method = "PATCH"; $0.methodKind = .patch },
    ValidRequest("TRACE", "TRACE / HTTP/1.1\r\nHost: a\r\n\r\n") { $0.method = "TRACE"; $0.methodKind = .trace },
    ValidRequest("CONNECT authority-form", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n") {
        $0.method = "CONNECT"; $0.methodKind = .connect; $0.target = "a:443"; $0.host = "a:443"
    },
    ValidRequest("methods are case-sensitive", "get / HTTP/1.1\r\nHost: a\r\n\r\n") { $0.method = "get"; $0.methodKind = .other },
    ValidRequest("extension method", "M-SEARCH * HTTP/1.1\r\nHost: a\r\n\r\n") { $0.method = "M-SEARCH"; $0.methodKind = .other; $0.target = "*" },
    ValidRequest("method prefixes are not methods", "GETS / HTTP/1.1\r\nHost: a\r\n\r\n") { $0.method = "GETS"; $0.methodKind = .other },
    ValidRequest("absolute-form target", "GET http://a.example/p?q=1&r=%20 HTTP/1.1\r\nHost: a\r\n\r\n") {
        $0.target = "http://a.example/p?q=1&r=%20"
    },
    ValidRequest("target with obs-text", "GET /caf\u{E9} HTTP/1.1\r\nHost: a\r\n\r\n") { $0.target = "/caf\u{E9}" },
    ValidRequest("every tchar in a name", "GET / HTTP/1.1\r\nHost: a\r\n!#$%&'*+-.^_`|~09AZaz: x\r\n\r\n"),
    ValidRequest("empty values and colons in values", "GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-Time: 12:30:00\r\n\r\n"),
    ValidRequest("Host with port", "GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n") { $0.host = "example.com:8080" },
    ValidRequest("Host IPv6 literal", "GET / HTTP/1.1\r\nHost: [2001:db8::1]:8080\r\n\r\n") { $0.host = "[2001:db8::1]:8080" },
    ValidRequest("empty Host", "GET / HTTP/1.1\r\nHost:\r\n\r\n") { $0.host = "" },
    ValidRequest("Host in HTTP/1.0", "GET / HTTP/1.0\r\nHost:  b \r\n\r\n") { $0.versionMinor = 0; $0.keepAlive = false; $0.host = "b" },
    ValidRequest("names that look like framing headers", "GET / HTTP/1.1\r\nHost: a\r\nContent-Lengthx: 5\r\nTransfer_Encoding: chunked\r\nHosts: b\r\n\r\n"),
    ValidRequest("body and next request after the head", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n") {
        $0.method = "POST"; $0.methodKind = .post; $0.body = .contentLength(5); $0.headLength = 47
    },
]

@Test(arguments: validRequests)
func validRequestScansAsExpected(_ request: ValidRequest) throws {
    let raw = bytes(request.raw)
    let result = checkRequestSplits(raw)
    guard case .complete(let head) = result else {
        Issue.record("expected a complete head, got \(result)")
        return
    }
    let e = request.expected
    #expect(head.headLength == (e.headLength ?? raw.count))
    #expect(text(raw, head.method) == e.method)
    #expect(head.methodKind == e.methodKind)
    #expect(text(raw, head.target) == e.target)
    #expect(head.versionMinor == e.versionMinor)
    #expect(head.body == e.body)
    #expect(head.keepAlive == e.keepAlive)
    #expect(head.upgrade == e.upgrade)
    #expect(head.expectContinue == e.expectContinue)
    #expect(text(raw, head.host) == e.host)
    #expect(text(raw, head.persistenceValue) == e.persistence)
    #expect(text(raw, head.hashKeyValue) == e.hashKey)
    if let expected = e.afterXFFInsertion {
        let offset = try #require(head.xForwardedForInsertion)
        let insert = head.xForwardedForIsEmpty ? "203.0.113.7" : ", 203.0.113.7"
        let inserted = Array(raw[..<offset]) + bytes(insert) + Array(raw[offset...])
        #expect(String(decoding: inserted, as: UTF8.self) == expected)
    } else {
        #expect(head.xForwardedForInsertion == nil)
    }
    if let expected = e.afterCloseBlanked {
        let offset = try #require(head.connectionCloseOption)
        var blanked = raw
        blanked.replaceSubrange(offset ..< offset + 5, with: bytes("     "))
        #expect(String(decoding: blanked, as: UTF8.self) == expected)
    } else {
        #expect(head.connectionCloseOption == nil)
    }
}

@Test func persistenceAndHashKeyMayNameTheSameHeader() {
    let raw = bytes("GET / HTTP/1.1\r\nHost: a\r\nX-Server: one\r\nX-Server: two\r\n\r\n")
    guard case .complete(let head) = scanRequest(raw, persistence: persistenceName, hashKey: persistenceName) else {
        Issue.record("expected a complete head")
        return
    }
    #expect(text(raw, head.persistenceValue) == "one")
    #expect(text(raw, head.hashKeyValue) == "one")
}

@Test func withoutWantedHeadersNothingIsReported() {
    let raw = bytes("GET / HTTP/1.1\r\nHost: a\r\nX-Server: one\r\nX-User: u\r\n\r\n")
    guard case .complete(let head) = scanRequest(raw, persistence: nil, hashKey: nil) else {
        Issue.record("expected a complete head")
        return
    }
    #expect(head.persistenceValue == nil)
    #expect(head.hashKeyValue == nil)
    guard case .complete(let empty) = scanRequest(raw, persistence: [], hashKey: []) else {
        Issue.record("expected a complete head")
        return
    }
    #expect(empty.persistenceValue == nil && empty.hashKeyValue == nil)
}

@Test func longWantedNamesMatchAcrossWords() {
    let name = bytes("x-some-rather-long-persistence-header")
    let raw = bytes("GET / HTTP/1.1\r\nHost: a\r\nX-Some-Rather-Long-Persistence-Headex: no\r\nX-SOME-rather-LONG-persistence-HEADER: yes\r\n\r\n")
    guard case .complete(let head) = scanRequest(raw, persistence: name, hashKey: nil) else {
        Issue.record("expected a complete head")
        return
    }
    #expect(text(raw, head.persistenceValue) == "yes")
}

@Test func scanAfterAnAnswerRepeatsItUntilReset() {
    var scanner = RequestHeadScanner(maxHeadBytes: 1024)
    let good = bytes("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    let bad = bytes("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
    withWanted { wanted in
        let first = good.withUnsafeBytes { scanner.scan($0, wanted: wanted) }
        let again = bad.withUnsafeBytes { scanner.scan($0, wanted: wanted) }
        #expect(first == again)
        scanner.reset()
        let other = bad.withUnsafeBytes { scanner.scan($0, wanted: wanted) }
        #expect(other == .invalid(WireError(status: 400, reason: .duplicateHost)))
    }
}

@Test func emptyBufferIsIncomplete() {
    var scanner = RequestHeadScanner(maxHeadBytes: 1024)
    let result = withWanted { scanner.scan(UnsafeRawBufferPointer(start: nil, count: 0), wanted: $0) }
    #expect(result == .incomplete)
}

// MARK: - Limits

@Test func headExactlyAtTheLimitIsAccepted() {
    let raw = bytes("GET / HTTP/1.1\r\nHost: a\r\nX-Pad: 0123456789\r\n\r\n")
    let fits = checkRequestSplits(raw, limits: RequestLimits(maxHeadBytes: raw.count))
    #expect(fits != .incomplete)
    if case .invalid = fits { Issue.record("a head of exactly maxHeadBytes must be accepted") }
    let tooLarge = checkRequestSplits(raw, limits: RequestLimits(maxHeadBytes: raw.count - 1))
    #expect(tooLarge == .invalid(WireError(status: 431, reason: .headTooLarge)))
}

@Test func headLimitAppliesWhileStillInTheRequestLine() {
    let raw = bytes("GET /" + String(repeating: "a", count: 100) + " HTTP/1.1\r\nHost: a\r\n\r\n")
    #expect(checkRequestSplits(raw, limits: RequestLimits(maxHeadBytes: 50)) == .invalid(WireError(status: 431, reason: .headTooLarge)))
}

@Test func headLimitAppliesToEmptyLinesBeforeTheRequest() {
    let raw = bytes(String(repeating: "\r\n", count: 40) + "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    #expect(checkRequestSplits(raw, limits: RequestLimits(maxHeadBytes: 64)) == .invalid(WireError(status: 431, reason: .headTooLarge)))
}

@Test func requestLineLimit() {
    let line = "GET /" + String(repeating: "b", count: 50) + " HTTP/1.1"
    let raw = bytes(line + "\r\nHost: a\r\n\r\n")
    let exact = checkRequestSplits(raw, limits: RequestLimits(maxRequestLineBytes: line.utf8.count))
    guard case .complete = exact else {
        Issue.record("a request line of exactly maxRequestLineBytes must be accepted, got \(exact)")
        return
    }
    let over = checkRequestSplits(raw, limits: RequestLimits(maxRequestLineBytes: line.utf8.count - 1))
    #expect(over == .invalid(WireError(status: 414, reason: .requestLineTooLong)))
    // Counted from the request line's first byte, after skipped empty lines.
    let afterEmptyLines = bytes("\r\n\r\n" + line + "\r\nHost: a\r\n\r\n")
    guard case .complete = checkRequestSplits(afterEmptyLines, limits: RequestLimits(maxRequestLineBytes: line.utf8.count)) else {
        Issue.record("empty lines before the request line do not count towards its length")
        return
    }
}

@Test func requestLineLimitWithoutAnyLineEnd() {
    let raw = bytes("GET /" + String(repeating: "c", count: 200))
    #expect(checkRequestSplits(raw, limits: RequestLimits(maxRequestLineBytes: 64)) == .invalid(WireError(status: 414, reason: .requestLineTooLong)))
    #expect(checkRequestSplits(raw, limits: RequestLimits(maxRequestLineBytes: 1000)) == .incomplete)
}

@Test func hugeLimitsAreClamped() {
    let scanner = RequestHeadScanner(maxHeadBytes: Int.max, maxRequestLineBytes: Int.max)
    #expect(scanner.maxHeadBytes == Int(Int32.max))
    #expect(scanner.maxRequestLineBytes == Int(Int32.max))
}
