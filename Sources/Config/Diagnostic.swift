/// A 1-based position in a configuration file, as an editor shows it: lines
/// count CR, LF, CRLF, NEL, LS and PS as breaks (as libyaml does) and columns
/// count Unicode scalars, a tab being one column.
public struct SourcePosition: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    public static func < (l: SourcePosition, r: SourcePosition) -> Bool {
        (l.line, l.column) < (r.line, r.column)
    }

    public var description: String { "\(line):\(column)" }
}

/// One finding about a configuration file. Errors make the load fail;
/// warnings are reported and do not.
public struct Diagnostic: Sendable, Equatable, CustomStringConvertible {
    public enum Severity: Sendable, Equatable {
        case error
        case warning
    }

    public var file: String
    /// nil for a finding about the whole file (it cannot be read, for one).
    public var location: SourcePosition?
    public var severity: Severity
    public var message: String

    public init(file: String, location: SourcePosition?, severity: Severity, message: String) {
        self.file = file
        self.location = location
        self.severity = severity
        self.message = message
    }

    public var line: Int? { location?.line }
    public var column: Int? { location?.column }

    /// `FILE:LINE:COLUMN: message`, or `FILE:LINE:COLUMN: warning: message`;
    /// `FILE: message` when the finding has no position.
    public var description: String {
        let position = location.map { "\(file):\($0.line):\($0.column)" } ?? file
        switch severity {
        case .error: return "\(position): \(message)"
        case .warning: return "\(position): warning: \(message)"
        }
    }
}

/// What `ConfigLoader` found: the configuration when it has no errors, and
/// every diagnostic sorted by position (findings without one first).
public struct LoadResult: Sendable {
    public var config: TetherConfig?
    public var diagnostics: [Diagnostic]

    public init(config: TetherConfig?, diagnostics: [Diagnostic]) {
        self.config = config
        self.diagnostics = diagnostics
    }

    public var errors: [Diagnostic] { diagnostics.filter { $0.severity == .error } }
    public var warnings: [Diagnostic] { diagnostics.filter { $0.severity == .warning } }
}

/// Collects diagnostics for one file.
struct DiagnosticLog {
    let file: String
    private(set) var entries: [Diagnostic] = []
    private(set) var errorCount = 0

    init(file: String) {
        self.file = file
    }

    mutating func error(_ location: SourcePosition?, _ message: String) {
        entries.append(Diagnostic(file: file, location: location, severity: .error, message: message))
        errorCount += 1
    }

    mutating func warning(_ location: SourcePosition?, _ message: String) {
        entries.append(Diagnostic(file: file, location: location, severity: .warning, message: message))
    }

    /// Sorted by position; a stable sort keeps findings at one position in
    /// the order they were made.
    func sorted() -> [Diagnostic] {
        entries.enumerated().sorted { a, b in
            switch (a.element.location, b.element.location) {
            case (nil, nil): return a.offset < b.offset
            case (nil, _): return true
            case (_, nil): return false
            case let (l?, r?): return l != r ? l < r : a.offset < b.offset
            }
        }.map(\.element)
    }
}
