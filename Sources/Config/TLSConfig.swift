#if canImport(Glibc)
import Glibc
#endif
import TLS
import Yams

/// `tls:` of a virtual service (DESIGN.md §2):
///
///     tls: { certificate: /etc/tether/www.crt, key: /etc/tether/www.key }
///     tls:
///       certificates:
///         - { certificate: /etc/tether/a.pem, key: /etc/tether/a.key }       # the default
///         - { certificate: /etc/tether/b.pem, key: /etc/tether/b.key, server_names: [b.example] }
///       min_version: "1.3"          # 1.2 (default) | 1.3
///       ciphers: "ECDHE-ECDSA-AES128-GCM-SHA256:..."   # TLS 1.2, OpenSSL syntax
///       ciphersuites: "TLS_AES_128_GCM_SHA256:..."      # TLS 1.3
///
/// The files are read and checked here, as every worker will load them:
/// an unreadable file, PEM without a certificate or key, a key that is not
/// the certificate's, an encrypted key or one OpenSSL's security level
/// refuses is an error at the offending key. An expired or not yet valid
/// certificate is a warning: the service still starts (clients that check
/// dates refuse it), so a lapsed renewal never takes a whole proxy down.
extension ConfigDecoder {
    static let tlsKeys = ["certificate", "key", "server_names", "certificates", "min_version", "ciphers", "ciphersuites"]
    static let certificateKeys = ["certificate", "key", "server_names"]

    func decodeTLS(_ node: Node) -> VirtualServiceTLS? {
        let errorsBefore = log.errorCount
        guard let f = fields(node, kind: "tls", known: ConfigDecoder.tlsKeys) else { return nil }

        var settings = TLSSettings()
        if let n = f["min_version"] {
            if let (text, _) = scalar(n, key: "min_version", expected: "1.2 or 1.3") {
                if let version = TLSVersion(text) {
                    settings.minVersion = version
                } else if ["1.0", "1.1", "1", "1.00"].contains(text) {
                    error(n, "min_version: TLS \(text) is not offered at all (it is insecure); expected 1.2 or 1.3")
                } else {
                    error(n, "min_version: unknown value '\(text)'; expected 1.2 or 1.3")
                }
            }
        }
        if let n = f["ciphers"], let text = text(n, key: "ciphers") {
            let unknown = TLSSettings.unknownCiphers(in: text)
            if !unknown.isEmpty {
                let list = unknown.map { "'\($0)'" }.joined(separator: ", ")
                error(n, "ciphers: \(list) \(unknown.count == 1 ? "is not a TLS 1.2 cipher" : "are not TLS 1.2 ciphers") OpenSSL knows")
            } else {
                settings.ciphers = text
            }
            if settings.minVersion == .tls13, let keyNode = f.keyNode("ciphers") {
                warning(keyNode, "ciphers has no effect with min_version 1.3 (TLS 1.3 uses ciphersuites)")
            }
        }
        if let n = f["ciphersuites"], let text = text(n, key: "ciphersuites") { settings.ciphersuites = text }
        if log.errorCount == errorsBefore {
            do {
                try settings.check()
            } catch {
                let at = error.message.hasPrefix("ciphersuites") ? f["ciphersuites"] : f["ciphers"]
                if let at { self.error(at, error.message) } else { log.error(f.location, "tls: \(error.message)") }
            }
        }

        var certificates: [TLSCertificateConfig] = []
        var names: [String: (certificate: Int, at: SourcePosition)] = [:]
        if let listNode = f["certificates"] {
            for key in ["certificate", "key", "server_names"] {
                if let keyNode = f.keyNode(key) {
                    error(keyNode, "\(key): give it in an entry of certificates (or use certificate and key without certificates)")
                }
            }
            if let items = list(listNode, key: "certificates") {
                if items.isEmpty { error(listNode, "certificates: list at least one certificate and key") }
                for (k, item) in items.enumerated() {
                    guard let cf = fields(item, kind: "certificate", known: ConfigDecoder.certificateKeys) else { continue }
                    if let c = certificate(cf, number: k, names: &names) { certificates.append(c) }
                }
            }
        } else if f["certificate"] == nil && f["key"] == nil {
            log.error(f.location, "tls needs a certificate and key: { certificate: PATH, key: PATH }, or certificates: [...]")
        } else if let c = certificate(f, number: 0, names: &names) {
            certificates.append(c)
        }
        guard log.errorCount == errorsBefore, !certificates.isEmpty else { return nil }
        return VirtualServiceTLS(certificates: certificates, settings: settings)
    }

    /// One certificate and key: both files read and checked as a pair.
    private func certificate(_ f: Fields, number: Int,
                             names: inout [String: (certificate: Int, at: SourcePosition)]) -> TLSCertificateConfig? {
        let certificateNode = required(f, "certificate")
        let keyNode = required(f, "key")
        let certificatePath = certificateNode.flatMap { absolutePath($0, key: "certificate") }
        let keyPath = keyNode.flatMap { absolutePath($0, key: "key") }
        var configuredNames: [String]? = nil
        if let n = f["server_names"] { configuredNames = serverNames(n) }
        // Each file is read when its path is good, so both are reported.
        var chain: [UInt8]? = nil, key: [UInt8]? = nil
        if let certificateNode, let certificatePath { chain = read(certificatePath, key: "certificate", at: certificateNode) }
        if let keyNode, let keyPath { key = read(keyPath, key: "key", at: keyNode) }
        guard let certificateNode, let keyNode, let certificatePath, let keyPath, let chain, let key else { return nil }
        let pem = CertificatePEM(chain: chain, key: key)
        let summary: CertificateSummary
        do {
            summary = try pem.check(chainName: certificatePath, keyName: keyPath)
        } catch {
            let keyAtFault = keyPath != certificatePath && error.message.hasPrefix(keyPath)
            self.error(keyAtFault ? keyNode : certificateNode, "\(keyAtFault ? "key" : "certificate"): \(error.message)")
            return nil
        }

        let now = Int64(time(nil))
        if summary.notAfter <= now {
            warning(certificateNode, "certificate: \(certificatePath) expired on \(UTCText.minute(summary.notAfter)); clients will refuse it")
        } else if summary.notBefore > now {
            warning(certificateNode, "certificate: \(certificatePath) is not valid until \(UTCText.minute(summary.notBefore)); clients will refuse it until then")
        }

        let selecting = configuredNames ?? summary.dnsNames
        if let configuredNames, let namesNode = f["server_names"] {
            for name in configuredNames where !summary.covers(name) {
                let own = summary.dnsNames.isEmpty ? "none" : summary.dnsNames.joined(separator: ", ")
                warning(namesNode, "server_names: '\(name)' is not a name of the certificate in \(certificatePath) (it has: \(own)); clients will refuse it")
            }
        }
        let at = location(f["server_names"] ?? certificateNode)
        for name in selecting {
            if let first = names[name] {
                if configuredNames != nil {
                    log.error(at, "server_names: '\(name)' already selects certificate \(first.certificate + 1) at \(first.at)")
                } else {
                    log.warning(at, "certificate: \(certificatePath) is also for '\(name)', which certificate \(first.certificate + 1) at \(first.at) already serves; that one is chosen")
                }
                continue
            }
            names[name] = (number, at)
        }
        if number > 0 && selecting.isEmpty {
            log.warning(at, "certificate: \(certificatePath) has no server names, so no client selects it (only the first certificate is served without one)")
        }
        return TLSCertificateConfig(certificatePath: certificatePath, keyPath: keyPath, serverNames: selecting,
                                    pem: pem, summary: summary)
    }

    private func read(_ path: String, key: String, at node: Node) -> [UInt8]? {
        switch ConfigLoader.readFile(path) {
        case .failure(let reason):
            error(node, "\(key): cannot read \(path): \(reason)")
            return nil
        case .success(let bytes):
            return bytes
        }
    }

    /// DNS names, or wildcards for one label ("*.example.com"); lower-cased.
    private func serverNames(_ node: Node) -> [String]? {
        guard let items = list(node, key: "server_names") else { return nil }
        var out: [String] = []
        for item in items {
            guard let text = text(item, key: "server_names") else { continue }
            let name = text.lowercased()
            if let problem = ConfigDecoder.serverNameProblem(name) {
                error(item, "server_names: '\(text)' \(problem)")
                continue
            }
            if out.contains(name) {
                error(item, "server_names: '\(text)' is listed twice")
                continue
            }
            out.append(name)
        }
        return out.count == items.count ? out : nil
    }

    static func serverNameProblem(_ name: String) -> String? {
        let labels = (name.hasPrefix("*.") ? name.dropFirst(2) : Substring(name)).split(separator: ".", omittingEmptySubsequences: false)
        guard name.utf8.count <= 253, !labels.isEmpty else { return "is not a DNS name" }
        for label in labels {
            guard !label.isEmpty, label.utf8.count <= 63,
                  label.utf8.allSatisfy({ ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 }),
                  label.first != "-", label.last != "-" else {
                return "is not a DNS name (letters, digits and '-' between dots, or '*.' and such a name)"
            }
        }
        return nil
    }
}

/// Dates of certificates, for messages: UTC, from seconds since the epoch.
public enum UTCText {
    /// "2027-01-31".
    public static func day(_ seconds: Int64) -> String {
        let p = parts(seconds)
        return "\(p.tm_year + 1900)-\(two(p.tm_mon + 1))-\(two(p.tm_mday))"
    }

    /// "2026-11-25 03:10 UTC".
    public static func minute(_ seconds: Int64) -> String {
        let p = parts(seconds)
        return "\(day(seconds)) \(two(p.tm_hour)):\(two(p.tm_min)) UTC"
    }

    static func parts(_ seconds: Int64) -> tm {
        var t = time_t(seconds)
        var parts = tm()
        gmtime_r(&t, &parts)
        return parts
    }

    static func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
}
