import Testing
import Supervisor

@Suite struct SystemdNotifyTests {
    /// Not started by systemd, or its socket gone: nothing is sent, nothing fails.
    /// Delivery itself is tested end to end in IntegrationTests (SystemdNotifyIntegration).
    @Test func withoutASocketNothingHappens() {
        SystemdNotify(environment: nil).ready(status: "x")
        SystemdNotify(environment: "").stopping()
        SystemdNotify(environment: "/nonexistent/notify").stopping()
    }
}
