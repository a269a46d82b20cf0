import Foundation
import Testing
import Posix
import Ring
@testable import Worker
import RoutingTable

@Suite struct SystemTests {
    @Test(arguments: [
        ("10.1.2.3", "10.1.2.3"),
        ("::1", "::1"),
        ("2001:db8::7", "2001:db8::7"),
        ("::ffff:192.0.2.9", "192.0.2.9"),   // a dual-stack listener's IPv4 client
    ])
    func addressTextForXForwardedFor(address: String, expected: String) {
        let a = SocketAddress(IPAddress(address)!, port: 8080)
        #expect(a.port == 8080)
        var out = [UInt8](repeating: 0, count: 64)
        let n = out.withUnsafeMutableBytes { a.formatHost(into: $0) }
        #expect(String(decoding: out[0..<n], as: UTF8.self) == expected)
    }

    @Test(arguments: [(UInt8(1), UInt32(0), UInt32(0)), (200, UserData.maxSlot, .max), (7, 12345, 99)])
    func userDataRoundTrips(kind: UInt8, slot: UInt32, generation: UInt32) {
        let u = UserData(kind: kind, slot: slot, generation: generation)
        #expect(u.kind == kind && u.slot == slot && u.generation == generation)
    }

    @Test func posixErrorsNameTheCall() {
        #expect(throws: PosixError.self) {
            // Binding twice to one port without SO_REUSEPORT on the second socket.
            let a = try Posix.socket(family: 2, type: 1)
            defer { Posix.close(a) }
            try Posix.bind(a, SocketAddress(IPAddress("127.0.0.1")!, port: 0))
            let bound = try Posix.localAddress(a)
            let b = try Posix.socket(family: 2, type: 1)
            defer { Posix.close(b) }
            try Posix.bind(b, bound)
        }
        let e = PosixError("bind", errno: 98)
        #expect(e.description.hasPrefix("bind: "))
    }

    @Test func serverCountersCountPerSlot() {
        let counters = ServerCounters.allocatePrivate(servers: 3)
        #expect(counters.reserve(1, limit: 0))
        #expect(counters.reserve(1, limit: 0))
        counters.decrement(1)
        #expect(counters.inFlight(1) == 1)
        #expect(counters.inFlight(0) == 0)
        counters.setDown(2, true)
        #expect(counters.isDown(2) && !counters.isDown(1))
    }

    @Test func serverCountersReadRecordsOfASharedRegion() {
        // Records of 16 bytes: [down, inFlight, other, other].
        let memory = UnsafeMutableRawPointer.allocate(byteCount: 16 * 4, alignment: 64)
        defer { memory.deallocate() }
        memory.initializeMemory(as: UInt8.self, repeating: 0, count: 64)
        let counters = ServerCounters(inFlight: memory + 4, down: memory, stride: 16, servers: 4,
                                      holdings: .allocatePrivate(servers: 4))
        #expect(counters.reserve(3, limit: 0))
        counters.setDown(1, true)
        #expect(memory.load(fromByteOffset: 3 * 16 + 4, as: UInt32.self) == 1)
        #expect(memory.load(fromByteOffset: 1 * 16, as: UInt32.self) == 1)
        #expect(counters.inFlight(3) == 1 && counters.isDown(1) && !counters.isDown(3))
    }
}

@Suite struct ReserveTests {
    @Test(arguments: [UInt32(1), 2, 5])
    func reserveStopsAtTheLimit(limit: UInt32) {
        let counters = ServerCounters.allocatePrivate(servers: 2)
        for _ in 0 ..< limit { #expect(counters.reserve(1, limit: limit)) }
        #expect(!counters.reserve(1, limit: limit))
        #expect(counters.inFlight(1) == limit && counters.inFlight(0) == 0)
        counters.decrement(1)
        #expect(counters.reserve(1, limit: limit))
        // No limit: always counts.
        for _ in 0 ..< 10 { #expect(counters.reserve(0, limit: 0)) }
        #expect(counters.inFlight(0) == 10)
    }

    /// Racing reservers (as workers are, each with its own holdings) never
    /// take more than the limit, and each holds exactly what it took.
    @Test func racingReservesNeverOvershoot() {
        let memory = UnsafeMutableRawPointer.allocate(byteCount: ServerCounters.bytesNeeded(servers: 1), alignment: 64)
        defer { memory.deallocate() }
        memory.initializeMemory(as: UInt8.self, repeating: 0, count: ServerCounters.bytesNeeded(servers: 1))
        let workers = (0 ..< 4).map { _ in ServerCounters(memory: memory, servers: 1, holdings: .allocatePrivate(servers: 1)) }
        final class Won: @unchecked Sendable { var counts = [UInt32](repeating: 0, count: 4) }
        let won = Won()
        let group = DispatchGroup()
        for t in 0 ..< 4 {
            group.enter()
            Thread {
                for _ in 0 ..< 20_000 where workers[t].reserve(0, limit: 3) { won.counts[t] += 1 }
                group.leave()
            }.start()
        }
        group.wait()
        #expect(won.counts.reduce(0, +) == 3)
        #expect(workers[0].inFlight(0) == 3)
        for t in 0 ..< 4 { #expect(workers[t].holdings.inFlight(0) == won.counts[t]) }
    }

    /// A worker's share follows each request it counts: what the
    /// supervisor takes back if it is killed.
    @Test func eachRequestIsHeldWhileItCounts() {
        let counters = ServerCounters.allocatePrivate(servers: 3)
        #expect(counters.reserve(2, limit: 0))
        #expect(counters.reserve(2, limit: 5))
        #expect(counters.reserve(0, limit: 1))
        #expect(!counters.reserve(0, limit: 1))
        #expect(counters.holdings.inFlight(2) == 2 && counters.holdings.inFlight(0) == 1 && counters.holdings.inFlight(1) == 0)
        counters.decrement(2)
        counters.decrement(0)
        #expect(counters.holdings.inFlight(2) == 1 && counters.holdings.inFlight(0) == 0)
        #expect(counters.inFlight(2) == 1 && counters.inFlight(0) == 0)
    }
}

@Suite struct FootprintTests {
    /// DESIGN.md §5: an idle keep-alive client connection costs < 1 KiB of
    /// worker memory; it holds its slot and no buffer.
    @Test func anIdleClientConnectionFitsInOneKibibyte() {
        #expect(MemoryLayout<ClientConnection>.stride < 1024, "\(MemoryLayout<ClientConnection>.stride) bytes")
        #expect(MemoryLayout<ServerConnection>.stride + MemoryLayout<VectoredSend>.stride < 512)
        #expect(!ClientConnection().input.holdsBuffer)
    }
}
