/// A Biscuit token: a chain of signed blocks of Datalog, rooted in a root key.
///
/// A token is made with `Token(authority:rootKey:)`, narrowed by anyone who holds it with
/// `appending(_:)` (a block can only restrict: its checks must hold too), closed with
/// `sealed()`, and read back with `Token(bytes:rootKey:)` or `Token(base64:rootKey:)`, which
/// verify every signature before any block is decoded. The signed bytes are kept as they came,
/// never encoded again. `Authorizer` decides with it.
public struct Token: Sendable {
    /// The most bytes a token may have (a larger one is refused before it is decoded).
    public static let maxBytes = 1 << 20
    /// The most blocks a token may have, authority included (fact origins are block sets).
    public static let maxBlocks = 62

    /// The root key id the token names (a hint for choosing the root key).
    public let rootKeyID: UInt32?
    /// The blocks, authority first, as Datalog.
    public let blocks: [Block]
    /// The token as signed.
    let message: BiscuitMessage
    /// The token's symbol and key tables: the authority's and first-party blocks' declarations.
    let symbols: SymbolTable
    let keys: PublicKeyTable
    /// The secret of the last block's next key; nil once sealed.
    let nextSecret: PrivateKey?
    /// The blocks' Datalog compiled for authorizers, once (`compiledBlocks()`).
    private let compiled = CompiledBlocksCache()
    /// The root key the authority block's signature was verified with; nil for a token read
    /// without verifying it (`Token(unverifiedBytes:)`).
    public let rootKey: PublicKey?

    /// The blocks' Datalog compiled for authorizers: compiled by the first authorization of
    /// this token (or a copy of it), then shared.
    func compiledBlocks() throws(BiscuitError) -> CompiledBlocks {
        try compiled.compiled(blocks)
    }

    /// Whether the token is sealed (no block can be appended).
    public var isSealed: Bool { nextSecret == nil }

    /// The revocation ids: each block's signature, authority first. Revoking any of them
    /// revokes this token and every token made from it by appending.
    public var revocationIDs: [[UInt8]] { ([message.authority] + message.blocks).map(\.signature) }

    /// The signature payload version of each block (0 or 1).
    public var signatureVersions: [UInt32] { ([message.authority] + message.blocks).map { $0.version ?? 0 } }

    /// The token's bytes.
    public var bytes: [UInt8] { message.encoded() }

    /// The token in URL-safe base64 with padding, as the reference writes it.
    public var base64: String { Base64URL.encode(bytes) }

    // MARK: - Reading

    /// Reads and verifies a token.
    /// - Parameters:
    ///   - bytes: the token's bytes.
    ///   - rootKey: the root key for the token's root key id (nil when it names none); nil
    ///     when no key is known for it.
    /// - Throws: `BiscuitError.format`: malformed, too large, unknown root key, or a signature
    ///   that does not verify (every signature is checked before any block is decoded).
    public init(bytes: [UInt8], rootKey: (UInt32?) -> PublicKey?) throws(BiscuitError) {
        guard bytes.count <= Self.maxBytes else { throw .format(.tooLarge(limit: Self.maxBytes)) }
        let message: BiscuitMessage
        do {
            message = try BiscuitMessage(decoding: bytes)
        } catch {
            throw .format(.deserialization("\(error)"))
        }
        guard let root = rootKey(message.rootKeyID) else { throw .format(.unknownRootKey(message.rootKeyID)) }
        try self.init(verifying: message, rootKey: root)
    }

    /// Reads and verifies a token in URL-safe base64 (with or without padding).
    public init(base64: String, rootKey: (UInt32?) -> PublicKey?) throws(BiscuitError) {
        try self.init(bytes: try Self.decode(base64), rootKey: rootKey)
    }

    /// Reads a token without its root key: every signature but the authority block's (which
    /// only the root key can check) is verified, so the token's blocks are what its holder
    /// received, but nothing says who issued it. For inspecting a token, and for appending to
    /// it or sealing it without the issuer's public key (as the reference's unverified tokens).
    /// Authorize only a token read with its root key.
    public init(unverifiedBytes bytes: [UInt8]) throws(BiscuitError) {
        guard bytes.count <= Self.maxBytes else { throw .format(.tooLarge(limit: Self.maxBytes)) }
        let message: BiscuitMessage
        do {
            message = try BiscuitMessage(decoding: bytes)
        } catch {
            throw .format(.deserialization("\(error)"))
        }
        try self.init(verifying: message, rootKey: nil)
    }

    /// Reads a token in base64 without its root key (`Token(unverifiedBytes:)`).
    public init(unverifiedBase64 base64: String) throws(BiscuitError) {
        try self.init(unverifiedBytes: try Self.decode(base64))
    }

    static func decode(_ base64: String) throws(BiscuitError) -> [UInt8] {
        guard base64.utf8.count <= Self.maxBytes * 4 / 3 + 4 else { throw .format(.tooLarge(limit: Self.maxBytes)) }
        do {
            return try Base64URL.decode(base64)
        } catch {
            throw .base64("\(error)")
        }
    }

    /// Reads and verifies a token signed by `rootKey`, whatever key id it names.
    public init(bytes: [UInt8], rootKey: PublicKey) throws(BiscuitError) {
        try self.init(bytes: bytes, rootKey: { _ in rootKey })
    }

    /// Reads and verifies a token in base64 signed by `rootKey`.
    public init(base64: String, rootKey: PublicKey) throws(BiscuitError) {
        try self.init(base64: base64, rootKey: { _ in rootKey })
    }

    /// Verifies and decodes a token: the authority's signature with `root` (not at all when
    /// nil), every other signature, the proof, then the blocks.
    private init(verifying message: BiscuitMessage, rootKey root: PublicKey?) throws(BiscuitError) {
        let signed = [message.authority] + message.blocks
        guard signed.count <= Self.maxBlocks else {
            throw .format(.deserialization("a token has at most \(Self.maxBlocks) blocks, this one \(signed.count)"))
        }
        // 1. The keys, the third-party blocks' versions and the proof, before any signature.
        var nextKeys: [PublicKey] = []
        var externalKeys: [PublicKey?] = []
        for (index, block) in signed.enumerated() {
            nextKeys.append(try BlockReader.publicKey(block.nextKey, isNextKey: true))
            if let external = block.externalSignature {
                guard index > 0 else {
                    throw .format(.deserialization("the authority block must not contain an external signature"))
                }
                guard block.version == 1 else { throw .format(.deserialization("Unsupported third party block version")) }
                externalKeys.append(try BlockReader.publicKey(external.publicKey))
            } else {
                externalKeys.append(nil)
            }
        }
        // 2. Every signature, from the authority on (the authority's only with a root key).
        var verifier = root
        for (index, block) in signed.enumerated() {
            let version = block.version ?? 0
            guard SignaturePayload.versions.contains(version) else {
                throw .format(.deserialization("unsupported block version: \(version)"))
            }
            let previous = index > 0 ? signed[index - 1].signature : nil
            if let external = block.externalSignature, let externalKey = externalKeys[index], let previous {
                let payload = SignaturePayload.external(block: block.block, previousSignature: previous)
                guard try externalKey.verifies(external.signature, of: payload) else {
                    throw .format(.invalidSignature("the external signature of block \(index) does not verify"))
                }
            }
            let payload = SignaturePayload.block(
                version: version, block: block.block, nextKey: nextKeys[index], previousSignature: version == 1 ? previous : nil,
                externalSignature: block.externalSignature?.signature)
            if let verifier {
                guard try verifier.verifies(block.signature, of: payload) else {
                    throw .format(.invalidSignature("signature error: Verification equation was not satisfied (block \(index))"))
                }
            }
            verifier = nextKeys[index]
        }
        let lastKey = nextKeys[nextKeys.count - 1]
        // 3. The proof.
        let last = signed[signed.count - 1]
        switch message.proof {
        case .nextSecret(let secret):
            let key = try PrivateKey(algorithm: lastKey.algorithm, bytes: secret)
            guard key.publicKey == lastKey else {
                throw .format(.invalidSignature("the last public key does not match the private key"))
            }
            nextSecret = key
        case .finalSignature(let signature):
            let payload = SignaturePayload.seal(block: last.block, nextKey: lastKey, signature: last.signature)
            guard try lastKey.verifies(signature, of: payload) else { throw .format(.sealedSignature) }
            nextSecret = nil
        }
        // 4. Only now the blocks' Datalog.
        var symbols = SymbolTable()
        var keys = PublicKeyTable()
        var blocks: [Block] = []
        for (index, block) in signed.enumerated() {
            blocks.append(try BlockReader.decode(block.block, tokenSymbols: &symbols, tokenKeys: &keys, externalKey: externalKeys[index]))
        }
        self.message = message
        self.blocks = blocks
        self.symbols = symbols
        self.keys = keys
        rootKeyID = message.rootKeyID
        rootKey = root
    }

    private init(
        message: BiscuitMessage, blocks: [Block], symbols: SymbolTable, keys: PublicKeyTable, nextSecret: PrivateKey?, rootKey: PublicKey?
    ) {
        self.message = message
        self.blocks = blocks
        self.symbols = symbols
        self.keys = keys
        self.nextSecret = nextSecret
        self.rootKey = rootKey
        rootKeyID = message.rootKeyID
    }

    // MARK: - Making

    /// A new token whose authority block is `authority`, signed by `rootKey`.
    /// - Parameters:
    ///   - rootKeyID: the id a verifier uses to choose the root key.
    ///   - nextKeyAlgorithm: the algorithm of the key that signs the next block (the reference
    ///     uses Ed25519).
    public init(authority: Block, rootKey: PrivateKey, rootKeyID: UInt32? = nil, nextKeyAlgorithm: Algorithm = .ed25519)
        throws(BiscuitError)
    {
        var writer = BlockWriter(symbols: SymbolTable(), keys: PublicKeyTable())
        let (blockMessage, written) = try writer.write(authority, thirdParty: false)
        let next = PrivateKey(algorithm: nextKeyAlgorithm)
        let signed = try Self.sign(
            blockMessage.encoded(), version: written.version, signer: rootKey, nextKey: next.publicKey, previous: nil, external: nil)
        let message = BiscuitMessage(rootKeyID: rootKeyID, authority: signed, blocks: [], proof: .nextSecret(next.bytes))
        self.init(message: message, blocks: [written], symbols: writer.symbols, keys: writer.keys, nextSecret: next, rootKey: rootKey.publicKey)
    }

    /// The token with `block` appended (attenuation: its checks must hold too).
    /// - Throws: `.alreadySealed` for a sealed token.
    public func appending(_ block: Block, nextKeyAlgorithm: Algorithm = .ed25519) throws(BiscuitError) -> Token {
        guard let signer = nextSecret else { throw .alreadySealed }
        guard blocks.count < Self.maxBlocks else {
            throw .format(.deserialization("a token has at most \(Self.maxBlocks) blocks"))
        }
        var writer = BlockWriter(symbols: symbols, keys: keys)
        let (blockMessage, written) = try writer.write(block, thirdParty: false)
        let next = PrivateKey(algorithm: nextKeyAlgorithm)
        let previous = message.blocks.last ?? message.authority
        let signed = try Self.sign(
            blockMessage.encoded(), version: written.version, signer: signer, nextKey: next.publicKey, previous: previous, external: nil)
        var message = self.message
        message.blocks.append(signed)
        message.proof = .nextSecret(next.bytes)
        return Token(
            message: message, blocks: blocks + [written], symbols: writer.symbols, keys: writer.keys, nextSecret: next, rootKey: rootKey)
    }

    /// The token sealed: its last block's key signs the whole, and nothing can be appended.
    /// - Throws: `.alreadySealed` for a sealed token.
    public func sealed() throws(BiscuitError) -> Token {
        guard let signer = nextSecret else { throw .alreadySealed }
        let last = message.blocks.last ?? message.authority
        let lastKey = try BlockReader.publicKey(last.nextKey, isNextKey: true)
        let signature = try signer.sign(SignaturePayload.seal(block: last.block, nextKey: lastKey, signature: last.signature))
        var message = self.message
        message.proof = .finalSignature(signature)
        return Token(message: message, blocks: blocks, symbols: symbols, keys: keys, nextSecret: nil, rootKey: rootKey)
    }

    // MARK: - Third-party blocks

    /// What a third party needs to sign a block for this token: the last block's signature.
    /// - Throws: `.appendOnSealed` for a sealed token.
    public func thirdPartyRequest() throws(BiscuitError) -> ThirdPartyRequest {
        guard nextSecret != nil else { throw .appendOnSealed }
        return ThirdPartyRequest(previousSignature: (message.blocks.last ?? message.authority).signature)
    }

    /// The token with a third party's block appended: `contents` signed by `externalKey`'s
    /// private half for this token (`ThirdPartyRequest.createBlock`).
    /// - Throws: `.alreadySealed`; `.format` when the contents are signed by another key or for
    ///   another token.
    public func appending(thirdParty contents: ThirdPartyBlock, from externalKey: PublicKey, nextKeyAlgorithm: Algorithm = .ed25519)
        throws(BiscuitError) -> Token
    {
        guard let signer = nextSecret else { throw .alreadySealed }
        guard blocks.count < Self.maxBlocks else {
            throw .format(.deserialization("a token has at most \(Self.maxBlocks) blocks"))
        }
        let signingKey = try BlockReader.publicKey(contents.message.externalSignature.publicKey)
        guard signingKey == externalKey else { throw .format(.deserialization("deserialization error: unexpected key \(signingKey)")) }
        let previous = message.blocks.last ?? message.authority
        let payload = SignaturePayload.external(block: contents.message.payload, previousSignature: previous.signature)
        guard try externalKey.verifies(contents.message.externalSignature.signature, of: payload) else {
            throw .format(.invalidSignature("the third party's signature does not verify for this token"))
        }
        var symbols = self.symbols
        var keys = self.keys
        let block = try BlockReader.decode(contents.message.payload, tokenSymbols: &symbols, tokenKeys: &keys, externalKey: externalKey)
        let next = PrivateKey(algorithm: nextKeyAlgorithm)
        let signed = try Self.sign(
            contents.message.payload, version: block.version, signer: signer, nextKey: next.publicKey, previous: previous,
            external: contents.message.externalSignature)
        var message = self.message
        message.blocks.append(signed)
        message.proof = .nextSecret(next.bytes)
        // A third-party block's symbols and keys stay its own: the token's tables do not change.
        return Token(
            message: message, blocks: blocks + [block], symbols: self.symbols, keys: self.keys, nextSecret: next, rootKey: rootKey)
    }

    // MARK: - Signing

    /// Signs a block, choosing the payload version as the reference does: 1 for a third-party
    /// block, a block of version 6, or when the signer or the next key is not Ed25519; else the
    /// highest version of the blocks before it.
    private static func sign(
        _ block: [UInt8], version: UInt32, signer: PrivateKey, nextKey: PublicKey, previous: SignedBlockMessage?,
        external: ExternalSignatureMessage?
    ) throws(BiscuitError) -> SignedBlockMessage {
        var signatureVersion: UInt32 = 0
        if external != nil || version >= 6 || signer.algorithm != .ed25519 || nextKey.algorithm != .ed25519 {
            signatureVersion = 1
        } else if let previous {
            signatureVersion = previous.version ?? 0
        }
        let payload = SignaturePayload.block(
            version: signatureVersion, block: block, nextKey: nextKey,
            previousSignature: signatureVersion == 1 ? previous?.signature : nil, externalSignature: external?.signature)
        return SignedBlockMessage(
            block: block, nextKey: PublicKeyMessage(algorithm: nextKey.algorithm.rawValue, key: nextKey.bytes),
            signature: try signer.sign(payload), externalSignature: external, version: signatureVersion == 0 ? nil : signatureVersion)
    }
}

/// A third party's view of a token it is asked to sign a block for.
public struct ThirdPartyRequest: Hashable, Sendable {
    /// The signature of the token's last block, which the third party's signature binds.
    public let previousSignature: [UInt8]

    /// The request's bytes (`ThirdPartyBlockRequest`).
    public var bytes: [UInt8] {
        ThirdPartyBlockRequestMessage(legacyPreviousKey: nil, legacyPublicKeys: [], previousSignature: previousSignature).encoded()
    }

    /// The request in URL-safe base64.
    public var base64: String { Base64URL.encode(bytes) }

    init(previousSignature: [UInt8]) {
        self.previousSignature = previousSignature
    }

    /// Reads a request.
    public init(bytes: [UInt8]) throws(BiscuitError) {
        let message: ThirdPartyBlockRequestMessage
        do {
            message = try ThirdPartyBlockRequestMessage(decoding: bytes)
        } catch {
            throw .format(.deserialization("\(error)"))
        }
        guard message.legacyPreviousKey == nil, message.legacyPublicKeys.isEmpty else {
            throw .format(.deserialization("public keys were provided in third-party block request"))
        }
        previousSignature = message.previousSignature
    }

    /// Reads a request in base64.
    public init(base64: String) throws(BiscuitError) {
        try self.init(bytes: try Token.decode(base64))
    }

    /// The third party's block, signed with `key` for the token that asked.
    public func createBlock(_ block: Block, signedWith key: PrivateKey) throws(BiscuitError) -> ThirdPartyBlock {
        var writer = BlockWriter(symbols: SymbolTable(), keys: PublicKeyTable())
        let payload = try writer.write(block, thirdParty: true).message.encoded()
        let signature = try key.sign(SignaturePayload.external(block: payload, previousSignature: previousSignature))
        let external = ExternalSignatureMessage(
            signature: signature, publicKey: PublicKeyMessage(algorithm: key.algorithm.rawValue, key: key.publicKey.bytes))
        return ThirdPartyBlock(message: ThirdPartyBlockContentsMessage(payload: payload, externalSignature: external))
    }
}

/// A block a third party signed for a token (`ThirdPartyRequest.createBlock`).
public struct ThirdPartyBlock: Sendable {
    let message: ThirdPartyBlockContentsMessage

    /// The block's bytes (`ThirdPartyBlockContents`).
    public var bytes: [UInt8] { message.encoded() }

    /// The block in URL-safe base64.
    public var base64: String { Base64URL.encode(bytes) }

    init(message: ThirdPartyBlockContentsMessage) {
        self.message = message
    }

    /// Reads a third party's block.
    public init(bytes: [UInt8]) throws(BiscuitError) {
        do {
            message = try ThirdPartyBlockContentsMessage(decoding: bytes)
        } catch {
            throw .format(.deserialization("\(error)"))
        }
    }

    /// Reads a third party's block in base64.
    public init(base64: String) throws(BiscuitError) {
        try self.init(bytes: try Token.decode(base64))
    }

    /// The key that signed the block, as the block says (checked when it is appended).
    public var externalKey: PublicKey {
        get throws(BiscuitError) { try BlockReader.publicKey(message.externalSignature.publicKey) }
    }
}
