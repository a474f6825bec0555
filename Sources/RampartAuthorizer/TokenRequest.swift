/// What a token is used for, given to its checks as facts. A service attenuating a token writes
/// checks against these; `VerifiedToken.check(_:limits:)` supplies them:
///
/// - `time(<date>)`: now;
/// - `resource(<scope>)`: `"cluster"`, `"orgs/<org>"` or `"orgs/<org>/projects/<project>"`,
///   as the authority block's `right` facts name scopes; and, when the resource is in one,
///   `resource_organization(<org>)` and `resource_project(<project>)`;
/// - `permission(<permission>)`, such as `"compute.instances.create"`;
/// - `operation("read")` or `operation("write")`.
///
/// For example `check if operation("read")` makes a token read-only, and
/// `check if resource_project("web")` confines it to one project.
public struct TokenRequest: Hashable, Sendable {
    /// Whether a request reads or changes something.
    public enum Operation: String, Hashable, Sendable {
        /// It reads (or asks a question).
        case read
        /// It changes something.
        case write
    }

    /// Now, in seconds since 1970.
    public var time: UInt64
    /// The organization the request acts in, if any.
    public var organization: String?
    /// The project the request acts in, if any (then `organization` is set too).
    public var project: String?
    /// The permission the request needs, if it needs one.
    public var permission: String?
    /// Whether it reads or writes.
    public var operation: Operation

    /// A request at `time`.
    public init(time: UInt64, organization: String? = nil, project: String? = nil, permission: String? = nil, operation: Operation) {
        self.time = time
        self.organization = organization
        self.project = project
        self.permission = permission
        self.operation = operation
    }

    /// The scope as the authority block's `right` facts write it.
    public var resource: String {
        guard let organization else { return "cluster" }
        guard let project else { return "orgs/\(organization)" }
        return "orgs/\(organization)/projects/\(project)"
    }

    /// The verbs whose permissions only read (`TokenRequest.operation(of:)`).
    public static let readVerbs: Set<Substring> = ["get", "list", "read", "check", "watch", "view", "describe"]

    /// The operation a permission implies, for a decision asked about a service's permission:
    /// read when its last segment is a reading verb (`readVerbs`), write otherwise.
    public static func operation(of permission: String) -> Operation {
        let verb = permission.split(separator: ".").last ?? ""
        return readVerbs.contains(verb) ? .read : .write
    }
}
