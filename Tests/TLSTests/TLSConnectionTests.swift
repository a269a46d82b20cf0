import COpenSSL
import Foundation
import Testing
import TLS
import TLSTestSupport

/// One CA for the whole suite: key generation is the slow part.
final class Fixture: @unchecked Sendable {
    static let shared = try! Fixture()

    let pki: TestPKI
    let rsa: TestPKI.Issued
    let ecdsa: TestPKI.Issued
    let other: TestPKI.Issued
    let wildcard: TestPKI.Issued
    let expired: TestPKI.Issued

    init() throws {
        pki = try TestPKI(name: "tls-tests")
        rsa = try pki.issue("rsa", dnsNames: ["a.test", "www.a.test"], key: .rsa2048)
        ecdsa = try pki.issue("ecdsa", dnsNames: ["a.test"], key: .ecdsaP256)
        other = try pki.issue("other", dnsNames: ["b.test"], key: .ecdsaP384)
        wildcard = try pki.issue("wildcard", dnsNames: ["*.w.test"])
        expired = try pki.issue("expired", dnsNames: ["old.test"], days: -1)
    }

    func pem(_ issued: TestPKI.Issued, chain: Bool = true) throws -> CertificatePEM {
        CertificatePEM(chain: Array(try Data(contentsOf: URL(fileURLWithPath: chain ? issued.chainPath : issued.certificatePath))),
                       key: Array(try Data(contentsOf: URL(fileURLWithPath: issued.keyPath))))
    }

    func context(_ certificates: [(TestPKI.Issued, [String])], settings: TLSSettings = TLSSettings(),
                 engine: TLSEngine = TLSEngine()) throws -> TLSServerContext {
        try TLSServerContext(certificates: certificates.map { TLSCertificate(pem: try pem($0.0), serverNames: $0.1) },
                             settings: settings, engine: engine)
    }
}

@Suite struct HandshakeTests {
    let f = Fixture.shared

    struct Case: CustomTestStringConvertible, Sendable {
        let key: String
        let version: Int32
        var testDescription: String { "\(key) TLS \(version == TLS1_3_VERSION ? "1.3" : "1.2")" }
    }

    @Test(arguments: [
        Case(key: "rsa", version: TLS1_2_VERSION), Case(key: "rsa", version: TLS1_3_VERSION),
        Case(key: "ecdsa", version: TLS1_2_VERSION), Case(key: "ecdsa", version: TLS1_3_VERSION),
    ])
    func handshakeVerifiesAndCarriesHTTP(_ c: Case) throws {
        let issued = c.key == "rsa" ? f.rsa : f.ecdsa
        let context = try f.context([(issued, ["a.test"])])
        var server = TestServer(context)
        defer { server.connection.free() }
        let client = TestClient(.init(trust: f.pki.rootPath, serverName: "a.test", verifyHost: "a.test",
                                      minVersion: c.version, maxVersion: c.version))
        handshake(client, &server)
        #expect(client.handshakeComplete && server.connection.handshakeComplete)
        #expect(client.verifyResult == Int(X509_V_OK), "the chain (leaf + intermediate) verifies against the root")
        #expect(client.protocolVersion == (c.version == TLS1_3_VERSION ? "TLSv1.3" : "TLSv1.2"))
        #expect(server.connection.protocolVersion == client.protocolVersion)
        #expect(client.alpn == "http/1.1" && server.connection.applicationProtocol == "http/1.1")
        #expect(client.peerSerial == issued.serial)

        client.write("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
        client.give(server.feed(client.takeOutput()))
        #expect(String(decoding: server.plaintext, as: UTF8.self) == "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
        client.give(server.write(Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".utf8)))
        #expect(String(decoding: client.read(), as: UTF8.self) == "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    }

    @Test(arguments: [1, 2, 5, 7, 100])
    func ciphertextInPiecesOfAnySize(_ piece: Int) throws {
        let context = try f.context([(f.ecdsa, [])])
        var server = TestServer(context)
        defer { server.connection.free() }
        let client = TestClient(.init(trust: f.pki.rootPath, serverName: "a.test"))
        handshake(client, &server, piece: piece)
        #expect(server.connection.handshakeComplete)
        let request = "POST /upload HTTP/1.1\r\nContent-Length: 5000\r\n\r\n" + String(repeating: "x", count: 5000)
        client.write(request)
        _ = server.feed(client.takeOutput(), piece: piece)
        #expect(server.plaintext == Array(request.utf8))
    }

    @Test func smallPlaintextWindowKeepsTheRestBuffered() throws {
        let context = try f.context([(f.ecdsa, [])])
        var server = TestServer(context, plaintextWindow: 10)
        defer { server.connection.free() }
        let client = TestClient(.init(trust: f.pki.rootPath))
        handshake(client, &server)
        client.write("0123456789abcdefghij")
        _ = server.feed(client.takeOutput())
        #expect(String(decoding: server.plaintext, as: UTF8.self) == "0123456789abcdefghij")
    }

    @Test func tinyOutputWindowStillCompletesTheHandshake() throws {
        let context = try f.context([(f.rsa, [])])
        var server = TestServer(context, outputWindow: 100)
        defer { server.connection.free() }
        let client = TestClient(.init(trust: f.pki.rootPath))
        handshake(client, &server)
        #expect(client.handshakeComplete && server.connection.handshakeComplete)
        #expect(client.verifyResult == Int(X509_V_OK))
    }

    @Test(arguments: [100, 16384, 16385, 100_000])
    func largeWritesSpanOutputWindows(_ size: Int) throws {
        let context = try f.context([(f.ecdsa, [])])
        var server = TestServer(context, outputWindow: 16 * 1024 + 1024)
        defer { server.connection.free() }
        let client = TestClient(.init(trust: f.pki.rootPath))
        handshake(client, &server)
        let body = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        client.give(server.write(body))
        #expect(client.read() == body)
    }

    @Test func clientBelowMinimumVersionIsRefusedWithAnAlert() throws {
        let context = try f.context([(f.ecdsa, [])], settings: TLSSettings(minVersion: .tls13))
        var server = TestServer(context)
        defer { server.connection.free() }
        let client = TestClient(.init(trust: f.pki.rootPath, maxVersion: TLS1_2_VERSION))
        client.step()
        let alert = server.feed(client.takeOutput())
        guard case .failed(.protocolError(let reason)) = server.lastStatus else {
            Issue.record("expected a protocol failure, got \(String(describing: server.lastStatus))")
            return
        }
        #expect(reason == "unsupported protocol")
        #expect(alert.first == 21, "an alert record goes back to the client")
        #expect(!server.connection.handshakeComplete)
    }

    @Test(arguments: ["GET / HTTP/1.1\r\n", "OPTIONS * HTTP/1.1\r\n", "PRI * HTTP/2.0\r\n"])
    func cleartextIsRecognised(_ text: String) throws {
        let context = try f.context([(f.ecdsa, [])])
        var server = TestServer(context)
        defer { server.connection.free() }
        _ = server.feed(Array(text.utf8))
        #expect(server.lastStatus == .failed(.plaintext))
    }

    @Test func garbageAfterARecordHeaderFailsCleanly() throws {
        let context = try f.context([(f.ecdsa, [])])
        var server = TestServer(context)
        defer { server.connection.free() }
        _ = server.feed([0x16, 0x03, 0x01, 0x00, 0x20] + [UInt8](repeating: 0xEE, count: 32))
        guard case .failed(.protocolError) = server.lastStatus else {
            Issue.record("expected a protocol failure, got \(String(describing: server.lastStatus))")
            return
        }
    }

    @Test func closeNotifyBothWays() throws {
        let context = try f.context([(f.ecdsa, [])])
        var server = TestServer(context)
        defer { server.connection.free() }
        let client = TestClient(.init(trust: f.pki.rootPath))
        handshake(client, &server)
        var output = [UInt8](repeating: 0, count: 256)
        let n = output.withUnsafeMutableBytes { server.connection.shutdown(output: $0) }
        #expect(n > 0)
        client.give(Array(output[0..<n]))
        _ = client.read()
        #expect(client.sawCloseNotify)
        client.shutdown()
        _ = server.feed(client.takeOutput())
        #expect(server.lastStatus == .closed)
    }
}

@Suite struct ServerNameTests {
    let f = Fixture.shared

    @Test(arguments: [
        ("a.test", "ecdsa"), ("A.Test", "ecdsa"), ("b.test", "other"), ("x.w.test", "wildcard"),
        ("a.b.w.test", "ecdsa"), ("w.test", "ecdsa"), ("unknown.test", "ecdsa"), (nil, "ecdsa"),
    ] as [(String?, String)])
    func serverNameSelectsTheCertificate(_ name: String?, _ expected: String) throws {
        let context = try f.context([(f.ecdsa, ["a.test"]), (f.other, ["b.test"]), (f.wildcard, ["*.w.test"])])
        var server = TestServer(context)
        defer { server.connection.free() }
        let client = TestClient(.init(trust: f.pki.rootPath, serverName: name))
        handshake(client, &server)
        #expect(client.handshakeComplete)
        let serials = ["ecdsa": f.ecdsa.serial, "other": f.other.serial, "wildcard": f.wildcard.serial]
        #expect(client.peerSerial == serials[expected])
    }

    @Test func exactNameWinsOverAnEarlierWildcard() throws {
        let context = try f.context([(f.ecdsa, ["default.test"]), (f.wildcard, ["*.w.test"]), (f.other, ["x.w.test"])])
        var server = TestServer(context)
        defer { server.connection.free() }
        let client = TestClient(.init(trust: f.pki.rootPath, serverName: "x.w.test"))
        handshake(client, &server)
        #expect(client.peerSerial == f.other.serial)
    }

    @Test func droppedContextKeepsServingItsHandshakes() throws {
        let engine = TLSEngine()  // outlives contexts and connections, as a worker's does
        var context: TLSServerContext? = try f.context([(f.ecdsa, ["a.test"]), (f.other, ["b.test"])], engine: engine)
        var server = TestServer(context!)
        defer { server.connection.free() }
        context = nil  // a reload while the client's hello is on its way
        let client = TestClient(.init(trust: f.pki.rootPath, serverName: "b.test"))
        handshake(client, &server)
        #expect(client.handshakeComplete)
        #expect(client.peerSerial == f.other.serial)
    }
}

@Suite struct ResumptionTests {
    let f = Fixture.shared

    /// A full handshake on `first`, then a resumption attempt on `second`.
    func resumes(version: Int32, first: TLSEngine, second: TLSEngine) throws -> (first: Bool, second: Bool) {
        let a = try f.context([(f.ecdsa, [])], engine: first)
        var server1 = TestServer(a)
        defer { server1.connection.free() }
        let client1 = TestClient(.init(trust: f.pki.rootPath, minVersion: version, maxVersion: version))
        handshake(client1, &server1)
        client1.step()  // take the ticket
        guard let session = client1.session() else { return (client1.resumed, false) }
        defer { SSL_SESSION_free(session) }
        let b = try f.context([(f.ecdsa, [])], engine: second)
        var server2 = TestServer(b)
        defer { server2.connection.free() }
        let client2 = TestClient(.init(trust: f.pki.rootPath, minVersion: version, maxVersion: version, session: session))
        handshake(client2, &server2)
        #expect(client2.handshakeComplete)
        #expect(server2.connection.resumed == client2.resumed)
        return (client1.resumed, client2.resumed)
    }

    @Test(arguments: [TLS1_2_VERSION, TLS1_3_VERSION])
    func ticketFromAnotherWorkerWithTheSameKeyResumes(_ version: Int32) throws {
        let key = TLSEngine.randomTicketKey()
        let a = TLSEngine(), b = TLSEngine()
        key.withUnsafeBytes { a.setTicketKeys(current: $0, previous: nil); b.setTicketKeys(current: $0, previous: nil) }
        let r = try resumes(version: version, first: a, second: b)
        #expect(!r.first && r.second)
    }

    @Test(arguments: [TLS1_2_VERSION, TLS1_3_VERSION])
    func ticketMadeBeforeARotationStillResumes(_ version: Int32) throws {
        let old = TLSEngine.randomTicketKey(), new = TLSEngine.randomTicketKey()
        let a = TLSEngine(), b = TLSEngine()
        old.withUnsafeBytes { a.setTicketKeys(current: $0, previous: nil) }
        new.withUnsafeBytes { n in old.withUnsafeBytes { o in b.setTicketKeys(current: n, previous: o) } }
        #expect(try resumes(version: version, first: a, second: b).second)
    }

    @Test(arguments: [TLS1_2_VERSION, TLS1_3_VERSION])
    func ticketWithAnUnknownKeyFallsBackToAFullHandshake(_ version: Int32) throws {
        let r = try resumes(version: version, first: TLSEngine(), second: TLSEngine())
        #expect(!r.second)
    }
}

@Suite struct CertificateCheckTests {
    let f = Fixture.shared

    @Test func summaryOfAGoodPair() throws {
        let summary = try f.pem(f.rsa).check(chainName: "rsa.crt", keyName: "rsa.key")
        #expect(summary.dnsNames == ["a.test", "www.a.test"])
        #expect(summary.serial == f.rsa.serial)
        #expect(summary.keyDescription == "RSA 2048-bit")
        #expect(summary.chainLength == 1)
        #expect(summary.issuer.contains("Test Intermediate CA"))
        let now = Int64(Date().timeIntervalSince1970)
        #expect(summary.notBefore <= now && now < summary.notAfter)
        let ec = try f.pem(f.other, chain: false).check(chainName: "c", keyName: "k")
        #expect(ec.keyDescription.hasPrefix("ECDSA secp384r1"))
        #expect(ec.chainLength == 0)
    }

    @Test func expiredCertificateIsReportedByItsDates() throws {
        let summary = try f.pem(f.expired).check(chainName: "c", keyName: "k")
        #expect(summary.notAfter < Int64(Date().timeIntervalSince1970))
    }

    @Test func keyOfAnotherCertificateIsRefused() throws {
        let pem = CertificatePEM(chain: try f.pem(f.ecdsa).chain, key: try f.pem(f.other).key)
        #expect(throws: TLSError("/k.pem is not the private key of the certificate in /c.pem")) {
            try pem.check(chainName: "/c.pem", keyName: "/k.pem")
        }
        let rsaKey = CertificatePEM(chain: try f.pem(f.ecdsa).chain, key: try f.pem(f.rsa).key)
        #expect(throws: TLSError("/k.pem is not the private key of the certificate in /c.pem")) {
            try rsaKey.check(chainName: "/c.pem", keyName: "/k.pem")
        }
    }

    @Test func swappedFilesAreExplained() throws {
        let good = try f.pem(f.ecdsa)
        let swapped = CertificatePEM(chain: good.key, key: good.chain)
        let error = try #require(throws: TLSError.self) { try swapped.check(chainName: "/c.pem", keyName: "/k.pem") }
        #expect(error.message.hasPrefix("/c.pem: no certificate found"))
    }

    @Test func encryptedKeyIsRefusedWithoutPrompting() throws {
        let encrypted = try TestPKI.openssl(["pkey", "-in", f.ecdsa.keyPath, "-aes256", "-passout", "pass:secret"])
        let pem = CertificatePEM(chain: try f.pem(f.ecdsa).chain, key: Array(encrypted.utf8))
        let error = try #require(throws: TLSError.self) { try pem.check(chainName: "/c.pem", keyName: "/k.pem") }
        #expect(error.message == "/k.pem: the private key is encrypted; tether needs it unencrypted (protect the file instead)")
    }

    @Test func truncatedChainIsRefused() throws {
        var chain = try f.pem(f.ecdsa).chain
        chain.removeLast(200)
        let pem = CertificatePEM(chain: chain, key: try f.pem(f.ecdsa).key)
        let error = try #require(throws: TLSError.self) { try pem.check(chainName: "/c.pem", keyName: "/k.pem") }
        #expect(error.message.hasPrefix("/c.pem: certificate 2 of the chain cannot be read"))
    }

    @Test func settingsAreChecked() throws {
        try TLSSettings().check()
        try TLSSettings(minVersion: .tls13, ciphers: "HIGH:!aNULL", ciphersuites: "TLS_AES_128_GCM_SHA256").check()
        let badCipher = try #require(throws: TLSError.self) {
            try TLSSettings(ciphers: "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA257").check()
        }
        #expect(badCipher.message == "ciphers: 'ECDHE-RSA-AES128-GCM-SHA257' is not a TLS 1.2 cipher OpenSSL knows")
        #expect(throws: TLSError.self) { try TLSSettings(ciphersuites: "TLS_AES_128_GCM_SHA999").check() }
    }
}
