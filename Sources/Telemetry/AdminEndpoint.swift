import HTTPWire

/// What the admin endpoint answers, as a pure function of the bytes a
/// client sent: `GET /metrics` (Prometheus text), `GET /status` (the JSON
/// of `tether status --json`), `HEAD` of either, 404 for any other path,
/// 405 for any other method, and the scanner's 400/414/431 for what is not
/// a valid request head. Every response closes the connection.
public enum AdminEndpoint {
    /// The largest request head read; larger ones get 431.
    public static let maxRequestBytes = 8 * 1024

    public struct Response: Equatable, Sendable {
        public var status: UInt16
        public var contentType: String
        public var body: String
        /// A HEAD request: the head says how long the body is, and no body follows.
        public var headOnly: Bool
        public var allow: String?

        public init(status: UInt16, contentType: String = "text/plain; charset=utf-8", body: String,
                    headOnly: Bool = false, allow: String? = nil) {
            self.status = status
            self.contentType = contentType
            self.body = body
            self.headOnly = headOnly
            self.allow = allow
        }

        /// The whole response, head and body.
        public var bytes: [UInt8] {
            var head = "HTTP/1.1 \(status) \(AdminEndpoint.reason(status))\r\n"
            head += "Content-Type: \(contentType)\r\n"
            head += "Content-Length: \(body.utf8.count)\r\n"
            if let allow { head += "Allow: \(allow)\r\n" }
            head += "Cache-Control: no-store\r\nConnection: close\r\n\r\n"
            var out = Array(head.utf8)
            if !headOnly { out += body.utf8 }
            return out
        }
    }

    public enum Outcome: Equatable, Sendable {
        /// The head is not complete yet: read more (up to `maxRequestBytes`).
        case needMore
        case respond(Response)
    }

    /// Scans what a client sent so far (`scanner` keeps its progress
    /// between calls on the same growing bytes) and answers a complete head.
    /// `snapshot` is called only for a request that needs one.
    public static func handle(_ bytes: UnsafeRawBufferPointer, scanner: inout RequestHeadScanner,
                              snapshot: () -> StatusSnapshot) -> Outcome {
        switch scanner.scan(bytes, wanted: WantedHeaders(persistence: nil, hashKey: nil)) {
        case .incomplete:
            if bytes.count >= maxRequestBytes { return .respond(Response(status: 431, body: "request head too large\n")) }
            return .needMore
        case .invalid(let error):
            return .respond(Response(status: error.status, body: "\(error)\n"))
        case .complete(let head):
            let method = String(decoding: bytes[head.method.start..<(head.method.start + head.method.count)], as: UTF8.self)
            let target = String(decoding: bytes[head.target.start..<(head.target.start + head.target.count)], as: UTF8.self)
            return .respond(response(method: method, target: target, snapshot: snapshot))
        }
    }

    /// The answer to a valid request head.
    public static func response(method: String, target: String, snapshot: () -> StatusSnapshot) -> Response {
        let path = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? target
        let known = ["/metrics", "/status"]
        guard method == "GET" || method == "HEAD" else {
            return Response(status: 405, body: "only GET and HEAD are served here\n", allow: "GET, HEAD")
        }
        let headOnly = method == "HEAD"
        switch path {
        case "/metrics":
            return Response(status: 200, contentType: PrometheusText.contentType, body: PrometheusText.render(snapshot()),
                            headOnly: headOnly)
        case "/status":
            return Response(status: 200, contentType: "application/json", body: StatusJSON.render(snapshot()), headOnly: headOnly)
        case "/":
            return Response(status: 200, body: "tether admin endpoint: " + known.joined(separator: ", ") + "\n", headOnly: headOnly)
        default:
            return Response(status: 404, body: "no such page; try " + known.joined(separator: " or ") + "\n", headOnly: headOnly)
        }
    }

    static func reason(_ status: UInt16) -> String {
        switch status {
        case 200: return "OK"
        case 400: return "Bad Request"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 414: return "URI Too Long"
        case 431: return "Request Header Fields Too Large"
        case 501: return "Not Implemented"
        case 503: return "Service Unavailable"
        default: return "Error"
        }
    }
}
