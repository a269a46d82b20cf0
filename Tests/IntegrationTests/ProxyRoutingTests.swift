import Testing

/// Header persistence through the real binary: DESIGN.md §1 as a client sees it.
@Suite(.serialized) struct ProxyRoutingTests {
    @Test func aPinnedValueAlwaysReachesItsServer() throws {
        let fleet = try BackendFleet(names: ["apache1", "apache2", "apache3"])
        let proxy = try ProxyUnderTest(fleet: fleet)
        // Fresh connections and one kept-alive connection alike.
        for _ in 0 ..< 12 {
            #expect(try proxy.get("/", headers: ["X-Server: server2"]).header("X-Backend") == "apache2")
        }
        let connection = try proxy.connect()
        for _ in 0 ..< 12 {
            try connection.send("GET / HTTP/1.1\r\nHost: t\r\nX-Server: server2\r\n\r\n")
            let response = try connection.readResponse()
            #expect(response.status == 200)
            #expect(response.bodyText == "apache2\n")
        }
    }

    @Test(arguments: ["x-server", "X-SERVER", "X-Server", "x-SeRvEr"])
    func headerNamesMatchInAnyCase(name: String) throws {
        let fleet = try BackendFleet(names: ["apache1", "apache2", "apache3"])
        let proxy = try ProxyUnderTest(fleet: fleet)
        for _ in 0 ..< 4 {
            #expect(try proxy.get("/", headers: ["\(name): server3"]).header("X-Backend") == "apache3")
        }
    }

    @Test func valuesAreTrimmedAndTheFirstHeaderCounts() throws {
        let fleet = try BackendFleet(names: ["apache1", "apache2", "apache3"])
        let proxy = try ProxyUnderTest(fleet: fleet)
        #expect(try proxy.get("/", headers: ["X-Server: \t server1 \t"]).header("X-Backend") == "apache1")
        #expect(try proxy.get("/", headers: ["X-Server: server3", "X-Server: server1"]).header("X-Backend") == "apache3")
    }

    @Test(arguments: [[String](), ["X-Server: nobody"], ["X-Server: Server2"], ["X-Server:"]])
    func unknownOrMissingValuesSpreadOverEveryServer(headers: [String]) throws {
        let fleet = try BackendFleet(names: ["apache1", "apache2", "apache3"])
        let proxy = try ProxyUnderTest(fleet: fleet)
        var seen: [String: Int] = [:]
        for _ in 0 ..< 30 {
            let response = try proxy.get("/", headers: headers)
            #expect(response.status == 200)
            seen[response.header("X-Backend") ?? "?", default: 0] += 1
        }
        #expect(Set(seen.keys) == ["apache1", "apache2", "apache3"], "\(seen)")
    }

    @Test func everyRequestOnAKeptAliveConnectionIsRoutedOnItsOwn() throws {
        let fleet = try BackendFleet(names: ["apache1", "apache2", "apache3"])
        let proxy = try ProxyUnderTest(fleet: fleet)
        let connection = try proxy.connect()
        let values = ["server1", "server3", "server2", "server3", "server1", "server2", "server2"]
        var backendConnections: [String: Set<String>] = [:]
        for value in values {
            try connection.send("GET /echo HTTP/1.1\r\nHost: t\r\nX-Server: \(value)\r\n\r\n")
            let response = try connection.readResponse()
            let expected = "apache" + value.dropFirst("server".count)
            #expect(response.header("X-Backend") == expected)
            backendConnections[expected, default: []].insert(response.header("X-Backend-Connection") ?? "")
        }
        // Server connections are reused from the keep-alive pool.
        #expect(backendConnections.values.allSatisfy { $0.count == 1 }, "\(backendConnections)")
    }

    @Test func pipelinedRequestsAreAnsweredInOrderEachOnItsServer() throws {
        let fleet = try BackendFleet(names: ["apache1", "apache2", "apache3"])
        let proxy = try ProxyUnderTest(fleet: fleet)
        let connection = try proxy.connect()
        let requests = [
            "GET /slow/150 HTTP/1.1\r\nHost: t\r\nX-Server: server3\r\n\r\n",
            "POST /echo HTTP/1.1\r\nHost: t\r\nX-Server: server1\r\nContent-Length: 5\r\n\r\nhello",
            "GET /bytes/300000 HTTP/1.1\r\nHost: t\r\nX-Server: server2\r\n\r\n",
            "GET /status/204 HTTP/1.1\r\nHost: t\r\nX-Server: server1\r\n\r\n",
            "HEAD /bytes/1000 HTTP/1.1\r\nHost: t\r\nX-Server: server3\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: t\r\nX-Server: server2\r\n\r\n",
        ]
        try connection.send(requests.joined())
        var responses: [HTTPTestResponse] = []
        for (k, _) in requests.enumerated() {
            responses.append(try connection.readResponse(requestMethod: k == 4 ? "HEAD" : "GET"))
        }
        #expect(responses.map(\.status) == [200, 200, 200, 204, 200, 200])
        #expect(responses.map { $0.header("X-Backend") ?? "" } == ["apache3", "apache1", "apache2", "apache1", "apache3", "apache2"])
        #expect(responses[1].bodyText.contains("body-length: 5\n"))
        #expect(difference(responses[2].body, from: patternBytes(count: 300_000)) == nil)
        #expect(responses[4].header("Content-Length") == "1000" && responses[4].body.isEmpty)
        #expect(!connection.hasData(within: .milliseconds(50)))
    }

    @Test func xForwardedForIsAppendedOrAdded() throws {
        let fleet = try BackendFleet(names: ["apache1"])
        let proxy = try ProxyUnderTest(fleet: fleet)
        let added = try proxy.get("/echo").bodyText
        #expect(added.contains("\nX-Forwarded-For: 127.0.0.1\n"), "\(added)")
        let appended = try proxy.get("/echo", headers: ["X-Forwarded-For: 203.0.113.7", "X-Other: 1"]).bodyText
        #expect(appended.contains("\nX-Forwarded-For: 203.0.113.7, 127.0.0.1\nX-Other: 1\n"), "\(appended)")
        let last = try proxy.get("/echo", headers: ["X-Forwarded-For: 10.0.0.1", "X-Forwarded-For: 10.0.0.2"]).bodyText
        #expect(last.contains("\nX-Forwarded-For: 10.0.0.1\nX-Forwarded-For: 10.0.0.2, 127.0.0.1\n"), "\(last)")
    }

    @Test func xForwardedForCanBeTurnedOff() throws {
        let fleet = try BackendFleet(names: ["apache1"])
        var options = ProxyUnderTest.Options()
        options.xForwardedFor = false
        let proxy = try ProxyUnderTest(fleet: fleet, options: options)
        #expect(!(try proxy.get("/echo").bodyText.contains("X-Forwarded-For")))
    }
}
