/// The database schema, as an ordered list of migrations. A migration is applied once, in
/// order, in a transaction, and recorded in `schema_migrations`. Never edit a released one:
/// add the next.
enum Schema {
    static let migrations: [String] = [
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
        INSERT INTO meta (key, value) VALUES ('applied_index', 0), ('idempotency_position', 0);
        CREATE TABLE organizations (
            name TEXT PRIMARY KEY, suspended INTEGER NOT NULL, created_at INTEGER NOT NULL, revision INTEGER NOT NULL
        ) WITHOUT ROWID;
        INSERT INTO organizations (name, suspended, created_at, revision) VALUES ('system', 0, 0, 0);
        CREATE TABLE projects (
            organization TEXT NOT NULL, name TEXT NOT NULL, created_at INTEGER NOT NULL, revision INTEGER NOT NULL,
            PRIMARY KEY (organization, name)
        ) WITHOUT ROWID;
        CREATE TABLE principals (
            organization TEXT NOT NULL, name TEXT NOT NULL, kind INTEGER NOT NULL, created_at INTEGER NOT NULL,
            revision INTEGER NOT NULL, PRIMARY KEY (organization, name)
        ) WITHOUT ROWID;
        CREATE TABLE roles (
            organization TEXT NOT NULL, name TEXT NOT NULL, permissions TEXT NOT NULL, revision INTEGER NOT NULL,
            PRIMARY KEY (organization, name)
        ) WITHOUT ROWID;
        CREATE TABLE bindings (
            id BLOB PRIMARY KEY, principal_organization TEXT NOT NULL, principal_name TEXT NOT NULL, role TEXT NOT NULL,
            scope TEXT NOT NULL, created_at INTEGER NOT NULL, revision INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE api_keys (
            id BLOB PRIMARY KEY, principal_organization TEXT NOT NULL, principal_name TEXT NOT NULL,
            secret_hash BLOB NOT NULL, created_at INTEGER NOT NULL, revision INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE root_keys (
            id BLOB PRIMARY KEY, state INTEGER NOT NULL, public_key BLOB NOT NULL, sealed_private_key BLOB NOT NULL,
            created_at INTEGER NOT NULL, revision INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE idempotency (
            actor TEXT NOT NULL, key TEXT NOT NULL, revision INTEGER NOT NULL, rejection TEXT, position INTEGER NOT NULL,
            PRIMARY KEY (actor, key)
        ) WITHOUT ROWID;
        CREATE TABLE audit (
            sequence INTEGER PRIMARY KEY, revision INTEGER NOT NULL, time INTEGER NOT NULL, actor TEXT NOT NULL,
            action TEXT NOT NULL, target TEXT NOT NULL, organization TEXT NOT NULL, request_id TEXT NOT NULL,
            outcome TEXT NOT NULL, previous_hash BLOB NOT NULL, hash BLOB NOT NULL
        );
        CREATE INDEX audit_by_organization ON audit (organization, sequence);
        CREATE INDEX audit_by_request ON audit (request_id);
        """,
        // The fingerprint of the request a remembered outcome answers (0: remembered before).
        """
        ALTER TABLE idempotency ADD COLUMN fingerprint INTEGER NOT NULL DEFAULT 0;
        """,
        // Token revocations (kind 1: a revocation id, value its bytes; 2: a principal, value
        // `org/name`; 3: an organization, value its name) and the revocation feed's floor.
        """
        CREATE TABLE token_revocations (
            kind INTEGER NOT NULL, value BLOB NOT NULL, reason TEXT NOT NULL, revoked_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL, revision INTEGER NOT NULL, PRIMARY KEY (kind, value)
        ) WITHOUT ROWID;
        """,
        // Where a change stream that resumes from a revision starts (`AuditFilter.fromRevision`).
        """
        CREATE INDEX audit_by_revision ON audit (revision);
        """,
        // The replicated peer address book (`PeerAddress`).
        """
        CREATE TABLE peer_addresses (
            replica INTEGER PRIMARY KEY, address TEXT NOT NULL, auto_promote INTEGER NOT NULL, revision INTEGER NOT NULL
        );
        """,
    ]

    /// Every table, in the order the state hash covers them, with the columns that order rows.
    static let hashedTables: [(table: String, orderBy: String)] = [
        ("meta", "key"), ("organizations", "name"), ("projects", "organization, name"),
        ("principals", "organization, name"), ("roles", "organization, name"), ("bindings", "id"), ("api_keys", "id"),
        ("root_keys", "id"), ("idempotency", "actor, key"), ("audit", "sequence"), ("token_revocations", "kind, value"),
        ("peer_addresses", "replica"),
    ]
}
