import Foundation
import Glibc
import SharedState
import Testing
import TLSTestSupport

/// TLS termination against the real binary, with clients that are not
/// ours: `curl --cacert` and `openssl s_client`, trusting a root CA the test
/// makes; servers send a chain (leaf + intermediate) that only verifies
/// when it is sent whole.
@Suite(.serialized) struct TLSTests {
    /// The configured certificate and key paths of a proxy: a test rotates
    /// certificates by writing new files to these paths and reloading.
    struct Site {
        let pki: TestPKI
        let certificate: String
        let key: String

        init(_ pki: TestPKI, _ issued: TestPKI.Issued, name: String) throws {
            self.pki = pki
            certificate = pki.directory + "/\(name)-live.pem"
            key = pki.directory + "/\(name)-live.key"
            try install(issued)
        }

        /// Makes `issued` the files the configuration names (each replaced by a rename).
        func install(_ issued: TestPKI.Issued) throws {
            try Self.replace(certificate, with: issued.chainPath)
            try Self.replace(key, with: issued.keyPath)
        }

        static func replace(_ path: String, with source: String) throws {
            let temporary = path + ".new"
            try? FileManager.default.removeItem(atPath: temporary)
            try FileManager.default.copyItem(atPath: source, toPath: temporary)
            guard rename(temporary, path) == 0 else { throw HarnessError("rename \(temporary): \(errnoDescription())") }
        }

        var tls: String { "{ certificate: \(certificate), key: \(key) }" }
    }

    // MARK: Clients

    /// curl for `urls` on one keep-alive connection; one line per response:
    /// "STATUS BACKEND CONNECTS HTTP-VERSION".
    static func curl(_ proxy: ProxyUnderTest, root: String, host: String = "www.test", paths: [String],
                     headers: [String] = [], extra: [String] = []) throws -> (status: ManagedProcess.ExitStatus, lines: [String], stderr: String) {
        var arguments = ["-sS", "--cacert", root, "--resolve", "\(host):\(proxy.port):127.0.0.1",
                         "-w", "%{http_code} %header{x-backend} %{num_connects} %{http_version}\\n"] + extra
        for h in headers { arguments += ["-H", h] }
        for p in paths { arguments += ["-o", "/dev/null", "https://\(host):\(proxy.port)\(p)"] }
        let process = try ManagedProcess(URL(fileURLWithPath: "/usr/bin/curl"), arguments: arguments, label: "curl")
        let status = try process.waitForExit(timeout: .seconds(60))
        return (status, process.stdout.split(separator: "\n").map(String.init), process.stderr)
    }

    struct Handshake {
        let status: ManagedProcess.ExitStatus
        let output: String
        /// The leaf's serial number, upper-case hex; nil when none was received.
        let serial: String?
        var verified: Bool { output.contains("Verify return code: 0 (ok)") }
        var resumed: Bool { output.contains("\nReused, ") }
    }

    /// An `openssl s_client` connection with `serverName` (nil: no SNI),
    /// verifying against `root`, that sends one request with `Connection:
    /// close` and reads until the proxy closes (so that a TLS 1.3 session
    /// ticket, sent after the handshake, is read too).
    static func handshake(port: UInt16, root: String, serverName: String?, extra: [String] = []) throws -> Handshake {
        let sni = serverName.map { ["-servername", $0] } ?? ["-noservername"]
        let command = (["openssl", "s_client", "-connect", "127.0.0.1:\(port)", "-CAfile", root, "-ign_eof"] + sni + extra)
            .map { "'\($0)'" }.joined(separator: " ")
        let request = "GET / HTTP/1.1\\r\\nHost: \(serverName ?? "test")\\r\\nConnection: close\\r\\n\\r\\n"
        let process = try ManagedProcess(URL(fileURLWithPath: "/bin/sh"), arguments: ["-c", "printf '\(request)' | \(command)"],
                                         label: "openssl s_client")
        let status = try process.waitForExit(timeout: .seconds(20))
        let output = process.stdout + process.stderr
        var serial: String? = nil
        if let begin = output.range(of: "-----BEGIN CERTIFICATE-----"),
           let end = output.range(of: "-----END CERTIFICATE-----", range: begin.upperBound..<output.endIndex) {
            let pem = String(output[begin.lowerBound..<end.upperBound]) + "\n"
            let text = try TestPKI.openssl(["x509", "-noout", "-serial"], input: Data(pem.utf8))
            serial = text.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "serial=", with: "")
        }
        return Handshake(status: status, output: output, serial: serial)
    }

    /// Handshake failures counted by every worker, from the shared state.
    static func handshakeFailures(_ proxy: ProxyUnderTest) throws -> UInt64 {
        let path = proxy.runtimeDirectory.appendingPathComponent("state").path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw HarnessError("open \(path): \(errnoDescription())") }
        defer { close(fd) }
        var info = stat()
        fstat(fd, &info)
        let size = Int(info.st_size)
        guard let base = mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0), base != MAP_FAILED else {
            throw HarnessError("mmap \(path): \(errnoDescription())")
        }
        defer { munmap(base, size) }
        let region = try SharedRegion(attaching: base, size: size)
        return (0..<region.workerCapacity).reduce(0) { $0 + region.worker($1).value(.tlsHandshakeFailures) }
    }

    // MARK: Tests

    @Test func anIdleSessionEndsWithCloseNotify() throws {
        let pki = try TestPKI(name: "idle")
        let site = try Site(pki, try pki.issue("www", dnsNames: ["www.test"], key: .ecdsaP256), name: "www")
        let fleet = try BackendFleet(names: ["apache1"])
        var options = ProxyUnderTest.Options()
        options.tls = site.tls
        options.clientIdle = "1s"
        let proxy = try ProxyUnderTest(fleet: fleet, options: options)
        // Python's ssl module tells a close_notify (a clean b"") from a bare
        // close (SSLEOFError) when ragged EOFs are not suppressed.
        let script = """
            import socket, ssl
            ctx = ssl.create_default_context(cafile="\(pki.rootPath)")
            s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", \(proxy.port))), server_hostname="www.test", suppress_ragged_eofs=False)
            s.sendall(b"GET / HTTP/1.1\\r\\nHost: www.test\\r\\n\\r\\n")
            head = s.recv(65536)
            print("response", head.split(b"\\r\\n")[0].decode())
            try:
                print("after idle:", "close_notify" if s.recv(65536) == b"" else "data")
            except ssl.SSLError as e:
                print("after idle:", type(e).__name__)
            """
        let client = try ManagedProcess(URL(fileURLWithPath: "/usr/bin/env"), arguments: ["python3", "-c", script], label: "python tls client")
        #expect(try client.waitForExit(timeout: .seconds(30)) == .exited(0), "\(client.logs)")
        #expect(client.stdout.contains("response HTTP/1.1 200 OK"), "\(client.logs)")
        #expect(client.stdout.contains("after idle: close_notify"), "\(client.logs)")
    }

    @Test func pinnedRoutingOverTLSKeepAlive() throws {
        let pki = try TestPKI(name: "pinned")
        let site = try Site(pki, try pki.issue("www", dnsNames: ["www.test"], key: .rsa2048), name: "www")
        let fleet = try BackendFleet(names: ["apache1", "apache2", "apache3"])
        var options = ProxyUnderTest.Options()
        options.tls = site.tls
        let proxy = try ProxyUnderTest(fleet: fleet, options: options)

        for version in ["1.2", "1.3"] {
            let pinned = try Self.curl(proxy, root: pki.rootPath, paths: Array(repeating: "/", count: 6),
                                       headers: ["X-Server: server2"], extra: ["--tlsv\(version)", "--tls-max", version])
            #expect(pinned.status == .exited(0), "\(pinned.stderr)\n\(proxy.process.logs)")
            #expect(pinned.lines.map { $0.split(separator: " ").prefix(2).joined(separator: " ") } == Array(repeating: "200 apache2", count: 6))
            #expect(pinned.lines.map { $0.split(separator: " ")[2] } == ["1", "0", "0", "0", "0", "0"], "one connection for all six")
        }
        // Without the header: balanced across the pool, still on one connection.
        let balanced = try Self.curl(proxy, root: pki.rootPath, paths: Array(repeating: "/", count: 6))
        #expect(Set(balanced.lines.map { $0.split(separator: " ")[1] }) == ["apache1", "apache2", "apache3"], "\(balanced.lines)")
        // A body both ways through TLS records.
        let upload = pki.directory + "/upload.bin"
        try Data(patternBytes(count: 300_000)).write(to: URL(fileURLWithPath: upload))
        let echo = try ManagedProcess(URL(fileURLWithPath: "/usr/bin/curl"), arguments: [
            "-sS", "--cacert", pki.rootPath, "--resolve", "www.test:\(proxy.port):127.0.0.1",
            "--data-binary", "@\(upload)", "https://www.test:\(proxy.port)/echo",
        ], label: "curl echo")
        #expect(try echo.waitForExit(timeout: .seconds(30)) == .exited(0), "\(echo.stderr)")
        #expect(echo.stdout.contains("body-length: 300000"), "\(echo.stdout)")
        #expect(echo.stdout.contains("body-fnv64: \(fnv1a64Hex(patternBytes(count: 300_000)))"), "\(echo.stdout)")
    }

    @Test func pipelinedRequestsInOneRecordAndAHandshakeLargerThanAnOutputBuffer() throws {
        let pki = try TestPKI(name: "large")
        // 900 names make a certificate of about 17 KiB: the server's first
        // flight does not fit one output buffer and goes out in pieces.
        let names = (0..<900).map { "host\($0).large-certificate.test" }
        let big = try pki.issue("big", dnsNames: names, key: .rsa2048)
        let fleet = try BackendFleet(names: ["apache1", "apache2"])
        var options = ProxyUnderTest.Options()
        options.tls = "{ certificate: \(big.chainPath), key: \(big.keyPath) }"
        let proxy = try ProxyUnderTest(fleet: fleet, options: options)
        let size = try FileManager.default.attributesOfItem(atPath: big.certificatePath)[.size] as? Int ?? 0
        #expect(size > 17 * 1024, "the certificate alone is \(size) bytes")

        for version in ["1.2", "1.3"] {
            let r = try Self.curl(proxy, root: pki.rootPath, host: "host899.large-certificate.test", paths: ["/", "/"],
                                  headers: ["X-Server: server2"], extra: ["--tlsv\(version)", "--tls-max", version])
            #expect(r.status == .exited(0) && r.lines.map { $0.prefix(11) } == ["200 apache2", "200 apache2"],
                    "\(r.lines) \(r.stderr)\n\(proxy.process.logs)")
        }
        // Two requests written at once arrive in one record and are answered in order.
        let command = "printf 'GET / HTTP/1.1\\r\\nHost: a\\r\\nX-Server: server1\\r\\n\\r\\nGET / HTTP/1.1\\r\\nHost: a\\r\\n"
            + "X-Server: server2\\r\\nConnection: close\\r\\n\\r\\n' | openssl s_client -quiet -ign_eof -connect 127.0.0.1:\(proxy.port) "
            + "-CAfile '\(pki.rootPath)' -servername host1.large-certificate.test"
        let pipelined = try ManagedProcess(URL(fileURLWithPath: "/bin/sh"), arguments: ["-c", command], label: "pipelined")
        #expect(try pipelined.waitForExit(timeout: .seconds(20)) == .exited(0), "\(pipelined.logs)")
        let backends = pipelined.stdout.split(separator: "\r\n").filter { $0.lowercased().hasPrefix("x-backend:") }
        #expect(backends.map { $0.split(separator: " ").last ?? "" } == ["apache1", "apache2"], "\(pipelined.stdout)")
    }

    @Test func serverNameSelectsTheCertificate() throws {
        let pki = try TestPKI(name: "sni")
        let www = try pki.issue("www", dnsNames: ["www.test"], key: .ecdsaP256)
        let api = try pki.issue("api", dnsNames: ["api.test", "*.api.test"], key: .rsa2048)
        let fleet = try BackendFleet(names: ["apache1"])
        var options = ProxyUnderTest.Options()
        options.tls = "{ certificates: [{ certificate: \(www.chainPath), key: \(www.keyPath) }, "
            + "{ certificate: \(api.chainPath), key: \(api.keyPath), server_names: [api.test, \"*.api.test\"] }] }"
        let proxy = try ProxyUnderTest(fleet: fleet, options: options)

        let cases: [(String?, String)] = [
            ("www.test", www.serial), ("api.test", api.serial), ("v2.api.test", api.serial),
            ("API.TEST", api.serial), ("other.test", www.serial), (nil, www.serial),
        ]
        for (name, serial) in cases {
            let h = try Self.handshake(port: proxy.port, root: pki.rootPath, serverName: name)
            #expect(h.serial == serial, "\(name ?? "no SNI"): \(h.output)")
        }
        for host in ["www.test", "api.test", "v2.api.test"] {
            let r = try Self.curl(proxy, root: pki.rootPath, host: host, paths: ["/"])
            #expect(r.status == .exited(0) && r.lines.first?.hasPrefix("200 apache1") == true, "\(host): \(r.stderr)")
        }
        // A name no certificate has gets the default, which the client refuses.
        let wrong = try Self.curl(proxy, root: pki.rootPath, host: "other.test", paths: ["/"])
        #expect(wrong.status != .exited(0), "other.test must fail verification")
    }

    @Test func rotatedCertificateReloadsUnderLoadWithoutAFailedRequest() throws {
        let pki = try TestPKI(name: "rotate")
        let first = try pki.issue("v1", dnsNames: ["www.test"])
        let site = try Site(pki, first, name: "www")
        let fleet = try BackendFleet(names: ["apache1", "apache2"])
        var options = ProxyUnderTest.Options()
        options.workers = "2"
        options.tls = site.tls
        let proxy = try ProxyUnderTest(fleet: fleet, options: options)
        #expect(try Self.handshake(port: proxy.port, root: pki.rootPath, serverName: "www.test").serial == first.serial)

        // Five lanes of load, kept running until the last reload is done:
        // four keep-alive connections and one that reconnects for every
        // request, each a curl of 40 requests started again when it ends.
        final class Lanes {
            var processes: [ManagedProcess?] = Array(repeating: nil, count: 5)
            var statuses: [String: Int] = [:]
            var failures: [String] = []
            var batches = 0
        }
        let lanes = Lanes()
        func batch(_ lane: Int) throws -> ManagedProcess {
            var arguments = ["-sS", "--cacert", pki.rootPath, "--resolve", "www.test:\(proxy.port):127.0.0.1",
                             "-w", "%{http_code}\\n", "-H", "X-Server: server1"]
            if lane == 4 { arguments += ["-H", "Connection: close"] }
            for _ in 0..<40 { arguments += ["-o", "/dev/null", "https://www.test:\(proxy.port)/"] }
            return try ManagedProcess(URL(fileURLWithPath: "/usr/bin/curl"), arguments: arguments, label: "curl lane \(lane)")
        }
        func collect(_ process: ManagedProcess) throws {
            let status = try process.waitForExit(timeout: .seconds(60))
            if status != .exited(0) { lanes.failures.append(process.logs) }
            for line in process.stdout.split(separator: "\n") { lanes.statuses[String(line), default: 0] += 1 }
            lanes.batches += 1
        }
        /// Collects finished batches and starts the next ones (unless stopping).
        func pump(stopping: Bool = false) throws {
            for k in lanes.processes.indices {
                if let p = lanes.processes[k] {
                    if p.isRunning { continue }
                    try collect(p)
                    lanes.processes[k] = nil
                }
                if !stopping { lanes.processes[k] = try batch(k) }
            }
        }
        var served = 0, polls = 0
        /// Waits until 20 more requests have been served, keeping the lanes busy.
        func waitForTraffic() throws {
            let before = served
            let flowing = try eventually {
                try pump()
                polls += 1  // each poll is a request too
                served = (try fleet.stats("apache1")["requests"] ?? 0) - polls
                return served >= before + 20
            }
            #expect(flowing, "requests keep flowing during the reloads (\(served) served)")
        }
        var serials = [first.serial]
        for round in 2...4 {
            try waitForTraffic()
            let next = try pki.issue("v\(round)", dnsNames: ["www.test"], key: round % 2 == 0 ? .rsa2048 : .ecdsaP256)
            try site.install(next)
            try pump()
            let reload = try proxy.reload()
            #expect(reload.status == .exited(0), "\(reload.stderr)\n\(proxy.process.logs)")
            serials.append(next.serial)
            // Every new connection, on either worker, gets the new certificate.
            for _ in 0..<4 {
                try pump()
                let h = try Self.handshake(port: proxy.port, root: pki.rootPath, serverName: "www.test")
                #expect(h.serial == next.serial && h.verified, "\(h.output)")
            }
        }
        try waitForTraffic()
        for p in lanes.processes.compactMap({ $0 }) { try collect(p) }
        #expect(lanes.failures.isEmpty, "\(lanes.failures)")
        let total = lanes.statuses.values.reduce(0, +)
        #expect(lanes.statuses == ["200": total] && total == 40 * lanes.batches && total >= 200,
                "every request answered 200 across the reloads: \(lanes.statuses) in \(lanes.batches) batches")
        #expect(Set(serials).count == 4)
    }

    @Test func badPairIsRefusedAndTheOldCertificateKeepsServing() throws {
        let pki = try TestPKI(name: "badpair")
        let good = try pki.issue("good", dnsNames: ["www.test"])
        let site = try Site(pki, good, name: "www")
        let fleet = try BackendFleet(names: ["apache1"])
        var options = ProxyUnderTest.Options()
        options.tls = site.tls
        let proxy = try ProxyUnderTest(fleet: fleet, options: options)

        // A new certificate with the old key: the pair does not match.
        let next = try pki.issue("next", dnsNames: ["www.test"])
        try Site.replace(site.certificate, with: next.chainPath)
        let mismatched = try proxy.reload()
        #expect(mismatched.status == .exited(1))
        #expect(mismatched.stderr.contains("key: \(site.key) is not the private key of the certificate in \(site.certificate)"),
                "\(mismatched.stderr)")
        #expect(mismatched.stderr.contains("reload refused; generation 1 keeps serving"), "\(mismatched.stderr)")
        let config = proxy.configURL.lastPathComponent
        #expect(mismatched.stderr.contains(config + ":"), "the error names the file and position: \(mismatched.stderr)")

        // An unreadable certificate is refused the same way.
        try FileManager.default.removeItem(atPath: site.certificate)
        let missing = try proxy.reload()
        #expect(missing.status == .exited(1))
        #expect(missing.stderr.contains("certificate: cannot read \(site.certificate): No such file or directory"), "\(missing.stderr)")

        let h = try Self.handshake(port: proxy.port, root: pki.rootPath, serverName: "www.test")
        #expect(h.serial == good.serial && h.verified, "the old certificate still serves: \(h.output)")
        let r = try Self.curl(proxy, root: pki.rootPath, paths: ["/"])
        #expect(r.lines.first?.hasPrefix("200 apache1") == true, "\(r.stderr)")

        // The right pair applies.
        try site.install(next)
        #expect(try proxy.reload().status == .exited(0))
        #expect(try Self.handshake(port: proxy.port, root: pki.rootPath, serverName: "www.test").serial == next.serial)
    }

    @Test func cleartextStallsAndBadHandshakesAreCountedAndNeverFatal() throws {
        let pki = try TestPKI(name: "failures")
        let site = try Site(pki, try pki.issue("www", dnsNames: ["www.test"]), name: "www")
        let fleet = try BackendFleet(names: ["apache1"])
        var options = ProxyUnderTest.Options()
        options.tls = site.tls
        options.clientHeader = "500ms"
        let proxy = try ProxyUnderTest(fleet: fleet, options: options)
        let workerPID = try proxy.process.waitForLine(containing: "worker 0 started: pid ", in: .stderr)

        // Plain HTTP: a cleartext 400 saying what to do, then the close.
        let plain = try proxy.connect()
        try plain.send("GET / HTTP/1.1\r\nHost: www.test\r\n\r\n")
        let response = try plain.readResponse()
        #expect(response.status == 400 && response.bodyText.contains("use https://"), "\(response.bodyText)")
        #expect(plain.isClosedByPeer())

        // A client that connects and sends nothing, and one that stops mid-hello.
        let silent = try proxy.connect()
        let partial = try proxy.connect()
        try partial.send([0x16, 0x03, 0x01, 0x00, 0xC8, 0x01, 0x00])
        let started = ContinuousClock.now
        #expect(silent.isClosedByPeer(timeout: .seconds(5)) && partial.isClosedByPeer(timeout: .seconds(5)))
        #expect(ContinuousClock.now - started < .seconds(3), "closed by client_header (500ms)")

        // Garbage after a record header, and a client below TLS 1.2.
        let garbage = try proxy.connect()
        try garbage.send([0x16, 0x03, 0x01, 0x00, 0x20] + [UInt8](repeating: 0xEE, count: 32))
        #expect(try garbage.readUntilClose().first == 21, "an alert record, then the close")
        let old = try Self.handshake(port: proxy.port, root: pki.rootPath, serverName: "www.test", extra: ["-tls1_1"])
        #expect(old.status != .exited(0) && old.serial == nil, "\(old.output)")

        let counted = try eventually { try Self.handshakeFailures(proxy) == 5 }
        #expect(counted, "failures counted: \((try? Self.handshakeFailures(proxy)) ?? 0)\n\(proxy.process.logs)")
        // The worker that saw all of it still serves, and was never restarted.
        let r = try Self.curl(proxy, root: pki.rootPath, paths: ["/"])
        #expect(r.lines.first?.hasPrefix("200 apache1") == true, "\(r.stderr)")
        #expect(!proxy.process.stderr.contains("restarting"), "\(workerPID)\n\(proxy.process.logs)")
    }

    @Test(arguments: ["-tls1_2", "-tls1_3"])
    func sessionsResumeOnEveryWorkerAndAcrossReloads(_ version: String) throws {
        let pki = try TestPKI(name: "resume")
        let site = try Site(pki, try pki.issue("www", dnsNames: ["www.test"]), name: "www")
        let fleet = try BackendFleet(names: ["apache1"])
        var options = ProxyUnderTest.Options()
        options.workers = "2"
        options.tls = site.tls
        let proxy = try ProxyUnderTest(fleet: fleet, options: options)

        let session = pki.directory + "/session\(version)"
        let full = try Self.handshake(port: proxy.port, root: pki.rootPath, serverName: "www.test",
                                      extra: [version, "-sess_out", session])
        #expect(full.verified && !full.resumed, "\(full.output)")
        // Connections land on either worker (SO_REUSEPORT): all resume, as the
        // ticket keys are shared; a reload keeps them.
        for round in 0..<8 {
            if round == 4 { #expect(try proxy.reload().status == .exited(0)) }
            let again = try Self.handshake(port: proxy.port, root: pki.rootPath, serverName: "www.test",
                                           extra: [version, "-sess_in", session])
            #expect(again.resumed, "round \(round): \(again.output)")
        }
    }

    @Test func minimumVersionAndCiphersAreEnforced() throws {
        let pki = try TestPKI(name: "settings")
        let www = try pki.issue("www", dnsNames: ["www.test"], key: .ecdsaP256)
        let fleet = try BackendFleet(names: ["apache1"])
        var options = ProxyUnderTest.Options()
        options.tls = "{ certificate: \(www.chainPath), key: \(www.keyPath), min_version: '1.3' }"
        let proxy = try ProxyUnderTest(fleet: fleet, options: options)
        let old = try Self.curl(proxy, root: pki.rootPath, paths: ["/"], extra: ["--tls-max", "1.2"])
        #expect(old.status != .exited(0), "TLS 1.2 is refused")
        let current = try Self.curl(proxy, root: pki.rootPath, paths: ["/"])
        #expect(current.lines.first?.hasPrefix("200 apache1") == true, "\(current.stderr)")

        options.tls = "{ certificate: \(www.chainPath), key: \(www.keyPath), ciphers: ECDHE-ECDSA-CHACHA20-POLY1305 }"
        try proxy.writeConfig(options)
        #expect(try proxy.reload().status == .exited(0))
        let chacha = try Self.handshake(port: proxy.port, root: pki.rootPath, serverName: "www.test", extra: ["-tls1_2"])
        #expect(chacha.output.contains("Cipher is ECDHE-ECDSA-CHACHA20-POLY1305"), "\(chacha.output)")
    }
}
