/// Why a request went where it went; the access log and the counters say it.
public enum RouteReason: UInt8, Sendable {
    /// The header value named this server and it is available (or the pool's
    /// policy is `never` and it is only marked down).
    case pinned
    /// The header named an unavailable server; `immediate` chose this one.
    case failover
    /// No header, or a value no server carries: the pool's algorithm chose.
    case balanced
}

/// The routing decision for one request.
public enum Route: Equatable, Sendable {
    case forward(server: UInt32, reason: RouteReason)
    /// Answer locally: 503 for a pinned server that is disabled or full under
    /// `never`, or `when_all_down`'s configured status. `retryAfter` 0 = no header.
    case respond(status: UInt16, retryAfter: UInt32)
    /// `when_all_down: redirect`; the location is the pool's `redirectLocation`.
    case redirect(status: UInt16, pool: UInt32)
    /// Close the client connection without a response (`abort`, or
    /// `when_all_down: close`).
    case close
}

/// "No server excluded" for `Selector.route(excluding:)`.
public let noServer: UInt32 = .max
