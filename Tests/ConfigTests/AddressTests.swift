import RoutingTable
import Testing
@testable import Config

@Suite struct AddressTests {
    @Test(arguments: [
        ("0.0.0.0:80", "0.0.0.0", 80), ("[::]:80", "::", 80), ("[2001:db8::1]:8443", "2001:db8::1", 8443),
        ("127.0.0.1:65535", "127.0.0.1", 65535), ("[::ffff:10.0.0.1]:1", "::ffff:10.0.0.1", 1),
    ] as [(String, String, UInt16)])
    func listen(text: String, address: String, port: UInt16) throws {
        let parsed = try AddressSyntax.parseListen(text)
        #expect(parsed.address == IPAddress(address))
        #expect(parsed.port == port)
        #expect(parsed.text == text)
    }

    @Test(arguments: [
        ("10.0.0.1", "'10.0.0.1' has no port; write ADDRESS:PORT, for example 0.0.0.0:80 or [::]:80"),
        ("80", "'80' has no address; write ADDRESS:PORT, for example 0.0.0.0:80 or [::]:80"),
        (":80", "':80' has no address; write ADDRESS:PORT, for example 0.0.0.0:80 or [::]:80"),
        ("::1:80", "'::1:80': an IPv6 address needs brackets, as in [::1]:80"),
        ("[::1:80", "'[::1:80' is not an address and port; write ADDRESS:PORT, for example 0.0.0.0:80 or [::]:80"),
        ("[10.0.0.1]:80", "'[10.0.0.1]:80': brackets are for IPv6 addresses; write 10.0.0.1:80"),
        ("[fe80::1%eth0]:80", "'fe80::1%eth0': IPv6 zone indexes (%) are not supported"),
        ("0.0.0.0:", "'0.0.0.0:': port '' is not a number from 1 to 65535"),
        ("0.0.0.0:0", "'0.0.0.0:0': port 0 is out of range; expected 1 to 65535"),
        ("224.0.0.1:80", "'224.0.0.1:80' is a multicast or broadcast address"),
        ("localhost:80", "'localhost' is a host name; tether needs an IPv4 or IPv6 address (it resolves no names, so every machine routes alike)"),
    ])
    func listenErrors(text: String, message: String) {
        #expect(throws: ValueProblem(message)) { try AddressSyntax.parseListen(text) }
    }

    @Test(arguments: [
        ("10.0.0.11", IPAddress(v4: 10, 0, 0, 11)), ("::1", IPAddress("::1")!), ("[2001:db8::1]", IPAddress("2001:db8::1")!),
    ])
    func serverAddress(text: String, address: IPAddress) throws {
        #expect(try AddressSyntax.parseServerAddress(text) == address)
    }

    @Test(arguments: [
        ("web1.example.com", "'web1.example.com' is a host name; tether needs an IPv4 or IPv6 address (it resolves no names, so every machine routes alike)"),
        ("10.0.0.1:8080", "'10.0.0.1:8080' includes a port; give the port on its own"),
        ("10.0.0.256", "'10.0.0.256' is not a valid IPv4 or IPv6 address"),
        ("010.0.0.1", "'010.0.0.1' is not a valid IPv4 or IPv6 address"),
        ("0.0.0.0", "'0.0.0.0' is the unspecified address; give the server's own address"),
        ("255.255.255.255", "'255.255.255.255' is a multicast or broadcast address, not a server"),
        ("ff02::1", "'ff02::1' is a multicast or broadcast address, not a server"),
    ])
    func serverAddressErrors(text: String, message: String) {
        #expect(throws: ValueProblem(message)) { try AddressSyntax.parseServerAddress(text) }
    }
}
