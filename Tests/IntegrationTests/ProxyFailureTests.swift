import Glibc
import Testing

/// What the proxy does when clients, servers or time misbehave.
@Suite(.serialized) struct ProxyFailureTests {
    @Test(arguments: [
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5, 6\r\n\r\nhello!",
        "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\nabc",
        "GET / HTTP/1.1\r\nHost : t\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: t\r\nX-Folded: a\r\n b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: t\rX-Bare: cr\r\n\r\n",
        "GET / HTTP/1.1\r\nHo\u{01}st: t\r\n\r\n",
        "GET / HTTP/1.1\r\nX-Bad: a\u{00}b\r\n\r\n",
        "GET /  HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET / HTTP/2.0\r\nHost: t\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFF\r\n",
    ])
    func smugglingShapesAreAnswered400AndReachNoServer(request: String) throws {
        let fleet = try BackendFleet(names: ["apache1", "apache2"])
        let proxy = try ProxyUnderTest(fleet: fleet)
        let before = try fleet.requestCounts()
        let connection = try proxy.connect()
        try connection.send(request)
        let response = try connection.readResponse()
        #expect(response.status == 400)
        #expect(response.header("Connection") == "close")
        #expect(connection.isClosedByPeer())
        let after = try fleet.requestCounts()
        // Each /stats request counts itself once.
        #expect(after == before.mapValues { $0 + 1 }, "before \(before), after \(after)")
    }

    @Test func aServerThatClosesMidResponseNeverYieldsAWrongResponse() throws {
        let fleet = try BackendFleet(names: ["apache1"])
        let proxy = try ProxyUnderTest(fleet: fleet)
        for _ in 0 ..< 3 {
            let connection = try proxy.connect()
            try connection.send("GET /close-mid HTTP/1.1\r\nHost: t\r\n\r\n")
            // The head (Content-Length: 1000) went out before the server
            // broke off: the client sees the connection close short of it.
            do {
                let response = try connection.readResponse()
                #expect(response.status == 502, "got a complete \(response.status) from a broken server")
            } catch let error as HarnessError {
                #expect(error.description.contains("closed"), "\(error)")
            }
        }
        // The proxy is fine afterwards.
        #expect(try proxy.get("/").bodyText == "apache1\n")
    }

    @Test func aClientThatVanishesMidBodyReleasesItsServer() throws {
        // One server, at most one request in flight to it: if the vanished
        // client's request stayed counted, the next request would get a 503.
        let fleet = try BackendFleet(names: ["apache1"])
        var options = ProxyUnderTest.Options()
        options.maxConnectionsPerServer = 1
        let proxy = try ProxyUnderTest(fleet: fleet, options: options)
        for _ in 0 ..< 3 {
            let connection = try proxy.connect()
            try connection.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n")
            try connection.send(patternBytes(count: 100_000))
            connection.close()
            var last = 0
            #expect(try eventually {
                last = try proxy.get("/").status
                return last == 200
            }, "last status \(last)")
        }
        // While a request is in flight, the limit holds.
        let slow = try proxy.connect()
        try slow.send("GET /slow/1500 HTTP/1.1\r\nHost: t\r\n\r\n")
        var full: HTTPTestResponse?
        #expect(try eventually {
            full = try proxy.get("/")
            return full?.status == 503
        })
        // when_all_down's default: a local 503 with Retry-After: 5.
        #expect(full?.header("Retry-After") == "5")
        #expect(full?.header("Connection") == "close")
        #expect(try slow.readResponse().status == 200)
        #expect(try proxy.get("/").status == 200)
    }

    @Test func whenAllDownCanRedirect() throws {
        let fleet = try BackendFleet(names: ["apache1"])
        var options = ProxyUnderTest.Options()
        options.maxConnectionsPerServer = 1
        options.whenAllDown = "{ action: redirect, status: 302, location: \"https://sorry.example/down\" }"
        let proxy = try ProxyUnderTest(fleet: fleet, options: options)
        let slow = try proxy.connect()
        try slow.send("GET /slow/1500 HTTP/1.1\r\nHost: t\r\n\r\n")
        var redirect: HTTPTestResponse?
        #expect(try eventually {
            redirect = try proxy.get("/")
            return redirect?.status == 302
        })
        #expect(redirect?.header("Location") == "https://sorry.example/down")
        #expect(redirect?.header("Content-Length") == "0")
        #expect(try slow.readResponse().status == 200)
    }

    @Test func timeoutsAnswer408And504() throws {
        let fleet = try BackendFleet(names: ["apache1"])
        var options = ProxyUnderTest.Options()
        options.clientHeader = "300ms"
        options.serverResponse = "400ms"
        options.clientIdle = "1s"
        let proxy = try ProxyUnderTest(fleet: fleet, options: options)

        let partial = try proxy.connect()
        try partial.send("GET / HTTP/1.1\r\nHost: t\r\n")
        let timedOut = try partial.readResponse()
        #expect(timedOut.status == 408)
        #expect(partial.isClosedByPeer())

        let slow = try proxy.connect()
        try slow.send("GET /slow/2000 HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(try slow.readResponse().status == 504)

        let idle = try proxy.connect()
        #expect(idle.isClosedByPeer(timeout: .seconds(5)))
    }

    @Test func aFailedConnectIsRetriedOnceForABalancedRequest() throws {
        let fleet = try BackendFleet(names: ["apache1"])
        let deadPort = try freeLoopbackPort()
        var options = ProxyUnderTest.Options()
        options.deadServers = [(name: "gone", port: deadPort, headerValue: "gone")]
        let proxy = try ProxyUnderTest(fleet: fleet, options: options)
        for _ in 0 ..< 6 {
            #expect(try proxy.get("/").bodyText == "apache1\n")
        }
        // Pinned under `immediate`: retried on another server too.
        #expect(try proxy.get("/", headers: ["X-Server: gone"]).bodyText == "apache1\n")
    }

    @Test func underNeverAPinnedRequestIsNotRetried() throws {
        let fleet = try BackendFleet(names: ["apache1"])
        let deadPort = try freeLoopbackPort()
        var options = ProxyUnderTest.Options()
        options.serverDown = "never"
        options.deadServers = [(name: "gone", port: deadPort, headerValue: "gone")]
        let proxy = try ProxyUnderTest(fleet: fleet, options: options)
        let response = try proxy.get("/", headers: ["X-Server: gone"])
        #expect(response.status == 502)
        #expect(response.header("Connection") == "close")
    }

    @Test func sigtermFinishesInFlightRequestsAndRefusesNewOnes() throws {
        let fleet = try BackendFleet(names: ["apache1"])
        let proxy = try ProxyUnderTest(fleet: fleet)
        let inFlight = try proxy.connect()
        try inFlight.send("GET /slow/700 HTTP/1.1\r\nHost: t\r\n\r\n")
        let idle = try proxy.connect()
        // The proxy has a connection open to the server (the /stats one is the other).
        #expect(try eventually { (try fleet.stats("apache1")["open"] ?? 0) >= 2 })
        try proxy.process.send(signal: SIGTERM)
        #expect(eventually { (try? RawHTTPConnection(port: proxy.port, timeout: .seconds(1))) == nil })
        #expect(idle.isClosedByPeer())
        let response = try inFlight.readResponse()
        #expect(response.status == 200)
        #expect(response.bodyText.hasPrefix("apache1"))
        // The keep-alive client is told this connection ends with the response.
        #expect(response.headerValues("Connection").contains("close"), "\(response.headers)")
        #expect(inFlight.isClosedByPeer())
        #expect(try proxy.process.waitForExit(timeout: .seconds(10)) == .exited(0))
    }
}
