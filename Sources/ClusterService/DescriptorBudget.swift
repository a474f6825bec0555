import AdminAPI
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// How many API connections a replica may hold open: what its descriptor limit leaves once
/// everything else a replica needs is set aside, so that a flood of clients can never take the
/// descriptors its peer links, its log and its database need (outside review, finding 3).
enum DescriptorBudget {
    /// Descriptors set aside for everything but API connections: peer links in and out (with
    /// the inbound ones a listener may hold, `PeerNetworkOptions.maxInboundConnections`), the
    /// log's segments, the database and its journal, snapshot files in transfer, the
    /// listening sockets, and the process's own files.
    static let reserved = 256
    /// The fewest API connections worth starting with.
    static let minimumConnections = 16

    /// Raises the soft descriptor limit to the hard one, then returns the API connection limit:
    /// `configured` when it fits, else the most that fits.
    /// - Throws: when `configured` does not fit, or when the descriptor limit leaves fewer
    ///   than `minimumConnections`.
    static func apiConnections(configured: Int?) throws(ConfigurationError) -> (connections: Int, descriptors: Int) {
        var limit = rlimit()
        guard getrlimit(resource, &limit) == 0 else { throw .invalid("descriptor limit", "getrlimit failed: errno \(errno)") }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(resource, &raised) == 0 { limit = raised }
        }
        // RLIM_INFINITY and other huge values: a million descriptors is plenty.
        let descriptors = Int(min(limit.rlim_cur, 1 << 20))
        let available = descriptors - reserved
        guard available >= minimumConnections else {
            throw .invalid(
                "descriptor limit",
                "\(descriptors) open files leave room for \(max(available, 0)) API connections after the \(reserved) a replica keeps; "
                    + "raise it (ulimit -n, or LimitNOFILE= in the systemd unit)")
        }
        if let configured {
            guard configured <= available else {
                throw .invalid(
                    "api_max_connections",
                    "\(configured) does not fit the descriptor limit of \(descriptors) (at most \(available) after the \(reserved) a "
                        + "replica keeps); raise the limit (ulimit -n, or LimitNOFILE=) or lower the setting")
            }
            return (configured, descriptors)
        }
        return (min(available, ConnectionLimits().maxConnections), descriptors)
    }

    #if canImport(Glibc)
        private static let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #else
        private static let resource = RLIMIT_NOFILE
    #endif
}
