/// Every size limit of the policy domain, in one place. Commands that exceed one are rejected
/// with a `PolicyError` naming it, and change nothing.
public struct PolicyLimits: Sendable, Hashable {
    /// The longest organization, project, principal or role name, in bytes.
    public var maxNameBytes: Int = 63
    /// The most permissions one role may grant.
    public var maxPermissionsPerRole: Int = 256
    /// The longest permission, in bytes.
    public var maxPermissionBytes: Int = 128
    /// The most role bindings one principal may hold.
    public var maxBindingsPerPrincipal: Int = 64
    /// The most custom roles one organization may define.
    public var maxRolesPerOrganization: Int = 1024
    /// The most API keys one principal may hold.
    public var maxAPIKeysPerPrincipal: Int = 16
    /// The longest request id or idempotency key, in bytes.
    public var maxRequestIDBytes: Int = 128
    /// The largest encoded command, in bytes.
    public var maxCommandBytes: Int = 64 << 10
    /// How many idempotency keys are remembered; older ones are forgotten first.
    public var idempotencyWindowKeys: Int = 100_000

    /// The default limits.
    public init() {}

    /// The limits every replica uses; commands are validated against them deterministically.
    public static let standard = PolicyLimits()
}
