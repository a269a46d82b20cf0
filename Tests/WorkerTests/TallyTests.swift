import Testing
import SharedState
@testable import Worker

/// The data path's private counters and their publication to the shared region.
@Suite struct TallyTests {
    final class Region {
        let base: UnsafeMutableRawPointer
        let region: SharedRegion
        init(workers: Int, servers: Int) {
            let size = SharedRegion.size(workers: workers, servers: servers)
            base = .allocate(byteCount: size, alignment: 4096)
            base.initializeMemory(as: UInt8.self, repeating: 0, count: size)
            region = SharedRegion.initialize(base, size: size, workers: workers, servers: servers, supervisorPID: 1, nowMs: 0)
        }
        deinit { base.deallocate() }
    }

    @Test func publishingAddsWhatAccumulatedAndStartsAgainFromZero() {
        let shared = Region(workers: 2, servers: 8)
        let slots = UnsafeMutablePointer<UInt32>.allocate(capacity: 3)
        defer { slots.deallocate() }
        slots[0] = 5; slots[1] = 2; slots[2] = 7
        var tally = Tally(servers: 3)
        tally.add(.requests)
        tally.add(.requests)
        tally.add(.bytesIn, 612)
        tally.add(.requests, server: 1)
        tally.add(.responses2xx, server: 1)
        tally.add(.bytesFromServer, server: 2, 1000)
        tally.addConnections(server: 1, +1)
        tally.addConnections(server: 1, +1)
        tally.addConnections(server: 1, -1)
        let holdings = shared.region.holdings(2)
        tally.publish(to: shared.region, workerIndex: 1, stateSlots: slots, holdings: holdings, openConnections: 4, ownsSlot: true)

        let worker = shared.region.worker(1)
        #expect(worker.value(.requests) == 2)
        #expect(worker.value(.bytesIn) == 612)
        #expect(worker.value(.connectionsOpen) == 4)
        #expect(shared.region.worker(0).value(.requests) == 0)
        #expect(shared.region.server(2).value(.requests) == 1)
        #expect(shared.region.server(2).value(.responses2xx) == 1)
        #expect(shared.region.server(2).connectionsOpen == 1)
        #expect(holdings.connections(2) == 1, "the net connection is held on the server's state slot")
        #expect(shared.region.server(7).value(.bytesFromServer) == 1000)
        #expect(shared.region.server(5).value(.requests) == 0)
        #expect(tally.pending(.requests, server: 1) == 0)

        // Only what accumulated since is added; closing below zero in the
        // tally is a net -1 for the shared count.
        tally.add(.requests, server: 1)
        tally.addConnections(server: 1, -1)
        tally.publish(to: shared.region, workerIndex: 1, stateSlots: slots, holdings: holdings, openConnections: 1, ownsSlot: false)
        #expect(shared.region.server(2).value(.requests) == 2)
        #expect(shared.region.server(2).connectionsOpen == 0)
        #expect(holdings.connections(2) == 0)
        #expect(worker.value(.requests) == 2)
        #expect(worker.value(.connectionsOpen) == 4, "a worker that does not own its slot leaves the gauge alone")
    }

    @Test(arguments: [(UInt16(100), ServerSlot.Counter.responses1xx), (101, .responses1xx), (200, .responses2xx),
                      (204, .responses2xx), (302, .responses3xx), (404, .responses4xx), (503, .responses5xx),
                      (599, .responses5xx)])
    func responsesAreCountedByClass(status: UInt16, counter: ServerSlot.Counter) {
        #expect(Tally.responseCounter(status: status) == counter)
    }

    @Test func aResizeStartsTheNewTableFromZero() {
        let shared = Region(workers: 1, servers: 4)
        let slots = UnsafeMutablePointer<UInt32>.allocate(capacity: 4)
        defer { slots.deallocate() }
        for k in 0..<4 { slots[k] = UInt32(3 - k) }
        var tally = Tally(servers: 1)
        tally.add(.requests, server: 0)
        tally.publish(to: shared.region, workerIndex: 0, stateSlots: slots, holdings: shared.region.holdings(0),
                      openConnections: 0, ownsSlot: true)
        tally.resize(servers: 4)
        tally.add(.balanced, server: 3)
        tally.publish(to: shared.region, workerIndex: 0, stateSlots: slots, holdings: shared.region.holdings(0),
                      openConnections: 0, ownsSlot: true)
        #expect(shared.region.server(3).value(.requests) == 1)
        #expect(shared.region.server(0).value(.balanced) == 1)
    }
}
