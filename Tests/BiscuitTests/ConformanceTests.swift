import Foundation
import Testing

@testable import Biscuit

/// The reference implementation's conformance samples (biscuit-auth, `samples/`), read from the
/// folder beside the repository (`../shared/biscuit-samples`, see its SOURCE.md): every
/// validation of every sample token gives the same result (the policy index, or the error's
/// kind and details), the same world (facts, rules and checks by origin, as printed Datalog)
/// and the same revocation ids; every block has the version, symbols, keys and source the
/// sample records. The folder is data of this workplace, not of the repository: where it is
/// missing the tests fail saying so, never pass.
@Suite struct ConformanceTests {
    /// Where the samples are: beside the repository.
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/biscuit-samples")

    /// One sample token and its validations. `@unchecked Sendable`: immutable JSON values,
    /// read once and never changed.
    struct Sample: @unchecked Sendable, CustomTestStringConvertible {
        let title: String
        let file: String
        let blocks: [[String: Any]]
        let validations: [(name: String, validation: [String: Any])]
        var testDescription: String { file }
    }

    nonisolated(unsafe) static var document: [String: Any]? = {
        guard let data = FileManager.default.contents(atPath: folder.appendingPathComponent("samples.json").path) else { return nil }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    }()

    static var samples: [Sample] {
        guard let cases = document?["testcases"] as? [[String: Any]] else { return [] }
        return cases.map { testCase in
            let validations = (testCase["validations"] as? [String: [String: Any]] ?? [:]).sorted { $0.key < $1.key }.map { (name: $0.key, validation: $0.value) }
            return Sample(
                title: testCase["title"] as? String ?? "?", file: testCase["filename"] as? String ?? "?",
                blocks: testCase["token"] as? [[String: Any]] ?? [], validations: validations)
        }
    }

    static var rootKey: PublicKey? {
        guard let hex = document?["root_public_key"] as? String, let bytes = Hex.decode(hex) else { return nil }
        return try? PublicKey(algorithm: .ed25519, bytes: bytes)
    }

    @Test func theSamplesAreThere() {
        let count = Self.samples.count
        if count == 0 {
            Issue.record("no conformance samples: expected samples.json in \(Self.folder.path) (the shared folder beside the repository)")
        }
        #expect(count == 37, "the reference's 37 sample tokens")
        #expect(Self.samples.reduce(0) { $0 + $1.validations.count } == 47, "with their 47 validations")
    }

    @Test(arguments: samples)
    func sampleTokensVerifyAndAuthorizeAsTheReferenceDoes(_ sample: Sample) throws {
        let root = try #require(Self.rootKey)
        let data = try #require(FileManager.default.contents(atPath: Self.folder.appendingPathComponent(sample.file).path))
        let parsed = Result { () throws(BiscuitError) in try Token(bytes: Array(data), rootKey: root) }
        for (name, validation) in sample.validations {
            let label = "\(sample.file) [\(name)]"
            let expected = validation["result"] as? [String: Any] ?? [:]
            let token: Token
            switch parsed {
            case .failure(let error):
                let expectedName = (expected["Err"]).map(Self.errorPath) ?? "Ok"
                #expect(error.name == expectedName, "\(label): \(error)")
                continue
            case .success(let value):
                token = value
            }
            let expectedIDs = validation["revocation_ids"] as? [String] ?? []
            #expect(token.revocationIDs.map { Hex.encode($0) } == expectedIDs, "\(label): revocation ids")
            try checkBlocks(token, sample, label)
            let code = validation["authorizer_code"] as? String ?? ""
            let source = try DatalogParser.parseAuthorizer(code)
            var builder = AuthorizerBuilder()
            builder.facts = source.facts
            builder.rules = source.rules
            builder.checks = source.checks
            builder.policies = source.policies
            builder.limits = RunLimits(maxFacts: 10_000, maxIterations: 1000, maxTime: .seconds(5))
            builder.externs = ["test": Self.testExtern]
            let result = Result { () throws(BiscuitError) in
                var authorizer = try builder.build(token)
                return (try authorizer.authorize(), authorizer)
            }
            switch (result, expected["Ok"], expected["Err"]) {
            case (.success(let (index, _)), let ok as Int, nil):
                #expect(index == ok, "\(label)")
            case (.failure(let error), nil, let err?):
                #expect(error.name == Self.errorPath(err), "\(label): \(error)")
                compareDetails(error, err, label)
            default:
                Issue.record("\(label): got \(result.map(\.0)), expected \(expected)")
            }
            if let world = validation["world"] as? [String: Any], var authorizer = try? builder.build(token) {
                _ = try? authorizer.authorize()
                try compareWorld(try authorizer.snapshot(), world, label)
            }
        }
    }

    @Test func legacyThirdPartySignaturesAreRefused() throws {
        let root = try #require(Self.rootKey)
        let folder = Self.folder.appendingPathComponent("legacy-v0-third-party")
        let files = (try? FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".bc") }) ?? []
        #expect(files.count == 2, "the two legacy samples in \(folder.path)")
        for file in files {
            let data = try #require(FileManager.default.contents(atPath: folder.appendingPathComponent(file).path))
            #expect(throws: BiscuitError.format(.deserialization("Unsupported third party block version")), "\(file)") {
                _ = try Token(bytes: Array(data), rootKey: root)
            }
        }
    }

    // MARK: - Comparisons

    private func checkBlocks(_ token: Token, _ sample: Sample, _ label: String) throws {
        #expect(token.blocks.count == sample.blocks.count, "\(label): blocks")
        for (index, (block, expected)) in zip(token.blocks, sample.blocks).enumerated() {
            #expect(block.version == expected["version"] as? UInt32, "\(label) block \(index): version")
            #expect(block.symbols == expected["symbols"] as? [String], "\(label) block \(index): symbols")
            #expect(block.publicKeys.map(\.description) == expected["public_keys"] as? [String], "\(label) block \(index): public keys")
            #expect(block.externalKey?.description == expected["external_key"] as? String, "\(label) block \(index): external key")
            #expect(block.source == expected["code"] as? String, "\(label) block \(index): code")
        }
    }

    private func compareDetails(_ error: BiscuitError, _ expected: Any, _ label: String) {
        guard let expected = expected as? [String: Any] else { return }
        switch error {
        case .failedLogic(.unauthorized(let policy, let checks)):
            guard let details = (expected["FailedLogic"] as? [String: Any])?["Unauthorized"] as? [String: Any] else { return }
            let expectedPolicy = details["policy"] as? [String: Int] ?? [:]
            switch policy {
            case .allow(let index): #expect(expectedPolicy == ["Allow": index], "\(label): policy")
            case .deny(let index): #expect(expectedPolicy == ["Deny": index], "\(label): policy")
            }
            #expect(checks.map(Self.describe) == (details["checks"] as? [[String: Any]] ?? []).map(Self.describe), "\(label): failed checks")
        case .failedLogic(.noMatchingPolicy(let checks)):
            guard let details = (expected["FailedLogic"] as? [String: Any])?["NoMatchingPolicy"] as? [String: Any] else { return }
            #expect(checks.map(Self.describe) == (details["checks"] as? [[String: Any]] ?? []).map(Self.describe), "\(label): failed checks")
        case .failedLogic(.invalidBlockRule(let block, let rule)):
            guard let details = (expected["FailedLogic"] as? [String: Any])?["InvalidBlockRule"] as? [Any] else { return }
            #expect(details.first as? Int == Int(block) && details.last as? String == rule, "\(label): invalid rule")
        default:
            break
        }
    }

    private func compareWorld(_ world: AuthorizerWorld, _ expected: [String: Any], _ label: String) throws {
        func origin(_ values: [Any]) -> String { values.map { ($0 as? Int).map(String.init) ?? "authorizer" }.sorted().joined(separator: ",") }
        var facts: [String: [String]] = [:]
        for group in world.facts {
            facts[group.origin.map { $0.map(String.init) ?? "authorizer" }.sorted().joined(separator: ","), default: []] += group.facts.map { "\($0)" }
        }
        var expectedFacts: [String: [String]] = [:]
        for group in expected["facts"] as? [[String: Any]] ?? [] {
            expectedFacts[origin(group["origin"] as? [Any] ?? []), default: []] += group["facts"] as? [String] ?? []
        }
        #expect(facts.mapValues { $0.sorted() } == expectedFacts.mapValues { $0.sorted() }, "\(label): facts")
        func byBlock(_ items: [(Int?, String)]) -> [String: [String]] {
            var grouped: [String: [String]] = [:]
            for (origin, text) in items { grouped[origin.map(String.init) ?? "\(UInt64.max)", default: []].append(text) }
            return grouped.mapValues { $0.sorted() }
        }
        func expectedByBlock(_ key: String, _ field: String) -> [String: [String]] {
            var grouped: [String: [String]] = [:]
            for group in expected[key] as? [[String: Any]] ?? [] {
                let origin = (group["origin"] as? NSNumber).map { "\($0.uint64Value)" } ?? "?"
                grouped[origin, default: []] += group[field] as? [String] ?? []
            }
            return grouped.mapValues { $0.sorted() }
        }
        #expect(byBlock(world.rules.map { ($0.origin, "\($0.rule)") }) == expectedByBlock("rules", "rules"), "\(label): rules")
        #expect(byBlock(world.checks.map { ($0.origin, "\($0.check)") }) == expectedByBlock("checks", "checks"), "\(label): checks")
        #expect(world.policies.map { "\($0)" } == expected["policies"] as? [String], "\(label): policies")
    }

    /// The reference's path of names in an error's JSON: `{"Format": {"Signature": {"InvalidSignature": "..."}}}`
    /// is `Format.Signature.InvalidSignature`.
    static func errorPath(_ error: Any) -> String {
        if let name = error as? String { return name }
        guard let object = error as? [String: Any], let (key, value) = object.first, object.count == 1 else { return "?" }
        switch key {
        case "Format":
            if let inner = value as? [String: Any], inner.count == 1, let (innerKey, innerValue) = inner.first {
                if innerKey == "Signature", let signature = innerValue as? [String: Any], let name = signature.keys.first {
                    return "Format.Signature.\(name)"
                }
                return "Format.\(innerKey)"
            }
            return "Format.\(value as? String ?? "?")"
        case "FailedLogic":
            return "FailedLogic." + ((value as? [String: Any])?.keys.first ?? (value as? String) ?? "?")
        case "Execution", "RunLimit":
            if let name = value as? String { return "\(key).\(name)" }
            return "\(key)." + ((value as? [String: Any])?.keys.first ?? "?")
        default:
            return key
        }
    }

    static func describe(_ check: FailedCheck) -> String {
        switch check {
        case .block(let block, let index, let rule): return "block \(block) check \(index): \(rule)"
        case .authorizer(let index, let rule): return "authorizer check \(index): \(rule)"
        }
    }

    static func describe(_ check: [String: Any]) -> String {
        if let block = check["Block"] as? [String: Any] {
            return "block \(block["block_id"] ?? "?") check \(block["check_id"] ?? "?"): \(block["rule"] ?? "?")"
        }
        if let authorizer = check["Authorizer"] as? [String: Any] {
            return "authorizer check \(authorizer["check_id"] ?? "?"): \(authorizer["rule"] ?? "?")"
        }
        return "?"
    }

    /// The extern function sample test035 expects: `test(x) = x`; `test(a, b)` is "equal strings"
    /// or "different strings" for two strings, an error otherwise.
    static let testExtern: ExternFunction = { left, right in
        guard let right else { return left }
        guard case .string(let a) = left, case .string(let b) = right else { throw TestExternError() }
        return .string(a == b ? "equal strings" : "different strings")
    }

    struct TestExternError: Error {}
}
