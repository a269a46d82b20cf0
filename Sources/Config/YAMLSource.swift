import Yams

/// Turns text into a Yams node tree, reporting syntax errors with their
/// location.
///
/// Yams stops at the first mapping with a duplicate key and names only the
/// first occurrence. To go on and report every problem, the composer renames
/// that occurrence in a private copy of the text (it inserts a marker before
/// the key's text) and composes again; `KeyRenames` undoes the renaming for
/// the decoder and `PositionMap` maps positions in the copy back to the file.
/// The marker starts with U+E000, a private-use character that YAML allows in
/// a key and that no tether key contains.
struct YAMLSource {
    var root: Node?
    var positions = PositionMap()
    var renames = KeyRenames()

    /// Recoveries from duplicate keys before the rest of the file is given up.
    static let maxDuplicateRecoveries = 200

    static func compose(_ original: String, log: inout DiagnosticLog) -> YAMLSource {
        var source = YAMLSource()
        var text = original
        var recoveries = 0
        while true {
            do {
                // The decoder reads every scalar as text and checks its type
                // itself, so tags need no resolving: the basic resolver skips
                // the regular expressions Yams otherwise runs on every key
                // and value (more than half the time of a large file).
                source.root = try Yams.compose(yaml: text, .basic)
                return source
            } catch let YamlError.duplicatedKeysInMapping(duplicates, context) {
                let at = source.positions.original(line: context.mark.line, column: context.mark.column)
                if recoveries < maxDuplicateRecoveries,
                   source.renameKey(in: &text, atLine: context.mark.line, column: context.mark.column) {
                    recoveries += 1
                    continue
                }
                let names = duplicates.map { "'\($0)'" }.joined(separator: ", ")
                log.error(at, "duplicate key \(names) in one mapping; the rest of the file was not checked")
                return source
            } catch let YamlError.scanner(context, problem, mark, _),
                    let YamlError.parser(context, problem, mark, _),
                    let YamlError.composer(context, problem, mark, _) {
                let at = source.positions.original(line: mark.line, column: mark.column)
                log.error(at, syntaxMessage(problem: problem, context: context, positions: source.positions))
                return source
            } catch let YamlError.reader(problem, offset, _, yaml) {
                var at: SourcePosition?
                if let offset, let index = yaml.index(yaml.startIndex, offsetBy: offset, limitedBy: yaml.endIndex) {
                    let mark = TextPositions.location(of: index, in: yaml)
                    at = source.positions.original(line: mark.line, column: mark.column)
                }
                log.error(at, "invalid YAML: \(problem)")
                return source
            } catch {
                log.error(nil, "invalid YAML: \(error)")
                return source
            }
        }
    }

    private static func syntaxMessage(problem: String, context: YamlError.Context?, positions: PositionMap) -> String {
        if problem == "but found another document" {
            return "a configuration holds one YAML document; found a second one here"
        }
        guard let context, !context.text.isEmpty else { return "invalid YAML: \(problem)" }
        let started = positions.original(line: context.mark.line, column: context.mark.column)
        return "invalid YAML: \(problem) \(context.text) (which starts at \(started))"
    }

    /// Renames the key whose node starts at the given position of `text`.
    /// Returns false for a key it cannot rename in place (an alias, an
    /// anchored or tagged key, a complex key).
    private mutating func renameKey(in text: inout String, atLine line: Int, column: Int) -> Bool {
        guard var index = TextPositions.index(line: line, column: column, in: text),
              index < text.unicodeScalars.endIndex else { return false }
        var insertColumn = column
        switch text.unicodeScalars[index] {
        case "\"", "'":
            index = text.unicodeScalars.index(after: index)
            insertColumn += 1
        case "&", "*", "!", "?", "[", "{", "|", ">", "%", "@", "`":
            return false
        default:
            break
        }
        let marker = renames.nextMarker()
        let before = text
        text.unicodeScalars.insert(contentsOf: marker.unicodeScalars, at: index)
        guard text != before else { return false }
        positions.recordInsertion(line: line, column: insertColumn, length: marker.unicodeScalars.count)
        return true
    }
}

/// Keys that `YAMLSource` renamed to get past a duplicate.
struct KeyRenames {
    static let prefix = "\u{E000}tether-duplicate-"
    private(set) var count = 0

    mutating func nextMarker() -> String {
        count += 1
        return "\(KeyRenames.prefix)\(count)\u{E000}"
    }

    /// The key as written in the file.
    func original(_ key: String) -> String {
        guard count > 0, key.hasPrefix(KeyRenames.prefix) else { return key }
        let rest = key.dropFirst(KeyRenames.prefix.count)
        guard let end = rest.firstIndex(of: "\u{E000}"), let n = Int(rest[..<end]), (1...count).contains(n) else {
            return key
        }
        return String(rest[rest.index(after: end)...])
    }
}

/// Maps positions in the renamed copy of the text back to the file.
struct PositionMap {
    private struct Insertion {
        var originalColumn: Int
        var length: Int
    }

    /// Per line, sorted by column.
    private var insertions: [Int: [Insertion]] = [:]

    /// Records `length` scalars inserted before the scalar at `column` of the
    /// current text.
    mutating func recordInsertion(line: Int, column: Int, length: Int) {
        let originalColumn = original(line: line, column: column).column
        var list = insertions[line, default: []]
        let at = list.firstIndex { $0.originalColumn > originalColumn } ?? list.endIndex
        list.insert(Insertion(originalColumn: originalColumn, length: length), at: at)
        insertions[line] = list
    }

    func original(line: Int, column: Int) -> SourcePosition {
        guard let list = insertions[line] else { return SourcePosition(line: line, column: column) }
        var shift = 0
        for insertion in list {
            let start = insertion.originalColumn + shift
            if column < start { break }
            if column < start + insertion.length { return SourcePosition(line: line, column: insertion.originalColumn) }
            shift += insertion.length
        }
        return SourcePosition(line: line, column: column - shift)
    }
}

/// Line and column arithmetic that matches libyaml's: CR, LF, CRLF, NEL,
/// LS and PS end a line; a column is one Unicode scalar.
enum TextPositions {
    static func isBreak(_ s: Unicode.Scalar) -> Bool {
        s == "\n" || s == "\r" || s == "\u{85}" || s == "\u{2028}" || s == "\u{2029}"
    }

    static func index(line: Int, column: Int, in text: String) -> String.UnicodeScalarView.Index? {
        let scalars = text.unicodeScalars
        var i = scalars.startIndex
        var currentLine = 1
        while currentLine < line {
            guard i < scalars.endIndex else { return nil }
            let s = scalars[i]
            i = scalars.index(after: i)
            if s == "\r", i < scalars.endIndex, scalars[i] == "\n" { i = scalars.index(after: i) }
            if isBreak(s) { currentLine += 1 }
        }
        return scalars.index(i, offsetBy: column - 1, limitedBy: scalars.endIndex)
    }

    static func location(of target: String.Index, in text: String) -> SourcePosition {
        let scalars = text.unicodeScalars
        var i = scalars.startIndex
        var line = 1, column = 1
        while i < target, i < scalars.endIndex {
            let s = scalars[i]
            i = scalars.index(after: i)
            if s == "\r", i < scalars.endIndex, scalars[i] == "\n", i < target { i = scalars.index(after: i) }
            if isBreak(s) { line += 1; column = 1 } else { column += 1 }
        }
        return SourcePosition(line: line, column: column)
    }
}
