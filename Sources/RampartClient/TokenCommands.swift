import APIModels
import ArgumentParser
import Biscuit
import Foundation
import RampartAuthorizer

/// A token given on the command line: its text, or the path of a file holding it.
struct TokenArgument: ParsableArguments {
    @Argument(help: "The token, or a file holding it.") var token: String

    /// The token's text (a file's contents when the argument names a file).
    func text() throws -> String {
        if FileManager.default.fileExists(atPath: token) {
            guard let data = FileManager.default.contents(atPath: token) else { throw CommandFailure("cannot read \(token)") }
            return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return token.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// What `rampart tokens inspect` reports.
struct TokenInspection: Encodable {
    var rootKeyID: UInt32?
    var verified: Bool
    var error: String?
    var principal: String?
    var organization: String?
    var issuedAt: String?
    var expiresAt: String?
    var blocks: [String]
    var revocationIDs: [String]
    var rights: [String]

    enum CodingKeys: String, CodingKey {
        case verified, error, principal, organization, blocks, rights
        case rootKeyID = "root_key_id"
        case issuedAt = "issued_at"
        case expiresAt = "expires_at"
        case revocationIDs = "revocation_ids"
    }
}

extension TokensCommand {
    struct Inspect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify a token with the cluster's published keys and show who holds it, what it holds, its blocks and revocation ids.")
        @OptionGroup var options: ClientOptions
        @OptionGroup var argument: TokenArgument

        func run() async throws {
            let text = try argument.text()
            let page: ListResponse<PublicKeyResponse> = try await options.client().call(Endpoint.listKeys, token: nil)
            let keys = Dictionary(page.items.compactMap { key in
                Hex.decode(key.publicKey).flatMap { try? PublicKey(algorithm: .ed25519, bytes: $0) }.map { (key.rootKeyID, $0) }
            }, uniquingKeysWith: { first, _ in first })
            let unverified = try? Token(unverifiedBase64: text)
            var inspection = TokenInspection(
                rootKeyID: unverified?.rootKeyID, verified: false, blocks: unverified?.blocks.map(\.source) ?? [],
                revocationIDs: unverified?.revocationIDs.map(Hex.encode) ?? [], rights: [])
            do {
                let verified = try VerifiedToken(text: text) { keys[$0] }
                inspection.verified = true
                inspection.principal = verified.holder.principal
                inspection.organization = verified.holder.organization
                inspection.issuedAt = DateText.format(verified.holder.issuedAt)
                inspection.expiresAt = verified.expiresAt.map(DateText.format)
                inspection.rights = verified.rights.map { "\($0.permission) on \($0.scope)" }
            } catch {
                inspection.error = "\(error.code): \(error)"
            }
            try printOutput(inspection, format: options.output)
            if !inspection.verified { throw ExitCode(1) }
        }
    }

    struct Attenuate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Append blocks that narrow a token, offline (no key needed): each block's checks must hold too.")
        @OptionGroup var argument: TokenArgument
        @Option(name: .customLong("block"), help: "A Datalog block, such as 'check if operation(\"read\");'; repeat for several.")
        var blocks: [String] = []
        @Option(help: "Write the token to this new file (mode 0600) instead of printing it.") var tokenFile: String?

        func run() throws {
            guard !blocks.isEmpty else { throw ValidationError("give at least one --block") }
            var token = try Token(unverifiedBase64: try argument.text())
            for code in blocks {
                do {
                    token = try token.appending(try Block(code: code))
                } catch {
                    throw CommandFailure("cannot append \(code): \(error)")
                }
            }
            if let tokenFile {
                try SecureFile.create(tokenFile, contents: token.base64 + "\n")
                print("attenuated token (\(token.blocks.count) blocks) written to \(tokenFile)")
            } else {
                print(token.base64)
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Revoke a token (and what was made from it), revocation ids, every token of a principal or an organization, or a client certificate.")
        @OptionGroup var options: ClientOptions
        @Option(help: "The token to revoke, or a file holding it.") var token: String?
        @Option(name: .customLong("revocation-id"), help: "A revocation id (hex); repeat for several.") var revocationIDs: [String] = []
        @Option(help: "Every token of this principal (organization/name) issued up to now.") var principal: String?
        @Option(help: "Every token of this organization's principals issued up to now.") var organization: String?
        @Option(help: "A client certificate (PEM file) that must no longer authenticate, until it expires.") var certificate: String?
        @Option(help: "Why (recorded in the revocation list and the audit log).") var reason: String?

        func run() async throws {
            let tokenText = try token.map { try TokenArgument.parse([$0]).text() }
            let certificatePEM = try certificate.map { path in
                guard let data = FileManager.default.contents(atPath: path) else { throw CommandFailure("cannot read the certificate \(path)") }
                return String(decoding: data, as: UTF8.self)
            }
            let request = RevokeTokensRequest(
                token: tokenText, revocationIDs: revocationIDs.isEmpty ? nil : revocationIDs, principal: principal, organization: organization,
                certificate: certificatePEM, reason: reason)
            let answer: RevokeTokensResponse = try await options.client().call(Endpoint.revokeTokens, body: request, token: try options.token())
            if options.output == "json" {
                try printOutput(answer, format: "json")
            } else {
                try printList(answer.revoked, format: options.output)
                print("revision \(answer.revision): every replica that has applied it refuses these tokens")
            }
        }
    }
}

/// `rampart revocations ...`: the revocation feed.
struct RevocationsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revocations", abstract: "The token revocation list, as services follow it.", subcommands: [List.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List revocations after a revision; with --follow, keep printing new ones as they are committed (one line each).")
        @OptionGroup var options: ClientOptions
        @Option(help: "Only revocations written after this revision.") var since: UInt64 = 0
        @Flag(help: "Wait for new revocations and print them as they come, until interrupted.") var follow = false

        func run() async throws {
            let client = try options.client()
            let token = try options.token()
            var since = self.since
            var first = true
            while true {
                let wait = follow && !first ? 20 : 0
                let page: RevocationsPage = try await client.call(
                    "GET", Endpoint.revocations.path() + "?since=\(since)&wait=\(wait)", token: token)
                if follow {
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.sortedKeys]
                    // Written at once, line by line, so a pipe reading it sees each revocation as it comes.
                    for item in page.items { FileHandle.standardOutput.write(try encoder.encode(item) + Data("\n".utf8)) }
                } else {
                    try printList(page.items, format: options.output)
                }
                since = page.nextSince
                first = false
                if !follow && !page.more { return }
                if page.more { first = true }
            }
        }
    }
}
