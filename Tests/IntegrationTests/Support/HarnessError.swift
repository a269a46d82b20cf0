import Glibc

/// A harness failure, worded so the test report says what went wrong where.
struct HarnessError: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) {
        self.description = description
    }
}

/// A point in time that polling loops run until.
struct Deadline {
    let instant: ContinuousClock.Instant

    init(after duration: Duration) {
        instant = ContinuousClock.now.advanced(by: duration)
    }

    var hasPassed: Bool { ContinuousClock.now >= instant }

    /// Milliseconds left, rounded up, at least 0: a poll(2) timeout.
    var remainingMilliseconds: Int32 {
        let remaining = ContinuousClock.now.duration(to: instant)
        guard remaining > .zero else { return 0 }
        let (seconds, attoseconds) = remaining.components
        let milliseconds = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int32(clamping: milliseconds)
    }
}

/// Waits between two polls of something that has no readiness signal
/// (a file growing, a port opening). Always bounded by a `Deadline`.
func pollInterval() {
    var request = timespec(tv_sec: 0, tv_nsec: 5_000_000)
    nanosleep(&request, nil)
}
