import ArgumentParser
import AviImport
import CLinux
import Config
import Posix

/// `tether import-avi FILE.json [-o OUT]`: an Avi configuration export
/// converted into a tether configuration, with a warning for every Avi
/// setting the result does not carry.
struct ImportAviCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import-avi",
        abstract: "Convert an Avi configuration export (JSON) into a tether configuration.",
        discussion: """
            Reads the ApplicationPersistenceProfile, HealthMonitor, Pool and VirtualService objects of an Avi \
            (NSX Advanced Load Balancer) configuration export, with the VsVip and ApplicationProfile objects \
            its virtual services use, and writes the tether configuration as YAML. Every Avi setting the \
            result does not carry is named in a warning on standard error; an export that cannot be converted \
            (invalid JSON, a reference to an object it does not hold) exits 1 and writes nothing.
            """
    )

    @Argument(help: "The Avi export, as /api/configuration/export writes it (JSON).")
    var file: String

    @Option(name: [.short, .customLong("output")], help: "Write the configuration to this file instead of standard output.")
    var output: String?

    func run() throws {
        let bytes: [UInt8]
        do {
            bytes = try Posix.readFile(file)
        } catch {
            printError("\(file): cannot read: \(error)")
            throw ExitCode(1)
        }
        let result = AviImporter.convert(bytes, source: file)
        for warning in result.warnings { printError("warning: \(warning)") }
        for error in result.errors { printError("error: \(error)") }
        guard let yaml = result.yaml, let config = result.config else {
            let n = result.errors.count
            printError("\(file): \(n) error\(n == 1 ? "" : "s"); nothing was written")
            throw ExitCode(1)
        }
        if let output {
            do {
                let fd = try Posix.open(output, flags: O_WRONLY | O_CREAT | O_TRUNC, mode: 0o644)
                defer { Posix.close(fd) }
                let bytes = Array(yaml.utf8)
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 1)
                defer { buffer.deallocate() }
                buffer.copyBytes(from: bytes)
                try Posix.writeAll(fd, UnsafeRawBufferPointer(buffer))
            } catch {
                printError("\(output): cannot write: \(error)")
                throw ExitCode(1)
            }
        } else {
            print(yaml, terminator: "")
        }
        let n = result.warnings.count
        printError("converted \(count(config.virtualServices.count, "virtual service")), \(count(config.pools.count, "pool")), "
            + "\(count(config.healthMonitors.count, "health monitor")), "
            + "\(count(config.persistenceProfiles.count, "persistence profile")); \(n) warning\(n == 1 ? "" : "s")"
            + (output.map { "; check it with: tether check -c \($0)" } ?? ""))
    }

    private func count(_ n: Int, _ word: String) -> String { "\(n) \(word)\(n == 1 ? "" : "s")" }
}
