import RoutingTable

func server(_ name: String, _ address: String, _ port: UInt16, value: String? = nil, ratio: UInt8 = 1, enabled: Bool = true) -> ServerSpec {
    ServerSpec(name: name, address: IPAddress(address)!, port: port, headerValue: value, ratio: ratio, enabled: enabled)
}

/// DESIGN.md §2's example, as a spec.
func exampleSpec() -> TableSpec {
    TableSpec(
        virtualServices: [
            VirtualServiceSpec(name: "www", listen: ["0.0.0.0:80", "[::]:80"], pool: 0,
                               timeouts: Timeouts(clientHeaderMs: 10_000, clientIdleMs: 60_000, connectMs: 3_000, serverResponseMs: 30_000)),
            VirtualServiceSpec(name: "api", listen: ["127.0.0.1:8081"], pool: 1, xForwardedFor: false,
                               timeouts: Timeouts(clientHeaderMs: 1, clientIdleMs: 2, connectMs: 3, serverResponseMs: 4),
                               maxHeaderBytes: 4096),
        ],
        pools: [
            PoolSpec(name: "web", persistence: PersistenceSpec(headerName: "X-Server", serverDown: .immediate),
                     servers: [
                        server("apache1", "10.0.0.11", 8080, value: "server1"),
                        server("apache2", "10.0.0.12", 8080, value: "server2", ratio: 2),
                        server("apache3", "10.0.0.13", 8080, value: "server3", enabled: false),
                     ]),
            PoolSpec(name: "api", lbAlgorithm: .consistentHash, hashKey: .header("X-User"),
                     maxConnectionsPerServer: 7, whenAllDown: .redirect(status: 302, location: "https://sorry.example/"),
                     servers: [server("v6", "2001:db8::1", 443)]),
        ])
}

func withImage<R>(_ spec: TableSpec, _ body: (RoutingTableView) throws -> R) throws -> R {
    let image = try TableBuilder.build(spec)
    return try image.withUnsafeBytes { raw in try body(try RoutingTableView(validating: raw)) }
}

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

extension PoolView {
    func lookup(_ s: String) -> UInt32? {
        bytes(s).withUnsafeBytes { lookup($0).server }
    }
}
