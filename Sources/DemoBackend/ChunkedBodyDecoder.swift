/// Decodes a chunked request body (RFC 9112 §7.1) fed in arbitrary pieces.
/// Chunk data is handed out as it arrives, never buffered; trailer field
/// lines are kept raw for `/echo`.
struct ChunkedBodyDecoder {
    static let maximumLineLength = 4096
    static let maximumTrailerSize = 64 * 1024

    enum Progress: Equatable {
        case needMore
        case done
    }

    private enum State {
        case sizeLine
        case data(remaining: UInt64)
        case dataEnd
        case trailerLine
        case done
    }

    private var state = State.sizeLine
    private var line: [UInt8] = []
    private var trailerSize = 0
    private(set) var trailerLines: [[UInt8]] = []

    /// Consumes bytes from `input`; returns how many it used. Chunk data is
    /// passed to `onData`. Stops at the end of the body: bytes after it
    /// belong to the next request.
    mutating func decode(
        _ input: UnsafeBufferPointer<UInt8>,
        onData: (UnsafeBufferPointer<UInt8>) -> Void
    ) throws(RequestFailure) -> (consumed: Int, progress: Progress) {
        var index = 0
        while index < input.count {
            switch state {
            case .sizeLine, .dataEnd, .trailerLine:
                let byte = input[index]
                index += 1
                guard byte == UInt8(ascii: "\n") else {
                    line.append(byte)
                    guard line.count <= ChunkedBodyDecoder.maximumLineLength else {
                        throw .badRequest("chunk size or trailer line longer than \(ChunkedBodyDecoder.maximumLineLength) bytes")
                    }
                    continue
                }
                guard line.last == UInt8(ascii: "\r") else { throw .badRequest("chunked body line ends in a bare LF") }
                line.removeLast()
                try finishLine()
                line.removeAll(keepingCapacity: true)
                if case .done = state { return (index, .done) }
            case let .data(remaining):
                let count = Int(min(remaining, UInt64(input.count - index)))
                onData(UnsafeBufferPointer(rebasing: input[index ..< index + count]))
                index += count
                state = remaining == UInt64(count) ? .dataEnd : .data(remaining: remaining - UInt64(count))
            case .done:
                return (index, .done)
            }
        }
        if case .done = state { return (index, .done) }
        return (index, .needMore)
    }

    private mutating func finishLine() throws(RequestFailure) {
        switch state {
        case .sizeLine:
            let size = try Self.parseChunkSize(line)
            state = size == 0 ? .trailerLine : .data(remaining: size)
        case .dataEnd:
            guard line.isEmpty else { throw .badRequest("chunk data longer than its size") }
            state = .sizeLine
        case .trailerLine:
            if line.isEmpty {
                state = .done
                return
            }
            _ = try RequestHead.parseFieldLine(line[...])
            trailerSize += line.count + 2
            guard trailerSize <= ChunkedBodyDecoder.maximumTrailerSize else {
                throw .badRequest("trailer section larger than \(ChunkedBodyDecoder.maximumTrailerSize) bytes")
            }
            trailerLines.append(line)
        case .data, .done:
            preconditionFailure("finishLine outside a line state")
        }
    }

    /// `chunk-size [ chunk-ext ]`: hex digits, then optionally whitespace and
    /// extensions starting with ';' (ignored, but checked for control bytes).
    static func parseChunkSize(_ line: [UInt8]) throws(RequestFailure) -> UInt64 {
        var size: UInt64 = 0
        var digits = 0
        var index = 0
        while index < line.count, let value = hexValue(line[index]) {
            guard digits < 15 else { throw .badRequest("chunk size too large") }
            size = size << 4 | UInt64(value)
            digits += 1
            index += 1
        }
        guard digits > 0 else { throw .badRequest("invalid chunk size") }
        while index < line.count, line[index] == UInt8(ascii: " ") || line[index] == UInt8(ascii: "\t") {
            index += 1
        }
        if index < line.count {
            guard line[index] == UInt8(ascii: ";") else { throw .badRequest("invalid chunk size") }
            guard line[index...].allSatisfy({ $0 == UInt8(ascii: "\t") || ($0 >= 0x20 && $0 != 0x7f) }) else {
                throw .badRequest("invalid byte in a chunk extension")
            }
        }
        return size
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0") ... UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a") ... UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A") ... UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
