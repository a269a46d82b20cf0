import CLinux

/// Which worker process holds which holdings record of the shared state
/// (`WorkerHoldings`: its share of every server's counts). One record per
/// live worker process, not per worker slot: a worker replaced by a listen
/// change drains beside its successor in the same slot. A record is taken
/// at spawn and released when its process is reaped, after the supervisor
/// took its shares back; free records are all zero.
struct HoldingsRecords {
    private var free: [Int]
    private var holders: [pid_t: Int] = [:]

    init(capacity: Int) {
        free = Array((0 ..< capacity).reversed())  // lowest first
    }

    var freeCount: Int { free.count }

    /// A free record for a worker about to start; nil when every one is held.
    mutating func take() -> Int? { free.popLast() }

    /// `record` (from `take`) belongs to the started worker `pid`.
    mutating func assign(_ record: Int, to pid: pid_t) { holders[pid] = record }

    /// Returns a record whose worker never started.
    mutating func putBack(_ record: Int) { free.append(record) }

    /// The record of `pid`, which has been reaped; it is free again for the
    /// next `take`, so its shares must be taken back before then.
    mutating func release(_ pid: pid_t) -> Int? {
        guard let record = holders.removeValue(forKey: pid) else { return nil }
        free.append(record)
        return record
    }
}
