/// The fields of one Avi object, or of an object nested in one, while it is
/// converted. The converter takes the fields it maps; whatever is left is
/// judged by `FieldRules`, so no setting disappears without a warning.
struct FieldReader {
    let subject: AviSubject
    /// Prefix of every field's name: "" at the top of an object,
    /// "fail_action.redirect." or "servers[]." inside one.
    let path: String
    /// The same for errors about one element of a list: "servers[3]."
    let shownPath: String
    private let members: [JSONMember]
    private var taken: Set<String> = []

    init(_ members: [JSONMember], subject: AviSubject, path: String = "", shownPath: String? = nil) {
        self.members = members
        self.subject = subject
        self.path = path
        self.shownPath = shownPath ?? path
    }

    /// The value of `key` (nil when it is absent or null) and marks it as
    /// handled.
    mutating func take(_ key: String) -> JSONValue? {
        taken.insert(key)
        guard let value = members.first(where: { $0.key == key })?.value, value != .null else { return nil }
        return value
    }

    /// Marks `keys` as handled without reading them: they have no effect
    /// in this object (the sub-profile of another persistence type, say).
    mutating func skip(_ keys: [String]) {
        taken.formUnion(keys)
    }

    /// The fields nobody took, in export order.
    var leftovers: [JSONMember] {
        members.filter { !taken.contains($0.key) }
    }

    /// The field's name as rules and warnings know it: "servers[].ratio".
    func field(_ key: String) -> String { path + key }

    /// The field's name in an error: "servers[3].ratio".
    func shownField(_ key: String) -> String { shownPath + key }
}

/// How the leftovers of one kind of object are judged.
struct FieldRules {
    /// Identity, ownership and placement in Avi's infrastructure: they mean
    /// nothing on a tether machine, so they are dropped without a word.
    var ignored: Set<String> = []
    /// Values at which the Avi setting behaves as the tether configuration
    /// does (most are Avi's defaults, which exports write out), keyed by the
    /// field's full name.
    var neutral: [String: Neutral] = [:]
    /// Why a field is not supported, for its warning.
    var reasons: [String: String] = [:]

    enum Neutral {
        /// The field has this value.
        case value(JSONValue)
        /// The field is an object whose `key` has this value or is absent
        /// (an optional feature that is switched off).
        case off(key: String, JSONValue)
        /// The field is an object in which no member anywhere is named
        /// `key` (Avi writes the sub-object of a limit only when it is set).
        case without(key: String)
    }

    /// Metadata every Avi object may carry.
    static let metadata: Set<String> = [
        "uuid", "url", "tenant_ref", "_last_modified", "created_by", "cloud_ref", "cloud_config_cksum",
        "markers", "labels", "configpb_attributes", "is_federated", "description", "tenant", "tenant_uuid",
    ]

    /// The fields left in `reader` that tether does not carry.
    func unsupported(in reader: FieldReader) -> [(field: String, value: JSONValue)] {
        reader.leftovers.compactMap { member in
            let field = reader.field(member.key)
            if FieldRules.metadata.contains(member.key) || ignored.contains(field) || member.value.isEmpty { return nil }
            switch neutral[field] {
            case .value(let v)? where member.value.sameValue(as: v):
                return nil
            case .off(let key, let v)?:
                let inner = member.value.members?.first { $0.key == key }?.value
                if inner == nil || inner == .null || inner!.sameValue(as: v) { return nil }
            case .without(let key)?:
                if !member.value.containsMember(named: key) { return nil }
            default:
                break
            }
            return (field, member.value)
        }
    }

    /// Reports every unsupported leftover of `reader` as its own warning.
    func report(_ reader: FieldReader, log: inout FindingLog) {
        for (field, value) in unsupported(in: reader) {
            log.unsupported(reader.subject, field: field, value: value, reason: reasons[field])
        }
    }
}

private let no = JSONValue.bool(false)
private let yes = JSONValue.bool(true)
private func int(_ v: Int) -> JSONValue { .number(String(v)) }
private func word(_ v: String) -> JSONValue { .string(v) }

extension FieldRules {
    static let persistenceProfile = FieldRules(
        reasons: [
            "hdr_persistence_profile.timeout": "header persistence keeps no table, so there is nothing to expire",
        ]
    )

    static let healthMonitor = FieldRules(
        ignored: ["allow_duplicate_monitors"],
        neutral: [
            "monitor_port": .value(int(0)),
            "disable_quickstart": .value(no),
            "http_monitor.exact_http_request": .value(no),
            "tcp_monitor.tcp_half_open": .value(no),
        ],
        reasons: [
            "monitor_port": "tether checks each server on the port it serves on",
            "disable_quickstart": "tether checks on the interval from the start",
            "http_monitor.exact_http_request": "tether adds Host, and Connection: close for HTTP/1.1, when the request lacks them",
            "http_monitor.http_response": "tether matches the status code only",
            "http_monitor.http_request_body": "tether's check requests have no body",
            "http_monitor.maintenance_code": "tether has no maintenance mode",
            "http_monitor.maintenance_response": "tether has no maintenance mode",
            "http_monitor.auth_type": "tether's checks send no credentials",
            "http_monitor.response_size": "tether reads the status line only",
            "authentication": "tether's checks send no credentials",
            "tcp_monitor.tcp_request": "tether's TCP check only connects",
            "tcp_monitor.tcp_response": "tether's TCP check only connects",
            "tcp_monitor.maintenance_response": "tether has no maintenance mode",
            "tcp_monitor.tcp_half_open": "tether's TCP check completes the handshake",
        ]
    )

    static let pool = FieldRules(
        ignored: [
            "server_count", "east_west", "service_metadata", "tier1_lr", "vrf_ref", "placement_networks",
            "networks", "nsx_securitygroup", "analytics_policy", "analytics_profile_ref", "external_autoscale_groups",
            "gslb_sp_enabled", "sp_gs_info", "apic_epg_name",
            // A server's identity in Avi's clouds and orchestrators.
            "servers[].external_uuid", "servers[].external_orchestration_id", "servers[].vm_ref", "servers[].nw_ref",
            "servers[].discovered_networks", "servers[].location", "servers[].mac_address", "servers[].server_node",
            "servers[].availability_zone", "servers[].autoscaling_group_name",
            // These only act together with a setting that is reported
            // when it is on (request_queue_enabled, lb_algorithm
            // FEWEST_TASKS or CORE_AFFINITY, a DNS-resolved pool, TLS or a
            // Host rewrite to servers).
            "request_queue_depth", "fewest_tasks_feedback_delay", "lb_algorithm_core_nonaffinity",
            "delete_server_on_dns_refresh", "sni_enabled", "append_port",
        ],
        neutral: [
            "use_service_port": .value(no), "server_auto_scale": .value(no), "host_check_enabled": .value(no),
            "capacity_estimation": .value(no), "capacity_estimation_ttfb_thresh": .value(int(0)),
            "request_queue_enabled": .value(no), "rewrite_host_header_to_server_name": .value(no),
            "rewrite_host_header_to_sni": .value(no), "ignore_server_port": .value(no), "routing_pool": .value(no),
            "lookup_server_by_name": .value(no), "enable_http2": .value(no), "min_servers_up": .value(int(0)),
            "min_health_monitors_up": .value(int(0)), "connection_ramp_duration": .value(int(0)),
            "inline_health_monitor": .value(no), "server_timeout": .value(int(0)), "graceful_disable_timeout": .value(int(1)),
            "lb_algo_rr_per_se": .value(no), "resolve_pool_by_dns": .value(no), "use_service_ssl_mode": .value(no),
            "server_disable_type": .value(word("DISALLOW_NEW_CONNECTION")), "pool_type": .value(word("POOL_TYPE_GENERIC_APP")),
            "server_reselect": .off(key: "enabled", no),
            "graceful_hm_down_disable_timeout": .value(int(0)),
            "servers[].verify_network": .value(no), "servers[].static": .value(no),
            "servers[].resolve_server_by_dns": .value(no), "servers[].rewrite_host_header": .value(no),
        ],
        reasons: [
            "connection_ramp_duration": "no slow start: a server that comes up gets its full share at once",
            "inline_health_monitor": "tether's passive detection marks a server down only when a connect to it fails; it does not lower its share on failed responses",
            "server_reselect": "tether retries only a failed connect, once",
            "use_service_port": "tether connects to each server's own port",
            "server_timeout": "set timeouts.server_response on the virtual service",
            "graceful_disable_timeout": "a disabled server finishes the requests it has",
            "ssl_profile_ref": "tether speaks plain HTTP to servers",
            "ssl_key_and_certificate_ref": "tether speaks plain HTTP to servers",
            "pki_profile_ref": "tether speaks plain HTTP to servers",
            "enable_http2": "tether speaks HTTP/1.1 to servers",
            "conn_pool_properties": "tether keeps idle server connections by its own rules",
            "max_conn_rate_per_server": "tether limits concurrent requests only (max_connections_per_server)",
            "autoscale_policy_ref": "tether's servers are listed in its configuration",
            "autoscale_launch_config_ref": "tether's servers are listed in its configuration",
            "ipaddrgroup_ref": "list the servers in the pool instead",
            "servers[].resolve_server_by_dns": "tether resolves no names, so every machine routes alike",
            "servers[].rewrite_host_header": "tether forwards the client's Host header",
            "servers[].preference_order": "a GSLB setting",
        ]
    )

    static let virtualService = FieldRules(
        ignored: [
            "se_group_ref", "vrf_context_ref", "cloud_type", "enable_autogw", "active_standby_se_tag",
            "analytics_policy", "analytics_profile_ref", "vsvip_cloud_config_cksum", "east_west_placement",
            "ign_pool_net_reach", "service_metadata", "bgp_peer_labels", "bgp_local_preference",
            "bgp_num_as_path_prepend", "azure_availability_set", "nsx_securitygroup", "flow_label_type",
            "discovered_network_ref", "discovered_networks", "discovered_subnet",
            // Acts only together with virtual hosting, which is reported.
            "vh_type",
        ],
        neutral: [
            "flow_dist": .value(word("LOAD_AWARE")),
            "delay_fairness": .value(no), "weight": .value(int(1)), "max_cps_per_client": .value(int(0)),
            "limit_doser": .value(no), "use_bridge_ip_as_vip": .value(no), "use_vip_as_snat": .value(no),
            "scaleout_ecmp": .value(no), "remove_listening_port_on_vs_down": .value(no),
            "close_client_conn_on_config_update": .value(no), "bulk_sync_kvcache": .value(no),
            "allow_invalid_client_cert": .value(no), "advertise_down_vs": .value(no), "enable_rhi": .value(no),
            "enable_rhi_snat": .value(no), "revoke_vip_route": .value(no), "enable_session": .value(no),
            "min_pools_up": .value(int(0)),
            "services[].enable_http2": .value(no), "services[].horizon_internal_ports": .value(no),
            "services[].is_active_ftp_data_port": .value(no),
        ],
        reasons: [
            "ssl_key_and_certificate_refs": "tether's TLS is configured with `tls:` (certificate and key files) on the virtual service",
            "ssl_profile_ref": "tether's TLS is configured with `tls:` on the virtual service",
            "ssl_profile_selectors": "tether's TLS is configured with `tls:` on the virtual service",
            "http_policies": "tether routes by pool and persistence header only",
            "vs_datascripts": "tether runs no scripts",
            "l4_policies": "tether routes by pool and persistence header only",
            "network_security_policy_ref": "filter clients with the host's firewall",
            "waf_policy_ref": "tether has no web application firewall",
            "connections_rate_limit": "tether has no rate limits",
            "requests_rate_limit": "tether has no rate limits",
            "performance_limits": "tether has no per-service limits",
            "snat_ip": "tether connects from the host's own addresses",
            "fqdn": "tether registers no DNS names",
            "dns_info": "tether registers no DNS names",
            "vh_domain_name": "tether has no virtual hosting",
            "vh_parent_vs_ref": "tether has no virtual hosting",
            "error_page_profile_ref": "tether answers errors with its own small responses",
            "content_rewrite": "tether forwards bodies unchanged",
            "host_name_xlate": "tether forwards the client's Host header",
            "traffic_clone_profile_ref": "tether clones no traffic",
            "services[].enable_http2": "tether speaks HTTP/1.1",
            "services[].override_application_profile_ref": "one application profile applies to the whole virtual service",
            "services[].override_network_profile_ref": "tether uses the host's TCP settings",
            "network_profile_ref": "tether uses the host's TCP settings",
        ]
    )

    /// A Vip, in a VirtualService's or VsVip's `vip` list.
    static let vip = FieldRules(
        ignored: Set([
            "vip_id", "avi_allocated_vip", "avi_allocated_fip", "auto_allocate_ip", "auto_allocate_ip_type",
            "auto_allocate_floating_ip", "subnet", "subnet6", "subnet_uuid", "subnet6_uuid", "network_ref",
            "placement_networks", "discovered_networks", "ipam_network_subnet", "port_uuid", "availability_zone",
            "floating_subnet_uuid", "floating_subnet6_uuid",
        ].map { "vip[]." + $0 }),
        neutral: ["vip[].prefix_length": .value(int(32))],
        reasons: [
            "vip[].floating_ip": "tether listens on the VIP itself; set up the public address outside tether",
            "vip[].floating_ip6": "tether listens on the VIP itself; set up the public address outside tether",
            "vip[].prefix_length": "tether listens on single addresses",
        ]
    )

    static let vsVip = FieldRules(
        ignored: [
            "vrf_context_ref", "east_west_placement", "use_standard_alb", "tier1_lr", "vsvip_cloud_config_cksum",
            "ipam_selector", "bgp_peer_labels",
        ],
        reasons: ["dns_info": "tether registers no DNS names"]
    )

    static let applicationProfile = FieldRules(
        ignored: ["app_service_type"],
        neutral: [
            "preserve_client_ip": .value(no), "preserve_client_port": .value(no), "preserve_dest_ip_port": .value(no),
            "http_profile.connection_multiplexing_enabled": .value(yes),
            "http_profile.x_forwarded_proto_enabled": .value(no), "http_profile.ssl_everywhere_enabled": .value(no),
            "http_profile.hsts_enabled": .value(no), "http_profile.secure_cookie_enabled": .value(no),
            "http_profile.httponly_enabled": .value(no), "http_profile.http_to_https": .value(no),
            "http_profile.server_side_redirect_to_https": .value(no), "http_profile.spdy_enabled": .value(no),
            "http_profile.spdy_fwd_proxy_mode": .value(no), "http_profile.client_body_timeout": .value(int(30000)),
            "http_profile.client_max_body_size": .value(int(0)), "http_profile.keepalive_header": .value(no),
            "http_profile.use_app_keepalive_timeout": .value(no), "http_profile.allow_dots_in_header_name": .value(no),
            "http_profile.disable_keepalive_posts_msie6": .value(yes),
            "http_profile.enable_request_body_buffering": .value(no), "http_profile.enable_fire_and_forget": .value(no),
            "http_profile.max_response_headers_size": .value(int(48)), "http_profile.respond_with_100_continue": .value(no),
            "http_profile.enable_request_body_metrics": .value(no),
            "http_profile.fwd_close_hdr_for_bound_connections": .value(yes),
            "http_profile.max_keepalive_requests": .value(int(100)), "http_profile.disable_sni_hostname_check": .value(no),
            "http_profile.reset_conn_http_on_ssl_port": .value(no), "http_profile.http_upstream_buffer_size": .value(int(0)),
            "http_profile.enable_chunk_merge": .value(yes), "http_profile.max_header_count": .value(int(64)),
            "http_profile.websockets_enabled": .value(yes), "http_profile.detect_ntlm_app": .value(yes),
            "http_profile.collect_client_tls_fingerprint": .value(no),
            "http_profile.pass_through_x_accel_headers": .value(no), "http_profile.use_true_client_ip": .value(no),
            "http_profile.max_rps_unknown_uri": .value(int(0)), "http_profile.max_rps_cip": .value(int(0)),
            "http_profile.max_rps_uri": .value(int(0)), "http_profile.max_rps_cip_uri": .value(int(0)),
            "http_profile.max_rps_unknown_cip": .value(int(0)), "http_profile.max_bad_rps_cip": .value(int(0)),
            "http_profile.max_bad_rps_uri": .value(int(0)), "http_profile.max_bad_rps_cip_uri": .value(int(0)),
            "http_profile.ssl_client_certificate_mode": .value(word("SSL_CLIENT_CERTIFICATE_NONE")),
            "http_profile.hsts_max_age": .value(int(365)), "http_profile.hsts_subdomains_enabled": .value(yes),
            "http_profile.cache_config": .off(key: "enabled", no),
            "http_profile.compression_profile": .off(key: "compression", no),
            "dos_rl_profile": .without(key: "rate_limiter"),
            "tcp_app_profile": .off(key: "proxy_protocol_enabled", no),
        ],
        reasons: [
            "http_profile.websockets_enabled": "tether always relays Upgrade (WebSocket) requests",
            "http_profile.http2_profile": "tether speaks HTTP/1.1",
            "http_profile.max_keepalive_requests": "tether keeps client connections open for any number of requests",
            "http_profile.connection_multiplexing_enabled": "tether always reuses idle server connections",
            "http_profile.x_forwarded_proto_enabled": "tether adds X-Forwarded-For only",
            "http_profile.client_max_body_size": "tether limits no body size",
            "http_profile.compression_profile": "tether forwards bodies unchanged",
            "http_profile.cache_config": "tether caches nothing",
            "dos_rl_profile": "tether has no rate limits",
            "tcp_app_profile": "tether sends no PROXY protocol header",
        ]
    )
}
