import Testing

@testable import Biscuit

/// The protobuf wire rules: varints, lengths, unknown fields, wire types, required fields,
/// oneofs, packing and merging.
@Suite("Protobuf wire format")
struct ProtobufWireTests {
    typealias B = FormatTestBytes

    /// A valid `PublicKey`: algorithm 0, a 3-byte key.
    static let publicKey: [UInt8] = B.varintField(1, 0) + B.lengthDelimited(2, [1, 2, 3])

    // MARK: - Varints and lengths

    @Test func varintOfElevenBytesIsMalformed() {
        let varint = [UInt8](repeating: 0x80, count: 10) + [0x00]
        #expect(throws: ProtobufError.malformedVarint) { try PredicateMessage(decoding: [0x08] + varint) }
    }

    @Test func varintWithBitsBeyond64IsMalformed() {
        let varint = [UInt8](repeating: 0xFF, count: 9) + [0x02]
        #expect(throws: ProtobufError.malformedVarint) { try PredicateMessage(decoding: [0x08] + varint) }
    }

    @Test func largestVarintDecodes() throws {
        let varint = [UInt8](repeating: 0xFF, count: 9) + [0x01]
        let predicate = try PredicateMessage(decoding: [0x08] + varint)
        #expect(predicate.name == UInt64.max)
        #expect(predicate.encoded() == [0x08] + varint)
    }

    @Test func varintCutShortIsTruncated() {
        #expect(throws: ProtobufError.truncated(field: "Predicate.name")) { try PredicateMessage(decoding: [0x08, 0x80, 0x80]) }
        #expect(throws: ProtobufError.truncated(field: "Predicate tag")) { try PredicateMessage(decoding: [0x88]) }
    }

    @Test func lengthPrefixLargerThanTheInputIsTruncated() {
        let bytes = B.tag(2, 2) + B.varint(100) + [1, 2, 3]
        #expect(throws: ProtobufError.truncated(field: "PublicKey.key")) { try PublicKeyMessage(decoding: bytes) }
        let unknown = B.tag(9, 2) + B.varint(4) + [1, 2, 3]
        #expect(throws: ProtobufError.truncated(field: "PublicKey field 9")) { try PublicKeyMessage(decoding: unknown) }
        let fixed = B.tag(9, 1) + [1, 2, 3, 4, 5, 6, 7]
        #expect(throws: ProtobufError.truncated(field: "PublicKey field 9")) { try PublicKeyMessage(decoding: fixed) }
    }

    @Test func lengthPrefixBeyondIntIsTooLarge() {
        let bytes = B.tag(2, 2) + B.varint(UInt64.max)
        #expect(throws: ProtobufError.tooLarge) { try PublicKeyMessage(decoding: bytes) }
        let justBeyond = B.tag(2, 2) + B.varint(UInt64(Int.max) + 1)
        #expect(throws: ProtobufError.tooLarge) { try PublicKeyMessage(decoding: justBeyond) }
        let largestInt = B.tag(2, 2) + B.varint(UInt64(Int.max))
        #expect(throws: ProtobufError.truncated(field: "PublicKey.key")) { try PublicKeyMessage(decoding: largestInt) }
    }

    // MARK: - Tags and wire types

    @Test func unknownFieldsOfEveryWireTypeAreSkipped() throws {
        let unknown =
            B.varintField(9, 300) + B.tag(10, 1) + [UInt8](repeating: 7, count: 8)
            + B.lengthDelimited(11, [0xFF, 0x00, 0x08]) + B.tag(12, 5) + [1, 2, 3, 4] + B.varintField(536_870_911, 1)
        let key = try PublicKeyMessage(decoding: unknown + Self.publicKey + unknown)
        #expect(key == PublicKeyMessage(algorithm: 0, key: [1, 2, 3]))
        // Unknown fields are dropped: the encoding is the reference's for the known ones.
        #expect(key.encoded() == Self.publicKey)
    }

    @Test func unknownFieldsInsideNestedMessagesAreSkipped() throws {
        let term = B.varintField(2, 5) + B.lengthDelimited(15, [1, 2])
        let predicate = B.varintField(1, 4) + B.lengthDelimited(2, term) + B.tag(3, 5) + [0, 0, 0, 0]
        let fact = B.lengthDelimited(1, predicate) + B.varintField(2, 1)
        let block = B.lengthDelimited(4, fact) + B.varintField(3, 3) + B.lengthDelimited(20, [])
        let decoded = try BlockMessage(decoding: block)
        #expect(decoded.version == 3)
        #expect(decoded.facts == [FactMessage(predicate: PredicateMessage(name: 4, terms: [.integer(5)]))])
    }

    @Test func groupsAreRefused() {
        #expect(throws: ProtobufError.invalidWireType(field: "PublicKey field 9", wire: 3)) {
            try PublicKeyMessage(decoding: Self.publicKey + B.tag(9, 3) + B.tag(9, 4))
        }
        #expect(throws: ProtobufError.invalidWireType(field: "PublicKey field 9", wire: 4)) {
            try PublicKeyMessage(decoding: Self.publicKey + B.tag(9, 4))
        }
    }

    @Test func wireTypesSixAndSevenAreRefused() {
        #expect(throws: ProtobufError.invalidWireType(field: "PublicKey field 1", wire: 6)) {
            try PublicKeyMessage(decoding: B.tag(1, 6))
        }
        #expect(throws: ProtobufError.invalidWireType(field: "PublicKey field 9", wire: 7)) {
            try PublicKeyMessage(decoding: B.tag(9, 7))
        }
    }

    @Test func knownFieldWithTheWrongWireTypeIsRefused() {
        #expect(throws: ProtobufError.invalidWireType(field: "PublicKey.algorithm", wire: 2)) {
            try PublicKeyMessage(decoding: B.lengthDelimited(1, [0]) + B.lengthDelimited(2, []))
        }
        #expect(throws: ProtobufError.invalidWireType(field: "SignedBlock.nextKey", wire: 0)) {
            try SignedBlockMessage(decoding: B.varintField(2, 1))
        }
        #expect(throws: ProtobufError.invalidWireType(field: "OpClosure.params", wire: 5)) {
            try OpMessage(decoding: B.lengthDelimited(4, B.tag(1, 5) + [0, 0, 0, 0]))
        }
    }

    @Test func fieldNumberZeroAndKeysBeyond32BitsAreRefused() {
        #expect(throws: ProtobufError.invalidValue(message: "PublicKey", field: "tag", reason: "field number 0")) {
            try PublicKeyMessage(decoding: [0x00, 0x00])
        }
        #expect(throws: ProtobufError.self) { try PublicKeyMessage(decoding: B.varint(UInt64(UInt32.max) + 1) + [0]) }
    }

    // MARK: - Required fields, oneofs, strings

    @Test func missingRequiredFieldsAreNamed() {
        #expect(throws: ProtobufError.missingRequiredField(message: "PublicKey", field: "key")) {
            try PublicKeyMessage(decoding: B.varintField(1, 0))
        }
        #expect(throws: ProtobufError.missingRequiredField(message: "PublicKey", field: "algorithm")) {
            try PublicKeyMessage(decoding: B.lengthDelimited(2, []))
        }
        #expect(throws: ProtobufError.missingRequiredField(message: "Biscuit", field: "authority")) {
            try BiscuitMessage(decoding: [])
        }
        #expect(throws: ProtobufError.missingRequiredField(message: "Predicate", field: "name")) {
            try FactMessage(decoding: B.lengthDelimited(1, []))
        }
        #expect(throws: ProtobufError.missingRequiredField(message: "Fact", field: "predicate")) { try FactMessage(decoding: []) }
        #expect(throws: ProtobufError.missingRequiredField(message: "OpUnary", field: "kind")) {
            try OpMessage(decoding: B.lengthDelimited(2, B.varintField(2, 5)))
        }
        #expect(throws: ProtobufError.missingRequiredField(message: "MapEntry", field: "value")) {
            try MapEntryMessage(decoding: B.lengthDelimited(1, B.varintField(1, 5)))
        }
        #expect(throws: ProtobufError.missingRequiredField(message: "ThirdPartyBlockContents", field: "externalSignature")) {
            try ThirdPartyBlockContentsMessage(decoding: B.lengthDelimited(1, []))
        }
        #expect(throws: ProtobufError.missingRequiredField(message: "Policy", field: "kind")) { try PolicyMessage(decoding: []) }
    }

    @Test func aOneofWithNoContentIsAnError() {
        #expect(throws: ProtobufError.missingRequiredField(message: "Proof", field: "content")) {
            try ProofMessage(decoding: B.varintField(9, 1))
        }
        #expect(throws: ProtobufError.missingRequiredField(message: "Term", field: "content")) { try TermMessage(decoding: []) }
        #expect(throws: ProtobufError.missingRequiredField(message: "Op", field: "content")) { try OpMessage(decoding: []) }
        #expect(throws: ProtobufError.missingRequiredField(message: "Scope", field: "content")) { try ScopeMessage(decoding: []) }
        #expect(throws: ProtobufError.missingRequiredField(message: "MapKey", field: "content")) { try MapKeyMessage(decoding: []) }
        #expect(throws: ProtobufError.missingRequiredField(message: "Term", field: "content")) {
            try TermMessage(decoding: B.lengthDelimited(7, B.lengthDelimited(1, [])))
        }
    }

    @Test func stringsMustBeUTF8() throws {
        #expect(throws: ProtobufError.invalidValue(message: "Block", field: "symbols", reason: "not UTF-8")) {
            try BlockMessage(decoding: B.lengthDelimited(1, [0x61, 0xFF]))
        }
        #expect(throws: ProtobufError.invalidValue(message: "Block", field: "context", reason: "not UTF-8")) {
            try BlockMessage(decoding: B.lengthDelimited(2, [0xC3]))
        }
        let block = try BlockMessage(decoding: B.lengthDelimited(1, Array("é\t🎉".utf8)))
        #expect(block.symbols == ["é\t🎉"])
    }

    // MARK: - Scalars, packing and merging

    @Test func packedAndUnpackedClosureParametersBothDecode() throws {
        let body = B.lengthDelimited(2, B.lengthDelimited(1, B.varintField(1, 300)))
        let unpacked = B.lengthDelimited(4, B.varintField(1, 5) + B.varintField(1, 1024) + body)
        let packed = B.lengthDelimited(4, B.lengthDelimited(1, B.varint(5) + B.varint(1024)) + body)
        let mixed = B.lengthDelimited(4, B.lengthDelimited(1, B.varint(5)) + body + B.varintField(1, 1024))
        let expected = OpMessage.closure(parameters: [5, 1024], ops: [.value(.variable(300))])
        #expect(try OpMessage(decoding: unpacked) == expected)
        #expect(try OpMessage(decoding: packed) == expected)
        #expect(try OpMessage(decoding: mixed) == expected)
        #expect(try OpMessage(decoding: B.lengthDelimited(4, B.lengthDelimited(1, []))) == .closure(parameters: [], ops: []))
    }

    @Test func closureParametersAreWrittenUnpacked() {
        let closure = OpMessage.closure(parameters: [5, 1024], ops: [.value(.variable(300))])
        let body = B.lengthDelimited(2, B.lengthDelimited(1, B.varintField(1, 300)))
        #expect(closure.encoded() == B.lengthDelimited(4, B.varintField(1, 5) + B.varintField(1, 1024) + body))
    }

    @Test func packedParametersCutInsideAVarintAreTruncated() {
        let packed = B.lengthDelimited(4, B.lengthDelimited(1, [0x05, 0x80]))
        #expect(throws: ProtobufError.truncated(field: "OpClosure.params")) { try OpMessage(decoding: packed) }
    }

    @Test func int64IsTwosComplementNotZigZag() throws {
        let minusOne = [0x10] + [UInt8](repeating: 0xFF, count: 9) + [0x01]
        #expect(TermMessage.integer(-1).encoded() == minusOne)
        #expect(try TermMessage(decoding: minusOne) == .integer(-1))
        #expect(TermMessage.integer(Int64.min).encoded() == [0x10] + [UInt8](repeating: 0x80, count: 9) + [0x01])
        #expect(ScopeMessage.publicKey(-2).encoded() == [0x10, 0xFE] + [UInt8](repeating: 0xFF, count: 8) + [0x01])
    }

    @Test func negativeEnumValuesAreSignExtendedToTenBytes() throws {
        let key = PublicKeyMessage(algorithm: -1, key: [])
        let bytes: [UInt8] = [0x08] + [UInt8](repeating: 0xFF, count: 9) + [0x01, 0x12, 0x00]
        #expect(key.encoded() == bytes)
        #expect(try PublicKeyMessage(decoding: bytes) == key)
    }

    @Test func thirtyTwoBitFieldsKeepTheLowBitsAndBoolIsAnyNonZero() throws {
        let bytes = B.varintField(1, 0x1_0000_0007) + B.lengthDelimited(2, [])
        #expect(try PublicKeyMessage(decoding: bytes).algorithm == 7)
        #expect(try TermMessage(decoding: B.varintField(6, 2)) == .bool(true))
        #expect(try TermMessage(decoding: B.varintField(6, 0)) == .bool(false))
        #expect(try TermMessage(decoding: B.varintField(1, 0x1_0000_0002)) == .variable(2))
    }

    @Test func optionalFieldsAreWrittenOnlyWhenSet() {
        #expect(CheckMessage(queries: [], kind: nil).encoded() == [])
        #expect(CheckMessage(queries: [], kind: 0).encoded() == [0x10, 0x00])
        let block = BlockMessage(symbols: [], context: nil, version: nil, facts: [], rules: [], checks: [], scopes: [], publicKeys: [])
        #expect(block.encoded() == [])
        var withContext = block
        withContext.context = ""
        withContext.version = 0
        #expect(withContext.encoded() == [0x12, 0x00, 0x18, 0x00])
    }

    @Test func requiredFieldsAreAlwaysWritten() {
        #expect(PublicKeyMessage(algorithm: 0, key: []).encoded() == [0x08, 0x00, 0x12, 0x00])
        #expect(PredicateMessage(name: 0, terms: []).encoded() == [0x08, 0x00])
        #expect(PolicyMessage(queries: [], kind: 0).encoded() == [0x10, 0x00])
    }

    @Test func repeatedSingularScalarsKeepTheLastValue() throws {
        let bytes = B.varintField(1, 1) + B.lengthDelimited(2, [9]) + B.varintField(1, 0)
        #expect(try PublicKeyMessage(decoding: bytes) == PublicKeyMessage(algorithm: 0, key: [9]))
        let proof = B.lengthDelimited(1, [1]) + B.lengthDelimited(2, [2])
        #expect(try ProofMessage(decoding: proof) == .finalSignature([2]))
    }

    @Test func repeatedSingularMessagesAreMergedAsProtobufSpecifies() throws {
        // Two occurrences of `Term.set` merge into one set with both elements.
        let first = B.lengthDelimited(7, B.lengthDelimited(1, B.varintField(2, 1)))
        let second = B.lengthDelimited(7, B.lengthDelimited(1, B.varintField(2, 2)))
        #expect(try TermMessage(decoding: first + second) == .set([.integer(1), .integer(2)]))
        // Another member of the oneof in between replaces the set.
        #expect(try TermMessage(decoding: first + B.varintField(2, 3) + second) == .set([.integer(2)]))
        #expect(try TermMessage(decoding: first + B.varintField(2, 3)) == .integer(3))
        // Two occurrences of `SignedBlock.nextKey` merge field by field.
        let signed =
            B.lengthDelimited(1, [0xAA]) + B.lengthDelimited(2, B.varintField(1, 1)) + B.lengthDelimited(3, [0xBB])
            + B.lengthDelimited(2, B.lengthDelimited(2, [0xCC]))
        let decoded = try SignedBlockMessage(decoding: signed)
        #expect(decoded.nextKey == PublicKeyMessage(algorithm: 1, key: [0xCC]))
    }

    // MARK: - Round trips

    @Test(arguments: Self.termSamples)
    func termsRoundTrip(term: TermMessage) throws {
        #expect(try TermMessage(decoding: term.encoded()) == term)
    }

    @Test func everyMessageRoundTrips() throws {
        let key = PublicKeyMessage(algorithm: 1, key: [2, 3, 4])
        let predicate = PredicateMessage(name: 1024, terms: Self.termSamples)
        let ops: [OpMessage] = [
            .value(.integer(1)), .unary(kind: 0, ffiName: nil), .unary(kind: 4, ffiName: 1030),
            .binary(kind: 29, ffiName: nil), .binary(kind: 28, ffiName: 0),
            .closure(parameters: [1025, 1026], ops: [.value(.variable(1025)), .closure(parameters: [], ops: [])]),
        ]
        let rule = RuleMessage(
            head: predicate, body: [predicate, PredicateMessage(name: 0, terms: [])],
            expressions: [ExpressionMessage(ops: ops), ExpressionMessage(ops: [])], scopes: [.scopeType(0), .publicKey(3)])
        let block = BlockMessage(
            symbols: ["a", "", "ü"], context: "ctx", version: 6, facts: [FactMessage(predicate: predicate)], rules: [rule],
            checks: [CheckMessage(queries: [rule], kind: nil), CheckMessage(queries: [], kind: 2)],
            scopes: [.scopeType(1)], publicKeys: [key, key])
        #expect(try BlockMessage(decoding: block.encoded()) == block)
        let external = ExternalSignatureMessage(signature: [9, 9], publicKey: key)
        let signed = SignedBlockMessage(block: block.encoded(), nextKey: key, signature: [1], externalSignature: external, version: 1)
        let token = BiscuitMessage(rootKeyID: 7, authority: signed, blocks: [signed, signed], proof: .finalSignature([5]))
        #expect(try BiscuitMessage(decoding: token.encoded()) == token)
        let policy = PolicyMessage(queries: [rule], kind: 1)
        #expect(try PolicyMessage(decoding: policy.encoded()) == policy)
        let request = ThirdPartyBlockRequestMessage(legacyPreviousKey: key, legacyPublicKeys: [key], previousSignature: [1, 2])
        #expect(try ThirdPartyBlockRequestMessage(decoding: request.encoded()) == request)
        let empty = ThirdPartyBlockRequestMessage(legacyPreviousKey: nil, legacyPublicKeys: [], previousSignature: [])
        #expect(empty.encoded() == [0x1A, 0x00])
        let contents = ThirdPartyBlockContentsMessage(payload: block.encoded(), externalSignature: external)
        #expect(try ThirdPartyBlockContentsMessage(decoding: contents.encoded()) == contents)
    }

    /// One term of every kind, collections included.
    static let termSamples: [TermMessage] = [
        .variable(1024), .integer(0), .integer(-5), .integer(Int64.max), .string(28), .date(1_545_264_000),
        .bytes([]), .bytes([0, 255]), .bool(true), .bool(false), .null, .set([]), .set([.integer(1), .integer(2)]),
        .array([.null, .array([.string(3)])]),
        .map([
            MapEntryMessage(key: .integer(-1), value: .bool(true)),
            MapEntryMessage(key: .string(1025), value: .map([MapEntryMessage(key: .integer(0), value: .null)])),
        ]),
    ]
}
