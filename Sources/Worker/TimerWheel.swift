/// A hashed timer wheel over a fixed set of timer ids: O(1) schedule and
/// cancel, intrusive lists in arrays allocated once. One deadline per id;
/// rescheduling moves the id only when its bucket changes.
///
/// Why a wheel rather than io_uring timeouts: every request moves its
/// connection's deadline (idle → header → response → idle). With
/// IORING_OP_TIMEOUT each move is a remove plus an add, two submissions and
/// two completions per request; here it is a few stores, and the loop waits
/// on the nearest tick through the wait call's own timeout.
struct TimerWheel: ~Copyable {
    static let tickMilliseconds: UInt64 = 10
    static let bucketCount = 1024
    static let none: UInt32 = .max

    let capacity: Int
    let heads: UnsafeMutablePointer<UInt32>
    let next: UnsafeMutablePointer<UInt32>
    let prev: UnsafeMutablePointer<UInt32>
    let bucketOf: UnsafeMutablePointer<UInt32>
    let deadlineTick: UnsafeMutablePointer<UInt64>
    /// The last tick whose bucket has been fully expired.
    var processedTick: UInt64
    private(set) var scheduledCount = 0

    init(capacity: Int, nowMilliseconds: UInt64) {
        self.capacity = capacity
        heads = .allocate(capacity: TimerWheel.bucketCount)
        heads.initialize(repeating: TimerWheel.none, count: TimerWheel.bucketCount)
        next = .allocate(capacity: capacity)
        prev = .allocate(capacity: capacity)
        bucketOf = .allocate(capacity: capacity)
        bucketOf.initialize(repeating: TimerWheel.none, count: capacity)
        deadlineTick = .allocate(capacity: capacity)
        deadlineTick.initialize(repeating: 0, count: capacity)
        processedTick = nowMilliseconds / TimerWheel.tickMilliseconds
    }

    deinit {
        heads.deallocate(); next.deallocate(); prev.deallocate()
        bucketOf.deallocate(); deadlineTick.deallocate()
    }

    /// Arms (or re-arms) `id` to expire at `deadline` (monotonic ms).
    @inline(__always)
    mutating func schedule(_ id: UInt32, at deadline: UInt64) {
        let tick = max(deadline / TimerWheel.tickMilliseconds + 1, processedTick + 1)
        let bucket = UInt32(tick & UInt64(TimerWheel.bucketCount - 1))
        deadlineTick[Int(id)] = tick
        if bucketOf[Int(id)] == bucket { return }
        cancel(id)
        link(id, bucket)
    }

    @inline(__always)
    mutating func cancel(_ id: UInt32) {
        let b = bucketOf[Int(id)]
        if b == TimerWheel.none { return }
        let n = next[Int(id)], p = prev[Int(id)]
        if p == TimerWheel.none { heads[Int(b)] = n } else { next[Int(p)] = n }
        if n != TimerWheel.none { prev[Int(n)] = p }
        bucketOf[Int(id)] = TimerWheel.none
        scheduledCount -= 1
    }

    @inline(__always)
    private mutating func link(_ id: UInt32, _ bucket: UInt32) {
        let h = heads[Int(bucket)]
        next[Int(id)] = h
        prev[Int(id)] = TimerWheel.none
        if h != TimerWheel.none { prev[Int(h)] = id }
        heads[Int(bucket)] = id
        bucketOf[Int(id)] = bucket
        scheduledCount += 1
    }

    /// Unlinks up to `into.count` ids whose deadline has passed and writes
    /// them to `into`; call again while it returns a full buffer.
    mutating func expire(now: UInt64, into out: UnsafeMutableBufferPointer<UInt32>) -> Int {
        let nowTick = now / TimerWheel.tickMilliseconds
        var found = 0
        // After a long stall every bucket is visited once, not once per tick.
        let firstTick = max(processedTick + 1, nowTick >= UInt64(TimerWheel.bucketCount) ? nowTick - UInt64(TimerWheel.bucketCount) + 1 : 0)
        var tick = firstTick
        while tick <= nowTick {
            let bucket = Int(tick & UInt64(TimerWheel.bucketCount - 1))
            var id = heads[bucket]
            while id != TimerWheel.none {
                let following = next[Int(id)]
                if deadlineTick[Int(id)] <= nowTick {
                    if found == out.count { return found }
                    cancel(id)
                    out[found] = id
                    found += 1
                }
                id = following
            }
            processedTick = tick
            tick += 1
        }
        return found
    }

    /// Milliseconds until the next tick that has anything to expire, scanning
    /// at most a quarter of the wheel, or only as far as `horizon`
    /// milliseconds when the caller wakes by then anyway (the answer is then
    /// at most about `horizon`); nil when nothing is scheduled.
    func millisecondsUntilNextExpiry(now: UInt64, horizon: UInt64? = nil) -> UInt64? {
        if scheduledCount == 0 { return nil }
        let nowTick = now / TimerWheel.tickMilliseconds
        var tick = processedTick + 1
        var span = UInt64(TimerWheel.bucketCount / 4)
        if let horizon {
            // Ticks up to now are due; beyond that, the horizon's worth (+1 for rounding).
            let due = nowTick >= tick ? nowTick - tick + 1 : 0
            span = min(span, due + horizon / TimerWheel.tickMilliseconds + 1)
        }
        let limit = tick + span
        while tick < limit {
            if heads[Int(tick & UInt64(TimerWheel.bucketCount - 1))] != TimerWheel.none { break }
            tick += 1
        }
        let due = tick * TimerWheel.tickMilliseconds
        if tick <= nowTick || due <= now { return 0 }
        return due - now
    }
}
