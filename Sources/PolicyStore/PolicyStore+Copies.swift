public import AuditVerification
public import PolicyModel

/// What a copy of the policy database holds, read without changing it: what a snapshot file's
/// header states, recomputed (`PolicyStore.describeCopy(at:)`).
public struct DatabaseCopyDescription: Sendable, Hashable {
    /// The applied index (revision) the copy holds.
    public var appliedIndex: UInt64
    /// Its state hash (`PolicyStore.stateHash()`).
    public var stateHash: [UInt8]
    /// The newest audit record's sequence (0 when the log is empty).
    public var auditSequence: UInt64
    /// The newest audit record's hash (the genesis hash when the log is empty).
    public var auditHead: [UInt8]
    /// The rows of each table of the policy, by table name.
    public var rowCounts: [String: Int]
    /// The root keys' ids and sealed private keys: a restore checks that the key-encryption key
    /// it is given opens each.
    public var sealedRootKeys: [(id: EntityID, sealedPrivateKey: [UInt8])]

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.appliedIndex == rhs.appliedIndex && lhs.stateHash == rhs.stateHash && lhs.auditSequence == rhs.auditSequence
            && lhs.auditHead == rhs.auditHead && lhs.rowCounts == rhs.rowCounts
            && lhs.sealedRootKeys.map(\.id) == rhs.sealedRootKeys.map(\.id)
            && lhs.sealedRootKeys.map(\.sealedPrivateKey) == rhs.sealedRootKeys.map(\.sealedPrivateKey)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(appliedIndex)
        hasher.combine(stateHash)
    }
}

extension PolicyStore {
    /// Reads a copy of the database (a snapshot's, or one being restored) without writing to
    /// it: SQLite's integrity check, the schema version, the applied index, the state hash, the
    /// audit chain from its first record (every link and hash recomputed) and the root keys.
    ///
    /// With `checking` off, only what a snapshot's header states is read (applied index, state
    /// hash, audit head, root keys): the replica that makes a copy trusts its own database, and
    /// the integrity check and the chain's verification are left to whoever reads the file.
    /// - Throws: `PolicyStoreError.corrupted` saying what is wrong, `.database` when SQLite fails.
    public static func describeCopy(at path: String, checking: Bool = true) throws(PolicyStoreError) -> DatabaseCopyDescription {
        let database: SQLiteDatabase
        do {
            database = try SQLiteDatabase(path: path, readOnly: true)
        } catch {
            throw .database(error)
        }
        defer { database.close() }
        do {
            var integrity = ["ok"]
            if checking {
                integrity = []
                try database.query("PRAGMA integrity_check(10)") { (row) throws(DatabaseError) in integrity.append(row.text(0)) }
            }
            guard integrity == ["ok"] else { throw PolicyStoreError.corrupted("SQLite's integrity check fails: \(integrity.joined(separator: "; "))") }
            var version: Int64 = -1
            try database.query("SELECT COALESCE(MAX(version), 0) FROM schema_migrations") { (row) throws(DatabaseError) in version = row.integer(0) }
            // An older schema is brought up to date when a replica opens the database.
            guard version >= 1 && version <= Int64(Schema.migrations.count) else {
                throw PolicyStoreError.corrupted(
                    version > Int64(Schema.migrations.count)
                        ? "the database's schema (version \(version)) is newer than this build's (\(Schema.migrations.count)): use a newer rampart"
                        : "the database has no schema version")
            }
            var applied: Int64 = -1
            try database.query("SELECT value FROM meta WHERE key = 'applied_index'") { (row) throws(DatabaseError) in applied = row.integer(0) }
            guard applied >= 0 else { throw PolicyStoreError.corrupted("the database holds no applied index") }
            var counts: [String: Int] = [:]
            for (table, _) in Schema.hashedTables where checking && table != "meta" {
                try database.query("SELECT COUNT(*) FROM \(table)") { (row) throws(DatabaseError) in counts[table] = Int(row.integer(0)) }
            }
            let (sequence, head) = checking ? try verifyAuditChain(in: database) : try auditHead(in: database)
            var keys: [(id: EntityID, sealedPrivateKey: [UInt8])] = []
            for row in try database.rows("SELECT id, sealed_private_key FROM root_keys ORDER BY id") {
                keys.append((try Rows.id(row[0].blob), row[1].blob))
            }
            return DatabaseCopyDescription(
                appliedIndex: UInt64(applied), stateHash: try stateHash(of: database), auditSequence: sequence, auditHead: head,
                rowCounts: counts, sealedRootKeys: keys)
        } catch let error as PolicyStoreError {
            throw error
        } catch let error as DatabaseError {
            throw .database(error)
        } catch {
            throw .misuse("\(error)")
        }
    }

    /// The newest audit record's sequence and hash, unchecked.
    private static func auditHead(in database: SQLiteDatabase) throws -> (UInt64, [UInt8]) {
        let rows = try database.rows("SELECT sequence, hash FROM audit ORDER BY sequence DESC LIMIT 1")
        guard let row = rows.first else { return (0, AuditRecord.genesisHash) }
        return (try Rows.revision(row[0].integer), row[1].blob)
    }

    /// Checks the audit chain page by page from its first record: no gap between pages, and
    /// every record chained to the one before (`AuditChain.verify`).
    /// - Returns: the newest record's sequence and hash.
    private static func verifyAuditChain(in database: SQLiteDatabase) throws -> (UInt64, [UInt8]) {
        var previous = AuditRecord.genesisHash
        var last: UInt64 = 0
        while true {
            let rows = try database.rows(
                """
                SELECT \(Rows.auditColumns) FROM audit WHERE sequence > ? ORDER BY sequence LIMIT ?
                """, [.integer(Int64(last)), .integer(Int64(maxPageSize))])
            if rows.isEmpty { return (last, previous) }
            var records: [AuditRecord] = []
            records.reserveCapacity(rows.count)
            for row in rows { records.append(try Rows.auditRecord(row)) }
            guard records[0].sequence == last + 1 else {
                throw PolicyStoreError.corrupted("the audit log skips from sequence \(last) to \(records[0].sequence)")
            }
            switch AuditChain.verify(records, previousHash: previous) {
            case .intact(let head, _): previous = head
            case .broken(let sequence, let reason): throw PolicyStoreError.corrupted("the audit chain breaks at sequence \(sequence): \(reason)")
            }
            last = records[records.count - 1].sequence
        }
    }
}
