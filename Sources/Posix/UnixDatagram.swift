import CLinux

extension Posix {
    /// Sends one datagram to the AF_UNIX socket at `path` ("@name" for the
    /// abstract namespace, as systemd writes NOTIFY_SOCKET).
    public static func sendUnixDatagram(_ bytes: [UInt8], to path: String) throws(PosixError) {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var pathBytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !pathBytes.isEmpty, pathBytes.count < capacity else { throw PosixError("sendto", errno: ENAMETOOLONG) }
        let abstract = pathBytes[0] == UInt8(ascii: "@")
        if abstract { pathBytes[0] = 0 }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: pathBytes) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + pathBytes.count + (abstract ? 0 : 1))
        let fd = try socket(family: AF_UNIX, type: CInt(SOCK_DGRAM.rawValue))
        defer { close(fd) }
        _ = try retryingOnInterrupt("sendto") {
            bytes.withUnsafeBytes { b in
                withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(fd, b.baseAddress, b.count, CInt(MSG_NOSIGNAL), __CONST_SOCKADDR_ARG(__sockaddr__: $0), length)
                    }
                }
            }
        }
    }
}
