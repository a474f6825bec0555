import PolicyModel

extension SQLValue {
    var integer: Int64 {
        if case .integer(let value) = self { return value }
        return 0
    }

    var text: String {
        if case .text(let value) = self { return value }
        return ""
    }

    var blob: [UInt8] {
        if case .blob(let value) = self { return value }
        return []
    }
}

extension PolicyStore {
    struct Loaded {
        var state: PolicyState
        var auditHead: (sequence: UInt64, hash: [UInt8])
        var idempotencyPosition: Int64
    }

    /// Reads every table and rebuilds the in-memory state.
    static func load(_ database: SQLiteDatabase, limits: PolicyLimits) throws(PolicyStoreError) -> Loaded {
        do {
            let meta = Dictionary(uniqueKeysWithValues: try database.rows("SELECT key, value FROM meta").map { ($0[0].text, $0[1].integer) })
            let organizations = try database.rows("SELECT name, suspended, created_at, revision FROM organizations ORDER BY name")
            let projects = try database.rows("SELECT organization, name, created_at, revision FROM projects ORDER BY organization, name")
            let principals = try database.rows("SELECT organization, name, kind, created_at, revision FROM principals ORDER BY organization, name")
            let roles = try database.rows("SELECT organization, name, permissions, revision FROM roles ORDER BY organization, name")
            let bindings = try database.rows(
                "SELECT id, principal_organization, principal_name, role, scope, created_at, revision FROM bindings ORDER BY id")
            let apiKeys = try database.rows(
                "SELECT id, principal_organization, principal_name, secret_hash, created_at, revision FROM api_keys ORDER BY id")
            let rootKeys = try database.rows(
                "SELECT id, state, public_key, sealed_private_key, created_at, revision FROM root_keys ORDER BY id")
            let idempotency = try database.rows("SELECT actor, key, revision, rejection, fingerprint FROM idempotency ORDER BY position")
            let head = try database.rows("SELECT sequence, hash FROM audit ORDER BY sequence DESC LIMIT 1")
            var revocations: [TokenRevocation] = []
            for row in try database.rows("SELECT kind, value, reason, revoked_at, expires_at, revision FROM token_revocations ORDER BY kind, value") {
                revocations.append(
                    TokenRevocation(
                        target: try Rows.revocationTarget(row[0].integer, row[1].blob, limits), reason: row[2].text,
                        revokedAt: Timestamp(millisecondsSinceEpoch: row[3].integer), expiresAt: Timestamp(millisecondsSinceEpoch: row[4].integer),
                        revision: try Rows.revision(row[5].integer)))
            }
            var state = try build(
                limits: limits, revision: try Rows.revision(meta["applied_index"] ?? 0), organizations: organizations,
                projects: projects, principals: principals, roles: roles, bindings: bindings, apiKeys: apiKeys,
                rootKeys: rootKeys, idempotency: idempotency, bootstrapRevision: try Rows.revision(meta["bootstrap_revision"] ?? 0))
            state.restoreRevocations(revocations, floor: try Rows.revision(meta["revocation_floor"] ?? 0))
            var peers: [PeerAddress] = []
            for row in try database.rows("SELECT replica, address, auto_promote, revision FROM peer_addresses ORDER BY replica") {
                let replica = UInt64(bitPattern: row[0].integer)
                guard replica > 0, case .success = PeerAddress.parse(row[1].text) else {
                    throw PolicyStoreError.corrupted("peer_addresses has an invalid row for replica \(replica)")
                }
                peers.append(
                    PeerAddress(replica: replica, address: row[1].text, autoPromote: row[2].integer != 0, revision: try Rows.revision(row[3].integer)))
            }
            state.restorePeerAddresses(peers)
            var auditHead: (UInt64, [UInt8]) = (0, AuditRecord.genesisHash)
            if let last = head.first { auditHead = (try Rows.revision(last[0].integer), last[1].blob) }
            return Loaded(state: state, auditHead: auditHead, idempotencyPosition: meta["idempotency_position"] ?? 0)
        } catch let error as DatabaseError {
            throw .database(error)
        } catch let error as PolicyStoreError {
            throw error
        } catch {
            throw .corrupted("\(error)")
        }
    }

    private static func build(
        limits: PolicyLimits, revision: UInt64, organizations: [[SQLValue]], projects: [[SQLValue]], principals: [[SQLValue]],
        roles: [[SQLValue]], bindings: [[SQLValue]], apiKeys: [[SQLValue]], rootKeys: [[SQLValue]], idempotency: [[SQLValue]],
        bootstrapRevision: UInt64
    ) throws(PolicyStoreError) -> PolicyState {
        var organizationRecords: [Organization] = []
        for row in organizations {
            organizationRecords.append(
                Organization(
                    name: try Rows.name(row[0].text, limits), suspended: row[1].integer != 0,
                    createdAt: Timestamp(millisecondsSinceEpoch: row[2].integer), revision: try Rows.revision(row[3].integer)))
        }
        var projectRecords: [Project] = []
        for row in projects {
            projectRecords.append(
                Project(
                    organization: try Rows.name(row[0].text, limits), name: try Rows.name(row[1].text, limits),
                    createdAt: Timestamp(millisecondsSinceEpoch: row[2].integer), revision: try Rows.revision(row[3].integer)))
        }
        var principalRecords: [Principal] = []
        for row in principals {
            guard let kind = PrincipalKind(rawValue: try Rows.code(row[2].integer, "principal kind")) else {
                throw .corrupted("principal kind \(row[2].integer)")
            }
            principalRecords.append(
                Principal(
                    reference: PrincipalReference(organization: try Rows.name(row[0].text, limits), name: try Rows.name(row[1].text, limits)),
                    kind: kind, createdAt: Timestamp(millisecondsSinceEpoch: row[3].integer), revision: try Rows.revision(row[4].integer)))
        }
        var roleRecords: [Role] = []
        for row in roles {
            roleRecords.append(
                Role(
                    reference: .custom(organization: try Rows.name(row[0].text, limits), name: try Rows.name(row[1].text, limits)),
                    permissions: try Rows.permissions(row[2].text, limits), revision: try Rows.revision(row[3].integer)))
        }
        var bindingRecords: [RoleBinding] = []
        for row in bindings {
            bindingRecords.append(
                RoleBinding(
                    id: try Rows.id(row[0].blob),
                    principal: PrincipalReference(organization: try Rows.name(row[1].text, limits), name: try Rows.name(row[2].text, limits)),
                    role: try Rows.role(row[3].text, limits), scope: try Rows.scope(row[4].text, limits),
                    createdAt: Timestamp(millisecondsSinceEpoch: row[5].integer), revision: try Rows.revision(row[6].integer)))
        }
        var keyRecords: [APIKey] = []
        for row in apiKeys {
            keyRecords.append(
                APIKey(
                    id: try Rows.id(row[0].blob),
                    principal: PrincipalReference(organization: try Rows.name(row[1].text, limits), name: try Rows.name(row[2].text, limits)),
                    secretHash: row[3].blob, createdAt: Timestamp(millisecondsSinceEpoch: row[4].integer),
                    revision: try Rows.revision(row[5].integer)))
        }
        var rootKeyRecords: [RootKey] = []
        for row in rootKeys {
            guard let keyState = RootKeyState(rawValue: try Rows.code(row[1].integer, "root key state")) else {
                throw .corrupted("root key state \(row[1].integer)")
            }
            rootKeyRecords.append(
                RootKey(
                    id: try Rows.id(row[0].blob), state: keyState, publicKey: row[2].blob, sealedPrivateKey: row[3].blob,
                    createdAt: Timestamp(millisecondsSinceEpoch: row[4].integer), revision: try Rows.revision(row[5].integer)))
        }
        var remembered: [(actor: PrincipalReference?, key: String, outcome: CommandOutcome, fingerprint: UInt64)] = []
        for row in idempotency {
            var rejection: PolicyError?
            if case .text(let text) = row[3] {
                guard let error = PolicyError(storedText: text) else { throw .corrupted("stored rejection \"\(text)\"") }
                rejection = error
            }
            remembered.append(
                (try Rows.principal(row[0].text, limits), row[1].text, CommandOutcome(revision: try Rows.revision(row[2].integer), rejection: rejection),
                 UInt64(bitPattern: row[4].integer)))
        }
        return PolicyState(
            limits: limits, revision: revision, organizations: organizationRecords, projects: projectRecords,
            principals: principalRecords, roles: roleRecords, bindings: bindingRecords, apiKeys: keyRecords,
            rootKeys: rootKeyRecords, idempotency: remembered, bootstrapRevision: bootstrapRevision)
    }
}
