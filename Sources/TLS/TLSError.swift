import COpenSSL

/// A failure of OpenSSL or of the material it was given, with OpenSSL's own
/// reasons appended ("...: key values mismatch").
public struct TLSError: Error, Equatable, CustomStringConvertible {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }

    /// `what`, followed by the reasons on this thread's OpenSSL error queue
    /// (which it empties).
    static func fromQueue(_ what: String) -> TLSError {
        let reasons = OpenSSLErrors.drain()
        return TLSError(reasons.isEmpty ? what : "\(what): \(reasons.joined(separator: "; "))")
    }
}

enum OpenSSLErrors {
    /// The reason strings of every queued error, oldest first; the queue is
    /// left empty.
    static func drain() -> [String] {
        var reasons: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            let reason = reasonText(code)
            if reasons.last != reason { reasons.append(reason) }
        }
        return reasons
    }

    /// OpenSSL's short reason for `code` ("no shared cipher"), or its number.
    static func reasonText(_ code: UInt) -> String {
        if let text = ERR_reason_error_string(code) { return String(cString: text) }
        return "error 0x\(String(code, radix: 16))"
    }
}
