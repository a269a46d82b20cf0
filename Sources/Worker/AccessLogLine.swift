import Posix

/// Why a logged request went where it went: the routing reasons, or `local`
/// when the worker answered it without a server.
enum AccessRoute: UInt8 {
    case local = 0, pinned, failover, balanced

    var text: StaticString {
        switch self {
        case .local: return "local"
        case .pinned: return "pinned"
        case .failover: return "failover"
        case .balanced: return "balanced"
        }
    }
}

/// What one access log line says; the byte ranges point at the worker's
/// memory and are read while the line is written.
struct AccessLogEntry {
    var wallMilliseconds: UInt64
    var client: UnsafeRawBufferPointer
    /// Empty when the request head was never complete.
    var method: UnsafeRawBufferPointer
    var target: UnsafeRawBufferPointer
    var targetTruncated = false
    /// 0 or 1 for HTTP/1.0 or 1.1; nil when unknown.
    var versionMinor: UInt8?
    /// 0: no response was sent.
    var status: UInt16
    /// The chosen server as `pool=NAME server=NAME` (already in logfmt); empty: none.
    var server: UnsafeRawBufferPointer
    var route: AccessRoute
    var durationMicroseconds: UInt64
    /// From the request's arrival to the response head from the server; nil: none came.
    var responseMicroseconds: UInt64?
    var bytesIn: UInt64
    var bytesOut: UInt64
}

/// Writes access log lines into a fixed buffer, allocating nothing:
///
/// ```
/// 2025-11-26T03:01:02.123Z client=10.0.0.5 method=GET target="/a?b=1" version=HTTP/1.1 status=200 pool=web server=apache1 route=pinned duration_ms=1.234 response_ms=0.812 bytes_in=612 bytes_out=1024
/// ```
///
/// logfmt, like tether's log lines: the target is always quoted (`"` and
/// `\` escaped, other bytes outside printable ASCII as `\xHH`); a missing
/// value is `-`.
struct AccessLogWriter {
    /// The "YYYY-MM-DDTHH:MM:SS" of `cachedSecond`, recomputed when the second changes.
    private var cachedSecond: UInt64 = .max
    private var datePrefix: (UInt64, UInt64, UInt64) = (0, 0, 0)

    /// The longest line: a longer one is cut short at `maxLine` bytes
    /// (targets are already truncated well below it).
    static let maxLine = 2048

    /// Writes `entry`'s line, newline included, at the start of `out`;
    /// returns its length, or 0 when `out` is shorter than the line.
    mutating func write(_ e: AccessLogEntry, into out: UnsafeMutableRawBufferPointer) -> Int {
        var w = ByteWriter(out)
        writeTimestamp(e.wallMilliseconds, &w)
        w.append(" client=")
        if e.client.isEmpty { w.append("-") } else { w.append(e.client) }
        w.append(" method=")
        if e.method.isEmpty { w.append("-") } else { w.append(e.method) }
        w.append(" target=")
        if e.method.isEmpty {
            w.append("-")
        } else {
            w.appendQuoted(e.target)
            if e.targetTruncated { w.append("...") }
        }
        w.append(" version=")
        switch e.versionMinor {
        case 0: w.append("HTTP/1.0")
        case 1: w.append("HTTP/1.1")
        default: w.append("-")
        }
        w.append(" status=")
        if e.status == 0 { w.append("-") } else { w.appendDecimal(UInt64(e.status)) }
        if e.server.isEmpty {
            w.append(" pool=- server=-")
        } else {
            w.append(" ")
            w.append(e.server)
        }
        w.append(" route=")
        w.append(e.route.text)
        w.append(" duration_ms=")
        w.appendMilliseconds(e.durationMicroseconds)
        w.append(" response_ms=")
        if let r = e.responseMicroseconds { w.appendMilliseconds(r) } else { w.append("-") }
        w.append(" bytes_in=")
        w.appendDecimal(e.bytesIn)
        w.append(" bytes_out=")
        w.appendDecimal(e.bytesOut)
        w.append("\n")
        return w.overflowed ? 0 : w.count
    }

    private mutating func writeTimestamp(_ ms: UInt64, _ w: inout ByteWriter) {
        let second = ms / 1000
        if second != cachedSecond {
            cachedSecond = second
            let c = Timestamp.Civil(milliseconds: second * 1000)
            withUnsafeMutableBytes(of: &datePrefix) { raw in
                var p = ByteWriter(raw)
                p.appendDigits(UInt64(c.year), width: 4)
                p.append("-")
                p.appendDigits(UInt64(c.month), width: 2)
                p.append("-")
                p.appendDigits(UInt64(c.day), width: 2)
                p.append("T")
                p.appendDigits(UInt64(c.hour), width: 2)
                p.append(":")
                p.appendDigits(UInt64(c.minute), width: 2)
                p.append(":")
                p.appendDigits(UInt64(c.second), width: 2)
            }
        }
        withUnsafeBytes(of: datePrefix) { w.append(UnsafeRawBufferPointer(rebasing: $0[0..<19])) }
        w.append(".")
        w.appendDigits(ms % 1000, width: 3)
        w.append("Z")
    }
}

/// Appends to a fixed buffer; past its end it only notes the overflow.
struct ByteWriter {
    let base: UnsafeMutableRawPointer
    let capacity: Int
    private(set) var count = 0
    private(set) var overflowed = false

    init(_ buffer: UnsafeMutableRawBufferPointer) {
        base = buffer.baseAddress ?? UnsafeMutableRawPointer(bitPattern: 8)!
        capacity = buffer.count
    }

    @inline(__always)
    mutating func byte(_ b: UInt8) {
        if count < capacity {
            base.storeBytes(of: b, toByteOffset: count, as: UInt8.self)
            count += 1
        } else {
            overflowed = true
        }
    }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, !bytes.isEmpty else { return }
        guard count + bytes.count <= capacity else { overflowed = true; return }
        (base + count).copyMemory(from: source, byteCount: bytes.count)
        count += bytes.count
    }

    mutating func append(_ text: StaticString) {
        append(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    mutating func appendDecimal(_ value: UInt64) {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: enough for 20 digits
        var n = value, k = 0
        withUnsafeMutableBytes(of: &digits) { raw in
            repeat {
                raw[k] = UInt8(ascii: "0") + UInt8(n % 10)
                n /= 10
                k += 1
            } while n > 0
            while k > 0 {
                k -= 1
                byte(raw[k])
            }
        }
    }

    /// `value` in exactly `width` digits, zero-padded (and cut to its low digits).
    mutating func appendDigits(_ value: UInt64, width: Int) {
        var divisor: UInt64 = 1
        for _ in 1..<width { divisor *= 10 }
        var n = value
        while divisor > 0 {
            byte(UInt8(ascii: "0") + UInt8(n / divisor % 10))
            n %= divisor
            divisor /= 10
        }
    }

    /// Microseconds as milliseconds with three decimals.
    mutating func appendMilliseconds(_ micros: UInt64) {
        appendDecimal(micros / 1000)
        byte(UInt8(ascii: "."))
        appendDigits(micros % 1000, width: 3)
    }

    /// Between double quotes, with `"` and `\` escaped and bytes outside
    /// printable ASCII as `\xHH`.
    mutating func appendQuoted(_ bytes: UnsafeRawBufferPointer) {
        byte(UInt8(ascii: "\""))
        let hex: StaticString = "0123456789abcdef"
        for b in bytes {
            switch b {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                byte(UInt8(ascii: "\\"))
                byte(b)
            case 0x20..<0x7F:
                byte(b)
            default:
                byte(UInt8(ascii: "\\"))
                byte(UInt8(ascii: "x"))
                byte(hex.utf8Start[Int(b >> 4)])
                byte(hex.utf8Start[Int(b & 15)])
            }
        }
        byte(UInt8(ascii: "\""))
    }
}
