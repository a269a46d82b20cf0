import CLinux
import Posix

/// One io_uring: setup, submission-queue entries, batched submit-and-wait and
/// completion harvesting. Owned by exactly one thread (the worker's loop).
public struct Ring: ~Copyable {
    @usableFromInline let ring: UnsafeMutablePointer<io_uring>
    let peeked: UnsafeMutablePointer<UnsafeMutablePointer<io_uring_cqe>?>
    static let harvestLimit = 256
    /// The setup flags the kernel accepted.
    public let setupFlags: UInt32
    public let features: UInt32

    /// Creates a ring with `entries` submission slots and a completion queue
    /// four times as deep (both clamped to the kernel's maximum). Asks for a
    /// single issuer and deferred task running; kernels that reject those get
    /// a plain ring.
    public init(entries: UInt32) throws(PosixError) {
        let ring = UnsafeMutablePointer<io_uring>.allocate(capacity: 1)
        ring.initialize(to: io_uring())
        let wanted: [UInt32] = [
            IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL,
            IORING_SETUP_SUBMIT_ALL,
            0,
        ]
        var lastError: CInt = 0
        for extra in wanted {
            var params = io_uring_params()
            params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP | extra
            params.cq_entries = entries * 4
            let rc = io_uring_queue_init_params(entries, ring, &params)
            if rc == 0 {
                self.ring = ring
                peeked = .allocate(capacity: Ring.harvestLimit)
                setupFlags = params.flags
                features = params.features
                return
            }
            lastError = -rc
            if lastError != EINVAL { break }
        }
        ring.deallocate()
        throw PosixError("io_uring_setup", errno: lastError)
    }

    deinit {
        io_uring_queue_exit(ring)
        ring.deallocate()
        peeked.deallocate()
    }

    public var fd: CInt { ring.pointee.ring_fd }

    /// A zeroed submission entry; submits the queue first when it is full.
    @inline(__always)
    public mutating func nextEntry() -> UnsafeMutablePointer<io_uring_sqe> {
        if let sqe = io_uring_get_sqe(ring) { return sqe }
        _ = io_uring_submit(ring)
        guard let sqe = io_uring_get_sqe(ring) else {
            fatalError("io_uring submission queue still full after submit")
        }
        return sqe
    }

    /// Submits everything queued and waits for at least one completion, or
    /// until `timeoutMilliseconds` passes (nil: no limit).
    public mutating func submitAndWait(timeoutMilliseconds: UInt64?) throws(PosixError) {
        let rc: CInt
        if let ms = timeoutMilliseconds {
            var ts = __kernel_timespec(tv_sec: Int64(ms / 1000), tv_nsec: Int64(ms % 1000) * 1_000_000)
            var cqe: UnsafeMutablePointer<io_uring_cqe>? = nil
            rc = io_uring_submit_and_wait_timeout(ring, &cqe, 1, &ts, nil)
        } else {
            rc = io_uring_submit_and_wait(ring, 1)
        }
        if rc >= 0 || rc == -ETIME || rc == -EINTR || rc == -EAGAIN || rc == -EBUSY { return }
        throw PosixError("io_uring_enter", errno: -rc)
    }

    /// Submits everything queued without waiting.
    public mutating func submit() throws(PosixError) {
        let rc = io_uring_submit(ring)
        if rc >= 0 || rc == -EINTR || rc == -EAGAIN || rc == -EBUSY { return }
        throw PosixError("io_uring_enter", errno: -rc)
    }

    /// Copies up to `into.count` completions out of the queue and advances
    /// the queue head once. Returns how many were copied.
    @inline(__always)
    public mutating func harvest(into out: UnsafeMutableBufferPointer<Completion>) -> Int {
        let n = Int(io_uring_peek_batch_cqe(ring, peeked, UInt32(min(out.count, Ring.harvestLimit))))
        for i in 0..<n {
            let cqe = peeked[i].unsafelyUnwrapped
            out[i] = Completion(userData: UserData(rawValue: cqe.pointee.user_data),
                                result: cqe.pointee.res, flags: cqe.pointee.flags)
        }
        if n > 0 { io_uring_cq_advance(ring, UInt32(n)) }
        return n
    }

    // MARK: Registration

    @usableFromInline var raw: UnsafeMutablePointer<io_uring> { ring }
}
