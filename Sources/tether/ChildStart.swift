import ArgumentParser
import CLinux
import Posix
import SharedState

/// What a child of the supervisor (a worker, the health monitor) does
/// first: ignore SIGUSR1, never outlive the supervisor (SIGTERM when it
/// goes, and a check that it has not gone already), then take the table
/// image and the shared state it inherited as descriptors.
enum ChildStart {
    static func attach(tableFd: CInt, stateFd: CInt, supervisor: Int32, log: Logger) throws -> (image: [UInt8], region: SharedRegion) {
        // SIGUSR1 is the supervisor's (reopen the access log), but `systemctl
        // kill -s USR1` signals every process of the unit: its default
        // action would end this one.
        Posix.ignoreSignal(SIGUSR1)
        try Posix.setParentDeathSignal(SIGTERM)
        if Posix.parentProcessID() != supervisor {
            log.error("the supervisor (pid \(supervisor)) is gone; not starting")
            throw ExitCode(1)
        }
        let image = try Posix.readAll(tableFd)
        Posix.close(tableFd)
        let stateSize = try Posix.fileSize(stateFd)
        let stateBase = try Posix.mapShared(stateFd, bytes: stateSize, writable: true)
        Posix.close(stateFd)
        return (image, try SharedRegion(attaching: stateBase, size: stateSize))
    }
}
