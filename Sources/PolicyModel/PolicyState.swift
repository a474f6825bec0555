/// The whole policy state of one replica, in memory, with the indexes authorization needs.
///
/// `apply(_:at:)` is the state machine's logic: a pure, deterministic function of the state and
/// the command (it reads no clock and no random source), so every replica that applies the same
/// commands ends in the same state. Domain rejections are returned as values and change nothing.
/// The durable copy (SQLite, in `PolicyStore`) is written from the same commands.
public struct PolicyState: Sendable {
    /// The limits every command is checked against.
    public let limits: PolicyLimits
    // Invariant: revision is the index of the last applied command; it only grows.
    /// The revision (Raft log index) of the last applied command.
    public internal(set) var revision: UInt64 = 0

    // The tables that grow with the principals are sharded (`ShardedDictionary`): one large
    // dictionary's growth would pause every replica at the same entry.
    var organizations: [Name: Organization] = [:]
    var projects: [Name: [Name: Project]] = [:]
    var principals = ShardedDictionary<PrincipalReference, Principal>()
    var roles: [RoleReference: Role] = [:]
    var bindings = ShardedDictionary<EntityID, RoleBinding>()
    // Invariant: bindingsByPrincipal[p] is the sorted ids of exactly the bindings of p.
    var bindingsByPrincipal = ShardedDictionary<PrincipalReference, [EntityID]>()
    var apiKeys = ShardedDictionary<EntityID, APIKey>()
    var rootKeys: [EntityID: RootKey] = [:]
    var revocations: [TokenRevocation.Target: TokenRevocation] = [:]
    var peerAddresses: [UInt64: PeerAddress] = [:]
    /// The newest revision of a revocation that expired from the list (0: none has): a
    /// follower of the revocation feed that last saw an older revision may have missed one.
    public internal(set) var revocationFloor: UInt64 = 0
    // Invariant: roleCounts and apiKeyCounts count exactly the custom roles per organization and
    // the API keys per principal (kept so that limits are checked without scanning).
    var roleCounts: [Name: Int] = [:]
    var apiKeyCounts = ShardedDictionary<PrincipalReference, Int>()
    var idempotency = IdempotencyWindow()
    /// The revision the cluster was bootstrapped at (`Command.bootstrap`); 0 before.
    public internal(set) var bootstrapRevision: UInt64 = 0
    /// Every change since the last `takeChanges()`, in order, for the durable copy.
    var journal: [StateChange] = []

    /// Creates an empty state holding only the system organization.
    public init(limits: PolicyLimits = .standard) {
        self.limits = limits
        organizations[Organization.systemName] = Organization(
            name: Organization.systemName, createdAt: Timestamp(millisecondsSinceEpoch: 0), revision: 0)
    }

    /// Rebuilds a state from its durable copy: the entities as stored and the remembered
    /// idempotency outcomes, oldest first.
    public init(
        limits: PolicyLimits = .standard, revision: UInt64, organizations: [Organization], projects: [Project],
        principals: [Principal], roles: [Role], bindings: [RoleBinding], apiKeys: [APIKey], rootKeys: [RootKey],
        idempotency: [(actor: PrincipalReference?, key: String, outcome: CommandOutcome, fingerprint: UInt64)],
        bootstrapRevision: UInt64 = 0
    ) {
        self.init(limits: limits)
        self.revision = revision
        self.bootstrapRevision = bootstrapRevision
        self.organizations = [:]
        for organization in organizations { self.organizations[organization.name] = organization }
        for project in projects { self.projects[project.organization, default: [:]][project.name] = project }
        for principal in principals { self.principals[principal.reference] = principal }
        for role in roles { setRole(role.reference, role) }
        for binding in bindings.sorted(by: { $0.id < $1.id }) { setBinding(binding.id, binding) }
        for key in apiKeys { setAPIKey(key.id, key) }
        for key in rootKeys { self.rootKeys[key.id] = key }
        for remembered in idempotency {
            _ = self.idempotency.remember(
                remembered.outcome, fingerprint: remembered.fingerprint,
                for: IdempotencyWindow.Key(actor: remembered.actor, key: remembered.key), capacity: limits.idempotencyWindowKeys)
        }
        journal = []
    }

    /// Returns and clears the changes made since the last call, in order. The durable copy
    /// writes exactly these.
    public mutating func takeChanges() -> [StateChange] {
        defer { journal = [] }
        return journal
    }

    // MARK: - Queries

    /// The organization with this name.
    public func organization(_ name: Name) -> Organization? { organizations[name] }

    /// Whether the cluster has its first administrator: bootstrapped by `Command.bootstrap`,
    /// or, for a cluster bootstrapped before that command existed, holding `system/admin`.
    public var isBootstrapped: Bool { bootstrapRevision != 0 || principals[AdministratorKey.principal] != nil }

    /// Every organization, sorted by name.
    public var allOrganizations: [Organization] { organizations.values.sorted { $0.name < $1.name } }

    /// The project with this name in `organization`.
    public func project(_ organization: Name, _ name: Name) -> Project? { projects[organization]?[name] }

    /// The projects of an organization, sorted by name.
    public func projects(of organization: Name) -> [Project] {
        (projects[organization] ?? [:]).values.sorted { $0.name < $1.name }
    }

    /// The principal with this reference.
    public func principal(_ reference: PrincipalReference) -> Principal? { principals[reference] }

    /// The principals of an organization, sorted by name.
    public func principals(of organization: Name) -> [Principal] {
        principals.values.filter { $0.reference.organization == organization }.sorted { $0.reference < $1.reference }
    }

    /// The custom roles of an organization, sorted by name.
    public func roles(of organization: Name) -> [Role] {
        roles.values.filter { if case .custom(organization, _) = $0.reference { return true } else { return false } }
            .sorted { $0.reference < $1.reference }
    }

    /// The bindings held by principals of an organization, sorted by id.
    public func bindings(in organization: Name) -> [RoleBinding] {
        bindings.values.filter { $0.principal.organization == organization }.sorted { $0.id < $1.id }
    }

    /// The API keys of a principal, sorted by id.
    public func apiKeys(of principal: PrincipalReference) -> [APIKey] {
        apiKeys.values.filter { $0.principal == principal }.sorted { $0.id < $1.id }
    }

    /// The role with this reference, built-in or custom.
    public func role(_ reference: RoleReference) -> Role? {
        if case .builtIn(let builtIn) = reference { return builtIn.role }
        return roles[reference]
    }

    /// The binding with this id.
    public func binding(_ id: EntityID) -> RoleBinding? { bindings[id] }

    /// The bindings of a principal, sorted by id.
    public func bindings(of principal: PrincipalReference) -> [RoleBinding] {
        (bindingsByPrincipal[principal] ?? []).compactMap { bindings[$0] }
    }

    /// The API key with this id.
    public func apiKey(_ id: EntityID) -> APIKey? { apiKeys[id] }

    /// Every root key, sorted by id.
    /// The peer address book (`PeerAddress`), by replica id.
    public var peerAddressBook: [UInt64: PeerAddress] { peerAddresses }

    public var allRootKeys: [RootKey] { rootKeys.values.sorted { $0.id < $1.id } }

    /// The keys services verify with: pending, active and retiring keys, sorted by id.
    public var publishedRootKeys: [RootKey] { allRootKeys.filter { $0.state != .retired } }

    /// The key that signs, if one has been activated (the first in id order, should a damaged
    /// store ever hold two).
    public var activeRootKey: RootKey? { allRootKeys.first { $0.state == .active } }

    // MARK: - Journaled writes

    mutating func setOrganization(_ name: Name, _ value: Organization?) {
        organizations[name] = value
        journal.append(.organization(name, value))
    }

    mutating func setProject(_ organization: Name, _ name: Name, _ value: Project?) {
        projects[organization, default: [:]][name] = value
        if projects[organization]?.isEmpty == true { projects[organization] = nil }
        journal.append(.project(organization: organization, name: name, value))
    }

    mutating func setPrincipal(_ reference: PrincipalReference, _ value: Principal?) {
        principals[reference] = value
        journal.append(.principal(reference, value))
    }

    mutating func setRole(_ reference: RoleReference, _ value: Role?) {
        let previous = roles.removeValue(forKey: reference)
        if let value { roles[reference] = value }
        if case .custom(let organization, _) = reference {
            let change = (value == nil ? 0 : 1) - (previous == nil ? 0 : 1)
            roleCounts[organization, default: 0] += change
            if roleCounts[organization] == 0 { roleCounts[organization] = nil }
        }
        journal.append(.role(reference, value))
    }

    /// Adds or removes a binding, keeping the per-principal index sorted.
    mutating func setBinding(_ id: EntityID, _ value: RoleBinding?) {
        if let old = bindings.removeValue(forKey: id) {
            var ids = bindingsByPrincipal[old.principal] ?? []
            ids.removeAll { $0 == id }
            bindingsByPrincipal[old.principal] = ids.isEmpty ? nil : ids
        }
        if let value {
            bindings[id] = value
            var ids = bindingsByPrincipal[value.principal] ?? []
            ids.insert(id, at: ids.firstIndex { $0 > id } ?? ids.count)
            bindingsByPrincipal[value.principal] = ids
        }
        journal.append(.binding(id, value))
    }

    mutating func setAPIKey(_ id: EntityID, _ value: APIKey?) {
        if let previous = apiKeys.removeValue(forKey: id) {
            apiKeyCounts[previous.principal, default: 0] -= 1
            if apiKeyCounts[previous.principal] == 0 { apiKeyCounts[previous.principal] = nil }
        }
        if let value {
            apiKeys[id] = value
            apiKeyCounts[value.principal, default: 0] += 1
        }
        journal.append(.apiKey(id, value))
    }

    mutating func setRevocation(_ target: TokenRevocation.Target, _ value: TokenRevocation?) {
        revocations[target] = value
        journal.append(.revocation(target, value))
    }

    mutating func setPeerAddress(_ replica: UInt64, _ value: PeerAddress?) {
        peerAddresses[replica] = value
        journal.append(.peerAddress(replica, value))
    }

    mutating func setRootKey(_ id: EntityID, _ value: RootKey?) {
        rootKeys[id] = value
        journal.append(.rootKey(id, value))
    }

    mutating func remember(_ outcome: CommandOutcome, fingerprint: UInt64, for key: IdempotencyWindow.Key) {
        let forgotten = idempotency.remember(outcome, fingerprint: fingerprint, for: key, capacity: limits.idempotencyWindowKeys)
        journal.append(.idempotency(actor: key.actor, key: key.key, outcome, fingerprint: fingerprint))
        for old in forgotten { journal.append(.idempotency(actor: old.actor, key: old.key, nil, fingerprint: 0)) }
    }
}

/// One change to the state, for the durable copy: the new value of an entity, or nil when it
/// was deleted.
public enum StateChange: Hashable, Sendable {
    /// An organization was written or deleted.
    case organization(Name, Organization?)
    /// A project was written or deleted.
    case project(organization: Name, name: Name, Project?)
    /// A principal was written or deleted.
    case principal(PrincipalReference, Principal?)
    /// A custom role was written or deleted.
    case role(RoleReference, Role?)
    /// A binding was written or deleted.
    case binding(EntityID, RoleBinding?)
    /// An API key was written or deleted.
    case apiKey(EntityID, APIKey?)
    /// A root key was written.
    case rootKey(EntityID, RootKey?)
    /// An idempotency outcome was remembered, with the fingerprint of the request it answers
    /// (`CommandEnvelope.fingerprint`), or forgotten (nil) when it left the window.
    case idempotency(actor: PrincipalReference?, key: String, CommandOutcome?, fingerprint: UInt64)
    /// The cluster was bootstrapped at this revision.
    case bootstrapped(revision: UInt64)
    /// A token revocation was written, or left the list (nil).
    case revocation(TokenRevocation.Target, TokenRevocation?)
    /// The revocation feed's floor rose (`PolicyState.revocationFloor`).
    case revocationFloor(UInt64)
    /// A replica's peer address was written, or removed (nil).
    case peerAddress(UInt64, PeerAddress?)
}

/// Remembers the outcome of commands that carried an idempotency key, for a bounded number of
/// keys: a retry within the window is answered with the first outcome and changes nothing.
struct IdempotencyWindow: Sendable {
    /// A key is scoped to the principal that sent it, so two clients cannot collide.
    struct Key: Hashable, Sendable {
        var actor: PrincipalReference?
        var key: String
    }

    /// An outcome and the fingerprint of the request it answers (0 when not known: an outcome
    /// remembered before fingerprints were).
    struct Remembered: Hashable, Sendable {
        var outcome: CommandOutcome
        var fingerprint: UInt64
    }

    private(set) var outcomes: [Key: Remembered] = [:]
    // Invariant: order holds exactly the keys of outcomes, oldest first.
    private var order: [Key] = []
    private var head = 0

    func remembered(for key: Key) -> Remembered? { outcomes[key] }

    /// Remembers an outcome and returns the keys that left the window.
    mutating func remember(_ outcome: CommandOutcome, fingerprint: UInt64, for key: Key, capacity: Int) -> [Key] {
        outcomes[key] = Remembered(outcome: outcome, fingerprint: fingerprint)
        order.append(key)
        var forgotten: [Key] = []
        while order.count - head > capacity {
            outcomes[order[head]] = nil
            forgotten.append(order[head])
            head += 1
        }
        if head > 1024 && head * 2 > order.count {
            order.removeFirst(head)
            head = 0
        }
        return forgotten
    }
}

/// What applying one command did: the revision it was applied at and, for a rejection, why.
public struct CommandOutcome: Hashable, Sendable {
    /// The revision at which the command was (first) applied.
    public var revision: UInt64
    /// The rejection, or nil when the command changed the state.
    public var rejection: PolicyError?
    /// Whether this is the remembered outcome of an earlier command with the same idempotency key.
    public var replayed: Bool

    /// Creates an outcome.
    public init(revision: UInt64, rejection: PolicyError?, replayed: Bool = false) {
        self.revision = revision
        self.rejection = rejection
        self.replayed = replayed
    }

    /// Whether the command changed the state.
    public var succeeded: Bool { rejection == nil }
}
