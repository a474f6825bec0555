import Testing

@testable import Biscuit

/// Making, attenuating, sealing and reading tokens; third-party blocks; P-256 keys.
@Suite struct TokenTests {
    static let authority = """
        user("alice");
        right("alice", "file1", "read");
        right("alice", "file1", "write");
        check if time($t), $t < 2030-01-01T00:00:00Z;
        """

    static func authorizer(_ code: String) throws -> AuthorizerBuilder {
        var builder = AuthorizerBuilder()
        try builder.add(code: code)
        builder.limits = RunLimits(maxFacts: 1000, maxIterations: 100, maxTime: .seconds(1))
        return builder
    }

    static let request = """
        time(2026-12-07T00:00:00Z); resource("file1"); operation("read");
        allow if user($u), right($u, "file1", "read");
        """

    @Test func aTokenRoundTripsThroughItsBytesAndBase64() throws {
        let root = PrivateKey()
        let token = try Token(authority: try Block(code: Self.authority), rootKey: root, rootKeyID: 7)
        let read = try Token(base64: token.base64, rootKey: root.publicKey)
        #expect(read.rootKeyID == 7)
        #expect(read.revocationIDs == token.revocationIDs)
        #expect(read.blocks.map(\.source) == token.blocks.map(\.source))
        #expect(read.blocks[0].version == 3 && read.signatureVersions == [0])
        #expect(try Self.authorizer(Self.request).authorize(read) == 0)
        #expect(!read.isSealed)
    }

    /// A token's Datalog is compiled once and shared by its authorizations: what one
    /// authorizer adds (its symbols, facts, derived facts) never reaches the next, in turn or at
    /// once, and each decides as on a freshly read token.
    @Test func authorizationsOfOneTokenDoNotLeakIntoEachOther() async throws {
        let root = PrivateKey()
        let bytes = try Token(authority: try Block(code: Self.authority), rootKey: root)
            .appending(try Block(code: #"check if operation($op), ["read", "list"].contains($op);"#)).bytes
        let shared = try Token(bytes: bytes, rootKey: root.publicKey)
        let other = Self.request.replacingOccurrences(of: "file1", with: "file2") + #" extra("only in this authorizer");"#
        let cases: [(code: String, allowed: Bool)] = [(Self.request, true), (other, false), (Self.request, true), (other, false)]
        for (code, allowed) in cases {
            let fresh = try Token(bytes: bytes, rootKey: root.publicKey)
            var onShared = try Self.authorizer(code).build(shared)
            var onFresh = try Self.authorizer(code).build(fresh)
            #expect(((try? onShared.authorize()) != nil) == allowed)
            #expect(((try? onFresh.authorize()) != nil) == allowed)
            let sharedFacts = try onShared.snapshot().facts.flatMap(\.facts).map { "\($0)" }.sorted()
            let freshFacts = try onFresh.snapshot().facts.flatMap(\.facts).map { "\($0)" }.sorted()
            #expect(sharedFacts == freshFacts)
            #expect(sharedFacts.contains(#"extra("only in this authorizer")"#) == !allowed)
        }
        let request = try Self.authorizer(Self.request)
        let refused = try Self.authorizer(other)
        let decisions = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<64 {
                group.addTask { (try? (index.isMultiple(of: 2) ? request : refused).authorize(shared)) != nil }
            }
            var allowed = 0
            for await decision in group where decision { allowed += 1 }
            return allowed
        }
        #expect(decisions == 32)
    }

    /// An unsafe rule in a block fails every authorization of the token, the first and the
    /// ones that reuse its compiled Datalog.
    @Test func anUnsafeBlockRuleFailsEveryAuthorization() throws {
        let root = PrivateKey()
        var block = try Block(code: #"check if operation("read");"#)
        block.rules = [Rule(head: Predicate("granted", [.variable("who")]), body: [Predicate("operation", [.string("read")])])]
        let token = try Token(bytes: try Token(authority: try Block(code: Self.authority), rootKey: root).appending(block).bytes, rootKey: root.publicKey)
        for _ in 0..<2 {
            #expect {
                try Self.authorizer(Self.request).authorize(token)
            } throws: { error in
                guard case BiscuitError.failedLogic(.invalidBlockRule(block: 0, _)) = error else { return false }
                return true
            }
        }
    }

    @Test func theRootKeyIDChoosesTheKey() throws {
        let first = PrivateKey()
        let second = PrivateKey()
        let token = try Token(authority: try Block(code: Self.authority), rootKey: second, rootKeyID: 2)
        let keys = [UInt32(1): first.publicKey, 2: second.publicKey]
        #expect(try Token(bytes: token.bytes, rootKey: { keys[$0 ?? 0] }).rootKeyID == 2)
        #expect(throws: BiscuitError.format(.unknownRootKey(2))) { try Token(bytes: token.bytes, rootKey: { _ in nil }) }
        #expect(throws: BiscuitError.self) { try Token(bytes: token.bytes, rootKey: first.publicKey) }
    }

    @Test func anAttenuatedTokenIsOnlyNarrower() throws {
        let root = PrivateKey()
        let token = try Token(authority: try Block(code: Self.authority), rootKey: root)
            .appending(try Block(code: #"check if operation("read");"#))
        let read = try Token(bytes: token.bytes, rootKey: root.publicKey)
        #expect(read.blocks.count == 2 && read.revocationIDs.count == 2)
        #expect(try Self.authorizer(Self.request).authorize(read) == 0)
        var write = try Self.authorizer(Self.request.replacingOccurrences(of: #"operation("read")"#, with: #"operation("write")"#))
        write.policies = [Policy(kind: .allow, queries: [.query(body: [Predicate("user", [.variable("u")])])])]
        #expect(throws: BiscuitError.self) { try write.authorize(read) }
        // A block's facts never reach the authority's checks or the authorizer's policies.
        let forged = try token.appending(try Block(code: #"right("alice", "file2", "read"); user("mallory");"#))
        var file2 = try Self.authorizer(Self.request.replacingOccurrences(of: "file1", with: "file2"))
        file2.limits = RunLimits(maxFacts: 100, maxIterations: 10, maxTime: .seconds(1))
        #expect(throws: BiscuitError.self) { try file2.authorize(try Token(bytes: forged.bytes, rootKey: root.publicKey)) }
    }

    @Test func aSealedTokenVerifiesAndCannotBeAttenuated() throws {
        let root = PrivateKey()
        let sealed = try Token(authority: try Block(code: Self.authority), rootKey: root).sealed()
        let read = try Token(bytes: sealed.bytes, rootKey: root.publicKey)
        #expect(read.isSealed)
        #expect(throws: BiscuitError.alreadySealed) { try read.appending(Block()) }
        #expect(throws: BiscuitError.alreadySealed) { try read.sealed() }
        #expect(throws: BiscuitError.appendOnSealed) { try read.thirdPartyRequest() }
        #expect(try Self.authorizer(Self.request).authorize(read) == 0)
    }

    @Test func blocksWithVersionSixFeaturesAreSignedWithTheSecondPayload() throws {
        let root = PrivateKey()
        let token = try Token(authority: try Block(code: Self.authority), rootKey: root)
            .appending(try Block(code: #"check if operation($op), $op == "read" || $op == "list";"#))
            .appending(try Block(code: #"check if true;"#))
        #expect(token.blocks.map(\.version) == [3, 6, 3])
        #expect(token.signatureVersions == [0, 1, 1], "once a block is signed with v1, every later one is")
        #expect(try Self.authorizer(Self.request).authorize(try Token(bytes: token.bytes, rootKey: root.publicKey)) == 0)
    }

    @Test(arguments: [(Algorithm.secp256r1, Algorithm.ed25519), (.ed25519, .secp256r1), (.secp256r1, .secp256r1)])
    func p256KeysSignAndVerify(root algorithm: Algorithm, next: Algorithm) throws {
        let root = PrivateKey(algorithm: algorithm)
        let token = try Token(authority: try Block(code: Self.authority), rootKey: root, nextKeyAlgorithm: next)
            .appending(try Block(code: #"check if resource("file1");"#), nextKeyAlgorithm: next)
        let read = try Token(bytes: token.bytes, rootKey: root.publicKey)
        #expect(read.signatureVersions == [1, 1])
        #expect(try Self.authorizer(Self.request).authorize(read) == 0)
        #expect(try Token(bytes: try read.sealed().bytes, rootKey: root.publicKey).isSealed)
    }

    @Test func thirdPartyBlocksAreTrustedByTheirKeyOnly() throws {
        let root = PrivateKey()
        let thirdParty = PrivateKey()
        let token = try Token(
            authority: try Block(code: #"right("read"); check if group("admin") trusting {tp};"#, scopeParameters: ["tp": thirdParty.publicKey]),
            rootKey: root)
        let request = try ThirdPartyRequest(base64: try token.thirdPartyRequest().base64)
        let signed = try request.createBlock(try Block(code: #"group("admin");"#), signedWith: thirdParty)
        let extended = try token.appending(thirdParty: try ThirdPartyBlock(bytes: signed.bytes), from: thirdParty.publicKey)
        let read = try Token(bytes: extended.bytes, rootKey: root.publicKey)
        #expect(read.blocks[1].externalKey == thirdParty.publicKey && read.blocks[1].version == 5)
        #expect(read.signatureVersions == [0, 1])
        #expect(try Self.authorizer("allow if right(\"read\");").authorize(read) == 0)
        // The same block signed by another key is refused; the token's own holder cannot make it.
        let other = PrivateKey()
        let forged = try request.createBlock(try Block(code: #"group("admin");"#), signedWith: other)
        #expect(throws: BiscuitError.self) { try token.appending(thirdParty: forged, from: thirdParty.publicKey) }
        let untrusted = try token.appending(thirdParty: forged, from: other.publicKey)
        #expect(throws: BiscuitError.self) {
            try Self.authorizer("allow if right(\"read\");").authorize(try Token(bytes: untrusted.bytes, rootKey: root.publicKey))
        }
        // A block signed for another token is refused.
        let another = try Token(authority: try Block(code: "right(\"read\");"), rootKey: root)
        #expect(throws: BiscuitError.self) { try another.appending(thirdParty: signed, from: thirdParty.publicKey) }
    }

    @Test func revocationIDsAreTheBlocksSignatures() throws {
        let root = PrivateKey()
        let token = try Token(authority: try Block(code: Self.authority), rootKey: root).appending(try Block(code: "check if true;"))
        #expect(token.revocationIDs == [token.message.authority.signature] + token.message.blocks.map(\.signature))
        #expect(Set(token.revocationIDs.map(\.count)) == [64])
    }

    @Test func keysHaveTextForms() throws {
        for algorithm in Algorithm.allCases {
            let key = PrivateKey(algorithm: algorithm)
            #expect(try PrivateKey(key.text).bytes == key.bytes)
            #expect(try PublicKey(key.publicKey.description) == key.publicKey)
        }
        #expect(throws: BiscuitError.self) { try PublicKey("ed25519/00") }
        #expect(throws: BiscuitError.self) { try PublicKey("rsa/" + String(repeating: "00", count: 32)) }
        // 32 bytes that are not a point of the curve (the reference refuses them).
        #expect(throws: BiscuitError.self) { try PublicKey("ed25519/52f22665a60c12d289185d950ee8813609166f6b113d178d6c0fd3901ff239a1") }
        #expect(throws: BiscuitError.self) { try PrivateKey("ed25519-private/1234") }
    }

    /// Ed25519 public keys must be points of the curve; vectors classified by direct
    /// computation of x² = (y² - 1) / (d·y² + 1) and Euler's criterion.
    @Test(arguments: [
        ("52f22665a60c12d289185d950ee8813609166f6b113d178d6c0fd3901ff239a1", false),
        ("a095f20f9395650cf9380b8edb224a6b248a1e924e8fd0ae2e1a9492a3305f18", false),
        ("8cb610900f9e347fae886dc6507795ec745c4c3fcb2eb2c73e14934c867ee057", true),
        ("ba72499bfa121e836b2ac15726ee7d6b0af6ab13c38e92cae0d15057b159987f", false),
        ("94cc7411d717f14579b2aa100fbbb34fa593feaed27248b762e3ab5805f0765a", true),
        ("2b9c1d7e0f37c44921bd3f6564eadf7f142a72668c47e223d16edd8c47b46afc", true),
        ("5baee261f53b26152d263ba83b037cd4962e434801256b885e9c9051f320b0db", false),
        ("57990d1a0091268919f25d9d0612df359d6026a240f4589a5d791f1dd97cfefa", true),
        ("777a7b4f15241abf57bd437ad4b129840534f3f3875c25b08bea06c2874cfaa4", false),
        ("ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", true),
    ])
    func ed25519KeysMustBePointsOfTheCurve(hex: String, valid: Bool) throws {
        #expect(Ed25519Point.isValid(try #require(Hex.decode(hex))) == valid)
    }

    @Test func generatedEd25519KeysArePointsOfTheCurve() {
        for _ in 0..<50 { #expect(Ed25519Point.isValid(PrivateKey().publicKey.bytes)) }
    }
}
