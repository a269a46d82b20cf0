/// Why an image was refused. A reader trusts nothing it has not checked.
public enum TableImageError: Error, Equatable, CustomStringConvertible {
    case tooSmall(Int)
    case badMagic(UInt32)
    case unsupportedVersion(UInt16)
    case sizeMismatch(declared: UInt64, actual: Int)
    case checksumMismatch
    case sectionOutOfBounds(String)
    case referenceOutOfBounds(String)

    public var description: String {
        switch self {
        case let .tooSmall(n): return "image of \(n) bytes is smaller than its header"
        case let .badMagic(m): return "bad magic 0x\(String(m, radix: 16)): not a tether routing table"
        case let .unsupportedVersion(v): return "table format version \(v) is not supported (this build reads \(TableLayout.version))"
        case let .sizeMismatch(d, a): return "header declares \(d) bytes but the image has \(a)"
        case .checksumMismatch: return "checksum mismatch: the image is corrupt"
        case let .sectionOutOfBounds(s): return "section \(s) lies outside the image"
        case let .referenceOutOfBounds(s): return "\(s) points outside its section"
        }
    }
}

enum TableHeader {
    /// Covers every byte of the image except the checksum field itself.
    static func checksum(_ image: UnsafeRawBufferPointer) -> UInt64 {
        let first = TetherHash.hash(UnsafeRawBufferPointer(rebasing: image[0..<16]), seed: 0x7465_7468_6572)  // "tether"
        return TetherHash.hash(UnsafeRawBufferPointer(rebasing: image[24...]), seed: first)
    }
}

/// A compiled routing table read in place. Creating one validates the whole
/// image (header, checksum, every section bound and every reference), so
/// lookups afterwards do no bounds checks of their own. It owns nothing:
/// the memory must outlive it (a mapping, or an array kept alive).
public struct RoutingTableView: @unchecked Sendable {
    public let base: UnsafeRawPointer
    public let size: Int
    @usableFromInline let vsOffset: Int, poolOffset: Int, serverOffset: Int
    @usableFromInline let bucketOffset: Int, rrOffset: Int, listenOffset: Int, stringOffset: Int
    @usableFromInline let monitorOffset: Int, poolMonitorOffset: Int
    let tlsOffset: Int, certificateOffset: Int, serverNameOffset: Int
    let tlsServiceCount: Int, certificateTotal: Int, serverNameTotal: Int
    public let virtualServiceCount: Int, poolCount: Int, serverCount: Int, monitorCount: Int
    @usableFromInline let bucketTotal: Int, rrTotal: Int, listenTotal: Int, stringTotal: Int, poolMonitorTotal: Int

    public init(validating image: UnsafeRawBufferPointer) throws(TableImageError) {
        guard let p = image.baseAddress, image.count >= TableLayout.headerSize else { throw .tooSmall(image.count) }
        func u32(_ at: Int) -> UInt32 { UInt32(littleEndian: p.loadUnaligned(fromByteOffset: at, as: UInt32.self)) }
        let magic = u32(0)
        guard magic == TableLayout.magic else { throw .badMagic(magic) }
        let version = UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 4, as: UInt16.self))
        guard version == TableLayout.version else { throw .unsupportedVersion(version) }
        let declared = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        guard declared == UInt64(image.count) else { throw .sizeMismatch(declared: declared, actual: image.count) }
        guard Int(bitPattern: p) & 7 == 0 else { throw .sectionOutOfBounds("image base (not 8-byte aligned)") }
        let stored = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
        guard TableHeader.checksum(image) == stored else { throw .checksumMismatch }

        var offsets: [Int] = [], counts: [Int] = []
        for s in TableLayout.Section.allCases {
            let at = TableLayout.sectionTableOffset + 8 * s.rawValue
            let off = Int(u32(at)), count = Int(u32(at + 4))
            let bytes = count * TableLayout.recordSize(s)
            guard off >= TableLayout.headerSize, off & 7 == 0, off + bytes <= image.count else {
                throw .sectionOutOfBounds("\(s)")
            }
            offsets.append(off)
            counts.append(count)
        }
        base = p
        size = image.count
        typealias S = TableLayout.Section
        (vsOffset, poolOffset, serverOffset, bucketOffset, rrOffset, listenOffset) =
            (offsets[S.virtualServices.rawValue], offsets[S.pools.rawValue], offsets[S.servers.rawValue],
             offsets[S.buckets.rawValue], offsets[S.rrSequence.rawValue], offsets[S.listenRefs.rawValue])
        (monitorOffset, poolMonitorOffset, stringOffset) =
            (offsets[S.monitors.rawValue], offsets[S.poolMonitors.rawValue], offsets[S.strings.rawValue])
        (virtualServiceCount, poolCount, serverCount, bucketTotal, rrTotal, listenTotal) =
            (counts[S.virtualServices.rawValue], counts[S.pools.rawValue], counts[S.servers.rawValue],
             counts[S.buckets.rawValue], counts[S.rrSequence.rawValue], counts[S.listenRefs.rawValue])
        (monitorCount, poolMonitorTotal, stringTotal) =
            (counts[S.monitors.rawValue], counts[S.poolMonitors.rawValue], counts[S.strings.rawValue])
        (tlsOffset, certificateOffset, serverNameOffset) =
            (offsets[S.tlsServices.rawValue], offsets[S.certificates.rawValue], offsets[S.serverNameRefs.rawValue])
        (tlsServiceCount, certificateTotal, serverNameTotal) =
            (counts[S.tlsServices.rawValue], counts[S.certificates.rawValue], counts[S.serverNameRefs.rawValue])
        try validateReferences()
    }

    private func validateReferences() throws(TableImageError) {
        func string(_ at: Int, _ what: String) throws(TableImageError) {
            let off = Int(u32(at)), len = Int(u32(at + 4))
            guard off + len <= stringTotal else { throw .referenceOutOfBounds(what) }
        }
        for i in 0..<virtualServiceCount {
            let r = vsOffset + i * TableLayout.virtualServiceSize
            typealias F = TableLayout.VS
            try string(r + F.name, "virtual service \(i) name")
            let first = Int(u32(r + F.listenFirst)), count = Int(u32(r + F.listenCount))
            guard first + count <= listenTotal else { throw .referenceOutOfBounds("virtual service \(i) listen list") }
            for l in first..<(first + count) { try string(listenOffset + l * 8, "virtual service \(i) listen \(l)") }
            guard Int(u32(r + F.pool)) < poolCount else { throw .referenceOutOfBounds("virtual service \(i) pool") }
            if u32(r + F.flags) & F.flagTLS != 0 {
                guard Int(u32(r + F.tls)) < tlsServiceCount else { throw .referenceOutOfBounds("virtual service \(i) TLS settings") }
            }
        }
        for i in 0..<tlsServiceCount {
            let r = tlsOffset + i * TableLayout.tlsServiceSize
            typealias F = TableLayout.TLSService
            try string(r + F.ciphers, "TLS service \(i) ciphers")
            try string(r + F.ciphersuites, "TLS service \(i) cipher suites")
            let first = Int(u32(r + F.certificateFirst)), count = Int(u32(r + F.certificateCount))
            guard count > 0, first + count <= certificateTotal else { throw .referenceOutOfBounds("TLS service \(i) certificates") }
        }
        for i in 0..<certificateTotal {
            let r = certificateOffset + i * TableLayout.certificateSize
            typealias F = TableLayout.Certificate
            try string(r + F.chain, "certificate \(i) chain")
            try string(r + F.key, "certificate \(i) key")
            let first = Int(u32(r + F.nameFirst)), count = Int(u32(r + F.nameCount))
            guard first + count <= serverNameTotal else { throw .referenceOutOfBounds("certificate \(i) server names") }
            for n in first..<(first + count) { try string(serverNameOffset + n * 8, "certificate \(i) server name \(n)") }
        }
        for i in 0..<poolCount {
            let r = poolOffset + i * TableLayout.poolSize
            typealias F = TableLayout.Pool
            for (f, what) in [(F.name, "name"), (F.persistenceHeader, "persistence header"),
                              (F.hashHeader, "hash header"), (F.redirectLocation, "redirect location")] {
                try string(r + f, "pool \(i) \(what)")
            }
            let first = Int(u32(r + F.firstServer)), count = Int(u32(r + F.serverCount))
            guard first + count <= serverCount else { throw .referenceOutOfBounds("pool \(i) servers") }
            let bFirst = Int(u32(r + F.bucketFirst)), bCount = Int(u32(r + F.bucketCount))
            guard bFirst + bCount <= bucketTotal, bCount & (bCount &- 1) == 0 else {
                throw .referenceOutOfBounds("pool \(i) buckets")
            }
            for b in bFirst..<(bFirst + bCount) {
                let bucket = bucketOffset + b * TableLayout.bucketSize
                let s = u32(bucket + 4)
                if s == TableLayout.emptyBucket { continue }
                guard Int(s) >= first && Int(s) < first + count else { throw .referenceOutOfBounds("pool \(i) bucket \(b)") }
                try string(bucket + 8, "pool \(i) bucket \(b) value")
            }
            let mFirst = Int(u32(r + F.monitorFirst)), mCount = Int(u32(r + F.monitorCount))
            guard mFirst + mCount <= poolMonitorTotal else { throw .referenceOutOfBounds("pool \(i) health monitors") }
            for k in mFirst..<(mFirst + mCount) where Int(u32(poolMonitorOffset + k * 4)) >= monitorCount {
                throw .referenceOutOfBounds("pool \(i) health monitor entry \(k)")
            }
            let rFirst = Int(u32(r + F.rrFirst)), rCount = Int(u32(r + F.rrCount))
            guard rFirst + rCount <= rrTotal else { throw .referenceOutOfBounds("pool \(i) round-robin order") }
            for k in rFirst..<(rFirst + rCount) {
                let s = Int(u32(rrOffset + k * 4))
                guard s >= first && s < first + count else { throw .referenceOutOfBounds("pool \(i) round-robin entry \(k)") }
            }
        }
        for i in 0..<monitorCount {
            let r = monitorOffset + i * TableLayout.monitorSize
            typealias F = TableLayout.Monitor
            try string(r + F.name, "health monitor \(i) name")
            try string(r + F.request, "health monitor \(i) request")
            try string(r + F.expectedCodes, "health monitor \(i) expected codes")
            guard u32(r + F.expectedCodes + 4) % 2 == 0, u8(r + F.kind) <= F.kindHTTP else {
                throw .referenceOutOfBounds("health monitor \(i) record")
            }
        }
        for i in 0..<serverCount {
            let r = serverOffset + i * TableLayout.serverSize
            try string(r + TableLayout.Server.name, "server \(i) name")
            try string(r + TableLayout.Server.headerValue, "server \(i) header value")
            guard Int(u32(r + TableLayout.Server.pool)) < poolCount else { throw .referenceOutOfBounds("server \(i) pool") }
        }
    }

    @inlinable @inline(__always)
    func u8(_ at: Int) -> UInt8 { base.load(fromByteOffset: at, as: UInt8.self) }
    @inlinable @inline(__always)
    func u16(_ at: Int) -> UInt16 { UInt16(littleEndian: base.load(fromByteOffset: at, as: UInt16.self)) }
    @inlinable @inline(__always)
    func u32(_ at: Int) -> UInt32 { UInt32(littleEndian: base.load(fromByteOffset: at, as: UInt32.self)) }
    @inlinable @inline(__always)
    func u64(_ at: Int) -> UInt64 { UInt64(littleEndian: base.load(fromByteOffset: at, as: UInt64.self)) }
    @inlinable @inline(__always)
    func string(at ref: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + stringOffset + Int(u32(ref)), count: Int(u32(ref + 4)))
    }

    public func virtualService(_ i: Int) -> VirtualServiceView {
        precondition(i >= 0 && i < virtualServiceCount, "virtual service index out of range")
        return VirtualServiceView(table: self, record: vsOffset + i * TableLayout.virtualServiceSize)
    }

    @inlinable
    public func pool(_ i: UInt32) -> PoolView {
        precondition(Int(i) < poolCount, "pool index out of range")
        return PoolView(table: self, record: poolOffset + Int(i) * TableLayout.poolSize)
    }

    @inlinable
    public func server(_ i: UInt32) -> ServerView {
        precondition(Int(i) < serverCount, "server index out of range")
        return ServerView(table: self, record: serverOffset + Int(i) * TableLayout.serverSize)
    }

    @inlinable
    func rrEntry(_ k: Int) -> UInt32 { u32(rrOffset + k * 4) }

    public func monitor(_ i: UInt32) -> HealthMonitorView {
        precondition(Int(i) < monitorCount, "health monitor index out of range")
        return HealthMonitorView(table: self, record: monitorOffset + Int(i) * TableLayout.monitorSize)
    }
}

/// A health monitor of the table: what the monitor process runs.
public struct HealthMonitorView {
    let table: RoutingTableView
    let record: Int
    typealias F = TableLayout.Monitor

    public var name: String { String(decoding: table.string(at: record + F.name), as: UTF8.self) }
    public var intervalMs: UInt32 { table.u32(record + F.intervalMs) }
    public var timeoutMs: UInt32 { table.u32(record + F.timeoutMs) }
    public var successfulChecks: UInt8 { table.u8(record + F.successfulChecks) }
    public var failedChecks: UInt8 { table.u8(record + F.failedChecks) }

    public var check: HealthMonitorSpec.Check {
        guard table.u8(record + F.kind) == F.kindHTTP else { return .tcp }
        let codes = table.string(at: record + F.expectedCodes)
        let expected = ExpectedStatus(
            classes: table.u8(record + F.classes),
            codes: stride(from: 0, to: codes.count, by: 2).map { UInt16(littleEndian: codes.loadUnaligned(fromByteOffset: $0, as: UInt16.self)) })
        return .http(request: String(decoding: table.string(at: record + F.request), as: UTF8.self),
                     hasHost: table.u32(record + F.flags) & F.flagHasHost != 0, expected: expected)
    }

    public var spec: HealthMonitorSpec {
        HealthMonitorSpec(name: name, check: check, intervalMs: intervalMs, timeoutMs: timeoutMs,
                          successfulChecks: successfulChecks, failedChecks: failedChecks)
    }
}

public struct VirtualServiceView {
    let table: RoutingTableView
    let record: Int
    typealias F = TableLayout.VS

    public var name: String { String(decoding: table.string(at: record + F.name), as: UTF8.self) }
    public var listen: [String] {
        let first = Int(table.u32(record + F.listenFirst)), count = Int(table.u32(record + F.listenCount))
        return (first..<(first + count)).map {
            String(decoding: table.string(at: table.listenOffset + $0 * 8), as: UTF8.self)
        }
    }
    public var pool: UInt32 { table.u32(record + F.pool) }
    public var xForwardedFor: Bool { table.u32(record + F.flags) & F.flagXForwardedFor != 0 }
    public var tls: Bool { table.u32(record + F.flags) & F.flagTLS != 0 }
    /// Certificates and settings, when the service terminates TLS.
    public var tlsService: TLSServiceView? {
        guard tls else { return nil }
        return TLSServiceView(table: table, record: table.tlsOffset + Int(table.u32(record + F.tls)) * TableLayout.tlsServiceSize)
    }
    public var timeouts: Timeouts {
        Timeouts(clientHeaderMs: table.u32(record + F.clientHeaderMs), clientIdleMs: table.u32(record + F.clientIdleMs),
                 connectMs: table.u32(record + F.connectMs), serverResponseMs: table.u32(record + F.serverResponseMs))
    }
    public var maxHeaderBytes: UInt32 { table.u32(record + F.maxHeaderBytes) }
}

/// A virtual service's TLS settings and certificates, read in place.
public struct TLSServiceView {
    let table: RoutingTableView
    let record: Int
    typealias F = TableLayout.TLSService

    public var minVersionMinor: UInt8 { table.u8(record + F.minVersionMinor) }
    public var ciphers: String { String(decoding: table.string(at: record + F.ciphers), as: UTF8.self) }
    public var ciphersuites: String { String(decoding: table.string(at: record + F.ciphersuites), as: UTF8.self) }
    public var certificateCount: Int { Int(table.u32(record + F.certificateCount)) }

    public func certificate(_ k: Int) -> CertificateView {
        precondition(k >= 0 && k < certificateCount, "certificate index out of range")
        let first = Int(table.u32(record + F.certificateFirst))
        return CertificateView(table: table, record: table.certificateOffset + (first + k) * TableLayout.certificateSize)
    }

    /// Everything the service's contexts are built from, as one spec.
    public var spec: TLSSpec {
        TLSSpec(certificates: (0..<certificateCount).map { certificate($0).spec }, minVersionMinor: minVersionMinor,
                ciphers: ciphers, ciphersuites: ciphersuites)
    }
}

public struct CertificateView {
    let table: RoutingTableView
    let record: Int
    typealias F = TableLayout.Certificate

    /// PEM text: the chain, leaf first, and the private key.
    public var chainPEM: UnsafeRawBufferPointer { table.string(at: record + F.chain) }
    public var keyPEM: UnsafeRawBufferPointer { table.string(at: record + F.key) }
    /// Lower-case exact names and "*.suffix" wildcards.
    public var serverNames: [String] {
        let first = Int(table.u32(record + F.nameFirst)), count = Int(table.u32(record + F.nameCount))
        return (first..<(first + count)).map {
            String(decoding: table.string(at: table.serverNameOffset + $0 * TableLayout.stringRefSize), as: UTF8.self)
        }
    }

    public var spec: TLSCertificateSpec {
        TLSCertificateSpec(chainPEM: Array(chainPEM), keyPEM: Array(keyPEM), serverNames: serverNames)
    }
}

public struct PoolView {
    @usableFromInline let table: RoutingTableView
    @usableFromInline let record: Int
    @usableFromInline typealias F = TableLayout.Pool

    @inlinable init(table: RoutingTableView, record: Int) {
        self.table = table
        self.record = record
    }

    public var name: String { String(decoding: table.string(at: record + F.name), as: UTF8.self) }
    @inlinable public var firstServer: UInt32 { table.u32(record + F.firstServer) }
    @inlinable public var serverCount: UInt32 { table.u32(record + F.serverCount) }
    @inlinable public var servers: Range<UInt32> { firstServer..<(firstServer + serverCount) }
    public var lbAlgorithm: LBAlgorithm { LBAlgorithm(rawValue: table.u8(record + F.lbAlgorithm)) ?? .leastConnections }
    @inlinable public var hasPersistence: Bool { table.u8(record + F.hasPersistence) != 0 }
    public var serverDown: ServerDownPolicy { ServerDownPolicy(rawValue: table.u8(record + F.serverDown)) ?? .immediate }
    /// Lower-cased; empty when the pool has no persistence profile.
    @inlinable public var persistenceHeader: UnsafeRawBufferPointer { table.string(at: record + F.persistenceHeader) }
    /// Lower-cased; nil when the consistent-hash key is the client address.
    @inlinable public var hashHeader: UnsafeRawBufferPointer? {
        table.u8(record + F.hashKeyKind) == 1 ? table.string(at: record + F.hashHeader) : nil
    }
    @inlinable public var maxConnectionsPerServer: UInt32 { table.u32(record + F.maxConnections) }
    public var whenAllDown: WhenAllDownAction { WhenAllDownAction(rawValue: table.u8(record + F.whenAllDownAction)) ?? .localResponse }
    public var whenAllDownStatus: UInt16 { table.u16(record + F.whenAllDownStatus) }
    public var retryAfterSeconds: UInt32 { table.u32(record + F.retryAfter) }
    public var redirectLocation: UnsafeRawBufferPointer { table.string(at: record + F.redirectLocation) }
    @inlinable public var rrCount: Int { Int(table.u32(record + F.rrCount)) }
    /// The k-th server of the smooth weighted order, k < rrCount.
    @inlinable public func rrServer(_ k: Int) -> UInt32 { table.rrEntry(Int(table.u32(record + F.rrFirst)) + k) }
    public var headerValueCount: Int { Int(table.u32(record + F.valueCount)) }
    /// Indexes of the pool's health monitors (`RoutingTableView.monitor`).
    public var monitors: [UInt32] {
        let first = Int(table.u32(record + F.monitorFirst)), count = Int(table.u32(record + F.monitorCount))
        return (first..<(first + count)).map { table.u32(table.poolMonitorOffset + $0 * TableLayout.poolMonitorSize) }
    }

    /// The server whose header value is exactly `value`, and the value's hash
    /// (which callers reuse as the rendezvous key). Constant time: one hash,
    /// a short probe, one byte comparison.
    @inlinable
    public func lookup(_ value: UnsafeRawBufferPointer) -> (server: UInt32?, hash: UInt64) {
        let h = TetherHash.hash(value)
        let count = Int(table.u32(record + F.bucketCount))
        guard count > 0 else { return (nil, h) }
        let mask = count &- 1
        let buckets = table.bucketOffset + Int(table.u32(record + F.bucketFirst)) &* TableLayout.bucketSize
        let tag = UInt32(truncatingIfNeeded: h >> 32)
        var i = Int(truncatingIfNeeded: h) & mask
        while true {
            let bucket = buckets &+ i &* TableLayout.bucketSize
            let server = table.u32(bucket &+ 4)
            if server == TableLayout.emptyBucket { return (nil, h) }
            if table.u32(bucket) == tag && Int(table.u32(bucket &+ 12)) == value.count {
                if value.count == 0 { return (server, h) }
                let candidate = table.base + (table.stringOffset &+ Int(table.u32(bucket &+ 8)))
                if memoryEqual(candidate, value.baseAddress!, value.count) { return (server, h) }
            }
            i = (i &+ 1) & mask
        }
    }
}

@inlinable @inline(__always)
func memoryEqual(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ n: Int) -> Bool {
    var i = 0
    while i &+ 8 <= n {
        if a.loadUnaligned(fromByteOffset: i, as: UInt64.self) != b.loadUnaligned(fromByteOffset: i, as: UInt64.self) { return false }
        i &+= 8
    }
    while i < n {
        if a.load(fromByteOffset: i, as: UInt8.self) != b.load(fromByteOffset: i, as: UInt8.self) { return false }
        i &+= 1
    }
    return true
}

public struct ServerView {
    @usableFromInline let table: RoutingTableView
    @usableFromInline let record: Int
    @usableFromInline typealias F = TableLayout.Server

    @inlinable init(table: RoutingTableView, record: Int) {
        self.table = table
        self.record = record
    }

    public var name: String { String(decoding: table.string(at: record + F.name), as: UTF8.self) }
    public var headerValue: UnsafeRawBufferPointer? {
        table.u8(record + F.hasHeaderValue) != 0 ? table.string(at: record + F.headerValue) : nil
    }
    public var address: IPAddress {
        let family = IPAddress.Family(rawValue: table.u8(record + F.family)) ?? .v4
        return IPAddress(family: family, rawBytes: (table.u64(record + F.address), table.u64(record + F.address + 8)))
    }
    @inlinable public var port: UInt16 { table.u16(record + F.port) }
    @inlinable public var enabled: Bool { table.u8(record + F.enabled) != 0 }
    @inlinable public var ratio: UInt32 { UInt32(table.u8(record + F.ratio)) }
    @inlinable public var pool: UInt32 { table.u32(record + F.pool) }
    /// Index of the server's entry in the shared server-state array.
    @inlinable public var stateSlot: UInt32 { table.u32(record + F.stateSlot) }
    /// Hash of (address, port): the server's name in rendezvous hashing.
    @inlinable public var identity: UInt64 { table.u64(record + F.identity) }
}
