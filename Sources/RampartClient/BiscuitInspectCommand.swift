import ArgumentParser
import Biscuit
import Foundation

/// `rampart biscuit inspect`: what a token holds, verified with the root key, and optionally
/// whether an authorizer allows it.
struct BiscuitInspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect", abstract: "Show a token's blocks and revocation ids; verify it; authorize it.",
        discussion: """
            Prints the token's blocks: index, Datalog version, signature version, external key, symbols, \
            public keys, context and Datalog. With --public-key (or --public-key-file) every signature is \
            verified; without one, every signature but the authority block's (which only the root key can \
            check), and the output says "verified: no".

            --authorize-with FILE (or --authorize-with-code TEXT) runs an authorizer of facts, rules, checks \
            and policies against the token (--time now|RFC3339 adds the fact time(...); --param sets its \
            parameters). Limits: --max-facts 1000, --max-iterations 100 and --max-time-ms 1000 by default \
            (the reference's defaults, except the time: 1 s instead of 1 ms, so that a loaded machine does \
            not time out); authorizing needs --public-key. Exit code 0 when the token was read (and \
            authorized, if asked); 1 otherwise.

            JSON fields (always present; null when not known):
              root_key_id      the root key id the token names
              verified         whether the authority block's signature was verified
                               with the key given (the others always are)
              root_public_key  that key
              sealed           whether the token is sealed
              blocks           [{index, version (Datalog), signature_version,
                               external_key, symbols, public_keys, context,
                               source (the block's Datalog as the reference
                               prints it)}]
              revocation_ids   hex, authority first
              authorization    {authorized, policy: {kind: allow|deny, index},
                               failed_checks: [{origin: authorizer|block,
                               block, check, rule}], error: {kind, message}
                               (an expression error, a run limit, Datalog
                               that does not parse), message (a refusal in
                               the reference's words), time, limits:
                               {max_facts, max_iterations, max_time_ms}}
              error            {kind, message}: why the token could not be
                               read or verified

            --batch FILE (or - for standard input) inspects many tokens in one run (with --output json): \
            each line is a JSON object {"id": string or integer, "token": base64, "public_key": text or \
            null, "authorizer": Datalog or null, "time": "now", RFC 3339 or null}; each output line is \
            {"id", "line", "report"}, report being the object above on one line, or {"id", "line", \
            "error"} for a line that cannot be read. Exit code 0 when every line was read, else 1; the \
            outcomes are in the reports.
            """)

    @OptionGroup var tokenInput: BiscuitTokenInput
    @OptionGroup var publicKey: BiscuitPublicKeyInput
    @Option(help: "An authorizer's Datalog file (facts, rules, checks, policies) to authorize the token with.") var authorizeWith: String?
    @Option(help: "An authorizer's Datalog to authorize the token with.") var authorizeWithCode: String?
    @Option(help: "Adds time(...) to the authorizer: now, or an RFC 3339 date.") var time: String?
    @OptionGroup var parameters: BiscuitParameters
    @Option(help: "The most facts the authorizer may derive.") var maxFacts = 1000
    @Option(help: "The most rounds of rule application.") var maxIterations = 100
    @Option(help: "The longest the authorization may take, in milliseconds.") var maxTimeMs = 1000
    @Option(help: "A file of JSON lines to inspect in one run (see above); - for standard input.") var batch: String?
    @OptionGroup var output: BiscuitOutputOptions

    func validate() throws {
        guard maxFacts > 0, maxIterations > 0, maxTimeMs > 0 else { throw ValidationError("the limits must be positive") }
        guard maxTimeMs <= 600_000 else { throw ValidationError("--max-time-ms is at most 600000 (10 minutes)") }
        if authorizeWith != nil && authorizeWithCode != nil { throw ValidationError("give --authorize-with or --authorize-with-code, not both") }
        if time != nil && authorizeWith == nil && authorizeWithCode == nil && batch == nil {
            throw ValidationError("--time adds a fact to the authorizer: give --authorize-with or --authorize-with-code")
        }
        if let time, time != "now", RFC3339.seconds(time) == nil { throw ValidationError("--time is now or an RFC 3339 date after 1970, not \(time)") }
        if batch != nil {
            guard tokenInput.tokenFile == nil, !tokenInput.rawInput, publicKey.publicKey == nil, publicKey.publicKeyFile == nil,
                authorizeWith == nil, authorizeWithCode == nil, time == nil
            else {
                throw ValidationError("--batch takes the token, key, authorizer and time from each line: give no other input")
            }
            guard output.output == .json else { throw ValidationError("--batch writes JSON lines: give --output json") }
        }
        if authorizeWith == "-" && (tokenInput.tokenFile ?? "-") == "-" {
            throw ValidationError("the token and the authorizer cannot both come from standard input")
        }
    }

    var limits: RunLimits { RunLimits(maxFacts: maxFacts, maxIterations: maxIterations, maxTime: .milliseconds(maxTimeMs)) }

    func run() throws {
        if let batch {
            try runBatch(batch)
            return
        }
        let rootKey = try publicKey.key()
        let (terms, keys) = try parameters.values()
        var report = BiscuitInspection()
        try runBiscuitVerb(output.output) {
            let token = try tokenInput.read()
            var request: BiscuitAuthorizationRequest?
            if authorizeWith != nil || authorizeWithCode != nil {
                let code = try BiscuitInput.oneOf(
                    file: authorizeWith, fileFlag: "--authorize-with", text: authorizeWithCode, textFlag: "--authorize-with-code",
                    what: "authorizer")
                request = BiscuitAuthorizationRequest(
                    code: code, terms: terms, keys: keys, time: time.map(BiscuitAuthorizationRequest.seconds), limits: limits)
            }
            report = BiscuitInspection.run(token, rootKey: rootKey, authorization: request)
        }
        switch output.output {
        case .json: printJSON(report.json)
        case .text: report.printText()
        }
        guard report.succeeded else { throw ExitCode.failure }
    }

    /// Inspects every line of `path` (JSON lines), printing one report line each.
    private func runBatch(_ path: String) throws {
        let (terms, keys) = try parameters.values()
        var allRead = true
        try runBiscuitVerb(.json) {
            let text = try BiscuitInput.text(path, what: "batch")
            for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                guard !trimmed.isEmpty else { continue }
                let result: JSONValue
                do {
                    let item = try BatchItem(Data(trimmed.utf8))
                    var request: BiscuitAuthorizationRequest?
                    if let code = item.authorizer {
                        request = BiscuitAuthorizationRequest(code: code, terms: terms, keys: keys, time: item.time, limits: limits)
                    }
                    let report = BiscuitInspection.run(.base64(item.token), rootKey: item.publicKey, authorization: request)
                    result = .object([("id", item.id), ("line", .integer(Int64(index + 1))), ("report", report.json)])
                } catch let failure as BiscuitFailure {
                    allRead = false
                    result = .object([("id", .null), ("line", .integer(Int64(index + 1))), ("error", failure.json)])
                }
                print(result.serialized(pretty: false))
            }
        }
        guard allRead else { throw ExitCode.failure }
    }
}

/// One line of `inspect --batch`.
private struct BatchItem {
    let id: JSONValue
    let token: String
    let publicKey: PublicKey?
    let authorizer: String?
    let time: UInt64?

    init(_ data: Data) throws {
        func bad(_ reason: String) -> BiscuitFailure { BiscuitFailure(kind: "Input", message: "batch line: \(reason)") }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { throw bad("not a JSON object") }
        switch object["id"] {
        case let text as String: id = .string(text)
        case let number as Int: id = .integer(Int64(number))
        case nil, is NSNull: id = .null
        default: throw bad("id is a string or an integer")
        }
        guard let token = object["token"] as? String else { throw bad("no token") }
        self.token = token
        switch object["public_key"] {
        case let text as String:
            guard let key = try? PublicKey(text) else { throw bad("public_key is not ed25519/<hex> or secp256r1/<hex>") }
            publicKey = key
        case nil, is NSNull: publicKey = nil
        default: throw bad("public_key is a string")
        }
        switch object["authorizer"] {
        case let code as String: authorizer = code
        case nil, is NSNull: authorizer = nil
        default: throw bad("authorizer is a string")
        }
        switch object["time"] {
        case let text as String:
            guard text == "now" || RFC3339.seconds(text) != nil else { throw bad("time is now or an RFC 3339 date") }
            time = BiscuitAuthorizationRequest.seconds(text)
        case nil, is NSNull: time = nil
        default: throw bad("time is a string")
        }
    }
}

// MARK: - The inspection

/// What the authorizer of `inspect` is made of.
struct BiscuitAuthorizationRequest {
    let code: String
    let terms: [String: Term]
    let keys: [String: PublicKey]
    /// The time fact's date, in seconds since 1970.
    let time: UInt64?
    let limits: RunLimits

    /// `now` or an RFC 3339 date (already validated) in seconds since 1970.
    static func seconds(_ text: String) -> UInt64 {
        if text == "now" { return UInt64(Date().timeIntervalSince1970) }
        return RFC3339.seconds(text) ?? 0
    }
}

/// The outcome of an authorization.
enum BiscuitAuthorizationOutcome {
    /// An allow policy matched and every check held.
    case allowed(policy: Int)
    /// A check failed, a deny policy matched, or no policy did.
    case refused(policy: MatchedPolicy?, checks: [FailedCheck], message: String)
    /// The authorizer could not run: Datalog that does not parse, an unsafe rule, an expression
    /// error, a run limit.
    case failed(BiscuitFailure)
}

/// A token's inspection: what it names, whether it verified, its blocks, and the authorization.
struct BiscuitInspection {
    var rootKeyID: UInt32?
    var rootKey: PublicKey?
    var token: Token?
    var error: BiscuitFailure?
    var request: BiscuitAuthorizationRequest?
    var authorization: BiscuitAuthorizationOutcome?

    /// Whether the token was read (verified, when a root key was given) and, when asked, was
    /// authorized.
    var succeeded: Bool {
        guard token != nil, error == nil else { return false }
        switch authorization {
        case nil, .allowed?: return true
        case .refused?, .failed?: return false
        }
    }

    /// Whether the authority block's signature was checked with a root key.
    var verified: Bool { token?.rootKey != nil }

    /// Reads `text`, verifies it with `rootKey` (without one, every signature but the
    /// authority block's), and authorizes it when asked (only a verified token).
    static func run(_ text: BiscuitTokenText, rootKey: PublicKey?, authorization request: BiscuitAuthorizationRequest?) -> BiscuitInspection {
        var inspection = BiscuitInspection()
        inspection.rootKey = rootKey
        inspection.request = request
        var namedKeyID: UInt32?
        do throws(BiscuitError) {
            if let rootKey {
                // The key id the token names, also when its signature then fails.
                inspection.token = try text.token { keyID in
                    namedKeyID = keyID
                    return rootKey
                }
            } else {
                inspection.token = try text.token(rootKey: nil)
            }
        } catch {
            inspection.error = BiscuitFailure(error)
        }
        inspection.rootKeyID = inspection.token?.rootKeyID ?? namedKeyID
        if let token = inspection.token, let request {
            if rootKey == nil {
                inspection.error = BiscuitFailure(
                    kind: "NotVerified", message: "not authorized: give --public-key (or --public-key-file) to verify the token first")
            } else {
                inspection.authorization = authorize(token, request)
            }
        }
        return inspection
    }

    private static func authorize(_ token: Token, _ request: BiscuitAuthorizationRequest) -> BiscuitAuthorizationOutcome {
        do throws(BiscuitError) {
            var builder = AuthorizerBuilder()
            try builder.add(code: request.code, parameters: request.terms, scopeParameters: request.keys)
            if let time = request.time { builder.addTime(secondsSince1970: time) }
            builder.limits = request.limits
            return .allowed(policy: try builder.authorize(token))
        } catch {
            switch error {
            case .failedLogic(.unauthorized(let policy, let checks)):
                return .refused(policy: policy, checks: checks, message: error.description)
            case .failedLogic(.noMatchingPolicy(let checks)):
                return .refused(policy: nil, checks: checks, message: error.description)
            default:
                return .failed(BiscuitFailure(error))
            }
        }
    }

    // MARK: - JSON

    var json: JSONValue {
        let blocks = token.map { token in JSONValue.array(token.blocks.indices.map { Self.json(block: $0, of: token) }) } ?? .null
        return .object([
            ("root_key_id", rootKeyID.map { .integer(Int64($0)) } ?? .null), ("verified", .bool(verified)),
            ("root_public_key", .optional(rootKey?.description)), ("sealed", token.map { .bool($0.isSealed) } ?? .null),
            ("blocks", blocks), ("revocation_ids", token.map { .strings($0.revocationIDs.map(HexText.encode)) } ?? .null),
            ("authorization", authorizationJSON), ("error", error?.json ?? .null),
        ])
    }

    private static func json(block index: Int, of token: Token) -> JSONValue {
        let block = token.blocks[index]
        return .object([
            ("index", .integer(Int64(index))), ("version", .integer(Int64(block.version))),
            ("signature_version", .integer(Int64(token.signatureVersions[index]))), ("external_key", .optional(block.externalKey?.description)),
            ("symbols", .strings(block.symbols)), ("public_keys", .strings(block.publicKeys.map(\.description))),
            ("context", .optional(block.context)), ("source", .string(block.source)),
        ])
    }

    private var authorizationJSON: JSONValue {
        guard let authorization, let request else { return .null }
        var policy: MatchedPolicy?
        var checks: [FailedCheck] = []
        var failure: BiscuitFailure?
        var message: String?
        var authorized = false
        switch authorization {
        case .allowed(let index):
            policy = .allow(index)
            authorized = true
        case .refused(let matched, let failed, let text):
            (policy, checks, message) = (matched, failed, text)
        case .failed(let error):
            failure = error
            message = error.message
        }
        let policyJSON: JSONValue
        switch policy {
        case .allow(let index)?: policyJSON = .object([("kind", .string("allow")), ("index", .integer(Int64(index)))])
        case .deny(let index)?: policyJSON = .object([("kind", .string("deny")), ("index", .integer(Int64(index)))])
        case nil: policyJSON = .null
        }
        let limits = request.limits
        return .object([
            ("authorized", .bool(authorized)), ("policy", policyJSON), ("failed_checks", .array(checks.map(Self.json(check:)))),
            ("error", failure?.json ?? .null), ("message", .optional(message)), ("time", .optional(request.time.map(RFC3339.text))),
            (
                "limits",
                .object([
                    ("max_facts", .integer(Int64(limits.maxFacts))), ("max_iterations", .integer(Int64(limits.maxIterations))),
                    ("max_time_ms", .integer(limits.maxTime.components.seconds * 1000 + limits.maxTime.components.attoseconds / 1_000_000_000_000_000)),
                ])
            ),
        ])
    }

    private static func json(check: FailedCheck) -> JSONValue {
        switch check {
        case .authorizer(let index, let rule):
            return .object([("origin", .string("authorizer")), ("block", .null), ("check", .integer(Int64(index))), ("rule", .string(rule))])
        case .block(let block, let index, let rule):
            return .object([
                ("origin", .string("block")), ("block", .integer(Int64(block))), ("check", .integer(Int64(index))), ("rule", .string(rule)),
            ])
        }
    }

    // MARK: - Text

    func printText() {
        print("root key id: \(rootKeyID.map(String.init) ?? "none")")
        guard let token else {
            if let error { print("error: \(error.message) (\(error.kind))") }
            return
        }
        print(verified ? "verified: yes, with \(rootKey?.description ?? "?")" : "verified: no (no root key given: every signature but the authority block's was checked)")
        print("sealed: \(token.isSealed ? "yes" : "no")")
        for (index, block) in token.blocks.enumerated() {
            print(index == 0 ? "block 0 (authority):" : "block \(index):")
            print("  version: \(block.version), signature version: \(token.signatureVersions[index])")
            print("  external key: \(block.externalKey?.description ?? "none")")
            print("  symbols: \(block.symbols.isEmpty ? "none" : block.symbols.map { "\"\($0)\"" }.joined(separator: ", "))")
            print("  public keys: \(block.publicKeys.isEmpty ? "none" : block.publicKeys.map(\.description).joined(separator: ", "))")
            print("  context: \(block.context ?? "none")")
            print("  datalog:")
            for line in block.source.split(separator: "\n") { print("    \(line)") }
        }
        print("revocation ids:")
        for (index, id) in token.revocationIDs.enumerated() { print("  \(index): \(HexText.encode(id))") }
        switch authorization {
        case nil: break
        case .allowed(let index)?: print("authorization: allowed by policy \(index)")
        case .refused(let policy, let checks, _)?:
            switch policy {
            case .allow(let index)?: print("authorization: refused: allow policy \(index) matched, but checks failed")
            case .deny(let index)?: print("authorization: refused: deny policy \(index) matched")
            case nil: print("authorization: refused: no policy matched")
            }
            for check in checks {
                switch check {
                case .authorizer(let index, let rule): print("  failed: authorizer check \(index): \(rule)")
                case .block(let block, let index, let rule): print("  failed: block \(block) check \(index): \(rule)")
                }
            }
        case .failed(let failure)?: print("authorization: error: \(failure.message) (\(failure.kind))")
        }
    }
}
