import Foundation
import Glibc
import Testing

/// `tether run` under a Type=notify unit: READY=1 once every worker runs,
/// STOPPING=1 when SIGTERM arrives, to the socket named in NOTIFY_SOCKET.
@Suite struct SystemdNotifyIntegration {
    @Test(arguments: [false, true])
    func readyAndStoppingReachTheNotifySocket(abstract: Bool) throws {
        let fleet = try BackendFleet(names: ["apache1"])
        let socket = try NotifySocket(abstract: abstract)
        let port = try freeLoopbackPort()
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("notify-\(UUID().uuidString).yaml")
        let runtime = FileManager.default.temporaryDirectory.appendingPathComponent("notify-run-\(UUID().uuidString)")
        try """
            workers: 2
            runtime_dir: \(runtime.path)
            pools:
              - name: web
                servers: [{ name: apache1, address: 127.0.0.1, port: \(fleet["apache1"].port) }]
            virtual_services:
              - { name: www, listen: ["127.0.0.1:\(port)"], pool: web }
            """.write(to: config, atomically: true, encoding: .utf8)
        let proxy = try ManagedProcess(arguments: ["run", "-c", config.path], environment: ["NOTIFY_SOCKET": socket.name])
        let ready = socket.receive()
        #expect(ready?.hasPrefix("READY=1\nSTATUS=2 workers listening on 127.0.0.1:\(port)") == true, "\(ready ?? "nothing")\n\(proxy.logs)")
        #expect(ready?.hasSuffix("MAINPID=\(proxy.pid)") == true)
        // Listener migration is set where the supervisor may, and said either way.
        try proxy.waitForLine(containing: "tcp_migrate_req", in: .stderr)
        if getuid() == 0 {
            #expect((try? String(contentsOfFile: "/proc/sys/net/ipv4/tcp_migrate_req", encoding: .utf8))?.hasPrefix("1") == true)
        }
        // A reload is bracketed by RELOADING=1 and READY=1, as Type=notify-reload expects.
        try proxy.send(signal: SIGHUP)
        #expect(socket.receive()?.hasPrefix("RELOADING=1\nMONOTONIC_USEC=") == true)
        #expect(socket.receive() == "READY=1\nSTATUS=generation 2")
        try proxy.send(signal: SIGTERM)
        #expect(socket.receive() == "STOPPING=1")
        #expect(try proxy.waitForExit(timeout: .seconds(20)) == .exited(0))
    }
}
