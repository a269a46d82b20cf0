import ArgumentParser
import CLinux
import Config
import Posix
import RoutingTable
import SharedState

/// A running tether found through its runtime directory: the supervisor's
/// pid (from `tether.pid`, checked against the shared state) and the shared
/// state, mapped read-only. What `tether reload` and `tether status` start from.
struct RuntimeAttachment {
    let directory: String
    let supervisorPID: Int32
    let region: SharedRegion

    /// Prints what is wrong, prefixed with `command`, and exits 1 when no
    /// tether runs in `directory`.
    init(directory: String, command: String) throws {
        self.directory = directory
        let pidText: [UInt8]
        do {
            let pidFD = try Posix.open(directory + "/tether.pid", flags: O_RDONLY)
            defer { Posix.close(pidFD) }
            pidText = try Posix.readAll(pidFD)
            let stateFD = try Posix.open(directory + "/state", flags: O_RDONLY)
            defer { Posix.close(stateFD) }
            let size = try Posix.fileSize(stateFD)
            let base = try Posix.mapShared(stateFD, bytes: size, writable: false)
            region = try SharedRegion(attaching: base, size: size)
        } catch let error as PosixError where error.errno == EACCES {
            printError("\(command): cannot read the shared state in \(directory): \(error) (run as tether's user or root)")
            throw ExitCode(1)
        } catch {
            printError("\(command): no running tether in \(directory): \(error)")
            throw ExitCode(1)
        }
        let text = String(decoding: pidText, as: UTF8.self).split(whereSeparator: \.isWhitespace).first.map(String.init) ?? ""
        guard let pid = Int32(text), pid > 0 else {
            printError("\(command): \(directory)/tether.pid holds no pid")
            throw ExitCode(1)
        }
        guard region.supervisorPID == pid else {
            printError("\(command): \(directory)/tether.pid names pid \(pid), the shared state pid \(region.supervisorPID): a stale runtime directory")
            throw ExitCode(1)
        }
        supervisorPID = pid
    }

    /// `--runtime-dir`, else `runtime_dir` of `-c FILE`, else the default.
    static func directory(runtimeDirectory: String?, config: String?, command: String) throws -> String {
        if let runtimeDirectory { return runtimeDirectory }
        guard let config else { return TetherConfig.defaultRuntimeDirectory }
        let result = ConfigLoader.load(path: config)
        guard let loaded = result.config, result.errors.isEmpty else {
            for d in result.errors { printError(d.description) }
            printError("\(command): cannot read runtime_dir from \(config)")
            throw ExitCode(1)
        }
        return loaded.runtimeDirectory
    }

    /// The live table, mapped read-only from the supervisor's sealed memfd
    /// (as a worker maps it). A reload between reading the generation and
    /// opening its descriptor is retried; nil when it cannot be read (the
    /// reason goes to standard error).
    func mapLiveTable(command: String) -> (view: RoutingTableView, generation: UInt64)? {
        var problem = "no table is published"
        for _ in 0..<5 {
            let generation = region.currentGeneration()
            guard let d = region.descriptor(of: generation) else { continue }
            do {
                let fd = try Posix.open("/proc/\(d.supervisorPID)/fd/\(d.fd)", flags: O_RDONLY)
                defer { Posix.close(fd) }
                let size = try Posix.fileSize(fd)
                guard size > 0, UInt64(size) == d.size else {
                    problem = "generation \(generation)'s descriptor holds \(size) bytes, not \(d.size)"
                    continue
                }
                let base = try Posix.mapShared(fd, bytes: size, writable: false)
                let image = UnsafeRawBufferPointer(start: base, count: size)
                // The descriptor may have been closed and its number reused
                // by a reload in between: the image must validate and the
                // generation still be described the same way.
                if let view = try? RoutingTableView(validating: image), region.descriptor(of: generation) == d {
                    return (view, generation)
                }
                Posix.unmap(base, bytes: size)
                problem = "generation \(generation) changed while it was read"
            } catch {
                problem = "cannot open generation \(generation)'s table: \(error)"
            }
        }
        printError("\(command): server names unavailable: \(problem)")
        return nil
    }
}
