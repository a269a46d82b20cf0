/// The input of `TableBuilder`: a validated configuration, flattened to what
/// the data path needs. `Config` produces it; tests and benchmarks build it
/// directly. Every reference is an index into the owning array.
public struct TableSpec: Sendable, Equatable {
    public var virtualServices: [VirtualServiceSpec]
    public var pools: [PoolSpec]

    public init(virtualServices: [VirtualServiceSpec] = [], pools: [PoolSpec] = []) {
        self.virtualServices = virtualServices
        self.pools = pools
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
    public var tls: Bool

    public init(
        name: String, listen: [String], pool: Int, xForwardedFor: Bool = true,
        timeouts: Timeouts = Timeouts(), maxHeaderBytes: UInt32 = 32 * 1024, tls: Bool = false
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

    public init(
        name: String, lbAlgorithm: LBAlgorithm = .leastConnections, hashKey: HashKey = .clientIP,
        persistence: PersistenceSpec? = nil, maxConnectionsPerServer: UInt32 = 0,
        whenAllDown: WhenAllDown = .localResponse(status: 503, retryAfterSeconds: 5),
        servers: [ServerSpec] = []
    ) {
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
