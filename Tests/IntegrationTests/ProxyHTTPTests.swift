import Foundation
import Testing

/// HTTP/1.1 through the proxy: bodies of any size both ways, framing,
/// interim responses, upgrades, connection management.
@Suite(.serialized) struct ProxyHTTPTests {
    @Test func aTenMebibyteContentLengthBodyArrivesByteExact() throws {
        let fleet = try BackendFleet(names: ["apache1"])
        let proxy = try ProxyUnderTest(fleet: fleet)
        let connection = try proxy.connect(timeout: .seconds(30))
        var body = patternBytes(count: 10 << 20)
        body[7_000_001] ^= 0x5a
        try connection.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: \(body.count)\r\n\r\n")
        try connection.send(body)
        let response = try connection.readResponse()
        #expect(response.status == 200)
        #expect(response.bodyText.contains("\nbody-length: \(body.count)\nbody-fnv64: \(fnv1a64Hex(body))\n"))
        // The connection carries the next request.
        try connection.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(try connection.readResponse().bodyText == "apache1\n")
    }

    @Test func aChunkedBodyWithTrailersArrivesExact() throws {
        let fleet = try BackendFleet(names: ["apache2"])
        let proxy = try ProxyUnderTest(fleet: fleet)
        let connection = try proxy.connect(timeout: .seconds(30))
        let body = patternBytes(count: 10 << 20 | 777)
        var wire = Array("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
        var offset = 0
        var size = 1
        while offset < body.count {
            let n = min(size, body.count - offset)
            wire += Array("\(String(n, radix: 16));ext=1\r\n".utf8) + body[offset ..< offset + n] + Array("\r\n".utf8)
            offset += n
            size = size * 7 + 3
        }
        wire += Array("0\r\nX-Trailer-One: 1\r\nX-Trailer-Two: two\r\n\r\n".utf8)
        // The head and first chunks in small pieces, the rest at once.
        var at = 0
        while at < 300 {
            try connection.send(Array(wire[at ..< at + 6]))
            at += 6
        }
        try connection.send(Array(wire[300...]))
        let response = try connection.readResponse()
        #expect(response.status == 200)
        let text = response.bodyText
        #expect(text.contains("\nbody-length: \(body.count)\nbody-fnv64: \(fnv1a64Hex(body))\n"), "\(text)")
        #expect(text.contains("trailer: X-Trailer-One: 1\ntrailer: X-Trailer-Two: two\n"), "\(text)")
    }

    @Test(arguments: [false, true])
    func largeResponsesArriveByteExact(chunked: Bool) throws {
        let fleet = try BackendFleet(names: ["apache3"])
        let proxy = try ProxyUnderTest(fleet: fleet)
        let connection = try proxy.connect(timeout: .seconds(30))
        let count = 16 << 20 | 4321
        try connection.send("GET /bytes/\(count)\(chunked ? "?chunked=1" : "") HTTP/1.1\r\nHost: t\r\n\r\n")
        let response = try connection.readResponse()
        #expect(response.status == 200)
        #expect(response.framing == (chunked ? .chunked : .contentLength))
        #expect(difference(response.body, from: patternBytes(count: count)) == nil)
        if chunked { #expect(response.trailer("X-Body-Length") == "\(count)") }
        try connection.send("HEAD /bytes/\(count) HTTP/1.1\r\nHost: t\r\n\r\n")
        let head = try connection.readResponse(requestMethod: "HEAD")
        #expect(head.header("Content-Length") == "\(count)" && head.body.isEmpty)
        try connection.send("GET /status/304 HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(try connection.readResponse().status == 304)
        try connection.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(try connection.readResponse().bodyText == "apache3\n")
        #expect(!connection.hasData(within: .milliseconds(50)))
    }

    @Test func headsArriveInAnyPiecesAndUpToTheLimit() throws {
        let fleet = try BackendFleet(names: ["apache1", "apache2"])
        var options = ProxyUnderTest.Options()
        options.maxHeaderBytes = "48KiB"
        let proxy = try ProxyUnderTest(fleet: fleet, options: options)
        // Byte by byte.
        let split = try proxy.connect()
        for byte in Array("GET /echo HTTP/1.1\r\nHost: t\r\nX-Server: server2\r\n\r\n".utf8) { try split.send([byte]) }
        #expect(try split.readResponse().header("X-Backend") == "apache2")
        // Larger than one receive buffer (16 KiB), within the limit.
        let padding = String(repeating: "p", count: 40_000)
        let big = try proxy.get("/echo", headers: ["X-Pad: \(padding)", "X-Server: server1"])
        #expect(big.header("X-Backend") == "apache1")
        #expect(big.bodyText.contains("X-Pad: \(padding)\n"))
        // Over the limit.
        let tooBig = try proxy.get("/", headers: ["X-Pad: \(padding)\(padding)"])
        #expect(tooBig.status == 431)
    }

    @Test func expect100ContinueIsForwardedAndThe100Relayed() throws {
        let fleet = try BackendFleet(names: ["apache1"])
        let proxy = try ProxyUnderTest(fleet: fleet)
        let connection = try proxy.connect()
        try connection.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n")
        let interim = try connection.readResponse(returnInterim: true)
        #expect(interim.status == 100)
        try connection.send("hello world")
        let final = try connection.readResponse(returnInterim: true)
        #expect(final.status == 200)
        #expect(final.bodyText.contains("Expect: 100-continue\n"))
        #expect(final.bodyText.contains("body-length: 11\n"))
    }

    @Test func aWebSocketEchoesThroughTheTunnel() throws {
        let fleet = try BackendFleet(names: ["apache1", "apache2"])
        let proxy = try ProxyUnderTest(fleet: fleet)
        let connection = try proxy.connect()
        try connection.send("""
            GET /ws HTTP/1.1\r
            Host: server.example.com\r
            X-Server: server2\r
            Upgrade: websocket\r
            Connection: Upgrade\r
            Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r
            Sec-WebSocket-Version: 13\r
            \r
            early
            """)
        let response = try connection.readResponse()
        #expect(response.status == 101)
        #expect(response.header("X-Backend") == "apache2")
        #expect(response.header("Sec-WebSocket-Accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        #expect(try connection.read(count: 5) == Array("early".utf8))
        for size in [1, 1000, 300_000] {
            let payload = patternBytes(count: size)
            try connection.send(payload)
            #expect(difference(try connection.read(count: size), from: payload) == nil)
        }
        connection.shutdownWrite()
        #expect(connection.isClosedByPeer(timeout: .seconds(5)))
    }

    @Test func connectionCloseFromEitherSideClosesTheClientConnection() throws {
        let fleet = try BackendFleet(names: ["apache1"])
        let proxy = try ProxyUnderTest(fleet: fleet)
        let byClient = try proxy.connect()
        try byClient.send("GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        let small = try byClient.readResponse()
        #expect(small.bodyText == "apache1\n")
        #expect(small.header("Connection") == "close")
        #expect(byClient.isClosedByPeer())

        // A response whose first read fills the worker's whole receive
        // buffer: no room for the field in place, the head goes out copied.
        for _ in 0..<3 {
            let big = try proxy.connect()
            try big.send("GET /bytes/300000 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            let response = try big.readResponse()
            #expect(response.header("Connection") == "close")
            #expect(difference(response.body, from: patternBytes(count: 300_000)) == nil)
            #expect(big.isClosedByPeer())
        }

        let byServer = try proxy.connect()
        try byServer.send("GET /close HTTP/1.1\r\nHost: t\r\n\r\n")
        let response = try byServer.readResponse()
        #expect(response.header("Connection") == "close")
        #expect(byServer.isClosedByPeer())

        let old = try proxy.connect()
        try old.send("GET / HTTP/1.0\r\n\r\n")
        #expect(try old.readResponse().bodyText == "apache1\n")
        #expect(old.isClosedByPeer())
    }

    @Test func aWorkerShortOfReceiveBuffersServesEveryoneAndCountsTheWaits() throws {
        // 64 buffers (the fewest) and 256 clients whose requests all arrive
        // at once: most receives find no buffer (ENOBUFS), wait, and must be
        // re-armed as buffers come back, round after round.
        let fleet = try BackendFleet(names: ["apache1"])
        var options = ProxyUnderTest.Options()
        options.environment = ["TETHER_RECEIVE_BUFFERS": "64"]
        let proxy = try ProxyUnderTest(fleet: fleet, options: options)
        let clients = try (0..<256).map { _ in try proxy.connect() }
        for round in 0..<4 {
            for client in clients { try client.send("GET /bytes/3000 HTTP/1.1\r\nHost: t\r\n\r\n") }
            for (k, client) in clients.enumerated() {
                let response = try client.readResponse()
                #expect(response.status == 200 && response.body.count == 3000, "round \(round), client \(k): \(response.status)")
            }
        }
        let status = try StatusTests.status(proxy)
        let workers = status["workers"] as? [[String: Any]] ?? []
        let waits = workers.compactMap { $0["buffer_waits"] as? Int }
        #expect(waits.reduce(0, +) > 0, "\(workers)")
    }

    @Test func clientsThatCloseAtOnceAllGetTheirResponses() throws {
        // Each client closes as soon as it has its response, so descriptors
        // are closed and handed out again at a high rate: ending one
        // connection must never touch the next one opened under its number.
        let fleet = try BackendFleet(names: ["apache1"])
        let proxy = try ProxyUnderTest(fleet: fleet)
        let port = proxy.port
        final class Failures: @unchecked Sendable {
            let lock = NSLock()
            var list: [String] = []
        }
        let failures = Failures()
        DispatchQueue.concurrentPerform(iterations: 4) { client in
            for n in 0 ..< 400 {
                do {
                    let connection = try RawHTTPConnection(port: port)
                    try connection.send("GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                    let response = try connection.readResponse()
                    if response.bodyText != "apache1\n" {
                        throw HarnessError("status \(response.status): \(response.bodyText)")
                    }
                    connection.close()
                } catch {
                    failures.lock.withLock { failures.list.append("client \(client), connection \(n): \(error)") }
                }
            }
        }
        let failed = failures.lock.withLock { failures.list }
        #expect(failed.count == 0, "of 1600, first: \(failed.prefix(3))")
    }

    @Test func aClientsConnectionCloseEndsOnlyTheClientConnection() throws {
        let fleet = try BackendFleet(names: ["apache1"])
        let proxy = try ProxyUnderTest(fleet: fleet)
        var serverConnections: [String] = []
        for _ in 0..<3 {
            let client = try proxy.connect()
            try client.send("GET /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            let response = try client.readResponse()
            #expect(response.status == 200)
            // The server saw the Connection line without its close option...
            #expect(response.bodyText.contains("Connection:"))
            #expect(!response.bodyText.lowercased().contains("close"))
            // ...and the client is told its connection ends, and it does.
            #expect(response.headerValues("Connection").contains("close"), "\(response.headers)")
            serverConnections.append(try #require(response.header("X-Backend-Connection")))
            #expect(client.isClosedByPeer())
        }
        // One server connection, pooled after each response.
        #expect(Set(serverConnections).count == 1, "\(serverConnections)")
    }

    @Test func aHalfClosedClientGetsEveryResponseItAskedFor() throws {
        let fleet = try BackendFleet(names: ["apache1"])
        let proxy = try ProxyUnderTest(fleet: fleet)
        let connection = try proxy.connect()
        try connection.send("GET /slow/50 HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n")
        connection.shutdownWrite()
        #expect(try connection.readResponse().status == 200)
        #expect(try connection.readResponse().bodyText == "apache1\n")
        #expect(connection.isClosedByPeer())
    }
}
