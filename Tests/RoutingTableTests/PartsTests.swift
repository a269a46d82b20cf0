import Testing
import RoutingTable

@Suite struct IPAddressParsing {
    @Test(arguments: [
        ("10.0.0.11", "10.0.0.11"), ("0.0.0.0", "0.0.0.0"), ("255.255.255.255", "255.255.255.255"),
        ("::", "::"), ("::1", "::1"), ("[::1]", "::1"), ("2001:db8::1", "2001:db8::1"),
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"), ("fe80::1:0:0:2", "fe80::1:0:0:2"),
        ("::ffff:10.0.0.1", "::ffff:a00:1"), ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"), ("1::", "1::"),
    ])
    func valid(text: String, canonical: String) {
        #expect(IPAddress(text)?.description == canonical)
    }

    @Test(arguments: ["", "10.0.0", "10.0.0.256", "10.0.0.1.2", "010.0.0.1", "1.2.3.-4", "a.b.c.d", "localhost",
                      ":::", "1:2:3:4:5:6:7:8:9", "1::2::3", "12345::", "g::1", "[::1", "::1]", "1:2:3:4:5:6:7::8:9",
                      " 10.0.0.1", "10.0.0.1 "])
    func invalid(text: String) {
        #expect(IPAddress(text) == nil)
    }

    @Test func familiesDiffer() {
        #expect(IPAddress("0.0.0.0")! != IPAddress("::")!)
        #expect(IPAddress("10.0.0.1")!.family == .v4)
        #expect(IPAddress("::1")!.octets == Array(repeating: 0, count: 15) + [1])
    }
}

@Suite struct WeightedOrder {
    @Test(arguments: [[1], [1, 1, 1], [2, 2], [5, 1, 1], [1, 20, 3, 7], [20, 19, 1]])
    func eachServerAppearsRatioTimes(ratios: [Int]) {
        let order = SmoothWeightedOrder.sequence(ratios: ratios)
        #expect(order.count == ratios.reduce(0, +))
        for (i, r) in ratios.enumerated() { #expect(order.filter { $0 == i }.count == r) }
    }

    @Test func turnsAreSpreadNotBunched() {
        #expect(SmoothWeightedOrder.sequence(ratios: [5, 1, 1]) == [0, 0, 1, 0, 2, 0, 0])
        #expect(SmoothWeightedOrder.sequence(ratios: [1, 1, 1]) == [0, 1, 2])
        #expect(SmoothWeightedOrder.sequence(ratios: [2, 1]) == [0, 1, 0])
    }

    /// Cyclically, no server waits more than twice its fair gap W/r (a bunched order would wait W-r+1).
    @Test(arguments: [[5, 1, 1], [1, 20, 3, 7], [20, 19, 1], [2, 3, 5, 7, 11]])
    func gapsAreBoundedByShare(ratios: [Int]) {
        let order = SmoothWeightedOrder.sequence(ratios: ratios)
        let w = order.count
        for (i, r) in ratios.enumerated() {
            let turns = order.indices.filter { order[$0] == i }
            let gaps = zip(turns, turns.dropFirst() + [turns[0] + w]).map { $1 - $0 }
            #expect(gaps.max()! <= 2 * ((w + r - 1) / r), "server \(i) ratio \(r): gaps \(gaps)")
        }
    }

    @Test func heavyServerNeverWaitsLongerThanItsShare() {
        // With ratio 10 of 13, server 0 is never absent for more than one turn in a row.
        let order = SmoothWeightedOrder.sequence(ratios: [10, 2, 1])
        var gap = 0, worst = 0
        for s in order + order { if s == 0 { gap = 0 } else { gap += 1; worst = max(worst, gap) } }
        #expect(worst <= 1)
    }
}

@Suite struct Hashing {
    @Test func stableAcrossVersions() {
        // Pinned: changing these moves every client of every replacement.
        #expect(TetherHash.hash("server1") == TetherHash.hash(Array("server1".utf8)))
        #expect(TetherHash.hash("") != TetherHash.hash("\0"))
        #expect(TetherHash.hash("abcdefgh") != TetherHash.hash("abcdefgh\0"))
    }

    @Test func everyInputByteMatters() {
        let base = Array("the quick brown fox jumps".utf8)
        let h = TetherHash.hash(base)
        for i in base.indices {
            var changed = base
            changed[i] ^= 1
            #expect(TetherHash.hash(changed) != h)
        }
    }

    @Test func identityDependsOnAddressAndPort() {
        let a = ServerIdentity.hash(address: IPAddress("10.0.0.1")!, port: 80)
        #expect(a == ServerIdentity.hash(address: IPAddress("10.0.0.1")!, port: 80))
        #expect(a != ServerIdentity.hash(address: IPAddress("10.0.0.1")!, port: 81))
        #expect(a != ServerIdentity.hash(address: IPAddress("10.0.0.2")!, port: 80))
        #expect(a != ServerIdentity.hash(address: IPAddress("::ffff:10.0.0.1")!, port: 80))
    }
}
