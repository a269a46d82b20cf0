/// The binary image of a compiled routing table: flat, little-endian,
/// offset-based and position-independent, so any process can read it in
/// place from wherever it mapped it. Every section starts 8-byte aligned and
/// every record is a multiple of 8 bytes, so fields load aligned.
///
/// ```
/// header (128 bytes)
///   0  magic "TTBL"            u32     4  version       u16
///   6  header size             u16     8  total size    u64
///  16  checksum of [128, total) u64   24  section table: per section (offset u32, count u32)
/// sections
///   virtual services  48 bytes each
///   pools             88 bytes each
///   servers           64 bytes each
///   buckets           16 bytes each   (tag u32, server u32, value string ref): per-pool
///                                     open addressing; the value ref saves a cache miss
///   rr sequence        4 bytes each   (server u32): per-pool smooth weighted order
///   listen refs        8 bytes each   (string ref)
///   health monitors   40 bytes each
///   pool monitors      4 bytes each   (monitor u32): per-pool list
///   tls services      32 bytes each   (one per virtual service with TLS)
///   certificates      24 bytes each   (chain and key PEM string refs, server names)
///   server names       8 bytes each   (string ref)
///   strings            bytes
/// ```
/// A string ref is (offset into the strings section u32, length u32).
public enum TableLayout {
    public static let magic: UInt32 = 0x4C42_5454  // "TTBL" read little-endian
    public static let version: UInt16 = 3
    public static let headerSize = 128
    public static let maxImageSize = Int(UInt32.max)

    enum Section: Int, CaseIterable {
        case virtualServices = 0, pools, servers, buckets, rrSequence, listenRefs, monitors, poolMonitors
        case tlsServices, certificates, serverNameRefs, strings
    }
    static let sectionTableOffset = 24

    public static let virtualServiceSize = 48
    public static let poolSize = 88
    public static let serverSize = 64
    public static let bucketSize = 16
    public static let rrEntrySize = 4
    public static let stringRefSize = 8
    public static let monitorSize = 40
    public static let poolMonitorSize = 4
    public static let tlsServiceSize = 32
    public static let certificateSize = 24

    static func recordSize(_ s: Section) -> Int {
        switch s {
        case .virtualServices: return virtualServiceSize
        case .pools: return poolSize
        case .servers: return serverSize
        case .buckets: return bucketSize
        case .rrSequence: return rrEntrySize
        case .listenRefs: return stringRefSize
        case .monitors: return monitorSize
        case .poolMonitors: return poolMonitorSize
        case .tlsServices: return tlsServiceSize
        case .certificates: return certificateSize
        case .serverNameRefs: return stringRefSize
        case .strings: return 1
        }
    }

    /// A bucket whose server field is this is empty.
    public static let emptyBucket: UInt32 = .max

    // Virtual service record.
    public enum VS {
        public static let name = 0, listenFirst = 8, listenCount = 12, pool = 16, flags = 20
        public static let clientHeaderMs = 24, clientIdleMs = 28, connectMs = 32, serverResponseMs = 36
        public static let maxHeaderBytes = 40
        /// The TLS service record (when `flagTLS` is set).
        public static let tls = 44
        public static let flagXForwardedFor: UInt32 = 1, flagTLS: UInt32 = 2
    }
    // TLS service record.
    public enum TLSService {
        public static let certificateFirst = 0, certificateCount = 4, minVersionMinor = 8
        public static let ciphers = 16, ciphersuites = 24
    }
    // Certificate record.
    public enum Certificate {
        public static let chain = 0, key = 8, nameFirst = 16, nameCount = 20
    }
    // Pool record.
    public enum Pool {
        public static let name = 0, firstServer = 8, serverCount = 12
        public static let lbAlgorithm = 16, serverDown = 17, hasPersistence = 18, hashKeyKind = 19
        public static let whenAllDownAction = 20, whenAllDownStatus = 22
        public static let retryAfter = 24, maxConnections = 28
        public static let persistenceHeader = 32, hashHeader = 40, redirectLocation = 48
        public static let bucketFirst = 56, bucketCount = 60, rrFirst = 64, rrCount = 68
        public static let valueCount = 72, monitorFirst = 76, monitorCount = 80
    }
    // Health monitor record. `expectedCodes` refers to little-endian u16s in
    // the strings section; `classes` has bit c set when any cxx is expected.
    public enum Monitor {
        public static let name = 0, request = 8, expectedCodes = 16
        public static let kind = 24, successfulChecks = 25, failedChecks = 26, classes = 27
        public static let intervalMs = 28, timeoutMs = 32, flags = 36
        public static let kindTCP: UInt8 = 0, kindHTTP: UInt8 = 1
        public static let flagHasHost: UInt32 = 1
    }
    // Server record.
    public enum Server {
        public static let name = 0, headerValue = 8, address = 16, port = 32, family = 34
        public static let enabled = 35, ratio = 36, hasHeaderValue = 37, pool = 40, stateSlot = 44, identity = 48
    }
}
