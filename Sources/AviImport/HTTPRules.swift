import Config

/// The HTTP values a tether configuration accepts, checked before they are
/// written so that a value Avi took but tether refuses becomes a warning
/// about that one setting instead of a configuration that fails to load.
/// (The converted file is validated by `ConfigLoader` all the same.)
enum HTTPRules {
    static func isHeaderName(_ s: String) -> Bool { HTTPSyntax.isToken(s) }

    /// Why `value` cannot be a server's header_value, or nil.
    static func headerValueProblem(_ value: String) -> String? {
        if let first = value.first, let last = value.last, first == " " || first == "\t" || last == " " || last == "\t" {
            return "has leading or trailing whitespace, which a request's value never has after trimming"
        }
        if value.unicodeScalars.contains(where: { !($0.value >= 0x20 && $0.value <= 0x7E) }) {
            return "contains characters other than visible ASCII and inner spaces"
        }
        return nil
    }

    /// Reads Avi's `http_request` into the request tether sends. Avi takes
    /// header lines after the request line, separated by CRLF, or (as its
    /// documentation writes them) on the request line itself:
    /// "GET /index.htm HTTP/1.1 Host: www.site.com Connection: Close".
    static func checkRequest(_ text: String) -> Result<HTTPCheckRequest, CheckRequestProblem> {
        var lines = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            String(String.UnicodeScalarView(line.last == "\r" ? line.dropLast() : line))
        }
        while let last = lines.last, last.isEmpty, lines.count > 1 { lines.removeLast() }
        let words = lines[0].split(separator: " ").map(String.init)
        guard words.count >= 3 else { return .failure(.init("'\(lines[0])' is not METHOD TARGET HTTP/1.x")) }
        var headerLines = Array(lines.dropFirst())
        if words.count > 3 {
            // Header fields written on the request line: a word ending in
            // ':' starts the next field.
            var fields: [String] = []
            for word in words.dropFirst(3) {
                if word.hasSuffix(":"), isHeaderName(String(word.dropLast())) {
                    fields.append(word)
                } else if fields.isEmpty {
                    return .failure(.init("'\(lines[0])' is not METHOD TARGET HTTP/1.x"))
                } else {
                    fields[fields.count - 1] += " " + word
                }
            }
            headerLines = fields + headerLines
        }
        // The loader's own parser judges the rest, as `tether check` will.
        let canonical = ([words[0...2].joined(separator: " ")] + headerLines).joined(separator: "\r\n")
        do {
            return .success(try HTTPSyntax.parseCheckRequest(canonical))
        } catch {
            return .failure(.init(error.message))
        }
    }

    struct CheckRequestProblem: Error {
        let message: String
        init(_ message: String) { self.message = message }
    }
}

extension String {
    /// Without leading and trailing spaces and tabs.
    var trimmingSpaces: String {
        let scalars = unicodeScalars.drop { $0 == " " || $0 == "\t" }
        return String(String.UnicodeScalarView(scalars.reversed().drop { $0 == " " || $0 == "\t" }.reversed()))
    }
}
