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
                               maxHeaderBytes: 4096, tls: exampleTLS),
        ],
        pools: [
            PoolSpec(name: "web", persistence: PersistenceSpec(headerName: "X-Server", serverDown: .immediate),
                     servers: [
                        server("apache1", "10.0.0.11", 8080, value: "server1"),
                        server("apache2", "10.0.0.12", 8080, value: "server2", ratio: 2),
                        server("apache3", "10.0.0.13", 8080, value: "server3", enabled: false),
                     ],
                     healthMonitors: [1, 0]),
            PoolSpec(name: "api", lbAlgorithm: .consistentHash, hashKey: .header("X-User"),
                     maxConnectionsPerServer: 7, whenAllDown: .redirect(status: 302, location: "https://sorry.example/"),
                     servers: [server("v6", "2001:db8::1", 443)]),
        ],
        healthMonitors: exampleMonitors)
}

/// Two certificates; the table does not parse PEM, so any bytes do.
let exampleTLS = TLSSpec(
    certificates: [
        TLSCertificateSpec(chainPEM: bytes("-----BEGIN CERTIFICATE-----\nA\n"), keyPEM: bytes("key a"), serverNames: []),
        TLSCertificateSpec(chainPEM: Array(0...255), keyPEM: bytes("key b"), serverNames: ["b.example", "*.b.example"]),
    ],
    minVersionMinor: 3, ciphers: "ECDHE-ECDSA-AES128-GCM-SHA256", ciphersuites: "TLS_AES_128_GCM_SHA256")

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

let exampleMonitors = [
    HealthMonitorSpec(name: "tcp", check: .tcp, intervalMs: 5_000, timeoutMs: 1_000, successfulChecks: 3, failedChecks: 1),
    HealthMonitorSpec(name: "http-health",
                      check: .http(request: "GET /healthz HTTP/1.1\r\nConnection: close\r\n", hasHost: false,
                                   expected: ExpectedStatus(classes: 1 << 2 | 1 << 3, codes: [404, 503])),
                      intervalMs: 10_000, timeoutMs: 4_000, successfulChecks: 2, failedChecks: 50),
]
