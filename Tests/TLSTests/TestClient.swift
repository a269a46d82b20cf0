import COpenSSL
import Foundation
import TLS

/// An OpenSSL client in memory (a BIO pair, no socket), to drive a
/// `TLSConnection` from the other end.
final class TestClient {
    let context: OpaquePointer
    let ssl: OpaquePointer
    /// Our end of the pair: ciphertext to and from the server.
    let network: OpaquePointer

    struct Options {
        var trust: String? = nil
        var serverName: String? = nil
        var verifyHost: String? = nil
        var minVersion: Int32 = TLS1_2_VERSION
        var maxVersion: Int32 = 0
        var alpn: [String] = ["h2", "http/1.1"]
        var session: OpaquePointer? = nil
    }

    init(_ options: Options = Options()) {
        context = SSL_CTX_new(TLS_client_method())!
        if let trust = options.trust {
            SSL_CTX_load_verify_locations(context, trust, nil)
            SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
        }
        _ = tether_SSL_CTX_set_min_proto_version(context, options.minVersion)
        if options.maxVersion != 0 { _ = tether_SSL_CTX_set_max_proto_version(context, options.maxVersion) }
        ssl = SSL_new(context)!
        var internalBIO: OpaquePointer? = nil
        var networkBIO: OpaquePointer? = nil
        BIO_new_bio_pair(&internalBIO, 1 << 20, &networkBIO, 1 << 20)
        network = networkBIO!
        SSL_set_bio(ssl, internalBIO, internalBIO)
        SSL_set_connect_state(ssl)
        if let name = options.serverName { _ = tether_SSL_set_tlsext_host_name(ssl, name) }
        if let host = options.verifyHost { SSL_set1_host(ssl, host) }
        if !options.alpn.isEmpty {
            var list: [UInt8] = []
            for p in options.alpn { list.append(UInt8(p.utf8.count)); list += Array(p.utf8) }
            SSL_set_alpn_protos(ssl, list, UInt32(list.count))
        }
        if let session = options.session { SSL_set_session(ssl, session) }
    }

    deinit {
        SSL_free(ssl)
        BIO_free(network)
        SSL_CTX_free(context)
    }

    var handshakeComplete: Bool { SSL_is_init_finished(ssl) == 1 }
    var verifyResult: Int { SSL_get_verify_result(ssl) }
    var protocolVersion: String { String(cString: SSL_get_version(ssl)) }
    var resumed: Bool { SSL_session_reused(ssl) == 1 }

    /// The serial number of the certificate the server sent, upper-case hex.
    var peerSerial: String? {
        guard let cert = SSL_get1_peer_certificate(ssl) else { return nil }
        defer { X509_free(cert) }
        let bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nil)!
        defer { BN_free(bn) }
        let hex = BN_bn2hex(bn)!
        defer { CRYPTO_free(hex, #fileID, #line) }
        return String(cString: hex)
    }

    var alpn: String? {
        var data: UnsafePointer<UInt8>? = nil
        var count: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &data, &count)
        guard let data, count > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(count)), as: UTF8.self)
    }

    /// A session to resume with, once the handshake (and, for TLS 1.3, the
    /// ticket that follows it) has been processed.
    func session() -> OpaquePointer? { SSL_get1_session(ssl) }

    /// Advances the handshake; false once it has failed.
    @discardableResult
    func step() -> Bool {
        if handshakeComplete {
            // Processes post-handshake messages (tickets) without app data.
            var byte: UInt8 = 0
            let n = SSL_read(ssl, &byte, 1)
            if n > 0 { pendingPlaintext.append(byte) }
            let e = SSL_get_error(ssl, n)
            return n > 0 || e == SSL_ERROR_WANT_READ || e == SSL_ERROR_ZERO_RETURN
        }
        let r = SSL_do_handshake(ssl)
        if r == 1 { return true }
        let e = SSL_get_error(ssl, r)
        return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE
    }

    var pendingPlaintext: [UInt8] = []

    /// Ciphertext the client has written for the server.
    func takeOutput() -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = BIO_read(network, &chunk, Int32(chunk.count))
            if n <= 0 { break }
            out += chunk[0..<Int(n)]
        }
        return out
    }

    /// Ciphertext from the server.
    func give(_ bytes: [UInt8]) {
        var at = 0
        while at < bytes.count {
            let n = bytes[at...].withUnsafeBytes { BIO_write(network, $0.baseAddress, Int32($0.count)) }
            precondition(n > 0, "bio pair refused \(bytes.count - at) bytes: \(n)")
            at += Int(n)
        }
    }

    func write(_ text: String) {
        let bytes = Array(text.utf8)
        precondition(SSL_write(ssl, bytes, Int32(bytes.count)) == Int32(bytes.count))
    }

    /// Plaintext the server sent, as far as the ciphertext given allows.
    func read() -> [UInt8] {
        var out = pendingPlaintext
        pendingPlaintext = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = SSL_read(ssl, &chunk, Int32(chunk.count))
            if n <= 0 { break }
            out += chunk[0..<Int(n)]
        }
        return out
    }

    /// The server sent close_notify.
    var sawCloseNotify: Bool { SSL_get_shutdown(ssl) & SSL_RECEIVED_SHUTDOWN != 0 }

    func shutdown() { SSL_shutdown(ssl) }
}

/// The server end: a `TLSConnection` with plaintext collected and windows
/// of chosen sizes.
struct TestServer {
    var connection: TLSConnection
    var plaintext: [UInt8] = []
    var lastStatus: TLSReadStatus? = nil
    var outputWindow: Int
    var plaintextWindow: Int

    init(_ context: TLSServerContext, outputWindow: Int = 32 * 1024, plaintextWindow: Int = 16 * 1024) {
        connection = context.makeConnection()!
        self.outputWindow = outputWindow
        self.plaintextWindow = plaintextWindow
    }

    /// Feeds `input` (in pieces of `piece` bytes) and returns the output.
    mutating func feed(_ input: [UInt8], piece: Int = .max) -> [UInt8] {
        var out: [UInt8] = []
        var at = 0
        var output = [UInt8](repeating: 0, count: outputWindow)
        var plain = [UInt8](repeating: 0, count: plaintextWindow)
        repeat {
            let end = min(input.count, at + piece)
            var slice = Array(input[at..<end])
            while true {
                let result = slice.withUnsafeBytes { i in
                    plain.withUnsafeMutableBytes { p in
                        output.withUnsafeMutableBytes { o in connection.read(i, into: p, output: o) }
                    }
                }
                out += output[0..<result.written]
                plaintext += plain[0..<result.produced]
                slice.removeFirst(result.consumed)
                lastStatus = result.status
                switch result.status {
                case .needOutputRoom, .plaintextFull: continue
                default: break
                }
                break
            }
            at = end
        } while at < input.count
        return out
    }

    /// Encrypts `bytes` through output windows of `outputWindow` bytes.
    mutating func write(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var at = 0
        var output = [UInt8](repeating: 0, count: outputWindow)
        while at < bytes.count {
            let result = bytes[at...].withUnsafeBytes { p in
                output.withUnsafeMutableBytes { o in connection.write(p, output: o) }
            }
            out += output[0..<result.written]
            at += result.consumed
            if case .failed = result.status { break }
        }
        return out
    }
}

/// Runs the handshake between `client` and `server` to completion (or failure).
func handshake(_ client: TestClient, _ server: inout TestServer, piece: Int = .max) {
    for _ in 0..<50 {
        guard client.step() else { return }
        let toServer = client.takeOutput()
        let toClient = server.feed(toServer, piece: piece)
        if case .failed = server.lastStatus {
            client.give(toClient)
            client.step()
            return
        }
        client.give(toClient)
        if client.handshakeComplete && server.connection.handshakeComplete && toServer.isEmpty && toClient.isEmpty { return }
    }
}
