/// Header names the scanners act on, recognised from a validated token name.
enum KnownField {
    case other
    case host
    case expect
    case upgrade
    case connection
    case contentLength
    case transferEncoding
    case xForwardedFor

    /// Classifies `base[start..<start+count]`, which the lexer has checked to
    /// be token characters. For a token byte `b`, `b | 0x20` equals a lower-case
    /// letter only when `b` is that letter in either case, and equals `-` only
    /// when `b` is `-`, so or-ing 0x20 into whole words folds case exactly for
    /// these names (letters and dashes only). Overlapping loads keep every read
    /// inside the name.
    @inline(__always)
    static func classify(_ base: UnsafeRawPointer, _ start: Int, _ count: Int) -> KnownField {
        // Each length has at most one known name: rule out the rest by its
        // first letter before comparing whole words.
        guard count < 18, loadByte(base, start) | 0x20 == firstLetterByLength.utf8Start[count] else {
            return .other
        }
        let fold32: UInt32 = 0x2020_2020
        let fold64: UInt64 = 0x2020_2020_2020_2020
        switch count {
        case 4:
            // "host"
            return loadWord32(base, start) | fold32 == 0x7473_6f68 ? .host : .other
        case 6:
            // "expe" + "ct"
            return loadWord32(base, start) | fold32 == 0x6570_7865
                && loadWord16(base, start &+ 4) | 0x2020 == 0x7463 ? .expect : .other
        case 7:
            // "upgr" + "rade"
            return loadWord32(base, start) | fold32 == 0x7267_7075
                && loadWord32(base, start &+ 3) | fold32 == 0x6564_6172 ? .upgrade : .other
        case 10:
            // "connecti" + "on"
            return loadWord(base, start) | fold64 == 0x6974_6365_6e6e_6f63
                && loadWord16(base, start &+ 8) | 0x2020 == 0x6e6f ? .connection : .other
        case 14:
            // "content-" + "t-length"
            return loadWord(base, start) | fold64 == 0x2d74_6e65_746e_6f63
                && loadWord(base, start &+ 6) | fold64 == 0x6874_676e_656c_2d74 ? .contentLength : .other
        case 15:
            // "x-forwar" + "rded-for"
            return loadWord(base, start) | fold64 == 0x7261_7772_6f66_2d78
                && loadWord(base, start &+ 7) | fold64 == 0x726f_662d_6465_6472 ? .xForwardedFor : .other
        case 17:
            // "transfer" + "-encodin" + "encoding"
            return loadWord(base, start) | fold64 == 0x7265_6673_6e61_7274
                && loadWord(base, start &+ 8) | fold64 == 0x6e69_646f_636e_652d
                && loadWord(base, start &+ 9) | fold64 == 0x676e_6964_6f63_6e65 ? .transferEncoding : .other
        default:
            return .other
        }
    }
}

/// The first letter of the known name of each length 0...17 ("_" for none):
/// host, expect, upgrade, connection, content-length, x-forwarded-for,
/// transfer-encoding.
let firstLetterByLength: StaticString = "____h_eu__c___cx_t"

/// What Content-Length, Transfer-Encoding and Connection lines said so far.
/// Both scanners feed it; each decides framing from it at the end of the head.
struct FramingFields {
    /// The Content-Length value, or -1 before the first Content-Length line.
    var contentLength: Int64 = -1
    var transferEncodingSeen = false
    /// How often chunked was named (saturating; only 0, 1 and more matter).
    var chunkedCount: UInt8 = 0
    var lastCodingIsChunked = false
    var unknownCodingSeen = false
    var connectionClose = false
    var connectionKeepAlive = false
    var connectionUpgrade = false
    /// Where the first `close` option starts, and how many there are
    /// (saturating; only 0, 1 and more matter).
    var closeOptionStart: Int32 = -1
    var closeOptionCount: UInt8 = 0

    var contentLengthSeen: Bool { contentLength >= 0 }

    /// Content-Length = 1*DIGIT (RFC 9110 §8.6). A comma list of equal values,
    /// in one line or in repeated lines, is accepted as that one value (RFC
    /// 9112 §6.3 item 5); differing values, signs, hex, empty elements and
    /// values of 2^63 or more are not. Leading zeros are digits like any other.
    mutating func addContentLength(_ base: UnsafeRawPointer, _ valueStart: Int, _ valueEnd: Int) -> WireError.Reason? {
        var i = valueStart
        while true {
            var value: Int64 = 0
            let digitsStart = i
            while i < valueEnd {
                let digit = loadByte(base, i) &- 0x30
                guard digit < 10 else { break }
                let (times10, o1) = value.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times10.addingReportingOverflow(Int64(digit))
                if o1 || o2 { return .invalidContentLength }
                value = sum
                i &+= 1
            }
            if i == digitsStart { return .invalidContentLength }
            if contentLengthSeen && contentLength != value { return .conflictingContentLength }
            contentLength = value
            i = skipWhitespace(base, from: i, to: valueEnd)
            if i == valueEnd { return nil }
            guard loadByte(base, i) == asciiComma else { return .invalidContentLength }
            i = skipWhitespace(base, from: i &+ 1, to: valueEnd)
        }
    }

    /// Transfer-Encoding = #transfer-coding (RFC 9112 §6.1). Codings of all
    /// lines form one list. Empty list elements are skipped, but a line must
    /// name at least one coding; a coding must be a bare token (no parameters).
    mutating func addTransferEncoding(_ base: UnsafeRawPointer, _ valueStart: Int, _ valueEnd: Int) -> WireError.Reason? {
        transferEncodingSeen = true
        var codings = 0
        var i = valueStart
        while i < valueEnd {
            let b = loadByte(base, i)
            if b == asciiComma || b == asciiSP || b == asciiHTAB {
                i &+= 1
                continue
            }
            let start = i
            while i < valueEnd, byteClass(loadByte(base, i)) & ByteClass.token != 0 { i &+= 1 }
            if i == start { return .invalidTransferEncoding }
            let count = i &- start
            i = skipWhitespace(base, from: i, to: valueEnd)
            if i < valueEnd && loadByte(base, i) != asciiComma { return .invalidTransferEncoding }
            codings &+= 1
            if equalsFolded(base, start, count, "chunked") {
                chunkedCount = chunkedCount == .max ? .max : chunkedCount &+ 1
                lastCodingIsChunked = true
            } else {
                lastCodingIsChunked = false
                if !(equalsFolded(base, start, count, "gzip")
                    || equalsFolded(base, start, count, "x-gzip")
                    || equalsFolded(base, start, count, "deflate")
                    || equalsFolded(base, start, count, "compress")
                    || equalsFolded(base, start, count, "x-compress")) {
                    unknownCodingSeen = true
                }
            }
        }
        return codings == 0 ? .invalidTransferEncoding : nil
    }

    /// Connection = #connection-option: notes `close`, `keep-alive` and
    /// `upgrade` in any case; other options are hop-by-hop names tether ignores.
    mutating func addConnection(_ base: UnsafeRawPointer, _ valueStart: Int, _ valueEnd: Int) {
        var i = valueStart
        while i < valueEnd {
            let b = loadByte(base, i)
            if b == asciiComma || b == asciiSP || b == asciiHTAB {
                i &+= 1
                continue
            }
            let start = i
            while i < valueEnd, loadByte(base, i) != asciiComma { i &+= 1 }
            let end = trimWhitespaceBack(base, from: start, to: i)
            let count = end &- start
            if equalsFolded(base, start, count, "close") {
                connectionClose = true
                if closeOptionCount == 0 { closeOptionStart = Int32(truncatingIfNeeded: start) }
                closeOptionCount = closeOptionCount == .max ? .max : closeOptionCount &+ 1
            } else if equalsFolded(base, start, count, "keep-alive") {
                connectionKeepAlive = true
            } else if equalsFolded(base, start, count, "upgrade") {
                connectionUpgrade = true
            }
        }
    }

    /// Persistence by version and Connection options (RFC 9112 §9.3): HTTP/1.1
    /// stays open unless `close`; HTTP/1.0 closes unless `keep-alive`.
    func keepAlive(versionMinor: UInt8) -> Bool {
        if connectionClose { return false }
        return versionMinor == 1 || connectionKeepAlive
    }

    /// Checks that apply to requests and responses alike once Transfer-Encoding
    /// is present (RFC 9112 §6.1, §6.3).
    func transferEncodingProblem(versionMinor: UInt8) -> WireError.Reason? {
        if versionMinor == 0 { return .transferEncodingInHTTP10 }
        if contentLengthSeen { return .contentLengthWithTransferEncoding }
        if chunkedCount > 1 { return .chunkedRepeated }
        return nil
    }
}
