import Posix
import RoutingTable
import SharedState
import TLS

/// The TLS state of one client connection, beside its `ClientConnection`.
/// The HTTP code never sees it: it reads plaintext in the connection's
/// input and asks for plaintext to be written (`EventLoop+TLS.swift`).
struct TLSClientState {
    var connection: TLSConnection? = nil
    /// Ciphertext received and not yet decrypted (the plaintext window was
    /// full); it is decrypted before anything new is received.
    var ciphertext = InputBuffer()
    /// The output buffer (`TLSOutputBuffers`), held while it has bytes:
    /// `[sendStart, sendEnd)` is in flight, `[sendEnd, end)` waits.
    var output: UInt32 = .max
    var sendStart: UInt32 = 0
    var sendEnd: UInt32 = 0
    var end: UInt32 = 0
    /// The HTTP write being encrypted: what is left of it, and its length.
    var writeNext: UnsafeRawPointer? = nil
    var writeLeft = 0
    var writeTotal = 0
    /// An HTTP write is under way (it completes once its last byte is sent).
    var writePending = false
    var handshakeDone = false
    /// Some ciphertext has arrived: a close before the handshake completes
    /// counts as a failed handshake (a bare connect does not).
    var started = false
    /// This connection's failed handshake has been counted.
    var failureCounted = false
    /// A read stopped for output room: it resumes once the output is sent.
    var readAfterOutput = false
    /// The client sent close_notify.
    var peerClosed = false
    /// close_notify is queued: shutdown(SHUT_WR) follows it.
    var finishAfterOutput = false
    /// A fatal error: close once the alert is sent.
    var closeAfterOutput = false
    /// We sent close_notify: what the client still sends is dropped.
    var shutdownSent = false

    var hasOutput: Bool { end > sendStart }
}

/// Buffers that TLS records are encrypted into and sent from: one at most
/// per connection, taken while it has ciphertext to send and given back
/// once sent. The slab is sized so every connection can hold one, and
/// reserved rather than allocated: the stack hands out the most recently
/// used first, so the memory touched follows how many connections send at
/// once.
struct TLSOutputBuffers: ~Copyable {
    let base: UnsafeMutableRawPointer
    /// A full TLS record of a provided buffer's plaintext, with room for
    /// its header, tag and padding.
    let size: Int
    let count: Int
    let free: UnsafeMutablePointer<UInt32>
    var freeCount: Int

    init(count: Int, size: Int) throws(PosixError) {
        base = try Posix.reserveAnonymous(bytes: count * size)
        self.size = size
        self.count = count
        free = .allocate(capacity: count)
        for i in 0..<count { free[i] = UInt32(count - 1 - i) }
        freeCount = count
    }

    deinit {
        Posix.unmap(base, bytes: count * size)
        free.deallocate()
    }

    mutating func take() -> UInt32? {
        if freeCount == 0 { return nil }
        freeCount -= 1
        return free[freeCount]
    }

    mutating func release(_ buffer: UInt32) {
        free[freeCount] = buffer
        freeCount += 1
    }

    @inline(__always)
    func address(_ buffer: UInt32) -> UnsafeMutableRawPointer { base + Int(buffer) * size }
}

/// Everything a worker needs for TLS, made when the first table with a TLS
/// virtual service arrives: the engine (transport and ticket keys), the
/// per-connection states, the output buffers, and the current table's
/// contexts.
final class TLSWorker {
    let engine: TLSEngine
    let clients: UnsafeMutablePointer<TLSClientState>
    let clientCapacity: Int
    var outputs: TLSOutputBuffers
    /// Per virtual service of the current table: its contexts, or nil (no TLS).
    var contexts: [TLSServerContext?] = []
    /// What each context was built from, so a reload that leaves a
    /// service's TLS as it was keeps its contexts.
    var sources: [TLSSpec?] = []
    /// The shared ticket keys' sequence last read; 0: never.
    var ticketKeySequence: UInt64 = 0
    /// Handshakes that failed since the worker started (for logs).
    var handshakeFailures: UInt64 = 0

    init(clientCapacity: Int, outputSize: Int) throws(PosixError) {
        engine = TLSEngine(ticketLifetimeSeconds: Int(TicketKeys.rotationIntervalMilliseconds / 1000))
        clients = .allocate(capacity: clientCapacity)
        clients.initialize(repeating: TLSClientState(), count: clientCapacity)
        self.clientCapacity = clientCapacity
        outputs = try TLSOutputBuffers(count: clientCapacity, size: outputSize)
    }

    deinit {
        for c in 0..<clientCapacity { clients[c].connection?.free() }
        clients.deallocate()
    }

    /// Contexts for every TLS virtual service of `table`: a service whose
    /// certificates and settings are unchanged keeps its contexts.
    func contexts(for table: RoutingTableView) throws(TLSError) -> (contexts: [TLSServerContext?], sources: [TLSSpec?]) {
        var contexts: [TLSServerContext?] = []
        var sources: [TLSSpec?] = []
        for v in 0..<table.virtualServiceCount {
            guard let service = table.virtualService(v).tlsService else {
                contexts.append(nil)
                sources.append(nil)
                continue
            }
            let spec = service.spec
            if let k = self.sources.firstIndex(of: spec), let kept = self.contexts[k] {
                contexts.append(kept)
                sources.append(spec)
                continue
            }
            let settings = TLSSettings(minVersion: spec.minVersionMinor >= 3 ? .tls13 : .tls12,
                                       ciphers: spec.ciphers, ciphersuites: spec.ciphersuites)
            let certificates = spec.certificates.map {
                TLSCertificate(pem: CertificatePEM(chain: $0.chainPEM, key: $0.keyPEM), serverNames: $0.serverNames)
            }
            do {
                contexts.append(try TLSServerContext(certificates: certificates, settings: settings, engine: engine))
            } catch {
                throw TLSError("virtual service '\(table.virtualService(v).name)': \(error)")
            }
            sources.append(spec)
        }
        return (contexts, sources)
    }

    /// Takes the supervisor's ticket keys when they changed.
    @inline(__always)
    func followTicketKeys(_ region: SharedRegion) {
        if region.ticketKeySequence == ticketKeySequence { return }
        guard let (keys, sequence) = region.ticketKeys() else { return }
        keys.current.withUnsafeBytes { current in
            if let previous = keys.previous {
                previous.withUnsafeBytes { engine.setTicketKeys(current: current, previous: $0) }
            } else {
                engine.setTicketKeys(current: current, previous: nil)
            }
        }
        ticketKeySequence = sequence
    }
}
