import COpenSSL
import Glibc

/// One certificate of a virtual service and the server names (SNI) that
/// select it.
public struct TLSCertificate: Sendable, Equatable {
    public var pem: CertificatePEM
    /// Exact names ("www.example.com") or wildcards ("*.example.com", one
    /// label); matched without regard to case.
    public var serverNames: [String]

    public init(pem: CertificatePEM, serverNames: [String]) {
        self.pem = pem
        self.serverNames = serverNames
    }
}

/// The TLS side of one virtual service: one OpenSSL context per
/// certificate, all with the service's settings. A handshake starts on the
/// first certificate's context (the default); the client's server name
/// (SNI) moves it to the certificate that names it. Connections keep the
/// contexts they use alive, so a context may be dropped (a reload) while
/// its handshakes go on.
public final class TLSServerContext {
    let defaultContext: OpaquePointer
    let engine: TLSEngine

    /// Session ticket lifetime hint and server-side cache: tickets only
    /// (stateless, shared by every worker through the engine's keys).
    public init(certificates: [TLSCertificate], settings: TLSSettings, engine: TLSEngine) throws(TLSError) {
        guard !certificates.isEmpty else { throw TLSError("a TLS virtual service needs a certificate") }
        var contexts: [OpaquePointer] = []
        do throws(TLSError) {
            for (k, certificate) in certificates.enumerated() {
                let context = try TLSServerContext.makeContext(settings: settings, engine: engine)
                contexts.append(context)
                let parsed = try ParsedPair(certificate.pem, chainName: "certificate \(k + 1)", keyName: "key \(k + 1)")
                try parsed.install(in: context, chainName: "certificate \(k + 1)", keyName: "key \(k + 1)")
            }
        } catch {
            for c in contexts { SSL_CTX_free(c) }
            throw error
        }
        defaultContext = contexts[0]
        self.engine = engine
        let index = ServerNameIndex(contexts: contexts, names: certificates.map(\.serverNames))
        // The index belongs to the default context (freed with it), which
        // every connection of this service keeps alive.
        let owned = Unmanaged.passRetained(index).toOpaque()
        SSL_CTX_set_ex_data(defaultContext, ServerNameIndex.exDataIndex, owned)
        _ = tether_SSL_CTX_set_tlsext_servername_arg(defaultContext, owned)
        _ = tether_SSL_CTX_set_tlsext_servername_callback(defaultContext) { ssl, _, arg in
            guard let ssl, let arg else { return SSL_TLSEXT_ERR_OK }
            let index = Unmanaged<ServerNameIndex>.fromOpaque(arg).takeUnretainedValue()
            guard let name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name) else { return SSL_TLSEXT_ERR_OK }
            let k = index.context(for: name)
            if k > 0 { SSL_set_SSL_CTX(ssl, index.contexts[k]) }
            return SSL_TLSEXT_ERR_OK
        }
    }

    deinit {
        SSL_CTX_free(defaultContext)
    }

    static func makeContext(settings: TLSSettings, engine: TLSEngine) throws(TLSError) -> OpaquePointer {
        ERR_clear_error()
        guard let context = SSL_CTX_new(TLS_server_method()) else { throw .fromQueue("cannot create a TLS context") }
        do throws(TLSError) {
            try settings.apply(to: context)
        } catch {
            SSL_CTX_free(context)
            throw error
        }
        SSL_CTX_set_options(context, tether_SSL_OP_NO_RENEGOTIATION | tether_SSL_OP_CIPHER_SERVER_PREFERENCE
                            | tether_SSL_OP_NO_COMPRESSION)
        // Buffers are freed while a connection is idle; writes may end at a
        // record boundary short of the whole request (the caller's output
        // window is full) and resume from a moved pointer.
        _ = tether_SSL_CTX_set_mode(context, Int(SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE
                                                 | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER))
        _ = tether_SSL_CTX_set_session_cache_mode(context, Int(SSL_SESS_CACHE_OFF))
        SSL_CTX_set_timeout(context, Int(engine.ticketLifetimeSeconds))
        _ = SSL_CTX_set_num_tickets(context, 1)
        guard tether_SSL_CTX_use_ticket_keys(context, engine.ticketKeys) == 1 else {
            SSL_CTX_free(context)
            throw .fromQueue("cannot install session ticket keys")
        }
        SSL_CTX_set_alpn_select_cb(context, { _, out, outCount, offered, offeredCount, _ in
            guard let out, let outCount, let offered,
                  let match = ALPN.find(ALPN.http11, in: UnsafeRawBufferPointer(start: offered, count: Int(offeredCount))) else {
                return SSL_TLSEXT_ERR_NOACK
            }
            out.pointee = offered + match
            outCount.pointee = UInt8(ALPN.http11.utf8CodeUnitCount)
            return SSL_TLSEXT_ERR_OK
        }, nil)
        return context
    }

    /// A server connection at the start of its handshake, reading and
    /// writing through the engine's transport; nil when OpenSSL is out of memory.
    public func makeConnection() -> TLSConnection? {
        guard let ssl = SSL_new(defaultContext) else {
            ERR_clear_error()
            return nil
        }
        guard let bio = TransportBIO.make(engine.transport) else {
            SSL_free(ssl)
            ERR_clear_error()
            return nil
        }
        SSL_set_bio(ssl, bio, bio)
        SSL_set_accept_state(ssl)
        return TLSConnection(ssl: ssl, transport: engine.transport)
    }
}

/// Server name → certificate, for the SNI callback. Matching: an exact name
/// of any certificate (the first that lists it), else a wildcard of any
/// (`*.example.com` matches one more label), else the first certificate.
/// Linear in the number of names: a handshake costs far more.
final class ServerNameIndex {
    /// Every certificate's context; all but the first (the owner) retained here.
    let contexts: [OpaquePointer]
    /// Lower-case names, and for wildcards the suffix after the `*` (".example.com").
    let exact: [(name: [UInt8], context: Int)]
    let wildcards: [(suffix: [UInt8], context: Int)]

    init(contexts: [OpaquePointer], names: [[String]]) {
        self.contexts = contexts
        var exact: [(name: [UInt8], context: Int)] = []
        var wildcards: [(suffix: [UInt8], context: Int)] = []
        for (k, list) in names.enumerated() {
            for name in list {
                let lower = Array(name.lowercased().utf8)
                if lower.starts(with: Array("*.".utf8)) {
                    wildcards.append((Array(lower.dropFirst()), k))
                } else {
                    exact.append((lower, k))
                }
            }
        }
        self.exact = exact
        self.wildcards = wildcards
    }

    deinit {
        for c in contexts.dropFirst() { SSL_CTX_free(c) }
    }

    static let exDataIndex: Int32 = {
        let index = tether_SSL_CTX_get_ex_new_index { _, pointer, _, _, _, _ in
            if let pointer { Unmanaged<ServerNameIndex>.fromOpaque(pointer).release() }
        }
        precondition(index >= 0, "OpenSSL cannot allocate an ex_data index")
        return index
    }()

    /// The certificate for `name` (a C string from the ClientHello).
    func context(for name: UnsafePointer<CChar>) -> Int {
        let count = strlen(name)
        let bytes = UnsafeRawBufferPointer(start: name, count: count)
        for entry in exact where entry.name.count == count && ServerNameIndex.equalFolded(entry.name, bytes, from: 0) {
            return entry.context
        }
        if let dot = bytes.firstIndex(of: UInt8(ascii: ".")), dot > 0 {
            let suffixCount = count - dot
            for entry in wildcards where entry.suffix.count == suffixCount
                && ServerNameIndex.equalFolded(entry.suffix, bytes, from: dot) {
                return entry.context
            }
        }
        return 0
    }

    /// `lower` equals `bytes[from...]` ignoring ASCII case.
    static func equalFolded(_ lower: [UInt8], _ bytes: UnsafeRawBufferPointer, from: Int) -> Bool {
        for (k, b) in lower.enumerated() {
            var c = bytes[from + k]
            if c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z") { c |= 0x20 }
            if c != b { return false }
        }
        return true
    }
}

enum ALPN {
    static let http11: StaticString = "http/1.1"

    /// The offset of `protocol`'s bytes in a length-prefixed ALPN list.
    static func find(_ wanted: StaticString, in list: UnsafeRawBufferPointer) -> Int? {
        let name = UnsafeRawBufferPointer(start: wanted.utf8Start, count: wanted.utf8CodeUnitCount)
        var at = 0
        while at < list.count {
            let length = Int(list[at])
            let start = at + 1
            guard start + length <= list.count else { return nil }
            if length == name.count && memcmp(list.baseAddress! + start, name.baseAddress!, length) == 0 { return start }
            at = start + length
        }
        return nil
    }
}
