import Glibc
import SharedState
import Testing
@testable import Worker

/// Which failed connects count against the server (passive detection) and
/// which are this machine's own trouble.
@Suite struct PassiveDetectionTests {
    @Test(arguments: [
        (ECONNREFUSED, DownReason(.passiveConnectRefused)),
        (ETIMEDOUT, DownReason(.passiveConnectTimeout)),
        (EHOSTUNREACH, DownReason(.socketError, detail: UInt16(EHOSTUNREACH))),
        (ENETUNREACH, DownReason(.socketError, detail: UInt16(ENETUNREACH))),
        (ECONNRESET, DownReason(.socketError, detail: UInt16(ECONNRESET))),
    ] as [(Int32, DownReason)])
    func theServersFaults(errno: Int32, reason: DownReason) {
        #expect(EventLoop.serverFault(connectResult: -errno) == reason)
    }

    @Test(arguments: [EADDRNOTAVAIL, ENOBUFS, ENOMEM, EMFILE, ECANCELED, EINVAL] as [Int32])
    func ourOwnTroubleBlamesNoServer(errno: Int32) {
        #expect(EventLoop.serverFault(connectResult: -errno) == nil)
    }
}
