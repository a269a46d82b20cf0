import Config
import RoutingTable
import Testing
@testable import AviImport

@Suite struct ReferenceTests {
    @Test(arguments: [
        ("/api/pool/?name=web", AviReference(collection: "pool", name: "web")),
        ("/api/pool?tenant=admin&name=web&cloud=Default-Cloud", AviReference(collection: "pool", name: "web")),
        ("/api/pool/?tenant=admin&name=web+blue%2Fgreen", AviReference(collection: "pool", name: "web blue/green")),
        ("/api/pool/pool-8f2c#web", AviReference(collection: "pool", uuid: "pool-8f2c", name: "web")),
        ("https://10.1.1.1/api/pool/pool-8f2c", AviReference(collection: "pool", uuid: "pool-8f2c")),
        ("https://avi.example.com/api/healthmonitor/healthmonitor-1#System-HTTP",
         AviReference(collection: "healthmonitor", uuid: "healthmonitor-1", name: "System-HTTP")),
        ("web", AviReference(name: "web")),
        ("/api/pool/?name=bad%zz", AviReference(collection: "pool")),
        ("/somewhere/else", AviReference()),
    ])
    func parsing(text: String, reference: AviReference) {
        #expect(AviReference(text) == reference)
    }

    @Test func referencesResolveByUUIDThenByName() throws {
        let pools = [
            #"{ "name": "blue", "uuid": "pool-1", "servers": [ { "ip": { "addr": "10.0.0.1", "type": "V4" }, "port": 80 } ] }"#,
            #"{ "name": "green", "uuid": "pool-2", "servers": [ { "ip": { "addr": "10.0.0.2", "type": "V4" }, "port": 80 } ] }"#,
        ]
        let services = [
            virtualService("a", pool: "blue", port: 80),
            #"{ "name": "b", "pool_ref": "/api/pool/pool-2#blue", "services": [ { "port": 81 } ], "vip": [ { "ip_address": { "addr": "10.0.0.100" } } ] }"#,
            #"{ "name": "c", "pool_ref": "/api/pool/pool-9#green", "services": [ { "port": 82 } ], "vip": [ { "ip_address": { "addr": "10.0.0.100" } } ] }"#,
            #"{ "name": "d", "pool_ref": "green", "services": [ { "port": 83 } ], "vip": [ { "ip_address": { "addr": "10.0.0.100" } } ] }"#,
        ]
        let (config, warnings) = try converted(export(pools: pools, virtualServices: services))
        #expect(warnings == [])
        // b: the uuid wins over the name after '#'; c: an unknown uuid falls back to the name.
        #expect(config.virtualServices.map(\.pool) == ["blue", "green", "green", "green"])
    }

    @Test func brokenReferencesAreErrors() {
        let json = export(
            pools: [pool("web", """
                "application_persistence_profile_ref": "/api/applicationpersistenceprofile/?name=nope",
                "health_monitor_refs": ["/api/healthmonitor/?name=System-HTTP", "/api/pool/?name=web"]
                """)],
            virtualServices: [
                virtualService("www", pool: "missing"),
                #"{ "name": "uuid-only", "pool_ref": "/api/pool/pool-404", "services": [ { "port": 81 } ] }"#,
                #"{ "name": "garbled", "pool_ref": "/api/pool/", "services": [ { "port": 82 } ] }"#,
            ])
        let result = convert(json)
        #expect(result.yaml == nil)
        #expect(result.errors == [
            "Pool 'web': field 'application_persistence_profile_ref' refers to ApplicationPersistenceProfile 'nope', which is not in the export",
            "Pool 'web': field 'health_monitor_refs' refers to HealthMonitor 'System-HTTP', which is not in the export",
            "Pool 'web': field 'health_monitor_refs' ('/api/pool/?name=web') refers to a pool, not a HealthMonitor",
            "VirtualService 'www': field 'pool_ref' refers to Pool 'missing', which is not in the export",
            "VirtualService 'uuid-only': field 'pool_ref' refers to Pool uuid pool-404, which is not in the export",
            "VirtualService 'garbled': field 'pool_ref' ('/api/pool/') is not a reference Avi writes",
        ])
    }
}

@Suite struct BrokenExportTests {
    @Test(arguments: [
        ("", "export.json:1:1: invalid JSON: the file is empty; expected a JSON object"),
        ("{\n  \"Pool\": [\n    { \"name\": \"web\", }\n  ]\n}", "export.json:3:22: invalid JSON: unexpected '}'; expected a key in double quotes"),
        ("{\"Pool\": []} x", "export.json:1:14: invalid JSON: unexpected 'x' after the end of the JSON value"),
        ("[]", "the export: expected a JSON object with a list per Avi object type (\"Pool\", \"HealthMonitor\", ...), found []"),
        ("{}", "the export: holds no ApplicationPersistenceProfile, HealthMonitor, Pool, VirtualService objects: is it an Avi configuration export?"),
        ("{\"Pool\": {\"name\": \"web\"}}", "the export: 'Pool' must be a list of objects, found {…}"),
        ("{\"Pool\": [\"web\"]}", "Pool #1: expected an object, found \"web\""),
        ("{\"Pool\": [{\"servers\": []}]}", "Pool #1: has no name (Avi requires one)"),
        ("{\"Pool\": [{\"name\": \" web\"}]}", "Pool ' web': the name ' web' has leading or trailing whitespace, which tether names cannot have"),
    ])
    func theExportItself(json: String, error: String) {
        let result = convert(json)
        #expect(result.errors == [error])
        #expect(result.yaml == nil)
    }

    @Test func everyErrorIsReportedAndNothingIsWritten() {
        let json = export(
            pools: [
                pool("web"),
                pool("web"),
                """
                { "name": "bad", "servers": [
                    { "ip": { "addr": "10.0.0.300", "type": "V4" }, "port": 80 },
                    { "ip": { "addr": "10.0.0.1", "type": "V6" }, "port": 80 },
                    { "port": 80 },
                    { "ip": { "addr": "10.0.0.2", "type": "V4" }, "port": 80, "ratio": 0 },
                    { "ip": { "addr": "10.0.0.3", "type": "V4" }, "port": 70000 },
                    { "ip": { "addr": "10.0.0.4", "type": "V4" }, "port": 80 },
                    { "ip": { "addr": "10.0.0.4", "type": "V4" } } ] }
                """,
            ],
            virtualServices: [virtualService("one"), virtualService("two")])
        let result = convert(json)
        #expect(result.yaml == nil)
        #expect(result.errors == [
            "Pool 'web': two Pool objects have this name (from different tenants?); tether names must be unique: export one tenant at a time",
            "Pool 'bad': servers[0].ip.addr '10.0.0.300' is not an IPv4 address",
            "Pool 'bad': servers[1].ip.addr '10.0.0.1' is not an IPv6 address",
            "Pool 'bad': servers[2] has no ip (Avi requires one)",
            "Pool 'bad': field 'servers[3].ratio' must be an integer from 1 to 20, found 0",
            "Pool 'bad': field 'servers[4].port' must be an integer from 0 to 65535, found 70000",
            "Pool 'bad': server '10.0.0.4' and servers[6] are both 10.0.0.4:80; a pool lists a server once",
            "VirtualService 'two': listens on 10.0.0.100:80, as VirtualService 'one' does",
        ])
    }

    @Test func addressesTetherCannotUseAreErrors() {
        let pool = """
            { "name": "web", "servers": [
                { "ip": { "addr": "0.0.0.0", "type": "V4" }, "port": 80 },
                { "ip": { "addr": "ff02::1", "type": "V6" }, "port": 80 } ] }
            """
        let vs = virtualService("www", pool: "web").replacingOccurrences(of: "10.0.0.100", with: "239.1.1.1")
        let result = convert(export(pools: [pool], virtualServices: [vs]))
        #expect(result.errors == [
            "Pool 'web': servers[0].ip.addr '0.0.0.0' is not the address of a server",
            "Pool 'web': servers[1].ip.addr 'ff02::1' is not the address of a server",
            "VirtualService 'www': field 'vip[0].ip_address.addr' ('239.1.1.1') is a multicast or broadcast address",
        ])
    }

    /// What tether's validator refuses is never written, even when the
    /// converter's own checks let it through.
    @Test func theConvertedFileMustPassTethersValidator() {
        let fields = #""fail_action": { "type": "FAIL_ACTION_HTTP_REDIRECT", "redirect": { "host": "@" } }"#
        let result = convert(export(pools: [pool("web", fields)], virtualServices: [virtualService()]))
        #expect(result.yaml == nil)
        #expect(result.errors.count == 1)
        #expect(result.errors.first?.hasPrefix("the converted configuration: does not validate: converted configuration:") == true)
        #expect(result.errors.first?.hasSuffix("location: 'https://@/' has no host") == true, "\(result.errors)")
    }

    /// Findings name the object and field; the subjects of JSON syntax
    /// errors are positions.
    @Test func findingsDescribeThemselves() {
        #expect(AviFinding(subject: "Pool 'web'", message: "x").description == "Pool 'web': x")
    }
}

@Suite struct FieldPolicyTests {
    /// Identity, tenancy and placement fields, and Avi's defaults where Avi
    /// behaves as tether does, convert without a word.
    @Test func metadataAndNeutralValuesAreQuiet() throws {
        let pool = """
            { "name": "web", "uuid": "pool-1", "url": "https://avi/api/pool/pool-1", "tenant_ref": "/api/tenant/?name=admin",
              "cloud_ref": "/api/cloud/?name=Default-Cloud", "vrf_ref": "/api/vrfcontext/?name=global", "_last_modified": "1",
              "description": "the web tier", "markers": [ { "key": "app", "values": ["web"] } ], "is_federated": false,
              "placement_networks": [], "server_reselect": { "enabled": false, "num_retries": 4 },
              "conn_pool_properties": {}, "capacity_estimation": false, "connection_ramp_duration": 0,
              "inline_health_monitor": false, "lb_algorithm_hash": "LB_ALGORITHM_CONSISTENT_HASH_SOURCE_IP_ADDRESS",
              "servers": [ { "ip": { "addr": "10.0.0.1", "type": "V4" }, "port": 80, "static": false, "verify_network": false } ] }
            """
        let (_, warnings) = try converted(export(pools: [pool], virtualServices: [virtualService()]))
        #expect(warnings == [])
    }

    @Test func everythingElseIsReportedOncePerSetting() throws {
        let pool = """
            { "name": "web", "server_reselect": { "enabled": true, "num_retries": 2 }, "connection_ramp_duration": 5,
              "capacity_estimation": true, "request_queue_enabled": true, "request_queue_depth": 512,
              "ssl_profile_ref": "/api/sslprofile/?name=System-Standard", "some_future_field": { "on": true },
              "servers": [ { "ip": { "addr": "10.0.0.1", "type": "V4" }, "port": 80 } ] }
            """
        let (_, warnings) = try converted(export(pools: [pool], virtualServices: [virtualService()]))
        #expect(warnings == [
            "Pool 'web': field 'server_reselect' ({…}) is not supported by tether (tether retries only a failed connect, once), dropped",
            "Pool 'web': field 'connection_ramp_duration' (5) is not supported by tether (no slow start: a server that "
                + "comes up gets its full share at once), dropped",
            "Pool 'web': field 'capacity_estimation' (true) is not supported by tether, dropped",
            "Pool 'web': field 'request_queue_enabled' (true) is not supported by tether, dropped",
            "Pool 'web': field 'ssl_profile_ref' (\"/api/sslprofile/?name=System-Standard\") is not supported by tether "
                + "(tether speaks plain HTTP to servers), dropped",
            "Pool 'web': field 'some_future_field' ({…}) is not supported by tether, dropped",
        ])
    }

    @Test func otherObjectTypesAreListedOnce() throws {
        let extra = """
            "Tenant": [ { "name": "admin" } ], "Cloud": [ { "name": "Default-Cloud" } ],
            "PoolGroup": [ { "name": "pg1" }, { "name": "pg2" } ], "SSLKeyAndCertificate": [ { "name": "www-cert" } ],
            "META": { "version": { "Version": "22.1.3" } }
            """
        let (_, warnings) = try converted(export(pools: [pool()], virtualServices: [virtualService()], extra: extra))
        #expect(warnings == [
            "the export: also holds objects tether does not convert: PoolGroup (2), SSLKeyAndCertificate (1); the settings "
                + "of converted objects that use them are reported one by one",
        ])
    }
}
