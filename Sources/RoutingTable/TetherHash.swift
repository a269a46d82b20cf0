/// The one hash function of routing: header values in the table's hash map,
/// rendezvous scores, consistent-hash keys and the image checksum. It is
/// fixed forever (changing it would move pinned clients between tether
/// versions), seedless, and reads 8 bytes per step. Not a MAC: the table
/// holds no secrets and a client gains nothing by colliding values, since
/// every candidate is confirmed by comparing bytes.
public enum TetherHash {
    @usableFromInline static let k0: UInt64 = 0x9E37_79B9_7F4A_7C15
    @usableFromInline static let k1: UInt64 = 0xBF58_476D_1CE4_E5B9
    @usableFromInline static let k2: UInt64 = 0x94D0_49BB_1331_11EB

    /// The splitmix64 finalizer: a bijection with full avalanche.
    @inlinable @inline(__always)
    public static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* k1
        z = (z ^ (z >> 27)) &* k2
        return z ^ (z >> 31)
    }

    @inlinable
    public static func hash(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
        guard let base = bytes.baseAddress else { return mix(seed ^ k0) }
        return hash(base, count: bytes.count, seed: seed)
    }

    @inlinable
    public static func hash(_ p: UnsafeRawPointer, count n: Int, seed: UInt64 = 0) -> UInt64 {
        var h = seed ^ (UInt64(truncatingIfNeeded: n) &* k0)
        var i = 0
        while i &+ 8 <= n {
            let w = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            h = (h ^ w) &* k1
            h ^= h >> 29
            i &+= 8
        }
        if i < n {
            var tail: UInt64 = 0
            var shift: UInt64 = 0
            while i < n {
                tail |= UInt64(p.load(fromByteOffset: i, as: UInt8.self)) << shift
                shift &+= 8
                i &+= 1
            }
            h = (h ^ tail) &* k2
            h ^= h >> 32
        }
        return mix(h)
    }

    @inlinable
    public static func hash(_ bytes: [UInt8]) -> UInt64 {
        bytes.withUnsafeBytes { hash($0) }
    }

    @inlinable
    public static func hash(_ string: String) -> UInt64 {
        var s = string
        return s.withUTF8 { hash(UnsafeRawBufferPointer($0)) }
    }

    /// Score of one (key, server identity, virtual node) triple for
    /// rendezvous hashing.
    @inlinable @inline(__always)
    public static func score(key: UInt64, identity: UInt64, replica: UInt32) -> UInt64 {
        mix(key ^ mix(identity &+ UInt64(replica) &* k0))
    }
}
