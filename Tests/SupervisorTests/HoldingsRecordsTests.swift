import Glibc
import Testing
@testable import Supervisor

/// One holdings record per live worker process: a record is free again
/// only once its own process is reaped.
struct HoldingsRecordsTests {
    @Test func aRecordIsHeldByItsProcessUntilThatProcessIsReaped() {
        var records = HoldingsRecords(capacity: 3)
        let (a, b) = (records.take(), records.take())
        #expect(a == 0 && b == 1 && records.freeCount == 1)
        records.assign(a!, to: 100)
        // A successor in the same worker slot gets a record of its own.
        records.assign(b!, to: 200)
        #expect(records.release(300) == nil, "a process that held none gives none back")
        #expect(records.release(100) == 0 && records.freeCount == 2)
        #expect(records.release(100) == nil, "released once")
        #expect(records.take() == 0)
        #expect(records.release(200) == 1)
    }

    @Test func aRecordWhoseWorkerNeverStartedGoesBack() {
        var records = HoldingsRecords(capacity: 1)
        let record = records.take()!
        #expect(records.take() == nil)
        records.putBack(record)
        #expect(records.freeCount == 1 && records.take() == record)
    }
}
