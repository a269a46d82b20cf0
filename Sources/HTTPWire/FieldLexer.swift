/// What a header (or trailer) section's field lines are handed to.
protocol FieldLineSink {
    /// One complete field line: `base[nameStart..<colon]` is a token, the raw
    /// value is `base[colon+1..<lineEnd]` and `base[lineEnd]` is its CR.
    /// A reason rejects the head.
    mutating func addField(_ base: UnsafeRawPointer, nameStart: Int, colon: Int, lineEnd: Int) -> WireError.Reason?
}

enum FieldsOutcome {
    /// The empty line that ends the header section; the head is this long.
    case endOfHead(Int)
    /// The bytes before `end` hold no further decision.
    case exhausted
    case invalid(WireError.Reason)
}

/// Splits a header section into field lines, checking the syntax of RFC 9112
/// §5 strictly: token names, no whitespace before the colon, values free of
/// CTL (except HTAB) and DEL, CRLF line ends only, no obsolete line folding.
///
/// Restartable: `position` is the first byte not yet examined, so a caller
/// that runs out of bytes comes back with a longer buffer and the lexer
/// continues where it stopped. A line that is whole when its first byte is
/// reached is searched for its CR and then its name is checked (name bytes
/// are examined twice); a line cut short is examined byte by byte from where
/// the last call stopped, and at most the part that was there when its first
/// byte was reached is examined once more. Each complete line is handed to
/// the sink once, which may read its value again.
struct FieldLexer {
    enum Phase: UInt8 {
        case lineStart
        case name
        case value
    }

    var phase: Phase = .lineStart
    var position: Int
    var lineStart: Int
    var colon: Int = 0

    init(at start: Int) {
        position = start
        lineStart = start
    }

    /// Lexes lines into `sink` until the head ends, the bytes before `end`
    /// run out, or a line is invalid.
    mutating func run<Sink: FieldLineSink>(_ base: UnsafeRawPointer, end: Int, into sink: inout Sink) -> FieldsOutcome {
        var p = position
        var phase = self.phase
        var lineStart = self.lineStart
        var colon = self.colon
        while true {
            // Line start: a name's first byte, or the CR LF that ends the head.
            if phase == .lineStart {
                guard p < end else { break }
                let first = loadByte(base, p)
                if byteClass(first) & ByteClass.token == 0 {
                    if first == asciiCR {
                        guard p &+ 1 < end else { break }
                        guard loadByte(base, p &+ 1) == asciiLF else { return .invalid(.bareCR) }
                        position = p &+ 2
                        return .endOfHead(p &+ 2)
                    }
                    if first == asciiSP || first == asciiHTAB { return .invalid(.obsoleteLineFolding) }
                    if first == asciiLF { return .invalid(.bareLF) }
                    if first == asciiColon { return .invalid(.emptyHeaderName) }
                    return .invalid(.invalidHeaderName)
                }
                lineStart = p
                p &+= 1
                phase = .name

                // A whole line: find its CR first, then the colon. The search
                // for the CR starts at the line's start, not after the colon,
                // so it does not wait for the name to be scanned: where the next
                // line starts depends on one search per line instead of two in
                // a row, and that chain of dependent loads, not the number of
                // instructions, is what bounds the scan's speed. The name is
                // then checked exactly as below; a name holds no CTL, so the
                // search passes over it. Anything else (a partial line, a CTL
                // or DEL before the CR, a bare CR) takes the step-by-step path
                // below, which finds the same errors in the same order.
                var lineEnd = firstValueStop(base, from: p, to: end)
                while lineEnd < end && loadByte(base, lineEnd) == asciiHTAB {
                    lineEnd = firstValueStop(base, from: lineEnd &+ 1, to: end)
                }
                if lineEnd &+ 1 < end && loadByte(base, lineEnd) == asciiCR && loadByte(base, lineEnd &+ 1) == asciiLF {
                    // The CR at lineEnd is not a tchar: the name ends by then.
                    var nameEnd = skipAlphanumericOrDash(base, from: p, to: lineEnd)
                    while true {
                        let b = loadByte(base, nameEnd)
                        if b == asciiColon { break }
                        if byteClass(b) & ByteClass.token == 0 { return .invalid(nameByteProblem(b)) }
                        nameEnd &+= 1
                    }
                    if let reason = sink.addField(base, nameStart: lineStart, colon: nameEnd, lineEnd: lineEnd) {
                        return .invalid(reason)
                    }
                    p = lineEnd &+ 2
                    phase = .lineStart
                    continue
                }
            }

            // Name: up to the colon, every byte a tchar. Whole words of
            // letters, digits and "-" (nearly every name) are skipped at once;
            // from the first other byte on, bytes are checked one by one.
            if phase == .name {
                p = skipAlphanumericOrDash(base, from: p, to: end)
                var found = false
                while p < end {
                    let b = loadByte(base, p)
                    if b == asciiColon {
                        found = true
                        break
                    }
                    if byteClass(b) & ByteClass.token == 0 { return .invalid(nameByteProblem(b)) }
                    p &+= 1
                }
                guard found else { break }
                colon = p
                p &+= 1
                phase = .value
            }

            // Value: up to the CR of CRLF; HTAB is the only CTL allowed.
            p = firstValueStop(base, from: p, to: end)
            while p < end && loadByte(base, p) == asciiHTAB {
                p = firstValueStop(base, from: p &+ 1, to: end)
            }
            guard p < end else { break }
            let stop = loadByte(base, p)
            guard stop == asciiCR else { return .invalid(stop == asciiLF ? .bareLF : .invalidHeaderValue) }
            guard p &+ 1 < end else { break }
            guard loadByte(base, p &+ 1) == asciiLF else { return .invalid(.bareCR) }
            if let reason = sink.addField(base, nameStart: lineStart, colon: colon, lineEnd: p) {
                return .invalid(reason)
            }
            p &+= 2
            phase = .lineStart
        }
        position = p
        self.phase = phase
        self.lineStart = lineStart
        self.colon = colon
        return .exhausted
    }
}

/// Why a byte that is neither a tchar nor the colon ends a header name.
@inline(__always)
func nameByteProblem(_ b: UInt8) -> WireError.Reason {
    switch b {
    case asciiSP, asciiHTAB: return .whitespaceBeforeColon
    case asciiCR, asciiLF: return .missingColon
    default: return .invalidHeaderName
    }
}
