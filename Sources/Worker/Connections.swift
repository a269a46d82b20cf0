import HTTPWire
import CLinux
import Posix

/// Where a client connection is in its life.
enum ClientPhase: UInt8 {
    case free
    /// No request in progress (client_idle).
    case idle
    /// A request head is partly received (client_header).
    case head
    /// Routed; waiting for a new server connection (connect).
    case connecting
    /// Request and response are being relayed.
    case exchanging
    /// After a 101: bytes relayed both ways.
    case tunnel
    /// A local response is being sent; the connection then closes.
    case responding
    /// FIN sent; reading and discarding until the client closes (so that
    /// unread input cannot turn the close into a reset that destroys the
    /// response), bounded by a short timeout.
    case lingering
    /// Descriptor closed; waiting for in-flight completions before reuse.
    case closed
}

enum ServerPhase: UInt8 {
    case free
    case connecting
    /// Serving the request of client `client`.
    case attached
    /// Idle in the keep-alive pool, a receive armed to notice a close.
    case pooled
    case closed
}

/// What the client's in-flight send carries.
enum ClientSendSource: UInt8 {
    /// Bytes from the attached server connection's input.
    case response
    /// A static local response; the connection closes after it.
    case local
    /// A copy of the response head with `Connection: close` added, in the
    /// client's orphan buffer (the server's buffer had no room for the
    /// field): `sendConsumed` head bytes of the server's input stand for
    /// `sendConsumed + announcedCloseField` bytes sent.
    case announcedHead
}

/// `Connection: close\r\n`, the field a closing response gets.
let announcedCloseField: StaticString = "Connection: close\r\n"

/// The client's address as text (for X-Forwarded-For) and as a hash key.
struct ClientAddress {
    var text: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0)
    var textCount: UInt8 = 0
    var hash: UInt64 = 0
}

/// One client connection slot. Slots live in a slab allocated at start;
/// nothing in a slot grows with the traffic it carries.
struct ClientConnection {
    var fd: CInt = -1
    var generation: UInt32 = 0
    var phase: ClientPhase = .free
    /// A request has begun on this connection. A drain closes idle
    /// connections that have been served; a new one gets its first request
    /// answered (within the drain timeout) rather than being cut off.
    var startedARequest = false
    var receiving = false
    /// An HTTP write is under way (for TLS, until its last record is sent).
    var sending = false
    /// A send of the stream's own is in flight (TLS records: handshake,
    /// tickets, alerts, or an HTTP write's).
    var streamSending = false
    /// A buffer-select receive failed for want of buffers; re-armed when
    /// buffers come back.
    var waitingForBuffer = false
    var sendSource: ClientSendSource = .response
    var stream: ClientStream = .plain
    var service: UInt32 = 0
    /// The attached server connection slot, or `.max`.
    var server: UInt32 = .max
    /// Bytes of the attached server's input the in-flight send carries.
    var sendConsumed: UInt32 = 0
    var input = InputBuffer()
    /// A buffer the in-flight send still reads from after its owner let go
    /// of it (the server connection closed mid-send); released when the send
    /// completes.
    var orphan: BufferID = .none
    /// Placeholder limits; `openClient` sets the virtual service's.
    var scanner = RequestHeadScanner(maxHeadBytes: 1)
    /// Scans the attached server's response heads (kept here, with the
    /// other per-request state, so idle server connections stay small).
    var responseScanner = ResponseHeadScanner(maxHeadBytes: 1)
    var exchange = Exchange()
    var address = ClientAddress()

    var hasOperationsInFlight: Bool { receiving || sending || streamSending }
}

/// One server connection slot.
struct ServerConnection {
    var fd: CInt = -1
    var generation: UInt32 = 0
    var phase: ServerPhase = .free
    var receiving = false
    var sending = false
    var connecting = false
    var waitingForBuffer = false
    /// Server index in the routing table.
    var server: UInt32 = 0
    /// The server's shared state slot (counts outlive the table).
    var stateSlot: UInt32 = 0
    /// Connected: counted in the server's open connections until closed.
    var established = false
    /// The table generation `server` indexes; a connection of an older
    /// table is closed rather than pooled.
    var tableGeneration: UInt64 = 0
    /// The client slot it serves while attached.
    var client: UInt32 = .max
    /// Bytes of the client's input the in-flight send carries, and the
    /// send's full length (larger when an X-Forwarded-For is inserted).
    var sendConsumed: UInt32 = 0
    var sendTotal: UInt32 = 0
    var input = InputBuffer()
    /// As `ClientConnection.orphan`: the client's input, still being sent.
    var orphan: BufferID = .none
    /// Keep-alive pool links (same server), valid while pooled.
    var poolPrev: UInt32 = .max
    var poolNext: UInt32 = .max

    var hasOperationsInFlight: Bool { receiving || sending || connecting }
}

/// A msghdr and its iovecs for one vectored send, at a stable address.
struct VectoredSend {
    var header = msghdr()
    var parts = (iovec(), iovec(), iovec(), iovec(), iovec())
}

/// A stack of free slot indices.
struct FreeSlots: ~Copyable {
    let slots: UnsafeMutablePointer<UInt32>
    private(set) var count: Int

    init(capacity: Int) {
        slots = .allocate(capacity: capacity)
        for i in 0..<capacity { slots[i] = UInt32(capacity - 1 - i) }
        count = capacity
    }

    deinit { slots.deallocate() }

    @inline(__always)
    mutating func pop() -> UInt32? {
        if count == 0 { return nil }
        count -= 1
        return slots[count]
    }

    @inline(__always)
    mutating func push(_ slot: UInt32) {
        slots[count] = slot
        count += 1
    }
}
