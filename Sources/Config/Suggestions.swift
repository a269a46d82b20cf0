/// "Did you mean" for misspelt keys, values and names.
enum Suggestions {
    /// The candidate closest to `word`, when it is close enough to be a
    /// likely typo: a small edit distance after folding case and `-`/`_`,
    /// or a prefix of one another.
    static func closest(to word: String, in candidates: some Sequence<String>) -> String? {
        let folded = fold(word)
        let limit = max(1, min(3, folded.count / 3))
        var best: (candidate: String, distance: Int)?
        for candidate in candidates {
            let c = fold(candidate)
            if c == folded { return candidate }
            let d = editDistance(folded, c, limit: limit)
            if d <= limit, d < (best?.distance ?? Int.max) { best = (candidate, d) }
        }
        if let best { return best.candidate }
        // "leastconn" for "least_connections", "timeouts" for "timeout".
        let bare = folded.filter { $0 != UInt8(ascii: "_") }
        if bare.count >= 3 {
            for candidate in candidates {
                let c = fold(candidate).filter { $0 != UInt8(ascii: "_") }
                if c.starts(with: bare) || (bare.starts(with: c) && c.count >= 3) { return candidate }
            }
        }
        return nil
    }

    /// " (did you mean 'x'?)" or "".
    static func hint(for word: String, in candidates: some Sequence<String>) -> String {
        closest(to: word, in: candidates).map { "; did you mean '\($0)'?" } ?? ""
    }

    private static func fold(_ s: String) -> [UInt8] {
        s.utf8.map { b in
            if b == UInt8(ascii: "-") { return UInt8(ascii: "_") }
            if b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z") { return b + 32 }
            return b
        }
    }

    /// Edit distance counting a swap of neighbours as one edit (optimal
    /// string alignment), or something above `limit` once it is exceeded.
    static func editDistance(_ a: [UInt8], _ b: [UInt8], limit: Int) -> Int {
        if abs(a.count - b.count) > limit { return limit + 1 }
        if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
        var beforePrevious = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            var rowMinimum = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    current[j] = min(current[j], beforePrevious[j - 2] + 1)
                }
                rowMinimum = min(rowMinimum, current[j])
            }
            if rowMinimum > limit { return limit + 1 }
            (beforePrevious, previous, current) = (previous, current, beforePrevious)
        }
        return previous[b.count]
    }
}
