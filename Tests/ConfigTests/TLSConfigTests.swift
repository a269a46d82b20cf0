import Foundation
import RoutingTable
import Testing
import TLS
import TLSTestSupport
@testable import Config

/// Certificates made once for the suite by a throwaway CA.
final class TLSFiles: @unchecked Sendable {
    static let shared = try! TLSFiles()

    let pki: TestPKI
    let www: TestPKI.Issued
    let api: TestPKI.Issued
    let expired: TestPKI.Issued
    let stray: String
    let garbage: String
    let encrypted: String

    init() throws {
        pki = try TestPKI(name: "config-tests")
        www = try pki.issue("www", dnsNames: ["www.example.test", "example.test"], key: .rsa2048)
        api = try pki.issue("api", dnsNames: ["api.example.test", "*.api.example.test"])
        expired = try pki.issue("expired", dnsNames: ["old.example.test"], days: -1)
        stray = try pki.strayKey("stray")
        garbage = pki.directory + "/garbage.pem"
        try "not PEM at all\n".write(toFile: garbage, atomically: true, encoding: .utf8)
        encrypted = pki.directory + "/encrypted.key"
        try TestPKI.openssl(["pkey", "-in", www.keyPath, "-aes256", "-passout", "pass:x", "-out", encrypted])
    }
}

/// `minimalPool` with `tls` (a flow mapping, or indented block lines) on its virtual service.
func withTLS(_ tls: String) -> String {
    minimalPool.replacingOccurrences(of: "pool: web }", with: "pool: web, tls: \(tls) }")
}

func withTLSBlock(_ lines: String) -> String {
    let indented = lines.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n") + "\n"
    return minimalPool.replacingOccurrences(
        of: "  - { name: www, listen: [\"0.0.0.0:80\"], pool: web }\n",
        with: "  - name: www\n    listen: [\"0.0.0.0:80\"]\n    pool: web\n    tls:\n" + indented)
}

@Suite struct TLSConfigTests {
    let f = TLSFiles.shared

    @Test func certificateAndKeyAreReadCheckedAndCompiled() throws {
        let config = try #require(load(withTLS("{ certificate: \(f.www.chainPath), key: \(f.www.keyPath) }")))
        let tls = try #require(config.virtualServices[0].tls)
        #expect(tls.settings == TLSSettings())
        #expect(tls.certificates.count == 1)
        let c = tls.certificates[0]
        #expect(c.serverNames == ["www.example.test", "example.test"], "the certificate's own names")
        #expect(c.summary.serial == f.www.serial && c.summary.keyDescription == "RSA 2048-bit" && c.summary.chainLength == 1)
        let spec = try #require(compile(config).virtualServices[0].tls)
        #expect(spec.certificates[0].chainPEM == Array(try Data(contentsOf: URL(fileURLWithPath: f.www.chainPath))))
        #expect(spec.certificates[0].keyPEM == Array(try Data(contentsOf: URL(fileURLWithPath: f.www.keyPath))))
        #expect(spec.minVersionMinor == 2 && spec.ciphers == TLSSettings.defaultCiphers)
        // The table carries it as compiled.
        let image = try TableBuilder.build(compile(config))
        let carried = try image.withUnsafeBytes { raw in try RoutingTableView(validating: raw).virtualService(0).tlsService?.spec }
        #expect(carried == spec)
    }

    @Test func severalCertificatesWithServerNamesAndSettings() throws {
        let yaml = withTLSBlock("""
              certificates:
                - { certificate: \(f.www.chainPath), key: \(f.www.keyPath) }
                - { certificate: \(f.api.chainPath), key: \(f.api.keyPath), server_names: [API.example.test, "*.api.example.test"] }
              min_version: "1.3"
              ciphersuites: TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256

            """)
        let config = try #require(load(yaml))
        #expect(warnings(yaml) == [])
        let tls = try #require(config.virtualServices[0].tls)
        #expect(tls.certificates.map(\.serverNames) == [["www.example.test", "example.test"], ["api.example.test", "*.api.example.test"]])
        #expect(tls.settings.minVersion == .tls13)
        #expect(compile(config).virtualServices[0].tls?.minVersionMinor == 3)
        #expect(compile(config).virtualServices[0].tls?.ciphersuites == "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256")
    }

    @Test func keyOfAnotherCertificateIsAnErrorAtTheKey() {
        let yaml = withTLS("{ certificate: \(f.www.chainPath), key: \(f.stray) }")
        let column = yaml.components(separatedBy: "\n")[5].distance(of: f.stray) + 1
        #expect(errors(yaml) == ["t.yaml:6:\(column): key: \(f.stray) is not the private key of the certificate in \(f.www.chainPath)"])
    }

    @Test func filesThatAreNotWhatTheySayAreErrors() {
        let cases: [(String, String)] = [
            ("{ certificate: \(f.garbage), key: \(f.www.keyPath) }",
             "certificate: \(f.garbage): no certificate found (expected PEM text with a 'BEGIN CERTIFICATE' block)"),
            ("{ certificate: \(f.www.keyPath), key: \(f.www.keyPath) }",
             "certificate: \(f.www.keyPath): no certificate found (expected PEM text with a 'BEGIN CERTIFICATE' block)"),
            ("{ certificate: \(f.www.chainPath), key: \(f.encrypted) }",
             "key: \(f.encrypted): the private key is encrypted; tether needs it unencrypted (protect the file instead)"),
            ("{ certificate: \(f.www.chainPath), key: \(f.pki.directory)/missing.key }",
             "key: cannot read \(f.pki.directory)/missing.key: No such file or directory"),
            ("{ certificate: \(f.pki.directory), key: \(f.www.keyPath) }",
             "certificate: cannot read \(f.pki.directory): Is a directory"),
        ]
        for (tls, message) in cases {
            let found = errors(withTLS(tls))
            #expect(found.count == 1 && found.first?.hasSuffix(": " + message) == true, "\(found)")
        }
    }

    @Test func settingMistakes() {
        let pair = "certificate: \(f.www.chainPath), key: \(f.www.keyPath)"
        let cases: [(String, String)] = [
            ("{ \(pair), min_version: 1.1 }", "min_version: TLS 1.1 is not offered at all (it is insecure); expected 1.2 or 1.3"),
            ("{ \(pair), min_version: tls13 }", "min_version: unknown value 'tls13'; expected 1.2 or 1.3"),
            ("{ \(pair), ciphers: 'ECDHE-RSA-AES128-GCM-SHA256:AES512-FAKE' }", "ciphers: 'AES512-FAKE' is not a TLS 1.2 cipher OpenSSL knows"),
            ("{ \(pair), ciphersuites: TLS_FAKE_SHA1 }", "ciphersuites: 'TLS_FAKE_SHA1' is not a list of TLS 1.3 cipher suites"),
            ("{ \(pair), server_names: [bad_name] }", "server_names: 'bad_name' is not a DNS name (letters, digits and '-' between dots, or '*.' and such a name)"),
            ("{ certificate: \(f.www.chainPath) }", "tls is missing required key 'key'"),
            ("{ }", "tls needs a certificate and key: { certificate: PATH, key: PATH }, or certificates: [...]"),
            ("{ certificates: [] }", "certificates: list at least one certificate and key"),
            ("{ \(pair), certificates: [{ \(pair) }] }", "certificate: give it in an entry of certificates (or use certificate and key without certificates)"),
        ]
        for (tls, message) in cases {
            let found = errors(withTLS(tls))
            #expect(found.contains { $0.contains(": " + message) }, "\(tls): \(found)")
        }
    }

    @Test func serverNameTwiceIsAnError() {
        let yaml = withTLSBlock("""
              certificates:
                - { certificate: \(f.www.chainPath), key: \(f.www.keyPath) }
                - { certificate: \(f.api.chainPath), key: \(f.api.keyPath), server_names: [www.example.test] }

            """)
        let column = yaml.components(separatedBy: "\n")[11].distance(of: "[www.example.test]") + 1
        #expect(errors(yaml) == ["t.yaml:12:\(column): server_names: 'www.example.test' already selects certificate 1 at 11:26"])
    }

    @Test func warningsLeaveTheServiceRunning() throws {
        let expired = withTLS("{ certificate: \(f.expired.chainPath), key: \(f.expired.keyPath) }")
        #expect(load(expired) != nil)
        #expect(warnings(expired).count == 1)
        #expect(warnings(expired).first?.contains("certificate: \(f.expired.chainPath) expired on ") == true)
        #expect(warnings(expired).first?.hasSuffix("UTC; clients will refuse it") == true)

        let uncovered = withTLS("{ certificate: \(f.api.chainPath), key: \(f.api.keyPath), server_names: [x.api.example.test, www.example.test], min_version: '1.3', ciphers: HIGH }")
        #expect(load(uncovered) != nil)
        let found = warnings(uncovered)
        #expect(found.contains { $0.hasSuffix("server_names: 'www.example.test' is not a name of the certificate in \(f.api.chainPath) (it has: api.example.test, *.api.example.test); clients will refuse it") }, "\(found)")
        #expect(!found.contains { $0.contains("'x.api.example.test'") }, "the wildcard covers it")
        #expect(found.contains { $0.hasSuffix("ciphers has no effect with min_version 1.3 (TLS 1.3 uses ciphersuites)") })

        let shadowed = withTLSBlock("""
              certificates:
                - { certificate: \(f.www.chainPath), key: \(f.www.keyPath) }
                - { certificate: \(f.www.certificatePath), key: \(f.www.keyPath) }

            """)
        #expect(load(shadowed) != nil)
        #expect(warnings(shadowed).contains { $0.contains("is also for 'www.example.test', which certificate 1 at 11:26 already serves; that one is chosen") },
                "\(warnings(shadowed))")
    }
}

extension String {
    /// Characters before the first occurrence of `other`.
    func distance(of other: String) -> Int {
        guard let r = range(of: other) else { return -1 }
        return self.distance(from: startIndex, to: r.lowerBound)
    }
}
