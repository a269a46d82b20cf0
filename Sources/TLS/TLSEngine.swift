import COpenSSL
import Glibc

/// What one process needs for TLS: the transport its connections read and
/// write through, and the session ticket keys its contexts issue and accept
/// tickets with. One per worker; it must outlive every context and
/// connection made with it. Not thread-safe: one thread uses it.
public final class TLSEngine {
    public let transport: UnsafeMutablePointer<TLSTransport>
    let ticketKeys: UnsafeMutablePointer<tether_ticket_keys>
    /// How long a client may keep a ticket (its lifetime hint): a ticket is
    /// accepted until the key after next replaces its key, so at least one
    /// rotation interval.
    public let ticketLifetimeSeconds: Int

    /// Bytes of one ticket key: a 16-byte name, a 32-byte AES-256 key and a
    /// 32-byte HMAC-SHA256 key.
    public static let ticketKeySize = 80

    /// An engine with a random ticket key of its own; a worker that shares
    /// keys with others sets them with `setTicketKeys`.
    public init(ticketLifetimeSeconds: Int = 3600) {
        transport = .allocate(capacity: 1)
        transport.initialize(to: TLSTransport())
        ticketKeys = .allocate(capacity: 1)
        ticketKeys.initialize(to: tether_ticket_keys())
        self.ticketLifetimeSeconds = ticketLifetimeSeconds
        let key = TLSEngine.randomTicketKey()
        key.withUnsafeBytes { setTicketKeys(current: $0, previous: nil) }
    }

    deinit {
        explicit_bzero(ticketKeys, MemoryLayout<tether_ticket_keys>.size)
        transport.deallocate()
        ticketKeys.deallocate()
    }

    /// Tickets are issued with `current` from now on, and accepted when made
    /// with `current` or `previous` (then renewed). Each is `ticketKeySize` bytes.
    public func setTicketKeys(current: UnsafeRawBufferPointer, previous: UnsafeRawBufferPointer?) {
        precondition(current.count == TLSEngine.ticketKeySize, "a ticket key is \(TLSEngine.ticketKeySize) bytes")
        withUnsafeMutableBytes(of: &ticketKeys.pointee.keys) { keys in
            keys.copyMemory(from: current)
            if let previous {
                precondition(previous.count == TLSEngine.ticketKeySize, "a ticket key is \(TLSEngine.ticketKeySize) bytes")
                UnsafeMutableRawBufferPointer(rebasing: keys[TLSEngine.ticketKeySize...]).copyMemory(from: previous)
            }
        }
        ticketKeys.pointee.count = previous == nil ? 1 : 2
    }

    /// A fresh random ticket key from OpenSSL's CSPRNG.
    public static func randomTicketKey() -> [UInt8] {
        var key = [UInt8](repeating: 0, count: ticketKeySize)
        let ok = key.withUnsafeMutableBytes { RAND_bytes($0.baseAddress, Int32($0.count)) }
        precondition(ok == 1, "OpenSSL's random generator failed")
        return key
    }
}
