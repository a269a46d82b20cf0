import CLinux

/// Non-blocking socket calls for the supervisor's small admin server (the
/// workers use io_uring instead): each returns nil where the call would
/// block.
extension Posix {
    /// A connection from `listener`'s queue, non-blocking and close-on-exec;
    /// nil when none is queued or it vanished before it was taken.
    public static func accept(_ listener: CInt) throws(PosixError) -> CInt? {
        while true {
            let fd = accept4(listener, __SOCKADDR_ARG(__sockaddr__: nil), nil, CInt(SOCK_NONBLOCK.rawValue) | CInt(SOCK_CLOEXEC.rawValue))
            if fd >= 0 { return fd }
            let err = tether_errno()
            switch err {
            case EINTR: continue
            case EAGAIN, ECONNABORTED, EPROTO: return nil
            default:
                crashOnProgrammingError("accept4", err)
                throw PosixError("accept4", errno: err)
            }
        }
    }

    /// Bytes read into `buffer`: 0 at end of stream, nil when none are ready.
    public static func receive(_ fd: CInt, into buffer: UnsafeMutableRawBufferPointer) throws(PosixError) -> Int? {
        while true {
            let n = recv(fd, buffer.baseAddress, buffer.count, 0)
            if n >= 0 { return n }
            let err = tether_errno()
            if err == EINTR { continue }
            if err == EAGAIN { return nil }
            crashOnProgrammingError("recv", err)
            throw PosixError("recv", errno: err)
        }
    }

    /// Bytes of `bytes` sent (never SIGPIPE); nil when the socket buffer is full.
    public static func send(_ fd: CInt, _ bytes: UnsafeRawBufferPointer) throws(PosixError) -> Int? {
        while true {
            let n = CLinux.send(fd, bytes.baseAddress, bytes.count, CInt(MSG_NOSIGNAL))
            if n >= 0 { return n }
            let err = tether_errno()
            if err == EINTR { continue }
            if err == EAGAIN { return nil }
            crashOnProgrammingError("send", err)
            throw PosixError("send", errno: err)
        }
    }

    /// Sends FIN after what was written; errors (the peer is gone) do not matter.
    public static func shutdownWrite(_ fd: CInt) {
        _ = CLinux.shutdown(fd, CInt(SHUT_WR))
    }

    /// Waits for events on `descriptors` (`poll`); an interrupted wait returns 0.
    public static func pollDescriptors(_ descriptors: inout [pollfd], timeoutMilliseconds: CInt) throws(PosixError) -> Int {
        let n = descriptors.withUnsafeMutableBufferPointer { CLinux.poll($0.baseAddress, nfds_t($0.count), timeoutMilliseconds) }
        if n >= 0 { return Int(n) }
        let err = tether_errno()
        if err == EINTR { return 0 }
        throw PosixError("poll", errno: err)
    }

    /// A non-blocking, close-on-exec eventfd: one thread's wake-up call to another.
    public static func eventDescriptor() throws(PosixError) -> CInt {
        try retryingOnInterrupt("eventfd") { eventfd(0, CInt(EFD_NONBLOCK) | CInt(EFD_CLOEXEC)) }
    }

    /// Makes `eventfd` readable.
    public static func signalEvent(_ fd: CInt) {
        var one: UInt64 = 1
        _ = write(fd, &one, 8)
    }

    /// Consumes the events posted to `eventfd`.
    public static func drainEvent(_ fd: CInt) {
        var count: UInt64 = 0
        _ = read(fd, &count, 8)
    }
}

/// A thread of this process (for the supervisor's admin endpoint; workers
/// have one thread each).
public struct PosixThread: Sendable {
    let handle: pthread_t

    /// Starts `body` on a new thread. It inherits the caller's signal mask.
    public init(_ body: @escaping @Sendable () -> Void) throws(PosixError) {
        final class Box { let body: @Sendable () -> Void; init(_ body: @escaping @Sendable () -> Void) { self.body = body } }
        let context = Unmanaged.passRetained(Box(body)).toOpaque()
        var handle = pthread_t()
        let rc = pthread_create(&handle, nil, { raw in
            Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, context)
        if rc != 0 {
            Unmanaged<Box>.fromOpaque(context).release()
            throw PosixError("pthread_create", errno: rc)
        }
        self.handle = handle
    }

    /// Waits for the thread to end.
    public func join() {
        _ = pthread_join(handle, nil)
    }
}
