import Foundation
import Glibc
import Testing

/// `user:`: the supervisor binds and creates the shared state as root, then
/// it and every worker run as the configured user; reloads still work.
@Suite(.enabled(if: getuid() == 0, "dropping privileges needs root to start with"))
struct PrivilegeTests {
    func uid(of pid: pid_t) -> String? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        return status.split(separator: "\n").first { $0.hasPrefix("Uid:") }.map(String.init)
    }

    @Test func supervisorAndWorkersRunAsTheUserAndStillReload() throws {
        let fleet = try BackendFleet(names: ["apache1", "apache2"])
        var options = ProxyUnderTest.Options()
        options.workers = "2"
        options.user = "nobody"
        let proxy = try ProxyUnderTest(fleet: fleet, options: options)
        try proxy.process.waitForLine(containing: "running as user nobody (uid 65534", in: .stderr)
        let workers = try SupervisorTests.workers(of: proxy, count: 2)
        for pid in [proxy.process.pid] + workers {
            #expect(uid(of: pid) == "Uid:\t65534\t65534\t65534\t65534", "pid \(pid)")
        }
        #expect(try proxy.get("/", headers: ["X-Server: server2"]).header("X-Backend") == "apache2")

        options.headerValues = ["server2", "server1"]
        try proxy.writeConfig(options)
        let reload = try proxy.reload()
        #expect(reload.status == .exited(0), "\(reload.stdout)\(reload.stderr)\n\(proxy.process.logs)")
        #expect(try eventually { (0..<8).allSatisfy { _ in (try? proxy.get("/", headers: ["X-Server: server2"]).header("X-Backend")) == "apache1" } })
    }

    @Test func anUnknownUserRefusesToStart() throws {
        let fleet = try BackendFleet(names: ["apache1"])
        var options = ProxyUnderTest.Options()
        options.user = "no-such-user-\(getpid())"
        let proxy = try ProxyUnderTest(fleet: fleet, options: options, waitForPort: false)
        #expect(try proxy.process.waitForExit(timeout: .seconds(20)) == .exited(1))
        #expect(proxy.process.stderr.contains("user: no user named 'no-such-user-"), "\(proxy.process.logs)")
    }
}
