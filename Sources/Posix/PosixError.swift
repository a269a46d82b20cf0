import CLinux

/// A failed system call: which call, and the errno it left.
public struct PosixError: Error, Equatable, CustomStringConvertible {
    public let call: StaticString
    public let errno: CInt

    public init(_ call: StaticString, errno: CInt) {
        self.call = call
        self.errno = errno
    }

    public static func == (l: PosixError, r: PosixError) -> Bool {
        l.errno == r.errno && l.call.description == r.call.description
    }

    public var description: String {
        "\(call): \(String(cString: strerror(errno))) (errno \(errno))"
    }
}

/// errno values that can only mean tether passed a bad descriptor or pointer:
/// continuing would corrupt state, so they stop the process with the call's name.
@inline(__always)
func crashOnProgrammingError(_ call: StaticString, _ errno: CInt) {
    if errno == EBADF || errno == EFAULT {
        fatalError("\(call) failed with \(String(cString: strerror(errno))): a tether bug")
    }
}

/// The one retry loop: calls `body` until it stops failing with EINTR.
/// errno is read before anything else runs.
@inline(__always)
func retryingOnInterrupt<R: BinaryInteger>(_ call: StaticString, _ body: () -> R) throws(PosixError) -> R {
    while true {
        let result = body()
        if result >= 0 { return result }
        let err = tether_errno()
        if err == EINTR { continue }
        crashOnProgrammingError(call, err)
        throw PosixError(call, errno: err)
    }
}
