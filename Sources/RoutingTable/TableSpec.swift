/// The input of `TableBuilder`: a validated configuration, flattened to what
/// the data path needs. `Config` produces it; tests and benchmarks build it
/// directly. Every reference is an index into the owning array.
public struct TableSpec: Sendable, Equatable {
    public var virtualServices: [VirtualServiceSpec]
    public var pools: [PoolSpec]
    /// Health monitors, referenced by index from `PoolSpec.healthMonitors`.
    public var healthMonitors: [HealthMonitorSpec]

    public init(virtualServices: [VirtualServiceSpec] = [], pools: [PoolSpec] = [],
                healthMonitors: [HealthMonitorSpec] = []) {
        self.virtualServices = virtualServices
        self.pools = pools
        self.healthMonitors = healthMonitors
    }
}

/// A health monitor as the monitor process runs it (DESIGN.md §2).
public struct HealthMonitorSpec: Sendable, Equatable {
    public enum Check: Sendable, Equatable {
        /// Up when a TCP connect succeeds within the timeout.
        case tcp
        /// Up when the server answers `request` with an expected status.
        /// `request` is the request line and header lines, each ending in
        /// CRLF, without the blank line; the monitor adds `Host:
        /// ADDRESS:PORT` when `hasHost` is false.
        case http(request: String, hasHost: Bool, expected: ExpectedStatus)
    }

    public var name: String
    public var check: Check
    public var intervalMs: UInt32
    /// Always below `intervalMs`.
    public var timeoutMs: UInt32
    /// Consecutive successes that mark a down server up, 1...50.
    public var successfulChecks: UInt8
    /// Consecutive failures that mark an up server down, 1...50.
    public var failedChecks: UInt8

    public init(name: String, check: Check, intervalMs: UInt32 = 10_000, timeoutMs: UInt32 = 4_000,
                successfulChecks: UInt8 = 2, failedChecks: UInt8 = 2) {
        self.name = name
        self.check = check
        self.intervalMs = intervalMs
        self.timeoutMs = timeoutMs
        self.successfulChecks = successfulChecks
        self.failedChecks = failedChecks
    }
}

/// The statuses an HTTP check accepts: whole classes (bit c set: any cxx)
/// and single codes.
public struct ExpectedStatus: Sendable, Equatable {
    public var classes: UInt8
    public var codes: [UInt16]

    public init(classes: UInt8 = 0, codes: [UInt16] = []) {
        self.classes = classes
        self.codes = codes
    }

    public func matches(_ status: UInt16) -> Bool {
        let c = status / 100
        if c >= 1 && c <= 7 && classes & (1 << c) != 0 { return true }
        return codes.contains(status)
    }
}

public struct VirtualServiceSpec: Sendable, Equatable {
    public var name: String
    /// Listen addresses as written in the config ("0.0.0.0:80", "[::]:80").
    public var listen: [String]
    public var pool: Int
    public var xForwardedFor: Bool
    public var timeouts: Timeouts
    public var maxHeaderBytes: UInt32
    /// TLS termination; nil: plain HTTP.
    public var tls: TLSSpec?

    public init(
        name: String, listen: [String], pool: Int, xForwardedFor: Bool = true,
        timeouts: Timeouts = Timeouts(), maxHeaderBytes: UInt32 = 32 * 1024, tls: TLSSpec? = nil
    ) {
        self.name = name
        self.listen = listen
        self.pool = pool
        self.xForwardedFor = xForwardedFor
        self.timeouts = timeouts
        self.maxHeaderBytes = maxHeaderBytes
        self.tls = tls
    }
}

/// A virtual service's TLS termination: its certificates (the first is the
/// default, the others are chosen by server name) and protocol settings,
/// as checked PEM text and OpenSSL strings. The table carries them so
/// that a worker builds its contexts from the generation it switches to.
public struct TLSSpec: Sendable, Equatable {
    public var certificates: [TLSCertificateSpec]
    /// The lowest TLS 1.x minor version accepted: 2 or 3.
    public var minVersionMinor: UInt8
    /// TLS 1.2 cipher list and TLS 1.3 cipher suites, in OpenSSL's syntax.
    public var ciphers: String
    public var ciphersuites: String

    public init(certificates: [TLSCertificateSpec], minVersionMinor: UInt8, ciphers: String, ciphersuites: String) {
        self.certificates = certificates
        self.minVersionMinor = minVersionMinor
        self.ciphers = ciphers
        self.ciphersuites = ciphersuites
    }
}

public struct TLSCertificateSpec: Sendable, Equatable {
    /// The certificate chain, leaf first, as PEM text.
    public var chainPEM: [UInt8]
    /// Its private key, as PEM text.
    public var keyPEM: [UInt8]
    /// The server names (SNI) that select it: exact or "*.suffix", lower-case.
    public var serverNames: [String]

    public init(chainPEM: [UInt8], keyPEM: [UInt8], serverNames: [String]) {
        self.chainPEM = chainPEM
        self.keyPEM = keyPEM
        self.serverNames = serverNames
    }
}

/// Timeouts in milliseconds; defaults are DESIGN.md §2's.
public struct Timeouts: Sendable, Equatable {
    public var clientHeaderMs: UInt32
    public var clientIdleMs: UInt32
    public var connectMs: UInt32
    public var serverResponseMs: UInt32

    public init(clientHeaderMs: UInt32 = 10_000, clientIdleMs: UInt32 = 60_000,
                connectMs: UInt32 = 3_000, serverResponseMs: UInt32 = 30_000) {
        self.clientHeaderMs = clientHeaderMs
        self.clientIdleMs = clientIdleMs
        self.connectMs = connectMs
        self.serverResponseMs = serverResponseMs
    }
}

public enum LBAlgorithm: UInt8, Sendable, Equatable {
    case leastConnections = 0
    case roundRobin = 1
    case consistentHash = 2
}

/// What a pinned request does when its server is not available (DESIGN.md §1).
public enum ServerDownPolicy: UInt8, Sendable, Equatable {
    case immediate = 0
    case never = 1
    case abort = 2
}

public enum HashKey: Sendable, Equatable {
    case clientIP
    /// Header name, any case; the builder lower-cases it.
    case header(String)
}

public enum WhenAllDown: Sendable, Equatable {
    case localResponse(status: UInt16, retryAfterSeconds: UInt32)
    case close
    case redirect(status: UInt16, location: String)
}

public struct PersistenceSpec: Sendable, Equatable {
    /// Header name, any case; the builder lower-cases it.
    public var headerName: String
    public var serverDown: ServerDownPolicy

    public init(headerName: String, serverDown: ServerDownPolicy = .immediate) {
        self.headerName = headerName
        self.serverDown = serverDown
    }
}

public struct PoolSpec: Sendable, Equatable {
    public var name: String
    public var lbAlgorithm: LBAlgorithm
    public var hashKey: HashKey
    public var persistence: PersistenceSpec?
    public var maxConnectionsPerServer: UInt32
    public var whenAllDown: WhenAllDown
    public var servers: [ServerSpec]
    /// Indexes into `TableSpec.healthMonitors`; a server is up when all say so.
    public var healthMonitors: [Int]

    public init(
        name: String, lbAlgorithm: LBAlgorithm = .leastConnections, hashKey: HashKey = .clientIP,
        persistence: PersistenceSpec? = nil, maxConnectionsPerServer: UInt32 = 0,
        whenAllDown: WhenAllDown = .localResponse(status: 503, retryAfterSeconds: 5),
        servers: [ServerSpec] = [], healthMonitors: [Int] = []
    ) {
        self.healthMonitors = healthMonitors
        self.name = name
        self.lbAlgorithm = lbAlgorithm
        self.hashKey = hashKey
        self.persistence = persistence
        self.maxConnectionsPerServer = maxConnectionsPerServer
        self.whenAllDown = whenAllDown
        self.servers = servers
    }
}

public struct ServerSpec: Sendable, Equatable {
    public var name: String
    public var address: IPAddress
    public var port: UInt16
    /// The persistence value that pins a request to this server (Avi's
    /// `prst_hdr_val`); nil when the server only takes balanced traffic.
    public var headerValue: String?
    public var ratio: UInt8
    public var enabled: Bool
    /// The server's slot in the shared server-state array (down bits,
    /// connection counts), which outlives tables; nil = its index in the table.
    public var stateSlot: UInt32?

    public init(name: String, address: IPAddress, port: UInt16, headerValue: String? = nil,
                ratio: UInt8 = 1, enabled: Bool = true, stateSlot: UInt32? = nil) {
        self.name = name
        self.address = address
        self.port = port
        self.headerValue = headerValue
        self.ratio = ratio
        self.enabled = enabled
        self.stateSlot = stateSlot
    }
}
