import Config
import RoutingTable
import Testing
@testable import AviImport

@Suite struct VirtualServiceTests {
    @Test func addressesFromTheVsVipAndEveryPlainPort() throws {
        let vsVip = """
            { "name": "vip-www", "vip": [
                { "vip_id": "0", "enabled": true, "ip_address": { "addr": "192.0.2.10", "type": "V4" },
                  "ip6_address": { "addr": "2001:db8::10", "type": "V6" }, "subnet": { "ip_addr": { "addr": "192.0.2.0", "type": "V4" }, "mask": 24 } },
                { "vip_id": "1", "enabled": false, "ip_address": { "addr": "192.0.2.11", "type": "V4" } } ] }
            """
        let vs = """
            { "name": "www", "pool_ref": "/api/pool/?name=web", "vsvip_ref": "/api/vsvip/?tenant=admin&name=vip-www",
              "services": [ { "port": 80 }, { "port": 8080, "enable_ssl": false, "port_range_end": 0 }, { "port": 80 } ] }
            """
        let (config, warnings) = try converted(export(pools: [pool()], vsVips: [vsVip], virtualServices: [vs]))
        #expect(warnings == [])
        #expect(config.virtualServices[0].listen == [
            listen("192.0.2.10:80"), listen("192.0.2.10:8080"), listen("[2001:db8::10]:80"), listen("[2001:db8::10]:8080"),
        ])
    }

    @Test func tlsPortsAndCertificatesPointToTLS() throws {
        let vs = virtualService("www", pool: "web", """
            "services": [ { "port": 80 }, { "port": 443, "enable_ssl": true } ],
            "ssl_key_and_certificate_refs": ["/api/sslkeyandcertificate/?name=www-cert"],
            "ssl_profile_ref": "/api/sslprofile/?name=System-Standard"
            """).replacingOccurrences(of: #""services": [ { "port": 80 } ],"#, with: "")
        let (config, warnings) = try converted(export(pools: [pool()], virtualServices: [vs]))
        #expect(config.virtualServices[0].listen == [listen("10.0.0.100:80")])
        #expect(warnings == [
            "VirtualService 'www': service port 443 terminates TLS (enable_ssl); tether's TLS is configured with `tls:` "
                + "on the virtual service, so port 443 is not converted",
            "VirtualService 'www': field 'ssl_key_and_certificate_refs' ([…]) is not supported by tether (tether's TLS is "
                + "configured with `tls:` (certificate and key files) on the virtual service), dropped",
            "VirtualService 'www': field 'ssl_profile_ref' (\"/api/sslprofile/?name=System-Standard\") is not supported by "
                + "tether (tether's TLS is configured with `tls:` on the virtual service), dropped",
        ])
    }

    @Test func aVirtualServiceWithOnlyTLSPortsIsNotConverted() throws {
        let vs = """
            { "name": "secure", "pool_ref": "/api/pool/?name=web", "services": [ { "port": 443, "enable_ssl": true } ],
              "vip": [ { "vip_id": "0", "ip_address": { "addr": "10.0.0.100", "type": "V4" } } ] }
            """
        let (config, warnings) = try converted(export(pools: [pool()], virtualServices: [vs]))
        #expect(config.virtualServices == [])
        #expect(warnings == [
            "VirtualService 'secure': service port 443 terminates TLS (enable_ssl); tether's TLS is configured with `tls:` "
                + "on the virtual service, so port 443 is not converted",
            "VirtualService 'secure': has no plain-HTTP service port tether can serve: not converted",
        ])
    }

    @Test(arguments: [
        (#""enabled": false"#, "VirtualService 'www': enabled is false: not converted (tether serves every virtual service it lists)"),
        (#""traffic_enabled": false"#,
         "VirtualService 'www': traffic_enabled is false: not converted (tether serves every virtual service it lists)"),
        (#""type": "VS_TYPE_VH_CHILD", "vh_parent_vs_ref": "/api/virtualservice/?name=parent""#,
         "VirtualService 'www': type VS_TYPE_VH_CHILD is not supported by tether (it has no virtual hosting): not converted"),
    ])
    func virtualServicesTetherWouldNotServeAreLeftOut(fields: String, warning: String) throws {
        let (config, warnings) = try converted(export(pools: [pool()], virtualServices: [virtualService("www", pool: "web", fields)]))
        #expect(config.virtualServices == [])
        #expect(warnings == [warning])
    }

    @Test func poolGroupsAreNotConverted() throws {
        let vs = """
            { "name": "www", "pool_group_ref": "/api/poolgroup/?name=blue-green", "services": [ { "port": 80 } ],
              "vip": [ { "vip_id": "0", "ip_address": { "addr": "10.0.0.100", "type": "V4" } } ] }
            """
        let (config, warnings) = try converted(export(pools: [pool()], virtualServices: [vs]))
        #expect(config.virtualServices == [])
        #expect(warnings == [
            "VirtualService 'www': field 'pool_group_ref' (\"/api/poolgroup/?name=blue-green\") is not supported by tether "
                + "(it has no pool groups; a virtual service has one pool): not converted",
        ])
    }

    @Test func withoutAnAddressItListensOnEveryIPv4Address() throws {
        let vs = """
            { "name": "www", "pool_ref": "/api/pool/?name=web", "vsvip_ref": "/api/vsvip/vsvip-0b1c#elsewhere",
              "services": [ { "port": 8080 } ] }
            """
        let (config, warnings) = try converted(export(pools: [pool()], virtualServices: [vs]))
        #expect(config.virtualServices[0].listen == [listen("0.0.0.0:8080")])
        #expect(warnings == [
            "VirtualService 'www': its VsVip 'elsewhere' is not in the export, so its addresses are unknown",
            "VirtualService 'www': has no VIP address in the export; it listens on 0.0.0.0 (every IPv4 address of the host) instead",
        ])
    }

    @Test func theApplicationProfileGivesForwardingTimeoutsAndHeaderSize() throws {
        let profile = """
            { "name": "app-http", "type": "APPLICATION_PROFILE_TYPE_HTTP",
              "http_profile": { "xff_enabled": false, "client_header_timeout": 5000, "keepalive_timeout": 120000,
                                "post_accept_timeout": 120000, "client_max_request_size": 16, "client_max_header_size": 8,
                                "websockets_enabled": true, "connection_multiplexing_enabled": true } }
            """
        let uses = #""application_profile_ref": "/api/applicationprofile/?name=app-http""#
        let (config, warnings) = try converted(export(pools: [pool()], applicationProfiles: [profile],
                                                      virtualServices: [virtualService("a", pool: "web", uses),
                                                                        virtualService("b", pool: "web", port: 81, uses)]))
        #expect(warnings == [])
        for vs in config.virtualServices {
            #expect(vs.xForwardedFor == false)
            #expect(vs.timeouts == VirtualServiceTimeouts(clientHeader: .seconds(5), clientIdle: .seconds(120)))
            #expect(vs.maxHeaderBytes == 16 * 1024)
        }
    }

    /// The profile's own warnings come once, however many virtual services use it.
    @Test func applicationProfileSettingsTetherLacks() throws {
        let profile = """
            { "name": "app", "type": "APPLICATION_PROFILE_TYPE_L4",
              "http_profile": { "xff_alternate_name": "X-Client-IP", "post_accept_timeout": 5000, "http_to_https": true,
                                "websockets_enabled": false } }
            """
        let uses = #""application_profile_ref": "/api/applicationprofile/?name=app""#
        let (config, warnings) = try converted(export(pools: [pool()], applicationProfiles: [profile],
                                                      virtualServices: [virtualService("a", pool: "web", uses),
                                                                        virtualService("b", pool: "web", port: 81, uses)]))
        #expect(config.virtualServices.count == 2)
        #expect(warnings == [
            "ApplicationProfile 'app': type APPLICATION_PROFILE_TYPE_L4: tether proxies HTTP/1.1 only, so the virtual "
                + "services that use this profile are converted as HTTP",
            "ApplicationProfile 'app': field 'http_profile.xff_alternate_name' ('X-Client-IP') is not supported by tether "
                + "(it always writes X-Forwarded-For), dropped",
            "ApplicationProfile 'app': field 'http_profile.post_accept_timeout' (5000) is not supported by tether: its "
                + "client_idle (from keepalive_timeout, 30000 ms) also bounds the wait for a new connection's first request, dropped",
            "ApplicationProfile 'app': field 'http_profile.http_to_https' (true) is not supported by tether, dropped",
            "ApplicationProfile 'app': field 'http_profile.websockets_enabled' (false) is not supported by tether (tether "
                + "always relays Upgrade (WebSocket) requests), dropped",
        ])
    }

    @Test func aProfileMissingFromTheExportLeavesTethersDefaults() throws {
        let vs = virtualService("www", pool: "web", #""application_profile_ref": "/api/applicationprofile/?name=System-HTTP""#)
        let (config, warnings) = try converted(export(pools: [pool()], virtualServices: [vs]))
        #expect(config.virtualServices[0] == VirtualService(name: "www", listen: [listen("10.0.0.100:80")], pool: "web"))
        #expect(warnings == [
            "VirtualService 'www': its application profile 'System-HTTP' is not in the export; tether's defaults apply "
                + "(x_forwarded_for: true, client_header 10s, client_idle 60s, max_header_bytes 32KiB)",
        ])
    }

    @Test func unsupportedVirtualServiceSettingsAreReportedOneByOne() throws {
        let fields = """
            "http_policies": [ { "index": 11, "http_policy_set_ref": "/api/httppolicyset/?name=rewrite" } ],
            "network_profile_ref": "/api/networkprofile/?name=System-UDP-Fast-Path",
            "waf_policy_ref": "/api/wafpolicy/?name=strict",
            "weight": 1, "delay_fairness": false, "max_cps_per_client": 100,
            "se_group_ref": "/api/serviceenginegroup/?name=Default-Group", "analytics_policy": { "full_client_logs": { "enabled": true } }
            """
        let (config, warnings) = try converted(export(pools: [pool()], virtualServices: [virtualService("www", pool: "web", fields)]))
        #expect(config.virtualServices.count == 1)
        #expect(warnings == [
            "VirtualService 'www': field 'network_profile_ref' (\"/api/networkprofile/?name=System-UDP-Fast-Path\") is not "
                + "supported by tether (tether uses the host's TCP settings), dropped",
            "VirtualService 'www': field 'http_policies' ([…]) is not supported by tether (tether routes by pool and "
                + "persistence header only), dropped",
            "VirtualService 'www': field 'waf_policy_ref' (\"/api/wafpolicy/?name=strict\") is not supported by tether "
                + "(tether has no web application firewall), dropped",
            "VirtualService 'www': field 'max_cps_per_client' (100) is not supported by tether, dropped",
        ])
    }
}
