@testable import PolicyModel
import Testing

@Suite struct CommandCodecTests {
    static let commands: [Command] = [
        .createOrganization(name: name("acme")),
        .setOrganizationSuspended(name: name("acme"), suspended: true),
        .deleteOrganization(name: name("acme"), force: true),
        .createProject(organization: name("acme"), name: name("web")),
        .deleteProject(organization: name("acme"), name: name("web"), force: false),
        .createPrincipal(principal("acme", "alice"), kind: .serviceAccount),
        .deletePrincipal(principal("acme", "alice"), force: true),
        .createRole(organization: name("acme"), name: name("deployer"), permissions: [permission("compute.*.create"), permission("iam.audit.read")]),
        .updateRole(organization: name("acme"), name: name("deployer"), permissions: [permission("*.*.get")]),
        .deleteRole(organization: name("acme"), name: name("deployer"), force: false),
        .createBinding(id: id(1), principal: principal("acme", "alice"), role: .builtIn(.organizationAdmin), scope: .organization(name("acme"))),
        .createBinding(id: id(2), principal: principal("acme", "alice"), role: .custom(organization: name("acme"), name: name("deployer")), scope: .project(organization: name("acme"), project: name("web"))),
        .createBinding(id: id(3), principal: principal("system", "root"), role: .builtIn(.systemAdmin), scope: .cluster),
        .deleteBinding(id: id(1)),
        .createAPIKey(id: id(4), principal: principal("acme", "alice"), secretHash: Array(repeating: 7, count: 32)),
        .revokeAPIKey(id: id(4)),
        .addRootKey(id: id(5), publicKey: Array(repeating: 1, count: 32), sealedPrivateKey: Array(repeating: 2, count: 60)),
        .activateRootKey(id: id(5)),
        .retireRootKey(id: id(5)),
        .bootstrap(
            admin: AdministratorKey(keyID: id(6), secretHash: Array(repeating: 3, count: 32), bindingID: id(7)),
            rootKey: RootKeyMaterial(id: id(8), publicKey: Array(repeating: 4, count: 32), sealedPrivateKey: Array(repeating: 5, count: 60))),
        .breakGlass(admin: AdministratorKey(keyID: id(9), secretHash: Array(repeating: 6, count: 32), bindingID: id(10))),
        .recordDenial(
            DeniedAccess(
                principal: principal("acme", "alice"), permission: permission("iam.roles.update"),
                scope: .project(organization: name("acme"), project: name("web")), reason: .cannotGrant, count: 300)),
        .revokeTokens(ids: [Array(repeating: 9, count: 64), [1]], organization: name("acme"), reason: "leaked in a log", expiresAt: Timestamp(millisecondsSinceEpoch: 1_700_003_600_000)),
        .revokeTokens(ids: [Array(repeating: 8, count: 128)], organization: nil, reason: "", expiresAt: Timestamp(millisecondsSinceEpoch: -5)),
        .revokeTokenEpoch(.principal(principal("acme", "alice")), reason: "left", expiresAt: Timestamp(millisecondsSinceEpoch: 7)),
        .revokeTokenEpoch(.organization(name("acme")), reason: "compromised", expiresAt: Timestamp(millisecondsSinceEpoch: 8)),
        .revokeTokenEpoch(.id([3, 4]), reason: "", expiresAt: Timestamp(millisecondsSinceEpoch: 9)),
        .expireRevocations,
        .setPeerAddress(replica: 4, address: "[fd00::4]:7001", autoPromote: true),
        .setPeerAddress(replica: UInt64.max, address: "rampart-5.internal:7001", autoPromote: false),
        .removePeerAddress(replica: 4),
    ]

    static func envelope(_ command: Command) -> CommandEnvelope {
        CommandEnvelope(
            command: command, actor: principal("acme", "alice"), requestID: "r-1", idempotencyKey: "k-1",
            expectedRevision: 42, time: Timestamp(millisecondsSinceEpoch: 1_700_000_000_123))
    }

    @Test(arguments: commands)
    func everyCommandRoundTrips(_ command: Command) throws {
        let envelope = Self.envelope(command)
        let bytes = CommandCodec.encode(envelope)
        #expect(try CommandCodec.decode(bytes) == envelope)
        #expect(CommandCodec.encode(envelope) == bytes, "encoding must be deterministic")
    }

    @Test func optionalFieldsRoundTripWhenAbsent() throws {
        let envelope = CommandEnvelope(
            command: .createOrganization(name: name("acme")), actor: nil, requestID: "bootstrap",
            time: Timestamp(millisecondsSinceEpoch: -5))
        #expect(try CommandCodec.decode(CommandCodec.encode(envelope)) == envelope)
    }

    // Golden bytes: the log format must never change silently.
    @Test func encodingMatchesGoldenBytes() {
        let envelope = CommandEnvelope(
            command: .createProject(organization: name("acme"), name: name("web")), actor: principal("acme", "al"),
            requestID: "r", idempotencyKey: nil, expectedRevision: 300, time: Timestamp(millisecondsSinceEpoch: 1))
        let expected: [UInt8] = [
            0x01,  // version
            0x02,  // time 1, zig-zag
            0x01, 0x04, 0x61, 0x63, 0x6D, 0x65, 0x02, 0x61, 0x6C,  // actor acme/al
            0x01, 0x72,  // request id "r"
            0x00,  // no idempotency key
            0x01, 0xAC, 0x02,  // expected revision 300
            0x04,  // createProject
            0x04, 0x61, 0x63, 0x6D, 0x65, 0x03, 0x77, 0x65, 0x62,  // acme, web
        ]
        #expect(CommandCodec.encode(envelope) == expected)
    }

    // Every truncation of every command is an error, never a crash or a different command.
    @Test(arguments: commands)
    func everyTruncationIsRejected(_ command: Command) {
        let bytes = CommandCodec.encode(Self.envelope(command))
        for length in 0..<bytes.count {
            #expect(throws: CommandDecodingError.self) { try CommandCodec.decode(Array(bytes[0..<length])) }
        }
    }

    @Test func malformedEncodingsAreRejectedWithTheirReason() {
        let good = CommandCodec.encode(Self.envelope(.createOrganization(name: name("acme"))))
        var wrongVersion = good
        wrongVersion[0] = 9
        #expect(throws: CommandDecodingError.unsupportedVersion(9)) { try CommandCodec.decode(wrongVersion) }
        #expect(throws: CommandDecodingError.trailingBytes(1)) { try CommandCodec.decode(good + [0]) }
        #expect(throws: CommandDecodingError.oversized(70_000)) { try CommandCodec.decode(Array(repeating: 1, count: 70_000)) }
        var unknownTag = ByteWriter()
        unknownTag.byte(1)
        unknownTag.signed(0)
        unknownTag.byte(0)
        unknownTag.string("r")
        unknownTag.byte(0)
        unknownTag.byte(0)
        unknownTag.varint(99)
        #expect(throws: CommandDecodingError.unknownCommand(99)) { try CommandCodec.decode(unknownTag.bytes) }
        var badName = unknownTag
        badName.bytes.removeLast()
        badName.varint(1)
        badName.string("ACME")
        #expect(throws: CommandDecodingError.invalidField("name")) { try CommandCodec.decode(badName.bytes) }
        var suspended = CommandCodec.encode(Self.envelope(.setOrganizationSuspended(name: name("acme"), suspended: true)))
        suspended[suspended.count - 1] = 2
        #expect(throws: CommandDecodingError.invalidField("suspended")) { try CommandCodec.decode(suspended) }
    }

    @Test func nonMinimalVarintIsRejected() {
        // Time 0 written as two bytes (0x80 0x00) instead of one.
        let bytes: [UInt8] = [0x01, 0x80, 0x00, 0x00, 0x01, 0x72, 0x00, 0x00, 0x01, 0x04, 0x61, 0x63, 0x6D, 0x65]
        #expect(throws: CommandDecodingError.invalidField("time")) { try CommandCodec.decode(bytes) }
    }

    @Test func randomBytesNeverCrashTheDecoder() {
        var generator = SplitMix(state: 99)
        var accepted = 0
        for _ in 0..<20_000 {
            let length = Int(generator.next() % 64)
            let bytes = [UInt8(1)] + (0..<length).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            if (try? CommandCodec.decode(bytes)) != nil { accepted += 1 }
        }
        #expect(accepted < 20_000)
    }
}

/// A tiny deterministic generator for the tests' random operations (the same on every run).
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
