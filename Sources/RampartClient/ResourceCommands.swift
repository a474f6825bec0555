import APIModels
import ArgumentParser
import Foundation
import PolicyModel
import AuditVerification

/// Options of every write: safe retries and conditional updates.
struct WriteOptions: ParsableArguments {
    @Option(help: "Makes a retry (on any replica) apply at most once and return the first answer.") var idempotencyKey: String?
    @Option(help: "Apply only if the target is still at this revision.") var ifMatch: UInt64?

    var headers: [String: String] {
        var headers: [String: String] = [:]
        if let idempotencyKey { headers["Idempotency-Key"] = idempotencyKey }
        if let ifMatch { headers["If-Match"] = String(ifMatch) }
        return headers
    }
}

/// Options of every read.
struct ReadOptions: ParsableArguments {
    @Option(help: "linearizable (default), leader or stale.") var consistency: String?
    @Option(help: "Wait until the replica has applied this revision (read your writes).") var minRevision: UInt64?

    func query(_ extra: [String: String?] = [:]) -> String {
        var items: [String] = []
        if let consistency { items.append("consistency=\(consistency)") }
        if let minRevision { items.append("min_revision=\(minRevision)") }
        for (key, value) in extra.sorted(by: { $0.key < $1.key }) {
            if let value { items.append("\(key)=\(value.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? value)") }
        }
        return items.isEmpty ? "" : "?" + items.joined(separator: "&")
    }
}

extension AdminClient {
    /// Sends and decodes, with extra headers.
    func call<Answer: Decodable>(
        _ method: String, _ path: String, body: (some Encodable)? = nil as String?, token: String, headers: [String: String]
    ) async throws -> Answer {
        let (status, data) = try await send(method, path, body: body, authorization: token.isEmpty ? nil : "Bearer \(token)", headers: headers)
        return try decode(status, data)
    }

    /// Sends to `endpoint`, `values` filling its path, with extra headers.
    func call<Answer: Decodable>(
        _ endpoint: Endpoint, _ values: String..., body: (some Encodable)? = nil as String?, token: String, headers: [String: String]
    ) async throws -> Answer {
        try await call(endpoint.method, endpoint.path(values), body: body, token: token, headers: headers)
    }

    /// Every page of a listing.
    func all<Item: Codable & Sendable>(_ path: String, token: String, query: ReadOptions, extra: [String: String?] = [:]) async throws -> [Item] {
        var items: [Item] = []
        var cursor: String?
        repeat {
            var parameters = extra
            parameters["limit"] = "1000"
            parameters["cursor"] = cursor
            let page: ListResponse<Item> = try await call("GET", path + query.query(parameters), token: token)
            items += page.items
            cursor = page.nextCursor
        } while cursor != nil
        return items
    }
}

/// Prints a list as a table that fits `TableLayout.maxWidth` columns (or JSON, every value
/// whole).
func printList<Item: Encodable>(_ items: [Item], format: String) throws {
    if format == "json" {
        try printOutput(items, format: "json")
        return
    }
    let rows = try items.map { item -> [String: String] in
        let object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(item)) as? [String: Any] ?? [:]
        return object.mapValues(display)
    }
    let columns = Array(Set(rows.flatMap(\.keys))).sorted { lhs, rhs in
        let order = ["name", "id", "sequence", "organization", "principal", "role", "scope"]
        return (order.firstIndex(of: lhs) ?? 99, lhs) < (order.firstIndex(of: rhs) ?? 99, rhs)
    }
    let table = [columns.map { $0.uppercased() }] + rows.map { row in columns.map { row[$0] ?? "" } }
    for line in TableLayout.lines(table) { print(line) }
}

/// Tables for a terminal: at most `maxWidth` columns. Long hexadecimal values (ids, keys,
/// hashes) are shown by their first 8 digits; then the widest columns are cut, with "…", until
/// the table fits. `--output json` has every value whole.
enum TableLayout {
    /// The widest a table's line may be.
    static let maxWidth = 100
    /// The narrowest a column is cut to.
    static let minimumColumn = 6

    /// The lines of `rows` (the first is the header), columns separated by two spaces.
    static func lines(_ rows: [[String]]) -> [String] {
        guard let header = rows.first else { return [] }
        var cells = rows.enumerated().map { index, row in index == 0 ? row : row.map(abbreviated) }
        var widths = header.indices.map { column in cells.map { $0.indices.contains(column) ? $0[column].count : 0 }.max() ?? 0 }
        let separators = 2 * max(0, widths.count - 1)
        while widths.reduce(0, +) + separators > maxWidth, let widest = widths.indices.max(by: { widths[$0] < widths[$1] }),
            widths[widest] > max(minimumColumn, header[widest].count)
        {
            widths[widest] -= 1
        }
        cells = cells.map { row in
            row.enumerated().map { column, text in text.count <= widths[column] ? text : String(text.prefix(widths[column] - 1)) + "…" }
        }
        return padded(cells, widths: widths, separator: "  ")
    }

    /// `rows` in columns as wide as their widest cell (or `widths`), separated by `separator`,
    /// without trailing blanks. Cells are not cut: fitting is the caller's (`lines`).
    static func padded(_ rows: [[String]], widths: [Int]? = nil, separator: String = " ") -> [String] {
        let widths = widths ?? (rows.first?.indices.map { column in rows.map { $0.indices.contains(column) ? $0[column].count : 0 }.max() ?? 0 } ?? [])
        return rows.map { row in
            zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: separator)
                .replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
    }

    /// A long hexadecimal value by its first 8 digits; anything else as it is.
    static func abbreviated(_ text: String) -> String {
        guard text.count > 12, text.allSatisfy(\.isHexDigit) else { return text }
        return String(text.prefix(8)) + "…"
    }
}

// MARK: - Organizations

struct OrganizationsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "orgs", abstract: "Manage organizations.",
        subcommands: [List.self, Get.self, Create.self, Suspend.self, Resume.self, Delete.self])

    struct List: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @OptionGroup var read: ReadOptions
        func run() async throws {
            let items: [OrganizationResponse] = try await options.client().all(Endpoint.listOrganizations.path(), token: try options.token(), query: read)
            try printList(items, format: options.output)
        }
    }

    struct Get: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @OptionGroup var read: ReadOptions
        @Argument var name: String
        func run() async throws {
            let found: OrganizationResponse = try await options.client().call("GET", Endpoint.getOrganization.path(name) + read.query(), token: try options.token())
            try printOutput(found, format: options.output)
        }
    }

    struct Create: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @OptionGroup var write: WriteOptions
        @Argument var name: String
        func run() async throws {
            let created: OrganizationResponse = try await options.client().call(
                Endpoint.createOrganization, body: CreateOrganizationRequest(name: name), token: try options.token(), headers: write.headers)
            try printOutput(created, format: options.output)
        }
    }

    struct Suspend: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @Argument var name: String
        func run() async throws { try await setSuspended(name, true, options) }
    }

    struct Resume: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @Argument var name: String
        func run() async throws { try await setSuspended(name, false, options) }
    }

    struct Delete: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @Flag(help: "Delete everything in it too.") var force = false
        @Argument var name: String
        func run() async throws {
            let answer: RevisionResponse = try await options.client().call("DELETE", Endpoint.deleteOrganization.path(name) + "?force=\(force)", token: try options.token())
            try printOutput(answer, format: options.output)
        }
    }
}

private func setSuspended(_ name: String, _ suspended: Bool, _ options: ClientOptions) async throws {
    let answer: OrganizationResponse = try await options.client().call(
        Endpoint.updateOrganization, name, body: UpdateOrganizationRequest(suspended: suspended), token: try options.token())
    try printOutput(answer, format: options.output)
}

// MARK: - Projects, principals, API keys

struct ProjectsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "projects", abstract: "Manage an organization's projects.", subcommands: [List.self, Create.self, Delete.self])

    struct List: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @OptionGroup var read: ReadOptions
        @Option var org: String
        func run() async throws {
            let items: [ProjectResponse] = try await options.client().all(Endpoint.listProjects.path(org), token: try options.token(), query: read)
            try printList(items, format: options.output)
        }
    }

    struct Create: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @OptionGroup var write: WriteOptions
        @Option var org: String
        @Argument var name: String
        func run() async throws {
            let created: ProjectResponse = try await options.client().call(
                Endpoint.createProject, org, body: CreateProjectRequest(name: name), token: try options.token(), headers: write.headers)
            try printOutput(created, format: options.output)
        }
    }

    struct Delete: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @Option var org: String
        @Flag var force = false
        @Argument var name: String
        func run() async throws {
            let answer: RevisionResponse = try await options.client().call(
                "DELETE", Endpoint.deleteProject.path(org, name) + "?force=\(force)", token: try options.token())
            try printOutput(answer, format: options.output)
        }
    }
}

struct PrincipalsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "principals", abstract: "Manage users and service accounts, and their API keys.",
        subcommands: [List.self, Create.self, Delete.self, CreateKey.self, ListKeys.self, RevokeKey.self])

    struct List: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @OptionGroup var read: ReadOptions
        @Option var org: String
        func run() async throws {
            let items: [PrincipalResponse] = try await options.client().all(Endpoint.listPrincipals.path(org), token: try options.token(), query: read)
            try printList(items, format: options.output)
        }
    }

    struct Create: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @OptionGroup var write: WriteOptions
        @Option var org: String
        @Option(help: "user or service_account.") var kind = "user"
        @Argument var name: String
        func run() async throws {
            let created: PrincipalResponse = try await options.client().call(
                Endpoint.createPrincipal, org, body: CreatePrincipalRequest(name: name, kind: kind), token: try options.token(),
                headers: write.headers)
            try printOutput(created, format: options.output)
        }
    }

    struct Delete: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @Option var org: String
        @Flag var force = false
        @Argument var name: String
        func run() async throws {
            let answer: RevisionResponse = try await options.client().call(
                "DELETE", Endpoint.deletePrincipal.path(org, name) + "?force=\(force)", token: try options.token())
            try printOutput(answer, format: options.output)
        }
    }

    struct CreateKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "create-key", abstract: "Create an API key; its token is shown once.")
        @OptionGroup var options: ClientOptions
        @Option var org: String
        @Argument var principal: String
        @Option(help: "Write the token to this new file (mode 0600) instead of printing it.") var tokenFile: String?
        func run() async throws {
            let created: APIKeyCreatedResponse = try await options.client().call(
                Endpoint.createAPIKey, org, principal, token: try options.token())
            if let tokenFile {
                try SecureFile.create(tokenFile, contents: created.token + "\n")
                print("key \(created.id) for \(created.principal) written to \(tokenFile)")
            } else {
                try printOutput(created, format: options.output)
            }
        }
    }

    struct ListKeys: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list-keys")
        @OptionGroup var options: ClientOptions
        @Option var org: String
        @Argument var principal: String
        func run() async throws {
            let page: ListResponse<APIKeyResponse> = try await options.client().call(
                Endpoint.listAPIKeys, org, principal, token: try options.token())
            try printList(page.items, format: options.output)
        }
    }

    struct RevokeKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "revoke-key")
        @OptionGroup var options: ClientOptions
        @Option var org: String
        @Argument var principal: String
        @Argument var key: String
        func run() async throws {
            let answer: RevisionResponse = try await options.client().call(
                Endpoint.deleteAPIKey, org, principal, key, token: try options.token())
            try printOutput(answer, format: options.output)
        }
    }
}

// MARK: - Roles and bindings

struct RolesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "roles", abstract: "Built-in and custom roles.", subcommands: [List.self, Create.self, Update.self, Delete.self])

    struct List: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @OptionGroup var read: ReadOptions
        @Option(help: "An organization's custom roles; the built-in roles without it.") var org: String?
        func run() async throws {
            let items: [RoleResponse]
            if let org {
                items = try await options.client().all(Endpoint.listRoles.path(org), token: try options.token(), query: read)
            } else {
                let page: ListResponse<RoleResponse> = try await options.client().call(Endpoint.listBuiltInRoles, token: try options.token())
                items = page.items
            }
            try printList(items, format: options.output)
        }
    }

    struct Create: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @OptionGroup var write: WriteOptions
        @Option var org: String
        @Option(name: .customLong("permission"), help: "service.resource.verb (repeat).") var permissions: [String]
        @Argument var name: String
        func run() async throws {
            let created: RoleResponse = try await options.client().call(
                Endpoint.createRole, org, body: RoleRequest(name: name, permissions: permissions), token: try options.token(),
                headers: write.headers)
            try printOutput(created, format: options.output)
        }
    }

    struct Update: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @OptionGroup var write: WriteOptions
        @Option var org: String
        @Option(name: .customLong("permission"), help: "service.resource.verb (repeat); replaces the role's permissions.") var permissions: [String]
        @Argument var name: String
        func run() async throws {
            let updated: RoleResponse = try await options.client().call(
                Endpoint.updateRole, org, name, body: RoleRequest(name: nil, permissions: permissions), token: try options.token(),
                headers: write.headers)
            try printOutput(updated, format: options.output)
        }
    }

    struct Delete: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @Option var org: String
        @Flag var force = false
        @Argument var name: String
        func run() async throws {
            let answer: RevisionResponse = try await options.client().call(
                "DELETE", Endpoint.deleteRole.path(org, name) + "?force=\(force)", token: try options.token())
            try printOutput(answer, format: options.output)
        }
    }
}

struct BindingsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bindings", abstract: "Grant roles to principals.", subcommands: [List.self, Create.self, Delete.self])

    struct List: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @OptionGroup var read: ReadOptions
        @Option var org: String
        func run() async throws {
            let items: [BindingResponse] = try await options.client().all(Endpoint.listBindings.path(org), token: try options.token(), query: read)
            try printList(items, format: options.output)
        }
    }

    struct Create: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @OptionGroup var write: WriteOptions
        @Option var org: String
        @Option var principal: String
        @Option var role: String
        @Option(help: "Limit the binding to one project.") var project: String?
        func run() async throws {
            let created: BindingResponse = try await options.client().call(
                Endpoint.createBinding, org, body: CreateBindingRequest(principal: principal, role: role, project: project),
                token: try options.token(), headers: write.headers)
            try printOutput(created, format: options.output)
        }
    }

    struct Delete: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @Option var org: String
        @Argument var id: String
        func run() async throws {
            let answer: RevisionResponse = try await options.client().call(Endpoint.deleteBinding, org, id, token: try options.token())
            try printOutput(answer, format: options.output)
        }
    }
}

// MARK: - Authorization, keys, audit

struct AuthorizeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "authorize", abstract: "Ask whether a principal, or a token's holder, may do something.")
    @OptionGroup var options: ClientOptions
    @Option(help: "organization/name") var principal: String?
    @Option(name: .customLong("token"), help: "A token (or a file holding it) whose holder asks; its checks apply.") var asked: String?
    @Option var permission: String
    @Option var org: String
    @Option var project: String?
    func run() async throws {
        guard principal != nil || asked != nil else { throw ValidationError("give --principal, --token, or both") }
        let token = try asked.map { try TokenArgument.parse([$0]).text() }
        let answer: AuthorizeResponse = try await options.client().call(
            Endpoint.authorize,
            body: AuthorizeRequest(principal: principal, token: token, permission: permission, organization: org, project: project),
            token: try options.token())
        try printOutput(answer, format: options.output)
    }
}

struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "The public root key set and its rotation.", subcommands: [List.self, Rotate.self, Revoke.self])

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a root key at once (a compromise): it leaves the key set and every token it signed is refused.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "The root key's id (the id column of `keys list`).") var id: String
        func run() async throws {
            let key: PublicKeyResponse = try await options.client().call(Endpoint.revokeRootKey, id, token: try options.token())
            try printOutput(key, format: options.output)
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Publish a new pending key; the leader activates it after key_activation_seconds and retires the old one later.")
        @OptionGroup var options: ClientOptions
        func run() async throws {
            let key: PublicKeyResponse = try await options.client().call(Endpoint.rotateKeys, token: try options.token())
            try printOutput(key, format: options.output)
        }
    }

    struct List: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        func run() async throws {
            let page: ListResponse<PublicKeyResponse> = try await options.client().call(Endpoint.listKeys, token: nil)
            try printList(page.items, format: options.output)
        }
    }
}

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "Read, export and verify the audit log.", subcommands: [List.self, Export.self, Verify.self])

    struct Filters: ParsableArguments {
        @Option var organization: String?
        @Option var actor: String?
        @Option var action: String?
        @Option(help: "Records from this time: RFC 3339 (2026-12-07T10:00:00Z), a time ago (30m, 1h, 2d, 1w) or milliseconds since 1970.")
        var since: TimeArgument?
        @Option(help: "Records before this time (the same forms as --since).") var until: TimeArgument?

        var parameters: [String: String?] {
            [
                "organization": organization, "actor": actor, "action": action, "since": since.map { String($0.milliseconds) },
                "until": until.map { String($0.milliseconds) },
            ]
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List audit records: a table of 100 columns at most (hashes and long targets cut; -o json has them whole).")
        @OptionGroup var options: ClientOptions
        @OptionGroup var read: ReadOptions
        @OptionGroup var filters: Filters
        func run() async throws {
            let items: [AuditRecordResponse] = try await options.client().all(
                Endpoint.audit.path(), token: try options.token(), query: read, extra: filters.parameters)
            if options.output == "json" {
                try printList(items, format: "json")
                return
            }
            for line in Self.table(items) { print(line) }
        }

        /// SEQ, TIME (RFC 3339, to the second), ACTOR, ACTION, TARGET, OUTCOME and HASH (8
        /// digits); actor and target are cut with "…" to keep a row within 100 columns.
        static func table(_ items: [AuditRecordResponse]) -> [String] {
            func cut(_ text: String, _ width: Int) -> String { text.count <= width ? text : String(text.prefix(width - 1)) + "…" }
            var rows = [["SEQ", "TIME", "ACTOR", "ACTION", "TARGET", "OUTCOME", "HASH"]]
            for item in items {
                rows.append([
                    "\(item.sequence)", RFC3339.text(UInt64(max(0, item.timeMilliseconds / 1000))), cut(item.actor, 16), cut(item.action, 22),
                    cut(item.target, 14), cut(item.outcome, 7), String(item.hash.prefix(8)),
                ])
            }
            return TableLayout.padded(rows)
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write every audit record, one JSON object per line.")
        @OptionGroup var options: ClientOptions
        @OptionGroup var read: ReadOptions
        @Option(help: "The file to write (standard output without it).") var file: String?
        func run() async throws {
            let items: [AuditRecordResponse] = try await options.client().all(Endpoint.audit.path(), token: try options.token(), query: read)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let lines = try items.map { String(decoding: try encoder.encode($0), as: UTF8.self) }.joined(separator: "\n") + "\n"
            if let file {
                guard FileManager.default.createFile(atPath: file, contents: Data(lines.utf8)) else { throw CommandFailure("cannot write \(file)") }
                print("\(items.count) records written to \(file)")
            } else {
                print(lines, terminator: "")
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute the hash chain (of an export, or of a replica's log) and compare the heads of every endpoint.")
        @OptionGroup var options: ClientOptions
        @Option(help: "An export to verify instead of the replicas' logs.") var file: String?

        func run() async throws {
            if let file {
                guard let data = FileManager.default.contents(atPath: file) else { throw CommandFailure("cannot read \(file)") }
                let lines = String(decoding: data, as: UTF8.self).split(separator: "\n")
                let records = try lines.map { try JSONDecoder().decode(AuditRecordResponse.self, from: Data($0.utf8)) }
                let head = try Self.verify(records, source: file)
                print("\(file): \(records.count) records, chain intact, head \(head)")
                return
            }
            var heads: [String: String] = [:]
            for endpoint in options.endpoints.split(separator: ",").map(String.init) {
                let client = AdminClient(endpoints: [endpoint], timeout: options.timeout, transport: try options.tls.transport())
                let records: [AuditRecordResponse] = try await client.all(
                    Endpoint.audit.path(), token: try options.token(), query: ReadOptions.parse(["--consistency", "stale"]))
                heads[endpoint] = try Self.verify(records, source: endpoint)
                print("\(endpoint): \(records.count) records, chain intact, head \(heads[endpoint]!)")
            }
            guard Set(heads.values).count <= 1 else {
                throw CommandFailure("the replicas' audit heads differ: \(heads) (a replica behind shows an older head; retry, then investigate)")
            }
        }

        /// Checks a whole log: it starts at sequence 1 from the genesis hash, has no gap, and
        /// every hash is recomputed from the record's fields.
        /// - Returns: the head hash (hex).
        static func verify(_ records: [AuditRecordResponse], source: String) throws -> String {
            guard records.first.map({ $0.sequence == 1 }) ?? true else {
                throw CommandFailure("\(source): the log does not start at sequence 1 (records were deleted)")
            }
            var converted: [AuditRecord] = []
            for record in records {
                guard let previous = Hex.decode(record.previousHash), let hash = Hex.decode(record.hash) else {
                    throw CommandFailure("\(source): record \(record.sequence) has malformed hashes")
                }
                converted.append(
                    AuditRecord(
                        sequence: record.sequence, revision: record.revision, time: Timestamp(millisecondsSinceEpoch: record.timeMilliseconds),
                        actor: record.actor, action: record.action, target: record.target, organization: record.organization,
                        requestID: record.requestID, outcome: record.outcome, previousHash: previous, hash: hash))
            }
            switch AuditChain.verify(converted) {
            case .intact(let head, _): return Hex.encode(head)
            case .broken(let sequence, let reason): throw CommandFailure("\(source): the chain is broken at record \(sequence): \(reason)")
            }
        }
    }
}

/// `rampart tokens ...`: Biscuit tokens from the cluster.
struct TokensCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokens", abstract: "Biscuit tokens issued by the cluster (see `rampart biscuit` for offline work).",
        subcommands: [Issue.self, Inspect.self, Attenuate.self, Revoke.self])

    struct Issue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Get a token for the caller's API key: who it is and what it holds, signed by the active root key.")
        @OptionGroup var options: ClientOptions
        @Option(help: "How long the token lives: seconds, or 90s, 15m, 1h, 2d (at most the server's token_max_ttl_seconds, also the default).")
        var ttl: DurationArgument?
        @Option(name: .customLong("attenuate"), help: "A Datalog block appended at issue; repeat for several.") var attenuation: [String] = []
        @Option(help: "Write the token to this new file (mode 0600) instead of printing it.") var tokenFile: String?
        func run() async throws {
            let request = IssueTokenRequest(ttlSeconds: ttl?.seconds, attenuation: attenuation.isEmpty ? nil : attenuation)
            let issued: TokenResponse = try await options.client().call(Endpoint.issueToken, body: request, token: try options.token())
            // On the standard error, so that the token printed alone stays usable in a pipe.
            for warning in issued.warnings ?? [] { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
            if let tokenFile {
                try SecureFile.create(tokenFile, contents: issued.token + "\n")
                print("token (root key \(issued.rootKeyID), expires \(issued.expiresAt)) written to \(tokenFile)")
            } else {
                try printOutput(issued, format: options.output)
            }
        }
    }
}
