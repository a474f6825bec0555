public import PolicyModel
public import AuditVerification

/// One page of a listing and the cursor of the next one.
public struct Page<Item: Sendable>: Sendable {
    /// The items, in the listing's order.
    public var items: [Item]
    /// Pass this as `after` to get the next page; nil on the last page.
    public var nextCursor: String?
}

/// Which audit records a listing returns.
public struct AuditFilter: Hashable, Sendable {
    /// Only records about this organization.
    public var organization: String?
    /// Only records by this actor (`organization/name`).
    public var actor: String?
    /// Only records of this action.
    public var action: String?
    /// Only records at or after this time.
    public var since: Timestamp?
    /// Only records before this time.
    public var until: Timestamp?
    /// Only the record of this request id.
    public var requestID: String?
    /// With `organization`: only the records of the organization of that name that exists now
    /// (from its latest successful `organization.create` on), not those of an earlier
    /// organization deleted before the name was created again. A tenant's auditors read with
    /// it; cluster-wide auditors may read an old tenant's history by name.
    public var currentOrganizationOnly = false
    /// Only records of this revision or later (a change stream resuming).
    public var fromRevision: UInt64?

    /// Creates a filter; every criterion is optional.
    public init(
        organization: String? = nil, actor: String? = nil, action: String? = nil, since: Timestamp? = nil,
        until: Timestamp? = nil, requestID: String? = nil
    ) {
        self.organization = organization
        self.actor = actor
        self.action = action
        self.since = since
        self.until = until
        self.requestID = requestID
    }
}

extension PolicyStore {
    /// The most items one page may hold.
    public static let maxPageSize = 1000

    /// Organizations in name order, `limit` at a time after the cursor (a name).
    public func organizations(after cursor: String? = nil, limit: Int) throws(PolicyStoreError) -> Page<Organization> {
        try Self.page(state.allOrganizations, key: \.name.value, after: cursor, limit: limit)
    }

    /// An organization's projects in name order.
    public func projects(of organization: Name, after cursor: String? = nil, limit: Int) throws(PolicyStoreError) -> Page<Project> {
        try Self.page(state.projects(of: organization), key: \.name.value, after: cursor, limit: limit)
    }

    /// An organization's principals in name order.
    public func principals(of organization: Name, after cursor: String? = nil, limit: Int) throws(PolicyStoreError)
        -> Page<Principal>
    {
        try Self.page(state.principals(of: organization), key: \.reference.name.value, after: cursor, limit: limit)
    }

    /// An organization's custom roles in name order.
    public func roles(of organization: Name, after cursor: String? = nil, limit: Int) throws(PolicyStoreError) -> Page<Role> {
        try Self.page(state.roles(of: organization), key: { $0.reference.description }, after: cursor, limit: limit)
    }

    /// The bindings of an organization's principals in id order (the cursor is an id).
    public func bindings(in organization: Name, after cursor: String? = nil, limit: Int) throws(PolicyStoreError)
        -> Page<RoleBinding>
    {
        try Self.page(state.bindings(in: organization), key: \.id.description, after: cursor, limit: limit)
    }

    /// Items after `cursor` in `key` order (`items` must be sorted by `key`), `limit` at a time.
    static func page<Item>(_ items: [Item], key: (Item) -> String, after cursor: String?, limit: Int)
        throws(PolicyStoreError) -> Page<Item>
    {
        let limit = try checkedLimit(limit)
        let remaining = cursor.map { cursor in items.filter { key($0) > cursor } } ?? items
        let page = Array(remaining.prefix(limit))
        return Page(items: page, nextCursor: remaining.count > limit ? page.last.map(key) : nil)
    }

    /// Audit records in sequence order, `limit` at a time after the cursor (a sequence number).
    public func auditRecords(after cursor: String? = nil, limit: Int, filter: AuditFilter = AuditFilter())
        throws(PolicyStoreError) -> Page<AuditRecord>
    {
        let limit = try Self.checkedLimit(limit)
        var after: Int64 = 0
        if let cursor {
            guard let value = Int64(cursor), value >= 0 else { throw .misuse("audit cursor \"\(cursor)\" is not a sequence number") }
            after = value
        }
        var conditions = ["sequence > ?"]
        var values: [SQLValue] = [.integer(after)]
        if let organization = filter.organization {
            conditions.append("organization = ?")
            values.append(.text(organization))
            if filter.currentOrganizationOnly {
                conditions.append(
                    "revision >= (SELECT coalesce(max(revision), 0) FROM audit WHERE organization = ? AND action = ? AND outcome = ?)")
                values += [.text(organization), .text(Command.createOrganization(name: Organization.systemName).action), .text(AuditRecord.succeeded)]
            }
        }
        if let actor = filter.actor { conditions.append("actor = ?"); values.append(.text(actor)) }
        if let action = filter.action { conditions.append("action = ?"); values.append(.text(action)) }
        if let since = filter.since { conditions.append("time >= ?"); values.append(.integer(since.millisecondsSinceEpoch)) }
        if let until = filter.until { conditions.append("time < ?"); values.append(.integer(until.millisecondsSinceEpoch)) }
        if let requestID = filter.requestID { conditions.append("request_id = ?"); values.append(.text(requestID)) }
        if let fromRevision = filter.fromRevision {
            // Revisions grow with sequences: the first record at or after the revision, found by
            // its index, bounds the sequence (a scan of the revision column would read them all).
            conditions.append("sequence >= (SELECT COALESCE(MIN(sequence), 9223372036854775807) FROM audit WHERE revision >= ?)")
            values.append(.integer(Int64(clamping: fromRevision)))
        }
        values.append(.integer(Int64(limit + 1)))
        let sql = """
            SELECT \(Rows.auditColumns)
            FROM audit WHERE \(conditions.joined(separator: " AND ")) ORDER BY sequence LIMIT ?
            """
        let rows: [[SQLValue]]
        do {
            rows = try database.rows(sql, values)
        } catch {
            throw .database(error)
        }
        var records: [AuditRecord] = []
        for row in rows { records.append(try Rows.auditRecord(row)) }
        let items = Array(records.prefix(limit))
        return Page(items: items, nextCursor: records.count > limit ? items.last.map { String($0.sequence) } : nil)
    }

    /// Checks the whole stored audit chain.
    public func verifyAuditChain() throws(PolicyStoreError) -> AuditChain.Verification {
        var records: [AuditRecord] = []
        var cursor: String?
        repeat {
            let page = try auditRecords(after: cursor, limit: Self.maxPageSize)
            records += page.items
            cursor = page.nextCursor
        } while cursor != nil
        return AuditChain.verify(records)
    }

    private static func checkedLimit(_ limit: Int) throws(PolicyStoreError) -> Int {
        guard limit >= 1 && limit <= maxPageSize else { throw .misuse("page size must be 1 to \(maxPageSize), got \(limit)") }
        return limit
    }
}
