import Testing
import RoutingTable

@Suite struct RoundTrip {
    @Test func everyFieldReadsBack() throws {
        try withImage(exampleSpec()) { t in
            #expect(t.virtualServiceCount == 2)
            #expect(t.poolCount == 2)
            #expect(t.serverCount == 4)

            let www = t.virtualService(0)
            #expect(www.name == "www")
            #expect(www.listen == ["0.0.0.0:80", "[::]:80"])
            #expect(www.pool == 0)
            #expect(www.xForwardedFor)
            #expect(!www.tls && www.tlsService == nil)
            #expect(www.timeouts == Timeouts(clientHeaderMs: 10_000, clientIdleMs: 60_000, connectMs: 3_000, serverResponseMs: 30_000))
            #expect(www.maxHeaderBytes == 32 * 1024)
            let api = t.virtualService(1)
            #expect(api.name == "api" && api.pool == 1 && !api.xForwardedFor && api.maxHeaderBytes == 4096)
            #expect(api.timeouts == Timeouts(clientHeaderMs: 1, clientIdleMs: 2, connectMs: 3, serverResponseMs: 4))
            #expect(api.tls && api.tlsService?.spec == exampleTLS)
            #expect(api.tlsService?.certificate(1).serverNames == ["b.example", "*.b.example"])

            let web = t.pool(0)
            #expect(web.name == "web")
            #expect(web.servers == 0..<3)
            #expect(web.hasPersistence)
            #expect(Array(web.persistenceHeader) == bytes("x-server"))
            #expect(web.serverDown == .immediate)
            #expect(web.lbAlgorithm == .leastConnections)
            #expect(web.hashHeader == nil)
            #expect(web.whenAllDown == .localResponse && web.whenAllDownStatus == 503 && web.retryAfterSeconds == 5)
            #expect(web.headerValueCount == 3)
            #expect(web.rrCount == 4)

            let apiPool = t.pool(1)
            #expect(apiPool.servers == 3..<4)
            #expect(!apiPool.hasPersistence)
            #expect(apiPool.lbAlgorithm == .consistentHash)
            #expect(apiPool.hashHeader.map(Array.init) == bytes("x-user"))
            #expect(apiPool.maxConnectionsPerServer == 7)
            #expect(apiPool.whenAllDown == .redirect && apiPool.whenAllDownStatus == 302)
            #expect(Array(apiPool.redirectLocation) == bytes("https://sorry.example/"))

            let a2 = t.server(1)
            #expect(a2.name == "apache2" && a2.address == IPAddress("10.0.0.12")! && a2.port == 8080)
            #expect(a2.headerValue.map(Array.init) == bytes("server2"))
            #expect(a2.ratio == 2 && a2.enabled && a2.pool == 0)
            #expect(!t.server(2).enabled)
            #expect((0..<4).map { t.server($0).stateSlot } == [0, 1, 2, 3])
            let v6 = t.server(3)
            #expect(v6.address == IPAddress("2001:db8::1")! && v6.port == 443 && v6.headerValue == nil && v6.pool == 1)
            #expect(v6.identity == ServerIdentity.hash(address: IPAddress("2001:db8::1")!, port: 443))

            #expect(t.monitorCount == 2)
            #expect((0..<2).map { t.monitor(UInt32($0)).spec } == exampleMonitors)
            #expect(web.monitors == [1, 0])
            #expect(apiPool.monitors == [])
        }
    }

    @Test func expectedStatusMatchesClassesAndCodes() {
        let e = ExpectedStatus(classes: 1 << 2 | 1 << 3, codes: [404])
        #expect([200, 204, 299, 301, 399, 404].allSatisfy { e.matches($0) })
        #expect(![100, 199, 400, 403, 405, 500, 503, 0, 999].contains { e.matches($0) })
    }

    @Test func unknownMonitorIsRefused() {
        var spec = exampleSpec()
        spec.pools[1].healthMonitors = [2]
        #expect(throws: TableBuildError.unknownMonitor(pool: "api", index: 2)) { try TableBuilder.build(spec) }
    }

    @Test func buildIsDeterministic() throws {
        #expect(try TableBuilder.build(exampleSpec()) == TableBuilder.build(exampleSpec()))
    }

    @Test func explicitStateSlotsReadBack() throws {
        var spec = exampleSpec()
        spec.pools[0].servers[1].stateSlot = 4_000_000
        try withImage(spec) { t in #expect(t.server(1).stateSlot == 4_000_000 && t.server(0).stateSlot == 0) }
    }

    @Test func emptySpecBuilds() throws {
        try withImage(TableSpec()) { t in
            #expect(t.virtualServiceCount == 0 && t.poolCount == 0 && t.serverCount == 0)
        }
    }
}

@Suite struct Lookup {
    @Test(arguments: [("server1", 0), ("server2", 1), ("server3", 2)] as [(String, UInt32)])
    func everyValueFindsItsServer(value: String, server: UInt32) throws {
        try withImage(exampleSpec()) { t in #expect(t.pool(0).lookup(value) == server) }
    }

    @Test(arguments: ["", "server", "server10", "Server1", "server1 ", " server1", "server4", "x-server"])
    func nonValuesMiss(value: String) throws {
        try withImage(exampleSpec()) { t in #expect(t.pool(0).lookup(value) == nil) }
    }

    @Test func poolWithoutValuesMisses() throws {
        try withImage(exampleSpec()) { t in #expect(t.pool(1).lookup("server1") == nil) }
    }

    @Test func longAndBinaryValues() throws {
        let long = String(repeating: "abcdefgh", count: 64) + "xyz"
        let spec = TableSpec(pools: [PoolSpec(name: "p", persistence: PersistenceSpec(headerName: "h"), servers: [
            server("a", "127.0.0.1", 1, value: long),
            server("b", "127.0.0.1", 2, value: "é~!#$%&'*+-.^_`|"),
            server("c", "127.0.0.1", 3, value: "a b"),
        ])])
        try withImage(spec) { t in
            #expect(t.pool(0).lookup(long) == 0)
            #expect(t.pool(0).lookup(String(long.dropLast())) == nil)
            #expect(t.pool(0).lookup("é~!#$%&'*+-.^_`|") == 1)
            #expect(t.pool(0).lookup("a b") == 2)
        }
    }

    @Test func duplicateValueIsRefused() {
        let spec = TableSpec(pools: [PoolSpec(name: "p", persistence: PersistenceSpec(headerName: "h"), servers: [
            server("a", "127.0.0.1", 1, value: "same"), server("b", "127.0.0.1", 2, value: "same"),
        ])])
        #expect(throws: TableBuildError.duplicateHeaderValue(pool: "p", value: "same", servers: ("a", "b"))) {
            try TableBuilder.build(spec)
        }
    }

    @Test func sameValueInTwoPoolsIsFine() throws {
        let spec = TableSpec(pools: [
            PoolSpec(name: "p", persistence: PersistenceSpec(headerName: "h"), servers: [server("a", "127.0.0.1", 1, value: "v")]),
            PoolSpec(name: "q", persistence: PersistenceSpec(headerName: "h"), servers: [server("b", "127.0.0.1", 2, value: "v")]),
        ])
        try withImage(spec) { t in
            #expect(t.pool(0).lookup("v") == 0)
            #expect(t.pool(1).lookup("v") == 1)
        }
    }

    @Test func oneMillionValues() throws {
        let n = 1_000_000
        var servers: [ServerSpec] = []
        servers.reserveCapacity(n)
        for i in 0..<n {
            let address = IPAddress(v4: 10, UInt8(i >> 16 & 0xff), UInt8(i >> 8 & 0xff), UInt8(i & 0xff))
            servers.append(ServerSpec(name: "s\(i)", address: address, port: 8080, headerValue: "value-\(i)"))
        }
        let spec = TableSpec(pools: [PoolSpec(name: "big", persistence: PersistenceSpec(headerName: "X-Server"), servers: servers)])
        try withImage(spec) { t in
            let pool = t.pool(0)
            #expect(pool.headerValueCount == n)
            var misses = 0
            for i in stride(from: 0, to: n, by: 1) where pool.lookup("value-\(i)") != UInt32(i) { misses += 1 }
            #expect(misses == 0)
            #expect(pool.lookup("value-\(n)") == nil)
            #expect(pool.lookup("value--1") == nil)
        }
    }
}

@Suite struct Corruption {
    func image() throws -> [UInt8] { try TableBuilder.build(exampleSpec()) }

    func open(_ image: [UInt8]) -> TableImageError? {
        image.withUnsafeBytes { raw -> TableImageError? in
            do throws(TableImageError) { _ = try RoutingTableView(validating: raw); return nil } catch { return error }
        }
    }

    /// Rewrites the checksum so that structural checks, not the checksum, must catch a change.
    func resealed(_ image: [UInt8]) -> [UInt8] {
        var copy = image
        let first = copy[0..<16].withUnsafeBytes { TetherHash.hash($0, seed: 0x7465_7468_6572) }
        let sum = copy[24...].withUnsafeBytes { TetherHash.hash($0, seed: first) }
        withUnsafeBytes(of: sum.littleEndian) { for i in 0..<8 { copy[16 + i] = $0[i] } }
        return copy
    }

    @Test func intactImageOpens() throws { #expect(open(try image()) == nil) }

    @Test func everySingleByteFlipIsDetected() throws {
        let good = try image()
        for i in good.indices {
            var bad = good
            bad[i] ^= 0x40
            #expect(open(bad) != nil, "flip at \(i) not detected")
        }
    }

    @Test func truncationAndExtension() throws {
        let good = try image()
        #expect(open(Array(good.dropLast(8))) == .sizeMismatch(declared: UInt64(good.count), actual: good.count - 8))
        #expect(open(good + [0, 0, 0, 0, 0, 0, 0, 0]) == .sizeMismatch(declared: UInt64(good.count), actual: good.count + 8))
        #expect(open(Array(good.prefix(40))) == .tooSmall(40))
        #expect(open([]) == .tooSmall(0))
    }

    @Test func magicAndVersion() throws {
        var bad = try image()
        bad[0] = 0
        #expect(open(bad) == .badMagic(0x4C42_5400))
        bad = try image()
        bad[4] = 9
        #expect(open(bad) == .unsupportedVersion(9))
    }

    @Test func resealedBadReferencesAreCaught() throws {
        let good = try image()
        // Virtual service 0's pool index (section 0 offset + 16).
        let vs = Int(good[24]) | Int(good[25]) << 8
        var bad = good
        bad[vs + 16] = 99
        #expect(open(resealed(bad)) == .referenceOutOfBounds("virtual service 0 pool"))
        // Server section offset → point past the end.
        bad = good
        bad[40] = 0xff; bad[41] = 0xff
        #expect(open(resealed(bad)) == .sectionOutOfBounds("servers"))
        // A name longer than the strings section.
        bad = good
        bad[vs + 4] = 0xff; bad[vs + 5] = 0xff
        #expect(open(resealed(bad)) == .referenceOutOfBounds("virtual service 0 name"))
        // Pool 0's first monitor entry names a monitor that does not exist.
        let poolMonitors = Int(good[24 + 8 * 7]) | Int(good[25 + 8 * 7]) << 8
        bad = good
        bad[poolMonitors] = 2
        #expect(open(resealed(bad)) == .referenceOutOfBounds("pool 0 health monitor entry 0"))
        // A monitor's request longer than the strings section.
        let monitors = Int(good[24 + 8 * 6]) | Int(good[25 + 8 * 6]) << 8
        bad = good
        bad[monitors + 40 + 12] = 0xff; bad[monitors + 40 + 13] = 0xff
        #expect(open(resealed(bad)) == .referenceOutOfBounds("health monitor 1 request"))
    }

    @Test func misalignedBaseIsRefused() throws {
        let good = try image()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: good.count + 1, alignment: 16)
        defer { buffer.deallocate() }
        let shifted = UnsafeMutableRawBufferPointer(rebasing: buffer[1...])
        shifted.copyBytes(from: good)
        #expect(throws: TableImageError.self) { try RoutingTableView(validating: UnsafeRawBufferPointer(shifted)) }
    }
}
