/// What a request asks the demo backend for, decided from its target.
enum Route: Equatable {
    /// `GET /` and every unknown path: the backend's name.
    case name
    /// A report of what arrived: request line, raw field lines, body length and FNV-1a.
    case echo
    /// `count` bytes of the pattern `i % 251`, optionally chunked.
    case bytes(count: UInt64, chunked: Bool)
    case status(Int)
    case slow(milliseconds: Int)
    /// Promises 1000 bytes, sends 10, closes.
    case closeMid
    /// Answers with `Connection: close`, then closes.
    case close
    case webSocket
    case healthz
    case stats
    /// A known path with an argument it cannot use.
    case invalid(String)

    static let maximumSlowMilliseconds = 600_000

    init(path: Substring, query: Substring?) {
        let queryItems = query.map { $0.split(separator: "&").map { $0.split(separator: "=", maxSplits: 1) } } ?? []
        func queryFlag(_ name: String) -> Bool {
            queryItems.contains { $0.first == Substring(name) && ($0.count == 1 || $0[1] == "1" || $0[1] == "true") }
        }
        let segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        switch (segments.first.map(String.init) ?? "", segments.count) {
        case ("echo", 1):
            self = .echo
        case ("bytes", 2):
            guard let count = UInt64(segments.last!) else {
                self = .invalid("/bytes/N needs a byte count, got '\(segments.last!)'")
                return
            }
            self = .bytes(count: count, chunked: queryFlag("chunked"))
        case ("status", 2):
            guard let code = Int(segments.last!), (200 ... 599).contains(code) else {
                self = .invalid("/status/CODE needs a status from 200 to 599, got '\(segments.last!)'")
                return
            }
            self = .status(code)
        case ("slow", 2):
            guard let milliseconds = Int(segments.last!), (0 ... Route.maximumSlowMilliseconds).contains(milliseconds) else {
                self = .invalid("/slow/MS needs milliseconds from 0 to \(Route.maximumSlowMilliseconds), got '\(segments.last!)'")
                return
            }
            self = .slow(milliseconds: milliseconds)
        case ("close-mid", 1):
            self = .closeMid
        case ("close", 1):
            self = .close
        case ("ws", 1):
            self = .webSocket
        case ("healthz", 1):
            self = .healthz
        case ("stats", 1):
            self = .stats
        default:
            self = .name
        }
    }
}

/// How a response tells the client about the connection.
enum ConnectionDisposition {
    /// HTTP/1.1 keep-alive: nothing to say.
    case persistent
    /// HTTP/1.0 keep-alive: `Connection: keep-alive`.
    case persistentHTTP10
    case close
}

/// Builds response heads. Every response names the backend and, unless it
/// may not have one, carries its framing.
struct ResponseHeadBuilder {
    var backendName: String
    var connectionSerial: Int
    var requestSerial: Int

    enum Framing {
        case length(UInt64)
        case chunked(trailer: String)
        /// 1xx, 204 and 304 responses have no body and no framing header.
        case bodiless
    }

    func head(
        status: Int,
        framing: Framing,
        disposition: ConnectionDisposition,
        extraFields: [(String, String)] = []
    ) -> [UInt8] {
        var text = "HTTP/1.1 \(status) \(reasonPhrase(status))\r\n"
        text += "X-Backend: \(backendName)\r\n"
        text += "X-Backend-Connection: \(connectionSerial)\r\n"
        text += "X-Backend-Request: \(requestSerial)\r\n"
        for (name, value) in extraFields {
            text += "\(name): \(value)\r\n"
        }
        switch framing {
        case let .length(length): text += "Content-Length: \(length)\r\n"
        case let .chunked(trailer): text += "Transfer-Encoding: chunked\r\nTrailer: \(trailer)\r\n"
        case .bodiless: break
        }
        switch disposition {
        case .persistent: break
        case .persistentHTTP10: text += "Connection: keep-alive\r\n"
        case .close: text += "Connection: close\r\n"
        }
        text += "\r\n"
        return Array(text.utf8)
    }
}

func reasonPhrase(_ status: Int) -> String {
    switch status {
    case 100: "Continue"
    case 101: "Switching Protocols"
    case 200: "OK"
    case 201: "Created"
    case 202: "Accepted"
    case 204: "No Content"
    case 206: "Partial Content"
    case 301: "Moved Permanently"
    case 302: "Found"
    case 303: "See Other"
    case 304: "Not Modified"
    case 307: "Temporary Redirect"
    case 308: "Permanent Redirect"
    case 400: "Bad Request"
    case 401: "Unauthorized"
    case 403: "Forbidden"
    case 404: "Not Found"
    case 405: "Method Not Allowed"
    case 408: "Request Timeout"
    case 409: "Conflict"
    case 413: "Content Too Large"
    case 414: "URI Too Long"
    case 417: "Expectation Failed"
    case 429: "Too Many Requests"
    case 431: "Request Header Fields Too Large"
    case 500: "Internal Server Error"
    case 501: "Not Implemented"
    case 502: "Bad Gateway"
    case 503: "Service Unavailable"
    case 504: "Gateway Timeout"
    case 505: "HTTP Version Not Supported"
    default: "Status \(status)"
    }
}

/// The `/bytes/N` body: byte i is `UInt8(i % 251)`. Produced in pieces as
/// the socket drains, so N may exceed memory.
struct PatternBody {
    static let chunkSize = 16 * 1024
    static let trailerName = "X-Body-Length"

    /// 251 + 64 KiB of the pattern: any run of up to 64 KiB starting at any
    /// phase is one slice of it.
    private static let table: [UInt8] = (0 ..< 251 + 65536).map { UInt8($0 % 251) }

    let total: UInt64
    let chunked: Bool
    private(set) var produced: UInt64 = 0
    private(set) var finished = false

    init(total: UInt64, chunked: Bool) {
        self.total = total
        self.chunked = chunked
    }

    /// Appends roughly `budget` more bytes of the encoded body to `output`.
    mutating func produce(into output: inout [UInt8], budget: Int) {
        var spent = 0
        while !finished && spent < budget {
            let remaining = total - produced
            if remaining == 0 {
                if chunked {
                    output.append(contentsOf: "0\r\n\(PatternBody.trailerName): \(total)\r\n\r\n".utf8)
                }
                finished = true
                return
            }
            let count = Int(min(remaining, UInt64(chunked ? PatternBody.chunkSize : 65536)))
            let phase = Int(produced % 251)
            if chunked { output.append(contentsOf: "\(String(count, radix: 16))\r\n".utf8) }
            output.append(contentsOf: PatternBody.table[phase ..< phase + count])
            if chunked { output.append(contentsOf: "\r\n".utf8) }
            produced += UInt64(count)
            spent += count
        }
    }
}
