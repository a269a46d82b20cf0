/// An IPv4 or IPv6 address in network byte order, parsed without libc so the
/// pure modules can validate and store it.
public struct IPAddress: Sendable, Hashable, CustomStringConvertible {
    public enum Family: UInt8, Sendable { case v4 = 4, v6 = 6 }

    public let family: Family
    /// IPv4 uses the first four bytes; the rest are zero.
    public let bytes: (UInt64, UInt64)

    public init(v4 a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        family = .v4
        bytes = (UInt64(a) | UInt64(b) << 8 | UInt64(c) << 16 | UInt64(d) << 24, 0)
    }

    /// From the two words of `bytes`, as a table stores them.
    public init(family: Family, rawBytes: (UInt64, UInt64)) {
        self.family = family
        self.bytes = rawBytes
    }

    /// From 16 bytes in network order (`family == .v4` reads the first four).
    public init(family: Family, octets: [UInt8]) {
        precondition(octets.count == (family == .v4 ? 4 : 16))
        var lo: UInt64 = 0, hi: UInt64 = 0
        for (i, o) in octets.enumerated() {
            if i < 8 { lo |= UInt64(o) << (8 * UInt64(i)) } else { hi |= UInt64(o) << (8 * UInt64(i - 8)) }
        }
        self.family = family
        self.bytes = (lo, hi)
    }

    public var octets: [UInt8] {
        let n = family == .v4 ? 4 : 16
        return (0..<n).map { i in
            i < 8 ? UInt8(truncatingIfNeeded: bytes.0 >> (8 * UInt64(i)))
                  : UInt8(truncatingIfNeeded: bytes.1 >> (8 * UInt64(i - 8)))
        }
    }

    public static func == (l: IPAddress, r: IPAddress) -> Bool {
        l.family == r.family && l.bytes.0 == r.bytes.0 && l.bytes.1 == r.bytes.1
    }

    public func hash(into h: inout Hasher) {
        h.combine(family)
        h.combine(bytes.0)
        h.combine(bytes.1)
    }

    /// Parses "10.0.0.1", "::1", "2001:db8::1", "::ffff:10.0.0.1" and the
    /// bracketed "[::1]". Returns nil for anything else.
    public init?(_ text: String) {
        var s = Substring(text)
        if s.hasPrefix("[") && s.hasSuffix("]") { s = s.dropFirst().dropLast() }
        if let v4 = IPAddress.parseV4(s) {
            self.init(family: .v4, octets: v4)
        } else if let v6 = IPAddress.parseV6(s) {
            self.init(family: .v6, octets: v6)
        } else {
            return nil
        }
    }

    static func parseV4(_ s: Substring) -> [UInt8]? {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out: [UInt8] = []
        for p in parts {
            guard !p.isEmpty, p.count <= 3, p.allSatisfy({ $0.isASCII && $0.isNumber }),
                  !(p.count > 1 && p.first == "0"), let v = UInt8(p) else { return nil }
            out.append(v)
        }
        return out
    }

    private static func splitOnDoubleColon(_ s: Substring) -> [Substring] {
        var parts: [Substring] = []
        var start = s.startIndex, i = s.startIndex
        while i < s.endIndex {
            let next = s.index(after: i)
            if s[i] == ":" && next < s.endIndex && s[next] == ":" {
                parts.append(s[start..<i])
                start = s.index(after: next)
                i = start
            } else {
                i = next
            }
        }
        parts.append(s[start..<s.endIndex])
        return parts
    }

    static func parseV6(_ s: Substring) -> [UInt8]? {
        guard !s.isEmpty, s.count <= 45 else { return nil }
        let halves = splitOnDoubleColon(s)
        guard halves.count <= 2 else { return nil }
        func groups(_ part: Substring, allowV4Tail: Bool) -> [UInt8]? {
            if part.isEmpty { return [] }
            var out: [UInt8] = []
            let fields = part.split(separator: ":", omittingEmptySubsequences: false)
            for (i, f) in fields.enumerated() {
                if allowV4Tail && i == fields.count - 1 && f.contains(".") {
                    guard let v4 = parseV4(f) else { return nil }
                    out += v4
                    continue
                }
                guard (1...4).contains(f.count), f.allSatisfy({ $0.isHexDigit }),
                      let v = UInt16(f, radix: 16) else { return nil }
                out += [UInt8(v >> 8), UInt8(v & 0xff)]
            }
            return out
        }
        if halves.count == 1 {
            guard let all = groups(s, allowV4Tail: true), all.count == 16 else { return nil }
            return all
        }
        guard let head = groups(halves[0], allowV4Tail: false),
              let tail = groups(halves[1], allowV4Tail: true),
              head.count + tail.count <= 14 else { return nil }
        return head + Array(repeating: 0, count: 16 - head.count - tail.count) + tail
    }

    public var description: String {
        let o = octets
        if family == .v4 { return o.map(String.init).joined(separator: ".") }
        let words = stride(from: 0, to: 16, by: 2).map { UInt16(o[$0]) << 8 | UInt16(o[$0 + 1]) }
        // Compress the longest run of two or more zero words (RFC 5952).
        var bestStart = -1, bestLen = 0, i = 0
        while i < 8 {
            if words[i] == 0 {
                var j = i
                while j < 8 && words[j] == 0 { j += 1 }
                if j - i > bestLen && j - i >= 2 { bestStart = i; bestLen = j - i }
                i = j
            } else { i += 1 }
        }
        func hex(_ r: Range<Int>) -> String { words[r].map { String($0, radix: 16) }.joined(separator: ":") }
        if bestStart < 0 { return hex(0..<8) }
        return hex(0..<bestStart) + "::" + hex((bestStart + bestLen)..<8)
    }
}
