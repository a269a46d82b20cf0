import Health
import Posix
import RoutingTable
import SharedState

/// One health check of one server by one monitor, with its schedule and the
/// state of the check in flight.
struct Probe {
    enum Phase { case idle, connecting, sending, receiving }

    /// The server's shared state slot.
    var slot: UInt32
    /// The monitor's index in the plan's `monitors`.
    var monitor: Int
    var address: UnsafeMutablePointer<SocketAddress>
    /// The request bytes (empty for a TCP check), owned by the plan.
    var request: UnsafeRawBufferPointer
    var verdict: MonitorVerdict
    var nextDue: UInt64

    var phase = Phase.idle
    var fd: CInt = -1
    /// Tags this check's operations; completions of an older check are ignored.
    var attempt: UInt32 = 0
    var startedAt: UInt64 = 0
    var deadline: UInt64 = 0
    var sent = 0
    var received = 0
    /// Where this check's first response bytes go: the monitor's buffer
    /// for this probe, or for a check carried over a replan, the one of the
    /// plan it started in (its receive may already be in the kernel).
    var buffer: UnsafeMutableRawPointer? = nil

    /// Whether `other` checks the same thing the same way (server slot,
    /// monitor settings, address, request bytes): a check in flight for one
    /// can finish as the other's.
    func sameCheck(as other: Probe, monitors: [HealthMonitorSpec], otherMonitors: [HealthMonitorSpec]) -> Bool {
        slot == other.slot && monitors[monitor] == otherMonitors[other.monitor]
            && request.elementsEqual(other.request)
            && withUnsafeBytes(of: address.pointee.storage, { x in
                withUnsafeBytes(of: other.address.pointee.storage) { y in x.elementsEqual(y) } })
    }
}

/// A server with at least one monitor: it is up when every probe says so.
struct CheckedServer {
    var slot: UInt32
    /// "pool/server address:port", for log lines.
    var label: String
    var probes: [Int]
}

/// What the monitor checks for one table: every server of every pool that
/// has monitors, once per monitor. Built when a table is loaded; probes of a
/// server and monitor that were already checked keep their verdicts.
struct Plan {
    var monitors: [HealthMonitorSpec] = []
    var probes: [Probe] = []
    var servers: [CheckedServer] = []
    /// Slots of servers whose pool has no monitor (they are up by definition).
    var unmonitored: [(slot: UInt32, label: String)] = []
    private var storage: [UnsafeMutableRawPointer] = []

    init() {}

    /// - Parameters:
    ///   - previous: verdicts by (slot, monitor spec) from the plan before.
    ///   - initiallyDown: whether a slot's server is down now (a fresh
    ///     probe of it starts down, needing successes to come up).
    init(table: RoutingTableView, now: UInt64,
         previous: [ProbeKey: (verdict: MonitorVerdict, nextDue: UInt64)],
         initiallyDown: (UInt32) -> Bool) {
        monitors = (0..<table.monitorCount).map { table.monitor(UInt32($0)).spec }
        var requests: [Int: [UInt8]] = [:]  // per monitor: the request without Host
        for (m, spec) in monitors.enumerated() {
            if case let .http(request, _, _) = spec.check { requests[m] = Array(request.utf8) }
        }
        for p in 0..<table.poolCount {
            let pool = table.pool(UInt32(p))
            let poolMonitors = pool.monitors.map(Int.init)
            for s in pool.servers {
                let server = table.server(s)
                let label = "\(pool.name)/\(server.name) \(Plan.hostPort(server.address, server.port))"
                guard !poolMonitors.isEmpty else {
                    unmonitored.append((server.stateSlot, label))
                    continue
                }
                let address = UnsafeMutablePointer<SocketAddress>.allocate(capacity: 1)
                address.initialize(to: SocketAddress(server.address, port: server.port))
                storage.append(UnsafeMutableRawPointer(address))
                var checked = CheckedServer(slot: server.stateSlot, label: label, probes: [])
                for m in poolMonitors {
                    var request = UnsafeRawBufferPointer(start: nil, count: 0)
                    if case let .http(_, hasHost, _) = monitors[m].check, var bytes = requests[m] {
                        if !hasHost { bytes += Array("Host: \(Plan.hostPort(server.address, server.port))\r\n".utf8) }
                        bytes += [13, 10]
                        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 8)
                        copy.copyBytes(from: bytes)
                        storage.append(copy.baseAddress!)
                        request = UnsafeRawBufferPointer(copy)
                    }
                    let key = ProbeKey(slot: server.stateSlot, monitor: monitors[m])
                    let kept = previous[key]
                    let first = now + firstCheckDelay(key: UInt64(server.stateSlot) << 16 | UInt64(m),
                                                      intervalMs: monitors[m].intervalMs)
                    checked.probes.append(probes.count)
                    probes.append(Probe(slot: server.stateSlot, monitor: m, address: address, request: request,
                                        verdict: kept?.verdict ?? MonitorVerdict(up: !initiallyDown(server.stateSlot)),
                                        nextDue: kept.map { min($0.nextDue, now + UInt64(monitors[m].intervalMs)) } ?? first))
                }
                servers.append(checked)
            }
        }
    }

    /// Verdicts to carry into the next plan.
    var carried: [ProbeKey: (verdict: MonitorVerdict, nextDue: UInt64)] {
        var out: [ProbeKey: (verdict: MonitorVerdict, nextDue: UInt64)] = [:]
        for p in probes {
            // A check in flight that the next plan cannot take over runs again at once.
            out[ProbeKey(slot: p.slot, monitor: monitors[p.monitor])] = (p.verdict, p.phase == .idle ? p.nextDue : 0)
        }
        return out
    }

    /// The index of this plan's probe for `key`, if it has one.
    func probeIndex(for key: ProbeKey) -> Int? {
        guard let s = servers.firstIndex(where: { $0.slot == key.slot }) else { return nil }
        return servers[s].probes.first { monitors[probes[$0].monitor] == key.monitor }
    }

    func release() {
        for p in storage { p.deallocate() }
    }

    /// Whether `other` checks exactly what this plan checks (same servers,
    /// addresses, monitors, requests and names): a reload that changed only
    /// routing then leaves every check, in flight or not, alone.
    func checksTheSame(as other: Plan) -> Bool {
        guard probes.count == other.probes.count, monitors == other.monitors,
              servers.map(\.label) == other.servers.map(\.label), servers.map(\.probes) == other.servers.map(\.probes),
              unmonitored.map(\.slot) == other.unmonitored.map(\.slot),
              unmonitored.map(\.label) == other.unmonitored.map(\.label) else { return false }
        for (a, b) in zip(probes, other.probes) {
            guard a.monitor == b.monitor, a.sameCheck(as: b, monitors: monitors, otherMonitors: other.monitors) else { return false }
        }
        return true
    }

    static func hostPort(_ address: IPAddress, _ port: UInt16) -> String {
        address.family == .v6 ? "[\(address)]:\(port)" : "\(address):\(port)"
    }
}

/// A probe's identity across plans: the same server checked by the same
/// monitor settings keeps its verdict through a reload.
struct ProbeKey: Hashable {
    var slot: UInt32
    var monitor: HealthMonitorSpec

    static func == (a: ProbeKey, b: ProbeKey) -> Bool { a.slot == b.slot && a.monitor == b.monitor }
    func hash(into h: inout Hasher) {
        h.combine(slot)
        h.combine(monitor.name)
    }
}
