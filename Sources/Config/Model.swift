import RoutingTable
import TLS

// The typed form of a configuration file (DESIGN.md §2). Values come from
// `ConfigLoader` only after total validation, so every reference resolves,
// every name is unique in its kind and every number is in range. The
// enumerations the data path needs (`LBAlgorithm`, `ServerDownPolicy`,
// `HashKey`, `WhenAllDown`) are RoutingTable's own.

/// A whole configuration file.
public struct TetherConfig: Sendable, Equatable {
    public var workers: WorkerCount
    /// The user to switch to after binding; nil keeps the starting user.
    public var user: String?
    /// Absolute path of the directory for shared memory and the pid file.
    public var runtimeDirectory: String
    public var admin: AdminSettings?
    /// Off (nil) unless configured: one line per request.
    public var accessLog: AccessLogSettings?
    /// How long SIGTERM waits for in-flight requests.
    public var drainTimeout: Duration
    public var persistenceProfiles: [PersistenceProfile]
    public var healthMonitors: [HealthMonitor]
    public var pools: [Pool]
    public var virtualServices: [VirtualService]

    public static let defaultRuntimeDirectory = "/run/tether"
    public static let defaultDrainTimeout = Duration.seconds(30)

    public init(
        workers: WorkerCount = .auto, user: String? = nil,
        runtimeDirectory: String = TetherConfig.defaultRuntimeDirectory, admin: AdminSettings? = nil,
        accessLog: AccessLogSettings? = nil, drainTimeout: Duration = TetherConfig.defaultDrainTimeout,
        persistenceProfiles: [PersistenceProfile] = [], healthMonitors: [HealthMonitor] = [],
        pools: [Pool] = [], virtualServices: [VirtualService] = []
    ) {
        self.workers = workers
        self.user = user
        self.runtimeDirectory = runtimeDirectory
        self.admin = admin
        self.accessLog = accessLog
        self.drainTimeout = drainTimeout
        self.persistenceProfiles = persistenceProfiles
        self.healthMonitors = healthMonitors
        self.pools = pools
        self.virtualServices = virtualServices
    }
}

public enum WorkerCount: Sendable, Equatable {
    /// One worker per usable CPU.
    case auto
    case fixed(Int)

    public static let maximum = 1024
}

public struct AdminSettings: Sendable, Equatable {
    public var listen: ListenAddress

    public init(listen: ListenAddress) {
        self.listen = listen
    }
}

/// `access_log: { path: ... }`: each worker appends one line per request
/// to the file (opened by the supervisor, before it drops privileges).
public struct AccessLogSettings: Sendable, Equatable {
    /// Absolute.
    public var path: String

    public init(path: String) {
        self.path = path
    }
}

/// An address to listen on: an IP literal and a port.
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    /// As written in the configuration ("0.0.0.0:80", "[::]:80").
    public var text: String
    public var address: IPAddress
    public var port: UInt16

    public init(text: String, address: IPAddress, port: UInt16) {
        self.text = text
        self.address = address
        self.port = port
    }

    /// Canonical spelling: "10.0.0.1:80", "[2001:db8::1]:80".
    public var description: String {
        address.family == .v4 ? "\(address):\(port)" : "[\(address)]:\(port)"
    }
}

/// Avi's `custom_http_header` persistence profile, the only kind tether has.
public struct PersistenceProfile: Sendable, Equatable {
    public var name: String
    public var description: String?
    /// The request header that names a server (Avi's `prst_hdr_name`).
    public var headerName: String
    /// What a pinned request does when its server is not available.
    public var serverDown: ServerDownPolicy

    public init(name: String, description: String? = nil, headerName: String,
                serverDown: ServerDownPolicy = .immediate) {
        self.name = name
        self.description = description
        self.headerName = headerName
        self.serverDown = serverDown
    }
}

public struct HealthMonitor: Sendable, Equatable {
    public var name: String
    public var check: HealthCheck
    public var interval: Duration
    /// Always shorter than `interval`.
    public var timeout: Duration
    /// Consecutive successes that mark a down server up (1–50).
    public var successfulChecks: Int
    /// Consecutive failures that mark an up server down (1–50).
    public var failedChecks: Int

    public static let defaultInterval = Duration.seconds(10)
    public static let defaultTimeout = Duration.seconds(4)
    public static let defaultSuccessfulChecks = 2
    public static let defaultFailedChecks = 2
    public static let checkCountRange = 1...50

    public init(name: String, check: HealthCheck, interval: Duration = HealthMonitor.defaultInterval,
                timeout: Duration = HealthMonitor.defaultTimeout,
                successfulChecks: Int = HealthMonitor.defaultSuccessfulChecks,
                failedChecks: Int = HealthMonitor.defaultFailedChecks) {
        self.name = name
        self.check = check
        self.interval = interval
        self.timeout = timeout
        self.successfulChecks = successfulChecks
        self.failedChecks = failedChecks
    }
}

public enum HealthCheck: Sendable, Equatable {
    /// The server is up when a TCP connect succeeds within the timeout.
    case tcp
    /// The server is up when it answers `request` with a status that one of
    /// `expectedStatus` matches within the timeout.
    case http(request: HTTPCheckRequest, expectedStatus: [StatusMatch])

    /// Avi's default expected codes.
    public static let defaultExpectedStatus: [StatusMatch] = [.class(2), .class(3)]
}

/// The request an HTTP health check sends: a request line and optional
/// header fields (written in the configuration after the request line, one
/// per line).
public struct HTTPCheckRequest: Sendable, Equatable {
    public var method: String
    public var target: String
    /// "HTTP/1.0" or "HTTP/1.1".
    public var version: String
    public var headers: [HeaderField]

    /// Avi's default request.
    public static let `default` = HTTPCheckRequest(method: "HEAD", target: "/", version: "HTTP/1.0")

    public init(method: String, target: String, version: String, headers: [HeaderField] = []) {
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
    }
}

public struct HeaderField: Sendable, Equatable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// One entry of `expected_status`.
public enum StatusMatch: Sendable, Equatable, CustomStringConvertible {
    /// "2xx": any status from 200 to 299.
    case `class`(Int)
    case exact(UInt16)

    public func matches(_ status: UInt16) -> Bool {
        switch self {
        case .class(let c): return Int(status) / 100 == c
        case .exact(let s): return s == status
        }
    }

    public var description: String {
        switch self {
        case .class(let c): return "\(c)xx"
        case .exact(let s): return "\(s)"
        }
    }
}

public struct Pool: Sendable, Equatable {
    public var name: String
    public var lbAlgorithm: LBAlgorithm
    /// Used by `consistent_hash` only.
    public var hashKey: HashKey
    /// The name of a persistence profile.
    public var persistenceProfile: String?
    /// Names of health monitors; a server is up when all of them say so.
    public var healthMonitors: [String]
    /// In-flight requests per server across all workers; 0 = no limit.
    public var maxConnectionsPerServer: UInt32
    public var whenAllDown: WhenAllDown
    public var servers: [Server]

    public static let defaultWhenAllDown = WhenAllDown.localResponse(status: 503, retryAfterSeconds: 5)

    public init(
        name: String, lbAlgorithm: LBAlgorithm = .leastConnections, hashKey: HashKey = .clientIP,
        persistenceProfile: String? = nil, healthMonitors: [String] = [], maxConnectionsPerServer: UInt32 = 0,
        whenAllDown: WhenAllDown = Pool.defaultWhenAllDown, servers: [Server] = []
    ) {
        self.name = name
        self.lbAlgorithm = lbAlgorithm
        self.hashKey = hashKey
        self.persistenceProfile = persistenceProfile
        self.healthMonitors = healthMonitors
        self.maxConnectionsPerServer = maxConnectionsPerServer
        self.whenAllDown = whenAllDown
        self.servers = servers
    }
}

public struct Server: Sendable, Equatable {
    public var name: String
    public var address: IPAddress
    public var port: UInt16
    /// The persistence value that pins a request to this server (Avi's
    /// `prst_hdr_val`): non-empty visible ASCII with inner spaces only.
    public var headerValue: String?
    /// 1–20.
    public var ratio: UInt8
    public var enabled: Bool

    public static let ratioRange = 1...20

    public init(name: String, address: IPAddress, port: UInt16, headerValue: String? = nil,
                ratio: UInt8 = 1, enabled: Bool = true) {
        self.name = name
        self.address = address
        self.port = port
        self.headerValue = headerValue
        self.ratio = ratio
        self.enabled = enabled
    }
}

public struct VirtualService: Sendable, Equatable {
    public var name: String
    public var listen: [ListenAddress]
    /// The name of a pool.
    public var pool: String
    public var xForwardedFor: Bool
    public var timeouts: VirtualServiceTimeouts
    public var maxHeaderBytes: Int
    /// TLS termination; nil: plain HTTP.
    public var tls: VirtualServiceTLS?

    public static let defaultMaxHeaderBytes = 32 * 1024
    public static let maxHeaderBytesRange = 1024...(1024 * 1024)

    public init(name: String, listen: [ListenAddress], pool: String, xForwardedFor: Bool = true,
                timeouts: VirtualServiceTimeouts = VirtualServiceTimeouts(),
                maxHeaderBytes: Int = VirtualService.defaultMaxHeaderBytes, tls: VirtualServiceTLS? = nil) {
        self.name = name
        self.listen = listen
        self.pool = pool
        self.xForwardedFor = xForwardedFor
        self.timeouts = timeouts
        self.maxHeaderBytes = maxHeaderBytes
        self.tls = tls
    }
}

/// A virtual service's `tls:`: its certificates, the first being the one
/// served when no other's server names match, and its protocol settings.
public struct VirtualServiceTLS: Sendable, Equatable {
    public var certificates: [TLSCertificateConfig]
    public var settings: TLSSettings

    public init(certificates: [TLSCertificateConfig], settings: TLSSettings = TLSSettings()) {
        self.certificates = certificates
        self.settings = settings
    }
}

/// One certificate of a virtual service, as read and checked: the loader
/// reads the files once, and these bytes are what the table carries.
public struct TLSCertificateConfig: Sendable, Equatable {
    public var certificatePath: String
    public var keyPath: String
    /// Exact names and "*.suffix" wildcards, lower-case: as configured
    /// (`server_names`), else the certificate's own DNS names.
    public var serverNames: [String]
    public var pem: CertificatePEM
    public var summary: CertificateSummary

    public init(certificatePath: String, keyPath: String, serverNames: [String], pem: CertificatePEM,
                summary: CertificateSummary) {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        self.serverNames = serverNames
        self.pem = pem
        self.summary = summary
    }
}

/// DESIGN.md §2's timeouts; each is at least 1 ms and at most 24 h.
public struct VirtualServiceTimeouts: Sendable, Equatable {
    /// From the first byte of a request head until the head is complete.
    public var clientHeader: Duration
    /// With no request in progress, a new connection included.
    public var clientIdle: Duration
    public var connect: Duration
    /// For the first response byte, and between later reads.
    public var serverResponse: Duration

    public init(clientHeader: Duration = .seconds(10), clientIdle: Duration = .seconds(60),
                connect: Duration = .seconds(3), serverResponse: Duration = .seconds(30)) {
        self.clientHeader = clientHeader
        self.clientIdle = clientIdle
        self.connect = connect
        self.serverResponse = serverResponse
    }
}
