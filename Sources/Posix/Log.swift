import CLinux

/// How important a log line is; the numbers are syslog's (and journald's).
public enum LogLevel: Int, Comparable, Sendable, CaseIterable, CustomStringConvertible {
    case error = 3, warning = 4, notice = 5, info = 6, debug = 7

    public init?(name: String) {
        guard let level = LogLevel.allCases.first(where: { $0.description == name }) else { return nil }
        self = level
    }

    public var description: String {
        switch self {
        case .error: return "error"
        case .warning: return "warning"
        case .notice: return "notice"
        case .info: return "info"
        case .debug: return "debug"
        }
    }

    /// Ordered by importance: `debug < info < ... < error`.
    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue > b.rawValue }
}

/// Structured log lines on standard error, one `write` each, so lines of
/// the supervisor and its workers (which share the descriptor) never mix:
///
/// ```
/// 2025-11-26T03:01:02.123Z level=info component=worker pid=123 msg="table generation 2 live" worker=0
/// ```
///
/// logfmt: `key=value` pairs, a value quoted (with `\"`, `\\`, `\n`
/// escaped) when it holds a space, a quote, `=` or a control byte. When
/// standard error is journald's stream (`JOURNAL_STREAM` names it), the
/// line starts with the syslog priority instead of a timestamp (`<6>level=info
/// ...`): journald stores the priority and adds its own time.
///
/// `TETHER_LOG_LEVEL` (error, warning, notice, info, debug; default info)
/// drops the less important lines; workers inherit it from the supervisor.
public struct Logger: Sendable {
    public let component: String
    /// Fields every line of this logger carries (`worker=0`).
    public let context: [(key: String, value: String)]

    public init(component: String, context: [(key: String, value: String)] = []) {
        self.component = component
        self.context = context
    }

    public func error(_ message: @autoclosure () -> String, _ fields: KeyValuePairs<String, String> = [:]) {
        write(.error, message, fields)
    }

    public func warning(_ message: @autoclosure () -> String, _ fields: KeyValuePairs<String, String> = [:]) {
        write(.warning, message, fields)
    }

    public func notice(_ message: @autoclosure () -> String, _ fields: KeyValuePairs<String, String> = [:]) {
        write(.notice, message, fields)
    }

    public func info(_ message: @autoclosure () -> String, _ fields: KeyValuePairs<String, String> = [:]) {
        write(.info, message, fields)
    }

    public func debug(_ message: @autoclosure () -> String, _ fields: KeyValuePairs<String, String> = [:]) {
        write(.debug, message, fields)
    }

    public func write(_ level: LogLevel, _ message: () -> String, _ fields: KeyValuePairs<String, String>) {
        let output = LogOutput.shared
        guard level >= output.minimumLevel else { return }
        var line = LogLine.format(level: level, component: component, pid: Posix.processID(), message: message(),
                                  fields: context + fields.map { ($0.key, $0.value) },
                                  timestampMs: output.journal ? nil : Posix.wallClockMilliseconds())
        line.withUTF8 { try? Posix.writeAll(2, UnsafeRawBufferPointer($0)) }
    }
}

/// Where log lines go, decided once per process from its environment.
struct LogOutput: Sendable {
    let minimumLevel: LogLevel
    /// Standard error is journald's stream.
    let journal: Bool

    static let shared = LogOutput(environment: { name in getenv(name).map { String(cString: $0) } })

    init(environment: (String) -> String?) {
        minimumLevel = environment("TETHER_LOG_LEVEL").flatMap(LogLevel.init(name:)) ?? .info
        journal = environment("JOURNAL_STREAM").map(LogOutput.isStandardError) ?? false
    }

    /// `JOURNAL_STREAM` is "DEVICE:INODE" of the stream journald connected;
    /// it is inherited, so it counts only while standard error is that stream.
    static func isStandardError(_ stream: String) -> Bool {
        let parts = stream.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var st = stat()
        guard fstat(2, &st) == 0 else { return false }
        return UInt64(st.st_dev) == device && UInt64(st.st_ino) == inode
    }
}

/// The text of one log line (pure, for tests).
public enum LogLine {
    /// `timestampMs` nil: the journald form, with a `<N>` priority prefix.
    public static func format(
        level: LogLevel, component: String, pid: Int32, message: String,
        fields: [(key: String, value: String)], timestampMs: UInt64?
    ) -> String {
        var line = ""
        line.reserveCapacity(96 + message.utf8.count)
        if let timestampMs {
            line += Timestamp.rfc3339(milliseconds: timestampMs)
            line += " "
        } else {
            line += "<\(level.rawValue)>"
        }
        line += "level=\(level) component=\(component) pid=\(pid) msg="
        appendValue(message, to: &line)
        for (key, value) in fields {
            line += " \(key)="
            appendValue(value, to: &line)
        }
        line += "\n"
        return line
    }

    /// `value` as a logfmt value (the access log writes names this way).
    public static func value(_ value: String) -> String {
        var out = ""
        appendValue(value, to: &out)
        return out
    }

    /// A logfmt value: bare when it is a plain token, else quoted and escaped.
    static func appendValue(_ value: String, to line: inout String) {
        let plain = !value.isEmpty && value.utf8.allSatisfy { b in b > 0x20 && b != 0x7F && b != UInt8(ascii: "\"") && b != UInt8(ascii: "=") && b != UInt8(ascii: "\\") }
        if plain {
            line += value
            return
        }
        line += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": line += "\\\""
            case "\\": line += "\\\\"
            case "\n": line += "\\n"
            case "\r": line += "\\r"
            case "\t": line += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    line += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
                } else {
                    line.unicodeScalars.append(scalar)
                }
            }
        }
        line += "\""
    }
}

/// Wall-clock time as logs, the access log and `tether status` show it.
public enum Timestamp {
    /// "2025-11-26T03:01:02.123Z".
    public static func rfc3339(milliseconds: UInt64) -> String {
        let c = Civil(milliseconds: milliseconds)
        return "\(c.year)-\(two(c.month))-\(two(c.day))T\(two(c.hour)):\(two(c.minute)):\(two(c.second)).\(three(c.millisecond))Z"
    }

    static func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
    static func three(_ n: Int) -> String { n < 10 ? "00\(n)" : n < 100 ? "0\(n)" : "\(n)" }

    /// A UTC calendar date and time.
    public struct Civil: Equatable, Sendable {
        public var year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, millisecond: Int

        /// Days since 1970-01-01 to the proleptic Gregorian date (Howard
        /// Hinnant's `civil_from_days`).
        public init(milliseconds: UInt64) {
            let totalSeconds = Int(milliseconds / 1000)
            millisecond = Int(milliseconds % 1000)
            let days = totalSeconds / 86_400
            let secondOfDay = totalSeconds % 86_400
            hour = secondOfDay / 3600
            minute = secondOfDay % 3600 / 60
            second = secondOfDay % 60
            let z = days + 719_468
            let era = z / 146_097
            let dayOfEra = z - era * 146_097
            let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
            let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
            let mp = (5 * dayOfYear + 2) / 153
            day = dayOfYear - (153 * mp + 2) / 5 + 1
            month = mp < 10 ? mp + 3 : mp - 9
            year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        }
    }
}
