public import PolicyModel
internal import AuditVerification
internal import Crypto

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One committed log entry handed to the state machine: a command's bytes, or nil for an entry
/// that only moves the applied index (a leader's no-op, a membership change).
public struct AppliedEntry: Hashable, Sendable {
    /// The entry's log index: the command's revision.
    public var index: UInt64
    /// The encoded `CommandEnvelope`, if the entry carries one.
    public var command: [UInt8]?

    /// Creates an applied entry.
    public init(index: UInt64, command: [UInt8]?) {
        self.index = index
        self.command = command
    }
}

/// How a `PolicyStore` commit reaches the disk.
public enum CommitDurability: Sendable {
    /// Each commit is synced before it returns (SQLite `synchronous = FULL`): a commit that
    /// returned survives a power loss.
    case synced
    /// Each commit is written to the write-ahead log but not synced (`synchronous = NORMAL`): a
    /// power loss can undo the newest commits, whole, but never tear one or corrupt the file.
    /// For a store whose commands are kept durably elsewhere and applied again after a crash,
    /// as the replica's Raft log is: syncing here as well would be a second fsync per write.
    case replayable
}

/// What `PolicyStore.stage` leaves for `writeStaged`: the rows a batch changed and its audit
/// records, in order.
struct StagedBatch {
    var changes: [StateChange]
    var audit: [AuditRecord]
    var lastIndex: UInt64
}

/// The policy state machine of one replica: the in-memory `PolicyState` (for microsecond
/// authorization) and its durable copy in SQLite, with the hash-chained audit log.
///
/// `apply` takes a batch of committed entries and, in one SQLite transaction, writes every change
/// they make, one audit record per command and the new applied index: a crash leaves the
/// database at the previous applied index or the new one, never in between. Domain rejections
/// are outcomes (audited as failures); a thrown error means the disk failed, and the runtime
/// must stop the replica.
///
/// Not thread-safe: the replica's runtime owns it and runs it off the cooperative pool.
public final class PolicyStore {
    /// The database file.
    public let path: String
    /// The state as of `appliedIndex`.
    public private(set) var state: PolicyState
    /// The last applied log index.
    public private(set) var appliedIndex: UInt64
    /// The newest audit record's sequence and hash (`0` and the genesis hash when empty).
    public private(set) var auditHead: (sequence: UInt64, hash: [UInt8])

    let database: SQLiteDatabase
    private var idempotencyPosition: Int64
    /// The batch `stage` applied in memory that `writeStaged` has yet to write.
    var staged: StagedBatch?

    /// Opens (creating and migrating when needed) the store at `path` and loads its state.
    /// - Parameter durability: whether each commit is synced (the default) or only written.
    /// - Throws: `PolicyStoreError` when the database cannot be opened, migrated or read.
    public init(path: String, limits: PolicyLimits = .standard, durability: CommitDurability = .synced) throws(PolicyStoreError) {
        self.path = path
        try Self.finishInterruptedRestore(of: path)
        do throws(DatabaseError) {
            database = try SQLiteDatabase(path: path)
            var journalMode = ""
            try database.query("PRAGMA journal_mode = WAL") { (row) throws(DatabaseError) in journalMode = row.text(0) }
            guard journalMode.lowercased() == "wal" else {
                throw DatabaseError(code: 1, message: "journal mode is \(journalMode), not wal", context: "open \(path)")
            }
            switch durability {
            case .synced: try database.execute("PRAGMA synchronous = FULL")
            case .replayable: try database.execute("PRAGMA synchronous = NORMAL")
            }
            try database.execute("PRAGMA foreign_keys = OFF")
            try Self.migrate(database)
        } catch {
            throw .database(error)
        }
        let loaded = try Self.load(database, limits: limits)
        do {
            // Keep the rows the window keeps (a smaller configured window forgets the oldest).
            try database.run(
                "DELETE FROM idempotency WHERE position NOT IN (SELECT position FROM idempotency ORDER BY position DESC LIMIT ?)",
                [.integer(Int64(limits.idempotencyWindowKeys))])
        } catch {
            throw .database(error)
        }
        state = loaded.state
        appliedIndex = loaded.state.revision
        auditHead = loaded.auditHead
        idempotencyPosition = loaded.idempotencyPosition
    }

    /// Closes the database.
    public func close() {
        database.close()
    }

    /// Test hook: makes the statement after `count` more fail, as a disk error would.
    package func failAfterStatements(_ count: Int) {
        database.failAfterStatements = count
    }

    // MARK: - Applying

    /// Applies a batch of committed entries in one transaction.
    /// - Parameter entries: the entries right after `appliedIndex`, consecutive.
    /// - Returns: one outcome per entry: nil for entries without a command.
    /// - Throws: `PolicyStoreError` on a storage failure; nothing was applied then, on disk or
    ///   in memory (the state is reloaded from disk), and the runtime must stop the replica.
    @discardableResult
    public func apply(_ entries: [AppliedEntry]) throws(PolicyStoreError) -> [CommandOutcome?] {
        let outcomes = try stage(entries)
        do {
            try writeStaged()
        } catch {
            // The original failure is the one to report; a store that cannot reload either
            // is stopped all the same.
            try? reloadFromDatabase()
            throw error
        }
        return outcomes
    }

    /// The first half of `apply`: applies a batch of committed entries to the in-memory state
    /// (and `appliedIndex`, `auditHead`) and keeps what the database must be told, for
    /// `writeStaged`. Callers can then be answered from memory while the batch is written.
    ///
    /// Until `writeStaged` returns, the database is behind the state: nothing may read the
    /// database (audit queries, snapshots) in between, and no other batch may be staged.
    /// - Parameter entries: the entries right after `appliedIndex`, consecutive.
    /// - Returns: one outcome per entry: nil for entries without a command.
    /// - Throws: `.misuse` for entries that do not follow `appliedIndex` or when a staged batch
    ///   was not written; `.newerCommand` for a command this build does not know (the runtime
    ///   must stop the replica); the state is unchanged then.
    public func stage(_ entries: [AppliedEntry]) throws(PolicyStoreError) -> [CommandOutcome?] {
        guard staged == nil else { throw .misuse("a staged batch was not written to the database") }
        guard !entries.isEmpty else { return [] }
        for (offset, entry) in entries.enumerated() where entry.index != appliedIndex + 1 + UInt64(offset) {
            throw .misuse("entry \(entry.index) is not the next after \(appliedIndex + UInt64(offset))")
        }
        // The state is changed in place (copying it would copy every large table on each
        // batch); if writing fails, `reloadFromDatabase` puts it back.
        var head = auditHead
        var audit: [AuditRecord] = []
        var outcomes: [CommandOutcome?] = []
        for entry in entries {
            guard let bytes = entry.command else {
                state.advance(to: entry.index)
                outcomes.append(nil)
                continue
            }
            let record: AuditRecord
            do {
                let envelope = try CommandCodec.decode(bytes, limits: state.limits)
                let organization = state.organization(of: envelope.command)
                let outcome = state.apply(envelope, at: entry.index)
                outcomes.append(outcome)
                record = AuditRecord.describing(
                    envelope, organization: organization, revision: entry.index, outcome: outcome,
                    sequence: head.sequence + 1, previousHash: head.hash)
            } catch CommandDecodingError.unknownCommand(let tag) {
                // A well-formed command of a kind this build does not know: a newer build
                // proposed it. Recording it as invalid would make this replica's state and audit
                // chain differ from the upgraded replicas' that apply it; it stops instead, with
                // nothing of this batch applied, until it runs a build that knows the command.
                try? reloadFromDatabase()
                throw .newerCommand(index: entry.index, tag: tag)
            } catch {
                // Every replica holds the same bytes, so every replica rejects them the same way.
                state.advance(to: entry.index)
                outcomes.append(CommandOutcome(revision: entry.index, rejection: .invalidArgument("undecodable command: \(error)")))
                record = AuditRecord(
                    sequence: head.sequence + 1, revision: entry.index, time: Timestamp(millisecondsSinceEpoch: 0), actor: "-",
                    action: "invalid", target: "-", organization: "", requestID: "-", outcome: "invalid_command",
                    previousHash: head.hash, hash: [])
            }
            let sealed = AuditChain.seal(record)
            audit.append(sealed)
            head = (sealed.sequence, sealed.hash)
        }
        let lastIndex = entries[entries.count - 1].index
        staged = StagedBatch(changes: state.takeChanges(), audit: audit, lastIndex: lastIndex)
        appliedIndex = lastIndex
        auditHead = head
        return outcomes
    }

    /// The second half of `apply`: writes the staged batch in one SQLite transaction — every
    /// change, one audit record per command, the new applied index. Does nothing when no batch
    /// is staged. Touches neither `state` nor `appliedIndex`, so readers of the in-memory state
    /// (under the caller's lock) may run meanwhile.
    /// - Throws: `.database` when the disk failed; the database is then at the previous batch,
    ///   and the caller must call `reloadFromDatabase` (with readers kept out) and stop.
    public func writeStaged() throws(PolicyStoreError) {
        guard let batch = staged else { return }
        staged = nil
        var position = idempotencyPosition
        do {
            try database.transaction { () throws(DatabaseError) in
                for change in batch.changes { try write(change, position: &position) }
                for record in batch.audit { try insert(record) }
                try database.run("UPDATE meta SET value = ? WHERE key = 'applied_index'", [.integer(Int64(batch.lastIndex))])
                try database.run("UPDATE meta SET value = ? WHERE key = 'idempotency_position'", [.integer(position)])
            }
        } catch {
            throw .database(error)
        }
        idempotencyPosition = position
    }

    /// Puts memory back in line with the database after `writeStaged` failed: the state,
    /// applied index and audit head as the database holds them.
    /// - Throws: `.database` when the database cannot be read either.
    public func reloadFromDatabase() throws(PolicyStoreError) {
        staged = nil
        let loaded = try Self.load(database, limits: state.limits)
        state = loaded.state
        appliedIndex = loaded.state.revision
        auditHead = loaded.auditHead
        idempotencyPosition = loaded.idempotencyPosition
    }

    // MARK: - Writing rows

    private func write(_ change: StateChange, position: inout Int64) throws(DatabaseError) {
        switch change {
        case .organization(let name, let organization):
            if let organization {
                try database.run(
                    "INSERT OR REPLACE INTO organizations (name, suspended, created_at, revision) VALUES (?, ?, ?, ?)",
                    [.text(name.value), .integer(organization.suspended ? 1 : 0),
                     .integer(organization.createdAt.millisecondsSinceEpoch), .integer(Int64(organization.revision))])
            } else {
                try database.run("DELETE FROM organizations WHERE name = ?", [.text(name.value)])
            }
        case .project(let organization, let name, let project):
            if let project {
                try database.run(
                    "INSERT OR REPLACE INTO projects (organization, name, created_at, revision) VALUES (?, ?, ?, ?)",
                    [.text(organization.value), .text(name.value), .integer(project.createdAt.millisecondsSinceEpoch),
                     .integer(Int64(project.revision))])
            } else {
                try database.run("DELETE FROM projects WHERE organization = ? AND name = ?", [.text(organization.value), .text(name.value)])
            }
        case .principal(let reference, let principal):
            if let principal {
                try database.run(
                    "INSERT OR REPLACE INTO principals (organization, name, kind, created_at, revision) VALUES (?, ?, ?, ?, ?)",
                    [.text(reference.organization.value), .text(reference.name.value), .integer(Int64(principal.kind.rawValue)),
                     .integer(principal.createdAt.millisecondsSinceEpoch), .integer(Int64(principal.revision))])
            } else {
                try database.run(
                    "DELETE FROM principals WHERE organization = ? AND name = ?",
                    [.text(reference.organization.value), .text(reference.name.value)])
            }
        case .role(let reference, let role):
            guard case .custom(let organization, let name) = reference else { return }
            if let role {
                try database.run(
                    "INSERT OR REPLACE INTO roles (organization, name, permissions, revision) VALUES (?, ?, ?, ?)",
                    [.text(organization.value), .text(name.value),
                     .text(role.permissions.map(\.description).joined(separator: "\n")), .integer(Int64(role.revision))])
            } else {
                try database.run("DELETE FROM roles WHERE organization = ? AND name = ?", [.text(organization.value), .text(name.value)])
            }
        case .binding(let id, let binding):
            if let binding {
                try database.run(
                    """
                    INSERT OR REPLACE INTO bindings (id, principal_organization, principal_name, role, scope, created_at, revision)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                    [.blob(Rows.bytes(id)), .text(binding.principal.organization.value), .text(binding.principal.name.value),
                     .text(binding.role.description), .text(binding.scope.description),
                     .integer(binding.createdAt.millisecondsSinceEpoch), .integer(Int64(binding.revision))])
            } else {
                try database.run("DELETE FROM bindings WHERE id = ?", [.blob(Rows.bytes(id))])
            }
        case .apiKey(let id, let key):
            if let key {
                try database.run(
                    """
                    INSERT OR REPLACE INTO api_keys (id, principal_organization, principal_name, secret_hash, created_at, revision)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """,
                    [.blob(Rows.bytes(id)), .text(key.principal.organization.value), .text(key.principal.name.value),
                     .blob(key.secretHash), .integer(key.createdAt.millisecondsSinceEpoch), .integer(Int64(key.revision))])
            } else {
                try database.run("DELETE FROM api_keys WHERE id = ?", [.blob(Rows.bytes(id))])
            }
        case .rootKey(let id, let key):
            if let key {
                try database.run(
                    """
                    INSERT OR REPLACE INTO root_keys (id, state, public_key, sealed_private_key, created_at, revision)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """,
                    [.blob(Rows.bytes(id)), .integer(Int64(key.state.rawValue)), .blob(key.publicKey), .blob(key.sealedPrivateKey),
                     .integer(key.createdAt.millisecondsSinceEpoch), .integer(Int64(key.revision))])
            } else {
                try database.run("DELETE FROM root_keys WHERE id = ?", [.blob(Rows.bytes(id))])
            }
        case .idempotency(let actor, let key, let outcome, let fingerprint):
            let actorText = actor?.description ?? "-"
            if let outcome {
                position += 1
                try database.run(
                    "INSERT OR REPLACE INTO idempotency (actor, key, revision, rejection, position, fingerprint) VALUES (?, ?, ?, ?, ?, ?)",
                    [.text(actorText), .text(key), .integer(Int64(outcome.revision)),
                     outcome.rejection.map { .text($0.storedText) } ?? .null, .integer(position),
                     .integer(Int64(bitPattern: fingerprint))])
            } else {
                try database.run("DELETE FROM idempotency WHERE actor = ? AND key = ?", [.text(actorText), .text(key)])
            }
        case .bootstrapped(let revision):
            try database.run(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('bootstrap_revision', ?)", [.integer(Int64(revision))])
        case .revocation(let target, let revocation):
            let (kind, value) = Rows.revocationTarget(target)
            if let revocation {
                try database.run(
                    """
                    INSERT OR REPLACE INTO token_revocations (kind, value, reason, revoked_at, expires_at, revision)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """,
                    [.integer(kind), .blob(value), .text(revocation.reason), .integer(revocation.revokedAt.millisecondsSinceEpoch),
                     .integer(revocation.expiresAt.millisecondsSinceEpoch), .integer(Int64(revocation.revision))])
            } else {
                try database.run("DELETE FROM token_revocations WHERE kind = ? AND value = ?", [.integer(kind), .blob(value)])
            }
        case .revocationFloor(let revision):
            try database.run("INSERT OR REPLACE INTO meta (key, value) VALUES ('revocation_floor', ?)", [.integer(Int64(revision))])
        case .peerAddress(let replica, let entry):
            if let entry {
                try database.run(
                    "INSERT OR REPLACE INTO peer_addresses (replica, address, auto_promote, revision) VALUES (?, ?, ?, ?)",
                    [.integer(Int64(bitPattern: replica)), .text(entry.address), .integer(entry.autoPromote ? 1 : 0),
                     .integer(Int64(entry.revision))])
            } else {
                try database.run("DELETE FROM peer_addresses WHERE replica = ?", [.integer(Int64(bitPattern: replica))])
            }
        }
    }

    private func insert(_ record: AuditRecord) throws(DatabaseError) {
        try database.run(
            """
            INSERT INTO audit (sequence, revision, time, actor, action, target, organization, request_id, outcome, previous_hash, hash)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [.integer(Int64(record.sequence)), .integer(Int64(record.revision)), .integer(record.time.millisecondsSinceEpoch),
             .text(record.actor), .text(record.action), .text(record.target), .text(record.organization), .text(record.requestID),
             .text(record.outcome), .blob(record.previousHash), .blob(record.hash)])
    }

    // MARK: - Opening

    private static func migrate(_ database: SQLiteDatabase) throws(DatabaseError) {
        try database.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)")
        var applied: Int64 = 0
        try database.query("SELECT COALESCE(MAX(version), 0) FROM schema_migrations") { (row) throws(DatabaseError) in
            applied = row.integer(0)
        }
        for (offset, migration) in Schema.migrations.enumerated() where Int64(offset + 1) > applied {
            try database.transaction { () throws(DatabaseError) in
                try database.execute(migration)
                try database.run("INSERT INTO schema_migrations (version) VALUES (?)", [.integer(Int64(offset + 1))])
            }
        }
    }
}
