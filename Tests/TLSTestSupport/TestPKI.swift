import Foundation

/// Directories of every `TestPKI` alive; those still alive when the test
/// process exits (suite-wide fixtures) are removed then.
private let livePKIs = LiveDirectories()

private final class LiveDirectories: @unchecked Sendable {
    let lock = NSLock()
    var paths: Set<String> = []
    var registered = false

    func add(_ path: String) {
        lock.lock()
        defer { lock.unlock() }
        paths.insert(path)
        if !registered {
            registered = true
            atexit {
                livePKIs.lock.lock()
                for path in livePKIs.paths { try? FileManager.default.removeItem(atPath: path) }
                livePKIs.lock.unlock()
            }
        }
    }

    func remove(_ path: String) {
        lock.lock()
        paths.remove(path)
        lock.unlock()
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// A throwaway certificate authority for tests, made with the `openssl`
/// command in a directory of its own (removed with the object): a root CA,
/// an intermediate CA it signed, and server certificates the intermediate
/// signs. Clients trust `rootPath`; servers send `chainPath` (leaf, then
/// intermediate), so a client only verifies a server that sends its chain.
public final class TestPKI: @unchecked Sendable {
    public enum KeyType: Sendable {
        case rsa2048
        case ecdsaP256
        case ecdsaP384

        var options: [String] {
            switch self {
            case .rsa2048: return ["-newkey", "rsa:2048"]
            case .ecdsaP256: return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
            case .ecdsaP384: return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"]
            }
        }
    }

    /// One issued server certificate and its files.
    public struct Issued: Sendable {
        /// The leaf alone.
        public let certificatePath: String
        /// The leaf followed by the intermediate CA: what a server sends.
        public let chainPath: String
        public let keyPath: String
        /// Upper-case hex, as `openssl x509 -serial` prints it.
        public let serial: String
        public let dnsNames: [String]
    }

    public let directory: String
    /// The root CA certificate, for clients (`curl --cacert`).
    public let rootPath: String
    let rootKeyPath: String
    public let intermediatePath: String
    let intermediateKeyPath: String
    private var nextSerial: UInt64 = 0x1000

    public init(name: String = "tether-test") throws {
        directory = NSTemporaryDirectory() + "\(name)-pki-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        livePKIs.add(directory)
        rootPath = directory + "/root.crt"
        rootKeyPath = directory + "/root.key"
        intermediatePath = directory + "/intermediate.crt"
        intermediateKeyPath = directory + "/intermediate.key"
        try TestPKI.openssl(["req", "-x509", "-nodes"] + KeyType.ecdsaP256.options + [
            "-keyout", rootKeyPath, "-out", rootPath, "-days", "30", "-subj", "/O=tether tests/CN=Test Root CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        ])
        let csr = directory + "/intermediate.csr"
        try TestPKI.openssl(["req", "-nodes"] + KeyType.ecdsaP256.options + [
            "-keyout", intermediateKeyPath, "-out", csr, "-subj", "/O=tether tests/CN=Test Intermediate CA",
        ])
        let extensions = directory + "/intermediate.ext"
        try "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n"
            .write(toFile: extensions, atomically: true, encoding: .utf8)
        try TestPKI.openssl([
            "x509", "-req", "-in", csr, "-CA", rootPath, "-CAkey", rootKeyPath, "-set_serial", "0x10",
            "-days", "30", "-extfile", extensions, "-out", intermediatePath,
        ])
    }

    deinit {
        livePKIs.remove(directory)
    }

    /// Issues a server certificate for `dnsNames` (the first is also its
    /// common name), valid for `days` (negative: expired), with a fresh
    /// serial number, in files named after `name`.
    public func issue(_ name: String, dnsNames: [String], key: KeyType = .ecdsaP256, days: Int = 30) throws -> Issued {
        nextSerial += 1
        let serial = String(nextSerial, radix: 16, uppercase: true)
        let keyPath = "\(directory)/\(name).key"
        let certificatePath = "\(directory)/\(name).crt"
        let chainPath = "\(directory)/\(name).chain.pem"
        let csr = "\(directory)/\(name).csr"
        let extensions = "\(directory)/\(name).ext"
        try TestPKI.openssl(["req", "-nodes"] + key.options + [
            "-keyout", keyPath, "-out", csr, "-subj", "/CN=\(dnsNames.first ?? name)",
        ])
        let san = dnsNames.isEmpty ? "" : "subjectAltName=" + dnsNames.map { "DNS:\($0)" }.joined(separator: ",") + "\n"
        try (san + "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
            .write(toFile: extensions, atomically: true, encoding: .utf8)
        try TestPKI.openssl([
            "x509", "-req", "-in", csr, "-CA", intermediatePath, "-CAkey", intermediateKeyPath,
            "-set_serial", "0x\(serial)", "-days", "\(days)", "-extfile", extensions, "-out", certificatePath,
        ])
        let chain = try String(contentsOfFile: certificatePath, encoding: .utf8)
            + String(contentsOfFile: intermediatePath, encoding: .utf8)
        try chain.write(toFile: chainPath, atomically: true, encoding: .utf8)
        return Issued(certificatePath: certificatePath, chainPath: chainPath, keyPath: keyPath,
                      serial: serial, dnsNames: dnsNames)
    }

    /// A key of `type` that belongs to no certificate.
    public func strayKey(_ name: String, type: KeyType = .ecdsaP256) throws -> String {
        let keyPath = "\(directory)/\(name).key"
        try TestPKI.openssl(["req", "-nodes"] + type.options + [
            "-keyout", keyPath, "-out", "\(directory)/\(name).csr", "-subj", "/CN=stray",
        ])
        return keyPath
    }

    /// Runs `openssl ARGUMENTS`; throws with its output when it fails.
    @discardableResult
    public static func openssl(_ arguments: [String], input: Data? = nil) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        let stdin = Pipe()
        process.standardInput = stdin
        try process.run()
        if let input { stdin.fileHandleForWriting.write(input) }
        try stdin.fileHandleForWriting.close()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw PKIError("openssl \(arguments.joined(separator: " ")) exited with \(process.terminationStatus): \(text)")
        }
        return text
    }
}

public struct PKIError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
