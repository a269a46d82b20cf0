/// 64-bit FNV-1a as lower-case hex: what the demo backend's `/echo` reports
/// as `body-fnv64`.
func fnv1a64Hex(_ bytes: [UInt8]) -> String {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    bytes.withUnsafeBufferPointer { buffer in
        for byte in buffer {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
    }
    let hex = String(hash, radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
}

/// What the demo backend's `/bytes/N` sends: byte i is `UInt8(i % 251)`.
func patternBytes(count: Int) -> [UInt8] {
    let period = (0 ..< 251).map { UInt8($0) }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(count)
    while bytes.count < count {
        bytes += period.prefix(count - bytes.count)
    }
    return bytes
}

/// Where `actual` first differs from `expected`, in words; nil when they are
/// equal. For `#expect` on large bodies, whose failure message would
/// otherwise print every byte.
func difference(_ actual: [UInt8], from expected: [UInt8]) -> String? {
    let common = min(actual.count, expected.count)
    let mismatch = actual.withUnsafeBufferPointer { left in
        expected.withUnsafeBufferPointer { right in
            (0 ..< common).first { left[$0] != right[$0] }
        }
    }
    if let mismatch {
        return "byte \(mismatch) is \(actual[mismatch]), expected \(expected[mismatch]) (\(actual.count) bytes, expected \(expected.count))"
    }
    return actual.count == expected.count ? nil : "\(actual.count) bytes, expected \(expected.count)"
}
