import Config
import RoutingTable
import Testing
@testable import AviImport

@Suite struct PersistenceTests {
    static func profile(_ fields: String) -> String {
        """
        { "name": "p", "persistence_type": "PERSISTENCE_TYPE_CUSTOM_HTTP_HEADER",
          "hdr_persistence_profile": { "prst_hdr_name": "X-Server" }\(fields.isEmpty ? "" : ", " + fields) }
        """
    }

    static let persistentPool = """
        { "name": "web", "application_persistence_profile_ref": "/api/applicationpersistenceprofile/?tenant=admin&name=p",
          "servers": [
            { "ip": { "addr": "10.0.0.11", "type": "V4" }, "port": 8080, "hostname": "apache1", "prst_hdr_val": "server1" },
            { "ip": { "addr": "10.0.0.12", "type": "V4" }, "port": 8080, "hostname": "apache2", "prst_hdr_val": "server2" } ] }
        """

    @Test(arguments: [
        ("\"server_hm_down_recovery\": \"HM_DOWN_PICK_NEW_SERVER\"", ServerDownPolicy.immediate),
        ("\"server_hm_down_recovery\": \"HM_DOWN_CONTINUE_PERSISTENT_SERVER\"", .never),
        ("\"server_hm_down_recovery\": \"HM_DOWN_ABORT_CONNECTION\"", .abort),
        ("", .immediate),
    ])
    func serverDownPolicy(field: String, policy: ServerDownPolicy) throws {
        let (config, warnings) = try converted(export(profiles: [Self.profile(field)], pools: [Self.persistentPool],
                                                      virtualServices: [virtualService()]))
        #expect(warnings == [])
        #expect(config.persistenceProfiles == [PersistenceProfile(name: "p", headerName: "X-Server", serverDown: policy)])
        #expect(config.pools[0].persistenceProfile == "p")
        #expect(config.pools[0].servers.map(\.headerValue) == ["server1", "server2"])
    }

    @Test(arguments: [
        "PERSISTENCE_TYPE_HTTP_COOKIE", "PERSISTENCE_TYPE_CLIENT_IP_ADDRESS", "PERSISTENCE_TYPE_TLS",
        "PERSISTENCE_TYPE_APP_COOKIE",
    ])
    func otherPersistenceTypesLeaveThePoolWithout(type: String) throws {
        let profile = """
            { "name": "p", "persistence_type": "\(type)", "ip_persistence_profile": { "ip_persistent_timeout": 5 },
              "http_cookie_persistence_profile": { "cookie_name": "AVI", "always_send_cookie": false } }
            """
        let (config, warnings) = try converted(export(profiles: [profile], pools: [Self.persistentPool],
                                                      virtualServices: [virtualService()]))
        #expect(config.persistenceProfiles == [])
        #expect(config.pools[0].persistenceProfile == nil)
        // Without persistence Avi ignores the values; so does tether.
        #expect(config.pools[0].servers.map(\.headerValue) == [nil, nil])
        #expect(warnings == [
            "ApplicationPersistenceProfile 'p': persistence_type \(type) is not supported by tether (only "
                + "PERSISTENCE_TYPE_CUSTOM_HTTP_HEADER); profile not converted, the pools that use it get no persistence",
            "Pool 'web': its persistence profile 'p' uses \(type), which tether does not support; the pool has no persistence",
        ])
    }

    @Test func headerValuesTetherCannotMatchAreReported() throws {
        let pool = """
            { "name": "web", "application_persistence_profile_ref": "/api/applicationpersistenceprofile/?name=p",
              "servers": [
                { "ip": { "addr": "10.0.0.11", "type": "V4" }, "port": 80, "hostname": "a", "prst_hdr_val": "s1" },
                { "ip": { "addr": "10.0.0.12", "type": "V4" }, "port": 80, "hostname": "b", "prst_hdr_val": "s1" },
                { "ip": { "addr": "10.0.0.13", "type": "V4" }, "port": 80, "hostname": "c", "prst_hdr_val": " s3" },
                { "ip": { "addr": "10.0.0.14", "type": "V4" }, "port": 80, "hostname": "d", "prst_hdr_val": "caf\\u00e9" },
                { "ip": { "addr": "10.0.0.15", "type": "V4" }, "port": 80, "hostname": "e", "prst_hdr_val": "" },
                { "ip": { "addr": "10.0.0.16", "type": "V4" }, "port": 80, "hostname": "f", "prst_hdr_val": "with space" } ] }
            """
        let (config, warnings) = try converted(export(profiles: [Self.profile("")], pools: [pool], virtualServices: [virtualService()]))
        #expect(config.pools[0].servers.map(\.headerValue) == ["s1", nil, nil, nil, nil, "with space"])
        #expect(warnings == [
            "Pool 'web': servers 'a' and 'b' have the same prst_hdr_val 's1'; tether needs unique values, so 'a' takes it "
                + "and 'b' takes no pinned traffic",
            "Pool 'web': server 'c': prst_hdr_val \" s3\" has leading or trailing whitespace, which a request's value never "
                + "has after trimming; the server takes no pinned traffic",
            "Pool 'web': server 'd': prst_hdr_val \"café\" contains characters other than visible ASCII and inner spaces; "
                + "the server takes no pinned traffic",
        ])
    }

    @Test func anInvalidHeaderNameDropsTheProfile() throws {
        let profile = """
            { "name": "p", "persistence_type": "PERSISTENCE_TYPE_CUSTOM_HTTP_HEADER", "hdr_persistence_profile": { "prst_hdr_name": "X Server" } }
            """
        let (config, warnings) = try converted(export(profiles: [profile], pools: [Self.persistentPool], virtualServices: [virtualService()]))
        #expect(config.persistenceProfiles == [])
        #expect(config.pools[0].persistenceProfile == nil)
        #expect(warnings == [
            "ApplicationPersistenceProfile 'p': prst_hdr_name 'X Server' is not a valid HTTP header name; profile not "
                + "converted, the pools that use it get no persistence",
            "Pool 'web': its persistence profile 'p' uses an invalid header name, which tether does not support; the pool has no persistence",
        ])
    }

    @Test func aHeaderProfileWithoutAHeaderNameIsAnError() {
        let profile = #"{ "name": "p", "persistence_type": "PERSISTENCE_TYPE_CUSTOM_HTTP_HEADER" }"#
        let result = convert(export(profiles: [profile], pools: [Self.persistentPool], virtualServices: [virtualService()]))
        #expect(result.errors == [
            "ApplicationPersistenceProfile 'p': has no hdr_persistence_profile.prst_hdr_name (a custom HTTP header profile needs one)",
        ])
        #expect(result.yaml == nil)
    }
}

@Suite struct AlgorithmTests {
    @Test(arguments: [
        ("", LBAlgorithm.leastConnections, HashKey.clientIP),
        (#""lb_algorithm": "LB_ALGORITHM_LEAST_CONNECTIONS""#, .leastConnections, .clientIP),
        (#""lb_algorithm": "LB_ALGORITHM_ROUND_ROBIN""#, .roundRobin, .clientIP),
        (#""lb_algorithm": "LB_ALGORITHM_CONSISTENT_HASH""#, .consistentHash, .clientIP),
        (#""lb_algorithm": "LB_ALGORITHM_CONSISTENT_HASH", "lb_algorithm_hash": "LB_ALGORITHM_CONSISTENT_HASH_SOURCE_IP_ADDRESS""#,
         .consistentHash, .clientIP),
        (#""lb_algorithm": "LB_ALGORITHM_CONSISTENT_HASH", "lb_algorithm_hash": "LB_ALGORITHM_CONSISTENT_HASH_CUSTOM_HEADER", "lb_algorithm_consistent_hash_hdr": "X-User""#,
         .consistentHash, .header("X-User")),
        // Without consistent hashing the hash settings do nothing, in Avi as in tether.
        (#""lb_algorithm": "LB_ALGORITHM_ROUND_ROBIN", "lb_algorithm_hash": "LB_ALGORITHM_CONSISTENT_HASH_URI""#, .roundRobin, .clientIP),
    ])
    func algorithm(fields: String, algorithm: LBAlgorithm, key: HashKey) throws {
        let (config, warnings) = try converted(export(pools: [pool("web", fields)], virtualServices: [virtualService()]))
        #expect(warnings == [])
        #expect(config.pools[0].lbAlgorithm == algorithm)
        #expect(config.pools[0].hashKey == key)
    }

    @Test(arguments: [
        "LB_ALGORITHM_FASTEST_RESPONSE", "LB_ALGORITHM_LEAST_LOAD", "LB_ALGORITHM_FEWEST_SERVERS", "LB_ALGORITHM_RANDOM",
        "LB_ALGORITHM_FEWEST_TASKS", "LB_ALGORITHM_CORE_AFFINITY",
    ])
    func otherAlgorithmsFallBackToLeastConnections(algorithm: String) throws {
        let (config, warnings) = try converted(export(pools: [pool("web", "\"lb_algorithm\": \"\(algorithm)\"")],
                                                      virtualServices: [virtualService()]))
        #expect(config.pools[0].lbAlgorithm == .leastConnections)
        #expect(warnings == [
            "Pool 'web': lb_algorithm \(algorithm) is not supported by tether (least connections, round robin, consistent "
                + "hash); LB_ALGORITHM_LEAST_CONNECTIONS (Avi's default) is used",
        ])
    }

    @Test(arguments: [
        "LB_ALGORITHM_CONSISTENT_HASH_SOURCE_IP_ADDRESS_AND_PORT", "LB_ALGORITHM_CONSISTENT_HASH_URI",
        "LB_ALGORITHM_CONSISTENT_HASH_CUSTOM_STRING", "LB_ALGORITHM_CONSISTENT_HASH_CALLID",
    ])
    func otherHashKeysFallBackToTheClientAddress(hash: String) throws {
        let fields = "\"lb_algorithm\": \"LB_ALGORITHM_CONSISTENT_HASH\", \"lb_algorithm_hash\": \"\(hash)\""
        let (config, warnings) = try converted(export(pools: [pool("web", fields)], virtualServices: [virtualService()]))
        #expect(config.pools[0].lbAlgorithm == .consistentHash)
        #expect(config.pools[0].hashKey == .clientIP)
        #expect(warnings == [
            "Pool 'web': lb_algorithm_hash \(hash) is not supported by tether (client IP address or a custom header); "
                + "the pool hashes the client IP address instead",
        ])
    }

    @Test func aCustomHeaderHashNeedsItsHeader() {
        let fields = #""lb_algorithm": "LB_ALGORITHM_CONSISTENT_HASH", "lb_algorithm_hash": "LB_ALGORITHM_CONSISTENT_HASH_CUSTOM_HEADER""#
        let result = convert(export(pools: [pool("web", fields)], virtualServices: [virtualService()]))
        #expect(result.errors == [
            "Pool 'web': lb_algorithm_hash LB_ALGORITHM_CONSISTENT_HASH_CUSTOM_HEADER needs lb_algorithm_consistent_hash_hdr",
        ])
    }
}

@Suite struct FailActionTests {
    @Test(arguments: [
        // Without a fail_action Avi closes the client connection.
        ("", WhenAllDown.close),
        (#""fail_action": { "type": "FAIL_ACTION_CLOSE_CONN" }"#, .close),
        (#""fail_action": { "type": "FAIL_ACTION_HTTP_LOCAL_RSP" }"#, .localResponse(status: 503, retryAfterSeconds: 0)),
        (#""fail_action": { "type": "FAIL_ACTION_HTTP_LOCAL_RSP", "local_rsp": { "status_code": "FAIL_HTTP_STATUS_CODE_503" } }"#,
         .localResponse(status: 503, retryAfterSeconds: 0)),
        (#""fail_action": { "type": "FAIL_ACTION_HTTP_REDIRECT", "redirect": { "host": "sorry.example.com" } }"#,
         .redirect(status: 302, location: "https://sorry.example.com/")),
        (#""fail_action": { "type": "FAIL_ACTION_HTTP_REDIRECT", "redirect": { "host": "sorry.example.com", "protocol": "HTTP", "path": "down.html", "query": "from=web", "status_code": "HTTP_REDIRECT_STATUS_CODE_307" } }"#,
         .redirect(status: 307, location: "http://sorry.example.com/down.html?from=web")),
        (#""fail_action": { "type": "FAIL_ACTION_HTTP_REDIRECT", "redirect": { "host": "sorry.example.com", "path": "/x", "status_code": "HTTP_REDIRECT_STATUS_CODE_301" } }"#,
         .redirect(status: 301, location: "https://sorry.example.com/x")),
    ])
    func failAction(fields: String, action: WhenAllDown) throws {
        let (config, warnings) = try converted(export(pools: [pool("web", fields)], virtualServices: [virtualService()]))
        #expect(warnings == [])
        #expect(config.pools[0].whenAllDown == action)
    }

    @Test func whatTetherCannotAnswerIsReported() throws {
        let local = """
            "fail_action": { "type": "FAIL_ACTION_HTTP_LOCAL_RSP",
              "local_rsp": { "status_code": "FAIL_HTTP_STATUS_CODE_200", "file": { "content_type": "text/html", "file_content": "<p>down</p>" } } }
            """
        let backup = #""fail_action": { "type": "FAIL_ACTION_BACKUP_POOL", "backup_pool": { "backup_pool_ref": "/api/pool/?name=spare" } }"#
        let (config, warnings) = try converted(export(pools: [pool("a", local), pool("b", backup)],
                                                      virtualServices: [virtualService("one", pool: "a"), virtualService("two", pool: "b", port: 81)]))
        #expect(config.pools.map(\.whenAllDown) == [.localResponse(status: 503, retryAfterSeconds: 0), .close])
        #expect(warnings == [
            "Pool 'a': fail_action.local_rsp.status_code FAIL_HTTP_STATUS_CODE_200 is not supported by tether (its local "
                + "responses are errors, 400 to 599); 503 is used",
            "Pool 'a': field 'fail_action.local_rsp.file' is not supported by tether (its local responses carry a short "
                + "body of their own), dropped",
            "Pool 'b': fail_action type FAIL_ACTION_BACKUP_POOL is not supported by tether; the client connection is "
                + "closed instead (FAIL_ACTION_CLOSE_CONN, Avi's default)",
        ])
    }

    @Test func aRedirectNeedsAHost() {
        let fields = #""fail_action": { "type": "FAIL_ACTION_HTTP_REDIRECT", "redirect": { "path": "/down" } }"#
        let result = convert(export(pools: [pool("web", fields)], virtualServices: [virtualService()]))
        #expect(result.errors == ["Pool 'web': fail_action.redirect needs a host (Avi requires one)"])
    }
}

@Suite struct ServerTests {
    @Test func serversTakeTheirSettingsAndNames() throws {
        let pool = """
            { "name": "web", "default_server_port": 8080, "max_concurrent_connections_per_server": 250,
              "servers": [
                { "ip": { "addr": "10.0.0.1", "type": "V4" }, "hostname": "app-1.example.com" },
                { "ip": { "addr": "10.0.0.2", "type": "V4" }, "port": 0, "ratio": 20 },
                { "ip": { "addr": "10.0.0.2", "type": "V4" }, "port": 9090, "enabled": false },
                { "ip": { "addr": "2001:db8::7", "type": "V6" }, "port": 80, "hostname": "" },
                { "ip": { "addr": "10.0.0.9", "type": "V4" }, "port": 80, "hostname": "app-1.example.com" } ] }
            """
        let (config, warnings) = try converted(export(pools: [pool], virtualServices: [virtualService()]))
        #expect(warnings == [])
        #expect(config.pools[0].maxConnectionsPerServer == 250)
        #expect(config.pools[0].servers == [
            Server(name: "app-1.example.com", address: IPAddress("10.0.0.1")!, port: 8080),
            Server(name: "10.0.0.2", address: IPAddress("10.0.0.2")!, port: 8080, ratio: 20),
            Server(name: "10.0.0.2:9090", address: IPAddress("10.0.0.2")!, port: 9090, enabled: false),
            Server(name: "2001:db8::7", address: IPAddress("2001:db8::7")!, port: 80),
            Server(name: "app-1.example.com:80", address: IPAddress("10.0.0.9")!, port: 80),
        ])
    }

    @Test func aDisabledPoolHasEveryServerDisabled() throws {
        let (config, warnings) = try converted(export(pools: [pool("web", #""enabled": false"#)], virtualServices: [virtualService()]))
        #expect(warnings == [])
        #expect(config.pools[0].servers.map(\.enabled) == [false])
    }

    @Test func serversByNameAreDropped() throws {
        let pool = """
            { "name": "web", "servers": [
                { "ip": { "addr": "10.0.0.1", "type": "V4" }, "port": 80 },
                { "ip": { "addr": "app.example.com", "type": "DNS" }, "port": 80, "resolve_server_by_dns": true } ] }
            """
        let (config, warnings) = try converted(export(pools: [pool], virtualServices: [virtualService()]))
        #expect(config.pools[0].servers == [defaultServer])
        #expect(warnings == [
            "Pool 'web': server 'app.example.com' is given by DNS name; tether needs IP addresses (it resolves no names, "
                + "so every machine routes alike), server dropped",
        ])
    }

    /// One warning per setting for the whole pool, naming its servers.
    @Test func unsupportedServerSettingsAreReportedOncePerPool() throws {
        let pool = """
            { "name": "web", "servers": [
                { "ip": { "addr": "10.0.0.1", "type": "V4" }, "port": 80, "rewrite_host_header": true, "static": false },
                { "ip": { "addr": "10.0.0.2", "type": "V4" }, "port": 80, "rewrite_host_header": true, "preference_order": 3 },
                { "ip": { "addr": "10.0.0.3", "type": "V4" }, "port": 80, "rewrite_host_header": false,
                  "description": "spare", "vm_ref": "/api/vimgrvmruntime/vm-1", "external_uuid": "x", "mac_address": "00:11:22:33:44:55" } ] }
            """
        let (config, warnings) = try converted(export(pools: [pool], virtualServices: [virtualService()]))
        #expect(config.pools[0].servers.count == 3)
        #expect(warnings == [
            "Pool 'web': field 'servers[].rewrite_host_header' is not supported by tether (tether forwards the client's "
                + "Host header), dropped (servers '10.0.0.1', '10.0.0.2')",
            "Pool 'web': field 'servers[].preference_order' is not supported by tether (a GSLB setting), dropped "
                + "(server '10.0.0.2': 3)",
        ])
    }
}
