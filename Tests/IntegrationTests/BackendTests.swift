import Glibc
import Testing

/// `tether backend` driven directly through the harness: the behaviour every
/// other integration test relies on.
@Suite struct BackendTests {
    @Test func answersWithItsNameOnKeptAliveConnection() throws {
        let fleet = try BackendFleet(names: ["apache1"])
        let connection = try RawHTTPConnection(port: fleet["apache1"].port)
        var connectionSerials: Set<String> = []
        var requestSerials: [Int] = []
        for path in ["/", "/anything/else", "/?q=1"] {
            try connection.send("GET \(path) HTTP/1.1\r\nHost: test\r\n\r\n")
            let response = try connection.readResponse()
            #expect(response.status == 200)
            #expect(response.bodyText == "apache1\n")
            #expect(response.header("X-Backend") == "apache1")
            #expect(response.header("Connection") == nil)
            connectionSerials.insert(response.header("X-Backend-Connection") ?? "")
            requestSerials.append(Int(response.header("X-Backend-Request") ?? "") ?? 0)
        }
        #expect(connectionSerials.count == 1)
        #expect(requestSerials == [1, 2, 3])
        #expect(!connection.isClosedByPeer(timeout: .milliseconds(100)))
    }

    @Test func keepsHTTP10ConnectionsAliveOnlyWhenAsked() throws {
        let fleet = try BackendFleet(names: ["apache1"])
        let kept = try RawHTTPConnection(port: fleet["apache1"].port)
        for _ in 0 ..< 2 {
            try kept.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            let response = try kept.readResponse()
            #expect(response.header("Connection") == "keep-alive")
            #expect(response.bodyText == "apache1\n")
        }
        let closed = try RawHTTPConnection(port: fleet["apache1"].port)
        try closed.send("GET / HTTP/1.0\r\n\r\n")
        let response = try closed.readResponse()
        #expect(response.header("Connection") == "close")
        #expect(closed.isClosedByPeer())
    }

    @Test func echoesAChunkedBodyWithTrailersExactly() throws {
        let fleet = try BackendFleet(names: ["apache2"])
        let connection = try RawHTTPConnection(port: fleet["apache2"].port)
        let body = patternBytes(count: 70_000)
        var wire = Array("POST /echo?x=1 HTTP/1.1\r\nHost: test\r\nX-Spaced:   kept as sent  \r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
        wire += Array("1\r\n".utf8) + body[0 ..< 1] + Array("\r\n".utf8)
        wire += Array("FFFF;name=value\r\n".utf8) + body[1 ..< 65536] + Array("\r\n".utf8)
        wire += Array("\(String(70_000 - 65536, radix: 16))\r\n".utf8) + body[65536...] + Array("\r\n".utf8)
        wire += Array("0\r\nX-Trailer-One: 1\r\nX-Trailer-Two: two\r\n\r\n".utf8)
        // Byte by byte for the head and the first chunk, so every parser state sees a split.
        for byte in wire.prefix(200) { try connection.send([byte]) }
        try connection.send(Array(wire.dropFirst(200)))

        let response = try connection.readResponse()
        #expect(response.status == 200)
        #expect(response.header("X-Backend") == "apache2")
        let expected = """
            apache2
            POST /echo?x=1 HTTP/1.1
            Host: test
            X-Spaced:   kept as sent  
            Transfer-Encoding: chunked

            body-length: 70000
            body-fnv64: \(fnv1a64Hex(body))
            trailer: X-Trailer-One: 1
            trailer: X-Trailer-Two: two

            """
        #expect(response.bodyText == expected)
    }

    @Test func echoesATenMebibyteBodyByteExactly() throws {
        let fleet = try BackendFleet(names: ["apache1"])
        let connection = try RawHTTPConnection(port: fleet["apache1"].port)
        var body = patternBytes(count: 10 << 20)
        body[5_000_000] ^= 0xff
        try connection.send("PUT /echo HTTP/1.1\r\nContent-Length: \(body.count)\r\n\r\n")
        try connection.send(body)
        let response = try connection.readResponse()
        #expect(response.bodyText.contains("\nbody-length: \(10 << 20)\nbody-fnv64: \(fnv1a64Hex(body))\n"))
    }

    @Test(arguments: [false, true])
    func streamsLargeBodiesByteExactly(chunked: Bool) throws {
        let fleet = try BackendFleet(names: ["apache3"])
        let connection = try RawHTTPConnection(port: fleet["apache3"].port)
        let count = 16 << 20 | 12345
        try connection.send("GET /bytes/\(count)\(chunked ? "?chunked=1" : "") HTTP/1.1\r\n\r\n")
        let response = try connection.readResponse()
        #expect(response.status == 200)
        #expect(response.framing == (chunked ? .chunked : .contentLength))
        #expect(difference(response.body, from: patternBytes(count: count)) == nil)
        if chunked {
            #expect(response.trailer("X-Body-Length") == "\(count)")
        }
        // The connection is still usable after the stream.
        try connection.send("HEAD /bytes/\(count) HTTP/1.1\r\n\r\n")
        let head = try connection.readResponse(requestMethod: "HEAD")
        #expect(head.header("Content-Length") == "\(count)")
        #expect(head.body.isEmpty)
        #expect(!connection.hasData(within: .milliseconds(50)))
    }

    @Test func answersPipelinedRequestsInOrder() throws {
        let fleet = try BackendFleet(names: ["apache1"])
        let connection = try RawHTTPConnection(port: fleet["apache1"].port)
        let requests = [
            "GET /slow/200 HTTP/1.1\r\n\r\n",
            "GET /status/404 HTTP/1.1\r\n\r\n",
            "POST /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
            "GET /bytes/300000 HTTP/1.1\r\n\r\n",
            "GET /status/204 HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\n\r\n",
        ]
        try connection.send(requests.joined())
        var responses: [HTTPTestResponse] = []
        for _ in requests { responses.append(try connection.readResponse()) }
        #expect(responses.map(\.status) == [200, 404, 200, 200, 204, 200])
        #expect(responses.map { Int($0.header("X-Backend-Request") ?? "") } == [1, 2, 3, 4, 5, 6])
        #expect(responses[0].bodyText == "apache1\n")
        #expect(responses[2].bodyText.contains("body-length: 5\nbody-fnv64: \(fnv1a64Hex(Array("hello".utf8)))"))
        #expect(difference(responses[3].body, from: patternBytes(count: 300_000)) == nil)
        #expect(responses[4].body.isEmpty && responses[4].header("Content-Length") == nil)
        #expect(responses[5].bodyText == "apache1\n")
    }

    @Test func answersEverythingAClientSentBeforeHalfClosing() throws {
        let fleet = try BackendFleet(names: ["apache1"])
        let connection = try RawHTTPConnection(port: fleet["apache1"].port)
        try connection.send("GET /slow/50 HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n")
        connection.shutdownWrite()
        #expect(try connection.readResponse().status == 200)
        #expect(try connection.readResponse().bodyText == "apache1\n")
        #expect(connection.isClosedByPeer())
    }

    @Test func sends100ContinueBeforeReadingTheBody() throws {
        let fleet = try BackendFleet(names: ["apache1"])
        let connection = try RawHTTPConnection(port: fleet["apache1"].port)
        try connection.send("POST /echo HTTP/1.1\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n")
        let interim = try connection.readResponse(returnInterim: true)
        #expect(interim.status == 100)
        #expect(interim.headers.isEmpty)
        try connection.send("hello world")
        let final = try connection.readResponse(returnInterim: true)
        #expect(final.status == 200)
        #expect(final.bodyText.contains("Expect: 100-continue\n\nbody-length: 11\n"))
    }

    @Test func upgradesToAWebSocketAndEchoesRawBytes() throws {
        let fleet = try BackendFleet(names: ["apache1"])
        let connection = try RawHTTPConnection(port: fleet["apache1"].port)
        // RFC 6455 §1.3's example key and accept value; bytes after the head
        // already belong to the tunnel.
        try connection.send("""
            GET /ws HTTP/1.1\r
            Host: server.example.com\r
            Upgrade: websocket\r
            Connection: keep-alive, Upgrade\r
            Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r
            Sec-WebSocket-Version: 13\r
            \r
            early
            """)
        let response = try connection.readResponse()
        #expect(response.status == 101)
        #expect(response.header("Sec-WebSocket-Accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        #expect(response.header("Upgrade") == "websocket")
        #expect(response.header("X-Backend") == "apache1")
        #expect(try connection.read(count: 5) == Array("early".utf8))
        let payload = patternBytes(count: 200_000)
        try connection.send(payload)
        #expect(difference(try connection.read(count: payload.count), from: payload) == nil)
        connection.shutdownWrite()
        #expect(connection.isClosedByPeer())
    }

    @Test func refusesAWebSocketRequestWithoutUpgradeFields() throws {
        let fleet = try BackendFleet(names: ["apache1"])
        let connection = try RawHTTPConnection(port: fleet["apache1"].port)
        try connection.send("GET /ws HTTP/1.1\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
        #expect(try connection.readResponse().status == 400)
    }

    @Test func closesMidBody() throws {
        let fleet = try BackendFleet(names: ["apache1"])
        let connection = try RawHTTPConnection(port: fleet["apache1"].port)
        try connection.send("GET /close-mid HTTP/1.1\r\n\r\n")
        let error = #expect(throws: HarnessError.self) { try connection.readResponse() }
        #expect(error?.description.contains("closed after 10 of 1000 body bytes") == true)

        let raw = try RawHTTPConnection(port: fleet["apache1"].port)
        try raw.send("GET /close-mid HTTP/1.1\r\n\r\n")
        let bytes = try raw.readUntilClose()
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(text.contains("\r\nContent-Length: 1000\r\n"))
        #expect(Array(bytes.suffix(10)) == patternBytes(count: 10))
        #expect(text.components(separatedBy: "\r\n\r\n").last?.utf8.count == 10)
    }

    @Test func closesAfterAnsweringClose() throws {
        let fleet = try BackendFleet(names: ["apache1"])
        let connection = try RawHTTPConnection(port: fleet["apache1"].port)
        try connection.send("GET /close HTTP/1.1\r\n\r\n")
        let response = try connection.readResponse()
        #expect(response.header("Connection") == "close")
        #expect(response.bodyText == "apache1\n")
        #expect(connection.isClosedByPeer())
    }

    @Test(arguments: [200, 302, 404, 503, 204, 304])
    func answersTheStatusAskedFor(status: Int) throws {
        let fleet = try BackendFleet(names: ["apache1"])
        let connection = try RawHTTPConnection(port: fleet["apache1"].port)
        try connection.send("GET /status/\(status) HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n")
        let response = try connection.readResponse()
        #expect(response.status == status)
        if status == 204 || status == 304 {
            #expect(response.header("Content-Length") == nil && response.body.isEmpty)
        } else {
            #expect(response.header("Content-Length") == "\(response.body.count)" && !response.body.isEmpty)
        }
        #expect(try connection.readResponse().bodyText == "apache1\n")
    }

    @Test(arguments: [
        ("GET / HTTP/1.1\r\nBad Header: x\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400),
        ("GET / HTTP/1.1\nHost: x\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        ("GET /status/99 HTTP/1.1\r\n\r\n", 400),
        ("GET / HTTP/2.0\r\n\r\n", 505),
    ])
    func refusesMalformedRequests(request: String, status: Int) throws {
        let fleet = try BackendFleet(names: ["apache1"])
        let connection = try RawHTTPConnection(port: fleet["apache1"].port)
        try connection.send(request)
        let response = try connection.readResponse()
        #expect(response.status == status)
        #expect(response.header("X-Backend") == "apache1")
        if status != 400 || !request.contains("/status/") {
            #expect(connection.isClosedByPeer())
        }
    }

    @Test(arguments: [
        (["\r", "\nGET / HTTP/1.1\r\n\r\n"], 200),
        (["\r\n\r", "\n", "GET / HTTP/1.1\r", "\n\r", "\n"], 200),
        (["\r", "\n\nGET / HTTP/1.1\r\n\r\n"], 400),
        (["GET / HTTP/1.1\r\n\n"], 400),
    ])
    func handlesEmptyLinesBeforeARequestInAnyPieces(pieces: [String], status: Int) throws {
        let fleet = try BackendFleet(names: ["apache1"])
        let connection = try RawHTTPConnection(port: fleet["apache1"].port)
        for piece in pieces {
            try connection.send(piece)
            #expect(!connection.hasData(within: .milliseconds(20)) || piece == pieces.last)
        }
        #expect(try connection.readResponse().status == status)
        let next = try RawHTTPConnection(port: fleet["apache1"].port)
        try next.send("GET / HTTP/1.1\r\n\r\n")
        #expect(try next.readResponse().status == 200, "\(fleet.logs)")
    }

    @Test func slowRequestsDoNotHoldUpOtherConnections() throws {
        let fleet = try BackendFleet(names: ["apache1"])
        let slow = try RawHTTPConnection(port: fleet["apache1"].port)
        try slow.send("GET /slow/1500 HTTP/1.1\r\n\r\n")
        let quick = try RawHTTPConnection(port: fleet["apache1"].port)
        try quick.send("GET / HTTP/1.1\r\n\r\n")
        #expect(try quick.readResponse().status == 200)
        #expect(!slow.hasData())
        #expect(try slow.readResponse().bodyText == "apache1\n")
    }

    @Test func togglesHealthOnSIGUSR1AndExitsCleanlyOnSIGTERM() throws {
        let fleet = try BackendFleet(names: ["apache1", "apache2"])
        func health(_ name: String) throws -> Int {
            let connection = try RawHTTPConnection(port: fleet[name].port)
            try connection.send("GET /healthz HTTP/1.1\r\n\r\n")
            return try connection.readResponse().status
        }
        #expect(try health("apache1") == 200)
        #expect(try fleet.toggleHealth("apache1") == false)
        #expect(try health("apache1") == 500)
        #expect(try health("apache2") == 200)
        #expect(try fleet.toggleHealth("apache1") == true)
        #expect(try health("apache1") == 200)

        let process = fleet["apache1"].process
        #expect(process.terminate() == .exited(0))
        #expect(try process.waitForLine(containing: "backend apache1 stopping after 3 requests") != "")
    }

    @Test func restartsOnTheSamePort() throws {
        let fleet = try BackendFleet(names: ["apache1"])
        let port = fleet["apache1"].port
        fleet["apache1"].process.killImmediately()
        #expect(throws: HarnessError.self) { try RawHTTPConnection(port: port, timeout: .seconds(1)) }
        try fleet.restart("apache1")
        try waitForPort(port)
        let connection = try RawHTTPConnection(port: port)
        try connection.send("GET / HTTP/1.1\r\n\r\n")
        #expect(try connection.readResponse().header("X-Backend-Request") == "1")
    }

    @Test func servesFromSeveralThreadsAndListeners() throws {
        let process = try ManagedProcess(arguments: [
            "backend", "--threads", "3",
            "--listen", "127.0.0.1:0", "--name", "left",
            "--listen", "[::1]:0", "--name", "right",
        ])
        let left = try process.waitForLine(containing: "backend left listening on 127.0.0.1:")
        let right = try process.waitForLine(containing: "backend right listening on [::1]:")
        let leftPort = try #require(UInt16(left.split(separator: ":").last ?? ""))
        let rightPort = try #require(UInt16(right.split(separator: ":").last ?? ""))
        for _ in 0 ..< 6 {
            let connection = try RawHTTPConnection(port: leftPort)
            try connection.send("GET / HTTP/1.1\r\n\r\n")
            #expect(try connection.readResponse().bodyText == "left\n")
        }
        let connection = try RawHTTPConnection(host: "::1", port: rightPort)
        try connection.send("GET /stats HTTP/1.1\r\n\r\n")
        let stats = try connection.readResponse().bodyText
        #expect(stats.contains("name: right\n") && stats.contains("requests: 1\n"))
    }

    @Test(arguments: [
        (["backend"], "at least one --listen"),
        (["backend", "--listen", "127.0.0.1"], "invalid listen address '127.0.0.1'"),
        (["backend", "--listen", "::1:80"], "in brackets"),
        (["backend", "--listen", "127.0.0.1:0", "--listen", "127.0.0.1:0", "--name", "a", "--name", "b", "--name", "c"], "one per address"),
        (["backend", "--listen", "127.0.0.1:0", "--threads", "0"], "--threads"),
    ])
    func rejectsBadCommandLines(arguments: [String], message: String) throws {
        let process = try ManagedProcess(arguments: arguments)
        #expect(try process.waitForExit() != .exited(0))
        #expect(process.stderr.contains(message), "\(process.logs)")
    }

    @Test func reportsAPortInUse() throws {
        let fleet = try BackendFleet(names: ["apache1"])
        let process = try ManagedProcess(arguments: ["backend", "--listen", fleet["apache1"].address])
        #expect(try process.waitForExit() == .exited(1))
        #expect(process.stderr.contains("listening on \(fleet["apache1"].address): bind failed: Address already in use"))
    }
}
