import RoutingTable

/// IP literals in the configuration. tether resolves no host names: a name
/// that resolves differently on each reload or machine would break the
/// promise that every worker and every machine routes alike.
enum AddressSyntax {
    /// A server address: an IPv4 or IPv6 literal (brackets allowed around
    /// IPv6), something a connect can reach.
    static func parseServerAddress(_ text: String) throws(ValueProblem) -> IPAddress {
        let address = try parseLiteral(text)
        if isUnspecified(address) {
            throw ValueProblem("'\(text)' is the unspecified address; give the server's own address")
        }
        if isMulticastOrBroadcast(address) {
            throw ValueProblem("'\(text)' is a multicast or broadcast address, not a server")
        }
        return address
    }

    /// "ADDR:PORT" with an IPv4 literal, or "[V6]:PORT".
    static func parseListen(_ text: String) throws(ValueProblem) -> ListenAddress {
        let example = "write ADDRESS:PORT, for example 0.0.0.0:80 or [::]:80"
        guard let colon = text.lastIndex(of: ":") else {
            if UInt16(text) != nil { throw ValueProblem("'\(text)' has no address; \(example)") }
            throw ValueProblem("'\(text)' has no port; \(example)")
        }
        let host = String(text[..<colon])
        let portText = String(text[text.index(after: colon)...])
        let address: IPAddress
        if host.hasPrefix("[") {
            guard host.hasSuffix("]"), host.count > 2 else { throw ValueProblem("'\(text)' is not an address and port; \(example)") }
            let inner = String(host.dropFirst().dropLast())
            address = try parseLiteral(inner)
            guard address.family == .v6 else {
                throw ValueProblem("'\(text)': brackets are for IPv6 addresses; write \(inner):\(portText)")
            }
        } else {
            if host.contains(":") {
                throw ValueProblem("'\(text)': an IPv6 address needs brackets, as in [::1]:80")
            }
            if host.isEmpty { throw ValueProblem("'\(text)' has no address; \(example)") }
            address = try parseLiteral(host)
        }
        guard !portText.isEmpty, portText.allSatisfy({ $0.isASCII && $0.isNumber }),
              portText.count <= 5, let port = Int(portText) else {
            throw ValueProblem("'\(text)': port '\(portText)' is not a number from 1 to 65535")
        }
        guard (1...65535).contains(port) else {
            throw ValueProblem("'\(text)': port \(port) is out of range; expected 1 to 65535")
        }
        if isMulticastOrBroadcast(address) {
            throw ValueProblem("'\(text)' is a multicast or broadcast address")
        }
        return ListenAddress(text: text, address: address, port: UInt16(port))
    }

    private static func parseLiteral(_ text: String) throws(ValueProblem) -> IPAddress {
        if let address = IPAddress(text) { return address }
        if text.contains("%") {
            throw ValueProblem("'\(text)': IPv6 zone indexes (%) are not supported")
        }
        if let colon = text.lastIndex(of: ":"), IPAddress(String(text[..<colon])) != nil,
           text.filter({ $0 == ":" }).count == 1 {
            throw ValueProblem("'\(text)' includes a port; give the port on its own")
        }
        let hostnameCharacters = text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == ".") }
        if !text.isEmpty, hostnameCharacters, text.contains(where: { $0.isLetter }) {
            throw ValueProblem("'\(text)' is a host name; tether needs an IPv4 or IPv6 address "
                + "(it resolves no names, so every machine routes alike)")
        }
        throw ValueProblem("'\(text)' is not a valid IPv4 or IPv6 address")
    }

    static func isUnspecified(_ a: IPAddress) -> Bool {
        a.bytes.0 == 0 && a.bytes.1 == 0
    }

    static func isMulticastOrBroadcast(_ a: IPAddress) -> Bool {
        let o = a.octets
        switch a.family {
        case .v4: return (224...239).contains(o[0]) || o == [255, 255, 255, 255]
        case .v6: return o[0] == 0xFF
        }
    }
}
