// HTTPWire: HTTP/1.1 framing for a proxy, in place and without allocating.
//
// RequestHeadScanner and ResponseHeadScanner find where a head ends, check it
// strictly (RFC 9112), and report byte ranges into the caller's buffer plus
// what the proxy decides on: body framing, persistence, the persistence and
// hash-key header values, where to append X-Forwarded-For. ChunkedBodyTracker
// finds where a chunked body ends. All three are restartable value types: the
// caller hands them whatever bytes it has and calls again when more arrive.

/// A span of bytes inside the buffer handed to a scanner, as offsets from the
/// buffer's first byte. Never a pointer: the caller may move the bytes (copy a
/// head out of a provided receive buffer, say) and the offsets stay valid.
public struct ByteRange: Equatable, Hashable, Sendable {
    public var start: Int
    public var count: Int

    @inlinable
    public init(start: Int, count: Int) {
        self.start = start
        self.count = count
    }

    /// One past the last byte.
    @inlinable
    public var end: Int { start + count }
}

/// Why a head was rejected, and the status tether answers with.
///
/// Requests are answered 400, 414, 431 or 501; every defect in a response from a
/// server is a 502 to the client.
public struct WireError: Error, Equatable, Hashable, Sendable, CustomStringConvertible {
    public enum Reason: UInt8, Sendable, CaseIterable {
        case headTooLarge
        case requestLineTooLong
        case invalidRequestLine
        case invalidMethod
        case invalidTarget
        case unsupportedVersion
        case invalidStatusLine
        case invalidStatusCode
        case bareCR
        case bareLF
        case emptyHeaderName
        case invalidHeaderName
        case whitespaceBeforeColon
        case missingColon
        case invalidHeaderValue
        case obsoleteLineFolding
        case invalidContentLength
        case conflictingContentLength
        case contentLengthWithTransferEncoding
        case invalidTransferEncoding
        case chunkedNotFinal
        case chunkedRepeated
        case transferEncodingInHTTP10
        case unknownTransferCoding
        case missingHost
        case duplicateHost
        case invalidHost
    }

    /// The status code to answer with (or, for a response, to send the client).
    public var status: UInt16
    public var reason: Reason

    @inlinable
    public init(status: UInt16, reason: Reason) {
        self.status = status
        self.reason = reason
    }

    /// A short English sentence for logs.
    public var message: StaticString {
        switch reason {
        case .headTooLarge: return "header section larger than the configured limit"
        case .requestLineTooLong: return "request line longer than the configured limit"
        case .invalidRequestLine: return "request line is not METHOD SP target SP HTTP-version"
        case .invalidMethod: return "method is not a token"
        case .invalidTarget: return "request target is empty or contains a space or control byte"
        case .unsupportedVersion: return "HTTP version is not HTTP/1.0 or HTTP/1.1"
        case .invalidStatusLine: return "status line is not HTTP-version SP 3DIGIT SP reason"
        case .invalidStatusCode: return "status code outside 100...599"
        case .bareCR: return "CR not followed by LF"
        case .bareLF: return "LF not preceded by CR (lines must end in CRLF)"
        case .emptyHeaderName: return "header line starts with a colon"
        case .invalidHeaderName: return "header name contains a byte that is not a token character"
        case .whitespaceBeforeColon: return "whitespace between header name and colon"
        case .missingColon: return "header line without a colon"
        case .invalidHeaderValue: return "header value contains a control byte or DEL"
        case .obsoleteLineFolding: return "line starts with whitespace (obsolete line folding)"
        case .invalidContentLength: return "Content-Length is not a list of decimal numbers below 2^63"
        case .conflictingContentLength: return "Content-Length values differ"
        case .contentLengthWithTransferEncoding: return "both Content-Length and Transfer-Encoding"
        case .invalidTransferEncoding: return "Transfer-Encoding is empty or not a list of codings"
        case .chunkedNotFinal: return "Transfer-Encoding does not end with chunked"
        case .chunkedRepeated: return "chunked applied more than once"
        case .transferEncodingInHTTP10: return "Transfer-Encoding in an HTTP/1.0 message"
        case .unknownTransferCoding: return "unknown transfer coding"
        case .missingHost: return "HTTP/1.1 request without Host"
        case .duplicateHost: return "more than one Host header"
        case .invalidHost: return "Host contains a byte not allowed in a host and port"
        }
    }

    public var description: String { "\(status) \(message)" }
}

/// The tri-state answer of a head scanner (HAProxy style): a head, a request
/// for more bytes, or a verdict.
public enum ScanResult<Head> {
    case complete(Head)
    case incomplete
    case invalid(WireError)
}

extension ScanResult: Equatable where Head: Equatable {}
extension ScanResult: Sendable where Head: Sendable {}

/// Request methods tether distinguishes; any other token is `.other`.
/// Methods are case-sensitive (RFC 9110 §9.1): `get` is `.other`.
public enum HTTPMethod: UInt8, Sendable, CaseIterable {
    case get, head, post, put, delete, options, patch, connect, trace, other
}

/// How the message body that follows a head is delimited.
public enum BodyFraming: Equatable, Hashable, Sendable {
    /// No body: the next message starts right after the head.
    case none
    /// Exactly this many bytes follow the head (may be 0).
    case contentLength(UInt64)
    /// A chunked body follows; track it with `ChunkedBodyTracker`.
    case chunked
    /// Responses only: the body runs until the server closes the connection.
    case untilClose
    /// Responses only: a 2xx answer to CONNECT or a 101 Switching Protocols.
    /// From `headLength` on, both directions are an opaque byte stream until
    /// either side closes.
    case tunnel
}
