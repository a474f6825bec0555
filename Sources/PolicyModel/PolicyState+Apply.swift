// The state machine's rules: how each command changes the state, and when it is refused.
extension PolicyState {
    /// Applies one committed command.
    /// - Parameters:
    ///   - envelope: the command and what travels with it.
    ///   - revision: the command's Raft log index; greater than every earlier one.
    /// - Returns: the outcome. A rejection changes nothing but the revision; a retry of an
    ///   idempotency key seen in the window returns the first outcome, marked `replayed`.
    public mutating func apply(_ envelope: CommandEnvelope, at revision: UInt64) -> CommandOutcome {
        precondition(revision > self.revision, "revision \(revision) applied after \(self.revision)")
        self.revision = revision
        var outcome = CommandOutcome(revision: revision, rejection: nil)
        do {
            try validate(envelope)
        } catch {
            // A malformed key is never remembered: the request is refused as a whole.
            outcome.rejection = error
            return outcome
        }
        let key = envelope.idempotencyKey.map { IdempotencyWindow.Key(actor: envelope.actor, key: $0) }
        let fingerprint = key == nil ? 0 : envelope.fingerprint
        if let key, let first = idempotency.remembered(for: key) {
            // A retry answers with the first outcome; another request under the same key is
            // refused (it was answered as the first one, having done nothing).
            guard first.fingerprint == 0 || first.fingerprint == fingerprint else {
                outcome.rejection = .invalidArgument(
                    "idempotency key \"\(key.key)\" was used for another request (at revision \(first.outcome.revision)); use a new key")
                return outcome
            }
            var replay = first.outcome
            replay.replayed = true
            return replay
        }
        do {
            try checkActor(of: envelope)
            try execute(envelope.command, expectedRevision: envelope.expectedRevision, time: envelope.time)
        } catch {
            outcome.rejection = error
        }
        if let key { remember(outcome, fingerprint: fingerprint, for: key) }
        return outcome
    }

    /// Records that the log entry at `revision` carried no command (a leader's no-op, a
    /// membership change): the revision moves, nothing else does.
    public mutating func advance(to revision: UInt64) {
        precondition(revision > self.revision, "revision \(revision) applied after \(self.revision)")
        self.revision = revision
    }

    /// The organization a command concerns, looked up in the state for commands that name
    /// only an id (deleting a binding, revoking an API key). Read it before applying.
    public func organization(of command: Command) -> Name? {
        switch command {
        case .deleteBinding(let id): return bindings[id]?.principal.organization
        case .revokeAPIKey(let id): return apiKeys[id]?.principal.organization
        default: return command.organization
        }
    }

    private func validate(_ envelope: CommandEnvelope) throws(PolicyError) {
        try Self.validate(envelope, limits: limits)
    }

    /// The checks of an envelope's own fields, before anything is looked up.
    static func validate(_ envelope: CommandEnvelope, limits: PolicyLimits) throws(PolicyError) {
        guard Self.isPrintable(envelope.requestID), envelope.requestID.utf8.count <= limits.maxRequestIDBytes else {
            throw .invalidArgument("request id must be 1 to \(limits.maxRequestIDBytes) printable bytes")
        }
        if let key = envelope.idempotencyKey, !Self.isPrintable(key) || key.utf8.count > limits.maxRequestIDBytes {
            throw .invalidArgument("idempotency key must be 1 to \(limits.maxRequestIDBytes) printable bytes")
        }
        if envelope.command.isClusterOnly, let actor = envelope.actor {
            throw .forbidden("\(actor) may not \(envelope.command.action): only the cluster itself may")
        }
    }

    /// Non-empty and free of control characters (which some stores and logs truncate or mangle).
    static func isPrintable(_ text: String) -> Bool {
        !text.isEmpty && text.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value != 0x7F }
    }

    // MARK: - Dispatch

    private mutating func execute(_ command: Command, expectedRevision: UInt64?, time: Timestamp) throws(PolicyError) {
        switch command {
        case .createOrganization(let name):
            try requireNoExpectedRevision(expectedRevision)
            guard organizations[name] == nil else { throw .alreadyExists("organization \(name)") }
            setOrganization(name, Organization(name: name, createdAt: time, revision: revision))
        case .setOrganizationSuspended(let name, let suspended):
            var organization = try existingOrganization(name, expectedRevision: expectedRevision)
            guard name != Organization.systemName else { throw .invalidState("the system organization cannot be suspended") }
            organization.suspended = suspended
            organization.revision = revision
            setOrganization(name, organization)
        case .deleteOrganization(let name, let force):
            try deleteOrganization(name, force: force, expectedRevision: expectedRevision)
        case .createProject(let organization, let name):
            try requireNoExpectedRevision(expectedRevision)
            _ = try existingOrganization(organization, expectedRevision: nil)
            guard projects[organization]?[name] == nil else { throw .alreadyExists("project \(organization)/\(name)") }
            setProject(organization, name, Project(organization: organization, name: name, createdAt: time, revision: revision))
        case .deleteProject(let organization, let name, let force):
            try deleteProject(organization, name, force: force, expectedRevision: expectedRevision)
        case .createPrincipal(let reference, let kind):
            try requireNoExpectedRevision(expectedRevision)
            _ = try existingOrganization(reference.organization, expectedRevision: nil)
            guard principals[reference] == nil else { throw .alreadyExists("principal \(reference)") }
            setPrincipal(reference, Principal(reference: reference, kind: kind, createdAt: time, revision: revision))
        case .deletePrincipal(let reference, let force):
            try deletePrincipal(reference, force: force, expectedRevision: expectedRevision)
        case .createRole(let organization, let name, let permissions):
            try requireNoExpectedRevision(expectedRevision)
            try createRole(organization, name, permissions)
        case .updateRole(let organization, let name, let permissions):
            try updateRole(organization, name, permissions, expectedRevision: expectedRevision)
        case .deleteRole(let organization, let name, let force):
            try deleteRole(organization, name, force: force, expectedRevision: expectedRevision)
        case .createBinding(let id, let principal, let role, let scope):
            try requireNoExpectedRevision(expectedRevision)
            try createBinding(RoleBinding(id: id, principal: principal, role: role, scope: scope, createdAt: time, revision: revision))
        case .deleteBinding(let id):
            guard let binding = bindings[id] else { throw .notFound("binding \(id)") }
            try checkRevision(expectedRevision, binding.revision)
            try keepAnAdministrator(removing: [id])
            removeBinding(id)
        case .createAPIKey(let id, let principal, let secretHash):
            try requireNoExpectedRevision(expectedRevision)
            try createAPIKey(APIKey(id: id, principal: principal, secretHash: secretHash, createdAt: time, revision: revision))
        case .revokeAPIKey(let id):
            guard let key = apiKeys[id] else { throw .notFound("API key \(id)") }
            try checkRevision(expectedRevision, key.revision)
            setAPIKey(id, nil)
        case .addRootKey(let id, let publicKey, let sealedPrivateKey):
            try requireNoExpectedRevision(expectedRevision)
            try addRootKey(id, publicKey: publicKey, sealedPrivateKey: sealedPrivateKey, time: time)
        case .activateRootKey(let id):
            try activateRootKey(id, expectedRevision: expectedRevision)
        case .retireRootKey(let id):
            guard var key = rootKeys[id] else { throw .notFound("root key \(id)") }
            try checkRevision(expectedRevision, key.revision)
            guard key.state == .retiring else { throw .invalidState("root key \(id) is \(key.state), not retiring") }
            key.state = .retired
            key.revision = revision
            setRootKey(id, key)
        case .revokeRootKey(let id):
            guard var key = rootKeys[id] else { throw .notFound("root key \(id)") }
            try checkRevision(expectedRevision, key.revision)
            guard key.state != .retired else { throw .invalidState("root key \(id) is already out of the key set") }
            let wasActive = key.state == .active
            key.state = .retired
            key.revision = revision
            setRootKey(id, key)
            if wasActive,
                var successor = rootKeys.values.filter({ $0.state == .pending }).max(by: { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) })
            {
                successor.state = .active
                successor.revision = revision
                setRootKey(successor.id, successor)
            }
        case .bootstrap(let admin, let rootKey):
            try requireNoExpectedRevision(expectedRevision)
            guard !isBootstrapped else { throw .invalidState("the cluster is already bootstrapped") }
            if rootKeys.isEmpty {
                // The first root key is active at once: nothing can have cached an earlier key set.
                try addRootKey(rootKey.id, publicKey: rootKey.publicKey, sealedPrivateKey: rootKey.sealedPrivateKey, time: time)
                try activateRootKey(rootKey.id, expectedRevision: nil)
            }
            try ensureAdministrator(admin, time: time)
            bootstrapRevision = revision
            journal.append(.bootstrapped(revision: revision))
        case .breakGlass(let admin):
            try requireNoExpectedRevision(expectedRevision)
            guard isBootstrapped else { throw .invalidState("the cluster is not bootstrapped yet: bootstrap it instead") }
            try ensureAdministrator(admin, time: time)
        case .recordDenial(let denied):
            // Only the audit record: the refused principal may have been deleted since.
            try requireNoExpectedRevision(expectedRevision)
            guard (1...DeniedAccess.maxCount).contains(denied.count) else {
                throw .invalidArgument("a denial counts 1 to \(DeniedAccess.maxCount) requests")
            }
        case .revokeTokens(let ids, let organization, let reason, let expiresAt):
            try requireNoExpectedRevision(expectedRevision)
            guard (1...TokenRevocation.maxIDs).contains(ids.count) else {
                throw .invalidArgument("a revocation names 1 to \(TokenRevocation.maxIDs) revocation ids")
            }
            guard ids.allSatisfy({ (1...TokenRevocation.maxIDBytes).contains($0.count) }) else {
                throw .invalidArgument("a revocation id has 1 to \(TokenRevocation.maxIDBytes) bytes")
            }
            if let organization, organizations[organization] == nil { throw .notFound("organization \(organization)") }
            for id in ids { try revoke(.id(id), reason: reason, time: time, expiresAt: expiresAt) }
        case .revokeTokenEpoch(let target, let reason, let expiresAt):
            try requireNoExpectedRevision(expectedRevision)
            switch target {
            case .id: throw .invalidArgument("a revocation id is revoked with revokeTokens")
            case .principal(let principal): guard principals[principal] != nil else { throw .notFound("principal \(principal)") }
            case .organization(let name): guard organizations[name] != nil else { throw .notFound("organization \(name)") }
            }
            try revoke(target, reason: reason, time: time, expiresAt: expiresAt)
        case .expireRevocations:
            try requireNoExpectedRevision(expectedRevision)
            expireRevocations(at: time)
        case .setPeerAddress(let replica, let address, let autoPromote):
            guard replica > 0 else { throw .invalidArgument("replica ids start at 1") }
            if case .failure(let error) = PeerAddress.parse(address) { throw error }
            if let existing = peerAddresses[replica] { try checkRevision(expectedRevision, existing.revision) }
            if let holder = peerAddresses.values.first(where: { $0.address == address && $0.replica != replica }) {
                throw .alreadyExists("peer address \(address) (it is replica \(holder.replica)'s)")
            }
            setPeerAddress(replica, PeerAddress(replica: replica, address: address, autoPromote: autoPromote, revision: revision))
        case .removePeerAddress(let replica):
            guard let existing = peerAddresses[replica] else { throw .notFound("peer address of replica \(replica)") }
            try checkRevision(expectedRevision, existing.revision)
            setPeerAddress(replica, nil)
        }
    }

    /// Gives `system/admin` the API key `admin`, creating the principal and its cluster-wide
    /// `system.admin` binding first when they are missing. Checks everything before it changes
    /// anything, so a refusal leaves the state as it was.
    private mutating func ensureAdministrator(_ admin: AdministratorKey, time: Timestamp) throws(PolicyError) {
        let principal = AdministratorKey.principal
        let hasPrincipal = principals[principal] != nil
        let binding = RoleBinding(
            id: admin.bindingID, principal: principal, role: .builtIn(.systemAdmin), scope: .cluster, createdAt: time, revision: revision)
        let hasBinding = (bindingsByPrincipal[principal] ?? []).contains { bindings[$0]?.role == binding.role && bindings[$0]?.scope == .cluster }
        guard apiKeys[admin.keyID] == nil else { throw .alreadyExists("API key \(admin.keyID)") }
        guard hasBinding || bindings[admin.bindingID] == nil else { throw .alreadyExists("binding \(admin.bindingID)") }
        guard admin.secretHash.count == APIKey.secretHashBytes else {
            throw .invalidArgument("an API key's secret hash is \(APIKey.secretHashBytes) bytes")
        }
        guard (apiKeyCounts[principal] ?? 0) < limits.maxAPIKeysPerPrincipal else {
            throw .limitExceeded("at most \(limits.maxAPIKeysPerPrincipal) API keys per principal: revoke one of \(principal)'s keys first")
        }
        if !hasPrincipal { setPrincipal(principal, Principal(reference: principal, kind: .user, createdAt: time, revision: revision)) }
        if !hasBinding { try createBinding(binding) }
        try createAPIKey(APIKey(id: admin.keyID, principal: principal, secretHash: admin.secretHash, createdAt: time, revision: revision))
    }

    // MARK: - Organizations and projects

    private func existingOrganization(_ name: Name, expectedRevision: UInt64?) throws(PolicyError) -> Organization {
        guard let organization = organizations[name] else { throw .notFound("organization \(name)") }
        try checkRevision(expectedRevision, organization.revision)
        return organization
    }

    private mutating func deleteOrganization(_ name: Name, force: Bool, expectedRevision: UInt64?) throws(PolicyError) {
        _ = try existingOrganization(name, expectedRevision: expectedRevision)
        guard name != Organization.systemName else { throw .invalidState("the system organization cannot be deleted") }
        let ownedProjects = projects[name]?.count ?? 0
        let ownedPrincipals = principals.keys.filter { $0.organization == name }
        let ownedRoles = roles.keys.filter { if case .custom(name, _) = $0 { return true } else { return false } }
        if !force && (ownedProjects + ownedPrincipals.count + ownedRoles.count) > 0 {
            throw .hasDependents(
                "organization \(name) has \(ownedProjects) projects, \(ownedPrincipals.count) principals and \(ownedRoles.count) roles")
        }
        for id in bindings.keys.sorted() where bindings[id]!.scope.organization == name || bindings[id]!.principal.organization == name {
            removeBinding(id)
        }
        for id in apiKeys.keys.sorted() where apiKeys[id]!.principal.organization == name { setAPIKey(id, nil) }
        for principal in ownedPrincipals.sorted() { setPrincipal(principal, nil) }
        for role in ownedRoles.sorted() { setRole(role, nil) }
        for project in (projects[name] ?? [:]).keys.sorted() { setProject(name, project, nil) }
        setOrganization(name, nil)
    }

    private mutating func deleteProject(_ organization: Name, _ name: Name, force: Bool, expectedRevision: UInt64?)
        throws(PolicyError)
    {
        guard let project = projects[organization]?[name] else { throw .notFound("project \(organization)/\(name)") }
        try checkRevision(expectedRevision, project.revision)
        let scope = Scope.project(organization: organization, project: name)
        let dependents = bindings.keys.sorted().filter { bindings[$0]!.scope == scope }
        if !force && !dependents.isEmpty {
            throw .hasDependents("project \(organization)/\(name) has \(dependents.count) bindings")
        }
        for id in dependents { removeBinding(id) }
        setProject(organization, name, nil)
    }

    // MARK: - Principals and roles

    private mutating func deletePrincipal(_ reference: PrincipalReference, force: Bool, expectedRevision: UInt64?)
        throws(PolicyError)
    {
        guard let principal = principals[reference] else { throw .notFound("principal \(reference)") }
        try checkRevision(expectedRevision, principal.revision)
        let ownedBindings = bindingsByPrincipal[reference] ?? []
        let ownedKeys = apiKeys.keys.sorted().filter { apiKeys[$0]!.principal == reference }
        if !force && !(ownedBindings.isEmpty && ownedKeys.isEmpty) {
            throw .hasDependents("principal \(reference) has \(ownedBindings.count) bindings and \(ownedKeys.count) API keys")
        }
        try keepAnAdministrator(removing: ownedBindings)
        for id in ownedBindings { removeBinding(id) }
        for id in ownedKeys { setAPIKey(id, nil) }
        setPrincipal(reference, nil)
    }

    /// Refuses to remove the bindings `ids` when they hold every cluster-wide `system.admin`
    /// binding: a bootstrapped cluster always keeps an administrator (the break-glass path is
    /// for lost keys, not for a cluster nobody may administer).
    private func keepAnAdministrator(removing ids: [EntityID]) throws(PolicyError) {
        func isAdministrator(_ binding: RoleBinding?) -> Bool { binding?.role == .builtIn(.systemAdmin) && binding?.scope == .cluster }
        guard ids.contains(where: { isAdministrator(bindings[$0]) }) else { return }
        let removed = Set(ids)
        guard bindings.values.contains(where: { isAdministrator($0) && !removed.contains($0.id) }) else {
            throw .invalidState("the last system.admin binding cannot be removed: grant system.admin to another principal first")
        }
    }

    private func validatedPermissions(_ permissions: [Permission]) throws(PolicyError) -> [Permission] {
        try Self.checkPermissionCount(permissions, limits: limits)
        return permissions
    }

    static func checkPermissionCount(_ permissions: [Permission], limits: PolicyLimits) throws(PolicyError) {
        guard !permissions.isEmpty else { throw .invalidArgument("a role needs at least one permission") }
        guard permissions.count <= limits.maxPermissionsPerRole else {
            throw .limitExceeded("at most \(limits.maxPermissionsPerRole) permissions per role")
        }
    }

    private mutating func createRole(_ organization: Name, _ name: Name, _ permissions: [Permission]) throws(PolicyError) {
        _ = try existingOrganization(organization, expectedRevision: nil)
        let reference = RoleReference.custom(organization: organization, name: name)
        guard roles[reference] == nil else { throw .alreadyExists("role \(reference)") }
        guard (roleCounts[organization] ?? 0) < limits.maxRolesPerOrganization else {
            throw .limitExceeded("at most \(limits.maxRolesPerOrganization) roles per organization")
        }
        setRole(reference, Role(reference: reference, permissions: try validatedPermissions(permissions), revision: revision))
    }

    private mutating func updateRole(_ organization: Name, _ name: Name, _ permissions: [Permission], expectedRevision: UInt64?)
        throws(PolicyError)
    {
        let reference = RoleReference.custom(organization: organization, name: name)
        guard let role = roles[reference] else { throw .notFound("role \(reference)") }
        try checkRevision(expectedRevision, role.revision)
        setRole(reference, Role(reference: reference, permissions: try validatedPermissions(permissions), revision: revision))
    }

    private mutating func deleteRole(_ organization: Name, _ name: Name, force: Bool, expectedRevision: UInt64?)
        throws(PolicyError)
    {
        let reference = RoleReference.custom(organization: organization, name: name)
        guard let role = roles[reference] else { throw .notFound("role \(reference)") }
        try checkRevision(expectedRevision, role.revision)
        let dependents = bindings.keys.sorted().filter { bindings[$0]!.role == reference }
        if !force && !dependents.isEmpty { throw .hasDependents("role \(reference) has \(dependents.count) bindings") }
        for id in dependents { removeBinding(id) }
        setRole(reference, nil)
    }

    // MARK: - Bindings

    /// Checks every tenancy rule of a binding: the principal, the scope and a custom role all
    /// belong to one organization; cluster scope is for the system organization's principals.
    private mutating func createBinding(_ binding: RoleBinding) throws(PolicyError) {
        guard bindings[binding.id] == nil else { throw .alreadyExists("binding \(binding.id)") }
        guard principals[binding.principal] != nil else { throw .notFound("principal \(binding.principal)") }
        let home = binding.principal.organization
        switch binding.scope {
        case .cluster:
            guard home == Organization.systemName else {
                throw .crossOrganization("only principals of the system organization can hold cluster-wide roles")
            }
        case .organization(let organization):
            guard organization == home else { throw .crossOrganization("principal \(binding.principal) bound in organization \(organization)") }
        case .project(let organization, let project):
            guard organization == home else { throw .crossOrganization("principal \(binding.principal) bound in organization \(organization)") }
            guard projects[organization]?[project] != nil else { throw .notFound("project \(organization)/\(project)") }
        }
        switch binding.role {
        case .builtIn(let role):
            guard role.canBeBound(at: binding.scope) else { throw .invalidArgument("role \(role.rawValue) cannot be bound at \(binding.scope)") }
        case .custom(let organization, _):
            guard organization == home else { throw .crossOrganization("role \(binding.role) used in organization \(home)") }
            guard roles[binding.role] != nil else { throw .notFound("role \(binding.role)") }
            guard binding.scope != .cluster else { throw .invalidArgument("custom roles cannot be bound cluster-wide") }
        }
        let existing = bindingsByPrincipal[binding.principal] ?? []
        guard existing.count < limits.maxBindingsPerPrincipal else {
            throw .limitExceeded("at most \(limits.maxBindingsPerPrincipal) bindings per principal")
        }
        if existing.contains(where: { bindings[$0]!.role == binding.role && bindings[$0]!.scope == binding.scope }) {
            throw .alreadyExists("binding of \(binding.role) to \(binding.principal) at \(binding.scope)")
        }
        setBinding(binding.id, binding)
    }

    private mutating func removeBinding(_ id: EntityID) {
        setBinding(id, nil)
    }

    // MARK: - Keys

    private mutating func createAPIKey(_ key: APIKey) throws(PolicyError) {
        guard apiKeys[key.id] == nil else { throw .alreadyExists("API key \(key.id)") }
        guard principals[key.principal] != nil else { throw .notFound("principal \(key.principal)") }
        guard key.secretHash.count == APIKey.secretHashBytes else {
            throw .invalidArgument("an API key's secret hash is \(APIKey.secretHashBytes) bytes")
        }
        guard (apiKeyCounts[key.principal] ?? 0) < limits.maxAPIKeysPerPrincipal else {
            throw .limitExceeded("at most \(limits.maxAPIKeysPerPrincipal) API keys per principal")
        }
        setAPIKey(key.id, key)
    }

    private mutating func addRootKey(_ id: EntityID, publicKey: [UInt8], sealedPrivateKey: [UInt8], time: Timestamp)
        throws(PolicyError)
    {
        guard rootKeys[id] == nil else { throw .alreadyExists("root key \(id)") }
        // A verifier picks the key by the Biscuit id a token carries: two published keys must
        // not share one. (Ids are random; the API draws another key when this happens.)
        let biscuitKeyID = RootKey.biscuitKeyID(of: id)
        if let other = rootKeys.values.first(where: { $0.state != .retired && $0.biscuitKeyID == biscuitKeyID }) {
            throw .alreadyExists("a published root key (\(other.id)) with Biscuit key id \(biscuitKeyID)")
        }
        guard publicKey.count == RootKey.publicKeyBytes else {
            throw .invalidArgument("a root public key is \(RootKey.publicKeyBytes) bytes")
        }
        guard !sealedPrivateKey.isEmpty, sealedPrivateKey.count <= RootKey.maxSealedPrivateKeyBytes else {
            throw .invalidArgument("a sealed private key is 1 to \(RootKey.maxSealedPrivateKeyBytes) bytes")
        }
        setRootKey(id, RootKey(
            id: id, state: .pending, publicKey: publicKey, sealedPrivateKey: sealedPrivateKey, createdAt: time, revision: revision))
    }

    /// Makes a pending key the one active key; the key it replaces keeps verifying as retiring.
    private mutating func activateRootKey(_ id: EntityID, expectedRevision: UInt64?) throws(PolicyError) {
        guard var key = rootKeys[id] else { throw .notFound("root key \(id)") }
        try checkRevision(expectedRevision, key.revision)
        guard key.state == .pending else { throw .invalidState("root key \(id) is \(key.state), not pending") }
        if var previous = activeRootKey {
            previous.state = .retiring
            previous.revision = revision
            setRootKey(previous.id, previous)
        }
        key.state = .active
        key.revision = revision
        setRootKey(id, key)
    }

    // MARK: - Revisions

    private func checkRevision(_ expected: UInt64?, _ actual: UInt64) throws(PolicyError) {
        if let expected, expected != actual { throw .revisionMismatch(expected: expected, actual: actual) }
    }

    private func requireNoExpectedRevision(_ expected: UInt64?) throws(PolicyError) {
        if expected != nil { throw .invalidArgument("an expected revision applies only to existing entities") }
    }
}

extension CommandEnvelope {
    /// Why the state machine would refuse this envelope whatever the state holds, or nil: its
    /// own fields, an expected revision on a creation, a role's number of permissions, and an
    /// encoding over the limit or one that the decoder refuses (what every replica would apply
    /// as "undecodable"). The admin API asks before it proposes, so that such a request changes
    /// nothing, not even the audit log; the state machine refuses the same things if they come.
    public func staticRejection(limits: PolicyLimits = .standard) -> PolicyError? {
        do throws(PolicyError) {
            try PolicyState.validate(self, limits: limits)
            if expectedRevision != nil, command.isCreation {
                throw PolicyError.invalidArgument("an expected revision (If-Match) applies only to existing entities")
            }
            switch command {
            case .createRole(_, _, let permissions), .updateRole(_, _, let permissions):
                try PolicyState.checkPermissionCount(permissions, limits: limits)
            default: break
            }
        } catch {
            return error
        }
        let bytes = CommandCodec.encode(self)
        guard bytes.count <= limits.maxCommandBytes else {
            return .limitExceeded("the request is \(bytes.count) bytes once encoded; at most \(limits.maxCommandBytes)")
        }
        do {
            _ = try CommandCodec.decode(bytes, limits: limits)
        } catch {
            return .invalidArgument("the request cannot be encoded as a command: \(error)")
        }
        return nil
    }
}
