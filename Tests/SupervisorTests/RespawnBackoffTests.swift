import Supervisor
import Testing

struct RespawnBackoffTests {
    /// Deaths in quick succession: 50 ms doubling to the 5 s ceiling.
    @Test func delaysDoubleUpToTheMaximum() {
        var backoff = RespawnBackoff()
        var now: UInt64 = 1_000_000
        var delays: [UInt64] = []
        for _ in 0..<9 {
            let d = backoff.died(at: now, startedAt: now - 10)
            delays.append(d.delayMilliseconds)
            now += d.delayMilliseconds + 10
        }
        #expect(delays == [50, 100, 200, 400, 800, 1600, 3200, 5000, 5000])
    }

    @Test(arguments: [(29_999 as UInt64, 200 as UInt64), (30_000, 50), (600_000, 50)])
    func aWorkerThatRanHealthyStartsOver(ranFor: UInt64, expected: UInt64) {
        var backoff = RespawnBackoff()
        var now: UInt64 = 1_000_000
        _ = backoff.died(at: now, startedAt: now - 5)
        now += 100
        _ = backoff.died(at: now, startedAt: now - 5)
        now += 1_000 + ranFor
        #expect(backoff.died(at: now, startedAt: now - ranFor).delayMilliseconds == expected)
    }

    /// More than ten deaths in 60 s is a crash loop: the maximum wait, every
    /// time, even for a worker that would otherwise start over.
    @Test func moreThanTenDeathsInAMinuteIsACrashLoop() {
        var backoff = RespawnBackoff()
        backoff.maximumMilliseconds = 1_000
        var now: UInt64 = 1_000_000
        var decisions: [RespawnBackoff.Decision] = []
        for _ in 0..<12 {
            decisions.append(backoff.died(at: now, startedAt: now - 1))
            now += 1_000
        }
        #expect(decisions.prefix(10).allSatisfy { !$0.crashLoop })
        #expect(decisions[10].crashLoop && decisions[10].recentDeaths == 11)
        #expect(decisions[11].crashLoop && decisions[11].delayMilliseconds == 1_000)
    }

    @Test func deathsOutsideTheWindowAreForgotten() {
        var backoff = RespawnBackoff()
        var now: UInt64 = 1_000_000
        for _ in 0..<11 {
            _ = backoff.died(at: now, startedAt: now - 1)
            now += 5_000
        }
        // Eleven deaths 5 s apart; the twelfth comes 65 s after the first,
        // when the two oldest have left the 60 s window.
        now += 10_000
        let d = backoff.died(at: now, startedAt: now - 1)
        #expect(d.recentDeaths == 10)
        #expect(!d.crashLoop, "\(d)")
    }
}
