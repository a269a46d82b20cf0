import CLinux

/// The one way into the kernel for everything that is not io_uring: each libc
/// call behind one small function that retries EINTR and names itself in its
/// error.
public enum Posix {
    // MARK: Sockets

    public static func socket(family: CInt, type: CInt) throws(PosixError) -> CInt {
        try retryingOnInterrupt("socket") { CLinux.socket(family, type | CInt(SOCK_CLOEXEC.rawValue), 0) }
    }

    public static func setOption(_ fd: CInt, level: CInt, name: CInt, value: CInt) throws(PosixError) {
        var v = value
        _ = try retryingOnInterrupt("setsockopt") {
            setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<CInt>.size))
        }
    }

    public static func bind(_ fd: CInt, _ address: SocketAddress) throws(PosixError) {
        _ = try retryingOnInterrupt("bind") {
            address.withSockaddr { CLinux.bind(fd, __CONST_SOCKADDR_ARG(__sockaddr__: $0), $1) }
        }
    }

    public static func listen(_ fd: CInt, backlog: CInt) throws(PosixError) {
        _ = try retryingOnInterrupt("listen") { CLinux.listen(fd, backlog) }
    }

    public static func peerAddress(_ fd: CInt) throws(PosixError) -> SocketAddress {
        var a = SocketAddress()
        _ = try retryingOnInterrupt("getpeername") {
            a.withMutableSockaddr { getpeername(fd, __SOCKADDR_ARG(__sockaddr__: $0), $1) }
        }
        return a
    }

    public static func localAddress(_ fd: CInt) throws(PosixError) -> SocketAddress {
        var a = SocketAddress()
        _ = try retryingOnInterrupt("getsockname") {
            a.withMutableSockaddr { getsockname(fd, __SOCKADDR_ARG(__sockaddr__: $0), $1) }
        }
        return a
    }

    /// Linux releases the descriptor even when close reports EINTR, so close
    /// is never retried; its errors say nothing the caller can act on, except
    /// EBADF, which is a bug.
    public static func close(_ fd: CInt) {
        if CLinux.close(fd) != 0 {
            crashOnProgrammingError("close", tether_errno())
        }
    }

    // MARK: Memory

    /// Anonymous private memory, zero-filled, page-aligned.
    public static func mapAnonymous(bytes: Int) throws(PosixError) -> UnsafeMutableRawPointer {
        let p = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        if p == nil || p == UnsafeMutableRawPointer(bitPattern: -1) {
            throw PosixError("mmap", errno: tether_errno())
        }
        return p!
    }

    /// Asks for transparent huge pages on `bytes` at `address` (a mapping
    /// made here): for memory the data path sweeps through, where 4 KiB
    /// pages would cost a TLB miss on nearly every touch. Advice only: false
    /// when the kernel declines (THP disabled), and nothing else changes.
    @discardableResult
    public static func adviseHugePages(_ address: UnsafeMutableRawPointer, bytes: Int) -> Bool {
        madvise(address, bytes, MADV_HUGEPAGE) == 0
    }

    /// Address space for `bytes` that takes memory only where it is touched
    /// (MAP_NORESERVE): for buffer slabs sized for the worst case.
    public static func reserveAnonymous(bytes: Int) throws(PosixError) -> UnsafeMutableRawPointer {
        let p = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        if p == nil || p == UnsafeMutableRawPointer(bitPattern: -1) {
            throw PosixError("mmap", errno: tether_errno())
        }
        return p!
    }

    /// `count` bytes from the kernel's CSPRNG (getrandom(2)).
    public static func randomBytes(_ count: Int) throws(PosixError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let n = bytes.withUnsafeMutableBytes { getrandom($0.baseAddress! + filled, count - filled, 0) }
            if n < 0 {
                let e = tether_errno()
                if e == EINTR { continue }
                throw PosixError("getrandom", errno: e)
            }
            filled += n
        }
        return bytes
    }

    /// A shared mapping of `bytes` of the file `fd` from offset 0.
    public static func mapShared(_ fd: CInt, bytes: Int, writable: Bool) throws(PosixError) -> UnsafeMutableRawPointer {
        let protection = writable ? PROT_READ | PROT_WRITE : PROT_READ
        let p = mmap(nil, bytes, protection, MAP_SHARED, fd, 0)
        if p == nil || p == UnsafeMutableRawPointer(bitPattern: -1) {
            throw PosixError("mmap", errno: tether_errno())
        }
        return p!
    }

    /// Opens `path` (close-on-exec).
    public static func open(_ path: String, flags: CInt, mode: UInt32 = 0o600) throws(PosixError) -> CInt {
        try retryingOnInterrupt("open") { tether_open(path, flags, mode) }
    }

    /// Sets the size of the file `fd`.
    public static func setFileSize(_ fd: CInt, bytes: Int) throws(PosixError) {
        _ = try retryingOnInterrupt("ftruncate") { ftruncate(fd, off_t(bytes)) }
    }

    /// The size of the file `fd`.
    public static func fileSize(_ fd: CInt) throws(PosixError) -> Int {
        var st = stat()
        _ = try retryingOnInterrupt("fstat") { fstat(fd, &st) }
        return Int(st.st_size)
    }

    /// Creates the directory `path` (mode 0700) unless it exists.
    public static func makeDirectory(_ path: String) throws(PosixError) {
        if mkdir(path, 0o700) != 0 {
            let err = tether_errno()
            if err != EEXIST { throw PosixError("mkdir", errno: err) }
        }
    }

    public static func unmap(_ p: UnsafeMutableRawPointer, bytes: Int) {
        if munmap(p, bytes) != 0 { crashOnProgrammingError("munmap", tether_errno()) }
    }

    // MARK: Limits, signals, time, output

    /// Raises the soft RLIMIT_NOFILE to the hard limit; returns the new soft limit.
    public static func raiseOpenFileLimit() throws(PosixError) -> UInt64 {
        var r = rlimit()
        _ = try retryingOnInterrupt("getrlimit") { getrlimit(RLIMIT_NOFILE, &r) }
        if r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max
            _ = try retryingOnInterrupt("setrlimit") { setrlimit(RLIMIT_NOFILE, &r) }
        }
        return UInt64(r.rlim_cur)
    }

    /// Blocks `signals` for the calling thread and returns a non-blocking
    /// signalfd that reads them.
    public static func signalDescriptor(_ signals: [CInt]) throws(PosixError) -> CInt {
        try retryingOnInterrupt("signalfd") {
            signals.withUnsafeBufferPointer {
                tether_block_signals_and_open_signalfd($0.baseAddress, CInt($0.count))
            }
        }
    }

    public static func ignoreSignal(_ signal: CInt) {
        tether_ignore_signal(signal)
    }

    /// CLOCK_MONOTONIC_COARSE in milliseconds: a vDSO read, no system call.
    @inline(__always)
    public static func monotonicMilliseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC_COARSE, &ts)
        return UInt64(ts.tv_sec) &* 1000 &+ UInt64(ts.tv_nsec) / 1_000_000
    }

    /// CLOCK_MONOTONIC in microseconds (a vDSO read): for durations finer
    /// than the coarse clock's ticks.
    @inline(__always)
    public static func monotonicMicroseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000 &+ UInt64(ts.tv_nsec) / 1000
    }

    /// CLOCK_REALTIME_COARSE in milliseconds since the Unix epoch (a vDSO read).
    @inline(__always)
    public static func wallMillisecondsCoarse() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME_COARSE, &ts)
        return UInt64(ts.tv_sec) &* 1000 &+ UInt64(ts.tv_nsec) / 1_000_000
    }

    /// CLOCK_REALTIME in milliseconds since the epoch: for timestamps people read.
    public static func wallClockMilliseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UInt64(ts.tv_sec) &* 1000 &+ UInt64(ts.tv_nsec) / 1_000_000
    }

    /// Writes all of `bytes`; used for log lines on stderr.
    public static func writeAll(_ fd: CInt, _ bytes: UnsafeRawBufferPointer) throws(PosixError) {
        var done = 0
        while done < bytes.count {
            let n = try retryingOnInterrupt("write") {
                CLinux.write(fd, bytes.baseAddress! + done, bytes.count - done)
            }
            done += n
        }
    }
}
