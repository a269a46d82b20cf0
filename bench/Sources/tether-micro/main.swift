import HTTPWire
import MallocCounter
import RoutingTable
import Selection

// Microbenchmarks of the pure hot path, in release mode, with allocation
// counts. Timing is reported, never asserted; `--check` fails the run only
// on allocations, which are exact.

let arguments = CommandLine.arguments.dropFirst()
let quick = arguments.contains("--quick")
let check = arguments.contains("--check")

struct Row {
    var name: String
    var value: String
    var target: String
    var ok: Bool?
}
var rows: [Row] = []
var allocationFailures: [String] = []

@inline(never) func blackHole<T>(_ x: T) { withExtendedLifetime(x) {} }

/// Median nanoseconds per operation over `rounds` rounds of `iterations`.
func measure(iterations: Int, rounds: Int = quick ? 3 : 7, _ body: (Int) -> Void) -> Double {
    body(min(iterations, 10_000))  // warm-up
    var samples: [Double] = []
    let clock = ContinuousClock()
    for _ in 0..<rounds {
        let elapsed = clock.measure { body(iterations) }
        samples.append(Double(elapsed.components.attoseconds) / 1e9 + Double(elapsed.components.seconds) * 1e9)
    }
    samples.sort()
    return samples[samples.count / 2] / Double(iterations)
}

/// Allocations per operation over `iterations` runs of `body`.
func allocations(iterations: Int, _ body: (Int) -> Void) -> Double {
    body(100)
    let before = tether_malloc_count()
    body(iterations)
    return Double(tether_malloc_count() - before) / Double(iterations)
}

extension String {
    init(format1 x: Double) {
        let tenths = Int(x * 10 + 0.5)
        self = "\(tenths / 10).\(tenths % 10)"
    }
}

func format(_ ns: Double) -> String {
    let tenths = Int(ns * 10 + 0.5)
    return "\(tenths / 10).\(tenths % 10) ns"
}

/// A pool of `n` servers whose header values are "value-0" ... "value-(n-1)".
func spec(values n: Int) -> TableSpec {
    var servers: [ServerSpec] = []
    servers.reserveCapacity(n)
    for i in 0..<n {
        servers.append(ServerSpec(name: "s\(i)", address: IPAddress(v4: 10, UInt8(i >> 16 & 0xff), UInt8(i >> 8 & 0xff), UInt8(i & 0xff)),
                                  port: 8080, headerValue: "value-\(i)"))
    }
    return TableSpec(virtualServices: [VirtualServiceSpec(name: "www", listen: ["127.0.0.1:8080"], pool: 0)],
                     pools: [PoolSpec(name: "web", persistence: PersistenceSpec(headerName: "X-Server"), servers: servers)])
}

/// Query values laid out flat, so the measured loop touches no Swift objects.
struct Queries {
    var bytes: [UInt8] = []
    var offsets: [Int] = [0]
    init(values n: Int, count: Int) {
        var state: UInt64 = 0x1234_5678
        for _ in 0..<count {
            state = TetherHash.mix(state)
            bytes.append(contentsOf: Array("value-\(Int(state % UInt64(n)))".utf8))
            offsets.append(bytes.count)
        }
    }
}

struct NoLoad: ServerLoad {
    func isDown(_ s: UInt32) -> Bool { false }
    func inFlight(_ s: UInt32) -> UInt32 { 0 }
}

// MARK: lookup at 10 / 10k / 1M values

var lookupTimes: [Double] = []
for n in [10, 10_000, 1_000_000] {
    let image = try TableBuilder.build(spec(values: n))
    let queries = Queries(values: n, count: 1 << 16)
    let ns: Double = try image.withUnsafeBytes { raw in
        let table = try RoutingTableView(validating: raw)
        let pool = table.pool(0)
        return queries.bytes.withUnsafeBytes { q in
            let run = { (iterations: Int) in
                var found: UInt32 = 0
                for i in 0..<iterations {
                    let k = i & 0xffff
                    let start = queries.offsets[k], end = queries.offsets[k + 1]
                    found &+= pool.lookup(UnsafeRawBufferPointer(rebasing: q[start..<end])).server ?? 1
                }
                blackHole(found)
            }
            let perOp = allocations(iterations: 100_000, run)
            if perOp != 0 { allocationFailures.append("lookup(\(n)): \(perOp) allocations per lookup") }
            return measure(iterations: quick ? 200_000 : 2_000_000, run)
        }
    }
    lookupTimes.append(ns)
    rows.append(Row(name: "header-value lookup, \(n) values (random hits)", value: format(ns), target: "flat", ok: nil))
}
// The algorithm is O(1) at every size; what grows is the memory the random
// queries touch (the 1M table is ~110 MiB, so hits there miss the caches).
rows[rows.count - 1].target = "flat; \(String(format1: lookupTimes.max()! / lookupTimes.min()!))× the 10-value time"

// MARK: routing decision

do {
    let image = try TableBuilder.build(spec(values: 10))
    try image.withUnsafeBytes { raw in
        var selector = Selector(table: try RoutingTableView(validating: raw))
        let value = Array("value-7".utf8)
        value.withUnsafeBytes { v in
            let run = { (iterations: Int) in
                var sum: UInt32 = 0
                for _ in 0..<iterations {
                    if case let .forward(s, _) = selector.route(pool: 0, persistenceValue: v, hashKey: 0, load: NoLoad()) { sum &+= s }
                    if case let .forward(s, _) = selector.route(pool: 0, persistenceValue: nil, hashKey: 0, load: NoLoad()) { sum &+= s }
                }
                blackHole(sum)
            }
            let perOp = allocations(iterations: 100_000, run)
            if perOp != 0 { allocationFailures.append("route: \(perOp) allocations per decision pair") }
            let ns = measure(iterations: quick ? 200_000 : 2_000_000, run) / 2
            rows.append(Row(name: "routing decision (pinned + balanced, averaged)", value: format(ns), target: "", ok: nil))
            rows.append(Row(name: "allocations per lookup + routing decision", value: "\(perOp)", target: "0", ok: perOp == 0))
        }
    }
}

// MARK: scan + lookup of a typical 600-byte request head

/// A browser-like GET of about 600 bytes carrying the persistence header.
let typicalHead = Array((
    "GET /products/shoes/running?size=42&color=blue HTTP/1.1\r\n" +
    "Host: shop.example.com\r\n" +
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36\r\n" +
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n" +
    "Accept-Language: en-US,en;q=0.9\r\n" +
    "Accept-Encoding: gzip, deflate, br\r\n" +
    "Referer: https://shop.example.com/products/shoes\r\n" +
    "Cookie: session=4f3c2a1b9e8d7c6b5a4f3e2d1c0b9a8f; theme=dark; consent=yes\r\n" +
    "X-Server: value-7\r\n" +
    "Connection: keep-alive\r\n" +
    "Upgrade-Insecure-Requests: 1\r\n" +
    "Sec-Fetch-Dest: document\r\n" +
    "Sec-Fetch-Mode: navigate\r\n" +
    "\r\n").utf8)

do {
    let image = try TableBuilder.build(spec(values: 10))
    try image.withUnsafeBytes { raw in
        let table = try RoutingTableView(validating: raw)
        var selector = Selector(table: table)
        let pool = table.pool(0)
        let wanted = WantedHeaders(persistence: pool.persistenceHeader, hashKey: nil)
        var scanner = RequestHeadScanner(maxHeadBytes: 32 * 1024)
        typicalHead.withUnsafeBytes { head in
            let scanOnly = { (iterations: Int) in
                var sum = 0
                for _ in 0..<iterations {
                    scanner.reset()
                    if case let .complete(h) = scanner.scan(head, wanted: wanted) { sum &+= h.headLength }
                }
                blackHole(sum)
            }
            let full = { (iterations: Int) in
                var sum: UInt32 = 0
                for _ in 0..<iterations {
                    scanner.reset()
                    guard case let .complete(h) = scanner.scan(head, wanted: wanted), let v = h.persistenceValue else { continue }
                    let value = UnsafeRawBufferPointer(rebasing: head[v.start..<(v.start + v.count)])
                    if case let .forward(s, _) = selector.route(pool: 0, persistenceValue: value, hashKey: 0, load: NoLoad()) { sum &+= s }
                }
                precondition(sum == 7 * UInt32(iterations), "the typical head must route to value-7's server")
                blackHole(sum)
            }
            let perRequest = allocations(iterations: 100_000, full)
            if perRequest != 0 { allocationFailures.append("scan+lookup+route: \(perRequest) allocations per request") }
            let scanNs = measure(iterations: quick ? 100_000 : 1_000_000, scanOnly)
            let fullNs = measure(iterations: quick ? 100_000 : 1_000_000, full)
            rows.append(Row(name: "scan of a typical \(typicalHead.count)-byte request head", value: format(scanNs), target: "", ok: nil))
            rows.append(Row(name: "scan + header-value lookup + routing decision, same head", value: format(fullNs), target: "≤ 150 ns", ok: fullNs <= 150))
            rows.append(Row(name: "allocations per request (scan + lookup + routing)", value: "\(perRequest)", target: "0", ok: perRequest == 0))
        }
    }
}

// MARK: compile 1M values

do {
    let big = spec(values: 1_000_000)
    var best = Duration.seconds(1000)
    var size = 0
    for _ in 0..<(quick ? 1 : 3) {
        let clock = ContinuousClock()
        let t = try clock.measure { size = try TableBuilder.build(big).count }
        best = min(best, t)
    }
    let ms = Double(best.components.seconds) * 1000 + Double(best.components.attoseconds) / 1e15
    rows.append(Row(name: "compile 1,000,000 header values (best of \(quick ? 1 : 3))", value: "\(Int(ms + 0.5)) ms, \(size / 1_048_576) MiB",
                    target: "< 1000 ms", ok: ms < 1000))
}

// MARK: report

print("| benchmark | result | target | |")
print("|---|---|---|---|")
for r in rows {
    let mark = r.ok.map { $0 ? "✓" : "✗ missed" } ?? ""
    print("| \(r.name) | \(r.value) | \(r.target) | \(mark) |")
}
if !allocationFailures.isEmpty {
    for f in allocationFailures { print("ALLOCATION: \(f)") }
    if check { exitWithFailure() }
}

func exitWithFailure() -> Never {
    print("micro: allocation check failed")
    fatalError("allocations on the hot path")
}
