import CLinux
import Posix

/// Submission helpers: each queues one operation and tags it with `userData`.
/// Nothing here submits; `submitAndWait` does, once per loop turn.
extension Ring {
    /// Accepts connections on `listener` until cancelled or an error ends it
    /// (a completion without `hasMore`).
    @inline(__always)
    public mutating func queueMultishotAccept(listener: CInt, userData: UserData) {
        let sqe = nextEntry()
        io_uring_prep_multishot_accept(sqe, listener, nil, nil, CInt(SOCK_CLOEXEC.rawValue))
        sqe.pointee.user_data = userData.rawValue
    }

    /// Receives into a buffer the kernel picks from provided-buffer group
    /// `group` when data arrives, so a connection holds no buffer while it waits.
    ///
    /// `expectingNothingYet`: the caller knows the peer has had no time to
    /// send (a request was just sent to it, or a response to it): the
    /// kernel then arms its readiness poll at once instead of first trying a
    /// receive that would find nothing (IORING_RECVSEND_POLL_FIRST). Data
    /// already there still completes the receive at once.
    @inline(__always)
    public mutating func queueReceive(fd: CInt, group: UInt16, expectingNothingYet: Bool = false, userData: UserData) {
        let sqe = nextEntry()
        io_uring_prep_recv(sqe, fd, nil, 0, 0)
        if expectingNothingYet { sqe.pointee.ioprio |= UInt16(IORING_RECVSEND_POLL_FIRST) }
        sqe.pointee.flags |= tether_IOSQE_BUFFER_SELECT
        tether_sqe_set_buf_group(sqe, group)
        sqe.pointee.user_data = userData.rawValue
    }

    /// Receives into memory the caller already holds (`count` bytes at `into`).
    @inline(__always)
    public mutating func queueReceive(fd: CInt, into: UnsafeMutableRawPointer, count: Int, expectingNothingYet: Bool = false,
                                      userData: UserData) {
        let sqe = nextEntry()
        io_uring_prep_recv(sqe, fd, into, count, 0)
        if expectingNothingYet { sqe.pointee.ioprio |= UInt16(IORING_RECVSEND_POLL_FIRST) }
        sqe.pointee.user_data = userData.rawValue
    }

    /// Sends `count` bytes; MSG_WAITALL makes the kernel retry short sends
    /// itself, so a short result means the connection failed part-way.
    @inline(__always)
    public mutating func queueSend(fd: CInt, from: UnsafeRawPointer, count: Int, userData: UserData) {
        let sqe = nextEntry()
        io_uring_prep_send(sqe, fd, from, count, CInt(MSG_NOSIGNAL | MSG_WAITALL))
        sqe.pointee.user_data = userData.rawValue
    }

    /// Sends the iovecs of `message`, which must stay valid until completion.
    @inline(__always)
    public mutating func queueSendMessage(fd: CInt, message: UnsafePointer<msghdr>, userData: UserData) {
        let sqe = nextEntry()
        io_uring_prep_sendmsg(sqe, fd, message, UInt32(MSG_NOSIGNAL | MSG_WAITALL))
        sqe.pointee.user_data = userData.rawValue
    }

    /// `address` must stay valid until the submission has been consumed.
    @inline(__always)
    public mutating func queueConnect(fd: CInt, address: UnsafePointer<sockaddr>, length: socklen_t, userData: UserData) {
        let sqe = nextEntry()
        io_uring_prep_connect(sqe, fd, address, length)
        sqe.pointee.user_data = userData.rawValue
    }

    @inline(__always)
    public mutating func queueRead(fd: CInt, into: UnsafeMutableRawPointer, count: UInt32, userData: UserData) {
        let sqe = nextEntry()
        io_uring_prep_read(sqe, fd, into, count, 0)
        sqe.pointee.user_data = userData.rawValue
    }

    /// Writes `count` bytes at the file position (-1 as the offset: for a
    /// file opened with O_APPEND, at its end).
    @inline(__always)
    public mutating func queueWrite(fd: CInt, from: UnsafeRawPointer, count: UInt32, userData: UserData) {
        let sqe = nextEntry()
        io_uring_prep_write(sqe, fd, from, count, UInt64.max)
        sqe.pointee.user_data = userData.rawValue
    }

    /// Cancels every operation still in flight on `fd`, then closes it. The
    /// two are hard-linked so the close runs after the cancel even when there
    /// was nothing to cancel; the cancelled operations complete with
    /// -ECANCELED (or their result, if they had already finished) under their
    /// own user data. Successful completions of the pair are skipped; a failed
    /// one arrives tagged `userData`.
    @inline(__always)
    public mutating func queueCancelAndClose(fd: CInt, userData: UserData) {
        let cancel = nextEntry()
        io_uring_prep_cancel_fd(cancel, fd, UInt32(IORING_ASYNC_CANCEL_ALL))
        cancel.pointee.flags |= tether_IOSQE_IO_HARDLINK | tether_IOSQE_CQE_SKIP_SUCCESS
        cancel.pointee.user_data = userData.rawValue
        let close = nextEntry()
        io_uring_prep_close(close, fd)
        close.pointee.flags |= tether_IOSQE_CQE_SKIP_SUCCESS
        close.pointee.user_data = userData.rawValue
    }

    /// Cancels the one operation tagged `target`.
    @inline(__always)
    public mutating func queueCancel(target: UserData, userData: UserData) {
        let sqe = nextEntry()
        io_uring_prep_cancel64(sqe, target.rawValue, 0)
        sqe.pointee.flags |= tether_IOSQE_CQE_SKIP_SUCCESS
        sqe.pointee.user_data = userData.rawValue
    }
}

extension Ring {
    /// An operation that completes at once with result 0: work to do on the
    /// next turn of the loop, tagged like any other completion.
    @inline(__always)
    public mutating func queueNop(userData: UserData) {
        let sqe = nextEntry()
        io_uring_prep_nop(sqe)
        sqe.pointee.user_data = userData.rawValue
    }
}

extension Ring {
    /// Closes `fd` through the ring (no operation of it is in flight).
    @inline(__always)
    public mutating func queueClose(fd: CInt, userData: UserData) {
        let sqe = nextEntry()
        io_uring_prep_close(sqe, fd)
        sqe.pointee.flags |= tether_IOSQE_CQE_SKIP_SUCCESS
        sqe.pointee.user_data = userData.rawValue
    }
}
