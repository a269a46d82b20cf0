/// A value that cannot be read; `message` says why, for a diagnostic.
public struct ValueProblem: Error, Equatable {
    public let message: String

    init(_ message: String) {
        self.message = message
    }
}

/// Durations: a decimal number and one unit, with no space between them.
///
/// - Units: `ms`, `s`, `m` (minutes), `h`. Examples: `500ms`, `10s`, `1.5s`,
///   `2m`, `1h`.
/// - A fraction is allowed when the result is a whole number of milliseconds
///   (`1.5s` is 1500 ms; `1.0005s` is an error). tether's timers have
///   millisecond resolution, so `us` and `ns` are errors.
/// - No unit (`10`) is an error: a bare number could mean seconds or
///   milliseconds, so the message asks for one.
/// - Negative durations are errors; whether zero is allowed depends on the
///   setting (see `DurationRange`).
/// - Compound forms (`1m30s`) are not accepted: write `90s`.
enum DurationSyntax {
    static let unitMilliseconds: [(unit: String, ms: Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)]

    /// The duration in milliseconds.
    static func parse(_ text: String) throws(ValueProblem) -> Int64 {
        if text.isEmpty { throw ValueProblem("is empty; write a duration such as 10s") }
        if text.hasPrefix("-") { throw ValueProblem("'\(text)' is negative") }
        let scalars = Array(text.unicodeScalars)
        var i = 0
        var whole: Int64 = 0, wholeDigits = 0
        while i < scalars.count, let d = digit(scalars[i]) {
            whole = whole &* 10 &+ d
            wholeDigits += 1
            i += 1
        }
        var fraction: Int64 = 0, fractionDigits = 0, hasPoint = false
        if i < scalars.count, scalars[i] == "." {
            hasPoint = true
            i += 1
            while i < scalars.count, let d = digit(scalars[i]) {
                fraction = fraction &* 10 &+ d
                fractionDigits += 1
                i += 1
            }
        }
        let unit = String(String.UnicodeScalarView(scalars[i...]))
        let format = "expected a number and a unit (ms, s, m or h), for example 10s, 500ms or 1.5s"
        guard wholeDigits > 0, !hasPoint || fractionDigits > 0 else {
            throw ValueProblem("'\(text)' is not a duration: \(format)")
        }
        guard wholeDigits <= 9, fractionDigits <= 9 else {
            throw ValueProblem("'\(text)' is too large")
        }
        if unit.isEmpty {
            let choices = hasPoint ? "\(text)s for seconds" : "\(text)s for seconds or \(text)ms for milliseconds"
            throw ValueProblem("'\(text)' has no unit; write \(choices)")
        }
        guard let unitMs = unitMilliseconds.first(where: { $0.unit == unit })?.ms else {
            switch unit {
            case "us", "µs", "ns":
                throw ValueProblem("'\(text)' is finer than tether's resolution of 1ms")
            case "d":
                throw ValueProblem("'\(text)': write days in hours, for example 24h")
            default:
                if unit.first == " " {
                    throw ValueProblem("'\(text)': write the unit right after the number, as in 10s")
                }
                throw ValueProblem("'\(text)' has an unknown unit '\(unit)'; expected ms, s, m or h")
            }
        }
        var scale: Int64 = 1
        for _ in 0..<fractionDigits { scale *= 10 }
        let fractionMs = fraction * unitMs
        guard fractionMs % scale == 0 else {
            throw ValueProblem("'\(text)' is finer than tether's resolution of 1ms")
        }
        return whole * unitMs + fractionMs / scale
    }

    /// The shortest exact spelling: 90000 → "90s", 3600000 → "1h".
    static func format(milliseconds ms: Int64) -> String {
        if ms == 0 { return "0s" }
        for (unit, size) in unitMilliseconds.reversed() where ms % size == 0 {
            return "\(ms / size)\(unit)"
        }
        return "\(ms)ms"
    }

    private static func digit(_ s: Unicode.Scalar) -> Int64? {
        s.value >= 0x30 && s.value <= 0x39 ? Int64(s.value - 0x30) : nil
    }
}

/// Sizes in bytes: a whole number, optionally followed by `B`, `KiB`
/// (1024), `MiB` (1024²) or `GiB` (1024³), with no space between:
/// `4096`, `4096B`, `32KiB`, `1MiB`.
///
/// Decimal and ambiguous units (`KB`, `kB`, `K`, `MB`, `M`, ...) are errors:
/// nginx reads `32k` as 32768 bytes, others read `32KB` as 32000, so the
/// message asks for the exact spelling. Fractions and negatives are errors.
enum SizeSyntax {
    static let units: [(unit: String, bytes: Int)] = [("B", 1), ("KiB", 1024), ("MiB", 1 << 20), ("GiB", 1 << 30)]
    static let ambiguous: [String: String] = [
        "k": "KiB", "K": "KiB", "kB": "KiB", "KB": "KiB", "kb": "KiB", "Kb": "KiB", "kib": "KiB", "KIB": "KiB",
        "m": "MiB", "M": "MiB", "MB": "MiB", "mB": "MiB", "mb": "MiB", "Mb": "MiB", "mib": "MiB", "MIB": "MiB",
        "g": "GiB", "G": "GiB", "GB": "GiB", "gB": "GiB", "gb": "GiB", "Gb": "GiB", "gib": "GiB", "GIB": "GiB",
        "b": "B",
    ]

    static func parse(_ text: String) throws(ValueProblem) -> Int {
        if text.isEmpty { throw ValueProblem("is empty; write a size such as 32KiB") }
        if text.hasPrefix("-") { throw ValueProblem("'\(text)' is negative") }
        let digits = text.prefix { $0.isASCII && $0.isNumber }
        let unit = String(text.dropFirst(digits.count))
        let format = "expected a number of bytes, optionally with B, KiB, MiB or GiB, for example 32KiB"
        guard !digits.isEmpty else { throw ValueProblem("'\(text)' is not a size: \(format)") }
        guard digits.count <= 12, let count = Int(digits) else { throw ValueProblem("'\(text)' is too large") }
        if unit.isEmpty { return count }
        if unit.hasPrefix(".") { throw ValueProblem("'\(text)' is not a whole number; write it in a smaller unit") }
        if let bytes = units.first(where: { $0.unit == unit })?.bytes {
            let (product, overflow) = count.multipliedReportingOverflow(by: bytes)
            if overflow { throw ValueProblem("'\(text)' is too large") }
            return product
        }
        if let exact = ambiguous[unit] {
            let hint = exact == "B" ? "\(digits)B" : "\(digits)\(exact)"
            throw ValueProblem("'\(text)' has an ambiguous unit '\(unit)'; write \(hint) or a number of bytes")
        }
        throw ValueProblem("'\(text)' has an unknown unit '\(unit)'; \(format)")
    }

    /// The shortest exact spelling: 32768 → "32KiB".
    static func format(bytes: Int) -> String {
        for (unit, size) in units.reversed() where size > 1 && bytes >= size && bytes % size == 0 {
            return "\(bytes / size)\(unit)"
        }
        return "\(bytes)"
    }
}
