import COpenSSL

/// Why a connection's TLS failed.
public enum TLSFailure: Equatable, Sendable, CustomStringConvertible {
    /// The client spoke plain HTTP (or another cleartext protocol) to a TLS port.
    case plaintext
    /// OpenSSL refused the peer's bytes: its reason ("no shared cipher",
    /// "unsupported protocol", "tlsv1 alert unknown ca", ...).
    case protocolError(String)

    public var description: String {
        switch self {
        case .plaintext: return "the client sent cleartext, not a TLS handshake"
        case .protocolError(let reason): return reason
        }
    }
}

public enum TLSReadStatus: Equatable, Sendable {
    /// Every ciphertext byte given was taken; more is needed for more plaintext.
    case needInput
    /// The plaintext window is full; more plaintext may be buffered.
    case plaintextFull
    /// The output window is full: send it, then read again.
    case needOutputRoom
    /// The peer sent close_notify.
    case closed
    /// Fatal: the output may hold an alert worth sending before closing.
    case failed(TLSFailure)
}

public struct TLSReadResult: Equatable, Sendable {
    /// Ciphertext bytes taken from the input window.
    public var consumed: Int
    /// Plaintext bytes written to the plaintext window.
    public var produced: Int
    /// Ciphertext appended to the output window (handshake messages,
    /// session tickets, alerts).
    public var written: Int
    public var status: TLSReadStatus
}

public enum TLSWriteStatus: Equatable, Sendable {
    /// Every plaintext byte is encrypted.
    case done
    /// The output window is full: send it, then write the rest.
    case needOutputRoom
    case failed(TLSFailure)
}

public struct TLSWriteResult: Equatable, Sendable {
    /// Plaintext bytes encrypted.
    public var consumed: Int
    /// Ciphertext appended to the output window.
    public var written: Int
    public var status: TLSWriteStatus
}

/// One server-side TLS connection. It owns no buffers: each call gets the
/// ciphertext to read and the output window to write into, and says how
/// much of each it used. Free it with `free()` exactly once.
public struct TLSConnection {
    let ssl: OpaquePointer
    let transport: UnsafeMutablePointer<TLSTransport>
    /// The plaintext count of a write OpenSSL could not finish (it must be
    /// retried with the same length); 0 when none.
    var retryLength: Int32 = 0
    /// Some ciphertext has been read.
    var started = false

    /// The most ciphertext one record of plaintext adds (header, nonce, tag,
    /// padding, a KeyUpdate ahead of it), with room to spare.
    static let recordOverhead = 256
    /// A write waits for more room rather than make records smaller than this.
    static let smallestRecord = 1024
    /// TLS's largest record payload.
    static let largestRecord = 16384

    init(ssl: OpaquePointer, transport: UnsafeMutablePointer<TLSTransport>) {
        self.ssl = ssl
        self.transport = transport
    }

    public func free() {
        SSL_free(ssl)
    }

    public var handshakeComplete: Bool { SSL_is_init_finished(ssl) == 1 }

    /// Decrypted bytes OpenSSL holds that a read would return at once.
    public var bufferedPlaintext: Int { Int(SSL_pending(ssl)) }

    /// OpenSSL holds input of any kind: plaintext, or part of a record.
    public var hasBufferedInput: Bool { SSL_has_pending(ssl) == 1 }

    /// "TLSv1.3", "TLSv1.2".
    public var protocolVersion: String { String(cString: SSL_get_version(ssl)) }

    public var cipher: String {
        guard let c = SSL_get_current_cipher(ssl), let name = SSL_CIPHER_get_name(c) else { return "" }
        return String(cString: name)
    }

    /// The session was resumed from a ticket.
    public var resumed: Bool { SSL_session_reused(ssl) == 1 }

    /// The server name the client asked for, if any.
    public var serverName: String? {
        SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name).map { String(cString: $0) }
    }

    /// The protocol agreed by ALPN, if any.
    public var applicationProtocol: String? {
        var data: UnsafePointer<UInt8>? = nil
        var count: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &data, &count)
        guard let data, count > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(count)), as: UTF8.self)
    }

    /// Takes ciphertext from `input`, advances the handshake, and decrypts
    /// into `plaintext` until input runs out or the window is full. Whatever
    /// OpenSSL must send meanwhile goes to `output`.
    public mutating func read(_ input: UnsafeRawBufferPointer, into plaintext: UnsafeMutableRawBufferPointer,
                              output: UnsafeMutableRawBufferPointer) -> TLSReadResult {
        if !started && !input.isEmpty {
            started = true
            // Every TLS record starts with a content type (20...24, or 0x80
            // and up for an SSLv2-style hello); a letter is a cleartext
            // request line ("GET /", "OPTIONS", "PRI * HTTP/2.0").
            let first = input[0]
            if first >= UInt8(ascii: "A") && first <= UInt8(ascii: "Z") {
                return TLSReadResult(consumed: 0, produced: 0, written: 0, status: .failed(.plaintext))
            }
        }
        transport.pointee.attach(input: input, output: output)
        defer { transport.pointee.detach() }
        var produced = 0
        var status = TLSReadStatus.needInput
        while true {
            if produced == plaintext.count {
                status = .plaintextFull
                break
            }
            ERR_clear_error()
            let n = SSL_read(ssl, plaintext.baseAddress! + produced, Int32(clamping: plaintext.count - produced))
            if n > 0 {
                produced += Int(n)
                continue
            }
            switch SSL_get_error(ssl, n) {
            case SSL_ERROR_WANT_READ: status = .needInput
            case SSL_ERROR_WANT_WRITE: status = .needOutputRoom
            case SSL_ERROR_ZERO_RETURN: status = .closed
            default: status = .failed(TLSConnection.failure())
            }
            break
        }
        return TLSReadResult(consumed: transport.pointee.inputConsumed, produced: produced,
                             written: transport.pointee.outputCount, status: status)
    }

    /// Encrypts `plaintext` into `output`, as much as fits.
    public mutating func write(_ plaintext: UnsafeRawBufferPointer, output: UnsafeMutableRawBufferPointer) -> TLSWriteResult {
        transport.pointee.attach(input: UnsafeRawBufferPointer(start: nil, count: 0), output: output)
        defer { transport.pointee.detach() }
        var consumed = 0
        var status = TLSWriteStatus.done
        while consumed < plaintext.count {
            let remaining = plaintext.count - consumed
            var length: Int
            if retryLength > 0 {
                length = Int(retryLength)
            } else {
                let room = output.count - transport.pointee.outputCount - TLSConnection.recordOverhead
                length = min(remaining, TLSConnection.largestRecord, room)
                if length < min(remaining, TLSConnection.smallestRecord) {
                    status = .needOutputRoom
                    break
                }
            }
            ERR_clear_error()
            let n = SSL_write(ssl, plaintext.baseAddress! + consumed, Int32(length))
            if n > 0 {
                retryLength = 0
                consumed += Int(n)
                continue
            }
            switch SSL_get_error(ssl, n) {
            case SSL_ERROR_WANT_WRITE:
                retryLength = Int32(length)
                status = .needOutputRoom
            default:
                status = .failed(TLSConnection.failure())
            }
            break
        }
        return TLSWriteResult(consumed: consumed, written: transport.pointee.outputCount, status: status)
    }

    /// Writes close_notify into `output` (once the handshake is done; before
    /// that there is nothing to close). Returns the bytes written.
    public mutating func shutdown(output: UnsafeMutableRawBufferPointer) -> Int {
        guard handshakeComplete else { return 0 }
        transport.pointee.attach(input: UnsafeRawBufferPointer(start: nil, count: 0), output: output)
        defer { transport.pointee.detach() }
        ERR_clear_error()
        _ = SSL_shutdown(ssl)
        ERR_clear_error()
        return transport.pointee.outputCount
    }

    /// Classifies and clears the error OpenSSL just queued.
    static func failure() -> TLSFailure {
        let code = ERR_peek_error()
        if ERR_GET_LIB(code) == ERR_LIB_SSL {
            let reason = ERR_GET_REASON(code)
            if reason == SSL_R_HTTP_REQUEST || reason == SSL_R_HTTPS_PROXY_REQUEST {
                ERR_clear_error()
                return .plaintext
            }
        }
        let reasons = OpenSSLErrors.drain()
        return .protocolError(reasons.first ?? "connection failed")
    }
}
