/// When to start a worker again after it died: exponential backoff from
/// `initialMilliseconds` doubling to `maximumMilliseconds`, back to the start
/// once a worker has run `healthyMilliseconds`; more than `crashLoopDeaths`
/// deaths within `crashLoopWindowMilliseconds` is a crash loop, which waits
/// the maximum every time. It never gives up: the supervisor keeps serving
/// with the workers that do run.
///
/// A value with no clock of its own: the caller passes the times.
public struct RespawnBackoff: Sendable, Equatable {
    public var initialMilliseconds: UInt64 = 50
    public var maximumMilliseconds: UInt64 = 5_000
    public var healthyMilliseconds: UInt64 = 30_000
    public var crashLoopDeaths = 10
    public var crashLoopWindowMilliseconds: UInt64 = 60_000

    /// The wait before the next restart, unless the worker ran healthy.
    private var next: UInt64 = 0
    /// Death times within the crash-loop window, oldest first.
    private var deaths: [UInt64] = []

    public init() {}

    /// What `died(at:startedAt:)` decided.
    public struct Decision: Sendable, Equatable {
        /// Wait this long before starting the worker again.
        public var delayMilliseconds: UInt64
        /// Deaths within the crash-loop window, this one included.
        public var recentDeaths: Int
        /// More than `crashLoopDeaths` within the window.
        public var crashLoop: Bool
    }

    /// Records a death at `now` of a worker started at `startedAt`.
    public mutating func died(at now: UInt64, startedAt: UInt64) -> Decision {
        if next == 0 || now &- startedAt >= healthyMilliseconds {
            next = initialMilliseconds
        }
        deaths.append(now)
        let windowStart = now >= crashLoopWindowMilliseconds ? now - crashLoopWindowMilliseconds : 0
        if let firstRecent = deaths.firstIndex(where: { $0 > windowStart }) {
            deaths.removeFirst(firstRecent)
        }
        let crashLoop = deaths.count > crashLoopDeaths
        let delay = crashLoop ? maximumMilliseconds : next
        next = min(next * 2, maximumMilliseconds)
        return Decision(delayMilliseconds: delay, recentDeaths: deaths.count, crashLoop: crashLoop)
    }
}
