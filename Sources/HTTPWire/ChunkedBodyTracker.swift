/// What a `ChunkedBodyTracker` made of the bytes it was given.
public enum ChunkProgress: Equatable, Sendable {
    /// Every byte given belongs to the body, which is not finished.
    case needMore
    /// The body (last chunk and trailer section) ended after `consumed` bytes
    /// of the input just given; any bytes after them belong to the next message.
    case done(consumed: Int)
    /// The chunked framing is broken: close the connection.
    case invalid
}

/// Follows a chunked body (RFC 9112 §7.1) as it streams past, to find where it
/// ends. It never copies or buffers payload: chunk data is skipped by count.
///
/// Strict: chunk sizes are 1 to 16 hex digits with a value below 2^63; chunk
/// extensions must match `*( BWS ";" BWS token [ BWS "=" BWS ( token /
/// quoted-string ) ] )` and are otherwise ignored; every line ends in CRLF
/// (a bare CR or LF is invalid); chunk data must be followed by CRLF; trailer
/// fields must be `token ":" value` lines as in a header section (no obs-fold).
/// The chunk-size line with its extensions is limited to `maxChunkLineBytes`
/// and the trailer section to `maxTrailerBytes`.
///
/// After `.done` or `.invalid`, `advance` repeats that verdict (with
/// `consumed: 0`) until `reset()`.
public struct ChunkedBodyTracker: Sendable {
    enum State: UInt8 {
        case sizeStart
        case size
        case sizeWhitespace
        case extensionNameStart
        case extensionName
        case extensionAfterName
        case extensionValueStart
        case extensionToken
        case extensionQuoted
        case extensionQuotedPair
        case extensionValueEnd
        case extensionAfterValue
        case sizeLF
        case data
        case dataCR
        case dataLF
        case trailerLineStart
        case trailerName
        case trailerValue
        case trailerLF
        case finalLF
        case done
        case invalid
    }

    public let maxChunkLineBytes: Int
    public let maxTrailerBytes: Int

    var state: State = .sizeStart
    var chunkSize: UInt64 = 0
    var sizeDigits = 0
    /// Data bytes of the current chunk still to come.
    var remaining: UInt64 = 0
    /// Bytes of the current chunk-size line, or of the trailer section.
    var lineBytes = 0

    public init(maxChunkLineBytes: Int = 4096, maxTrailerBytes: Int = 16384) {
        self.maxChunkLineBytes = maxChunkLineBytes
        self.maxTrailerBytes = maxTrailerBytes
    }

    public mutating func reset() {
        self = ChunkedBodyTracker(maxChunkLineBytes: maxChunkLineBytes, maxTrailerBytes: maxTrailerBytes)
    }

    public mutating func advance(_ bytes: UnsafeRawBufferPointer) -> ChunkProgress {
        switch state {
        case .done: return .done(consumed: 0)
        case .invalid: return .invalid
        default: break
        }
        guard let base = bytes.baseAddress else { return .needMore }
        let count = bytes.count
        var i = 0
        while i < count {
            if state == .data {
                let available = UInt64(count &- i)
                if remaining > available {
                    remaining &-= available
                    return .needMore
                }
                i &+= Int(remaining)
                remaining = 0
                state = .dataCR
                continue
            }
            let b = loadByte(base, i)
            i &+= 1
            if step(b) == false {
                state = .invalid
                return .invalid
            }
            if state == .done { return .done(consumed: i) }
        }
        return .needMore
    }

    /// Moves past one framing byte; false if it breaks the framing.
    @inline(__always)
    mutating func step(_ b: UInt8) -> Bool {
        let cls = byteClass(b)
        switch state {
        case .sizeStart, .size, .sizeWhitespace, .extensionNameStart, .extensionName,
             .extensionAfterName, .extensionValueStart, .extensionToken, .extensionQuoted,
             .extensionQuotedPair, .extensionValueEnd, .extensionAfterValue, .sizeLF:
            lineBytes &+= 1
            if lineBytes > maxChunkLineBytes { return false }
        case .trailerLineStart, .trailerName, .trailerValue, .trailerLF, .finalLF:
            lineBytes &+= 1
            if lineBytes > maxTrailerBytes { return false }
        case .data, .dataCR, .dataLF, .done, .invalid:
            break
        }

        switch state {
        case .sizeStart, .size:
            if cls & ByteClass.hexDigit != 0 {
                guard sizeDigits < 16 else { return false }
                sizeDigits &+= 1
                chunkSize = chunkSize &<< 4 | UInt64(hexValue(b))
                state = .size
                return true
            }
            guard state == .size else { return false }
            if chunkSize > UInt64(Int64.max) { return false }
            return endOfSize(b, cls)
        case .sizeWhitespace:
            if cls & ByteClass.whitespace != 0 { return true }
            if b == asciiSemicolon {
                state = .extensionNameStart
                return true
            }
            return false
        case .extensionNameStart:
            if cls & ByteClass.whitespace != 0 { return true }
            guard cls & ByteClass.token != 0 else { return false }
            state = .extensionName
            return true
        case .extensionName:
            if cls & ByteClass.token != 0 { return true }
            if cls & ByteClass.whitespace != 0 {
                state = .extensionAfterName
                return true
            }
            if b == 0x3D {  // "="
                state = .extensionValueStart
                return true
            }
            return endOfExtension(b)
        case .extensionAfterName:
            if cls & ByteClass.whitespace != 0 { return true }
            if b == 0x3D {
                state = .extensionValueStart
                return true
            }
            if b == asciiSemicolon {
                state = .extensionNameStart
                return true
            }
            return false
        case .extensionValueStart:
            if cls & ByteClass.whitespace != 0 { return true }
            if b == 0x22 {  // DQUOTE
                state = .extensionQuoted
                return true
            }
            guard cls & ByteClass.token != 0 else { return false }
            state = .extensionToken
            return true
        case .extensionToken:
            if cls & ByteClass.token != 0 { return true }
            if cls & ByteClass.whitespace != 0 {
                state = .extensionAfterValue
                return true
            }
            return endOfExtension(b)
        case .extensionQuoted:
            if b == 0x22 {
                state = .extensionValueEnd
                return true
            }
            if b == 0x5C {  // backslash
                state = .extensionQuotedPair
                return true
            }
            return cls & ByteClass.quotedText != 0
        case .extensionQuotedPair:
            guard cls & ByteClass.fieldValue != 0 else { return false }
            state = .extensionQuoted
            return true
        case .extensionValueEnd:
            if cls & ByteClass.whitespace != 0 {
                state = .extensionAfterValue
                return true
            }
            return endOfExtension(b)
        case .extensionAfterValue:
            // Whitespace after an extension may only lead to another one.
            if cls & ByteClass.whitespace != 0 { return true }
            guard b == asciiSemicolon else { return false }
            state = .extensionNameStart
            return true
        case .sizeLF:
            guard b == asciiLF else { return false }
            lineBytes = 0
            if chunkSize == 0 {
                state = .trailerLineStart
            } else {
                remaining = chunkSize
                state = .data
            }
            return true
        case .dataCR:
            guard b == asciiCR else { return false }
            state = .dataLF
            return true
        case .dataLF:
            guard b == asciiLF else { return false }
            chunkSize = 0
            sizeDigits = 0
            state = .sizeStart
            return true
        case .trailerLineStart:
            if b == asciiCR {
                state = .finalLF
                return true
            }
            guard cls & ByteClass.token != 0 else { return false }
            state = .trailerName
            return true
        case .trailerName:
            if cls & ByteClass.token != 0 { return true }
            guard b == asciiColon else { return false }
            state = .trailerValue
            return true
        case .trailerValue:
            if cls & ByteClass.fieldValue != 0 { return true }
            guard b == asciiCR else { return false }
            state = .trailerLF
            return true
        case .trailerLF:
            guard b == asciiLF else { return false }
            state = .trailerLineStart
            return true
        case .finalLF:
            guard b == asciiLF else { return false }
            state = .done
            return true
        case .data, .done, .invalid:
            return false
        }
    }

    /// The byte after the last hex digit.
    @inline(__always)
    mutating func endOfSize(_ b: UInt8, _ cls: UInt8) -> Bool {
        if b == asciiCR {
            state = .sizeLF
            return true
        }
        if b == asciiSemicolon {
            state = .extensionNameStart
            return true
        }
        if cls & ByteClass.whitespace != 0 {
            state = .sizeWhitespace
            return true
        }
        return false
    }

    /// The byte after an extension name or value that is not whitespace.
    @inline(__always)
    mutating func endOfExtension(_ b: UInt8) -> Bool {
        if b == asciiSemicolon {
            state = .extensionNameStart
            return true
        }
        if b == asciiCR {
            state = .sizeLF
            return true
        }
        return false
    }
}

@inline(__always)
func hexValue(_ b: UInt8) -> UInt8 {
    b <= 0x39 ? b &- 0x30 : (b | 0x20) &- 0x57
}
