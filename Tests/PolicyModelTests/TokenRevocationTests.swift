@testable import PolicyModel
import Testing

/// Token revocations in the state machine: by revocation id, by principal or organization
/// (tokens issued up to the revocation's second), their expiry, and who may revoke.
@Suite struct TokenRevocationTests {
    static let later = Timestamp(millisecondsSinceEpoch: 1_700_003_600_000)
    static let leaked: [UInt8] = Array(repeating: 7, count: 64)

    /// Seconds since 1970 of `applier`'s clock, plus `delta`, as a token's issue time.
    static func issued(_ applier: Applier, _ delta: Int64 = 0) -> Timestamp {
        Timestamp(millisecondsSinceEpoch: (applier.time / 1000 + delta) * 1000)
    }

    @Test func aRevokedIDRefusesEveryTokenThatCarriesIt() {
        var applier = Applier.tenants()
        let alice = principal("acme", "alice")
        #expect(applier.state.tokenRevocation(ids: [Self.leaked], principal: alice, issuedAt: Self.issued(applier)) == nil)
        let outcome = applier.succeed(.revokeTokens(ids: [Self.leaked], organization: name("acme"), reason: "leaked", expiresAt: Self.later))
        let reason = applier.state.tokenRevocation(ids: [[1], Self.leaked], principal: alice, issuedAt: Self.issued(applier))
        #expect(reason?.contains("leaked") == true && reason?.contains("\(outcome.revision)") == true)
        #expect(applier.state.tokenRevocation(ids: [[1]], principal: alice, issuedAt: Self.issued(applier)) == nil)
        #expect(applier.state.revocations(after: 0).map(\.target) == [.id(Self.leaked)])
        #expect(applier.state.revocations(after: outcome.revision).isEmpty)
    }

    @Test func anEpochRevokesTokensIssuedUpToItsSecondOnly() {
        var applier = Applier.tenants()
        let alice = principal("acme", "alice")
        let bob = principal("acme", "bob")
        let issuedBefore = Self.issued(applier, -10)
        applier.succeed(.revokeTokenEpoch(.principal(alice), reason: "left", expiresAt: Self.later))
        #expect(applier.state.tokenRevocation(ids: [], principal: alice, issuedAt: issuedBefore) != nil)
        #expect(applier.state.tokenRevocation(ids: [], principal: alice, issuedAt: Self.issued(applier)) != nil, "the same second")
        #expect(applier.state.tokenRevocation(ids: [], principal: alice, issuedAt: Self.issued(applier, 1)) == nil, "issued after")
        #expect(applier.state.tokenRevocation(ids: [], principal: bob, issuedAt: issuedBefore) == nil, "another principal")
        applier.succeed(.revokeTokenEpoch(.organization(name("acme")), reason: "compromised", expiresAt: Self.later))
        #expect(applier.state.tokenRevocation(ids: [], principal: bob, issuedAt: issuedBefore)?.contains("organization acme") == true)
        #expect(applier.state.tokenRevocation(ids: [], principal: principal("globex", "eve"), issuedAt: issuedBefore) == nil)
    }

    @Test func revocationsExpireAndRaiseTheFeedsFloor() {
        var applier = Applier.tenants()
        let soon = Timestamp(millisecondsSinceEpoch: applier.time + 1000)
        let first = applier.succeed(.revokeTokens(ids: [[1]], organization: nil, reason: "", expiresAt: soon))
        let second = applier.succeed(.revokeTokens(ids: [[2]], organization: nil, reason: "", expiresAt: Self.later))
        #expect(applier.state.revocationExpiry(at: Timestamp(millisecondsSinceEpoch: applier.time)) == nil, "nothing due yet")
        applier.time = soon.millisecondsSinceEpoch
        let due = applier.state.revocationExpiry(at: soon)
        #expect(due?.command == .expireRevocations && due?.actor == nil)
        applier.succeed(.expireRevocations)
        #expect(applier.state.allRevocations.map(\.target) == [.id([2])])
        #expect(applier.state.revocationFloor == first.revision && first.revision < second.revision)
        // Revoked again later: kept until the later expiry.
        applier.succeed(.revokeTokens(ids: [[2]], organization: nil, reason: "again", expiresAt: Timestamp(millisecondsSinceEpoch: applier.time + 1)))
        #expect(applier.state.allRevocations.first?.expiresAt == Self.later)
    }

    @Test func badRevocationsAreRefusedAndChangeNothing() {
        var applier = Applier.tenants()
        let before = applier.state.allRevocations
        let cases: [(Command, String)] = [
            (.revokeTokens(ids: [], organization: nil, reason: "", expiresAt: Self.later), "invalid_argument"),
            (.revokeTokens(ids: Array(repeating: [1], count: 65), organization: nil, reason: "", expiresAt: Self.later), "invalid_argument"),
            (.revokeTokens(ids: [Array(repeating: 1, count: 129)], organization: nil, reason: "", expiresAt: Self.later), "invalid_argument"),
            (.revokeTokens(ids: [[]], organization: nil, reason: "", expiresAt: Self.later), "invalid_argument"),
            (.revokeTokens(ids: [[1]], organization: name("nowhere"), reason: "", expiresAt: Self.later), "not_found"),
            (.revokeTokens(ids: [[1]], organization: nil, reason: String(repeating: "x", count: 513), expiresAt: Self.later), "invalid_argument"),
            (.revokeTokens(ids: [[1]], organization: nil, reason: "", expiresAt: Timestamp(millisecondsSinceEpoch: 0)), "invalid_argument"),
            (.revokeTokenEpoch(.principal(principal("acme", "nobody")), reason: "", expiresAt: Self.later), "not_found"),
            (.revokeTokenEpoch(.organization(name("nowhere")), reason: "", expiresAt: Self.later), "not_found"),
            (.revokeTokenEpoch(.id([1]), reason: "", expiresAt: Self.later), "invalid_argument"),
        ]
        for (command, code) in cases {
            #expect(applier.apply(command).rejection?.code == code, "\(command)")
        }
        #expect(applier.state.allRevocations == before)
        // Duplicate ids in one command are one revocation.
        applier.succeed(.revokeTokens(ids: [[1], [1]], organization: nil, reason: "", expiresAt: Self.later))
        #expect(applier.state.allRevocations.count == 1)
    }

    @Test func revokingNeedsTheRightWhereTheTokensAre() {
        var applier = Applier.tenants()
        let alice = principal("acme", "alice")
        applier.succeed(.createBinding(id: id(50), principal: alice, role: .builtIn(.organizationAdmin), scope: .organization(name("acme"))))
        let ownOrganization = applier.apply(.revokeTokenEpoch(.principal(principal("acme", "bob")), reason: "", expiresAt: Self.later), actor: alice)
        #expect(ownOrganization.rejection == nil)
        #expect(applier.apply(.revokeTokens(ids: [[1]], organization: name("acme"), reason: "", expiresAt: Self.later), actor: alice).rejection == nil)
        let elsewhere = applier.apply(.revokeTokenEpoch(.organization(name("globex")), reason: "", expiresAt: Self.later), actor: alice)
        #expect(elsewhere.rejection?.code == "forbidden")
        let bare = applier.apply(.revokeTokens(ids: [[2]], organization: nil, reason: "", expiresAt: Self.later), actor: alice)
        #expect(bare.rejection?.code == "forbidden", "bare ids need the right on the cluster")
        #expect(applier.apply(.expireRevocations, actor: alice).rejection?.code == "forbidden", "only the cluster expires them")
    }
}
