/// The order in which weighted round robin visits a pool's servers: each
/// server appears `ratio` times, spread as evenly as the ratios allow, so
/// ratios 5:1:1 give a a b a c a a rather than a a a a a b c.
/// Computed once per table, stepped through by a per-worker cursor.
public enum SmoothWeightedOrder {
    /// Above this many steps (servers × total ratio) the exact smooth order
    /// would make a reload slow; a near-smooth order in O(W log W) is used.
    static let smoothWorkLimit = 1 << 26

    public static func sequence(ratios: [Int]) -> [Int] {
        guard let first = ratios.first else { return [] }
        if ratios.allSatisfy({ $0 == first }) {
            var out: [Int] = []
            out.reserveCapacity(ratios.count * first)
            for _ in 0..<first { out.append(contentsOf: ratios.indices) }
            return out
        }
        let total = ratios.reduce(0, +)
        return ratios.count * total <= smoothWorkLimit
            ? smooth(ratios: ratios, total: total) : divisors(ratios: ratios, total: total)
    }

    /// nginx's smooth weighted round robin, run for one full cycle: every
    /// step each server gains its ratio, the richest is picked and pays the
    /// total. After `total` steps every server has had exactly `ratio` turns.
    static func smooth(ratios: [Int], total: Int) -> [Int] {
        var current = [Int](repeating: 0, count: ratios.count)
        var out: [Int] = []
        out.reserveCapacity(total)
        for _ in 0..<total {
            var best = 0
            for i in ratios.indices {
                current[i] += ratios[i]
                if current[i] > current[best] { best = i }
            }
            current[best] -= total
            out.append(best)
        }
        return out
    }

    /// Sainte-Laguë divisors: server i's k-th turn falls at (2k-1)/(2·ratio_i).
    static func divisors(ratios: [Int], total: Int) -> [Int] {
        // (server, turn k): position (2k-1)/(2·r), compared exactly by cross-multiplication.
        var turns: [(server: Int32, k: Int32)] = []
        turns.reserveCapacity(total)
        for (i, r) in ratios.enumerated() where r > 0 {
            for k in 1...r { turns.append((Int32(i), Int32(k))) }
        }
        turns.sort { a, b in
            let lhs = Int64(2 * a.k - 1) * Int64(ratios[Int(b.server)])
            let rhs = Int64(2 * b.k - 1) * Int64(ratios[Int(a.server)])
            return lhs != rhs ? lhs < rhs : a.server < b.server
        }
        return turns.map { Int($0.server) }
    }
}
