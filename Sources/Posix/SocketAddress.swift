import RoutingTable
import CLinux

/// An IPv4 or IPv6 socket address (sockaddr_storage and its length).
///
/// Built from the raw address bytes so that this module does not depend on
/// the pure `RoutingTable` module's `IPAddress`.
public struct SocketAddress: CustomStringConvertible {
    public var storage = sockaddr_storage()
    public var length = socklen_t(MemoryLayout<sockaddr_storage>.size)

    public init() {}

    /// `address` holds the four bytes in network order.
    public init(v4 address: (UInt8, UInt8, UInt8, UInt8), port: UInt16) {
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = port.bigEndian
        withUnsafeMutableBytes(of: &sin.sin_addr) { raw in
            raw[0] = address.0; raw[1] = address.1; raw[2] = address.2; raw[3] = address.3
        }
        withUnsafeMutableBytes(of: &storage) { raw in
            withUnsafeBytes(of: sin) { raw.copyMemory(from: $0) }
        }
        length = socklen_t(MemoryLayout<sockaddr_in>.size)
    }

    /// `address` yields the sixteen bytes in network order.
    public init(v6 address: some Sequence<UInt8>, port: UInt16) {
        var sin6 = sockaddr_in6()
        sin6.sin6_family = sa_family_t(AF_INET6)
        sin6.sin6_port = port.bigEndian
        withUnsafeMutableBytes(of: &sin6.sin6_addr) { raw in
            var i = 0
            for b in address where i < 16 { raw[i] = b; i += 1 }
            precondition(i == 16, "an IPv6 address has 16 bytes")
        }
        withUnsafeMutableBytes(of: &storage) { raw in
            withUnsafeBytes(of: sin6) { raw.copyMemory(from: $0) }
        }
        length = socklen_t(MemoryLayout<sockaddr_in6>.size)
    }

    public var family: CInt { CInt(storage.ss_family) }

    public var port: UInt16 {
        withUnsafeBytes(of: storage) { raw in
            // sin_port and sin6_port sit at the same offset.
            UInt16(bigEndian: raw.load(fromByteOffset: 2, as: UInt16.self))
        }
    }

    /// The address bytes in network order: 4 for IPv4, 16 for IPv6. An
    /// IPv4-mapped IPv6 address (a dual-stack listener's IPv4 client) yields
    /// its 4 IPv4 bytes.
    public func withAddressBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        withUnsafeBytes(of: storage) { raw in
            if family == AF_INET {
                return body(UnsafeRawBufferPointer(rebasing: raw[4..<8]))
            }
            let a = UnsafeRawBufferPointer(rebasing: raw[8..<24])
            let mapped = a[0..<10].allSatisfy { $0 == 0 } && a[10] == 0xff && a[11] == 0xff
            return body(mapped ? UnsafeRawBufferPointer(rebasing: a[12..<16]) : a)
        }
    }

    /// Writes the address in text form (no port; IPv4-mapped addresses as
    /// IPv4) into `out` and returns the byte count. `out` needs 46 bytes.
    public func formatHost(into out: UnsafeMutableRawBufferPointer) -> Int {
        precondition(out.count >= Int(INET6_ADDRSTRLEN))
        return withAddressBytes { bytes in
            let af = bytes.count == 4 ? AF_INET : AF_INET6
            guard inet_ntop(af, bytes.baseAddress, out.baseAddress!.assumingMemoryBound(to: CChar.self),
                            socklen_t(out.count)) != nil else { return 0 }
            return strlen(out.baseAddress!.assumingMemoryBound(to: CChar.self))
        }
    }

    /// "10.0.0.1:80" or "[::1]:80".
    public var description: String {
        var text = [UInt8](repeating: 0, count: 64)
        let n = text.withUnsafeMutableBytes { formatHost(into: $0) }
        let host = String(decoding: text[0..<n], as: UTF8.self)
        return (family == AF_INET6 && n > 0 && !host.contains(".") ? "[\(host)]" : host) + ":\(port)"
    }

    public func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        withUnsafeBytes(of: storage) { raw in
            body(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), length)
        }
    }

    public mutating func withMutableSockaddr<R>(_ body: (UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> R) -> R {
        length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        var len = length
        let r = withUnsafeMutableBytes(of: &storage) { raw in
            body(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), &len)
        }
        length = len
        return r
    }
}

extension SocketAddress {
    /// The socket address of a routing-table address.
    public init(_ address: IPAddress, port: UInt16) {
        let o = address.octets
        if address.family == .v4 {
            self.init(v4: (o[0], o[1], o[2], o[3]), port: port)
        } else {
            self.init(v6: o, port: port)
        }
    }
}
