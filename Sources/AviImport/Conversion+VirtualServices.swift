import Config
import RoutingTable

extension Conversion {
    mutating func virtualService(_ object: AviObject) -> VirtualService? {
        let errorsBefore = log.errors.count
        let subject = object.subject
        var r = object.reader()

        // First what keeps the virtual service out altogether; its other
        // settings are then not worth a warning each.
        if boolean(&r, "enabled") == false {
            log.warning(subject, setting: "enabled", "enabled is false: not converted (tether serves every virtual service it lists)")
            return nil
        }
        if boolean(&r, "traffic_enabled") == false {
            log.warning(subject, setting: "traffic_enabled", "traffic_enabled is false: not converted (tether serves every "
                + "virtual service it lists)")
            return nil
        }
        switch text(&r, "type") ?? "VS_TYPE_NORMAL" {
        case "VS_TYPE_NORMAL":
            break
        case "VS_TYPE_VH_PARENT":
            log.warning(subject, setting: "type", "type VS_TYPE_VH_PARENT: tether has no virtual hosting; converted as an "
                + "ordinary virtual service, without its children")
        case let type:
            log.warning(subject, setting: "type", "type \(type) is not supported by tether (it has no virtual hosting): not converted")
            return nil
        }
        let poolReference = text(&r, "pool_ref")
        if let group = r.take("pool_group_ref"), !group.isEmpty {
            log.warning(subject, setting: "pool_group_ref", "field 'pool_group_ref' (\(group.brief)) is not supported by "
                + "tether (it has no pool groups; a virtual service has one pool)"
                + (poolReference == nil ? ": not converted" : ", dropped"))
            if poolReference == nil { return nil }
        }
        guard let poolReference else {
            log.warning(subject, setting: "pool_ref", "has no pool_ref (its traffic goes by policy or nowhere); tether "
                + "needs one pool per virtual service: not converted")
            return nil
        }
        var poolName: String?
        if let pool = resolve(poolReference, field: "pool_ref", type: AviType.pool, from: subject), pools.contains(pool.name) {
            poolName = pool.name
        }

        var addresses: [IPAddress] = []
        if let reference = text(&r, "vsvip_ref") {
            switch index.resolve(reference, type: AviType.vsVip) {
            case .found(let vsVip):
                addresses = vsVipAddresses(vsVip)
            case .wrongType(let collection):
                log.error(subject, "field 'vsvip_ref' ('\(reference)') refers to a \(collection), not a VsVip")
            case .missing(let parsed):
                log.warning(subject, setting: "vsvip_ref", "its VsVip \(parsed.shown) is not in the export, so its "
                    + "addresses are unknown")
            }
        }
        if let vips = list(&r, "vip") {
            for address in vipAddresses(vips, from: &r) where !addresses.contains(address) { addresses.append(address) }
        }
        if addresses.isEmpty && log.errors.count == errorsBefore {
            log.warning(subject, setting: "vip", "has no VIP address in the export; it listens on 0.0.0.0 (every IPv4 "
                + "address of the host) instead")
            addresses = [IPAddress(v4: 0, 0, 0, 0)]
        }

        let ports = servicePorts(&r)
        if ports.isEmpty && log.errors.count == errorsBefore {
            log.warning(subject, setting: "services", "has no plain-HTTP service port tether can serve: not converted")
            return nil
        }
        var listen: [ListenAddress] = []
        for address in addresses {
            for port in ports {
                let text = address.family == .v4 ? "\(address):\(port)" : "[\(address)]:\(port)"
                if let owner = listeners[text] {
                    log.error(subject, "listens on \(text), as VirtualService '\(owner)' does")
                    continue
                }
                listeners[text] = object.name
                listen.append(ListenAddress(text: text, address: address, port: port))
            }
        }

        var settings = HTTPSettings()
        if let reference = text(&r, "application_profile_ref") {
            switch index.resolve(reference, type: AviType.applicationProfile) {
            case .found(let profile):
                settings = applicationProfile(profile)
            case .wrongType(let collection):
                log.error(subject, "field 'application_profile_ref' ('\(reference)') refers to a \(collection), not an ApplicationProfile")
            case .missing(let parsed):
                log.warning(subject, setting: "application_profile_ref", "its application profile \(parsed.shown) is not "
                    + "in the export; tether's defaults apply (x_forwarded_for: true, client_header 10s, client_idle 60s, "
                    + "max_header_bytes 32KiB)")
            }
        }
        // Avi's default TCP proxy profile is what tether is; any other is not.
        if let reference = text(&r, "network_profile_ref"), AviReference(reference).name != "System-TCP-Proxy" {
            log.unsupported(subject, field: "network_profile_ref", value: .string(reference),
                            reason: FieldRules.virtualService.reasons["network_profile_ref"])
        }
        FieldRules.virtualService.report(r, log: &log)

        guard log.errors.count == errorsBefore, let poolName else { return nil }
        return VirtualService(name: object.name, listen: listen, pool: poolName, xForwardedFor: settings.xForwardedFor,
                              timeouts: settings.timeouts, maxHeaderBytes: settings.maxHeaderBytes)
    }

    /// The plain-HTTP ports of `services`, each once.
    private mutating func servicePorts(_ r: inout FieldReader) -> [UInt16] {
        let subject = r.subject
        guard let items = list(&r, "services") else { return [] }
        var ports: [UInt16] = []
        for (position, item) in items.enumerated() {
            guard let members = item.members else {
                log.error(subject, "services[\(position)] must be an object, found \(item.brief)")
                continue
            }
            var service = FieldReader(members, subject: subject, path: "services[].", shownPath: "services[\(position)].")
            let errorsBefore = log.errors.count
            guard let port = integer(&service, "port", 0...65535) else {
                if log.errors.count == errorsBefore { log.error(subject, "services[\(position)] has no port (Avi requires one)") }
                continue
            }
            let rangeEnd = integer(&service, "port_range_end", 0...65535) ?? 0
            if rangeEnd > port {
                log.warning(subject, setting: "services[\(port)].port_range_end", "service ports \(port)-\(rangeEnd): "
                    + "tether listens on single ports; only \(port) is converted")
            }
            if boolean(&service, "enable_ssl") == true {
                log.warning(subject, setting: "services[\(port)].enable_ssl", "service port \(port) terminates TLS "
                    + "(enable_ssl); tether's TLS is configured with `tls:` on the virtual service, so port \(port) is not converted")
                service.skip(service.leftovers.map(\.key))
                continue
            }
            if port == 0 {
                log.warning(subject, setting: "services[0]", "service port 0 is not a port tether can listen on, dropped")
                continue
            }
            for (field, value) in FieldRules.virtualService.unsupported(in: service) {
                log.unsupported(subject, field: field, value: value, reason: FieldRules.virtualService.reasons[field])
            }
            if !ports.contains(UInt16(port)) { ports.append(UInt16(port)) }
        }
        return ports
    }

    /// The addresses of Avi Vip objects (`vip` of a VirtualService or
    /// VsVip): each enabled one's IPv4 and IPv6 address.
    private mutating func vipAddresses(_ vips: [JSONValue], from owner: inout FieldReader) -> [IPAddress] {
        var addresses: [IPAddress] = []
        for (position, item) in vips.enumerated() {
            guard let members = item.members else {
                log.error(owner.subject, "vip[\(position)] must be an object, found \(item.brief)")
                continue
            }
            var vip = FieldReader(members, subject: owner.subject, path: "vip[].", shownPath: "vip[\(position)].")
            if boolean(&vip, "enabled") == false { continue }
            for key in ["ip_address", "ip6_address"] {
                if let address = address(&vip, key), !addresses.contains(address) { addresses.append(address) }
            }
            FieldRules.vip.report(vip, log: &log)
        }
        return addresses
    }

    private mutating func vsVipAddresses(_ vsVip: AviObject) -> [IPAddress] {
        if let known = vsVips[vsVip.name] { return known }
        var r = vsVip.reader()
        let addresses = list(&r, "vip").map { vipAddresses($0, from: &r) } ?? []
        FieldRules.vsVip.report(r, log: &log)
        vsVips[vsVip.name] = addresses
        return addresses
    }

    /// What a virtual service takes from its ApplicationProfile; the
    /// profile's own warnings are given once, however many use it.
    private mutating func applicationProfile(_ profile: AviObject) -> HTTPSettings {
        if let known = applicationProfiles[profile.name] { return known }
        var settings = HTTPSettings()
        var r = profile.reader()
        let subject = profile.subject
        let type = text(&r, "type") ?? "APPLICATION_PROFILE_TYPE_HTTP"
        if type != "APPLICATION_PROFILE_TYPE_HTTP" {
            log.warning(subject, setting: "type", "type \(type): tether proxies HTTP/1.1 only, so the virtual services "
                + "that use this profile are converted as HTTP")
        }
        r.skip(["dns_service_profile", "sip_service_profile", "l4_ssl_profile", "sctp_app_profile"])
        if var http = nested(&r, "http_profile") {
            settings.xForwardedFor = boolean(&http, "xff_enabled") ?? true
            if let name = text(&http, "xff_alternate_name"), name.lowercased() != "x-forwarded-for" {
                log.warning(subject, setting: "http_profile.xff_alternate_name", "field 'http_profile.xff_alternate_name' "
                    + "('\(name)') is not supported by tether (it always writes X-Forwarded-For), dropped")
            }
            let maxMs = 24 * 3_600_000
            let header = integer(&http, "client_header_timeout", 10...100_000_000) ?? 10_000
            let keepalive = integer(&http, "keepalive_timeout", 10...100_000_000) ?? 30_000
            let postAccept = integer(&http, "post_accept_timeout", 10...100_000_000) ?? 30_000
            settings.timeouts.clientHeader = .milliseconds(min(header, maxMs))
            settings.timeouts.clientIdle = .milliseconds(min(keepalive, maxMs))
            if header > maxMs || keepalive > maxMs {
                log.warning(subject, setting: "http_profile timeouts", "client_header_timeout or keepalive_timeout is "
                    + "longer than tether's limit of 24h; 24h is used")
            }
            if postAccept != keepalive {
                log.warning(subject, setting: "http_profile.post_accept_timeout", "field 'http_profile.post_accept_timeout' "
                    + "(\(postAccept)) is not supported by tether: its client_idle (from keepalive_timeout, \(keepalive) ms) "
                    + "also bounds the wait for a new connection's first request, dropped")
            }
            let requestKB = integer(&http, "client_max_request_size", 1...256) ?? 48
            let headerKB = integer(&http, "client_max_header_size", 1...64) ?? 12
            settings.maxHeaderBytes = max(requestKB, headerKB) * 1024
            FieldRules.applicationProfile.report(http, log: &log)
        }
        FieldRules.applicationProfile.report(r, log: &log)
        applicationProfiles[profile.name] = settings
        return settings
    }
}
