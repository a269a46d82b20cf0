import RoutingTable
import SharedState
import Telemetry

/// A zeroed region in private memory standing in for the mapping.
final class TestRegion {
    let base: UnsafeMutableRawPointer
    let region: SharedRegion

    init(workers: Int, servers: Int, supervisorPID: Int32 = 4242, startedAtMs: UInt64 = 1_700_000_000_000) {
        let size = SharedRegion.size(workers: workers, servers: servers)
        base = .allocate(byteCount: size, alignment: 4096)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        region = SharedRegion.initialize(base, size: size, workers: workers, servers: servers,
                                         supervisorPID: supervisorPID, nowMs: startedAtMs)
        for i in 0..<workers { region.worker(i).announce(epoch: WorkerSlot.offline) }
    }

    deinit { base.deallocate() }
}

/// Pool `web` (apache1..2 on slots 1 and 0) and pool `api` (one IPv6 server, slot 2).
func testSpec() -> TableSpec {
    TableSpec(
        virtualServices: [VirtualServiceSpec(name: "www", listen: ["127.0.0.1:8080"], pool: 0)],
        pools: [
            PoolSpec(name: "web", persistence: PersistenceSpec(headerName: "X-Server", serverDown: .immediate),
                     servers: [
                        ServerSpec(name: "apache1", address: IPAddress("10.0.0.11")!, port: 8080, headerValue: "server1", stateSlot: 1),
                        ServerSpec(name: "apache2", address: IPAddress("10.0.0.12")!, port: 8080, headerValue: "server2",
                                   enabled: false, stateSlot: 0),
                     ]),
            PoolSpec(name: "api", servers: [ServerSpec(name: "v6", address: IPAddress("2001:db8::1")!, port: 443, stateSlot: 2)]),
        ])
}

func withTable<R>(_ spec: TableSpec, _ body: (RoutingTableView) throws -> R) throws -> R {
    let image = try TableBuilder.build(spec)
    return try image.withUnsafeBytes { raw in try body(try RoutingTableView(validating: raw)) }
}

/// A snapshot with one of everything, written by hand.
func handSnapshot() -> StatusSnapshot {
    var counters = [UInt64](repeating: 0, count: ServerSlot.Counter.allCases.count)
    counters[ServerSlot.Counter.requests.rawValue] = 12
    counters[ServerSlot.Counter.responses2xx.rawValue] = 10
    counters[ServerSlot.Counter.responses4xx.rawValue] = 2
    counters[ServerSlot.Counter.bytesToServer.rawValue] = 1200
    counters[ServerSlot.Counter.bytesFromServer.rawValue] = 3400
    counters[ServerSlot.Counter.pinnedHits.rawValue] = 7
    counters[ServerSlot.Counter.balanced.rawValue] = 5
    var workerCounters = [UInt64](repeating: 0, count: WorkerSlot.Counter.allCases.count)
    workerCounters[WorkerSlot.Counter.requests.rawValue] = 13
    workerCounters[WorkerSlot.Counter.connectionsOpen.rawValue] = 2
    workerCounters[WorkerSlot.Counter.pinned.rawValue] = 7
    workerCounters[WorkerSlot.Counter.balanced.rawValue] = 5
    workerCounters[WorkerSlot.Counter.localResponses.rawValue] = 1
    workerCounters[WorkerSlot.Counter.accessLogLinesWritten.rawValue] = 12
    workerCounters[WorkerSlot.Counter.accessLogLinesDropped.rawValue] = 1
    return StatusSnapshot(
        takenAtMs: 1_700_000_100_000, supervisorPID: 10, startedAtMs: 1_700_000_000_000, generation: 3,
        tableLoadedAtMs: 1_700_000_050_000,
        lastReload: .init(attempt: 3, applied: false, generation: 3, atMs: 1_700_000_060_000,
                          message: "a.yaml:3:5: pool: no pool named \"webb\"\na.yaml:9:1: second"),
        reloadsApplied: 2, reloadsRefused: 1, monitor: nil, accessLogGeneration: 4,
        workers: [
            .init(index: 0, pid: 11, cpu: 0, generation: 3, startedAtMs: 1_700_000_000_500, accessLogGeneration: 4,
                  counters: workerCounters),
            .init(index: 1, pid: 0, cpu: 1, generation: nil, startedAtMs: 0,
                  counters: [UInt64](repeating: 0, count: WorkerSlot.Counter.allCases.count)),
        ],
        servers: [
            .init(pool: "web", name: "apache \"1\"", address: "10.0.0.11:8080", stateSlot: 1, enabled: true, down: [],
                  reason: DownReason(.checksPassed, detail: 2), changedAtMs: 1_700_000_040_000, inFlight: 1,
                  connectionsOpen: 3, counters: counters),
        ])
}
