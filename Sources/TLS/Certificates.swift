import COpenSSL
import Glibc

/// What a checked certificate says about itself.
public struct CertificateSummary: Sendable, Equatable {
    /// The DNS names it is valid for: its subjectAltName DNS entries, or its
    /// subject common name when it has none. Lower-cased.
    public var dnsNames: [String]
    /// The serial number, upper-case hex as `openssl x509 -serial` prints it.
    public var serial: String
    public var subject: String
    public var issuer: String
    /// Validity, in seconds since the Unix epoch.
    public var notBefore: Int64
    public var notAfter: Int64
    /// "RSA 2048-bit", "ECDSA P-256 (prime256v1)", ...
    public var keyDescription: String
    /// Certificates after the leaf.
    public var chainLength: Int

    /// Whether a client asking for `name` accepts the certificate: one of
    /// its names equals it, or is a wildcard for its first label.
    public func covers(_ name: String) -> Bool {
        let name = name.lowercased()
        for dns in dnsNames {
            if dns == name { return true }
            if dns.hasPrefix("*."), let dot = name.firstIndex(of: "."), dot != name.startIndex,
               !name.hasPrefix("*."), name[dot...] == dns.dropFirst() {
                return true
            }
        }
        return false
    }
}

/// PEM text of a certificate chain (leaf first, then intermediates) and of
/// its private key.
public struct CertificatePEM: Sendable, Equatable {
    public var chain: [UInt8]
    public var key: [UInt8]

    public init(chain: [UInt8], key: [UInt8]) {
        self.chain = chain
        self.key = key
    }
}

/// Parsed certificate material, owned: the leaf, the rest of the chain and
/// the key. Used to check a pair and to load it into a context.
struct ParsedPair: ~Copyable {
    let leaf: OpaquePointer
    var chain: [OpaquePointer]
    let key: OpaquePointer

    deinit {
        X509_free(leaf)
        for c in chain { X509_free(c) }
        EVP_PKEY_free(key)
    }

    /// Parses `pem`; errors name which half was wrong and why. `chainName`
    /// and `keyName` are how messages refer to the two (paths, usually).
    init(_ pem: CertificatePEM, chainName: String, keyName: String) throws(TLSError) {
        let certificates = try ParsedPair.certificates(pem.chain, name: chainName)
        let key: OpaquePointer
        do {
            key = try ParsedPair.privateKey(pem.key, name: keyName)
        } catch {
            for c in certificates { X509_free(c) }
            throw error
        }
        leaf = certificates[0]
        chain = Array(certificates.dropFirst())
        self.key = key
    }

    static func certificates(_ pem: [UInt8], name: String) throws(TLSError) -> [OpaquePointer] {
        ERR_clear_error()
        var out: [OpaquePointer] = []
        var failure: TLSError? = nil
        pem.withUnsafeBytes { raw in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else {
                failure = .fromQueue("\(name): out of memory")
                return
            }
            defer { BIO_free(bio) }
            guard let leaf = PEM_read_bio_X509_AUX(bio, nil, nil, nil) else {
                let code = ERR_peek_last_error()
                if ERR_GET_LIB(code) == ERR_LIB_PEM && ERR_GET_REASON(code) == PEM_R_NO_START_LINE {
                    ERR_clear_error()
                    failure = TLSError("\(name): no certificate found (expected PEM text with a 'BEGIN CERTIFICATE' block)")
                } else {
                    failure = .fromQueue("\(name): the certificate cannot be read")
                }
                return
            }
            out.append(leaf)
            while true {
                guard let next = PEM_read_bio_X509(bio, nil, nil, nil) else {
                    let code = ERR_peek_last_error()
                    if ERR_GET_LIB(code) == ERR_LIB_PEM && ERR_GET_REASON(code) == PEM_R_NO_START_LINE {
                        ERR_clear_error()  // the end of the file
                    } else {
                        failure = .fromQueue("\(name): certificate \(out.count + 1) of the chain cannot be read")
                    }
                    return
                }
                out.append(next)
            }
        }
        if let failure {
            for c in out { X509_free(c) }
            throw failure
        }
        return out
    }

    static func privateKey(_ pem: [UInt8], name: String) throws(TLSError) -> OpaquePointer {
        ERR_clear_error()
        // Both markers hold characters base64 cannot, so key data never matches.
        if pem.containsASCII("-----BEGIN ENCRYPTED") || pem.containsASCII("Proc-Type: 4,ENCRYPTED") {
            throw TLSError("\(name): the private key is encrypted; tether needs it unencrypted (protect the file instead)")
        }
        var key: OpaquePointer? = nil
        pem.withUnsafeBytes { raw in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return }
            defer { BIO_free(bio) }
            // A password callback that has none: OpenSSL never prompts.
            key = PEM_read_bio_PrivateKey(bio, nil, { _, _, _, _ in -1 }, nil)
        }
        guard let key else {
            let code = ERR_peek_last_error()
            if ERR_GET_LIB(code) == ERR_LIB_PEM && ERR_GET_REASON(code) == PEM_R_NO_START_LINE {
                ERR_clear_error()
                throw TLSError("\(name): no private key found (expected PEM text with a 'BEGIN PRIVATE KEY', 'BEGIN RSA PRIVATE KEY' or 'BEGIN EC PRIVATE KEY' block)")
            }
            throw .fromQueue("\(name): the private key cannot be read")
        }
        return key
    }

    /// Installs the pair in `context`, checking that the key is the
    /// certificate's and that OpenSSL's security level accepts both.
    func install(in context: OpaquePointer, chainName: String, keyName: String) throws(TLSError) {
        ERR_clear_error()
        guard SSL_CTX_use_certificate(context, leaf) == 1 else {
            throw .fromQueue("\(chainName): the certificate is not usable")
        }
        for c in chain {
            X509_up_ref(c)
            guard tether_SSL_CTX_add0_chain_cert(context, c) == 1 else {
                X509_free(c)
                throw .fromQueue("\(chainName): a chain certificate is not usable")
            }
        }
        guard SSL_CTX_use_PrivateKey(context, key) == 1 else {
            let reasons = OpenSSLErrors.drain()
            if reasons.contains("key values mismatch") {
                throw TLSError("\(keyName) is not the private key of the certificate in \(chainName)")
            }
            throw TLSError("\(keyName): the private key is not usable: \(reasons.joined(separator: "; "))")
        }
        guard SSL_CTX_check_private_key(context) == 1 else {
            ERR_clear_error()
            throw TLSError("\(keyName) is not the private key of the certificate in \(chainName)")
        }
    }

    var summary: CertificateSummary {
        CertificateSummary(
            dnsNames: ParsedPair.dnsNames(leaf), serial: ParsedPair.serial(leaf),
            subject: ParsedPair.oneLine(X509_get_subject_name(leaf)), issuer: ParsedPair.oneLine(X509_get_issuer_name(leaf)),
            notBefore: ParsedPair.seconds(X509_get0_notBefore(leaf)), notAfter: ParsedPair.seconds(X509_get0_notAfter(leaf)),
            keyDescription: ParsedPair.describe(key), chainLength: chain.count)
    }

    static func dnsNames(_ x509: OpaquePointer) -> [String] {
        var names: [String] = []
        if let raw = X509_get_ext_d2i(x509, NID_subject_alt_name, nil, nil) {
            let general = OpaquePointer(raw)
            for i in 0..<OPENSSL_sk_num(general) {
                guard let entry = OPENSSL_sk_value(general, i)?.assumingMemoryBound(to: GENERAL_NAME.self),
                      entry.pointee.type == GEN_DNS, let ia5 = entry.pointee.d.dNSName,
                      let bytes = ASN1_STRING_get0_data(ia5) else { continue }
                let text = String(decoding: UnsafeBufferPointer(start: bytes, count: Int(ASN1_STRING_length(ia5))), as: UTF8.self)
                names.append(text.lowercased())
            }
            GENERAL_NAMES_free(general)
        }
        if names.isEmpty, let subject = X509_get_subject_name(x509) {
            var buffer = [CChar](repeating: 0, count: 256)
            let n = X509_NAME_get_text_by_NID(subject, NID_commonName, &buffer, Int32(buffer.count))
            if n > 0 {
                let bytes = buffer.prefix(Int(n)).map { UInt8(bitPattern: $0) }
                names.append(String(decoding: bytes, as: UTF8.self).lowercased())
            }
        }
        return names
    }

    static func serial(_ x509: OpaquePointer) -> String {
        guard let number = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x509), nil) else { return "?" }
        defer { BN_free(number) }
        guard let hex = BN_bn2hex(number) else { return "?" }
        defer { CRYPTO_free(hex, #fileID, #line) }
        return String(cString: hex)
    }

    static func oneLine(_ name: OpaquePointer?) -> String {
        guard let name, let bio = BIO_new(BIO_s_mem()) else { return "" }
        defer { BIO_free(bio) }
        guard X509_NAME_print_ex(bio, name, 0, tether_XN_FLAG_RFC2253) >= 0 else { return "" }
        var pointer: UnsafeMutablePointer<CChar>? = nil
        let count = BIO_ctrl(bio, BIO_CTRL_INFO, 0, &pointer)
        guard count > 0, let pointer else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: pointer, count: count), as: UTF8.self)
    }

    static func seconds(_ time: UnsafePointer<ASN1_TIME>?) -> Int64 {
        var tm = tm()
        guard let time, ASN1_TIME_to_tm(time, &tm) == 1 else { return 0 }
        return Int64(timegm(&tm))
    }

    static func describe(_ key: OpaquePointer) -> String {
        let bits = EVP_PKEY_get_bits(key)
        switch EVP_PKEY_get_base_id(key) {
        case EVP_PKEY_RSA, EVP_PKEY_RSA_PSS: return "RSA \(bits)-bit"
        case EVP_PKEY_EC:
            var name = [CChar](repeating: 0, count: 64)
            var length = 0
            if EVP_PKEY_get_group_name(key, &name, name.count, &length) == 1 {
                let group = String(decoding: name.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
                return "ECDSA \(group) (\(bits)-bit)"
            }
            return "ECDSA \(bits)-bit"
        case EVP_PKEY_ED25519: return "Ed25519"
        case EVP_PKEY_ED448: return "Ed448"
        default: return "\(bits)-bit key"
        }
    }
}

extension CertificatePEM {
    /// Parses and cross-checks the chain and key exactly as a worker loads
    /// them (into a context at OpenSSL's configured security level); the
    /// error names which file was wrong and why.
    public func check(chainName: String, keyName: String) throws(TLSError) -> CertificateSummary {
        let parsed = try ParsedPair(self, chainName: chainName, keyName: keyName)
        guard let context = SSL_CTX_new(TLS_server_method()) else { throw .fromQueue("cannot create a TLS context") }
        defer { SSL_CTX_free(context) }
        try parsed.install(in: context, chainName: chainName, keyName: keyName)
        return parsed.summary
    }
}

extension [UInt8] {
    func containsASCII(_ word: StaticString) -> Bool {
        let needle = UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
        guard needle.count <= count else { return false }
        return withUnsafeBufferPointer { hay in
            for i in 0...(hay.count - needle.count) where hay[i] == needle[0] {
                if memcmp(hay.baseAddress! + i, needle.baseAddress!, needle.count) == 0 { return true }
            }
            return false
        }
    }
}
