/// Why a request was refused, as the status and the body line it is answered with.
struct RequestFailure: Error, Equatable {
    var status: Int
    var message: String

    static func badRequest(_ message: String) -> RequestFailure { RequestFailure(status: 400, message: message) }
}

/// How the body of a request is delimited.
enum BodyFraming: Equatable {
    case none
    case length(UInt64)
    case chunked
}

/// Where the end of a request head is, scanning a buffer that grows.
enum HeadScanResult: Equatable {
    /// No end yet; `scanned` bytes need not be looked at again.
    case incomplete(scanned: Int)
    /// The head is the first `length` bytes, through the blank line.
    case complete(length: Int)
    case invalid(RequestFailure)
}

/// A request head as it arrived. Field lines stay raw (as byte ranges of
/// `bytes`) because `/echo` reports them exactly as received.
struct RequestHead {
    static let maximumSize = 64 * 1024

    var bytes: [UInt8]
    var requestLine: Range<Int>
    var fieldLines: [Range<Int>]
    var method: String
    var target: String
    var minorVersion: Int
    var framing: BodyFraming
    var keepAlive: Bool
    var expectsContinue: Bool
    var asksForWebSocket: Bool
    var webSocketKey: String?

    /// The path of an origin-form target, or of an absolute-form one.
    var path: Substring {
        var path = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0]
        for scheme in ["http://", "https://"] where path.lowercased().hasPrefix(scheme) {
            let authorityAndPath = path.dropFirst(scheme.count)
            path = authorityAndPath.firstIndex(of: "/").map { authorityAndPath[$0...] } ?? "/"
        }
        return path
    }

    var query: Substring? {
        let parts = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        return parts.count == 2 ? parts[1] : nil
    }

    var isHead: Bool { method == "HEAD" }

    /// Looks for the blank line that ends a head, starting at `offset` (what
    /// an earlier call reported as scanned). Every line must end in CRLF.
    static func scanForEnd(of buffer: UnsafeBufferPointer<UInt8>, from offset: Int) -> HeadScanResult {
        var index = offset
        while index < buffer.count {
            if buffer[index] == UInt8(ascii: "\n") {
                guard index > 0, buffer[index - 1] == UInt8(ascii: "\r") else {
                    return .invalid(.badRequest("line ends in a bare LF"))
                }
                if index >= 3, buffer[index - 2] == UInt8(ascii: "\n") {
                    return .complete(length: index + 1)
                }
            }
            index += 1
            if index > maximumSize {
                return .invalid(RequestFailure(status: 431, message: "request head larger than \(maximumSize) bytes"))
            }
        }
        return .incomplete(scanned: index)
    }

    /// Parses a complete head (as delimited by `scanForEnd`).
    static func parse(_ bytes: [UInt8]) throws(RequestFailure) -> RequestHead {
        var lines: [Range<Int>] = []
        var lineStart = 0
        for index in bytes.indices where bytes[index] == UInt8(ascii: "\n") {
            guard index > lineStart, bytes[index - 1] == UInt8(ascii: "\r") else {
                throw .badRequest("line ends in a bare LF")
            }
            lines.append(lineStart ..< index - 1)
            lineStart = index + 1
        }
        // The last range is the blank line.
        guard lines.count >= 2, lines.last!.isEmpty else { throw .badRequest("incomplete request head") }
        lines.removeLast()

        let requestLine = lines[0]
        let (method, target, minorVersion) = try parseRequestLine(bytes[requestLine])
        let fieldLines = Array(lines.dropFirst())

        var contentLength: UInt64?
        var transferCodings: [Substring] = []
        var connectionTokens: [Substring] = []
        var upgradeTokens: [Substring] = []
        var expectsContinue = false
        var webSocketKey: String?

        for line in fieldLines {
            let (name, value) = try parseFieldLine(bytes[line])
            switch name {
            case "content-length":
                for item in value.split(separator: ",", omittingEmptySubsequences: false) {
                    let text = item.trimmingOptionalWhitespace()
                    guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
                          let length = UInt64(text), length <= UInt64(Int64.max)
                    else { throw .badRequest("invalid Content-Length '\(value)'") }
                    if let earlier = contentLength, earlier != length {
                        throw .badRequest("conflicting Content-Length values \(earlier) and \(length)")
                    }
                    contentLength = length
                }
            case "transfer-encoding":
                transferCodings += value.lowercased().tokenList()
            case "connection":
                connectionTokens += value.lowercased().tokenList()
            case "upgrade":
                upgradeTokens += value.lowercased().tokenList()
            case "expect":
                expectsContinue = expectsContinue || value.lowercased() == "100-continue"
            case "sec-websocket-key":
                webSocketKey = webSocketKey ?? value
            default:
                break
            }
        }

        let framing: BodyFraming
        if !transferCodings.isEmpty {
            guard contentLength == nil else { throw .badRequest("both Content-Length and Transfer-Encoding") }
            guard minorVersion == 1 else { throw .badRequest("Transfer-Encoding in an HTTP/1.0 request") }
            guard transferCodings.last == "chunked" else {
                throw .badRequest("the last transfer coding is '\(transferCodings.last!)', not chunked")
            }
            framing = .chunked
        } else if let contentLength, contentLength > 0 {
            framing = .length(contentLength)
        } else {
            framing = .none
        }

        let keepAlive = minorVersion == 1
            ? !connectionTokens.contains("close")
            : connectionTokens.contains("keep-alive") && !connectionTokens.contains("close")

        return RequestHead(
            bytes: bytes,
            requestLine: requestLine,
            fieldLines: fieldLines,
            method: method,
            target: target,
            minorVersion: minorVersion,
            framing: framing,
            keepAlive: keepAlive,
            expectsContinue: expectsContinue,
            asksForWebSocket: connectionTokens.contains("upgrade")
                && upgradeTokens.contains(where: { $0 == "websocket" || $0.hasPrefix("websocket/") }),
            webSocketKey: webSocketKey
        )
    }

    private static func parseRequestLine(_ line: ArraySlice<UInt8>) throws(RequestFailure) -> (String, String, Int) {
        let parts = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw .badRequest("request line is not METHOD SP TARGET SP VERSION") }
        let method = parts[0]
        let target = parts[1]
        let version = Array(parts[2])
        guard !method.isEmpty, method.allSatisfy(isTokenByte) else { throw .badRequest("invalid method") }
        guard !target.isEmpty, target.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
            throw .badRequest("invalid request target")
        }
        guard version.count == 8, version.starts(with: Array("HTTP/".utf8)), version[6] == UInt8(ascii: "."),
              isDigit(version[5]), isDigit(version[7])
        else { throw .badRequest("invalid HTTP version") }
        guard version[5] == UInt8(ascii: "1") else {
            throw RequestFailure(status: 505, message: "only HTTP/1.x is supported")
        }
        return (
            String(decoding: method, as: UTF8.self),
            String(decoding: target, as: UTF8.self),
            Int(version[7] - UInt8(ascii: "0"))
        )
    }

    /// Splits a field line into its lower-cased name and its value without
    /// surrounding whitespace; rejects what RFC 9112 §5 forbids.
    static func parseFieldLine(_ line: ArraySlice<UInt8>) throws(RequestFailure) -> (name: String, value: String) {
        guard let first = line.first else { throw .badRequest("empty field line") }
        guard first != UInt8(ascii: " "), first != UInt8(ascii: "\t") else {
            throw .badRequest("obsolete line folding")
        }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { throw .badRequest("field line without ':'") }
        let name = line[line.startIndex ..< colon]
        guard !name.isEmpty else { throw .badRequest("empty field name") }
        guard name.allSatisfy(isTokenByte) else {
            throw .badRequest(name.last == UInt8(ascii: " ") || name.last == UInt8(ascii: "\t")
                ? "whitespace before ':' in a field line" : "invalid byte in a field name")
        }
        let value = line[(colon + 1)...]
        guard value.allSatisfy({ $0 == UInt8(ascii: "\t") || ($0 >= 0x20 && $0 != 0x7f) }) else {
            throw .badRequest("invalid byte in the value of '\(String(decoding: name, as: UTF8.self))'")
        }
        return (
            String(decoding: name, as: UTF8.self).lowercased(),
            String(decoding: value, as: UTF8.self).trimmingOptionalWhitespace()
        )
    }
}

func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

/// tchar (RFC 9110 §5.6.2).
func isTokenByte(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "a") ... UInt8(ascii: "z"), UInt8(ascii: "A") ... UInt8(ascii: "Z"), UInt8(ascii: "0") ... UInt8(ascii: "9"):
        true
    case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
         UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
         UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
        true
    default:
        false
    }
}

extension StringProtocol {
    func trimmingOptionalWhitespace() -> String {
        let isWhitespace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let start = firstIndex(where: { !isWhitespace($0) }) else { return "" }
        let end = lastIndex(where: { !isWhitespace($0) })!
        return String(self[start ... end])
    }

    /// The elements of a comma-separated list, trimmed, empty ones dropped.
    func tokenList() -> [Substring] {
        split(separator: ",").map { Substring($0.trimmingOptionalWhitespace()) }.filter { !$0.isEmpty }
    }
}
