/// A JSON value as an Avi export holds it. Objects keep their members in
/// file order, so warnings come out in the order the export lists fields.
indirect enum JSONValue: Sendable, Equatable {
    case object([JSONMember])
    case array([JSONValue])
    case string(String)
    /// The number as written, already checked against RFC 8259's grammar.
    case number(String)
    case bool(Bool)
    case null

    /// A whole number written without a fraction or exponent, or a string
    /// holding one (Avi's API accepts both, and some tools write "80").
    var integer: Int? {
        switch self {
        case .number(let text), .string(let text):
            let digits = text.hasPrefix("-") ? text.dropFirst() : Substring(text)
            guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
            return Int(text)
        default:
            return nil
        }
    }

    /// true or false, or the strings "true" and "false".
    var boolean: Bool? {
        switch self {
        case .bool(let b): return b
        case .string("true"): return true
        case .string("false"): return false
        default: return nil
        }
    }

    var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    var members: [JSONMember]? {
        if case .object(let m) = self { return m }
        return nil
    }

    var elements: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// null, "", [] or {}: a field that says nothing.
    var isEmpty: Bool {
        switch self {
        case .null: return true
        case .string(let s): return s.isEmpty
        case .array(let a): return a.isEmpty
        case .object(let m): return m.isEmpty
        case .number, .bool: return false
        }
    }

    /// Whether a member named `key` occurs anywhere inside.
    func containsMember(named key: String) -> Bool {
        switch self {
        case .object(let members): return members.contains { $0.key == key || $0.value.containsMember(named: key) }
        case .array(let elements): return elements.contains { $0.containsMember(named: key) }
        default: return false
        }
    }

    /// Numbers compare by value (10 == 10.0), everything else structurally.
    func sameValue(as other: JSONValue) -> Bool {
        switch (self, other) {
        case (.number(let a), .number(let b)):
            return a == b || (Double(a) != nil && Double(a) == Double(b))
        case (.object(let a), .object(let b)):
            guard a.count == b.count else { return false }
            return a.allSatisfy { m in b.contains { $0.key == m.key && $0.value.sameValue(as: m.value) } }
        case (.array(let a), .array(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.sameValue(as: $1) }
        default:
            return self == other
        }
    }

    /// A short rendering for messages: `10`, `true`, `"GET / HTTP/1.0"`,
    /// `{…}` and `[…]` for anything with structure.
    var brief: String {
        switch self {
        case .object(let m): return m.isEmpty ? "{}" : "{…}"
        case .array(let a): return a.isEmpty ? "[]" : "[…]"
        case .string(let s):
            let shown = s.unicodeScalars.count > 60 ? String(String.UnicodeScalarView(s.unicodeScalars.prefix(57))) + "..." : s
            return "\"" + JSONText.escaped(shown) + "\""
        case .number(let n): return n
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        }
    }
}

struct JSONMember: Sendable, Equatable {
    let key: String
    let value: JSONValue
}

/// Where in the text a JSON document stopped making sense.
struct JSONSyntaxError: Error, Equatable, CustomStringConvertible {
    let line: Int
    let column: Int
    let message: String

    var description: String { "\(line):\(column): \(message)" }
}

/// A strict RFC 8259 reader: one value, UTF-8, no comments, no trailing
/// commas, no duplicate keys (an export where a key appears twice is
/// ambiguous, so it is refused rather than guessed at).
struct JSONParser {
    private let bytes: [UInt8]
    private var index = 0
    private var depth = 0

    /// Deeper nesting than any Avi object has; the limit keeps hostile input
    /// from exhausting the stack.
    static let maxDepth = 200

    static func parse(_ bytes: [UInt8]) throws(JSONSyntaxError) -> JSONValue {
        var parser = JSONParser(bytes: bytes)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { parser.index = 3 }
        parser.skipWhitespace()
        if parser.index == bytes.count { throw parser.error("the file is empty; expected a JSON object") }
        let value = try parser.value()
        parser.skipWhitespace()
        if parser.index < bytes.count { throw parser.error("unexpected \(parser.describeNext()) after the end of the JSON value") }
        return value
    }

    private init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    private mutating func value() throws(JSONSyntaxError) -> JSONValue {
        guard index < bytes.count else { throw error("unexpected end of file; expected a value") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw error("unexpected \(describeNext()); expected a value")
        }
    }

    private mutating func object() throws(JSONSyntaxError) -> JSONValue {
        try enter()
        index += 1
        var members: [JSONMember] = []
        var seen: Set<String> = []
        skipWhitespace()
        if peek(UInt8(ascii: "}")) {
            index += 1
            depth -= 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard peek(UInt8(ascii: "\"")) else { throw error("unexpected \(describeNext()); expected a key in double quotes") }
            let keyStart = index
            let key = try string()
            if !seen.insert(key).inserted {
                throw error("duplicate key \"\(JSONText.escaped(key))\" in one object", at: keyStart)
            }
            skipWhitespace()
            guard peek(UInt8(ascii: ":")) else { throw error("unexpected \(describeNext()); expected ':' after a key") }
            index += 1
            skipWhitespace()
            members.append(JSONMember(key: key, value: try value()))
            skipWhitespace()
            if peek(UInt8(ascii: ",")) {
                index += 1
                continue
            }
            if peek(UInt8(ascii: "}")) {
                index += 1
                depth -= 1
                return .object(members)
            }
            throw error("unexpected \(describeNext()); expected ',' or '}'")
        }
    }

    private mutating func array() throws(JSONSyntaxError) -> JSONValue {
        try enter()
        index += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if peek(UInt8(ascii: "]")) {
            index += 1
            depth -= 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try value())
            skipWhitespace()
            if peek(UInt8(ascii: ",")) {
                index += 1
                continue
            }
            if peek(UInt8(ascii: "]")) {
                index += 1
                depth -= 1
                return .array(elements)
            }
            throw error("unexpected \(describeNext()); expected ',' or ']'")
        }
    }

    private mutating func enter() throws(JSONSyntaxError) {
        depth += 1
        if depth > JSONParser.maxDepth { throw error("nested more than \(JSONParser.maxDepth) levels deep") }
    }

    private mutating func string() throws(JSONSyntaxError) -> String {
        index += 1
        var scalars = String.UnicodeScalarView()
        var runStart = index
        func flush(_ parser: JSONParser, upTo end: Int) throws(JSONSyntaxError) -> String.UnicodeScalarView {
            var decoded = String.UnicodeScalarView()
            var utf8 = Unicode.UTF8.ForwardParser()
            var iterator = parser.bytes[runStart..<end].makeIterator()
            while true {
                switch utf8.parseScalar(from: &iterator) {
                case .valid(let encoded): decoded.append(Unicode.UTF8.decode(encoded))
                case .emptyInput: return decoded
                case .error: throw parser.error("a string holds bytes that are not UTF-8", at: runStart)
                }
            }
        }
        while true {
            guard index < bytes.count else { throw error("unexpected end of file inside a string") }
            let b = bytes[index]
            if b == UInt8(ascii: "\"") {
                scalars.append(contentsOf: try flush(self, upTo: index))
                index += 1
                return String(scalars)
            }
            if b < 0x20 {
                throw error("a string holds an unescaped control character (U+\(hex(UInt32(b), width: 4))); write it as an escape")
            }
            if b != UInt8(ascii: "\\") {
                index += 1
                continue
            }
            scalars.append(contentsOf: try flush(self, upTo: index))
            let escapeStart = index
            index += 1
            guard index < bytes.count else { throw error("unexpected end of file inside a string") }
            let e = bytes[index]
            index += 1
            switch e {
            case UInt8(ascii: "\""): scalars.append("\"")
            case UInt8(ascii: "\\"): scalars.append("\\")
            case UInt8(ascii: "/"): scalars.append("/")
            case UInt8(ascii: "b"): scalars.append("\u{8}")
            case UInt8(ascii: "f"): scalars.append("\u{C}")
            case UInt8(ascii: "n"): scalars.append("\n")
            case UInt8(ascii: "r"): scalars.append("\r")
            case UInt8(ascii: "t"): scalars.append("\t")
            case UInt8(ascii: "u"):
                let high = try hex4(escapeStart)
                if (0xD800...0xDBFF).contains(high) {
                    guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                        throw error("\\u\(hex(high, width: 4)) is half of a surrogate pair without its other half", at: escapeStart)
                    }
                    index += 2
                    let low = try hex4(escapeStart)
                    guard (0xDC00...0xDFFF).contains(low) else {
                        throw error("\\u\(hex(high, width: 4)) is not followed by a low surrogate", at: escapeStart)
                    }
                    scalars.append(Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))!)
                } else if let scalar = Unicode.Scalar(high) {
                    scalars.append(scalar)
                } else {
                    throw error("\\u\(hex(high, width: 4)) is half of a surrogate pair without its other half", at: escapeStart)
                }
            default:
                throw error("unknown escape '\\\(describe(e))' in a string", at: escapeStart)
            }
            runStart = index
        }
    }

    private mutating func hex4(_ escapeStart: Int) throws(JSONSyntaxError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw error("a \\u escape needs four hexadecimal digits", at: escapeStart) }
        var value: UInt32 = 0
        for b in bytes[index..<(index + 4)] {
            let digit: UInt8
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = b - UInt8(ascii: "A") + 10
            default: throw error("a \\u escape needs four hexadecimal digits", at: escapeStart)
            }
            value = value << 4 | UInt32(digit)
        }
        index += 4
        return value
    }

    private mutating func number() throws(JSONSyntaxError) -> String {
        let start = index
        func digits(_ p: inout JSONParser) -> Int {
            let from = p.index
            while p.index < p.bytes.count, p.bytes[p.index] >= 0x30, p.bytes[p.index] <= 0x39 { p.index += 1 }
            return p.index - from
        }
        if peek(UInt8(ascii: "-")) { index += 1 }
        let integerStart = index
        let integerDigits = digits(&self)
        if integerDigits == 0 { throw error("a number needs digits", at: start) }
        if integerDigits > 1 && bytes[integerStart] == UInt8(ascii: "0") {
            throw error("a number cannot start with 0 unless it is 0", at: start)
        }
        if peek(UInt8(ascii: ".")) {
            index += 1
            if digits(&self) == 0 { throw error("a number needs digits after its decimal point", at: start) }
        }
        if peek(UInt8(ascii: "e")) || peek(UInt8(ascii: "E")) {
            index += 1
            if peek(UInt8(ascii: "+")) || peek(UInt8(ascii: "-")) { index += 1 }
            if digits(&self) == 0 { throw error("a number needs digits in its exponent", at: start) }
        }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    private mutating func literal(_ word: StaticString) throws(JSONSyntaxError) {
        let expected = UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
        guard index + expected.count <= bytes.count, bytes[index..<(index + expected.count)].elementsEqual(expected) else {
            throw error("unexpected \(describeNext()); expected a value")
        }
        index += expected.count
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    private func peek(_ b: UInt8) -> Bool {
        index < bytes.count && bytes[index] == b
    }

    private func describeNext() -> String {
        guard index < bytes.count else { return "end of file" }
        return "'" + describe(bytes[index]) + "'"
    }

    private func describe(_ b: UInt8) -> String {
        b >= 0x21 && b <= 0x7E ? String(UnicodeScalar(b)) : "\\x" + hex(UInt32(b), width: 2)
    }

    private func hex(_ v: UInt32, width: Int) -> String {
        let digits = String(v, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    /// Line and column (1-based; columns count characters) of `offset`.
    private func error(_ message: String, at offset: Int? = nil) -> JSONSyntaxError {
        let end = min(offset ?? index, bytes.count)
        var line = 1, lineStart = 0
        for i in 0..<end where bytes[i] == 0x0A {
            line += 1
            lineStart = i + 1
        }
        // Count characters, not bytes: UTF-8 continuation bytes start no column.
        let column = bytes[lineStart..<end].reduce(1) { $1 & 0xC0 == 0x80 ? $0 : $0 + 1 }
        return JSONSyntaxError(line: line, column: column, message: message)
    }
}

enum JSONText {
    /// `s` with JSON's escapes for quotes, backslashes and control characters.
    static func escaped(_ s: String) -> String {
        var out = ""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    let digits = String(scalar.value, radix: 16, uppercase: true)
                    out += "\\u" + String(repeating: "0", count: 4 - digits.count) + digits
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }
}
