import COpenSSL

/// The lowest TLS version a virtual service accepts. Nothing older than
/// TLS 1.2 is offered at all.
public enum TLSVersion: UInt8, Sendable, Equatable, CaseIterable, CustomStringConvertible {
    case tls12 = 2
    case tls13 = 3

    /// OpenSSL's protocol number.
    var wireValue: Int32 {
        switch self {
        case .tls12: return TLS1_2_VERSION
        case .tls13: return TLS1_3_VERSION
        }
    }

    /// "1.2", "1.3": how the configuration spells it.
    public var description: String {
        switch self {
        case .tls12: return "1.2"
        case .tls13: return "1.3"
        }
    }

    public init?(_ text: String) {
        switch text {
        case "1.2": self = .tls12
        case "1.3": self = .tls13
        default: return nil
        }
    }
}

/// A virtual service's protocol settings; every certificate of the service
/// shares them.
public struct TLSSettings: Sendable, Equatable {
    public var minVersion: TLSVersion
    /// TLS 1.2 cipher list, in OpenSSL's syntax.
    public var ciphers: String
    /// TLS 1.3 cipher suites, colon-separated.
    public var ciphersuites: String

    /// Forward-secret AEAD suites only (Mozilla's "intermediate" list without
    /// the finite-field DHE ones), ECDSA before RSA; the server's order wins.
    public static let defaultCiphers = [
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    ].joined(separator: ":")
    /// OpenSSL's own TLS 1.3 default.
    public static let defaultCiphersuites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

    public init(minVersion: TLSVersion = .tls12, ciphers: String = TLSSettings.defaultCiphers,
                ciphersuites: String = TLSSettings.defaultCiphersuites) {
        self.minVersion = minVersion
        self.ciphers = ciphers
        self.ciphersuites = ciphersuites
    }

    /// Applies the settings to `context`.
    func apply(to context: OpaquePointer) throws(TLSError) {
        guard tether_SSL_CTX_set_min_proto_version(context, minVersion.wireValue) == 1 else {
            throw .fromQueue("cannot set the minimum TLS version to \(minVersion)")
        }
        guard SSL_CTX_set_cipher_list(context, ciphers) == 1 else {
            throw .fromQueue("ciphers: '\(ciphers)' selects no cipher")
        }
        guard SSL_CTX_set_ciphersuites(context, ciphersuites) == 1 else {
            throw .fromQueue("ciphersuites: '\(ciphersuites)' is not a list of TLS 1.3 cipher suites")
        }
    }

    /// The parts of `ciphers` that name no cipher OpenSSL knows (OpenSSL
    /// itself skips them silently as long as one part matches). Keywords,
    /// `!`/`-`/`+` modifiers and `@` directives are left to OpenSSL.
    public static func unknownCiphers(in list: String) -> [String] {
        guard let context = SSL_CTX_new(TLS_server_method()) else { return [] }
        defer { SSL_CTX_free(context) }
        var unknown: [String] = []
        for part in list.split(whereSeparator: { $0 == ":" || $0 == "," || $0 == " " }) {
            let name = String(part)
            if name.hasPrefix("!") || name.hasPrefix("-") || name.hasPrefix("+") || name.hasPrefix("@") { continue }
            if SSL_CTX_set_cipher_list(context, name) != 1 { unknown.append(name) }
        }
        ERR_clear_error()
        return unknown
    }

    /// Checks every setting the way a worker will apply it; the error names
    /// the setting.
    public func check() throws(TLSError) {
        guard let context = SSL_CTX_new(TLS_server_method()) else { throw .fromQueue("cannot create a TLS context") }
        defer { SSL_CTX_free(context) }
        let unknown = TLSSettings.unknownCiphers(in: ciphers)
        if !unknown.isEmpty {
            throw TLSError("ciphers: \(unknown.map { "'\($0)'" }.joined(separator: ", ")) \(unknown.count == 1 ? "is" : "are") not \(unknown.count == 1 ? "a TLS 1.2 cipher" : "TLS 1.2 ciphers") OpenSSL knows")
        }
        try apply(to: context)
    }
}
