import Yams

/// The keys of one mapping, read once: duplicates and unknown keys are
/// reported as the mapping is opened, so a decoder only asks for keys it
/// knows.
struct Fields {
    /// What the mapping is, for messages: "pool 'web'", "server".
    let context: String
    let location: SourcePosition
    fileprivate var entries: [String: (key: Node, value: Node)] = [:]

    subscript(key: String) -> Node? { entries[key]?.value }

    func keyNode(_ key: String) -> Node? { entries[key]?.key }
}

/// Reads Yams nodes into typed values, reporting every problem with the
/// position of the offending key or value.
class NodeReader {
    var log: DiagnosticLog
    let positions: PositionMap
    let renames: KeyRenames

    init(log: DiagnosticLog, positions: PositionMap, renames: KeyRenames) {
        self.log = log
        self.positions = positions
        self.renames = renames
    }

    func location(_ node: Node) -> SourcePosition {
        guard let mark = node.mark else { return SourcePosition(line: 1, column: 1) }
        return positions.original(line: mark.line, column: mark.column)
    }

    func error(_ node: Node, _ message: String) {
        log.error(location(node), message)
    }

    func warning(_ node: Node, _ message: String) {
        log.warning(location(node), message)
    }

    // MARK: Mappings

    /// Opens a mapping of `kind` ("pool") whose allowed keys are `known`.
    /// Reports a value that is not a mapping, keys that are not strings,
    /// duplicate keys and unknown keys (with a suggestion).
    func fields(_ node: Node, kind: String, known: [String]) -> Fields? {
        guard case .mapping(let mapping) = node else {
            error(node, "\(kind): expected a mapping, found \(describe(node))")
            return nil
        }
        var context = kind
        let nameEntry = mapping.first { pair in
            if case .scalar(let key) = pair.key { return renames.original(key.string) == "name" }
            return false
        }
        if case .scalar(let name)? = nameEntry?.value, !isNull(name) {
            context = "\(kind) '\(name.string)'"
        }
        var result = Fields(context: context, location: location(node))
        var firstSeen: [String: SourcePosition] = [:]
        for (keyNode, valueNode) in mapping {
            guard case .scalar(let scalar) = keyNode, !isNull(scalar) else {
                error(keyNode, "\(context): keys must be strings, found \(describe(keyNode))")
                continue
            }
            let name = renames.original(scalar.string)
            let at = location(keyNode)
            if let first = firstSeen[name] {
                log.error(at, "duplicate key '\(name)' in \(context); first given at \(first)")
                continue
            }
            firstSeen[name] = at
            guard known.contains(name) else {
                log.error(at, unknownKeyMessage(name, context: context, known: known))
                continue
            }
            result.entries[name] = (keyNode, valueNode)
        }
        return result
    }

    /// Avi's names for tether's keys, so that Avi users are told the new name.
    static let aviNames: [String: String] = [
        "prst_hdr_name": "header_name", "hdr_name": "header_name", "prst_hdr_val": "header_value",
        "server_hm_down_recovery": "server_down", "persistence_type": "type",
        "send_interval": "interval", "receive_timeout": "timeout",
        "successful_checks": "successful_checks", "failed_checks": "failed_checks",
        "http_request": "request", "http_response_code": "expected_status",
        "max_concurrent_connections_per_server": "max_connections_per_server",
        "fail_action": "when_all_down", "ip": "address", "ip_addr": "address",
        "application_persistence_profile_ref": "persistence_profile", "health_monitor_refs": "health_monitors",
        "pool_ref": "pool", "services": "listen", "lb_algorithm_hash": "hash_key",
    ]

    /// Avi's enumeration values for tether's words.
    static let aviValues: [String: String] = [
        "HM_DOWN_PICK_NEW_SERVER": "immediate", "HM_DOWN_CONTINUE_PERSISTENT_SERVER": "never",
        "HM_DOWN_ABORT_CONNECTION": "abort", "PERSISTENCE_TYPE_CUSTOM_HTTP_HEADER": "custom_http_header",
        "LB_ALGORITHM_LEAST_CONNECTIONS": "least_connections", "LB_ALGORITHM_ROUND_ROBIN": "round_robin",
        "LB_ALGORITHM_CONSISTENT_HASH": "consistent_hash", "HEALTH_MONITOR_HTTP": "http",
        "HEALTH_MONITOR_TCP": "tcp", "FAIL_ACTION_CLOSE_CONN": "close", "FAIL_ACTION_HTTP_REDIRECT": "redirect",
        "FAIL_ACTION_HTTP_LOCAL_RSP": "local_response",
    ]

    private func unknownKeyMessage(_ name: String, context: String, known: [String]) -> String {
        if name == "<<" {
            return "merge keys (<<) are not supported in \(context); write the keys out"
        }
        if let ours = NodeReader.aviNames[name], known.contains(ours) {
            return "unknown key '\(name)' in \(context); tether calls Avi's \(name) '\(ours)'"
        }
        return "unknown key '\(name)' in \(context)" + Suggestions.hint(for: name, in: known)
    }

    /// The value of a required key, or nil after reporting that it is missing.
    func required(_ fields: Fields, _ key: String) -> Node? {
        if let node = fields[key] { return node }
        log.error(fields.location, "\(fields.context) is missing required key '\(key)'")
        return nil
    }

    // MARK: Scalars

    func isNull(_ scalar: Node.Scalar) -> Bool {
        scalar.style == .plain && ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let s):
            if isNull(s) { return "nothing" }
            let text = s.string.count > 40 ? s.string.prefix(37) + "..." : s.string
            return "'\(text)'"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    /// A scalar's text, and whether it was written plain (unquoted).
    func scalar(_ node: Node, key: String, expected: String) -> (text: String, plain: Bool)? {
        guard case .scalar(let s) = node, !isNull(s) else {
            error(node, "\(key): expected \(expected), found \(describe(node))")
            return nil
        }
        return (s.string, s.style == .plain)
    }

    func text(_ node: Node, key: String) -> String? {
        scalar(node, key: key, expected: "a string")?.text
    }

    func bool(_ node: Node, key: String) -> Bool? {
        guard let (text, plain) = scalar(node, key: key, expected: "true or false") else { return nil }
        if plain {
            if ["true", "True", "TRUE"].contains(text) { return true }
            if ["false", "False", "FALSE"].contains(text) { return false }
        }
        error(node, "\(key): expected true or false, found \(plain ? "" : "the string ")'\(text)'")
        return nil
    }

    func integer(_ node: Node, key: String, range: ClosedRange<Int>) -> Int? {
        let expected = "an integer from \(range.lowerBound) to \(range.upperBound)"
        guard let (text, plain) = scalar(node, key: key, expected: expected) else { return nil }
        let digits = text.hasPrefix("-") || text.hasPrefix("+") ? text.dropFirst() : Substring(text)
        guard plain, !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            error(node, "\(key): expected \(expected), found \(plain ? "" : "the string ")'\(text)'")
            return nil
        }
        guard let value = Int(text), range.contains(value) else {
            error(node, "\(key): \(text) is out of range; expected \(range.lowerBound) to \(range.upperBound)")
            return nil
        }
        return value
    }

    /// A duration (see `DurationSyntax`) within `range` milliseconds.
    func duration(_ node: Node, key: String, range: ClosedRange<Int64>) -> Duration? {
        guard let (text, _) = scalar(node, key: key, expected: "a duration such as 10s") else { return nil }
        let ms: Int64
        do {
            ms = try DurationSyntax.parse(text)
        } catch {
            self.error(node, "\(key): \(error.message)")
            return nil
        }
        guard range.contains(ms) else {
            if ms == 0 {
                error(node, "\(key): must be longer than 0s")
            } else {
                let low = DurationSyntax.format(milliseconds: range.lowerBound)
                let high = DurationSyntax.format(milliseconds: range.upperBound)
                error(node, "\(key): \(text) is out of range; expected \(low) to \(high)")
            }
            return nil
        }
        return .milliseconds(ms)
    }

    /// A size in bytes (see `SizeSyntax`) within `range`.
    func size(_ node: Node, key: String, range: ClosedRange<Int>) -> Int? {
        guard let (text, _) = scalar(node, key: key, expected: "a size such as 32KiB") else { return nil }
        let bytes: Int
        do {
            bytes = try SizeSyntax.parse(text)
        } catch {
            self.error(node, "\(key): \(error.message)")
            return nil
        }
        guard range.contains(bytes) else {
            let low = SizeSyntax.format(bytes: range.lowerBound), high = SizeSyntax.format(bytes: range.upperBound)
            error(node, "\(key): \(text) is out of range; expected \(low) to \(high)")
            return nil
        }
        return bytes
    }

    /// One of a fixed set of words.
    func choice<T>(_ node: Node, key: String, options: [(word: String, value: T)]) -> T? {
        let words = options.map(\.word)
        let list = words.joined(separator: ", ")
        guard let (text, _) = scalar(node, key: key, expected: "one of \(list)") else { return nil }
        if let match = options.first(where: { $0.word == text }) { return match.value }
        var message = "\(key): unknown value '\(text)'; expected one of \(list)"
        if let ours = NodeReader.aviValues[text], words.contains(ours) {
            message += "; tether calls Avi's \(text) '\(ours)'"
        } else {
            message += Suggestions.hint(for: text, in: words)
        }
        error(node, message)
        return nil
    }

    func list(_ node: Node, key: String) -> [Node]? {
        guard case .sequence(let sequence) = node else {
            error(node, "\(key): expected a list, found \(describe(node))")
            return nil
        }
        return Array(sequence)
    }

    /// An object's name: non-empty, no outer whitespace, no control
    /// characters, at most 256 bytes (names appear in logs and metrics).
    func name(_ node: Node, key: String = "name") -> String? {
        guard let name = text(node, key: key) else { return nil }
        if name.first?.isWhitespace == true || name.last?.isWhitespace == true {
            error(node, "\(key): '\(name)' has leading or trailing whitespace")
            return nil
        }
        if let bad = name.unicodeScalars.first(where: { $0.value < 0x20 || $0.value == 0x7F || TextPositions.isBreak($0) }) {
            error(node, "\(key): contains \(HTTPSyntax.describe(bad)), which names cannot contain")
            return nil
        }
        if name.utf8.count > 256 {
            error(node, "\(key): is longer than 256 bytes")
            return nil
        }
        return name
    }
}
