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
        // Checked on every API request (each route names its permission), so segments are
        // validated as substrings and copied only once valid.
        guard text.utf8.count <= limits.maxPermissionBytes else { throw .invalidPermission(text) }
        let segments = text.split(separator: ".", maxSplits: 3, omittingEmptySubsequences: false)
        guard segments.count == 3, segments.allSatisfy({ Permission.isValidSegment($0, allowWildcard: allowWildcards) }) else {
            throw .invalidPermission(text)
        }
        service = String(segments[0])
        resource = String(segments[1])
        verb = String(segments[2])
    }

    /// Creates a permission known to be valid (built-in roles); stops on an invalid one.
    init(trusted text: String) {
        do {
            try self.init(text)
        } catch {
            preconditionFailure("invalid built-in permission \(text)")
        }
    }

    private static func isValidSegment(_ segment: Substring, allowWildcard: Bool) -> Bool {
        if segment == "*" { return allowWildcard }
        let bytes = segment.utf8
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
