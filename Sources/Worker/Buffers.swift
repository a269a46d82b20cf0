import Posix
import Ring

/// Names one receive buffer: ids below the provided-ring count are kernel
/// provided buffers; the ids above name the few large buffers that hold a
/// request or response head too big for one provided buffer, and after
/// those come the buffers TLS connections decrypt into.
typealias BufferID = UInt32

extension BufferID {
    static let none: BufferID = .max
}

/// The unconsumed bytes an endpoint holds: `start..<end` of buffer `id`.
/// An endpoint with nothing pending holds no buffer (`id == .none`).
struct InputBuffer {
    var id: BufferID = .none
    var start: UInt32 = 0
    var end: UInt32 = 0

    var holdsBuffer: Bool { id != .none }
    var count: Int { Int(end &- start) }
    var isEmpty: Bool { start == end }
}

/// Every receive buffer of one worker: the registered provided-buffer ring
/// that buffer-select receives draw from, a small stack of large buffers,
/// and (once a table has a TLS virtual service) a stack of plaintext
/// buffers as large as provided ones.
struct BufferPool: ~Copyable {
    var provided: ProvidedBuffers
    let largeBase: UnsafeMutableRawPointer
    let largeSize: Int
    let largeCount: Int
    let largeFree: UnsafeMutablePointer<UInt32>
    var largeFreeCount: Int
    /// The first plaintext buffer's id: one past the last large buffer.
    let plaintextFirst: UInt32
    var plaintextBase: UnsafeMutableRawPointer? = nil
    var plaintextCount = 0
    var plaintextFree: UnsafeMutablePointer<UInt32>? = nil
    var plaintextFreeCount = 0
    /// Plaintext buffers released since the last `publish`.
    var plaintextReleasedSincePublish = 0

    init(ring: inout Ring, providedCount: Int, providedSize: Int, largeCount: Int, largeSize: Int) throws(PosixError) {
        let largeBase = try Posix.mapAnonymous(bytes: max(1, largeCount * largeSize))
        do {
            provided = try ProvidedBuffers(ring: &ring, group: 0, count: providedCount, size: providedSize)
        } catch {
            Posix.unmap(largeBase, bytes: max(1, largeCount * largeSize))
            throw error
        }
        self.largeBase = largeBase
        self.largeSize = largeSize
        self.largeCount = largeCount
        largeFree = .allocate(capacity: max(1, largeCount))
        for i in 0..<largeCount { largeFree[i] = UInt32(largeCount - 1 - i) }
        largeFreeCount = largeCount
        plaintextFirst = UInt32(providedCount + largeCount)
    }

    deinit {
        Posix.unmap(largeBase, bytes: max(1, largeCount * largeSize))
        largeFree.deallocate()
        if let plaintextBase { Posix.unmap(plaintextBase, bytes: plaintextCount * provided.size) }
        plaintextFree?.deallocate()
    }

    /// Makes `count` plaintext buffers for TLS connections (once; memory is
    /// taken only as they are first used).
    mutating func enablePlaintext(count: Int) throws(PosixError) {
        guard plaintextBase == nil else { return }
        plaintextBase = try Posix.reserveAnonymous(bytes: count * provided.size)
        let free = UnsafeMutablePointer<UInt32>.allocate(capacity: count)
        for i in 0..<count { free[i] = plaintextFirst + UInt32(count - 1 - i) }
        plaintextFree = free
        plaintextCount = count
        plaintextFreeCount = count
    }

    mutating func takePlaintext() -> BufferID? {
        guard plaintextFreeCount > 0, let free = plaintextFree else { return nil }
        plaintextFreeCount -= 1
        return free[plaintextFreeCount]
    }

    var providedSize: Int { provided.size }

    @inline(__always)
    func address(_ id: BufferID) -> UnsafeMutableRawPointer {
        if id < UInt32(provided.count) { return provided.address(of: UInt16(id)) }
        if id < plaintextFirst { return largeBase + Int(id - UInt32(provided.count)) * largeSize }
        return plaintextBase.unsafelyUnwrapped + Int(id - plaintextFirst) * provided.size
    }

    @inline(__always)
    func capacity(_ id: BufferID) -> Int {
        isLarge(id) ? largeSize : provided.size
    }

    @inline(__always)
    func isLarge(_ id: BufferID) -> Bool { id >= UInt32(provided.count) && id < plaintextFirst }

    /// Gives a buffer back: provided ones to the kernel (visible at the next
    /// `publish`), large ones to the stack.
    @inline(__always)
    mutating func release(_ id: BufferID) {
        if id < UInt32(provided.count) {
            provided.recycle(UInt16(id))
        } else if id < plaintextFirst {
            largeFree[largeFreeCount] = id - UInt32(provided.count)
            largeFreeCount += 1
        } else {
            plaintextFree.unsafelyUnwrapped[plaintextFreeCount] = id
            plaintextFreeCount += 1
            plaintextReleasedSincePublish += 1
        }
    }

    mutating func takeLarge() -> BufferID? {
        if largeFreeCount == 0 { return nil }
        largeFreeCount -= 1
        return largeFree[largeFreeCount] + UInt32(provided.count)
    }

    /// Tops the kernel's ring up with recycled provided buffers (once per
    /// loop turn); returns how many buffers of any kind became available
    /// since the last call, provided ones counted as the ring got them.
    @inline(__always)
    mutating func publish() -> Int {
        let n = provided.publish()
        let plaintext = plaintextReleasedSincePublish
        plaintextReleasedSincePublish = 0
        return n + plaintext
    }

    @inline(__always)
    func bytes(_ input: InputBuffer) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: address(input.id) + Int(input.start), count: input.count)
    }

    /// Moves `input` so that more bytes can arrive after it in the same
    /// buffer: compacts it to the buffer's start, or moves it to a large
    /// buffer when it fills a provided one and may grow to `limit`. False
    /// when there is no room to give.
    mutating func makeRoom(_ input: inout InputBuffer, limit: Int) -> Bool {
        let capacity = self.capacity(input.id)
        if Int(input.end) < capacity { return true }
        if input.start > 0 {
            let base = address(input.id)
            base.copyMemory(from: base + Int(input.start), byteCount: input.count)
            input.end -= input.start
            input.start = 0
            return true
        }
        guard !isLarge(input.id), capacity < limit, let large = takeLarge() else { return false }
        address(large).copyMemory(from: address(input.id), byteCount: input.count)
        release(input.id)
        input.id = large
        return true
    }

    @inline(__always)
    mutating func releaseInput(_ input: inout InputBuffer) {
        if input.holdsBuffer { release(input.id) }
        input = InputBuffer()
    }
}
