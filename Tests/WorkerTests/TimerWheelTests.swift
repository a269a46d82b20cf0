import Testing
@testable import Worker

@Suite struct TimerWheelTests {
    func expire(_ wheel: inout TimerWheel, at now: UInt64) -> [UInt32] {
        let out = UnsafeMutableBufferPointer<UInt32>.allocate(capacity: 4)
        defer { out.deallocate() }
        var all: [UInt32] = []
        while true {
            let n = wheel.expire(now: now, into: out)
            all += out[0..<n]
            if n < out.count { break }
        }
        return all.sorted()
    }

    @Test func firesAtOrAfterDeadlineNeverBefore() {
        var wheel = TimerWheel(capacity: 8, nowMilliseconds: 1_000)
        wheel.schedule(3, at: 1_250)
        #expect(expire(&wheel, at: 1_249) == [])
        #expect(expire(&wheel, at: 1_270) == [3])
        #expect(wheel.scheduledCount == 0)
        #expect(expire(&wheel, at: 5_000) == [])
    }

    @Test func rescheduleMovesTheDeadline() {
        var wheel = TimerWheel(capacity: 8, nowMilliseconds: 0)
        wheel.schedule(1, at: 100)
        wheel.schedule(1, at: 5_000)
        #expect(expire(&wheel, at: 200) == [])
        #expect(wheel.scheduledCount == 1)
        #expect(expire(&wheel, at: 5_020) == [1])
    }

    @Test func cancelRemovesFromTheMiddleOfABucket() {
        var wheel = TimerWheel(capacity: 8, nowMilliseconds: 0)
        for id: UInt32 in 0..<5 { wheel.schedule(id, at: 100) }
        wheel.cancel(2)
        wheel.cancel(2)
        #expect(wheel.scheduledCount == 4)
        #expect(expire(&wheel, at: 200) == [0, 1, 3, 4])
    }

    @Test func deadlinesBeyondOneTurnWaitForTheirRound() {
        var wheel = TimerWheel(capacity: 8, nowMilliseconds: 0)
        let turn = TimerWheel.tickMilliseconds * UInt64(TimerWheel.bucketCount)
        wheel.schedule(7, at: turn + 50)   // same bucket as 50 ms, one turn later
        wheel.schedule(6, at: 50)
        #expect(expire(&wheel, at: 100) == [6])
        #expect(expire(&wheel, at: turn) == [])
        #expect(expire(&wheel, at: turn + 70) == [7])
    }

    @Test func aLongStallExpiresEverythingDueOnce() {
        var wheel = TimerWheel(capacity: 64, nowMilliseconds: 0)
        for id: UInt32 in 0..<64 { wheel.schedule(id, at: UInt64(id) * 997) }
        #expect(expire(&wheel, at: 1_000_000) == Array(0..<64))
        #expect(wheel.scheduledCount == 0)
    }

    @Test func nextExpiryIsTheNearestNonEmptyTick() {
        var wheel = TimerWheel(capacity: 8, nowMilliseconds: 0)
        #expect(wheel.millisecondsUntilNextExpiry(now: 0) == nil)
        wheel.schedule(0, at: 95)
        let wait = wheel.millisecondsUntilNextExpiry(now: 0)!
        #expect(wait >= 95 && wait <= 95 + TimerWheel.tickMilliseconds)
    }

    @Test(arguments: [UInt64(0), 5, 1_000, 123_456])
    func aHorizonShortensTheLookButNeverPassesADueTimer(start: UInt64) {
        var wheel = TimerWheel(capacity: 8, nowMilliseconds: start)
        wheel.schedule(0, at: start + 60_000)
        // Far beyond the horizon: the answer is about the horizon, not the timer.
        let capped = wheel.millisecondsUntilNextExpiry(now: start, horizon: 200)!
        #expect(capped >= 200 && capped <= 200 + 2 * TimerWheel.tickMilliseconds)
        // Within the horizon: the timer's own tick.
        wheel.schedule(1, at: start + 95)
        let near = wheel.millisecondsUntilNextExpiry(now: start, horizon: 200)!
        #expect(near >= 95 && near <= 95 + TimerWheel.tickMilliseconds)
        // A loop that stalled past the deadline (expire not yet run) is told to wake at once.
        #expect(wheel.millisecondsUntilNextExpiry(now: start + 500, horizon: 200) == 0)
    }
}
