/// The digests the demo backend needs: FNV-1a for `/echo` body reports, SHA-1
/// and Base64 for the WebSocket handshake. None of them is used for security.

/// 64-bit FNV-1a, fed incrementally. `/echo` reports it as `body-fnv64` so a
/// test can check a multi-megabyte body byte-for-byte without echoing it: a
/// dropped, duplicated or reordered byte changes the value.
struct FNV1a64: Sendable {
    static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
    static let prime: UInt64 = 0x0000_0100_0000_01b3

    private(set) var value: UInt64 = FNV1a64.offsetBasis

    init() {}

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var hash = value
        for byte in bytes {
            hash = (hash ^ UInt64(byte)) &* FNV1a64.prime
        }
        value = hash
    }

    /// The value as 16 lower-case hex digits.
    var hexDigest: String { hex16(value) }
}

/// SHA-1 (FIPS 180-4), only for `Sec-WebSocket-Accept`.
struct SHA1: Sendable {
    private var state: (UInt32, UInt32, UInt32, UInt32, UInt32) =
        (0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0)
    private var pending: [UInt8] = []
    private var totalLength: UInt64 = 0

    init() {}

    mutating func update<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        for byte in bytes {
            pending.append(byte)
            totalLength &+= 1
            if pending.count == 64 {
                let block = pending
                compress(block)
                pending.removeAll(keepingCapacity: true)
            }
        }
    }

    consuming func finalize() -> [UInt8] {
        let bitLength = totalLength &* 8
        var tail = pending
        tail.append(0x80)
        while tail.count % 64 != 56 { tail.append(0) }
        for shift in stride(from: 56, through: 0, by: -8) {
            tail.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift)))
        }
        for blockStart in stride(from: 0, to: tail.count, by: 64) {
            compress(tail[blockStart ..< blockStart + 64])
        }
        var digest: [UInt8] = []
        digest.reserveCapacity(20)
        for word in [state.0, state.1, state.2, state.3, state.4] {
            for shift in stride(from: 24, through: 0, by: -8) {
                digest.append(UInt8(truncatingIfNeeded: word >> UInt32(shift)))
            }
        }
        return digest
    }

    static func hash<Bytes: Sequence>(_ bytes: Bytes) -> [UInt8] where Bytes.Element == UInt8 {
        var hasher = SHA1()
        hasher.update(bytes)
        return hasher.finalize()
    }

    private mutating func compress<Block: RandomAccessCollection>(_ block: Block)
    where Block.Element == UInt8, Block.Index == Int {
        var words = [UInt32](repeating: 0, count: 80)
        let base = block.startIndex
        for index in 0 ..< 16 {
            words[index] = UInt32(block[base + 4 * index]) << 24
                | UInt32(block[base + 4 * index + 1]) << 16
                | UInt32(block[base + 4 * index + 2]) << 8
                | UInt32(block[base + 4 * index + 3])
        }
        for index in 16 ..< 80 {
            words[index] = rotateLeft(words[index - 3] ^ words[index - 8] ^ words[index - 14] ^ words[index - 16], 1)
        }
        var (a, b, c, d, e) = state
        for index in 0 ..< 80 {
            let f: UInt32
            let k: UInt32
            switch index {
            case 0 ..< 20: f = (b & c) | (~b & d); k = 0x5A82_7999
            case 20 ..< 40: f = b ^ c ^ d; k = 0x6ED9_EBA1
            case 40 ..< 60: f = (b & c) | (b & d) | (c & d); k = 0x8F1B_BCDC
            default: f = b ^ c ^ d; k = 0xCA62_C1D6
            }
            let temp = rotateLeft(a, 5) &+ f &+ e &+ k &+ words[index]
            e = d
            d = c
            c = rotateLeft(b, 30)
            b = a
            a = temp
        }
        state = (state.0 &+ a, state.1 &+ b, state.2 &+ c, state.3 &+ d, state.4 &+ e)
    }
}

private func rotateLeft(_ value: UInt32, _ count: UInt32) -> UInt32 {
    (value << count) | (value >> (32 - count))
}

/// Standard Base64 with padding (RFC 4648 §4).
func base64Encoded<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    let input = Array(bytes)
    var output: [UInt8] = []
    output.reserveCapacity((input.count + 2) / 3 * 4)
    var index = 0
    while index < input.count {
        let remaining = input.count - index
        let b0 = UInt32(input[index])
        let b1 = remaining > 1 ? UInt32(input[index + 1]) : 0
        let b2 = remaining > 2 ? UInt32(input[index + 2]) : 0
        let group = b0 << 16 | b1 << 8 | b2
        output.append(alphabet[Int(group >> 18 & 63)])
        output.append(alphabet[Int(group >> 12 & 63)])
        output.append(remaining > 1 ? alphabet[Int(group >> 6 & 63)] : UInt8(ascii: "="))
        output.append(remaining > 2 ? alphabet[Int(group & 63)] : UInt8(ascii: "="))
        index += 3
    }
    return String(decoding: output, as: UTF8.self)
}

/// The `Sec-WebSocket-Accept` value for a client's `Sec-WebSocket-Key` (RFC 6455 §4.2.2).
func webSocketAccept(forKey key: String) -> String {
    base64Encoded(SHA1.hash(Array((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").utf8)))
}

func hex16(_ value: UInt64) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out = [UInt8](repeating: UInt8(ascii: "0"), count: 16)
    var remaining = value
    for index in stride(from: 15, through: 0, by: -1) {
        out[index] = digits[Int(remaining & 0xf)]
        remaining >>= 4
    }
    return String(decoding: out, as: UTF8.self)
}
