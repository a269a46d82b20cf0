import Foundation
import Glibc
import Testing

/// A worker killed with SIGKILL runs no code of its own: the supervisor
/// takes what it held (requests in flight, server connections) back out of
/// the shared server counts, so limits, least-connections and status see
/// only what the living workers hold.
@Suite(.serialized) struct KilledWorkerTests {
    static let slowRequest = "GET /slow/20000 HTTP/1.1\r\nHost: t\r\nX-Server: server1\r\n\r\n"

    /// `name`'s requests in flight and open connections, as `tether status --json` shows them.
    static func counts(_ proxy: ProxyUnderTest, _ name: String) throws -> (inFlight: Int, connections: Int) {
        let server = StatusTests.server(try StatusTests.status(proxy), name)
        return (StatusTests.number(server, "in_flight"), StatusTests.number(server, "connections_open"))
    }

    /// Polls until `name` shows `inFlight` requests and `connections` connections.
    static func waitForCounts(_ proxy: ProxyUnderTest, _ name: String, inFlight: Int, connections: Int) throws -> Bool {
        var seen = (inFlight: -1, connections: -1)
        let reached = try eventually {
            seen = try counts(proxy, name)
            return seen.inFlight == inFlight && seen.connections == connections
        }
        if !reached {
            Issue.record("\(name): \(seen.inFlight) in flight and \(seen.connections) connections, not \(inFlight) and \(connections)\n\(proxy.process.logs)")
        }
        return reached
    }

    /// Sends a slow request pinned to apache1 on each of `count` fresh connections.
    static func holdSlowRequests(_ proxy: ProxyUnderTest, count: Int) throws -> [RawHTTPConnection] {
        try (0 ..< count).map { _ in
            let connection = try proxy.connect(timeout: .seconds(30))
            try connection.send(slowRequest)
            return connection
        }
    }

    @Test func aKilledWorkersRequestsAndConnectionsStopCountingAndItsServerTakesItsFullLimitAgain() throws {
        let fleet = try BackendFleet(names: ["apache1", "apache2"])
        var options = ProxyUnderTest.Options()
        options.maxConnectionsPerServer = 2
        options.serverDown = "never"  // at its limit, a pinned request is answered 503
        let proxy = try ProxyUnderTest(fleet: fleet, options: options)
        let victim = try SupervisorTests.workers(of: proxy, count: 1)[0]

        // apache1's two allowed requests, and an idle pooled connection to apache2.
        let held = try Self.holdSlowRequests(proxy, count: 2)
        defer { held.forEach { $0.close() } }
        #expect(try Self.waitForCounts(proxy, "apache1", inFlight: 2, connections: 2))
        #expect(try proxy.get("/", headers: ["X-Server: server1"]).status == 503)
        #expect(try proxy.get("/", headers: ["X-Server: server2"]).status == 200)
        // Pooled for 4 s: a slow machine may have closed it already.
        let pooled = try Self.counts(proxy, "apache2").connections
        #expect(pooled == 1 || pooled == 0)

        #expect(kill(victim, SIGKILL) == 0)
        _ = try SupervisorTests.workers(of: proxy, count: 1, excluding: [victim])
        #expect(try Self.waitForCounts(proxy, "apache1", inFlight: 0, connections: 0))
        #expect(try Self.waitForCounts(proxy, "apache2", inFlight: 0, connections: 0))
        #expect(proxy.process.stderr.contains("held 2 requests in flight and \(2 + pooled) server connections"),
                "\(proxy.process.logs)")

        // Both of apache1's places are free again, and there are still only two.
        let again = try Self.holdSlowRequests(proxy, count: 2)
        defer { again.forEach { $0.close() } }
        #expect(try Self.waitForCounts(proxy, "apache1", inFlight: 2, connections: 2))
        #expect(try proxy.get("/", headers: ["X-Server: server1"]).status == 503)
    }

    @Test func onlyTheKilledWorkersShareIsTakenBack() throws {
        let fleet = try BackendFleet(names: ["apache1"])
        var options = ProxyUnderTest.Options()
        options.workers = "2"
        let proxy = try ProxyUnderTest(fleet: fleet, options: options)
        _ = try SupervisorTests.workers(of: proxy, count: 2)

        // Slow requests until both workers hold some: the kernel spreads
        // connections over the two workers' listening sockets.
        var held: [RawHTTPConnection] = []
        defer { held.forEach { $0.close() } }
        var clients: [Int32: Int] = [:]
        while held.count < 24 && clients.values.filter({ $0 > 0 }).count < 2 {
            held += try Self.holdSlowRequests(proxy, count: 4)
            #expect(try Self.waitForCounts(proxy, "apache1", inFlight: held.count, connections: held.count))
            // Each worker's client connections: one held request each.
            _ = try eventually {
                let workers = try StatusTests.status(proxy)["workers"] as? [[String: Any]] ?? []
                clients = [:]
                for w in workers { clients[Int32(StatusTests.number(w, "pid"))] = StatusTests.number(w, "connections_open") }
                return clients.values.reduce(0, +) == held.count
            }
        }
        guard let (victim, lost) = clients.first(where: { $0.value > 0 && $0.value < held.count }) else {
            Issue.record("one worker holds all \(held.count) requests: \(clients)")
            return
        }

        #expect(kill(victim, SIGKILL) == 0)
        _ = try SupervisorTests.workers(of: proxy, count: 2, excluding: [victim])
        let kept = held.count - lost
        #expect(try Self.waitForCounts(proxy, "apache1", inFlight: kept, connections: kept))
    }

    @Test func aKilledWorkerBeingReplacedTakesBackOnlyItsOwnShare() throws {
        let fleet = try BackendFleet(names: ["apache1"])
        let options = ProxyUnderTest.Options()
        let proxy = try ProxyUnderTest(fleet: fleet, options: options)
        let old = try SupervisorTests.workers(of: proxy, count: 1)[0]
        let first = try Self.holdSlowRequests(proxy, count: 1)
        defer { first.forEach { $0.close() } }
        #expect(try Self.waitForCounts(proxy, "apache1", inFlight: 1, connections: 1))

        // A listen change replaces the worker; the old one drains its slow
        // request in the same worker slot as its successor.
        let added = try freeLoopbackPort()
        try ReloadTests.writeListen([proxy.port, added], proxy: proxy, options: options)
        #expect(try proxy.reload().status == .exited(0))
        try proxy.process.waitForLine(containing: "draining pid \(old)", in: .stderr)
        #expect(processExists(old))
        let second = try RawHTTPConnection(port: added, timeout: .seconds(30))
        defer { second.close() }
        // Longer than the wait below: the successor's request is still in flight then.
        try second.send("GET /slow/15000 HTTP/1.1\r\nHost: t\r\nX-Server: server1\r\n\r\n")
        #expect(try Self.waitForCounts(proxy, "apache1", inFlight: 2, connections: 2))

        #expect(kill(old, SIGKILL) == 0)
        #expect(try Self.waitForCounts(proxy, "apache1", inFlight: 1, connections: 1))
        // The successor's request ends and uncounts itself: nothing below zero.
        #expect(try second.readResponse().status == 200)
        var after = (inFlight: -1, connections: -1)
        #expect(try eventually {
            after = try Self.counts(proxy, "apache1")
            return after.inFlight == 0 && (0 ... 1).contains(after.connections)  // its connection may be pooled
        }, "\(after)\n\(proxy.process.logs)")
    }

    /// Three holdings records per worker slot: a listen change while the
    /// workers of two earlier ones still drain waits until one has exited.
    @Test func aThirdListenChangeWhileTwoGenerationsDrainIsRefusedUntilOneHasExited() throws {
        let fleet = try BackendFleet(names: ["apache1"])
        let options = ProxyUnderTest.Options()
        let proxy = try ProxyUnderTest(fleet: fleet, options: options)
        let first = try SupervisorTests.workers(of: proxy, count: 1)[0]
        var ports = [proxy.port]
        var held: [RawHTTPConnection] = []
        defer { held.forEach { $0.close() } }
        var draining: [pid_t] = []
        var current = first
        for _ in 0 ..< 2 {
            // A slow request keeps the current worker draining once it is replaced.
            let connection = try RawHTTPConnection(port: ports.last!, timeout: .seconds(30))
            try connection.send(Self.slowRequest)
            held.append(connection)
            #expect(try Self.waitForCounts(proxy, "apache1", inFlight: held.count, connections: held.count))
            ports.append(try freeLoopbackPort())
            try ReloadTests.writeListen(ports, proxy: proxy, options: options)
            let reload = try proxy.reload()
            #expect(reload.status == .exited(0), "\(reload.stderr)")
            try proxy.process.waitForLine(containing: "draining pid \(current)", in: .stderr)
            draining.append(current)
            current = try SupervisorTests.workers(of: proxy, count: draining.count + 1).first { !draining.contains($0) }!
        }

        ports.append(try freeLoopbackPort())
        try ReloadTests.writeListen(ports, proxy: proxy, options: options)
        let refused = try proxy.reload()
        #expect(refused.status == .exited(1))
        #expect(refused.stderr.contains("workers replaced by an earlier listen change are still draining"), "\(refused.stderr)")

        #expect(kill(first, SIGKILL) == 0)
        #expect(try Self.waitForCounts(proxy, "apache1", inFlight: 1, connections: 1))
        let applied = try proxy.reload()
        #expect(applied.status == .exited(0), "\(applied.stderr)\n\(proxy.process.logs)")
        #expect(ReloadTests.answers(ports.last!))
    }
}
