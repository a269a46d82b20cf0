import Foundation
import Testing
@testable import Config

/// Every diagnostic for `yaml`, as `tether check` prints them.
func diagnostics(_ yaml: String) -> [String] {
    ConfigLoader.parse(text: yaml, fileName: "t.yaml").diagnostics.map(\.description)
}

func errors(_ yaml: String) -> [String] {
    ConfigLoader.parse(text: yaml, fileName: "t.yaml").errors.map(\.description)
}

func warnings(_ yaml: String) -> [String] {
    ConfigLoader.parse(text: yaml, fileName: "t.yaml").warnings.map(\.description)
}

/// The configuration `yaml` describes; records an issue when it has errors.
func load(_ yaml: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> TetherConfig? {
    let result = ConfigLoader.parse(text: yaml, fileName: "t.yaml")
    #expect(result.errors.map(\.description) == [], sourceLocation: sourceLocation)
    return result.config
}

let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// A complete, valid configuration; cases add to it.
let minimalPool = """
    pools:
      - name: web
        servers:
          - { name: a, address: 10.0.0.1, port: 80 }
    virtual_services:
      - { name: www, listen: ["0.0.0.0:80"], pool: web }

    """

/// DESIGN.md §2's example, verbatim.
let designExample = """
    workers: auto                    # auto = one worker process per usable CPU, pinned
    user: tether                     # optional: drop privileges after binding
    runtime_dir: /run/tether         # shared memory, pid file
    admin: { listen: 127.0.0.1:9901 }   # optional: GET /metrics (Prometheus), GET /status (JSON)

    persistence_profiles:
      - name: by-x-server
        description: Pin clients to the server named in X-Server
        type: custom_http_header
        header_name: X-Server
        server_down: immediate       # immediate | never | abort

    health_monitors:
      - name: http-health
        type: http                   # http | tcp
        interval: 10s                # Avi's defaults: 10s, 4s, 2, 2
        timeout: 4s
        successful_checks: 2         # consecutive successes to mark up
        failed_checks: 2             # consecutive failures to mark down
        request: "GET /healthz HTTP/1.1"
        expected_status: [2xx, 3xx]

    pools:
      - name: web
        lb_algorithm: least_connections   # (Avi's default) | round_robin | consistent_hash
        hash_key: client_ip          # consistent_hash only: client_ip | header:NAME
        persistence_profile: by-x-server
        health_monitors: [http-health]
        max_connections_per_server: 0
        when_all_down: { action: local_response, status: 503 }   # | { action: close } | { action: redirect, status: 302, location: URL }
        servers:
          - { name: apache1, address: 10.0.0.11, port: 8080, header_value: server1 }
          - { name: apache2, address: 10.0.0.12, port: 8080, header_value: server2, ratio: 2 }
          - { name: apache3, address: 10.0.0.13, port: 8080, header_value: server3, enabled: false }

    virtual_services:
      - name: www
        listen: ["0.0.0.0:80", "[::]:80"]
        pool: web
        tls: { certificate: /etc/tether/www.crt, key: /etc/tether/www.key }   # optional
        x_forwarded_for: true
        timeouts: { client_header: 10s, client_idle: 60s, connect: 3s, server_response: 30s }
        max_header_bytes: 32KiB

    """
