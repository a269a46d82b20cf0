// Byte classification and word-at-a-time (SWAR) search, shared by the scanners.

let asciiCR: UInt8 = 0x0D
let asciiLF: UInt8 = 0x0A
let asciiSP: UInt8 = 0x20
let asciiHTAB: UInt8 = 0x09
let asciiColon: UInt8 = 0x3A
let asciiComma: UInt8 = 0x2C
let asciiSemicolon: UInt8 = 0x3B

/// Bits of the 256-entry byte-class table.
enum ByteClass {
    /// tchar (RFC 9110 §5.6.2): header names, methods, codings.
    static let token: UInt8 = 0x01
    /// HTAB, SP, VCHAR, obs-text: what a field value, reason phrase or
    /// quoted-pair may hold.
    static let fieldValue: UInt8 = 0x02
    /// What `Host` may hold: reg-name, IP-literal and port characters
    /// (RFC 3986 unreserved, pct-encoded, sub-delims, ":", "[", "]").
    static let host: UInt8 = 0x04
    static let hexDigit: UInt8 = 0x08
    /// qdtext of a quoted-string (RFC 9110 §5.6.4).
    static let quotedText: UInt8 = 0x10
    /// SP or HTAB.
    static let whitespace: UInt8 = 0x20
}

/// The class bits of one byte. The table lives in the binary's read-only data
/// (a StaticString of 256 one-byte code units), so a lookup is one load with no
/// bounds check and no lazy-initialisation guard.
@inline(__always)
func byteClass(_ byte: UInt8) -> UInt8 {
    byteClassTable.utf8Start[Int(byte)]
}

let byteClassTable: StaticString = """
    \u{00}\u{00}\u{00}\u{00}\u{00}\u{00}\u{00}\u{00}\u{00}\u{32}\u{00}\u{00}\u{00}\u{00}\u{00}\u{00}\
    \u{00}\u{00}\u{00}\u{00}\u{00}\u{00}\u{00}\u{00}\u{00}\u{00}\u{00}\u{00}\u{00}\u{00}\u{00}\u{00}\
    \u{32}\u{17}\u{02}\u{13}\u{17}\u{17}\u{17}\u{17}\u{16}\u{16}\u{17}\u{17}\u{16}\u{17}\u{17}\u{12}\
    \u{1F}\u{1F}\u{1F}\u{1F}\u{1F}\u{1F}\u{1F}\u{1F}\u{1F}\u{1F}\u{16}\u{16}\u{12}\u{16}\u{12}\u{12}\
    \u{12}\u{1F}\u{1F}\u{1F}\u{1F}\u{1F}\u{1F}\u{17}\u{17}\u{17}\u{17}\u{17}\u{17}\u{17}\u{17}\u{17}\
    \u{17}\u{17}\u{17}\u{17}\u{17}\u{17}\u{17}\u{17}\u{17}\u{17}\u{17}\u{16}\u{02}\u{16}\u{13}\u{17}\
    \u{13}\u{1F}\u{1F}\u{1F}\u{1F}\u{1F}\u{1F}\u{17}\u{17}\u{17}\u{17}\u{17}\u{17}\u{17}\u{17}\u{17}\
    \u{17}\u{17}\u{17}\u{17}\u{17}\u{17}\u{17}\u{17}\u{17}\u{17}\u{17}\u{12}\u{13}\u{12}\u{17}\u{00}\
    \u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\
    \u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\
    \u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\
    \u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\
    \u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\
    \u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\
    \u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\
    \u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}
    """

@inline(__always)
func loadByte(_ base: UnsafeRawPointer, _ offset: Int) -> UInt8 {
    base.load(fromByteOffset: offset, as: UInt8.self)
}

/// Eight bytes from `offset`, first byte in the lowest bits on every platform.
@inline(__always)
func loadWord(_ base: UnsafeRawPointer, _ offset: Int) -> UInt64 {
    UInt64(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
}

@inline(__always)
func loadWord32(_ base: UnsafeRawPointer, _ offset: Int) -> UInt32 {
    UInt32(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
}

@inline(__always)
func loadWord16(_ base: UnsafeRawPointer, _ offset: Int) -> UInt16 {
    UInt16(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
}

/// Word-at-a-time byte predicates. Each returns a word with the high bit of
/// every matching byte set. The `below` and `equal` forms may also flag bytes
/// *above* a true match (a borrow runs upward), never below one, so the lowest
/// set bit always marks the first matching byte, which is all the scanners use.
enum SWAR {
    static let ones: UInt64 = 0x0101_0101_0101_0101
    static let highs: UInt64 = 0x8080_8080_8080_8080

    @inline(__always)
    static func below(_ word: UInt64, _ limit: UInt8) -> UInt64 {
        (word &- ones &* UInt64(limit)) & ~word & highs
    }

    @inline(__always)
    static func equal(_ word: UInt64, _ byte: UInt8) -> UInt64 {
        let x = word ^ (ones &* UInt64(byte))
        return (x &- ones) & ~x & highs
    }

    /// Bytes a field value may not hold, plus HTAB and CR, which the caller
    /// sorts out: CTL (< 0x20) and DEL. Exact for every byte (no borrow runs
    /// between bytes).
    ///
    /// Six operations instead of `below(word, 0x20) | equal(word, 0x7F)`'s
    /// eight, on the hottest loop of a scan: for the low seven bits `l` of a
    /// byte, `(l + 1) & 0x7F` wraps DEL to 0 and moves 0x00...0x1F to
    /// 0x01...0x20, so adding 0x5F reaches the high bit exactly for the bytes
    /// 0x20...0x7E. A byte with its own high bit set (obs-text) is allowed.
    /// No step carries out of its byte: at most 0x7F + 0x5F = 0xDE.
    @inline(__always)
    static func valueStops(_ word: UInt64) -> UInt64 {
        let low7 = ~highs
        let allowed = (((word & low7) &+ ones) & low7) &+ ones &* 0x5F
        return ~(allowed | word) & highs
    }

    /// High bit set for each byte that is an ASCII letter, digit or "-". Only
    /// a byte >= 0x80 carries into the byte above it, and such a byte is never
    /// flagged, so the lowest unflagged byte is always exact (all the name
    /// search uses).
    @inline(__always)
    static func alphanumericOrDash(_ word: UInt64) -> UInt64 {
        let folded = word | ones &* 0x20                                           // A-Z -> a-z
        let letter = (folded &+ ones &* 0x1F) & ~(folded &+ ones &* 0x05)          // 0x61...0x7A
        let digit = (word &+ ones &* 0x50) & ~(word &+ ones &* 0x46)               // 0x30...0x39
        let dashXor = word ^ ones &* 0x2D
        let notDash = ((dashXor & ~highs) &+ ~highs) | dashXor                     // high bit set unless "-"
        return (letter | digit | ~notDash) & ~word & highs
    }

    /// Index (0...7) of the byte whose high bit is the lowest set bit.
    @inline(__always)
    static func firstIndex(_ mask: UInt64) -> Int {
        mask.trailingZeroBitCount &>> 3
    }

    /// ASCII upper-case letters to lower case, eight at a time. Only for words
    /// whose bytes are all below 0x80 (tokens).
    @inline(__always)
    static func lowercased(_ word: UInt64) -> UInt64 {
        let atLeastA = word &+ ones &* 0x3F      // high bit set where byte >= 0x41
        let aboveZ = word &+ ones &* 0x25        // high bit set where byte >= 0x5B
        let upper = atLeastA & ~aboveZ & highs
        return word | (upper &>> 2)
    }
}

/// Offset of the first byte in `start..<end` that is a CTL or DEL (so HTAB
/// and CR count), or `end` if there is none.
@inline(__always)
func firstValueStop(_ base: UnsafeRawPointer, from start: Int, to end: Int) -> Int {
    var p = start
    // Two words per step: half the loop overhead, and the scan is bound by
    // throughput as much as by latency. Most values are 10 to 100 bytes long.
    // One induction variable against a precomputed bound (not `p + 16 <=
    // end`): otherwise the optimizer keeps one counter per offset expression.
    let lastPair = end &- 16
    while p <= lastPair {
        let low = SWAR.valueStops(loadWord(base, p))
        let high = SWAR.valueStops(loadWord(base, p &+ 8))
        if low | high != 0 {
            return p &+ (low != 0 ? SWAR.firstIndex(low) : 8 &+ SWAR.firstIndex(high))
        }
        p &+= 16
    }
    if p &+ 8 <= end {
        let stops = SWAR.valueStops(loadWord(base, p))
        if stops != 0 { return p &+ SWAR.firstIndex(stops) }
        p &+= 8
    }
    while p < end {
        let b = loadByte(base, p)
        if b < asciiSP || b == 0x7F { return p }
        p &+= 1
    }
    return end
}

/// Offset of the first byte in `start..<end` that is not an ASCII letter,
/// digit or "-", or a point at most seven bytes before `end` from which the
/// caller goes on byte by byte.
@inline(__always)
func skipAlphanumericOrDash(_ base: UnsafeRawPointer, from start: Int, to end: Int) -> Int {
    var p = start
    while p &+ 8 <= end {
        let others = ~SWAR.alphanumericOrDash(loadWord(base, p)) & SWAR.highs
        if others != 0 { return p &+ SWAR.firstIndex(others) }
        p &+= 8
    }
    return p
}

/// ASCII lower case of one byte.
@inline(__always)
func asciiLowercased(_ byte: UInt8) -> UInt8 {
    byte &- 0x41 < 26 ? byte | 0x20 : byte
}

/// Index of the first byte in `start..<end` that is not SP or HTAB.
@inline(__always)
func skipWhitespace(_ base: UnsafeRawPointer, from start: Int, to end: Int) -> Int {
    var i = start
    while i < end, byteClass(loadByte(base, i)) & ByteClass.whitespace != 0 { i &+= 1 }
    return i
}

/// One past the last byte in `start..<end` that is not SP or HTAB (`start` if none).
@inline(__always)
func trimWhitespaceBack(_ base: UnsafeRawPointer, from start: Int, to end: Int) -> Int {
    var e = end
    while e > start, byteClass(loadByte(base, e &- 1)) & ByteClass.whitespace != 0 { e &-= 1 }
    return e
}

/// Whether `base[start..<start+count]` equals `literal` (lower-case letters,
/// digits and "-") ignoring ASCII case. The bytes must hold no CTL (a field
/// value or a token): then `b | 0x20` equals a lower-case letter only when `b`
/// is that letter in either case, a digit or "-" only when `b` is that byte,
/// so or-ing 0x20 into whole words folds case exactly. Overlapping loads keep
/// every read inside the range.
@inline(__always)
func equalsFolded(_ base: UnsafeRawPointer, _ start: Int, _ count: Int, _ literal: StaticString) -> Bool {
    guard count == literal.utf8CodeUnitCount else { return false }
    let lit = UnsafeRawPointer(literal.utf8Start)
    if count >= 8 {
        var i = 0
        while i &+ 8 < count {
            if loadWord(base, start &+ i) | SWAR.ones &* 0x20 != loadWord(lit, i) { return false }
            i &+= 8
        }
        return loadWord(base, start &+ count &- 8) | SWAR.ones &* 0x20 == loadWord(lit, count &- 8)
    }
    if count >= 4 {
        return loadWord32(base, start) | 0x2020_2020 == loadWord32(lit, 0)
            && loadWord32(base, start &+ count &- 4) | 0x2020_2020 == loadWord32(lit, count &- 4)
    }
    for i in 0..<count where loadByte(base, start &+ i) | 0x20 != loadByte(lit, i) {
        return false
    }
    return true
}
