import ArgumentParser
import Biscuit
import Foundation

/// `rampart biscuit`: Biscuit tokens offline, in the spirit of biscuit-cli: make keys, issue a
/// token, attenuate it, seal it, add a third party's block, and inspect and authorize a token.
/// Nothing here talks to a replica; the verbs run the `Biscuit` library on files, options and
/// standard input.
///
/// Conventions: `--output text|json` on every verb (json: one JSON object on standard output,
/// also when the verb fails, as `{"error": {"kind", "message"}}`); exit code 0 on success, 1 on a
/// failure (a token that does not verify, Datalog that does not parse, authorization refused),
/// 64 on a usage error (a missing or contradictory option). Tokens, requests and third-party
/// blocks are printed in URL-safe base64 with padding, as the reference prints them; tokens are
/// read as base64 text (white space around it trimmed), or raw bytes with `--raw-input`.
struct BiscuitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "biscuit", abstract: "Make, attenuate, seal and inspect Biscuit tokens (offline).",
        discussion: """
            Keys are written ed25519/<hex> or secp256r1/<hex> (public), ed25519-private/<hex> or \
            secp256r1-private/<hex> (private). A private key comes from --private-key-file, --private-key or \
            $RAMPART_BISCUIT_PRIVATE_KEY. Tokens are printed in URL-safe base64 and read as base64 text, or \
            raw bytes with --raw-input.

            Datalog parameters: --param name=value (a string) or --param name:TYPE=value, TYPE one of \
            string, integer, date (RFC 3339), bytes (hex), bool, pubkey (a key for `trusting {name}`).

            The verbs that change a token (attenuate, seal, third-party-request, append-third-party) check \
            it first: with --public-key every signature; without it (a holder need not know the root key) \
            every signature but the authority block's.

            Every verb takes --output text|json; with json, standard output holds one JSON object, also on \
            failure ({"error": {"kind", "message"}}). Exit codes: 0 success, 1 failure (including \
            authorization refused), 64 usage error.
            """,
        subcommands: [
            BiscuitKeypairCommand.self, BiscuitGenerateCommand.self, BiscuitAttenuateCommand.self, BiscuitSealCommand.self,
            BiscuitInspectCommand.self, BiscuitThirdPartyRequestCommand.self, BiscuitThirdPartyBlockCommand.self,
            BiscuitAppendThirdPartyCommand.self,
        ])
}

// MARK: - keypair

/// `rampart biscuit keypair`: a new key pair, or the public key of a private key file.
struct BiscuitKeypairCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keypair", abstract: "Generate a key pair, or print the public key of a private key file.",
        discussion: """
            Without --private-key-file: generates a key and prints both halves. With --private-key-file F: \
            when F exists, reads the private key from it and prints its public key; when it does not, \
            generates a key, writes the private key to F (mode 0600, never overwriting) and prints the \
            public key.

            JSON fields: algorithm, public_key, private_key (only when generated without a file, else \
            null), private_key_file (or null), created (whether a key was generated).
            """)

    @Option(help: "ed25519 (default) or secp256r1.") var algorithm: BiscuitAlgorithm?
    @Option(help: "The private key file: read when it exists, else written with mode 0600.") var privateKeyFile: String?
    @OptionGroup var output: BiscuitOutputOptions

    func run() throws {
        try runBiscuitVerb(output.output) {
            var created = true
            let key: PrivateKey
            if let privateKeyFile, FileManager.default.fileExists(atPath: privateKeyFile) {
                let text = try BiscuitInput.trimmedText(privateKeyFile, what: "private key")
                guard let read = try? PrivateKey(text) else {
                    throw BiscuitFailure(
                        kind: "Format.InvalidKey", message: "\(privateKeyFile) does not hold ed25519-private/<hex> or secp256r1-private/<hex>")
                }
                if let algorithm, algorithm.algorithm != read.algorithm {
                    throw ValidationError("\(privateKeyFile) holds a \(read.algorithm) key, not \(algorithm)")
                }
                key = read
                created = false
            } else {
                key = PrivateKey(algorithm: algorithm?.algorithm ?? .ed25519)
                if let privateKeyFile { try BiscuitSecretFile.create(privateKeyFile, contents: key.text + "\n") }
            }
            let shownPrivateKey = privateKeyFile == nil ? key.text : nil
            switch output.output {
            case .json:
                printJSON(
                    .object([
                        ("algorithm", .string(key.algorithm.description)), ("public_key", .string(key.publicKey.description)),
                        ("private_key", .optional(shownPrivateKey)), ("private_key_file", .optional(privateKeyFile)), ("created", .bool(created)),
                    ]))
            case .text:
                if let shownPrivateKey { print("private key: \(shownPrivateKey)") }
                if let privateKeyFile { print("private key: \(created ? "written to" : "read from") \(privateKeyFile)") }
                print("public key: \(key.publicKey)")
            }
        }
    }
}

/// Files only their owner can read, created and never overwritten.
enum BiscuitSecretFile {
    static func create(_ path: String, contents: String) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw BiscuitFailure(kind: "Input", message: "cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        let bytes = Array(contents.utf8)
        guard write(descriptor, bytes, bytes.count) == bytes.count, fsync(descriptor) == 0 else {
            throw BiscuitFailure(kind: "Input", message: "cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }
}

// MARK: - generate

/// `rampart biscuit generate`: a new token whose authority block is the given Datalog.
struct BiscuitGenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate", abstract: "Issue a token: the authority block's Datalog from a file or standard input.",
        discussion: "Prints the token in base64. JSON fields: token, revocation_ids (hex, authority first), blocks (count).")

    @Argument(help: "The authority block's Datalog file, or - (the default) for standard input.") var datalogFile: String?
    @OptionGroup var privateKey: BiscuitPrivateKeyInput
    @Option(help: "The root key id the token names (a hint for choosing the verifying key).") var rootKeyId: UInt32?
    @OptionGroup var parameters: BiscuitParameters
    @Option(help: "Free text stored in the block.") var context: String?
    @Option(help: "The algorithm of the key that signs the next block: ed25519 (default) or secp256r1.") var nextKeyAlgorithm: BiscuitAlgorithm = .ed25519
    @OptionGroup var output: BiscuitOutputOptions

    func run() throws {
        let key = try privateKey.key()
        let (terms, keys) = try parameters.values()
        try runBiscuitVerb(output.output) {
            let code = try BiscuitInput.text(datalogFile, what: "Datalog")
            var block = try Block(code: code, parameters: terms, scopeParameters: keys)
            block.context = context
            let token = try Token(authority: block, rootKey: key, rootKeyID: rootKeyId, nextKeyAlgorithm: nextKeyAlgorithm.algorithm)
            printToken(token, output.output)
        }
    }
}

/// Prints a token made or changed: the base64 text, or its JSON report.
func printToken(_ token: Token, _ format: BiscuitOutputFormat) {
    switch format {
    case .text: print(token.base64)
    case .json:
        printJSON(
            .object([
                ("token", .string(token.base64)), ("revocation_ids", .strings(token.revocationIDs.map(HexText.encode))),
                ("blocks", .integer(Int64(token.blocks.count))), ("sealed", .bool(token.isSealed)),
            ]))
    }
}

// MARK: - attenuate, seal

/// `rampart biscuit attenuate`: the token with one more block.
struct BiscuitAttenuateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attenuate", abstract: "Append a block to a token (it can only restrict what the token allows).",
        discussion: """
            With --public-key the token is verified first; without it, every signature but the \
            authority block's is checked (a holder needs no issuer's key to attenuate). Prints the new \
            token in base64. JSON fields: token, revocation_ids, blocks, sealed.
            """)

    @OptionGroup var tokenInput: BiscuitTokenInput
    @OptionGroup var publicKey: BiscuitPublicKeyInput
    @Option(help: "The block's Datalog file (- for standard input).") var block: String?
    @Option(help: "The block's Datalog.") var blockCode: String?
    @OptionGroup var parameters: BiscuitParameters
    @Option(help: "Free text stored in the block.") var context: String?
    @Option(help: "The algorithm of the key that signs the next block: ed25519 (default) or secp256r1.") var nextKeyAlgorithm: BiscuitAlgorithm = .ed25519
    @OptionGroup var output: BiscuitOutputOptions

    func run() throws {
        let rootKey = try publicKey.key()
        let (terms, keys) = try parameters.values()
        if block == "-" && (tokenInput.tokenFile ?? "-") == "-" { throw ValidationError("the token and the block cannot both come from standard input") }
        try runBiscuitVerb(output.output) {
            let code = try BiscuitInput.oneOf(file: block, fileFlag: "--block", text: blockCode, textFlag: "--block-code", what: "block")
            var newBlock = try Block(code: code, parameters: terms, scopeParameters: keys)
            newBlock.context = context
            let token = try tokenInput.read().token(rootKey: rootKey)
            printToken(try token.appending(newBlock, nextKeyAlgorithm: nextKeyAlgorithm.algorithm), output.output)
        }
    }
}

/// `rampart biscuit seal`: the token sealed (no block can be appended any more).
struct BiscuitSealCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seal", abstract: "Seal a token: nothing can be appended to it afterwards.",
        discussion: "With --public-key the token is verified first. JSON fields: token, revocation_ids, blocks, sealed.")

    @OptionGroup var tokenInput: BiscuitTokenInput
    @OptionGroup var publicKey: BiscuitPublicKeyInput
    @OptionGroup var output: BiscuitOutputOptions

    func run() throws {
        let rootKey = try publicKey.key()
        try runBiscuitVerb(output.output) {
            printToken(try tokenInput.read().token(rootKey: rootKey).sealed(), output.output)
        }
    }
}

// MARK: - Third-party blocks

/// `rampart biscuit third-party-request`: what a third party needs to sign a block for a token.
struct BiscuitThirdPartyRequestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "third-party-request", abstract: "Make the request a third party signs a block for.",
        discussion: "With --public-key the token is verified first. Prints the request in base64. JSON fields: request.")

    @OptionGroup var tokenInput: BiscuitTokenInput
    @OptionGroup var publicKey: BiscuitPublicKeyInput
    @OptionGroup var output: BiscuitOutputOptions

    func run() throws {
        let rootKey = try publicKey.key()
        try runBiscuitVerb(output.output) {
            let request = try tokenInput.read().token(rootKey: rootKey).thirdPartyRequest()
            switch output.output {
            case .text: print(request.base64)
            case .json: printJSON(.object([("request", .string(request.base64))]))
            }
        }
    }
}

/// `rampart biscuit third-party-block`: a third party's block for a request, signed with its key.
struct BiscuitThirdPartyBlockCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "third-party-block", abstract: "Sign a block for a token's third-party request (as the third party).",
        discussion: """
            The private key is the third party's. Prints the signed block in base64, for \
            append-third-party. JSON fields: block, external_key (the third party's public key).
            """)

    @Argument(help: "The request file (base64), or - for standard input, when --request is not given.") var requestFile: String?
    @Option(help: "The request in base64.") var request: String?
    @OptionGroup var privateKey: BiscuitPrivateKeyInput
    @Option(help: "The block's Datalog file (- for standard input).") var block: String?
    @Option(help: "The block's Datalog.") var blockCode: String?
    @OptionGroup var parameters: BiscuitParameters
    @Option(help: "Free text stored in the block.") var context: String?
    @OptionGroup var output: BiscuitOutputOptions

    func run() throws {
        let key = try privateKey.key()
        let (terms, keys) = try parameters.values()
        if request != nil && requestFile != nil { throw ValidationError("give the request as a file or with --request, not both") }
        if block == "-" && request == nil && (requestFile ?? "-") == "-" {
            throw ValidationError("the request and the block cannot both come from standard input")
        }
        try runBiscuitVerb(output.output) {
            let requestText = try request ?? BiscuitInput.trimmedText(requestFile, what: "request")
            let thirdPartyRequest = try ThirdPartyRequest(base64: requestText.trimmingCharacters(in: .whitespacesAndNewlines))
            let code = try BiscuitInput.oneOf(file: block, fileFlag: "--block", text: blockCode, textFlag: "--block-code", what: "block")
            var newBlock = try Block(code: code, parameters: terms, scopeParameters: keys)
            newBlock.context = context
            let signed = try thirdPartyRequest.createBlock(newBlock, signedWith: key)
            switch output.output {
            case .text: print(signed.base64)
            case .json: printJSON(.object([("block", .string(signed.base64)), ("external_key", .string(key.publicKey.description))]))
            }
        }
    }
}

/// `rampart biscuit append-third-party`: the token with a third party's signed block appended.
struct BiscuitAppendThirdPartyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "append-third-party", abstract: "Append a block a third party signed (third-party-block) to a token.",
        discussion: """
            With --public-key the token is verified first. The block must be signed by --external-key \
            when given (by the key the block names otherwise). Prints the new token in base64. JSON \
            fields: token, revocation_ids, blocks, sealed.
            """)

    @OptionGroup var tokenInput: BiscuitTokenInput
    @OptionGroup var publicKey: BiscuitPublicKeyInput
    @Option(help: "The third party's public key the block must be signed by (default: the key the block names).") var externalKey: String?
    @Option(help: "The signed block in base64 (from third-party-block).") var thirdPartyBlock: String?
    @Option(help: "A file holding the signed block in base64.") var thirdPartyBlockFile: String?
    @Option(help: "The algorithm of the key that signs the next block: ed25519 (default) or secp256r1.") var nextKeyAlgorithm: BiscuitAlgorithm = .ed25519
    @OptionGroup var output: BiscuitOutputOptions

    func run() throws {
        let rootKey = try publicKey.key()
        let expected = try externalKey.map { text throws in
            guard let key = try? PublicKey(text) else { throw ValidationError("--external-key is not ed25519/<hex> or secp256r1/<hex>") }
            return key
        }
        try runBiscuitVerb(output.output) {
            let text = try BiscuitInput.oneOf(
                file: thirdPartyBlockFile, fileFlag: "--third-party-block-file", text: thirdPartyBlock, textFlag: "--third-party-block",
                what: "third-party block")
            let contents = try ThirdPartyBlock(base64: text.trimmingCharacters(in: .whitespacesAndNewlines))
            let external = try expected ?? contents.externalKey
            let token = try tokenInput.read().token(rootKey: rootKey)
            printToken(try token.appending(thirdParty: contents, from: external, nextKeyAlgorithm: nextKeyAlgorithm.algorithm), output.output)
        }
    }
}
