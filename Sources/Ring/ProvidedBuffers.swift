import CLinux
import Posix

/// A registered provided-buffer ring over `count` buffers of `size` bytes
/// that the kernel hands to buffer-select receives as data arrives. A buffer
/// picked by the kernel belongs to the program until `recycle` gives it back.
///
/// Hot buffers first: the kernel takes buffers from the ring in the order
/// they were added, so a ring holding every buffer would hand out the one
/// given back longest ago, and receives would sweep the whole slab (256 MiB
/// per worker by default) through the caches. Instead the ring holds only
/// `fillTarget` buffers; the rest wait on a stack, and each `publish` tops
/// the ring up from the top of that stack: the buffers given back most
/// recently, still in cache. The program reports how many buffers the kernel
/// took (`consumed`), which is how it knows how full the ring is.
///
/// How many the ring holds adapts: twice the most the kernel took between
/// two publishes (a loop turn), at least `minimumFill`; it grows at once when
/// a turn takes more than half of it (a ring taken empty doubles it), and
/// halves after a long quiet stretch. A receive that finds the ring empty
/// fails with ENOBUFS (reported to `consumed` as demand) and the program
/// tries it again once the ring holds buffers. Memory a burst touched stays
/// with the worker (the slab is not given back to the kernel).
public struct ProvidedBuffers: ~Copyable {
    public let group: UInt16
    public let count: Int
    public let size: Int
    public let base: UnsafeMutableRawPointer
    public static let minimumFill = 64
    /// Publishes per quiet-stretch window (see `publish`).
    static let window = 4096
    /// How many buffers `publish` keeps in the ring.
    public private(set) var fillTarget: Int
    var consumedSincePublish = 0
    var windowPeak = 0
    var publishesInWindow = 0
    let ringMemory: UnsafeMutableRawPointer
    let ringBytes: Int
    let mask: CInt
    /// Buffers added to the ring (published or not) and not yet reported taken.
    public private(set) var inRing = 0
    var unpublished: CInt = 0
    /// Buffers neither in the ring nor the program's: a stack, hottest on top.
    let spare: UnsafeMutablePointer<UInt16>
    public private(set) var spareCount = 0

    /// `count` must be a power of two no larger than 32768.
    public init(ring: inout Ring, group: UInt16, count: Int, size: Int) throws(PosixError) {
        precondition(count > 0 && count <= 32768 && count & (count - 1) == 0,
                     "provided-buffer count must be a power of two up to 32768")
        let ringBytes = count * MemoryLayout<io_uring_buf>.stride
        let ringMemory = try Posix.mapAnonymous(bytes: ringBytes)
        let base: UnsafeMutableRawPointer
        do {
            // Reserved, not committed: buffers deep in the spare stack may never be touched.
            base = try Posix.reserveAnonymous(bytes: count * size)
            // Even hot-first, the ring's buffers span megabytes: huge pages
            // keep a receive from costing a TLB miss.
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
        self.fillTarget = min(count, ProvidedBuffers.minimumFill)
        self.ringBytes = ringBytes
        self.ringMemory = ringMemory
        self.base = base
        self.mask = io_uring_buf_ring_mask(UInt32(count))
        spare = .allocate(capacity: count)
        // Buffer 0 on top: the first receives use the start of the slab.
        for id in (0..<count).reversed() { recycle(UInt16(id)) }
        publish()
    }

    deinit {
        Posix.unmap(ringMemory, bytes: ringBytes)
        Posix.unmap(base, bytes: count * size)
        spare.deallocate()
    }

    @inline(__always)
    public func address(of id: UInt16) -> UnsafeMutableRawPointer {
        base + Int(id) * size
    }

    /// Gives buffer `id` back; the ring gets it (or another) at the next `publish`.
    @inline(__always)
    public mutating func recycle(_ id: UInt16) {
        precondition(spareCount < count, "a provided buffer was given back twice")
        spare[spareCount] = id
        spareCount += 1
    }

    /// A buffer for the program's own use, from the spare stack (not the
    /// ring's): nil when every spare one is out. Given back with `recycle`.
    @inline(__always)
    public mutating func take() -> UInt16? {
        if spareCount == 0 { return nil }
        spareCount -= 1
        return spare[spareCount]
    }

    /// The kernel took `n` buffers from the ring (completions carrying a
    /// buffer of this group), and `foundEmpty` receives failed with ENOBUFS:
    /// both count as demand when the fill target adapts.
    @inline(__always)
    public mutating func consumed(_ n: Int, foundEmpty: Int = 0) {
        inRing -= n
        consumedSincePublish += n + foundEmpty
    }

    /// Adapts the fill target, tops the ring up from the spare stack and
    /// makes the additions visible to the kernel in one store. Returns how
    /// many buffers it added.
    @inline(__always) @discardableResult
    public mutating func publish() -> Int {
        let took = consumedSincePublish
        consumedSincePublish = 0
        if took * 2 > fillTarget {
            while fillTarget < count && fillTarget < took * 2 { fillTarget <<= 1 }
        }
        windowPeak = max(windowPeak, took)
        publishesInWindow += 1
        if publishesInWindow == ProvidedBuffers.window {
            if windowPeak * 4 < fillTarget && fillTarget > ProvidedBuffers.minimumFill { fillTarget >>= 1 }
            windowPeak = 0
            publishesInWindow = 0
        }
        let ring = ringMemory.assumingMemoryBound(to: io_uring_buf_ring.self)
        while inRing < fillTarget && spareCount > 0 {
            spareCount -= 1
            let id = spare[spareCount]
            io_uring_buf_ring_add(ring, address(of: id), UInt32(size), id, mask, unpublished)
            unpublished += 1
            inRing += 1
        }
        let added = Int(unpublished)
        if added == 0 { return 0 }
        io_uring_buf_ring_advance(ring, unpublished)
        unpublished = 0
        return added
    }
}
