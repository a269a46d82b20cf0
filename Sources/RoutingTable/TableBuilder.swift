/// Why a `TableSpec` could not be compiled. `Config` validates everything a
/// user can get wrong first, so these mean a spec built by code is wrong.
public enum TableBuildError: Error, Equatable, CustomStringConvertible {
    case duplicateHeaderValue(pool: String, value: String, servers: (String, String))
    case unknownPool(virtualService: String, index: Int)
    case ratioOutOfRange(pool: String, server: String, ratio: UInt8)
    case unknownMonitor(pool: String, index: Int)
    case imageTooLarge(bytes: Int)

    public static func == (l: TableBuildError, r: TableBuildError) -> Bool { l.description == r.description }

    public var description: String {
        switch self {
        case let .duplicateHeaderValue(pool, value, servers):
            return "pool '\(pool)': header value '\(value)' is carried by both '\(servers.0)' and '\(servers.1)'"
        case let .unknownPool(vs, index):
            return "virtual service '\(vs)': pool index \(index) does not exist"
        case let .ratioOutOfRange(pool, server, ratio):
            return "pool '\(pool)', server '\(server)': ratio \(ratio) is outside 1...20"
        case let .unknownMonitor(pool, index):
            return "pool '\(pool)': health monitor index \(index) does not exist"
        case let .imageTooLarge(bytes):
            return "the compiled table would take \(bytes) bytes, more than the 4 GiB an image can address"
        }
    }
}

/// Compiles a `TableSpec` into the binary image `RoutingTableView` reads.
/// Linear in the spec's size: one pass to size every section, one to write.
public enum TableBuilder {
    public static func build(_ spec: TableSpec) throws(TableBuildError) -> [UInt8] {
        let plan = Plan(spec)
        for vs in spec.virtualServices where vs.pool < 0 || vs.pool >= spec.pools.count {
            throw .unknownPool(virtualService: vs.name, index: vs.pool)
        }
        for pool in spec.pools {
            for server in pool.servers where !(1...20).contains(server.ratio) {
                throw .ratioOutOfRange(pool: pool.name, server: server.name, ratio: server.ratio)
            }
            for m in pool.healthMonitors where m < 0 || m >= spec.healthMonitors.count {
                throw .unknownMonitor(pool: pool.name, index: m)
            }
        }
        guard plan.totalSize <= TableLayout.maxImageSize else { throw .imageTooLarge(bytes: plan.totalSize) }

        var image = [UInt8](repeating: 0, count: plan.totalSize)
        var failure: TableBuildError?
        image.withUnsafeMutableBytes { raw in
            var writer = Writer(base: raw.baseAddress!, plan: plan)
            do throws(TableBuildError) { try writer.write(spec) } catch { failure = error }
        }
        if let failure { throw failure }
        plan.finish(&image)
        return image
    }

    /// Section sizes and offsets, computed before anything is written.
    struct Plan {
        var offsets = [Int](repeating: 0, count: TableLayout.Section.allCases.count)
        var counts = [Int](repeating: 0, count: TableLayout.Section.allCases.count)
        var totalSize = 0

        init(_ spec: TableSpec) {
            var strings = 0
            var listens = 0, servers = 0, buckets = 0, rr = 0, poolMonitors = 0
            var tlsServices = 0, certificates = 0, serverNames = 0
            for vs in spec.virtualServices {
                strings += vs.name.utf8.count
                for l in vs.listen { strings += l.utf8.count }
                listens += vs.listen.count
                if let tls = vs.tls {
                    tlsServices += 1
                    strings += tls.ciphers.utf8.count + tls.ciphersuites.utf8.count
                    certificates += tls.certificates.count
                    for c in tls.certificates {
                        strings += c.chainPEM.count + c.keyPEM.count
                        for n in c.serverNames { strings += n.utf8.count }
                        serverNames += c.serverNames.count
                    }
                }
            }
            for pool in spec.pools {
                strings += pool.name.utf8.count
                strings += pool.persistence?.headerName.utf8.count ?? 0
                if case let .header(name) = pool.hashKey { strings += name.utf8.count }
                if case let .redirect(_, location) = pool.whenAllDown { strings += location.utf8.count }
                var values = 0
                for s in pool.servers {
                    strings += s.name.utf8.count + (s.headerValue?.utf8.count ?? 0)
                    if s.headerValue != nil { values += 1 }
                    rr += Int(s.ratio)
                }
                servers += pool.servers.count
                buckets += TableBuilder.bucketCount(forValues: values)
                poolMonitors += pool.healthMonitors.count
            }
            for m in spec.healthMonitors {
                strings += m.name.utf8.count
                if case let .http(request, _, expected) = m.check { strings += request.utf8.count + 2 * expected.codes.count }
            }
            counts = [spec.virtualServices.count, spec.pools.count, servers, buckets, rr, listens,
                      spec.healthMonitors.count, poolMonitors, tlsServices, certificates, serverNames, strings]
            var at = TableLayout.headerSize
            for s in TableLayout.Section.allCases {
                offsets[s.rawValue] = at
                at += (counts[s.rawValue] * TableLayout.recordSize(s) + 7) & ~7
            }
            totalSize = at
        }

        func finish(_ image: inout [UInt8]) {
            image.withUnsafeMutableBytes { raw in
                let p = raw.baseAddress!
                p.storeBytes(of: TableLayout.magic.littleEndian, toByteOffset: 0, as: UInt32.self)
                p.storeBytes(of: TableLayout.version.littleEndian, toByteOffset: 4, as: UInt16.self)
                p.storeBytes(of: UInt16(TableLayout.headerSize).littleEndian, toByteOffset: 6, as: UInt16.self)
                p.storeBytes(of: UInt64(totalSize).littleEndian, toByteOffset: 8, as: UInt64.self)
                for s in TableLayout.Section.allCases {
                    let at = TableLayout.sectionTableOffset + 8 * s.rawValue
                    p.storeBytes(of: UInt32(offsets[s.rawValue]).littleEndian, toByteOffset: at, as: UInt32.self)
                    p.storeBytes(of: UInt32(counts[s.rawValue]).littleEndian, toByteOffset: at + 4, as: UInt32.self)
                }
                p.storeBytes(of: TableHeader.checksum(UnsafeRawBufferPointer(raw)).littleEndian, toByteOffset: 16, as: UInt64.self)
            }
        }
    }

    /// Open addressing at a load factor of at most one half keeps probe
    /// sequences short whatever the table's size.
    static func bucketCount(forValues n: Int) -> Int {
        guard n > 0 else { return 0 }
        var c = 8
        while c < 2 * n { c <<= 1 }
        return c
    }

    struct Writer {
        let base: UnsafeMutableRawPointer
        let plan: Plan
        var stringCursor = 0
        var listenCursor = 0, serverCursor = 0, bucketCursor = 0, rrCursor = 0, poolMonitorCursor = 0
        var tlsCursor = 0, certificateCursor = 0, serverNameCursor = 0

        init(base: UnsafeMutableRawPointer, plan: Plan) {
            self.base = base
            self.plan = plan
        }

        func offset(_ s: TableLayout.Section) -> Int { plan.offsets[s.rawValue] }

        func put<T: FixedWidthInteger>(_ v: T, _ at: Int) {
            base.storeBytes(of: v.littleEndian, toByteOffset: at, as: T.self)
        }

        /// Copies a string into the strings section, lower-cased when asked,
        /// and writes its ref at `at`.
        mutating func putString(_ s: String, lowercased: Bool = false, _ at: Int) {
            var s = s
            let start = stringCursor
            s.withUTF8 { utf8 in
                let dst = base + offset(.strings) + stringCursor
                if lowercased {
                    for (i, b) in utf8.enumerated() {
                        dst.storeBytes(of: (b >= 65 && b <= 90) ? b | 0x20 : b, toByteOffset: i, as: UInt8.self)
                    }
                } else if let src = utf8.baseAddress {
                    dst.copyMemory(from: src, byteCount: utf8.count)
                }
                stringCursor += utf8.count
            }
            put(UInt32(start), at)
            put(UInt32(stringCursor - start), at + 4)
        }

        /// Copies bytes into the strings section and writes their ref at `at`.
        mutating func putBytes(_ bytes: [UInt8], _ at: Int) {
            let start = stringCursor
            bytes.withUnsafeBytes { raw in
                if let src = raw.baseAddress { (base + offset(.strings) + stringCursor).copyMemory(from: src, byteCount: raw.count) }
            }
            stringCursor += bytes.count
            put(UInt32(start), at)
            put(UInt32(bytes.count), at + 4)
        }

        mutating func writeTLS(_ tls: TLSSpec, service r: Int) {
            typealias S = TableLayout.TLSService
            typealias C = TableLayout.Certificate
            put(UInt32(tlsCursor), r + TableLayout.VS.tls)
            let t = offset(.tlsServices) + tlsCursor * TableLayout.tlsServiceSize
            tlsCursor += 1
            put(UInt32(certificateCursor), t + S.certificateFirst)
            put(UInt32(tls.certificates.count), t + S.certificateCount)
            put(tls.minVersionMinor, t + S.minVersionMinor)
            putString(tls.ciphers, t + S.ciphers)
            putString(tls.ciphersuites, t + S.ciphersuites)
            for certificate in tls.certificates {
                let c = offset(.certificates) + certificateCursor * TableLayout.certificateSize
                certificateCursor += 1
                putBytes(certificate.chainPEM, c + C.chain)
                putBytes(certificate.keyPEM, c + C.key)
                put(UInt32(serverNameCursor), c + C.nameFirst)
                put(UInt32(certificate.serverNames.count), c + C.nameCount)
                for name in certificate.serverNames {
                    putString(name, lowercased: true, offset(.serverNameRefs) + serverNameCursor * TableLayout.stringRefSize)
                    serverNameCursor += 1
                }
            }
        }

        mutating func write(_ spec: TableSpec) throws(TableBuildError) {
            for (i, vs) in spec.virtualServices.enumerated() {
                let r = offset(.virtualServices) + i * TableLayout.virtualServiceSize
                typealias F = TableLayout.VS
                putString(vs.name, r + F.name)
                put(UInt32(listenCursor), r + F.listenFirst)
                put(UInt32(vs.listen.count), r + F.listenCount)
                for l in vs.listen {
                    putString(l, offset(.listenRefs) + listenCursor * TableLayout.stringRefSize)
                    listenCursor += 1
                }
                put(UInt32(vs.pool), r + F.pool)
                put((vs.xForwardedFor ? F.flagXForwardedFor : 0) | (vs.tls != nil ? F.flagTLS : 0), r + F.flags)
                if let tls = vs.tls { writeTLS(tls, service: r) }
                put(vs.timeouts.clientHeaderMs, r + F.clientHeaderMs)
                put(vs.timeouts.clientIdleMs, r + F.clientIdleMs)
                put(vs.timeouts.connectMs, r + F.connectMs)
                put(vs.timeouts.serverResponseMs, r + F.serverResponseMs)
                put(vs.maxHeaderBytes, r + F.maxHeaderBytes)
            }
            for (i, pool) in spec.pools.enumerated() {
                try writePool(pool, index: i)
            }
            for (i, monitor) in spec.healthMonitors.enumerated() {
                writeMonitor(monitor, index: i)
            }
        }

        mutating func writeMonitor(_ m: HealthMonitorSpec, index: Int) {
            typealias F = TableLayout.Monitor
            let r = offset(.monitors) + index * TableLayout.monitorSize
            putString(m.name, r + F.name)
            put(m.successfulChecks, r + F.successfulChecks)
            put(m.failedChecks, r + F.failedChecks)
            put(m.intervalMs, r + F.intervalMs)
            put(m.timeoutMs, r + F.timeoutMs)
            switch m.check {
            case .tcp:
                put(F.kindTCP, r + F.kind)
            case let .http(request, hasHost, expected):
                put(F.kindHTTP, r + F.kind)
                putString(request, r + F.request)
                put(expected.classes, r + F.classes)
                put(hasHost ? F.flagHasHost : 0, r + F.flags)
                let start = stringCursor
                for code in expected.codes {
                    put(code, offset(.strings) + stringCursor)
                    stringCursor += 2
                }
                put(UInt32(start), r + F.expectedCodes)
                put(UInt32(stringCursor - start), r + F.expectedCodes + 4)
            }
        }

        mutating func writePool(_ pool: PoolSpec, index: Int) throws(TableBuildError) {
            typealias F = TableLayout.Pool
            let r = offset(.pools) + index * TableLayout.poolSize
            let first = serverCursor
            putString(pool.name, r + F.name)
            put(UInt32(first), r + F.firstServer)
            put(UInt32(pool.servers.count), r + F.serverCount)
            put(pool.lbAlgorithm.rawValue, r + F.lbAlgorithm)
            put(pool.persistence?.serverDown.rawValue ?? 0, r + F.serverDown)
            put(UInt8(pool.persistence == nil ? 0 : 1), r + F.hasPersistence)
            put(pool.maxConnectionsPerServer, r + F.maxConnections)
            if let p = pool.persistence { putString(p.headerName, lowercased: true, r + F.persistenceHeader) }
            switch pool.hashKey {
            case .clientIP: put(UInt8(0), r + F.hashKeyKind)
            case let .header(name):
                put(UInt8(1), r + F.hashKeyKind)
                putString(name, lowercased: true, r + F.hashHeader)
            }
            switch pool.whenAllDown {
            case let .localResponse(status, retryAfter):
                put(WhenAllDownAction.localResponse.rawValue, r + F.whenAllDownAction)
                put(status, r + F.whenAllDownStatus)
                put(retryAfter, r + F.retryAfter)
            case .close:
                put(WhenAllDownAction.close.rawValue, r + F.whenAllDownAction)
            case let .redirect(status, location):
                put(WhenAllDownAction.redirect.rawValue, r + F.whenAllDownAction)
                put(status, r + F.whenAllDownStatus)
                putString(location, r + F.redirectLocation)
            }

            var values = 0
            for server in pool.servers {
                writeServer(server, pool: index)
                if server.headerValue != nil { values += 1 }
            }
            put(UInt32(values), r + F.valueCount)

            let bucketFirst = bucketCursor
            let buckets = TableBuilder.bucketCount(forValues: values)
            put(UInt32(bucketFirst), r + F.bucketFirst)
            put(UInt32(buckets), r + F.bucketCount)
            bucketCursor += buckets
            if buckets > 0 {
                let table = base + offset(.buckets) + bucketFirst * TableLayout.bucketSize
                for b in 0..<buckets {
                    table.storeBytes(of: TableLayout.emptyBucket.littleEndian, toByteOffset: b * TableLayout.bucketSize + 4, as: UInt32.self)
                }
                for (i, server) in pool.servers.enumerated() where server.headerValue != nil {
                    try insert(server: first + i, into: table, mask: buckets - 1, pool: pool)
                }
            }

            put(UInt32(poolMonitorCursor), r + F.monitorFirst)
            put(UInt32(pool.healthMonitors.count), r + F.monitorCount)
            for m in pool.healthMonitors {
                put(UInt32(m), offset(.poolMonitors) + poolMonitorCursor * TableLayout.poolMonitorSize)
                poolMonitorCursor += 1
            }

            put(UInt32(rrCursor), r + F.rrFirst)
            let sequence = SmoothWeightedOrder.sequence(ratios: pool.servers.map { Int($0.ratio) })
            put(UInt32(sequence.count), r + F.rrCount)
            for s in sequence {
                put(UInt32(first + s), offset(.rrSequence) + rrCursor * TableLayout.rrEntrySize)
                rrCursor += 1
            }
        }

        mutating func writeServer(_ s: ServerSpec, pool: Int) {
            typealias F = TableLayout.Server
            let r = offset(.servers) + serverCursor * TableLayout.serverSize
            serverCursor += 1
            putString(s.name, r + F.name)
            if let v = s.headerValue {
                putString(v, r + F.headerValue)
                put(UInt8(1), r + F.hasHeaderValue)
            }
            put(s.address.bytes.0, r + F.address)
            put(s.address.bytes.1, r + F.address + 8)
            put(s.port, r + F.port)
            put(s.address.family.rawValue, r + F.family)
            put(UInt8(s.enabled ? 1 : 0), r + F.enabled)
            put(s.ratio, r + F.ratio)
            put(UInt32(pool), r + F.pool)
            put(s.stateSlot ?? UInt32(serverCursor - 1), r + F.stateSlot)
            put(ServerIdentity.hash(address: s.address, port: s.port), r + F.identity)
        }

        func stringBytes(at ref: Int) -> UnsafeRawBufferPointer {
            let off = Int(UInt32(littleEndian: base.load(fromByteOffset: ref, as: UInt32.self)))
            let len = Int(UInt32(littleEndian: base.load(fromByteOffset: ref + 4, as: UInt32.self)))
            return UnsafeRawBufferPointer(start: base + offset(.strings) + off, count: len)
        }

        func insert(server: Int, into table: UnsafeMutableRawPointer, mask: Int, pool: PoolSpec) throws(TableBuildError) {
            let valueRef = offset(.servers) + server * TableLayout.serverSize + TableLayout.Server.headerValue
            let value = stringBytes(at: valueRef)
            let h = TetherHash.hash(value)
            let tag = UInt32(truncatingIfNeeded: h >> 32)
            let size = TableLayout.bucketSize
            var i = Int(truncatingIfNeeded: h) & mask
            while true {
                let bucket = table + i * size
                let occupant = UInt32(littleEndian: bucket.load(fromByteOffset: 4, as: UInt32.self))
                if occupant == TableLayout.emptyBucket {
                    bucket.storeBytes(of: tag.littleEndian, toByteOffset: 0, as: UInt32.self)
                    bucket.storeBytes(of: UInt32(server).littleEndian, toByteOffset: 4, as: UInt32.self)
                    (bucket + 8).copyMemory(from: base + valueRef, byteCount: 8)
                    return
                }
                if UInt32(littleEndian: bucket.load(fromByteOffset: 0, as: UInt32.self)) == tag,
                   stringBytes(at: i * size + 8, in: table).elementsEqual(value) {
                    let carriers = pool.servers.filter { $0.headerValue.map { $0.utf8.elementsEqual(value) } ?? false }
                    throw .duplicateHeaderValue(pool: pool.name, value: String(decoding: value, as: UTF8.self),
                                                servers: (carriers.first?.name ?? "?", carriers.last?.name ?? "?"))
                }
                i = (i + 1) & mask
            }
        }

        func stringBytes(at ref: Int, in record: UnsafeMutableRawPointer) -> UnsafeRawBufferPointer {
            stringBytes(at: record - base + ref)
        }
    }
}

public enum WhenAllDownAction: UInt8, Sendable {
    case localResponse = 0, close = 1, redirect = 2
}

/// The stable identity of a server: its address and port. Rendezvous hashing
/// scores servers by it, so every worker and every tether machine with the
/// same servers picks the same replacement, whatever the servers are named
/// or in which order they are listed.
public enum ServerIdentity {
    public static func hash(address: IPAddress, port: UInt16) -> UInt64 {
        var words = (address.bytes.0.littleEndian, address.bytes.1.littleEndian,
                     (UInt64(address.family.rawValue) << 16 | UInt64(port)).littleEndian)
        return withUnsafeBytes(of: &words) { TetherHash.hash($0) }
    }
}
