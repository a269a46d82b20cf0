/// A complete, validated request head. Every range is an offset into the
/// buffer that was scanned; nothing is copied.
///
/// Stored as 32-bit offsets (a scanner never looks past 2^31 - 1 bytes) so
/// the whole head is 64 bytes and moves in registers, not with memcpy.
public struct RequestHead: Equatable, Hashable, Sendable {
    @usableFromInline var storedHeadLength: Int32
    @usableFromInline var methodStart: Int32
    @usableFromInline var methodCount: Int32
    @usableFromInline var targetStart: Int32
    @usableFromInline var targetCount: Int32
    /// Optional ranges: count -1 when absent.
    @usableFromInline var hostStart: Int32 = 0
    @usableFromInline var hostCount: Int32 = -1
    @usableFromInline var persistenceStart: Int32 = 0
    @usableFromInline var persistenceCount: Int32 = -1
    @usableFromInline var hashKeyStart: Int32 = 0
    @usableFromInline var hashKeyCount: Int32 = -1
    /// -1 when absent.
    @usableFromInline var xffInsertion: Int32 = -1
    @usableFromInline var contentLength: UInt64 = 0
    @usableFromInline var bodyKind: BodyKind = .none
    @usableFromInline var storedMethodKind: HTTPMethod
    @usableFromInline var storedVersionMinor: UInt8
    @usableFromInline var flags: Flags = []
    /// -1 when absent. Last, so that it fills the padding after `flags`.
    @usableFromInline var closeOptionStart: Int32 = -1

    @usableFromInline
    enum BodyKind: UInt8, Sendable {
        case none, contentLength, chunked
    }

    @usableFromInline
    struct Flags: OptionSet, Hashable, Sendable {
        @usableFromInline var rawValue: UInt8
        @inlinable init(rawValue: UInt8) { self.rawValue = rawValue }
        @inlinable static var keepAlive: Flags { Flags(rawValue: 1) }
        @inlinable static var upgrade: Flags { Flags(rawValue: 2) }
        @inlinable static var expectContinue: Flags { Flags(rawValue: 4) }
        @inlinable static var xffEmpty: Flags { Flags(rawValue: 8) }
    }

    /// Bytes from the buffer's first byte through the CRLF CRLF that ends the
    /// head. The body (or the next request) starts here.
    @inlinable public var headLength: Int {
        get { Int(storedHeadLength) }
        set { storedHeadLength = Int32(newValue) }
    }

    /// The method token. Its start is the first byte of the request line,
    /// which is after any empty lines the client sent before it (RFC 9112
    /// §2.2 asks a server to ignore them); forward from `method.start`.
    @inlinable public var method: ByteRange {
        get { ByteRange(start: Int(methodStart), count: Int(methodCount)) }
        set { (methodStart, methodCount) = (Int32(newValue.start), Int32(newValue.count)) }
    }

    @inlinable public var methodKind: HTTPMethod {
        get { storedMethodKind }
        set { storedMethodKind = newValue }
    }

    @inlinable public var target: ByteRange {
        get { ByteRange(start: Int(targetStart), count: Int(targetCount)) }
        set { (targetStart, targetCount) = (Int32(newValue.start), Int32(newValue.count)) }
    }

    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    @inlinable public var versionMinor: UInt8 {
        get { storedVersionMinor }
        set { storedVersionMinor = newValue }
    }

    /// `.none`, `.contentLength` or `.chunked`; never `.untilClose` or `.tunnel`.
    @inlinable public var body: BodyFraming {
        get {
            switch bodyKind {
            case .none: return .none
            case .contentLength: return .contentLength(contentLength)
            case .chunked: return .chunked
            }
        }
        set {
            switch newValue {
            case .contentLength(let length):
                bodyKind = .contentLength
                contentLength = length
            case .chunked:
                bodyKind = .chunked
                contentLength = 0
            case .none, .untilClose, .tunnel:
                precondition(newValue == .none, "a request body is none, contentLength or chunked")
                bodyKind = .none
                contentLength = 0
            }
        }
    }

    /// Whether the connection may carry another request after this one
    /// (RFC 9112 §9.3): HTTP/1.1 unless `Connection: close`, HTTP/1.0 only with
    /// `Connection: keep-alive`. `close` wins over `keep-alive`.
    @inlinable public var keepAlive: Bool {
        get { flags.contains(.keepAlive) }
        set { if newValue { flags.insert(.keepAlive) } else { flags.remove(.keepAlive) } }
    }

    /// HTTP/1.1, Connection lists `upgrade`, and an Upgrade header is present.
    @inlinable public var upgrade: Bool {
        get { flags.contains(.upgrade) }
        set { if newValue { flags.insert(.upgrade) } else { flags.remove(.upgrade) } }
    }

    /// HTTP/1.1 with `Expect: 100-continue` (any case). RFC 9110 §10.1.1 has a
    /// server ignore the expectation in an HTTP/1.0 request.
    @inlinable public var expectContinue: Bool {
        get { flags.contains(.expectContinue) }
        set { if newValue { flags.insert(.expectContinue) } else { flags.remove(.expectContinue) } }
    }

    /// The Host value, whitespace trimmed (may be empty: RFC 9112 §3.2).
    @inlinable public var host: ByteRange? {
        get { hostCount < 0 ? nil : ByteRange(start: Int(hostStart), count: Int(hostCount)) }
        set { (hostStart, hostCount) = Self.store(newValue) }
    }

    /// The value of the first line of the wanted persistence header, with
    /// SP/HTAB trimmed on both sides; empty (count 0) for an empty value.
    @inlinable public var persistenceValue: ByteRange? {
        get { persistenceCount < 0 ? nil : ByteRange(start: Int(persistenceStart), count: Int(persistenceCount)) }
        set { (persistenceStart, persistenceCount) = Self.store(newValue) }
    }

    /// The same for the wanted consistent-hash key header.
    @inlinable public var hashKeyValue: ByteRange? {
        get { hashKeyCount < 0 ? nil : ByteRange(start: Int(hashKeyStart), count: Int(hashKeyCount)) }
        set { (hashKeyStart, hashKeyCount) = Self.store(newValue) }
    }

    /// Where `", ADDR"` goes to append the client address to the last
    /// X-Forwarded-For line: just after the last non-whitespace byte of its
    /// value. nil when the request has no X-Forwarded-For line.
    @inlinable public var xForwardedForInsertion: Int? {
        get { xffInsertion < 0 ? nil : Int(xffInsertion) }
        set { xffInsertion = newValue.map { Int32($0) } ?? -1 }
    }

    /// The last X-Forwarded-For value is empty: insert `"ADDR"` (or `" ADDR"`),
    /// not `", ADDR"`, at `xForwardedForInsertion`.
    @inlinable public var xForwardedForIsEmpty: Bool {
        get { flags.contains(.xffEmpty) }
        set { if newValue { flags.insert(.xffEmpty) } else { flags.remove(.xffEmpty) } }
    }

    /// Where the `close` option of the Connection field starts (five bytes,
    /// any case) when it is the one thing that makes an HTTP/1.1 request end
    /// its connection: the head names `close` exactly once. A proxy may
    /// overwrite those five bytes with spaces, which leaves an empty list
    /// element (RFC 9110 §5.6.1), so that the request it forwards keeps the
    /// server connection open while the client's connection still closes
    /// after the response (`keepAlive` is false). nil otherwise.
    @inlinable public var connectionCloseOption: Int? {
        get { closeOptionStart < 0 ? nil : Int(closeOptionStart) }
        set { closeOptionStart = newValue.map { Int32($0) } ?? -1 }
    }

    @inlinable
    static func store(_ range: ByteRange?) -> (Int32, Int32) {
        guard let range else { return (0, -1) }
        return (Int32(range.start), Int32(range.count))
    }

    /// All byte offsets must be below 2^31.
    @inlinable
    public init(
        headLength: Int,
        method: ByteRange,
        methodKind: HTTPMethod,
        target: ByteRange,
        versionMinor: UInt8,
        body: BodyFraming = .none,
        keepAlive: Bool,
        upgrade: Bool = false,
        expectContinue: Bool = false,
        host: ByteRange? = nil,
        persistenceValue: ByteRange? = nil,
        hashKeyValue: ByteRange? = nil,
        xForwardedForInsertion: Int? = nil,
        xForwardedForIsEmpty: Bool = false,
        connectionCloseOption: Int? = nil
    ) {
        storedHeadLength = Int32(headLength)
        methodStart = Int32(method.start)
        methodCount = Int32(method.count)
        targetStart = Int32(target.start)
        targetCount = Int32(target.count)
        storedMethodKind = methodKind
        storedVersionMinor = versionMinor
        self.body = body
        self.keepAlive = keepAlive
        self.upgrade = upgrade
        self.expectContinue = expectContinue
        self.host = host
        self.persistenceValue = persistenceValue
        self.hashKeyValue = hashKeyValue
        self.xForwardedForInsertion = xForwardedForInsertion
        self.xForwardedForIsEmpty = xForwardedForIsEmpty
        self.connectionCloseOption = connectionCloseOption
    }
}

/// The header names whose values a request scan reports, lower-cased by the
/// caller. The bytes are the caller's (a routing table in shared memory) and
/// must stay valid and unchanged while a head is being scanned. An absent or
/// empty name is never matched. It is Sendable because the bytes it points at
/// are immutable (a sealed routing table) for as long as it is in use.
public struct WantedHeaders: @unchecked Sendable {
    @usableFromInline let persistenceName: UnsafeRawPointer?
    @usableFromInline let persistenceCount: Int
    @usableFromInline let hashKeyName: UnsafeRawPointer?
    @usableFromInline let hashKeyCount: Int

    @inlinable
    public init(persistence: UnsafeRawBufferPointer?, hashKey: UnsafeRawBufferPointer?) {
        if let persistence, let base = persistence.baseAddress, persistence.count > 0 {
            persistenceName = base
            persistenceCount = persistence.count
        } else {
            persistenceName = nil
            persistenceCount = -1
        }
        if let hashKey, let base = hashKey.baseAddress, hashKey.count > 0 {
            hashKeyName = base
            hashKeyCount = hashKey.count
        } else {
            hashKeyName = nil
            hashKeyCount = -1
        }
    }

    /// No wanted headers.
    @inlinable
    public static var none: WantedHeaders { WantedHeaders(persistence: nil, hashKey: nil) }
}
