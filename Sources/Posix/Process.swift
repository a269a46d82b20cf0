import CLinux

/// How a child process ended, decoded from a waitpid status.
public enum ChildExit: Equatable, CustomStringConvertible {
    case exited(CInt)
    case signaled(CInt)

    /// Decodes a raw waitpid status (the WIFEXITED/WTERMSIG macros).
    public init(waitStatus status: CInt) {
        let low = status & 0x7f
        self = low == 0 ? .exited((status >> 8) & 0xff) : .signaled(low)
    }

    public var description: String {
        switch self {
        case .exited(let code): return "exited with status \(code)"
        case .signaled(let signal): return "killed by signal \(signal) (\(String(cString: strsignal(signal))))"
        }
    }
}

extension Posix {
    // MARK: Processes

    /// Starts `path` with `arguments` (argv[0] included) and this process's
    /// environment. `descriptors` become descriptors 3, 4, ... of the child,
    /// in order, without close-on-exec; every other descriptor is inherited
    /// only if it lacks close-on-exec (tether opens everything with it).
    /// The child starts with only `blockedSignals` blocked (a signal it will
    /// ignore, so that one arriving before it has said so cannot kill it)
    /// and the default disposition for `defaultSignals`.
    public static func spawn(
        _ path: String, arguments: [String], descriptors: [CInt], defaultSignals: [CInt], blockedSignals: [CInt] = []
    ) throws(PosixError) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        var rc = posix_spawn_file_actions_init(&actions)
        if rc != 0 { throw PosixError("posix_spawn_file_actions_init", errno: rc) }
        defer { posix_spawn_file_actions_destroy(&actions) }
        // Two steps, so that a source numbered like a target is never
        // overwritten before it is copied: first to numbers above every
        // source and target, then down to 3, 4, ...; dup2 clears
        // close-on-exec on the copy.
        let high = max(descriptors.max() ?? 0, 2 + CInt(descriptors.count)) + 1
        for (i, fd) in descriptors.enumerated() {
            rc = posix_spawn_file_actions_adddup2(&actions, fd, high + CInt(i))
            if rc != 0 { throw PosixError("posix_spawn_file_actions_adddup2", errno: rc) }
        }
        for i in descriptors.indices {
            rc = posix_spawn_file_actions_adddup2(&actions, high + CInt(i), 3 + CInt(i))
            if rc != 0 { throw PosixError("posix_spawn_file_actions_adddup2", errno: rc) }
        }
        for i in descriptors.indices {
            rc = posix_spawn_file_actions_addclose(&actions, high + CInt(i))
            if rc != 0 { throw PosixError("posix_spawn_file_actions_addclose", errno: rc) }
        }

        var attributes = posix_spawnattr_t()
        rc = posix_spawnattr_init(&attributes)
        if rc != 0 { throw PosixError("posix_spawnattr_init", errno: rc) }
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        for s in blockedSignals { sigaddset(&none, s) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in defaultSignals { sigaddset(&defaults, s) }
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        rc = posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        if rc != 0 { throw PosixError("posix_spawnattr_setflags", errno: rc) }

        let argv = arguments.map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var pid = pid_t()
        rc = posix_spawn(&pid, path, &actions, &attributes, argv, tether_environ())
        if rc != 0 { throw PosixError("posix_spawn", errno: rc) }
        return pid
    }

    /// Reaps one child that has ended, without blocking; nil when none has
    /// (or there are no children).
    public static func reapChild() throws(PosixError) -> (pid: pid_t, exit: ChildExit)? {
        var status: CInt = 0
        while true {
            let pid = waitpid(-1, &status, WNOHANG)
            if pid > 0 { return (pid, ChildExit(waitStatus: status)) }
            if pid == 0 { return nil }
            let err = tether_errno()
            if err == EINTR { continue }
            if err == ECHILD { return nil }
            throw PosixError("waitpid", errno: err)
        }
    }

    /// Sends `signal` to `pid`; false when the process no longer exists.
    @discardableResult
    public static func sendSignal(_ signal: CInt, to pid: pid_t) throws(PosixError) -> Bool {
        if kill(pid, signal) == 0 { return true }
        let err = tether_errno()
        if err == ESRCH { return false }
        throw PosixError("kill", errno: err)
    }

    public static func processID() -> pid_t { getpid() }
    public static func parentProcessID() -> pid_t { getppid() }

    /// The signal this process gets when the thread that started it ends.
    public static func setParentDeathSignal(_ signal: CInt) throws(PosixError) {
        _ = try retryingOnInterrupt("prctl") { tether_set_parent_death_signal(signal) }
    }

    // MARK: Signals and waiting

    /// Blocks `signals` for the calling thread (and what it starts): they
    /// wait, pending, until a signalfd reads them.
    public static func blockSignals(_ signals: [CInt]) {
        var set = sigset_t()
        sigemptyset(&set)
        for s in signals { sigaddset(&set, s) }
        sigprocmask(SIG_BLOCK, &set, nil)
    }

    /// The next signal number queued on a non-blocking signalfd; nil when none is.
    public static func readSignal(_ fd: CInt) throws(PosixError) -> CInt? {
        var info = signalfd_siginfo()
        while true {
            let n = read(fd, &info, MemoryLayout<signalfd_siginfo>.size)
            if n == MemoryLayout<signalfd_siginfo>.size { return CInt(bitPattern: info.ssi_signo) }
            if n >= 0 { throw PosixError("read signalfd", errno: EIO) }
            let err = tether_errno()
            if err == EINTR { continue }
            if err == EAGAIN { return nil }
            crashOnProgrammingError("read signalfd", err)
            throw PosixError("read signalfd", errno: err)
        }
    }

    /// Waits until `fd` is readable or `timeoutMilliseconds` pass (-1: no
    /// limit); true when readable. An interrupted wait reports false.
    public static func waitReadable(_ fd: CInt, timeoutMilliseconds: CInt) throws(PosixError) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let n = poll(&p, 1, timeoutMilliseconds)
        if n >= 0 { return n > 0 }
        let err = tether_errno()
        if err == EINTR { return false }
        throw PosixError("poll", errno: err)
    }

    // MARK: CPUs

    /// The CPUs this process may run on, ascending.
    public static func cpusInAffinity() throws(PosixError) -> [Int] {
        var cpus = [CInt](repeating: 0, count: 1024)
        let n = tether_cpus_in_affinity(&cpus, CInt(cpus.count))
        if n < 0 { throw PosixError("sched_getaffinity", errno: tether_errno()) }
        return cpus.prefix(Int(min(n, CInt(cpus.count)))).map(Int.init)
    }

    /// Restricts the calling thread (and the threads it starts) to `cpu`.
    public static func pinToCPU(_ cpu: Int) throws(PosixError) {
        _ = try retryingOnInterrupt("sched_setaffinity") { tether_sched_pin_to_cpu(CInt(cpu)) }
    }

    // MARK: Sealed memory and files

    /// A close-on-exec memfd holding exactly `bytes`, sealed against every
    /// change, so that whoever inherits it reads what was written.
    public static func sealedMemory(name: String, bytes: [UInt8]) throws(PosixError) -> CInt {
        let fd = try retryingOnInterrupt("memfd_create") { tether_memfd_create_sealable(name) }
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { raw in write(fd, raw.baseAddress! + done, raw.count - done) }
            if n < 0 {
                let err = tether_errno()
                if err == EINTR { continue }
                close(fd)
                throw PosixError("write memfd", errno: err)
            }
            done += n
        }
        if tether_seal_memfd(fd) != 0 {
            let err = tether_errno()
            close(fd)
            throw PosixError("fcntl F_ADD_SEALS", errno: err)
        }
        return fd
    }

    /// Everything in the file `fd` refers to, read from offset 0.
    public static func readAll(_ fd: CInt) throws(PosixError) -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let offset = off_t(out.count)
            let n = chunk.withUnsafeMutableBytes { raw in pread(fd, raw.baseAddress, raw.count, offset) }
            if n < 0 {
                let err = tether_errno()
                if err == EINTR { continue }
                crashOnProgrammingError("pread", err)
                throw PosixError("pread", errno: err)
            }
            if n == 0 { return out }
            out.append(contentsOf: chunk.prefix(n))
        }
    }
}
