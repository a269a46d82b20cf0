import Foundation
import Synchronization
import Testing
@testable import SharedState

/// Runs `bodies` on OS threads (not the cooperative pool, where a spinning
/// reader could starve the writer) and waits for all of them.
func onThreads(_ bodies: [@Sendable () -> Void]) {
    let done = DispatchGroup()
    for body in bodies {
        done.enter()
        Thread { body(); done.leave() }.start()
    }
    done.wait()
}

final class Box: @unchecked Sendable { var value = 0 }
final class Flag: Sendable { let value = Atomic<Bool>(false) }

/// A zeroed, page-aligned buffer standing in for the mapping.
final class Memory {
    let base: UnsafeMutableRawPointer
    let size: Int, workers: Int, servers: Int
    init(workers: Int, servers: Int) {
        (self.workers, self.servers) = (workers, servers)
        size = SharedRegion.size(workers: workers, servers: servers)
        base = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 4096)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: size)
    }
    deinit { base.deallocate() }
    func region() -> SharedRegion {
        SharedRegion.initialize(base, size: size, workers: workers, servers: servers, supervisorPID: 42, nowMs: 1000)
    }
}

@Suite struct Attaching {
    @Test func attachSeesWhatInitializeWrote() throws {
        let m = Memory(workers: 4, servers: 16)
        _ = m.region()
        let r = try SharedRegion(attaching: m.base, size: m.size)
        #expect(r.workerCapacity == 4 && r.serverCapacity == 16 && r.supervisorPID == 42 && r.startedAtMs == 1000)
        #expect(r.currentGeneration() == 0)
    }

    @Test func uninitializedOrForeignMemoryIsRefused() {
        let m = Memory(workers: 4, servers: 16)
        #expect(throws: SharedRegion.AttachError.badMagic(0)) { try SharedRegion(attaching: m.base, size: m.size) }
        _ = m.region()
        #expect(throws: SharedRegion.AttachError.sizeMismatch(UInt64(m.size), m.size - 4096)) {
            try SharedRegion(attaching: m.base, size: m.size - 4096)
        }
        #expect(throws: SharedRegion.AttachError.tooSmall(100)) { try SharedRegion(attaching: m.base, size: 100) }
        m.base.storeBytes(of: UInt32(99), toByteOffset: 4, as: UInt32.self)
        #expect(throws: SharedRegion.AttachError.unsupportedVersion(99)) { try SharedRegion(attaching: m.base, size: m.size) }
    }
}

@Suite struct Generations {
    @Test func publishMakesTheDescriptorVisible() {
        let m = Memory(workers: 4, servers: 16)
        let r = m.region()
        #expect(r.descriptor(of: 0) == nil && r.descriptor(of: 1) == nil)
        for g in UInt64(1)...20 {
            let d = TableDescriptor(generation: g, supervisorPID: 42, fd: Int32(10 + g), size: 4096 * g, publishedAtMs: g)
            r.publish(d)
            #expect(r.currentGeneration() == g)
            #expect(r.descriptor(of: g) == d)
        }
        // Only the last eight are kept.
        #expect(r.descriptor(of: 13) != nil)
        #expect(r.descriptor(of: 12) == nil)
    }

    @Test func oldestGenerationInUseIgnoresOfflineWorkers() {
        let m = Memory(workers: 4, servers: 16)
        let r = m.region()
        for g in UInt64(1)...5 { r.publish(TableDescriptor(generation: g, supervisorPID: 1, fd: 3, size: 1, publishedAtMs: 0)) }
        for i in 0..<4 { r.worker(i).announce(epoch: WorkerSlot.offline) }
        #expect(r.oldestGenerationInUse() == 5)
        r.worker(0).announce(epoch: 5)
        r.worker(2).announce(epoch: 3)
        #expect(r.oldestGenerationInUse() == 3)
        r.worker(2).announce(epoch: WorkerSlot.offline)  // died: never blocks reclamation
        #expect(r.oldestGenerationInUse() == 5)
    }
}

@Suite struct Reloads {
    @Test func recordRoundTrips() {
        let m = Memory(workers: 1, servers: 1)
        defer { withExtendedLifetime(m) {} }
        let r = m.region()
        #expect(r.lastReload().outcome == .none)
        let rec = ReloadRecord(attempt: 3, outcome: .refused, generation: 7, atMs: 123, message: "a.yaml:1:2: bad\na.yaml:3:4: worse")
        r.record(rec)
        #expect(r.lastReload() == rec)
    }

    @Test func longMessagesAreCutOnCharacterBoundaries() {
        let m = Memory(workers: 1, servers: 1)
        defer { withExtendedLifetime(m) {} }
        let r = m.region()
        let message = String(repeating: "é", count: 5000)
        r.record(ReloadRecord(attempt: 1, outcome: .refused, generation: 1, atMs: 0, message: message))
        let back = r.lastReload().message
        #expect(back.utf8.count <= 3068 && back.utf8.count > 3000)
        #expect(back.allSatisfy { $0 == "é" })
    }

    @Test func readersNeverSeeTornRecords() {
        let m = Memory(workers: 1, servers: 1)
        let r = m.region()
        let writes = 20_000
        let torn = Box(), reads = Box()
        let readerStarted = Flag()
        onThreads([
            {
                // Start writing only once the reader reads, so they overlap.
                while !readerStarted.value.load(ordering: .acquiring) {}
                for i in 1...writes {
                    r.record(ReloadRecord(attempt: UInt64(i), outcome: .applied, generation: UInt64(i), atMs: UInt64(i),
                                          message: String(repeating: String(i % 10), count: i % 200)))
                }
            },
            {
                var last: UInt64 = 0
                while last < UInt64(writes) {
                    let rec = r.lastReload()
                    readerStarted.value.store(true, ordering: .releasing)
                    let i = rec.attempt
                    last = i
                    reads.value += 1
                    if i == 0 { continue }
                    if rec.generation != i || rec.atMs != i || rec.message != String(repeating: String(i % 10), count: Int(i % 200)) {
                        torn.value += 1
                    }
                }
            },
        ])
        withExtendedLifetime(m) {}
        #expect(torn.value == 0)
        #expect(reads.value > 1)
    }
}

@Suite struct TicketKeyRecords {
    @Test func keysRoundTripAndMoveTheSequence() {
        let m = Memory(workers: 2, servers: 1)
        defer { withExtendedLifetime(m) {} }
        let r = m.region()
        #expect(r.ticketKeys() == nil && r.ticketKeySequence == 0)
        r.monitor.startedAtMs = 99
        r.worker(0).announce(epoch: 5)
        let a = TicketKeys(current: [UInt8](repeating: 1, count: 80), previous: nil, rotatedAtMs: 10)
        r.publish(a)
        let first = r.ticketKeySequence
        #expect(r.ticketKeys()?.keys == a && r.ticketKeys()?.sequence == first)
        let b = TicketKeys(current: (0..<80).map { UInt8($0) }, previous: a.current, rotatedAtMs: 20)
        r.publish(b)
        #expect(r.ticketKeySequence > first && r.ticketKeys()?.keys == b)
        // The keys sit in the control block, clear of its other records and the worker slots.
        #expect(r.monitor.startedAtMs == 99 && r.worker(0).epoch == 5)
    }

    @Test func workerCountersStayInTheirSlot() {
        let m = Memory(workers: 2, servers: 1)
        defer { withExtendedLifetime(m) {} }
        let r = m.region()
        let w = r.worker(0)
        w.startedAtMs = 0xFFFF_FFFF_FFFF
        w.accessLogGeneration = 0xABCD
        for c in WorkerSlot.Counter.allCases { w.add(c, 7) }
        #expect(w.startedAtMs == 0xFFFF_FFFF_FFFF && w.accessLogGeneration == 0xABCD)
        #expect(WorkerSlot.Counter.allCases.allSatisfy { w.value($0) == 7 })
        // The last counter ends before the next worker's slot begins.
        #expect(r.worker(1).epoch == 0 && r.worker(1).pid == 0 && r.worker(1).cpu == 0)
        #expect(WorkerSlot.Counter.allCases.allSatisfy { r.worker(1).value($0) == 0 })
    }
}

@Suite struct AccessLogFiles {
    @Test(arguments: [(UInt32(1), Int32(7)), (2, -1), (.max, .max), (0x8000_0000, 0)])
    func theWordCarriesGenerationAndDescriptor(generation: UInt32, fd: Int32) {
        let m = Memory(workers: 1, servers: 1)
        defer { withExtendedLifetime(m) {} }
        let r = m.region()
        #expect(r.accessLogFile() == AccessLogFile(generation: 0, fd: 0), "never published")
        let file = AccessLogFile(generation: generation, fd: fd)
        r.publish(file)
        #expect(r.accessLogFile() == file && r.accessLogFile().isOpen == (fd >= 0))
    }

    @Test func theFileSitsClearOfTheTicketKeysAndTheWorkerSlots() {
        let m = Memory(workers: 1, servers: 1)
        defer { withExtendedLifetime(m) {} }
        let r = m.region()
        let keys = TicketKeys(current: [UInt8](repeating: 0xFF, count: 80), previous: [UInt8](repeating: 0xFF, count: 80),
                              rotatedAtMs: .max)
        r.publish(keys)
        r.worker(0).announce(epoch: 3)
        r.publish(AccessLogFile(generation: 5, fd: -1))
        #expect(r.ticketKeys()?.keys == keys && r.worker(0).epoch == 3)
        #expect(r.accessLogFile() == AccessLogFile(generation: 5, fd: -1))
    }
}

@Suite struct Servers {
    @Test func downBitsAndCounts() {
        let m = Memory(workers: 1, servers: 16)
        defer { withExtendedLifetime(m) {} }
        let r = m.region()
        let s = r.server(15)
        #expect(!s.isDown && s.inFlight == 0)
        s.mark(.byMonitor)
        s.mark(.byPassiveCheck)
        #expect(s.down == [.byMonitor, .byPassiveCheck])
        s.clear(.byMonitor)
        #expect(s.isDown && s.down == .byPassiveCheck)
        s.clear(.byPassiveCheck)
        #expect(!s.isDown)
        s.beginRequest(); s.beginRequest(); s.endRequest()
        #expect(s.inFlight == 1)
        s.add(.requests, 5)
        #expect(s.value(.requests) == 5 && r.server(14).value(.requests) == 0)
    }

    @Test func concurrentCountingIsExact() {
        let m = Memory(workers: 1, servers: 4)
        let r = m.region()
        let count: @Sendable () -> Void = {
            for _ in 0..<50_000 { r.server(2).beginRequest(); r.server(2).add(.requests); r.server(2).endRequest() }
        }
        onThreads([count, count, count, count])
        withExtendedLifetime(m) {}
        #expect(r.server(2).inFlight == 0 && r.server(2).value(.requests) == 200_000)
    }

    @Test func workerCounters() {
        let m = Memory(workers: 4, servers: 1)
        defer { withExtendedLifetime(m) {} }
        let r = m.region()
        let w = r.worker(3)
        w.pid = 1234
        w.cpu = 1
        w.add(.requests, 10)
        w.add(.connectionsOpen, 3)
        w.subtract(.connectionsOpen)
        #expect(w.pid == 1234 && w.cpu == 1 && w.value(.requests) == 10 && w.value(.connectionsOpen) == 2)
        #expect(r.worker(2).value(.requests) == 0)
    }
}

@Suite struct ServerSlotsLayout {
    /// Workers bind `ServerCounters` to `serverSlots`: the down bits at
    /// offset 0 and the in-flight count at offset 4 of each slot.
    @Test(arguments: [UInt32(0), 1, 7, 15])
    func serverSlotsAddressEachSlotsFields(slot: UInt32) {
        let m = Memory(workers: 3, servers: 16)
        let r = m.region()
        let (base, stride) = r.serverSlots
        let record = base + Int(slot) * stride
        r.server(slot).beginRequest()
        r.server(slot).beginRequest()
        r.server(slot).mark(.byMonitor)
        #expect(record.load(fromByteOffset: 4, as: UInt32.self) == 2)
        #expect(record.load(fromByteOffset: 0, as: UInt32.self) == ServerSlot.Down.byMonitor.rawValue)
        #expect(record + stride <= m.base + m.size)
        // Only that slot changed.
        for other in 0 ..< UInt32(16) where other != slot {
            #expect(r.server(other).inFlight == 0 && !r.server(other).isDown)
        }
    }
}

@Suite struct Holdings {
    /// A worker's share of `slot`'s in-flight count, as `ServerCounters` keeps it.
    static func hold(_ holdings: WorkerHoldings, inFlight n: UInt32, slot: UInt32) {
        holdings.entries.storeBytes(of: holdings.inFlight(slot) + n, toByteOffset: Int(slot) * WorkerHoldings.entrySize, as: UInt32.self)
    }

    @Test func recordsFollowTheServerSlotsAndStayApart() throws {
        let m = Memory(workers: 3, servers: 16)
        _ = m.region()
        let r = try SharedRegion(attaching: m.base, size: m.size)
        #expect(r.holdingsCapacity == 9 && r.holdingsCapacity == SharedRegion.holdingsCapacity(workers: 3))
        let (slots, stride) = r.serverSlots
        #expect(r.holdings(0).entries >= slots + 16 * stride)
        #expect(r.holdings(8).entries + 16 * WorkerHoldings.entrySize <= m.base + m.size)
        // Every entry of record 4, written: no other record and no server slot sees it.
        for s in UInt32(0) ..< 16 {
            Self.hold(r.holdings(4), inFlight: 7, slot: s)
            r.holdings(4).addConnections(3, to: r.server(s), slot: s)
        }
        for k in 0 ..< 9 where k != 4 {
            #expect((0 ..< 16).allSatisfy { r.holdings(k).inFlight($0) == 0 && r.holdings(k).connections($0) == 0 })
        }
        #expect((0 ..< 16).allSatisfy { r.holdings(4).inFlight($0) == 7 && r.holdings(4).connections($0) == 3 })
        #expect((0 ..< 16).allSatisfy { r.server($0).inFlight == 0 && r.server($0).connectionsOpen == 3 })
    }

    @Test func connectionChangesAreHeldBesideTheSharedCount() {
        let m = Memory(workers: 1, servers: 4)
        let r = m.region()
        let held = r.holdings(1)
        held.addConnections(2, to: r.server(3), slot: 3)
        held.addConnections(-1, to: r.server(3), slot: 3)
        r.holdings(2).addConnections(4, to: r.server(3), slot: 3)
        #expect(r.server(3).connectionsOpen == 5)
        #expect(held.connections(3) == 1 && r.holdings(2).connections(3) == 4 && held.connections(2) == 0)
    }

    @Test func takingBackRemovesOnlyThatWorkersShareAndClearsItsRecord() {
        let m = Memory(workers: 2, servers: 8)
        let r = m.region()
        let (a, b) = (r.holdings(0), r.holdings(1))
        a.extendReach(to: 6)
        b.extendReach(to: 8)
        // Worker a: two requests and two connections to slot 3, one idle connection to slot 5.
        for _ in 0 ..< 2 { r.server(3).beginRequest() }
        Self.hold(a, inFlight: 2, slot: 3)
        a.addConnections(2, to: r.server(3), slot: 3)
        a.addConnections(1, to: r.server(5), slot: 5)
        // Worker b: one request and its connection to slot 3, a connection to slot 7.
        r.server(3).beginRequest()
        Self.hold(b, inFlight: 1, slot: 3)
        b.addConnections(1, to: r.server(3), slot: 3)
        b.addConnections(1, to: r.server(7), slot: 7)

        let taken = r.takeBackHoldings(0)
        #expect(taken.requests == 2 && taken.connections == 3)
        #expect(r.server(3).inFlight == 1 && r.server(3).connectionsOpen == 1)
        #expect(r.server(5).connectionsOpen == 0 && r.server(7).connectionsOpen == 1)
        #expect(a.reach == 0 && (0 ..< 8).allSatisfy { a.inFlight($0) == 0 && a.connections($0) == 0 })
        #expect(b.reach == 8 && b.inFlight(3) == 1 && b.connections(7) == 1)
        // A cleared record gives nothing back a second time.
        #expect(r.takeBackHoldings(0) == (0, 0))
        #expect(r.server(3).inFlight == 1)
    }

    @Test func onlyEntriesWithinReachAreTakenBack() {
        let m = Memory(workers: 1, servers: 8)
        let r = m.region()
        let held = r.holdings(0)
        held.extendReach(to: 3)
        held.extendReach(to: 2)  // reach only grows
        #expect(held.reach == 3)
        r.server(2).beginRequest()
        Self.hold(held, inFlight: 1, slot: 2)
        #expect(r.takeBackHoldings(0) == (1, 0))
        #expect(r.server(2).inFlight == 0)
    }

    @Test func takingBackNeverGoesBelowZero() {
        let m = Memory(workers: 1, servers: 4)
        let r = m.region()
        let held = r.holdings(2)
        held.extendReach(to: 4)
        r.server(1).beginRequest()
        Self.hold(held, inFlight: 3, slot: 1)
        held.addConnections(2, to: r.server(1), slot: 1)
        r.holdings(0).addConnections(-1, to: r.server(1), slot: 1)  // another worker's close, under it
        r.takeBackHoldings(2)
        #expect(r.server(1).inFlight == 0 && r.server(1).connectionsOpen == 0)
    }
}
