import Synchronization
import Glibc

/// Ports this test process has handed out: the kernel may give a closed
/// port to the next bind(0) at once, and tests run in parallel, so one port
/// is never handed to two of them (tether binds with SO_REUSEPORT, which
/// would let both listen on it).
private let handedOut = Mutex<Set<UInt16>>([])

/// A loopback port that was free a moment ago (bind port 0, read it, close),
/// never one handed out before in this process.
/// Prefer letting the server bind port 0 and report its port where it can.
func freeLoopbackPort() throws -> UInt16 {
    for _ in 0..<100 {
        let port = try anyFreeLoopbackPort()
        if handedOut.withLock({ $0.insert(port).inserted }) { return port }
    }
    throw HarnessError("no loopback port that was not handed out already")
}

private func anyFreeLoopbackPort() throws -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw HarnessError("socket: \(errnoDescription())") }
    defer { close(fd) }
    var address = loopbackAddress(port: 0)
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw HarnessError("bind 127.0.0.1:0: \(errnoDescription())") }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let named = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    guard named == 0 else { throw HarnessError("getsockname: \(errnoDescription())") }
    return UInt16(bigEndian: address.sin_port)
}

/// Polls until something accepts TCP connections on `host:port`.
func waitForPort(_ port: UInt16, host: String = "127.0.0.1", timeout: Duration = .seconds(10)) throws {
    let deadline = Deadline(after: timeout)
    var lastError = ""
    repeat {
        do {
            let probe = try RawHTTPConnection(host: host, port: port, timeout: .seconds(1))
            probe.close()
            return
        } catch {
            lastError = "\(error)"
        }
        pollInterval()
    } while !deadline.hasPassed
    throw HarnessError("nothing accepted connections on \(host):\(port) within \(timeout) (last: \(lastError))")
}

func loopbackAddress(port: UInt16) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    return address
}

func errnoDescription(_ code: Int32 = errno) -> String {
    "\(String(cString: strerror(code))) (errno \(code))"
}
