import Glibc

/// An IP literal and port to listen on: `127.0.0.1:9001` or `[::1]:9001`.
/// Port 0 asks the kernel for a free port; the server reports the real one.
public struct ListenAddress: Sendable, Hashable, CustomStringConvertible {
    public enum Family: Sendable, Hashable { case ipv4, ipv6 }

    public let family: Family
    /// The address without brackets, as given.
    public let host: String
    public let port: UInt16

    public init(parsing text: String) throws(DemoBackendError) {
        func invalid(_ reason: String) -> DemoBackendError {
            .invalidListenAddress(text, reason: reason)
        }
        let hostPart: Substring
        let portPart: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw invalid("missing ']' after the IPv6 address") }
            hostPart = text[text.index(after: text.startIndex) ..< close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw invalid("expected ':PORT' after ']'") }
            portPart = rest.dropFirst()
            family = .ipv6
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw invalid("expected IPv4:PORT or [IPv6]:PORT") }
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
            guard !hostPart.contains(":") else { throw invalid("an IPv6 address must be written in brackets: [ADDRESS]:PORT") }
            family = .ipv4
        }
        guard !portPart.isEmpty, portPart.allSatisfy({ $0.isASCII && $0.isNumber }), let port = UInt16(portPart) else {
            throw invalid("the port must be a number from 0 to 65535")
        }
        self.host = String(hostPart)
        self.port = port
        var probe = in6_addr()
        let converted = inet_pton(family == .ipv4 ? AF_INET : AF_INET6, self.host, &probe)
        guard converted == 1 else {
            throw invalid("'\(hostPart)' is not an \(family == .ipv4 ? "IPv4" : "IPv6") address literal")
        }
    }

    init(family: Family, host: String, port: UInt16) {
        self.family = family
        self.host = host
        self.port = port
    }

    public var description: String {
        switch family {
        case .ipv4: "\(host):\(port)"
        case .ipv6: "[\(host)]:\(port)"
        }
    }

    var addressFamily: Int32 { family == .ipv4 ? AF_INET : AF_INET6 }

    /// Calls `body` with this address as a `sockaddr` and its length.
    func withSocketAddress<Result>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> Result) -> Result {
        switch family {
        case .ipv4:
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            _ = inet_pton(AF_INET, host, &address.sin_addr)
            return withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        case .ipv6:
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            _ = inet_pton(AF_INET6, host, &address.sin6_addr)
            return withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        }
    }

    /// The same address with another port (the one the kernel chose for port 0).
    func withPort(_ newPort: UInt16) -> ListenAddress {
        ListenAddress(family: family, host: host, port: newPort)
    }
}

/// Everything that can stop the demo backend from starting, worded for the operator.
public enum DemoBackendError: Error, CustomStringConvertible, Equatable {
    case invalidListenAddress(String, reason: String)
    case invalidConfiguration(String)
    case systemCall(String, errno: Int32, context: String)

    public var description: String {
        switch self {
        case let .invalidListenAddress(text, reason):
            "invalid listen address '\(text)': \(reason)"
        case let .invalidConfiguration(message):
            message
        case let .systemCall(call, code, context):
            "\(context): \(call) failed: \(String(cString: strerror(code))) (errno \(code))"
        }
    }
}
