/// A complete local response: bytes that live as long as the worker.
struct LocalResponse: @unchecked Sendable {
    let bytes: UnsafeRawPointer
    let count: Int

    init(_ text: StaticString) {
        bytes = UnsafeRawPointer(text.utf8Start)
        count = text.utf8CodeUnitCount
    }

    init(bytes: UnsafeRawPointer, count: Int) {
        self.bytes = bytes
        self.count = count
    }
}

/// Every response the worker writes itself (DESIGN.md §1): small, complete
/// HTTP/1.1 responses with a correct Content-Length, all ending the
/// connection. The fixed ones are static bytes; 503s with a Retry-After and
/// redirects are built once per distinct value the table asks for and kept.
struct LocalResponses {
    static let badRequest = LocalResponse("HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nConnection: close\r\n\r\nBad Request\n")
    static let requestTimeout = LocalResponse("HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain\r\nContent-Length: 16\r\nConnection: close\r\n\r\nRequest Timeout\n")
    static let uriTooLong = LocalResponse("HTTP/1.1 414 URI Too Long\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nConnection: close\r\n\r\nURI Too Long\n")
    static let headersTooLarge = LocalResponse("HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain\r\nContent-Length: 32\r\nConnection: close\r\n\r\nRequest Header Fields Too Large\n")
    static let notImplemented = LocalResponse("HTTP/1.1 501 Not Implemented\r\nContent-Type: text/plain\r\nContent-Length: 16\r\nConnection: close\r\n\r\nNot Implemented\n")
    static let badGateway = LocalResponse("HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nConnection: close\r\n\r\nBad Gateway\n")
    static let serviceUnavailable = LocalResponse("HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 20\r\nConnection: close\r\n\r\nService Unavailable\n")
    /// Sent in cleartext to a client that spoke plain HTTP to a TLS port.
    static let cleartextOnTLSPort = LocalResponse("HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 35\r\nConnection: close\r\n\r\nThis port speaks TLS: use https://\n")
    static let gatewayTimeout = LocalResponse("HTTP/1.1 504 Gateway Timeout\r\nContent-Type: text/plain\r\nContent-Length: 16\r\nConnection: close\r\n\r\nGateway Timeout\n")

    private struct Built {
        let status: UInt16
        let retryAfter: UInt32
        let location: UnsafeRawBufferPointer?
        let response: LocalResponse
    }

    private var built: [Built] = []

    /// The fixed response for a status the wire scanner or the loop reports.
    static func fixed(_ status: UInt16) -> LocalResponse {
        switch status {
        case 408: return requestTimeout
        case 414: return uriTooLong
        case 431: return headersTooLarge
        case 501: return notImplemented
        case 502: return badGateway
        case 503: return serviceUnavailable
        case 504: return gatewayTimeout
        default: return badRequest
        }
    }

    /// A status with an optional Retry-After (0: none), as `Route.respond` asks.
    mutating func status(_ status: UInt16, retryAfter: UInt32) -> LocalResponse {
        if retryAfter == 0 {
            switch status {
            case 400, 408, 414, 431, 501, 502, 503, 504: return LocalResponses.fixed(status)
            default: break
            }
        }
        for b in built where b.status == status && b.retryAfter == retryAfter && b.location == nil {
            return b.response
        }
        let reason = LocalResponses.reasonPhrase(status)
        let body = reason + "\n"
        var head = "HTTP/1.1 \(status) \(reason)\r\nContent-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\n"
        if retryAfter > 0 { head += "Retry-After: \(retryAfter)\r\n" }
        head += "Connection: close\r\n\r\n"
        let r = LocalResponses.keep(head + body)
        built.append(Built(status: status, retryAfter: retryAfter, location: nil, response: r))
        return r
    }

    /// A redirect to `location` (bytes that outlive the worker's table).
    mutating func redirect(_ status: UInt16, location: UnsafeRawBufferPointer) -> LocalResponse {
        for b in built where b.status == status && b.location.map({ $0.elementsEqual(location) }) == true {
            return b.response
        }
        let text = String(decoding: location, as: UTF8.self)
        let head = "HTTP/1.1 \(status) \(LocalResponses.reasonPhrase(status))\r\nLocation: \(text)\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        let r = LocalResponses.keep(head)
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: location.count, alignment: 1)
        copy.copyMemory(from: location)
        built.append(Built(status: status, retryAfter: 0, location: UnsafeRawBufferPointer(copy), response: r))
        return r
    }

    private static func keep(_ text: String) -> LocalResponse {
        let utf8 = Array(text.utf8)
        let p = UnsafeMutableRawPointer.allocate(byteCount: utf8.count, alignment: 1)
        utf8.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: utf8.count) }
        return LocalResponse(bytes: p, count: utf8.count)
    }

    static func reasonPhrase(_ status: UInt16) -> String {
        switch status {
        case 301: return "Moved Permanently"
        case 302: return "Found"
        case 303: return "See Other"
        case 307: return "Temporary Redirect"
        case 308: return "Permanent Redirect"
        case 400: return "Bad Request"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 408: return "Request Timeout"
        case 414: return "URI Too Long"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        default: return "Status"
        }
    }
}
