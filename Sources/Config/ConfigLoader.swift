#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The way in: text or a file → diagnostics and, when there is no error, a
/// validated `TetherConfig` (pass it to `compile(_:)` for the routing table).
/// `tether check` and every reload use the same code.
public enum ConfigLoader {
    /// Reads and checks the file at `path`. A file that cannot be read is
    /// one diagnostic, `PATH: cannot read: REASON`.
    public static func load(path: String) -> LoadResult {
        switch readFile(path) {
        case .failure(let reason):
            let diagnostic = Diagnostic(file: path, location: nil, severity: .error, message: "cannot read: \(reason)")
            return LoadResult(config: nil, diagnostics: [diagnostic])
        case .success(let bytes):
            if let bad = firstInvalidUTF8(bytes) {
                let diagnostic = Diagnostic(file: path, location: bad, severity: .error,
                                            message: "the file is not valid UTF-8")
                return LoadResult(config: nil, diagnostics: [diagnostic])
            }
            return parse(text: String(decoding: bytes, as: UTF8.self), fileName: path)
        }
    }

    /// Checks configuration text; `fileName` is what diagnostics call it.
    public static func parse(text: String, fileName: String) -> LoadResult {
        var log = DiagnosticLog(file: fileName)
        // libyaml skips a byte order mark without counting a column.
        let body = text.hasPrefix("\u{FEFF}") ? String(text.unicodeScalars.dropFirst()) : text
        let source = YAMLSource.compose(body, log: &log)
        guard log.errorCount == 0 else { return LoadResult(config: nil, diagnostics: log.sorted()) }
        guard let root = source.root else {
            log.error(SourcePosition(line: 1, column: 1), "the configuration is empty")
            return LoadResult(config: nil, diagnostics: log.sorted())
        }
        let decoder = ConfigDecoder(log: log, positions: source.positions, renames: source.renames)
        let config = decoder.decode(root)
        return LoadResult(config: config, diagnostics: decoder.log.sorted())
    }

    static func readFile(_ path: String) -> Result<[UInt8], ReadFailure> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { return .failure(ReadFailure(errno: errno)) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                return .failure(ReadFailure(errno: errno))
            }
            if n == 0 { return .success(bytes) }
            bytes.append(contentsOf: chunk[0..<n])
        }
    }

    struct ReadFailure: Error, CustomStringConvertible {
        let errno: Int32
        var description: String { String(cString: strerror(errno)) }
    }

    /// Where the first byte that is not UTF-8 is, or nil.
    static func firstInvalidUTF8(_ bytes: [UInt8]) -> SourcePosition? {
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var line = 1, column = 1
        var previousWasCR = false
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded):
                let scalar = Unicode.UTF8.decode(encoded)
                if scalar == "\n" && previousWasCR {
                    // The second half of a CRLF.
                } else if TextPositions.isBreak(scalar) {
                    line += 1
                    column = 1
                } else if !(line == 1 && column == 1 && scalar == "\u{FEFF}") {
                    column += 1
                }
                previousWasCR = scalar == "\r"
            case .emptyInput:
                return nil
            case .error:
                return SourcePosition(line: line, column: column)
            }
        }
    }
}
