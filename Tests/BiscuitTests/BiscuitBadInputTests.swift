import Foundation
import Testing

@testable import Biscuit

/// Hostile tokens and Datalog: every truncation, flipped bits, random bytes, oversized tokens,
/// deep nesting, huge sets, pathological patterns. Each is a typed error within the limits,
/// never a crash or a hang.
@Suite struct BiscuitBadInputTests {
    static let root = PrivateKey()

    static let token: Token = {
        do {
            let authority = try Block(code: """
                user("alice"); right("alice", "file1", "read");
                check if time($t), $t < 2030-01-01T00:00:00Z;
                """)
            return try Token(authority: authority, rootKey: root)
                .appending(try Block(code: #"check if operation($op), ["read", "list"].contains($op);"#))
                .appending(try Block(code: #"check if resource($r), $r.starts_with("file") || $r == "x";"#))
        } catch {
            preconditionFailure("fixture token: \(error)")
        }
    }()

    @Test func everyTruncationIsAnError() {
        let bytes = Self.token.bytes
        for length in 0..<bytes.count {
            #expect(throws: BiscuitError.self, "\(length) bytes") { try Token(bytes: Array(bytes.prefix(length)), rootKey: Self.root.publicKey) }
        }
    }

    /// A flipped bit anywhere is refused (a signature no longer verifies, or the envelope no
    /// longer decodes), except in the few bytes no signature covers and that decode to the same
    /// meaning; none of them crashes.
    @Test func flippedBitsAreRefused() throws {
        let bytes = Self.token.bytes
        var accepted = 0
        for index in bytes.indices {
            for bit in 0..<8 {
                var flipped = bytes
                flipped[index] ^= 1 << UInt8(bit)
                do {
                    let read = try Token(bytes: flipped, rootKey: Self.root.publicKey)
                    // Accepted only if nothing that matters changed: same blocks, same ids.
                    #expect(read.blocks == Self.token.blocks && read.revocationIDs == Self.token.revocationIDs, "byte \(index) bit \(bit)")
                    accepted += 1
                } catch {
                    continue
                }
            }
        }
        #expect(accepted < bytes.count, "almost every flip is refused (\(accepted) accepted of \(bytes.count * 8))")
    }

    @Test func randomBytesAreRefused() {
        var generator = FormatTestRandom(seed: 17)
        for round in 0..<5000 {
            let bytes = (0..<Int.random(in: 0..<400, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            #expect(throws: BiscuitError.self, "round \(round)") { try Token(bytes: bytes, rootKey: Self.root.publicKey) }
        }
        #expect(throws: BiscuitError.self) { try Token(base64: "not base64!", rootKey: Self.root.publicKey) }
    }

    @Test func anOversizedTokenIsRefusedBeforeItIsDecoded() {
        let bytes = [UInt8](repeating: 0x0A, count: Token.maxBytes + 1)
        #expect(throws: BiscuitError.format(.tooLarge(limit: Token.maxBytes))) { try Token(bytes: bytes, rootKey: Self.root.publicKey) }
    }

    @Test func deeplyNestedDatalogIsAParseError() {
        let deep = "check if " + String(repeating: "(", count: 10_000) + "true" + String(repeating: ")", count: 10_000) + ";"
        #expect(throws: BiscuitError.self) { try Block(code: deep) }
        let deepArray = "a(" + String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000) + ");"
        #expect(throws: BiscuitError.self) { try Block(code: deepArray) }
    }

    /// A huge set and a rule that multiplies facts stop at the limits with their own errors.
    @Test func limitsStopRunawayAuthorization() throws {
        let elements = (0..<5000).map(String.init).joined(separator: ", ")
        let block = try Block(code: "check if {\(elements)}.contains(4999);")
        let token = try Token(authority: block, rootKey: Self.root)
        var builder = AuthorizerBuilder()
        try builder.add(code: "allow if true;")
        builder.limits = RunLimits(maxFacts: 1000, maxIterations: 100, maxTime: .seconds(5))
        #expect(try builder.authorize(try Token(bytes: token.bytes, rootKey: Self.root.publicKey)) == 0)
        // A chain of 200 edges and its transitive closure: 200 rounds, 20,000 facts.
        let edges = (0..<200).map { "edge(\($0), \($0 + 1));" }.joined(separator: " ")
        let closure = edges + " path($x, $y) <- edge($x, $y); path($x, $z) <- path($x, $y), edge($y, $z); allow if true;"
        func run(_ limits: RunLimits) throws -> BiscuitError? {
            var builder = AuthorizerBuilder()
            try builder.add(code: closure)
            builder.limits = limits
            do {
                _ = try builder.authorize(nil)
                return nil
            } catch {
                return error
            }
        }
        #expect(try run(RunLimits(maxFacts: 1_000_000, maxIterations: 50, maxTime: .seconds(30))) == .runLimit(.tooManyIterations))
        #expect(try run(RunLimits(maxFacts: 300, maxIterations: 1000, maxTime: .seconds(30))) == .runLimit(.tooManyFacts))
        #expect(try run(RunLimits(maxFacts: 1_000_000, maxIterations: 1000, maxTime: .milliseconds(1))) == .runLimit(.timeout))
    }

    /// A holder writes the patterns of its attenuation blocks: a pattern that makes a
    /// backtracking engine take exponential time is linear here.
    @Test func catastrophicPatternsStayFast() throws {
        let text = String(repeating: "a", count: 20_000) + "b"
        let block = try Block(code: #"check if resource($r), $r.matches("(a+)+$");"#)
        let token = try Token(authority: block, rootKey: Self.root)
        var builder = AuthorizerBuilder()
        try builder.add(code: "resource(\"\(text)\"); allow if true;")
        builder.limits = RunLimits(maxFacts: 1000, maxIterations: 100, maxTime: .seconds(10))
        let started = ContinuousClock.now
        // The text ends in "b": no match, so the check fails, at once.
        #expect(throws: BiscuitError.self) { try builder.authorize(token) }
        let elapsed = ContinuousClock.now - started
        print("(a+)+$ against \(text.utf8.count) bytes: \(elapsed)")
        #expect(elapsed < .seconds(10), "a safety net only: the engine is linear")
    }

    @Test func expressionErrorsAreTyped() throws {
        func result(_ check: String) throws -> BiscuitError? {
            let token = try Token(authority: try Block(code: check), rootKey: Self.root)
            var builder = AuthorizerBuilder()
            try builder.add(code: "allow if true;")
            do {
                _ = try builder.authorize(token)
                return nil
            } catch {
                return error
            }
        }
        #expect(try result("check if 9223372036854775807 + 1 === 0;") == .execution(.overflow))
        #expect(try result("check if -9223372036854775807 - 2 === 0;") == .execution(.overflow))
        #expect(try result("check if 1 / 0 === 0;") == .execution(.divideByZero))
        #expect(try result("check if 1 === \"a\";") == .execution(.invalidType))
        #expect(try result("check if 1 == \"a\";")?.name == "FailedLogic.Unauthorized", "lenient equality is false, not an error")
        #expect(try result("check if true.extern::nope();") == .execution(.undefinedExtern("nope")))
        #expect(try result("check if [1].any($p -> [2].any($p -> true));") == .execution(.shadowedVariable))
    }
}
