import CLinux
import Posix

/// A registered provided-buffer ring: `count` buffers of `size` bytes that the
/// kernel hands to buffer-select receives as data arrives. A buffer picked by
/// the kernel belongs to the program until `recycle` gives it back.
public struct ProvidedBuffers: ~Copyable {
    public let group: UInt16
    public let count: Int
    public let size: Int
    public let base: UnsafeMutableRawPointer
    let ringMemory: UnsafeMutableRawPointer
    let ringBytes: Int
    let mask: CInt
    var unpublished: CInt = 0

    /// `count` must be a power of two no larger than 32768.
    public init(ring: inout Ring, group: UInt16, count: Int, size: Int) throws(PosixError) {
        precondition(count > 0 && count <= 32768 && count & (count - 1) == 0,
                     "provided-buffer count must be a power of two up to 32768")
        let ringBytes = count * MemoryLayout<io_uring_buf>.stride
        let ringMemory = try Posix.mapAnonymous(bytes: ringBytes)
        let base: UnsafeMutableRawPointer
        do {
            base = try Posix.mapAnonymous(bytes: count * size)
            // The kernel hands the buffers out in ring order, so receives
            // sweep the whole slab: huge pages keep that from being a TLB
            // miss per receive.
            Posix.adviseHugePages(base, bytes: count * size)
        } catch {
            Posix.unmap(ringMemory, bytes: ringBytes)
            throw error
        }
        io_uring_buf_ring_init(ringMemory.assumingMemoryBound(to: io_uring_buf_ring.self))
        var reg = io_uring_buf_reg()
        reg.ring_addr = UInt64(UInt(bitPattern: ringMemory))
        reg.ring_entries = UInt32(count)
        reg.bgid = group
        let rc = io_uring_register_buf_ring(ring.raw, &reg, 0)
        if rc != 0 {
            Posix.unmap(ringMemory, bytes: ringBytes)
            Posix.unmap(base, bytes: count * size)
            throw PosixError("io_uring_register_buf_ring", errno: -rc)
        }
        self.group = group
        self.count = count
        self.size = size
        self.ringBytes = ringBytes
        self.ringMemory = ringMemory
        self.base = base
        self.mask = io_uring_buf_ring_mask(UInt32(count))
        for id in 0..<count { recycle(UInt16(id)) }
        publish()
    }

    deinit {
        Posix.unmap(ringMemory, bytes: ringBytes)
        Posix.unmap(base, bytes: count * size)
    }

    @inline(__always)
    public func address(of id: UInt16) -> UnsafeMutableRawPointer {
        base + Int(id) * size
    }

    /// Queues buffer `id` for return to the kernel; `publish` makes the
    /// returns visible in one store.
    @inline(__always)
    public mutating func recycle(_ id: UInt16) {
        io_uring_buf_ring_add(ringMemory.assumingMemoryBound(to: io_uring_buf_ring.self),
                              address(of: id), UInt32(size), id, mask, unpublished)
        unpublished += 1
    }

    @inline(__always)
    public mutating func publish() {
        if unpublished == 0 { return }
        io_uring_buf_ring_advance(ringMemory.assumingMemoryBound(to: io_uring_buf_ring.self), unpublished)
        unpublished = 0
    }
}
