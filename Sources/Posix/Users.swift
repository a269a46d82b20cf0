import CLinux

extension Posix {
    /// The uid and primary gid of `user`, or nil when there is no such user.
    public static func lookUpUser(_ user: String) throws(PosixError) -> (uid: uid_t, gid: gid_t)? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>? = nil
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        let rc = getpwnam_r(user, &entry, &buffer, buffer.count, &result)
        if rc != 0 { throw PosixError("getpwnam_r", errno: rc) }
        guard result != nil else { return nil }
        return (entry.pw_uid, entry.pw_gid)
    }

    /// Becomes `user` for good: its groups, its gid, its uid, in that order,
    /// then checks that root cannot be regained. The process stays dumpable
    /// so that processes of the same user (the workers) may open its
    /// /proc/PID/fd entries (the published tables).
    public static func becomeUser(_ user: String, uid: uid_t, gid: gid_t) throws(PosixError) {
        _ = try retryingOnInterrupt("initgroups") { initgroups(user, gid) }
        _ = try retryingOnInterrupt("setgid") { setgid(gid) }
        _ = try retryingOnInterrupt("setuid") { setuid(uid) }
        if uid != 0 && (setuid(0) == 0 || getuid() != uid || geteuid() != uid) {
            throw PosixError("setuid", errno: EPERM)
        }
        _ = try retryingOnInterrupt("prctl") { tether_set_dumpable(1) }
    }

    /// Gives a file (by descriptor) to `uid`/`gid`.
    /// The uid owning the file open at `fd`.
    public static func fileOwner(_ fd: CInt) throws(PosixError) -> uid_t {
        var info = stat()
        _ = try retryingOnInterrupt("fstat") { fstat(fd, &info) }
        return info.st_uid
    }

    /// `gid_t.max` (-1) leaves the group as it is.
    public static func changeOwner(_ fd: CInt, uid: uid_t, gid: gid_t) throws(PosixError) {
        _ = try retryingOnInterrupt("fchown") { fchown(fd, uid, gid) }
    }
}
