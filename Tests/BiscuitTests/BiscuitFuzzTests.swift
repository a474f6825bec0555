import Foundation
import Testing

@testable import Biscuit

/// Fuzzing of the verifier and the Datalog parser from seeds: tokens (the reference's samples
/// and tokens this library makes) and Datalog texts, mutated (bytes flipped, inserted, deleted,
/// duplicated, spliced) and run through `Token(bytes:)`, `Token(unverifiedBytes:)`, the
/// authorizer and the parser. Any error is fine; a crash, a hang, or a broken invariant is not:
/// a mutated token that still verifies under the root key holds exactly a genuine token's
/// Datalog (a mutation never changes what the signatures cover), and text that parses prints
/// as text that parses back to the same statements.
///
/// The seed is fixed, so a failure replays; `BISCUIT_FUZZ_ITERATIONS` sets how many inputs each
/// target tries (CI: the default, a few thousand; a long run: millions, in release).
@Suite struct BiscuitFuzzTests {
    static let iterations = ProcessInfo.processInfo.environment["BISCUIT_FUZZ_ITERATIONS"].flatMap(Int.init) ?? 3000
    static let seed = ProcessInfo.processInfo.environment["BISCUIT_FUZZ_SEED"].flatMap(UInt64.init) ?? 20_261_207

    static let root = PrivateKey()

    /// Valid tokens to mutate: ours (v3 and v6 blocks, P-256, sealed, third-party) and the samples.
    static let corpus: [[UInt8]] = {
        var tokens: [[UInt8]] = []
        do {
            let authority = try Block(code: #"user("alice"); right("alice", "f", "read"); check if time($t), $t < 2030-01-01T00:00:00Z;"#)
            let token = try Token(authority: authority, rootKey: root)
            tokens.append(token.bytes)
            let v6 = try token.appending(try Block(code: #"check if operation($o), $o == "read" || [1, 2].any($x -> $x > 1);"#))
            tokens.append(v6.bytes)
            tokens.append(try v6.sealed().bytes)
            tokens.append(try Token(authority: authority, rootKey: PrivateKey(algorithm: .secp256r1), nextKeyAlgorithm: .secp256r1).bytes)
            let third = PrivateKey()
            let request = try token.thirdPartyRequest()
            tokens.append(try token.appending(thirdParty: try request.createBlock(try Block(code: "group(\"x\");"), signedWith: third), from: third.publicKey).bytes)
        } catch {
            preconditionFailure("fuzz corpus: \(error)")
        }
        let folder = ConformanceTests.folder
        for file in (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [] where file.hasSuffix(".bc") {
            if let data = FileManager.default.contents(atPath: folder.appendingPathComponent(file).path) { tokens.append(Array(data)) }
        }
        return tokens
    }()

    static let texts: [String] = [
        #"user("alice"); right("alice", "f", "read");"#,
        #"check if time($t), $t < 2030-01-01T00:00:00Z, resource($r), $r.starts_with("/a") && $r.length() < 10;"#,
        #"head($x, $y) <- body($x), other($y, {1, 2}), [1, "a", null].contains($x) trusting authority, previous;"#,
        #"reject if a($x), $x.type() == "string" || {"k": [1, 2]}.get("k").get(0) === 1;"#,
        #"allow if a(1) or b(hex:00ff, true, 2020-01-01T00:00:00+02:00); deny if c($x), !($x % 2 == 0);"#,
        #"check all x($v), $v.all($p -> $p > 0), "x".matches("^[a-z]+$"), 1.try_or(2) === 1;"#,
    ]

    static func mutate(_ bytes: [UInt8], _ generator: inout FormatTestRandom) -> [UInt8] {
        var result = bytes
        for _ in 0..<Int.random(in: 1...4, using: &generator) {
            switch Int.random(in: 0..<5, using: &generator) {
            case 0 where !result.isEmpty:
                result[Int.random(in: 0..<result.count, using: &generator)] ^= 1 << UInt8.random(in: 0..<8, using: &generator)
            case 1:
                result.insert(UInt8.random(in: 0...255, using: &generator), at: Int.random(in: 0...result.count, using: &generator))
            case 2 where !result.isEmpty:
                result.remove(at: Int.random(in: 0..<result.count, using: &generator))
            case 3 where result.count > 2:
                let start = Int.random(in: 0..<result.count - 1, using: &generator)
                let end = Int.random(in: start..<min(result.count, start + 32), using: &generator)
                result.insert(contentsOf: result[start...end], at: Int.random(in: 0...result.count, using: &generator))
            case 4:
                let other = corpus[Int.random(in: 0..<corpus.count, using: &generator)]
                let cut = Int.random(in: 0...result.count, using: &generator)
                let from = Int.random(in: 0...other.count, using: &generator)
                result = Array(result[..<cut]) + Array(other[from...])
            default:
                break
            }
        }
        return result
    }

    @Test func theVerifierSurvivesMutatedTokens() throws {
        var generator = FormatTestRandom(seed: Self.seed)
        var accepted = 0
        var authorized = 0
        var verified = 0
        // The Datalog of the genuine tokens signed by `root` (the P-256 one and the samples have
        // their own roots).
        let ours = Self.corpus.compactMap { try? Token(bytes: $0, rootKey: Self.root.publicKey) }
        try #require(ours.count == 4, "the corpus's tokens signed by root must verify")
        let genuine = Set(ours.map { $0.blocks.map(\.source) })
        var builder = AuthorizerBuilder()
        builder.limits = RunLimits(maxFacts: 1000, maxIterations: 50, maxTime: .milliseconds(50))
        builder.policies = [Policy(kind: .allow, queries: [.query(body: [])])]
        func attempt(_ input: [UInt8]) {
            if let token = try? Token(unverifiedBytes: input) {
                accepted += 1
                if (try? builder.authorize(token)) != nil { authorized += 1 }
            }
            if let token = try? Token(bytes: input, rootKey: Self.root.publicKey) {
                verified += 1
                #expect(genuine.contains(token.blocks.map(\.source)), "a mutated token verified with Datalog no genuine token has")
            }
        }
        // An unknown envelope field (15, varint) is skipped, so these four still verify: the
        // invariant is exercised on every run, whatever the random mutations hit.
        for bytes in Self.corpus { attempt(bytes + [0x78, 0x01]) }
        try #require(verified == 4, "an unknown envelope field is skipped")
        for _ in 0..<Self.iterations {
            attempt(Self.mutate(Self.corpus[Int.random(in: 0..<Self.corpus.count, using: &generator)], &generator))
        }
        print(
            "verifier fuzz: \(Self.iterations) inputs from seed \(Self.seed); \(accepted) read unverified, \(authorized) authorized, "
                + "\(verified) verified")
    }

    @Test func theParserSurvivesMutatedText() {
        var generator = FormatTestRandom(seed: Self.seed ^ 0x5EED)
        var parsed = 0
        for _ in 0..<Self.iterations {
            let text = Self.texts[Int.random(in: 0..<Self.texts.count, using: &generator)]
            let bytes = Self.mutate(Array(text.utf8), &generator)
            let mutated = String(decoding: bytes, as: UTF8.self)
            if let source = try? DatalogParser.parseAuthorizer(mutated) {
                parsed += 1
                let printed = DatalogPrinter.authorizer(facts: source.facts, rules: source.rules, checks: source.checks, policies: source.policies)
                let again = try? DatalogParser.parseAuthorizer(printed)
                #expect(again == source, "printed as \(printed.debugDescription), which does not parse back the same")
            }
            _ = try? DatalogParser.parseBlock(mutated)
        }
        print("parser fuzz: \(Self.iterations) texts from seed \(Self.seed ^ 0x5EED); \(parsed) parsed")
    }
}
