import Testing
import RoutingTable
import Selection

/// Server load from plain values: what the worker reads from shared memory.
struct Load: ServerLoad {
    var down: Set<UInt32> = []
    var inFlight: [UInt32: UInt32] = [:]
    func isDown(_ s: UInt32) -> Bool { down.contains(s) }
    func inFlight(_ s: UInt32) -> UInt32 { inFlight[s] ?? 0 }
}

func spec(policy: ServerDownPolicy = .immediate, algorithm: LBAlgorithm = .roundRobin, limit: UInt32 = 0,
          whenAllDown: WhenAllDown = .localResponse(status: 503, retryAfterSeconds: 5),
          servers: [ServerSpec]? = nil, persistence: Bool = true) -> TableSpec {
    let list = servers ?? (1...5).map { i in
        ServerSpec(name: "apache\(i)", address: IPAddress(v4: 10, 0, 0, UInt8(10 + i)), port: 8080, headerValue: "server\(i)")
    }
    return TableSpec(
        virtualServices: [VirtualServiceSpec(name: "www", listen: ["127.0.0.1:8080"], pool: 0)],
        pools: [PoolSpec(name: "web", lbAlgorithm: algorithm,
                         persistence: persistence ? PersistenceSpec(headerName: "X-Server", serverDown: policy) : nil,
                         maxConnectionsPerServer: limit, whenAllDown: whenAllDown, servers: list)])
}

/// Builds the table and a selector over it, and routes through `body`.
func with<R>(_ s: TableSpec, seed: UInt32 = 0, _ body: (inout Selector) throws -> R) throws -> R {
    let image = try TableBuilder.build(s)
    return try image.withUnsafeBytes { raw in
        var selector = Selector(table: try RoutingTableView(validating: raw), seed: seed)
        return try body(&selector)
    }
}

extension Selector {
    mutating func route(_ value: String?, key: UInt64 = 0, excluding: UInt32 = noServer, load: Load = Load()) -> Route {
        guard let value else { return route(pool: 0, persistenceValue: nil, hashKey: key, excluding: excluding, load: load) }
        return Array(value.utf8).withUnsafeBytes {
            route(pool: 0, persistenceValue: $0, hashKey: key, excluding: excluding, load: load)
        }
    }
}

func forwarded(_ r: Route) -> UInt32? {
    if case let .forward(s, _) = r { return s }
    return nil
}

@Suite struct Pinning {
    @Test(arguments: 1...5)
    func valuePinsToItsServer(i: Int) throws {
        try with(spec()) { sel in
            for _ in 0..<10 { #expect(sel.route("server\(i)") == .forward(server: UInt32(i - 1), reason: .pinned)) }
        }
    }

    @Test(arguments: [nil, "", "server6", "SERVER1", "server1x"] as [String?])
    func noMatchIsBalancedOverAll(value: String?) throws {
        try with(spec()) { sel in
            var seen: Set<UInt32> = []
            for _ in 0..<5 {
                let r = sel.route(value)
                guard case let .forward(s, reason) = r else { Issue.record("\(r)"); return }
                #expect(reason == .balanced)
                seen.insert(s)
            }
            #expect(seen == [0, 1, 2, 3, 4])
        }
    }

    @Test func poolWithoutProfileIgnoresTheHeader() throws {
        try with(spec(persistence: false)) { sel in
            let picks = (0..<5).map { _ in sel.route("server1") }
            #expect(picks.allSatisfy { if case .forward(_, .balanced) = $0 { true } else { false } })
            #expect(Set(picks.compactMap(forwarded)).count == 5)
        }
    }
}

@Suite struct Immediate {
    @Test func downServerFailsOverToOneStableReplacement() throws {
        let load = Load(down: [1])
        let first = try with(spec()) { sel in sel.route("server2", load: load) }
        guard case let .forward(replacement, .failover) = first else { Issue.record("\(first)"); return }
        #expect(replacement != 1)
        // The same in every worker (other seeds), on every request, and after a rebuild.
        for seed: UInt32 in [0, 1, 7, 12345] {
            try with(spec(), seed: seed) { sel in
                for _ in 0..<20 { #expect(sel.route("server2", load: load) == first) }
            }
        }
    }

    @Test func replacementDoesNotDependOnListOrderOrNames() throws {
        var reordered = spec()
        reordered.pools[0].servers.reverse()
        for i in reordered.pools[0].servers.indices { reordered.pools[0].servers[i].name = "renamed\(i)" }
        let load = Load(down: [1])
        let original = try with(spec()) { sel in forwarded(sel.route("server2", load: load)) }
        let downInReordered = UInt32(reordered.pools[0].servers.firstIndex { $0.headerValue == "server2" }!)
        let moved = try with(reordered) { sel in forwarded(sel.route("server2", load: Load(down: [downInReordered]))) }
        let a = spec().pools[0].servers[Int(original!)]
        let b = reordered.pools[0].servers[Int(moved!)]
        #expect(a.address == b.address && a.port == b.port)
    }

    @Test func returnsToPinnedServerWhenItIsBack() throws {
        try with(spec()) { sel in
            #expect(forwarded(sel.route("server3", load: Load(down: [2]))) != 2)
            #expect(sel.route("server3") == .forward(server: 2, reason: .pinned))
        }
    }

    @Test func replacementStaysWhenAnUnrelatedServerFails() throws {
        try with(spec()) { sel in
            let r = forwarded(sel.route("server1", load: Load(down: [0])))!
            let other = (1..<5).map(UInt32.init).first { $0 != r }!
            #expect(forwarded(sel.route("server1", load: Load(down: [0, other]))) == r)
        }
    }

    @Test func replacementsSpreadByRatio() throws {
        // Many distinct values pinned to a dead server spread over the others by ratio.
        var servers = [ServerSpec(name: "dead", address: IPAddress(v4: 10, 0, 0, 1), port: 80)]
        for (i, ratio) in [1, 2, 3].enumerated() {
            servers.append(ServerSpec(name: "s\(i)", address: IPAddress(v4: 10, 0, 0, UInt8(2 + i)), port: 80, ratio: UInt8(ratio)))
        }
        // Each key stands for one header value whose server (0) is down.
        let image = try TableBuilder.build(spec(servers: servers))
        try image.withUnsafeBytes { raw in
            let table = try RoutingTableView(validating: raw)
            var counts = [UInt32: Int]()
            let n = 60_000
            for k in 0..<n {
                let key = TetherHash.mix(UInt64(k))
                counts[Rendezvous.pick(pool: table.pool(0), table: table, key: key, excluding: 0, load: Load())!, default: 0] += 1
            }
            for (server, ratio) in [(UInt32(1), 1.0), (2, 2.0), (3, 3.0)] {
                let share = Double(counts[server] ?? 0) / Double(n)
                #expect(abs(share - ratio / 6) < 0.01, "server \(server) share \(share)")
            }
        }
    }

    @Test func disabledOrFullPinnedServerAlsoFailsOver() throws {
        var s = spec(limit: 2)
        s.pools[0].servers[0].enabled = false
        try with(s) { sel in
            if case .forward(let r, .failover) = sel.route("server1") { #expect(r != 0) } else { Issue.record("disabled") }
            if case .forward(let r, .failover) = sel.route("server2", load: Load(inFlight: [1: 2])) { #expect(r != 1) } else { Issue.record("full") }
            #expect(sel.route("server2", load: Load(inFlight: [1: 1])) == .forward(server: 1, reason: .pinned))
        }
    }

    @Test func noReplacementAppliesWhenAllDown() throws {
        let all = Load(down: [0, 1, 2, 3, 4])
        try with(spec()) { sel in #expect(sel.route("server1", load: all) == .respond(status: 503, retryAfter: 5)) }
        try with(spec(whenAllDown: .close)) { sel in #expect(sel.route("server1", load: all) == .close) }
        try with(spec(whenAllDown: .redirect(status: 302, location: "https://x/"))) { sel in
            #expect(sel.route("server1", load: all) == .redirect(status: 302, pool: 0))
        }
    }

    @Test func failedConnectRetriesElsewhere() throws {
        try with(spec()) { sel in
            guard case let .forward(r, .failover) = sel.route("server1", excluding: 0) else { Issue.record("no retry"); return }
            #expect(r != 0)
            // A balanced retry avoids the failed server too.
            for _ in 0..<10 { #expect(forwarded(sel.route(nil, excluding: 3)) != 3) }
        }
    }
}

@Suite struct Never {
    @Test func downByMonitorStillGoesToPinnedServer() throws {
        try with(spec(policy: .never)) { sel in
            #expect(sel.route("server2", load: Load(down: [1])) == .forward(server: 1, reason: .pinned))
            #expect(sel.route("server2", load: Load(down: [0, 1, 2, 3, 4])) == .forward(server: 1, reason: .pinned))
        }
    }

    @Test func disabledOrAtLimitAnswers503() throws {
        var s = spec(policy: .never, limit: 3)
        s.pools[0].servers[1].enabled = false
        try with(s) { sel in
            #expect(sel.route("server2") == .respond(status: 503, retryAfter: 0))
            #expect(sel.route("server3", load: Load(inFlight: [2: 3])) == .respond(status: 503, retryAfter: 0))
            #expect(sel.route("server3", load: Load(inFlight: [2: 2])) == .forward(server: 2, reason: .pinned))
        }
    }

    @Test func neverPicksAnotherServerEvenAfterFailedConnect() throws {
        try with(spec(policy: .never)) { sel in #expect(sel.route("server2", excluding: 1) == .respond(status: 502, retryAfter: 0)) }
    }

    @Test func unpinnedRequestsAreStillBalanced() throws {
        try with(spec(policy: .never)) { sel in
            #expect(Set((0..<4).compactMap { _ in forwarded(sel.route(nil, load: Load(down: [0]))) }) == [1, 2, 3, 4])
        }
    }
}

@Suite struct Abort {
    @Test func unavailablePinnedServerClosesTheConnection() throws {
        try with(spec(policy: .abort)) { sel in
            #expect(sel.route("server4", load: Load(down: [3])) == .close)
            #expect(sel.route("server4") == .forward(server: 3, reason: .pinned))
        }
    }
}

@Suite struct Balancing {
    func weighted(_ algorithm: LBAlgorithm) -> TableSpec {
        spec(algorithm: algorithm, servers: [1, 2, 3, 4].enumerated().map { i, r in
            ServerSpec(name: "s\(i)", address: IPAddress(v4: 10, 0, 1, UInt8(i)), port: 80, ratio: UInt8(r))
        })
    }

    @Test func roundRobinHonoursRatiosExactlyEachCycle() throws {
        try with(weighted(.roundRobin)) { sel in
            var counts = [UInt32: Int]()
            for _ in 0..<(10 * 100) { counts[forwarded(sel.route(nil))!, default: 0] += 1 }
            #expect(counts == [0: 100, 1: 200, 2: 300, 3: 400])
        }
    }

    @Test func roundRobinSkipsUnavailableAndDisabled() throws {
        var s = weighted(.roundRobin)
        s.pools[0].servers[3].enabled = false
        try with(s) { sel in
            var counts = [UInt32: Int]()
            for _ in 0..<600 { counts[forwarded(sel.route(nil, load: Load(down: [1])))!, default: 0] += 1 }
            #expect(counts.keys.sorted() == [0, 2])
            #expect(counts[0]! == 150 && counts[2]! == 450)
        }
    }

    @Test func workersStartAtDifferentPlaces() throws {
        let a = try with(spec(), seed: 0) { sel in forwarded(sel.route(nil)) }
        let b = try with(spec(), seed: 1) { sel in forwarded(sel.route(nil)) }
        #expect(a != b)
    }

    @Test func leastConnectionsPicksTheLeastLoadedPerRatio() throws {
        try with(weighted(.leastConnections)) { sel in
            // in-flight/ratio: 4/1, 6/2, 3/3, 8/4 → server 2.
            #expect(forwarded(sel.route(nil, load: Load(inFlight: [0: 4, 1: 6, 2: 3, 3: 8]))) == 2)
            // 0/1 beats everything.
            #expect(forwarded(sel.route(nil, load: Load(inFlight: [1: 1, 2: 1, 3: 1]))) == 0)
        }
    }

    @Test func leastConnectionsSharesTies() throws {
        try with(spec(algorithm: .leastConnections)) { sel in
            #expect(Set((0..<5).compactMap { _ in forwarded(sel.route(nil)) }) == [0, 1, 2, 3, 4])
        }
    }

    @Test func leastConnectionsRespectsLimit() throws {
        try with(spec(algorithm: .leastConnections, limit: 1)) { sel in
            let full = Load(inFlight: [0: 1, 1: 1, 2: 1, 3: 1])
            #expect(forwarded(sel.route(nil, load: full)) == 4)
            #expect(sel.route(nil, load: Load(inFlight: [0: 1, 1: 1, 2: 1, 3: 1, 4: 1])) == .respond(status: 503, retryAfter: 5))
        }
    }

    @Test func consistentHashDistributesByRatio() throws {
        try with(weighted(.consistentHash)) { sel in
            var counts = [UInt32: Int]()
            let n = 50_000
            for k in 0..<n { counts[forwarded(sel.route(nil, key: TetherHash.mix(UInt64(k))))!, default: 0] += 1 }
            for s in 0..<4 {
                let share = Double(counts[UInt32(s)] ?? 0) / Double(n)
                #expect(abs(share - Double(s + 1) / 10) < 0.01, "server \(s) share \(share)")
            }
        }
    }

    @Test func consistentHashMovesOnlyTheLeavingServersKeys() throws {
        try with(weighted(.consistentHash)) { sel in
            var moved = 0, wrongly = 0
            for k in 0..<20_000 {
                let key = TetherHash.mix(UInt64(k))
                let before = forwarded(sel.route(nil, key: key))!
                let after = forwarded(sel.route(nil, key: key, load: Load(down: [2])))!
                if before != after {
                    moved += 1
                    if before != 2 { wrongly += 1 }
                }
            }
            #expect(wrongly == 0)
            #expect(moved > 0)
        }
    }

    @Test func allDownForBalancedRequests() throws {
        var s = spec()
        for i in s.pools[0].servers.indices { s.pools[0].servers[i].enabled = false }
        try with(s) { sel in #expect(sel.route(nil) == .respond(status: 503, retryAfter: 5)) }
        try with(spec(servers: [])) { sel in #expect(sel.route(nil) == .respond(status: 503, retryAfter: 5)) }
    }
}

@Suite struct StateSlots {
    @Test func loadIsReadThroughTheServersStateSlot() throws {
        var s = spec()
        for i in s.pools[0].servers.indices { s.pools[0].servers[i].stateSlot = UInt32(100 + i) }
        try with(s) { sel in
            #expect(forwarded(sel.route("server2", load: Load(down: [101]))) != 1)
            #expect(sel.route("server2", load: Load(down: [1])) == .forward(server: 1, reason: .pinned))
            #expect(sel.route("server2", load: Load(down: [101], inFlight: [1: 9])) != .forward(server: 1, reason: .pinned))
        }
    }
}
