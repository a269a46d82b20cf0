/// The pieces of HTTP syntax a configuration carries (RFC 9110, RFC 3986).
/// Public for what converts other products' configurations (AviImport), so
/// that a value is judged by the same rules the loader applies.
public enum HTTPSyntax {
    /// `tchar` of RFC 9110 §5.6.2.
    public static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "A")...UInt8(ascii: "Z"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(b)
        }
    }

    public static func isToken(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.allSatisfy(isTokenByte)
    }

    /// Why `name` is not a valid header name, or nil.
    static func headerNameProblem(_ name: String) -> String? {
        if name.isEmpty { return "the header name is empty" }
        if name.hasSuffix(":") { return "'\(name)' must not end with ':'" }
        if let bad = name.unicodeScalars.first(where: { !$0.isASCII || !isTokenByte(UInt8($0.value)) }) {
            return "'\(name)' contains \(describe(bad)), which HTTP header names cannot contain"
        }
        return nil
    }

    /// Why `value` cannot be a server's `header_value`, or nil. The proxy
    /// compares a request's value after trimming SP and HTAB, so a value with
    /// outer whitespace could never match; other bytes are limited to visible
    /// ASCII so that the value reads the same in every log and tool.
    static func persistenceValueProblem(_ value: String) -> String? {
        if value.isEmpty { return "is empty; leave header_value out for a server that takes no pinned traffic" }
        if value.first == " " || value.last == " " || value.first == "\t" || value.last == "\t" {
            return "'\(value)' has leading or trailing whitespace, which a request's value never has after trimming"
        }
        if let bad = value.unicodeScalars.first(where: { !($0.value >= 0x20 && $0.value <= 0x7E) }) {
            return "contains \(describe(bad)); only visible ASCII and inner spaces are allowed"
        }
        return nil
    }

    /// Why `value` cannot be a header field value that tether sends, or nil.
    static func fieldValueProblem(_ value: String) -> String? {
        if let bad = value.unicodeScalars.first(where: { !($0.value >= 0x20 && $0.value <= 0x7E) && $0 != "\t" }) {
            return "contains \(describe(bad)); only visible ASCII, spaces and tabs are allowed"
        }
        return nil
    }

    /// An absolute http or https URL that can go in a `Location` header as
    /// it is: scheme, a non-empty authority, visible ASCII only.
    static func absoluteURLProblem(_ url: String) -> String? {
        let lower = url.lowercased()
        let rest: Substring
        if lower.hasPrefix("http://") {
            rest = url.dropFirst(7)
        } else if lower.hasPrefix("https://") {
            rest = url.dropFirst(8)
        } else {
            return "'\(url)' is not an absolute http:// or https:// URL"
        }
        if let bad = url.unicodeScalars.first(where: { !($0.value > 0x20 && $0.value < 0x7F) }) {
            return "contains \(describe(bad)); percent-encode it"
        }
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        let host = authority.split(separator: "@", omittingEmptySubsequences: false).last ?? ""
        if host.isEmpty || host.hasPrefix(":") {
            return "'\(url)' has no host"
        }
        return nil
    }

    /// Parses a health check's `request`: a request line, then optional
    /// header fields, one per line (LF or CRLF).
    public static func parseCheckRequest(_ text: String) throws(ValueProblem) -> HTTPCheckRequest {
        // "\r\n" is one Character, so split on scalars.
        var lines = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            Substring(line.last == "\r" ? line.dropLast() : line)
        }
        while let last = lines.last, last.isEmpty, lines.count > 1 { lines.removeLast() }
        let requestLine = lines[0]
        let parts = requestLine.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 3 else {
            throw ValueProblem("'\(requestLine)' is not a request line: expected METHOD SP target SP HTTP/1.x, "
                + "for example \"GET /healthz HTTP/1.1\"")
        }
        let method = String(parts[0]), target = String(parts[1]), version = String(parts[2])
        guard isToken(method) else { throw ValueProblem("method '\(method)' is not a valid HTTP method") }
        guard !target.isEmpty, target.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) else {
            throw ValueProblem("target '\(target)' must be visible ASCII, for example /healthz")
        }
        guard target.hasPrefix("/") || target == "*" || target.lowercased().hasPrefix("http://") else {
            throw ValueProblem("target '\(target)' must start with '/'")
        }
        guard version == "HTTP/1.1" || version == "HTTP/1.0" else {
            throw ValueProblem("version '\(version)' must be HTTP/1.1 or HTTP/1.0")
        }
        var headers: [HeaderField] = []
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else {
                throw ValueProblem("header line '\(line)' must be 'Name: value'")
            }
            let name = String(line[..<colon])
            if let problem = headerNameProblem(name) { throw ValueProblem("header name \(problem)") }
            let value = String(line[line.index(after: colon)...].drop { $0 == " " || $0 == "\t" })
            let trimmed = String(value.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
            if let problem = fieldValueProblem(trimmed) { throw ValueProblem("header '\(name)' \(problem)") }
            let lower = name.lowercased()
            if lower == "content-length" || lower == "transfer-encoding" {
                throw ValueProblem("header '\(name)': health check requests have no body")
            }
            headers.append(HeaderField(name: name, value: trimmed))
        }
        return HTTPCheckRequest(method: method, target: target, version: version, headers: headers)
    }

    static func describe(_ s: Unicode.Scalar) -> String {
        switch s {
        case " ": return "a space"
        case "\t": return "a tab"
        case "\r": return "a carriage return"
        case "\n": return "a line break"
        default:
            let hex = String(s.value, radix: 16, uppercase: true)
            let code = "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
            return s.value >= 0x21 && s.value <= 0x7E ? "'\(s)'" : code
        }
    }
}
