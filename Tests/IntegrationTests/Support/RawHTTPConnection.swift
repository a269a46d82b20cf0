import Glibc

/// A response as `RawHTTPConnection` read it.
struct HTTPTestResponse {
    var version: String
    var status: Int
    var reason: String
    /// Field lines in order, names as sent.
    var headers: [(name: String, value: String)]
    var body: [UInt8]
    /// Trailer fields of a chunked body.
    var trailers: [(name: String, value: String)] = []
    /// How the body was delimited.
    var framing: Framing

    enum Framing: Equatable {
        case none, contentLength, chunked, closeDelimited
    }

    var isInterim: Bool { (100 ..< 200).contains(status) && status != 101 }

    /// The first value of a field, by case-insensitive name.
    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    func headerValues(_ name: String) -> [String] {
        headers.filter { $0.name.lowercased() == name.lowercased() }.map(\.value)
    }

    func trailer(_ name: String) -> String? {
        trailers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// A blocking TCP client for tests that need exact bytes on the wire:
/// write anything, read responses one at a time (so pipelining is send
/// several, read several). Every read is bounded by `timeout`.
final class RawHTTPConnection {
    let host: String
    let port: UInt16
    /// Bound on each read call (a whole `readResponse`, say), not on the connection.
    var timeout: Duration
    private var fd: Int32
    private var buffer: [UInt8] = []
    private var bufferStart = 0
    private var peerClosed = false
    /// Every byte read from the peer so far (what the peer sent, exactly).
    private(set) var bytesReceived = 0

    init(host: String = "127.0.0.1", port: UInt16, timeout: Duration = .seconds(10)) throws {
        self.host = host
        self.port = port
        self.timeout = timeout
        fd = -1
        fd = try connectSocket(Deadline(after: timeout))
    }

    deinit { close() }

    func close() {
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
    }

    /// No more bytes from us; the peer reads EOF.
    func shutdownWrite() {
        shutdown(fd, Int32(SHUT_WR))
    }

    // MARK: Sending

    func send(_ bytes: [UInt8]) throws {
        let deadline = Deadline(after: timeout)
        var offset = 0
        while offset < bytes.count {
            var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let ready = poll(&descriptor, 1, deadline.remainingMilliseconds)
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else {
                throw HarnessError("send to \(host):\(port): \(bytes.count - offset) of \(bytes.count) bytes unsent after \(timeout)")
            }
            let sent = bytes.withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
            }
            if sent > 0 {
                offset += sent
            } else if sent < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) {
                continue
            } else {
                throw HarnessError("send to \(host):\(port): \(errnoDescription())")
            }
        }
    }

    func send(_ text: String) throws {
        try send(Array(text.utf8))
    }

    // MARK: Receiving

    /// Reads one response. Interim (1xx) responses are skipped unless
    /// `returnInterim`; a `101` is final and returned without a body (what
    /// follows belongs to the upgraded protocol). `requestMethod` "HEAD"
    /// means no body whatever the framing fields say.
    func readResponse(requestMethod: String = "GET", returnInterim: Bool = false) throws -> HTTPTestResponse {
        let deadline = Deadline(after: timeout)
        while true {
            let response = try readOneResponse(requestMethod: requestMethod, deadline: deadline)
            if response.isInterim && !returnInterim { continue }
            return response
        }
    }

    /// Everything until the peer closes.
    func readUntilClose() throws -> [UInt8] {
        let deadline = Deadline(after: timeout)
        while !peerClosed {
            try fill(deadline: deadline, context: "waiting for \(host):\(port) to close")
        }
        return takeBuffered(count: bufferedCount)
    }

    /// Exactly `count` bytes.
    func read(count: Int) throws -> [UInt8] {
        let deadline = Deadline(after: timeout)
        while bufferedCount < count {
            guard !peerClosed else {
                throw HarnessError("\(host):\(port) closed after \(bufferedCount) of \(count) expected bytes")
            }
            try fill(deadline: deadline, context: "reading \(count) bytes")
        }
        return takeBuffered(count: count)
    }

    /// True when the peer closes (EOF or reset) within `timeout` with no
    /// unread bytes before the close; false when bytes arrive or nothing happens.
    func isClosedByPeer(timeout: Duration = .seconds(2)) -> Bool {
        if bufferedCount > 0 { return false }
        if peerClosed { return true }
        let deadline = Deadline(after: timeout)
        while true {
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, deadline.remainingMilliseconds)
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { return false }
            var byte: UInt8 = 0
            let count = recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
            if count == 0 { return true }
            if count < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                return errno == ECONNRESET
            }
            return false
        }
    }

    /// Whether bytes are waiting to be read (within `timeout`).
    func hasData(within timeout: Duration = .zero) -> Bool {
        if bufferedCount > 0 { return true }
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&descriptor, 1, Deadline(after: timeout).remainingMilliseconds)
        guard ready > 0 else { return false }
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT)) > 0
    }

    // MARK: Response parsing

    private func readOneResponse(requestMethod: String, deadline: Deadline) throws -> HTTPTestResponse {
        let headLines = try readHead(deadline: deadline)
        let statusLine = headLines[0]
        let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), parts[1].count == 3, let status = Int(parts[1]) else {
            throw HarnessError("invalid status line '\(statusLine)' from \(host):\(port)")
        }
        var headers: [(name: String, value: String)] = []
        for line in headLines.dropFirst() {
            headers.append(try Self.parseField(line))
        }
        var response = HTTPTestResponse(
            version: String(parts[0]),
            status: status,
            reason: parts.count > 2 ? String(parts[2]) : "",
            headers: headers,
            body: [],
            framing: .none
        )
        if requestMethod == "HEAD" || (100 ..< 200).contains(status) || status == 204 || status == 304 {
            return response
        }
        if let codings = response.header("Transfer-Encoding") {
            guard codings.lowercased().split(separator: ",").last?.trimmingWhitespace() == "chunked" else {
                throw HarnessError("response with Transfer-Encoding '\(codings)' that does not end in chunked")
            }
            response.framing = .chunked
            (response.body, response.trailers) = try readChunkedBody(deadline: deadline)
        } else if let lengthText = response.header("Content-Length") {
            guard let length = Int(lengthText), length >= 0 else {
                throw HarnessError("invalid Content-Length '\(lengthText)'")
            }
            response.framing = .contentLength
            while bufferedCount < length {
                guard !peerClosed else {
                    throw HarnessError("\(host):\(port) closed after \(bufferedCount) of \(length) body bytes (status \(status))")
                }
                try fill(deadline: deadline, context: "reading a \(length)-byte body")
            }
            response.body = takeBuffered(count: length)
        } else {
            response.framing = .closeDelimited
            while !peerClosed {
                try fill(deadline: deadline, context: "reading a close-delimited body")
            }
            response.body = takeBuffered(count: bufferedCount)
        }
        return response
    }

    /// The head's lines without CRLF, through the blank line (consumed).
    private func readHead(deadline: Deadline) throws -> [String] {
        var scanned = 0
        while true {
            if let end = findHeadEnd(from: scanned) {
                let head = takeBuffered(count: end)
                let text = String(decoding: head.dropLast(4), as: UTF8.self)
                return text.components(separatedBy: "\r\n")
            }
            scanned = max(0, bufferedCount - 3)
            guard !peerClosed else {
                throw HarnessError(bufferedCount == 0
                    ? "\(host):\(port) closed the connection before a response"
                    : "\(host):\(port) closed inside a response head: \(String(decoding: buffer[bufferStart...], as: UTF8.self))")
            }
            try fill(deadline: deadline, context: "reading a response head")
        }
    }

    private func findHeadEnd(from offset: Int) -> Int? {
        let available = bufferedCount
        var index = offset
        while index + 3 < available {
            let base = bufferStart + index
            if buffer[base] == 13 && buffer[base + 1] == 10 && buffer[base + 2] == 13 && buffer[base + 3] == 10 {
                return index + 4
            }
            index += 1
        }
        return nil
    }

    private func readChunkedBody(deadline: Deadline) throws -> ([UInt8], [(name: String, value: String)]) {
        var body: [UInt8] = []
        while true {
            let sizeLine = try readLine(deadline: deadline)
            let sizeText = sizeLine.split(separator: ";", maxSplits: 1).first.map { $0.trimmingWhitespace() } ?? ""
            guard let size = Int(sizeText, radix: 16), size >= 0 else {
                throw HarnessError("invalid chunk size line '\(sizeLine)'")
            }
            if size == 0 { break }
            body += try read(count: size, deadline: deadline)
            let end = try read(count: 2, deadline: deadline)
            guard end == [13, 10] else { throw HarnessError("chunk of \(size) bytes not followed by CRLF") }
        }
        var trailers: [(name: String, value: String)] = []
        while true {
            let line = try readLine(deadline: deadline)
            if line.isEmpty { return (body, trailers) }
            trailers.append(try Self.parseField(line))
        }
    }

    private func readLine(deadline: Deadline) throws -> String {
        while true {
            if let newline = buffer[bufferStart...].firstIndex(of: 10) {
                let line = takeBuffered(count: newline - bufferStart + 1)
                guard line.count >= 2, line[line.count - 2] == 13 else { throw HarnessError("line without CRLF") }
                return String(decoding: line.dropLast(2), as: UTF8.self)
            }
            guard !peerClosed else { throw HarnessError("\(host):\(port) closed inside a chunked body") }
            try fill(deadline: deadline, context: "reading a chunked body")
        }
    }

    private func read(count: Int, deadline: Deadline) throws -> [UInt8] {
        while bufferedCount < count {
            guard !peerClosed else { throw HarnessError("\(host):\(port) closed inside a chunk") }
            try fill(deadline: deadline, context: "reading a chunk")
        }
        return takeBuffered(count: count)
    }

    private static func parseField(_ line: String) throws -> (name: String, value: String) {
        guard let colon = line.firstIndex(of: ":") else { throw HarnessError("field line without ':': '\(line)'") }
        return (String(line[..<colon]), line[line.index(after: colon)...].trimmingWhitespace())
    }

    // MARK: Buffer

    private var bufferedCount: Int { buffer.count - bufferStart }

    private func takeBuffered(count: Int) -> [UInt8] {
        let bytes = Array(buffer[bufferStart ..< bufferStart + count])
        bufferStart += count
        if bufferStart == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            bufferStart = 0
        }
        return bytes
    }

    /// Receives at least one byte, or notes the peer's close.
    private func fill(deadline: Deadline, context: String) throws {
        if bufferStart > 1 << 20 {
            buffer.removeSubrange(0 ..< bufferStart)
            bufferStart = 0
        }
        while true {
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, deadline.remainingMilliseconds)
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { throw HarnessError("timed out \(context) from \(host):\(port) after \(timeout)") }
            let received = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64 * 1024) { scratch in
                let count = recv(fd, scratch.baseAddress, scratch.count, Int32(MSG_DONTWAIT))
                if count > 0 {
                    buffer.append(contentsOf: scratch[0 ..< count])
                    bytesReceived += count
                }
                return count
            }
            if received > 0 { return }
            if received == 0 {
                peerClosed = true
                return
            }
            if errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK { continue }
            if errno == ECONNRESET {
                peerClosed = true
                return
            }
            throw HarnessError("recv from \(host):\(port): \(errnoDescription())")
        }
    }

    // MARK: Connecting

    private func connectSocket(_ deadline: Deadline) throws -> Int32 {
        var ipv4 = loopbackAddress(port: port)
        var ipv6 = sockaddr_in6()
        let family: Int32
        if inet_pton(AF_INET, host, &ipv4.sin_addr) == 1 {
            family = AF_INET
        } else if inet_pton(AF_INET6, host, &ipv6.sin6_addr) == 1 {
            family = AF_INET6
            ipv6.sin6_family = sa_family_t(AF_INET6)
            ipv6.sin6_port = port.bigEndian
        } else {
            throw HarnessError("'\(host)' is not an IP address literal")
        }
        let socketFD = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard socketFD >= 0 else { throw HarnessError("socket: \(errnoDescription())") }
        let flags = fcntl(socketFD, F_GETFL)
        _ = fcntl(socketFD, F_SETFL, flags | O_NONBLOCK)
        let started = family == AF_INET
            ? withUnsafePointer(to: &ipv4) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socketFD, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            : withUnsafePointer(to: &ipv6) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socketFD, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        if started != 0 {
            guard errno == EINPROGRESS else {
                let description = errnoDescription()
                Glibc.close(socketFD)
                throw HarnessError("connect to \(host):\(port): \(description)")
            }
            var descriptor = pollfd(fd: socketFD, events: Int16(POLLOUT), revents: 0)
            var ready: Int32
            repeat {
                ready = poll(&descriptor, 1, deadline.remainingMilliseconds)
            } while ready < 0 && errno == EINTR
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(socketFD, SOL_SOCKET, SO_ERROR, &error, &length)
            guard ready > 0, error == 0 else {
                Glibc.close(socketFD)
                throw HarnessError("connect to \(host):\(port): \(ready > 0 ? errnoDescription(error) : "timed out")")
            }
        }
        var one: Int32 = 1
        setsockopt(socketFD, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        return socketFD
    }
}

extension StringProtocol {
    /// Without leading and trailing SP and HTAB.
    func trimmingWhitespace() -> String {
        let isWhitespace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let start = firstIndex(where: { !isWhitespace($0) }) else { return "" }
        let end = lastIndex(where: { !isWhitespace($0) })!
        return String(self[start ... end])
    }
}
