/// One monitor's view of one server, with Avi's semantics: `failedChecks`
/// consecutive failures take an up server down, `successfulChecks`
/// consecutive successes bring a down server back. A result that agrees
/// with the current state resets the opposite streak.
public struct MonitorVerdict: Equatable, Sendable {
    public private(set) var isUp: Bool
    /// Consecutive results against the current state (failures while up,
    /// successes while down).
    public private(set) var streak: Int

    public init(up: Bool) {
        isUp = up
        streak = 0
    }

    /// Records one check; returns true when the state changed.
    public mutating func record(passed: Bool, successfulChecks: Int, failedChecks: Int) -> Bool {
        if passed == isUp {
            streak = 0
            return false
        }
        streak += 1
        if streak >= (isUp ? failedChecks : successfulChecks) {
            isUp.toggle()
            streak = 0
            return true
        }
        return false
    }

    /// Forces the state down (passive detection: a worker saw a connect
    /// fail); the server then needs `successfulChecks` successes to return.
    public mutating func forceDown() {
        isUp = false
        streak = 0
    }
}

/// What a check's status line says.
public enum StatusLine: Equatable, Sendable {
    /// Not enough bytes yet to tell.
    case incomplete
    case status(UInt16)
    /// Not `HTTP/1.x NNN`.
    case malformed
}

/// Reads the status code from the start of a response: `HTTP/D.D SP DDD`
/// followed by SP or CR (RFC 9112 §4). Only the status line matters to a
/// health check; the rest of the response is never read.
public func parseStatusLine(_ bytes: UnsafeRawBufferPointer) -> StatusLine {
    let prefix: [UInt8] = Array("HTTP/".utf8)
    let digit: (UInt8) -> Bool = { $0 >= 0x30 && $0 <= 0x39 }
    // Expected shape, position by position: "HTTP/" D "." D SP D D D (SP | CR)
    for i in 0..<min(bytes.count, 13) {
        let b = bytes[i]
        let ok: Bool
        switch i {
        case 0..<5: ok = b == prefix[i]
        case 5, 7: ok = digit(b)
        case 6: ok = b == UInt8(ascii: ".")
        case 8: ok = b == UInt8(ascii: " ")
        case 9, 10, 11: ok = digit(b)
        default: ok = b == UInt8(ascii: " ") || b == UInt8(ascii: "\r")
        }
        if !ok { return .malformed }
    }
    guard bytes.count >= 13 else { return .incomplete }
    let code = (UInt16(bytes[9]) - 0x30) * 100 + (UInt16(bytes[10]) - 0x30) * 10 + (UInt16(bytes[11]) - 0x30)
    return code >= 100 ? .status(code) : .malformed
}

/// When the first check of a server runs: spread over the first
/// `min(interval, 1 s)` so that thousands of servers are not all probed in
/// the same millisecond, yet every server is checked soon after start.
public func firstCheckDelay(key: UInt64, intervalMs: UInt32) -> UInt64 {
    let window = UInt64(min(intervalMs, 1_000))
    guard window > 0 else { return 0 }
    // splitmix64 finalizer: neighbouring keys land far apart.
    var z = key &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return (z ^ (z >> 31)) % window
}
