/// Every permission Rampart's own API checks, parsed once: the routes name these constants,
/// never a string, and the state machine checks commands against the same values
/// (`PolicyState.requiredAccess`). Custom roles may grant them like any other permission.
public enum RampartPermission {
    public static let clusterGet = Permission(trusted: "rampart.cluster.get")
    public static let clusterUpdate = Permission(trusted: "rampart.cluster.update")
    public static let keysRotate = Permission(trusted: "rampart.keys.rotate")
    /// Saving a snapshot (`GET /v1/snapshot`): a copy of everything, sealed root keys included.
    public static let snapshotsSave = Permission(trusted: "rampart.snapshots.save")
    public static let organizationsCreate = Permission(trusted: "iam.organizations.create")
    public static let organizationsGet = Permission(trusted: "iam.organizations.get")
    public static let organizationsUpdate = Permission(trusted: "iam.organizations.update")
    public static let organizationsDelete = Permission(trusted: "iam.organizations.delete")
    public static let projectsCreate = Permission(trusted: "iam.projects.create")
    public static let projectsGet = Permission(trusted: "iam.projects.get")
    public static let projectsList = Permission(trusted: "iam.projects.list")
    public static let projectsDelete = Permission(trusted: "iam.projects.delete")
    public static let principalsCreate = Permission(trusted: "iam.principals.create")
    public static let principalsGet = Permission(trusted: "iam.principals.get")
    public static let principalsList = Permission(trusted: "iam.principals.list")
    public static let principalsDelete = Permission(trusted: "iam.principals.delete")
    public static let apiKeysCreate = Permission(trusted: "iam.apikeys.create")
    public static let apiKeysList = Permission(trusted: "iam.apikeys.list")
    public static let apiKeysDelete = Permission(trusted: "iam.apikeys.delete")
    public static let rolesCreate = Permission(trusted: "iam.roles.create")
    public static let rolesGet = Permission(trusted: "iam.roles.get")
    public static let rolesList = Permission(trusted: "iam.roles.list")
    public static let rolesUpdate = Permission(trusted: "iam.roles.update")
    public static let rolesDelete = Permission(trusted: "iam.roles.delete")
    public static let bindingsCreate = Permission(trusted: "iam.bindings.create")
    public static let bindingsList = Permission(trusted: "iam.bindings.list")
    public static let bindingsDelete = Permission(trusted: "iam.bindings.delete")
    public static let decisionsCheck = Permission(trusted: "iam.decisions.check")
    public static let auditRead = Permission(trusted: "iam.audit.read")
    public static let tokensRevoke = Permission(trusted: "iam.tokens.revoke")

    /// All of them.
    public static let all: [Permission] = [
        clusterGet, clusterUpdate, keysRotate, snapshotsSave, organizationsCreate, organizationsGet, organizationsUpdate, organizationsDelete,
        projectsCreate, projectsGet, projectsList, projectsDelete, principalsCreate, principalsGet, principalsList, principalsDelete,
        apiKeysCreate, apiKeysList, apiKeysDelete, rolesCreate, rolesGet, rolesList, rolesUpdate, rolesDelete, bindingsCreate,
        bindingsList, bindingsDelete, decisionsCheck, auditRead, tokensRevoke,
    ]
}
