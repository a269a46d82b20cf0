import HTTPWire
import Selection

/// How far one message body (request or response) has been read, and where
/// it ends. Fed the bytes that follow a head, then each receive; says how
/// many of them belong to the body. Never copies.
struct BodyFramer {
    enum Mode: Equatable {
        /// No body (or it has been read completely).
        case none
        case length(remaining: UInt64)
        case chunked
        /// A response without length: the body ends when the server closes.
        case untilClose
        /// After a 101: bytes flow both ways until either side closes.
        case tunnel
    }

    enum Slice: Equatable {
        /// The first `count` bytes belong to the body; `finished` when the
        /// body ends with them.
        case body(count: Int, finished: Bool)
        /// A chunked body that breaks the chunk syntax.
        case invalid
    }

    private(set) var mode: Mode
    private var chunks = ChunkedBodyTracker()

    init(mode: Mode) {
        self.mode = mode
        if case .length(0) = mode { self.mode = .none }
    }

    init(_ framing: BodyFraming) {
        switch framing {
        case .none: self.init(mode: .none)
        case .contentLength(let n): self.init(mode: .length(remaining: n))
        case .chunked: self.init(mode: .chunked)
        case .untilClose: self.init(mode: .untilClose)
        case .tunnel: self.init(mode: .tunnel)
        }
    }

    var isFinished: Bool { mode == .none }

    /// Of `bytes` (the unread input), the leading run that belongs to the body.
    mutating func take(_ bytes: UnsafeRawBufferPointer) -> Slice {
        switch mode {
        case .none:
            return .body(count: 0, finished: true)
        case .length(let remaining):
            if UInt64(bytes.count) >= remaining {
                mode = .none
                return .body(count: Int(remaining), finished: true)
            }
            mode = .length(remaining: remaining - UInt64(bytes.count))
            return .body(count: bytes.count, finished: false)
        case .chunked:
            switch chunks.advance(bytes) {
            case .needMore: return .body(count: bytes.count, finished: false)
            case .done(let consumed):
                mode = .none
                return .body(count: consumed, finished: true)
            case .invalid: return .invalid
            }
        case .untilClose, .tunnel:
            return .body(count: bytes.count, finished: false)
        }
    }

    /// The peer closed: true when that ends the body cleanly.
    mutating func endOfInput() -> Bool {
        if mode == .untilClose { mode = .none; return true }
        return mode == .none
    }
}

/// The HTTP/1.1 state of one request and its response on a client
/// connection: framing on both sides, what has been sent, whether either
/// connection survives. Pure: the event loop feeds it scanner results and
/// byte counts and performs the I/O it implies.
struct Exchange {
    /// The request head's length in the client's input.
    var headLength: Int = 0
    var method: HTTPMethod = .get
    var clientVersionMinor: UInt8 = 1
    var request = BodyFramer(mode: .none)
    var response = BodyFramer(mode: .none)
    var requestKeepAlive = true
    var responseKeepAlive = true
    /// Where the request's one `close` option sits in the head (-1: none).
    /// It is blanked before the head goes to the server, so the server
    /// connection can be pooled although the client's closes.
    var connectionCloseOption: Int32 = -1
    var upgradeRequested = false
    /// Where the persistence value sits, relative to the head's start, for a
    /// second routing decision after a failed connect.
    var persistenceValue: ByteRange? = nil
    var hashKey: UInt64 = 0
    /// Why the request went to `server` (counted once it is sent there).
    var reason: RouteReason = .balanced
    /// The final response's status, once its head is relayed; 0 before.
    var responseStatus: UInt16 = 0

    /// The server (table index) this request is counted against.
    var server: UInt32 = .max
    /// The server's state slot, counted in flight while `countedInFlight`.
    var stateSlot: UInt32 = .max
    /// The table generation the request was routed with.
    var tableGeneration: UInt64 = 0
    var countedInFlight = false
    var retryAllowed = false
    var retried = false
    /// The request went out on an idle pooled connection (which the server
    /// may have closed meanwhile).
    var reusedConnection = false
    /// The pool it was routed in has a health monitor (passive detection
    /// applies), as of the table it was routed with.
    var monitored = false

    /// Where X-Forwarded-For's ", ADDR" goes in the head; nil: a new line.
    var xForwardedForInsertion: Int? = nil
    /// The last X-Forwarded-For value is empty: insert " ADDR", no comma.
    var xForwardedForIsEmpty = false
    /// The request's last byte has been received (it may still be in flight
    /// to the server).
    var requestReceived = false
    /// Every request byte has been sent to the server.
    var requestSent = false
    var responseHeadComplete = false
    /// The response's last byte has been received (it may still be in flight
    /// to the client).
    var responseReceived = false
    /// The response's last byte has been sent to the client.
    var responseSent = false
    /// Some response byte has gone to the client: errors can no longer be
    /// answered with a local response.
    var sentToClient = false
    /// The server sent more than the response (or the response ended before
    /// the request): its connection must not be reused.
    var serverPoisoned = false
    /// A 101 is being relayed; the connection becomes a tunnel once it is sent.
    var switchingToTunnel = false

    init() {}

    init(head: RequestHead, hashKey: UInt64) {
        headLength = head.headLength
        method = head.methodKind
        clientVersionMinor = head.versionMinor
        request = BodyFramer(head.body)
        requestKeepAlive = head.keepAlive
        connectionCloseOption = head.connectionCloseOption.map { Int32(truncatingIfNeeded: $0) } ?? -1
        upgradeRequested = head.upgrade
        persistenceValue = head.persistenceValue
        xForwardedForInsertion = head.xForwardedForInsertion
        xForwardedForIsEmpty = head.xForwardedForIsEmpty
        self.hashKey = hashKey
    }

    enum ResponseHeadAction: Equatable {
        /// Relay `count` bytes (a 1xx head) and scan for the next head.
        case relayInformational(count: Int)
        /// Drop an interim response the client cannot take (HTTP/1.0).
        case dropInformational(count: Int)
        /// Relay the head (`count` bytes); the body framing is now known.
        case relayHead(count: Int)
        /// Relay the 101 head and everything after it, then tunnel.
        case relaySwitch(count: Int)
        /// Not a response this request can get: 502 (or close).
        case invalid
    }

    mutating func responseHead(_ head: ResponseHead) -> ResponseHeadAction {
        if head.body == .tunnel {
            // 101 to an upgrade request, or 2xx to CONNECT.
            guard head.switchingProtocols ? upgradeRequested : method == .connect else { return .invalid }
            switchingToTunnel = true
            responseHeadComplete = true
            response = BodyFramer(mode: .tunnel)
            return .relaySwitch(count: head.headLength)
        }
        if head.isInformational {
            return clientVersionMinor == 0 ? .dropInformational(count: head.headLength)
                                           : .relayInformational(count: head.headLength)
        }
        responseHeadComplete = true
        response = BodyFramer(head.body)
        responseKeepAlive = head.keepAlive && response.mode != .untilClose
        return .relayHead(count: head.headLength)
    }

    /// The client connection may carry another request after this one.
    var clientKeepAlive: Bool {
        requestKeepAlive && responseKeepAlive && requestSent && !serverPoisoned
    }

    /// The request as the server gets it is persistent: the client's is, or
    /// its `close` option is blanked on the way.
    var serverRequestKeepAlive: Bool {
        requestKeepAlive || connectionCloseOption >= 0
    }

    /// The server connection may go back to the keep-alive pool.
    var serverReusable: Bool {
        serverRequestKeepAlive && responseKeepAlive && requestSent && responseReceived && !serverPoisoned
            && !switchingToTunnel
    }

    enum End: Equatable {
        /// Not over yet: a send is still in flight or the response is not out.
        case notYet
        /// Pool (or close) the server connection; keep (or linger-close) the client.
        case done(poolServer: Bool, keepClient: Bool)
    }

    /// What happens once the response has gone out. `serverSendPending`: the
    /// last request bytes are still in flight; `serverHasLeftover`: the
    /// server sent bytes past the response.
    func end(serverSendPending: Bool, serverHasLeftover: Bool, draining: Bool) -> End {
        guard responseSent, !serverSendPending else { return .notYet }
        // A server that answered before reading the whole request (requestSent
        // false) leaves both connections unusable.
        return .done(poolServer: serverReusable && !serverHasLeftover && !draining,
                     keepClient: clientKeepAlive && !draining)
    }

    enum Failure: Equatable {
        /// Nothing of a response reached the client: answer with this status.
        case respond(UInt16)
        /// The client has part of a response: all that is left is to close.
        case close
    }

    /// The server side failed (reset, invalid response, broken body framing):
    /// a local answer while the client has seen nothing, else a close.
    func failure(status: UInt16, clientSendPending: Bool) -> Failure {
        sentToClient || clientSendPending ? .close : .respond(status)
    }

    /// The exchange's deadline passed: 504 while the wait is the server's and
    /// the client has seen nothing, else the client is the one stalling.
    func timedOut(clientSendPending: Bool) -> Failure {
        waiting(clientSendPending: clientSendPending) == .server && !sentToClient ? .respond(504) : .close
    }

    /// Which deadline a waiting exchange is under.
    enum Wait { case client, server }

    /// While the client still owes request bytes or has not taken the
    /// response, the client's idle timeout applies; once the request is sent,
    /// the wait is for the server.
    func waiting(clientSendPending: Bool) -> Wait {
        if clientSendPending || !requestSent { return .client }
        return .server
    }
}
