@testable import Worker
import Posix
import RoutingTable
import Testing

/// After a reload that moved listen addresses, a worker still on the old
/// sockets must not adopt a table whose service numbers no longer cover them.
@Suite struct ListenerService {
    func table(listen: [String]) throws -> [UInt8] {
        try TableBuilder.build(TableSpec(
            virtualServices: [VirtualServiceSpec(name: "www", listen: listen, pool: 0)],
            pools: [PoolSpec(name: "web", servers: [ServerSpec(name: "a", address: IPAddress("127.0.0.1")!, port: 9)])]))
    }

    @Test func aSocketMatchesOnlyTheAddressesItsServiceLists() throws {
        let fd = try EventLoop.bindListener(IPAddress("127.0.0.1")!, port: 0)
        defer { Posix.close(fd) }
        let port = try Posix.localAddress(fd).port
        for (listen, expected) in [
            (["127.0.0.1:\(port)"], true),
            (["[::1]:80", "127.0.0.1:\(port)"], true),
            (["[::ffff:127.0.0.1]:\(port)"], true),
            (["127.0.0.1:\(port &+ 1)"], false),
            (["127.0.0.2:\(port)"], false),
            (["[::1]:\(port)"], false),
        ] {
            let image = try table(listen: listen)
            try image.withUnsafeBytes { raw in
                let view = try RoutingTableView(validating: raw)
                #expect(EventLoop.table(view, lists: 0, boundTo: fd) == expected, "\(listen)")
            }
        }
    }
}
