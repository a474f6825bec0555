/// A permission `service.resource.verb`, such as `compute.instances.create`. In a role, any
/// segment may be `*`, matching every value of that segment; a permission that is checked is
/// always concrete.
public struct Permission: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The three segments.
    public let service: String
    /// The resource type segment.
    public let resource: String
    /// The verb segment.
    public let verb: String

    /// Parses a permission.
    /// - Parameters:
    ///   - text: `service.resource.verb`; each segment `[a-z][a-z0-9-]*` or `*`.
    ///   - allowWildcards: whether `*` segments are accepted (in roles, not in checks).
    /// - Throws: `PolicyError.invalidPermission`.
    public init(_ text: String, allowWildcards: Bool = true, limits: PolicyLimits = .standard) throws(PolicyError) {
        // Parsed on every check (`authorize` reads one from each request): one pass over the
        // bytes for the two dots, the segments validated in place and copied once valid.
        let bytes = text.utf8
        guard bytes.count <= limits.maxPermissionBytes, let firstDot = bytes.firstIndex(of: 0x2E) else {
            throw .invalidPermission(text)
        }
        let resourceStart = bytes.index(after: firstDot)
        guard let secondDot = bytes[resourceStart...].firstIndex(of: 0x2E) else { throw .invalidPermission(text) }
        let verbStart = bytes.index(after: secondDot)
        let serviceBytes = bytes[..<firstDot]
        let resourceBytes = bytes[resourceStart..<secondDot]
        let verbBytes = bytes[verbStart...]
        guard Permission.isValidSegment(serviceBytes, allowWildcard: allowWildcards),
            Permission.isValidSegment(resourceBytes, allowWildcard: allowWildcards),
            Permission.isValidSegment(verbBytes, allowWildcard: allowWildcards)
        else { throw .invalidPermission(text) }
        service = String(Substring(serviceBytes))
        resource = String(Substring(resourceBytes))
        verb = String(Substring(verbBytes))
    }

    /// Creates a permission known to be valid (built-in roles); stops on an invalid one.
    init(trusted text: String) {
        do {
            try self.init(text)
        } catch {
            preconditionFailure("invalid built-in permission \(text)")
        }
    }

    /// `[a-z][a-z0-9-]*`, or `*` when wildcards are allowed. (A third dot makes the verb
    /// invalid: `.` is not among its bytes.)
    private static func isValidSegment(_ bytes: Substring.UTF8View, allowWildcard: Bool) -> Bool {
        if bytes.count == 1 && bytes.first == 0x2A { return allowWildcard }
        guard let first = bytes.first, first >= 0x61, first <= 0x7A else { return false }
        return bytes.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D }
    }

    /// Whether this (possibly wildcard) permission grants `requested`.
    public func grants(_ requested: Permission) -> Bool {
        (service == "*" || service == requested.service) && (resource == "*" || resource == requested.resource)
            && (verb == "*" || verb == requested.verb)
    }

    public static func < (lhs: Permission, rhs: Permission) -> Bool { lhs.description < rhs.description }

    public var description: String { "\(service).\(resource).\(verb)" }
}
