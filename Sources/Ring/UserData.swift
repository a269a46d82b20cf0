/// The 64 bits an io_uring operation carries to its completion: what the
/// operation was, which slot it belongs to, and the slot's generation when it
/// was issued, so a completion for a slot that has since been reused is
/// recognised as stale.
///
///     bits  0..<8   operation kind (the owner's enum raw value)
///     bits  8..<32  slot index (up to 16,777,215)
///     bits 32..<64  generation
@frozen
public struct UserData: Equatable {
    public var rawValue: UInt64

    public static let maxSlot: UInt32 = (1 << 24) - 1

    @inline(__always)
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    @inline(__always)
    public init(kind: UInt8, slot: UInt32, generation: UInt32) {
        precondition(slot <= UserData.maxSlot)
        rawValue = UInt64(kind) | UInt64(slot) << 8 | UInt64(generation) << 32
    }

    public var kind: UInt8 { UInt8(truncatingIfNeeded: rawValue) }
    public var slot: UInt32 { UInt32(truncatingIfNeeded: rawValue >> 8) & UserData.maxSlot }
    public var generation: UInt32 { UInt32(truncatingIfNeeded: rawValue >> 32) }
}

/// One completion, copied out of the completion queue.
@frozen
public struct Completion {
    public var userData: UserData
    /// The operation's return value: a count or descriptor, or `-errno`.
    public var result: Int32
    public var flags: UInt32

    @inline(__always)
    public init(userData: UserData, result: Int32, flags: UInt32) {
        self.userData = userData
        self.result = result
        self.flags = flags
    }

    /// The provided buffer the kernel picked for a buffer-select receive.
    public var bufferID: UInt16? {
        flags & IORING_CQE_F_BUFFER_BIT != 0 ? UInt16(truncatingIfNeeded: flags >> 16) : nil
    }

    /// More completions will follow for this (multishot) operation.
    public var hasMore: Bool { flags & IORING_CQE_F_MORE_BIT != 0 }
}

let IORING_CQE_F_BUFFER_BIT: UInt32 = 1 << 0
let IORING_CQE_F_MORE_BIT: UInt32 = 1 << 1
