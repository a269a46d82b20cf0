import CLinux
import Posix
import RoutingTable
import Selection
import SharedState
import TLS

/// What the data path reads from one table, copied out of it once per
/// table (allocated on a switch, never per request).
struct TableSettings {
    var services: UnsafeMutablePointer<ServiceSettings>
    var pools: UnsafeMutablePointer<PoolSettings>
    var serverAddresses: UnsafeMutablePointer<SocketAddress>
    var serverStateSlots: UnsafeMutablePointer<UInt32>
    /// Keep-alive pool heads, one per table server, all empty.
    var poolHeads: UnsafeMutablePointer<UInt32>
    /// With an access log: each server's `pool=NAME server=NAME`, in
    /// `AccessLog.Layout.serverCapacity` bytes, and its length.
    var serverLogNames: UnsafeMutablePointer<UInt8>?
    var serverLogNameCounts: UnsafeMutablePointer<UInt8>?

    init(services: UnsafeMutablePointer<ServiceSettings>, pools: UnsafeMutablePointer<PoolSettings>,
         serverAddresses: UnsafeMutablePointer<SocketAddress>, serverStateSlots: UnsafeMutablePointer<UInt32>,
         poolHeads: UnsafeMutablePointer<UInt32>, serverLogNames: UnsafeMutablePointer<UInt8>?,
         serverLogNameCounts: UnsafeMutablePointer<UInt8>?) {
        self.services = services
        self.pools = pools
        self.serverAddresses = serverAddresses
        self.serverStateSlots = serverStateSlots
        self.poolHeads = poolHeads
        self.serverLogNames = serverLogNames
        self.serverLogNameCounts = serverLogNameCounts
    }

    init(_ table: RoutingTableView, logNames: Bool) {
        services = .allocate(capacity: max(1, table.virtualServiceCount))
        for v in 0..<table.virtualServiceCount {
            let spec = table.virtualService(v)
            services[v] = ServiceSettings(
                pool: spec.pool, xForwardedFor: spec.xForwardedFor, tls: spec.tls,
                clientHeaderMilliseconds: UInt64(spec.timeouts.clientHeaderMs),
                clientIdleMilliseconds: UInt64(spec.timeouts.clientIdleMs),
                connectMilliseconds: UInt64(spec.timeouts.connectMs),
                serverResponseMilliseconds: UInt64(spec.timeouts.serverResponseMs),
                maxHeaderBytes: Int(spec.maxHeaderBytes))
        }
        pools = .allocate(capacity: max(1, table.poolCount))
        for p in 0..<table.poolCount {
            let pool = table.pool(UInt32(p))
            pools[p] = PoolSettings(persistenceName: pool.hasPersistence ? pool.persistenceHeader : nil,
                                    hashName: pool.hashHeader,
                                    serverDown: pool.serverDown,
                                    maxConnectionsPerServer: pool.maxConnectionsPerServer,
                                    monitored: !pool.monitors.isEmpty)
        }
        let count = table.serverCount
        serverAddresses = .allocate(capacity: max(1, count))
        serverStateSlots = .allocate(capacity: max(1, count))
        for s in 0..<count {
            let server = table.server(UInt32(s))
            serverAddresses.advanced(by: s).initialize(to: SocketAddress(server.address, port: server.port))
            serverStateSlots[s] = server.stateSlot
        }
        poolHeads = .allocate(capacity: max(1, count))
        poolHeads.initialize(repeating: .max, count: max(1, count))
        guard logNames else { return }
        (serverLogNames, serverLogNameCounts) = TableSettings.logNames(table)
    }

    /// Each server's `pool=NAME server=NAME` for the access log, in
    /// `AccessLog.Layout.serverCapacity` bytes, and its length.
    static func logNames(_ table: RoutingTableView) -> (UnsafeMutablePointer<UInt8>, UnsafeMutablePointer<UInt8>) {
        let count = table.serverCount
        let capacity = AccessLog.Layout.serverCapacity
        let names = UnsafeMutablePointer<UInt8>.allocate(capacity: max(1, count) * capacity)
        let counts = UnsafeMutablePointer<UInt8>.allocate(capacity: max(1, count))
        for p in 0..<table.poolCount {
            let pool = table.pool(UInt32(p))
            for s in pool.servers {
                // Too long for the record: shorten the names, a character at
                // a time, before escaping, so the field stays valid logfmt
                // (a cut after escaping could leave a quote open or split
                // a character). Once per table, not per request.
                var poolName = pool.name, serverName = table.server(s).name
                var text = Array("pool=\(LogLine.value(poolName)) server=\(LogLine.value(serverName))".utf8)
                while text.count > capacity && !(poolName.isEmpty && serverName.isEmpty) {
                    if poolName.count >= serverName.count { poolName.removeLast() } else { serverName.removeLast() }
                    text = Array("pool=\(LogLine.value(poolName)) server=\(LogLine.value(serverName))".utf8)
                }
                (names + Int(s) * capacity).update(from: text, count: text.count)
                counts[Int(s)] = UInt8(text.count)
            }
        }
        return (names, counts)
    }

    /// Server `s`'s `pool=... server=...` for the access log (empty without one).
    func logName(_ s: UInt32) -> UnsafeRawBufferPointer {
        guard let serverLogNames, let serverLogNameCounts else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: serverLogNames + Int(s) * AccessLog.Layout.serverCapacity,
                                      count: Int(serverLogNameCounts[Int(s)]))
    }

    func deallocate() {
        services.deallocate()
        pools.deallocate()
        serverAddresses.deallocate()
        serverStateSlots.deallocate()
        poolHeads.deallocate()
        serverLogNames?.deallocate()
        serverLogNameCounts?.deallocate()
    }
}

/// A table no longer current, kept mapped while an exchange routed with it
/// may still read it (a redirect's location is sent from the table's bytes).
struct RetiredTable {
    var generation: UInt64
    var image: UnsafeMutableRawBufferPointer
    var mapped: Bool
}

func releaseImage(_ image: UnsafeMutableRawBufferPointer, mapped: Bool) {
    if mapped {
        if let base = image.baseAddress { Posix.unmap(base, bytes: image.count) }
    } else {
        image.deallocate()
    }
}

extension EventLoop {
    /// The current table's settings, as one value.
    var currentSettings: TableSettings {
        TableSettings(services: services, pools: pools, serverAddresses: serverAddresses, serverStateSlots: serverStateSlots,
                      poolHeads: poolHeads, serverLogNames: serverLogNames, serverLogNameCounts: serverLogNameCounts)
    }

    /// Top of every loop iteration: one acquire load of the generation; a
    /// new one is loaded and used for every request routed from now on.
    @inline(__always)
    mutating func followTable(_ region: SharedRegion) {
        let current = region.currentGeneration()
        if current != tableGeneration && current != refusedGeneration { switchTable(region, to: current) }
        if !retiredTables.isEmpty && now >= nextReclaimCheck { reclaimTables() }
    }

    /// Maps the table of `generation` from the supervisor's memfd, checks
    /// it, and makes it current; the old one retires.
    mutating func switchTable(_ region: SharedRegion, to generation: UInt64) {
        guard let d = region.descriptor(of: generation) else {
            log.warning("table generation \(generation) is no longer described; waiting for the next")
            refusedGeneration = generation
            return
        }
        let image: UnsafeMutableRawBufferPointer
        do {
            let fd = try Posix.open("/proc/\(d.supervisorPID)/fd/\(d.fd)", flags: O_RDONLY)
            defer { Posix.close(fd) }
            let size = try Posix.fileSize(fd)
            guard size > 0, UInt64(size) == d.size else {
                log.error("table generation \(generation): \(size) bytes where \(d.size) were published; keeping generation \(tableGeneration)")
                refusedGeneration = generation
                return
            }
            image = UnsafeMutableRawBufferPointer(start: try Posix.mapShared(fd, bytes: size, writable: false), count: size)
        } catch {
            log.error("cannot open table generation \(generation): \(error); keeping generation \(tableGeneration)")
            refusedGeneration = generation
            return
        }
        let next: RoutingTableView
        do {
            next = try RoutingTableView(validating: UnsafeRawBufferPointer(image))
        } catch {
            log.error("table generation \(generation) is invalid: \(error); keeping generation \(tableGeneration)")
            releaseImage(image, mapped: true)
            refusedGeneration = generation
            return
        }
        var problem: String? = nil
        for l in 0..<listenerCount where Int(listeners[l].service) >= next.virtualServiceCount {
            problem = "it has no virtual service \(listeners[l].service) for a listener"
        }
        // A reload that moved listen addresses replaces this worker; until it
        // is drained it must not read its sockets' service numbers in a table
        // where they may name another virtual service.
        for l in 0..<listenerCount where problem == nil && listeners[l].open
            && !EventLoop.table(next, lists: listeners[l].service, boundTo: listeners[l].fd) {
            problem = "virtual service \(listeners[l].service) no longer listens on this worker's socket (this worker is being replaced)"
        }
        for s in 0..<next.serverCount where Int(next.server(UInt32(s)).stateSlot) >= counters.count {
            problem = "server state slot \(next.server(UInt32(s)).stateSlot) is beyond the \(counters.count) shared slots"
        }
        // TLS contexts are built before anything changes: a generation whose
        // certificates this worker cannot load is refused like any other.
        var tlsContexts: (contexts: [TLSServerContext?], sources: [TLSSpec?])? = nil
        if problem == nil && (tls != nil || EventLoop.hasTLS(next)) {
            do {
                try enableTLS()
                tlsContexts = try tls.unsafelyUnwrapped.contexts(for: next)
            } catch {
                problem = "TLS: \(error)"
            }
        }
        if let problem {
            log.warning("table generation \(generation) refused: \(problem); keeping generation \(tableGeneration)")
            releaseImage(image, mapped: true)
            refusedGeneration = generation
            return
        }

        // Shares in the new table's server slots are held from now on.
        var slotsNeeded: UInt32 = 0
        for s in 0..<next.serverCount { slotsNeeded = max(slotsNeeded, next.server(UInt32(s)).stateSlot + 1) }
        counters.holdings.extendReach(to: slotsNeeded)

        // Idle pooled connections are keyed by the old table's server
        // indices: close them. Attached ones close when their exchange ends.
        closeAllServerConnections()
        publishCounters(region)
        currentSettings.deallocate()
        let settings = TableSettings(next, logNames: accessLog.enabled)
        services = settings.services
        pools = settings.pools
        serverAddresses = settings.serverAddresses
        serverStateSlots = settings.serverStateSlots
        poolHeads = settings.poolHeads
        serverLogNames = settings.serverLogNames
        serverLogNameCounts = settings.serverLogNameCounts
        serverCount = next.serverCount
        tally.resize(servers: next.serverCount)
        tally.add(.tableSwitches)
        selector = Selector(table: next, seed: selectorSeed)
        if let tlsContexts, let tls { (tls.contexts, tls.sources) = tlsContexts }

        retiredTables.append(RetiredTable(generation: tableGeneration, image: tableImage, mapped: tableImageMapped))
        tableImage = image
        tableImageMapped = true
        table = next
        let previous = tableGeneration
        tableGeneration = generation
        // The epoch is the generation new requests use: the supervisor may
        // close older tables' descriptors (this worker has its mappings),
        // and `tether reload` counts this worker as switched.
        region.worker(workerIndex).announce(epoch: generation)
        log.info("table generation \(generation) live (was \(previous)): \(next.serverCount) servers")
        reclaimTables()
    }

    /// Unmaps retired tables no exchange in progress was routed with.
    mutating func reclaimTables() {
        var oldestInUse = tableGeneration
        for c in 0..<clientHighWater {
            switch clients[c].phase {
            case .free, .idle, .head, .tunnel: continue  // a tunnel reads no table
            default: oldestInUse = min(oldestInUse, clients[c].exchange.tableGeneration)
            }
        }
        retiredTables.removeAll { r in
            if r.generation < oldestInUse {
                releaseImage(r.image, mapped: r.mapped)
                return true
            }
            return false
        }
        nextReclaimCheck = now + 50
    }

    /// The current table's index of the server in state slot `slot`, or
    /// `noServer` (a reload removed it). Linear: only after a table switch.
    func currentIndex(ofStateSlot slot: UInt32) -> UInt32 {
        for s in 0..<serverCount where serverStateSlots[s] == slot { return UInt32(s) }
        return noServer
    }
}

extension EventLoop {
    /// Whether virtual service `service` of `table` lists the address the
    /// socket `fd` is bound to. A socket whose address cannot be read is
    /// assumed to match (nothing better is known).
    static func table(_ table: RoutingTableView, lists service: UInt32, boundTo fd: CInt) -> Bool {
        guard Int(service) < table.virtualServiceCount, let bound = try? Posix.localAddress(fd) else { return true }
        let boundBytes = bound.withAddressBytes { Array($0) }
        for text in table.virtualService(Int(service)).listen {
            guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]),
                  let ip = IPAddress(String(text[..<colon])) else { continue }
            var octets = ip.octets
            if octets.count == 16 && octets[0..<10].allSatisfy({ $0 == 0 }) && octets[10] == 0xff && octets[11] == 0xff {
                octets = Array(octets[12...])  // as the socket reports an IPv4-mapped address
            }
            if port == bound.port && octets == boundBytes { return true }
        }
        return false
    }
}
