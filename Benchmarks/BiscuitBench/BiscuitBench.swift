// Micro-benchmarks of the Biscuit library, with allocation counts (ordo-one/benchmark), on the
// tokens `scripts/bench-biscuit` makes with the reference implementation (biscuit-python) so that
// both sides time the same tokens in the same run. Run with `scripts/bench-biscuit`; alone,
// `BISCUIT_BENCH_DIR=<folder> scripts/bench-micro --target BiscuitBench`.

import Benchmark
import Biscuit
import Foundation
import RampartAuthorizer

/// A cluster that serves one key set and an empty revocation list, for `ServiceAuthorizer`.
struct StaticCluster: RampartTransport {
    let keys: String

    func get(_ url: URL, bearer: String?, timeout: Duration) async throws -> (status: Int, body: Data) {
        if url.path.hasSuffix("/v1/keys") { return (200, Data(keys.utf8)) }
        return (200, Data(#"{"items":[],"next_since":1,"more":false,"floor":0,"revision":1}"#.utf8))
    }
}

/// A token shaped as Rampart issues them (`POST /v1/tokens`), signed by `root` as key 7, and the
/// in-process authorizer that follows a cluster publishing that key.
func rampartFixture(_ root: PrivateKey) async throws -> (ServiceAuthorizer, Token, TokenRequest) {
    let now = UInt64(Date().timeIntervalSince1970)
    let authority = try Block(
        code: """
            principal("acme/deployer"); principal_kind("service_account"); organization("acme");
            api_key("0000000000000000000000000000abcd"); binding("0000000000000000000000000000abce", "acme/ops", "orgs/acme/projects/web");
            right("orgs/acme/projects/web", "compute.instances.create"); right("orgs/acme/projects/web", "compute.instances.get");
            right("orgs/acme/projects/web", "compute.disks.get"); issued_at({now}); check if time($time), $time < {expires};
            """,
        parameters: ["now": .date(now), "expires": .date(now + 3600)])
    let token = try Token(authority: authority, rootKey: root, rootKeyID: 7)
    let hex = root.publicKey.bytes.map { String(format: "%02x", $0) }.joined()
    let authorizer = ServiceAuthorizer(
        endpoints: [URL(string: "http://127.0.0.1:1")!], credential: "bench",
        transport: StaticCluster(keys: #"{"items":[{"root_key_id":7,"public_key":"\#(hex)"}],"revision":1}"#))
    try await authorizer.refresh()
    let request = TokenRequest(time: now, organization: "acme", project: "web", permission: "compute.instances.get", operation: .read)
    return (authorizer, token, request)
}

/// The tokens and authorizer the comparison script wrote.
struct Fixtures {
    let root: PrivateKey
    let twoBlocks: String
    let fiveBlocks: String
    let authority: String
    let attenuation: String
    let authorizer: String

    static func load() -> Fixtures {
        guard let folder = ProcessInfo.processInfo.environment["BISCUIT_BENCH_DIR"] else {
            fatalError("BISCUIT_BENCH_DIR is not set: run scripts/bench-biscuit, which makes the tokens with the reference")
        }
        func read(_ name: String) -> String {
            guard let data = FileManager.default.contents(atPath: folder + "/" + name) else { fatalError("missing \(folder)/\(name)") }
            return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        do {
            return Fixtures(
                root: try PrivateKey(read("root.private")), twoBlocks: read("two-blocks.token"), fiveBlocks: read("five-blocks.token"),
                authority: read("authority.datalog"), attenuation: read("attenuation.datalog"), authorizer: read("authorizer.datalog"))
        } catch {
            fatalError("cannot read the fixtures: \(error)")
        }
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .throughput, .mallocCountTotal], maxDuration: .seconds(2), maxIterations: 100_000)
    let fixtures = Fixtures.load()
    let rootKey = fixtures.root.publicKey

    Benchmark("biscuit: parse and verify a 2-block token") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try Token(base64: fixtures.twoBlocks, rootKey: rootKey)) }
    }

    Benchmark("biscuit: parse and verify a 5-block token") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try Token(base64: fixtures.fiveBlocks, rootKey: rootKey)) }
    }

    Benchmark("biscuit: authorize a verified 2-block token") { benchmark in
        let token = try Token(base64: fixtures.twoBlocks, rootKey: rootKey)
        var builder = AuthorizerBuilder()
        try builder.add(code: fixtures.authorizer)
        builder.limits = RunLimits(maxFacts: 1000, maxIterations: 100, maxTime: .seconds(1))
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { blackHole(try builder.authorize(token)) }
        benchmark.stopMeasurement()
    }

    Benchmark("biscuit: parse, verify and authorize a 2-block token") { benchmark in
        var builder = AuthorizerBuilder()
        try builder.add(code: fixtures.authorizer)
        builder.limits = RunLimits(maxFacts: 1000, maxIterations: 100, maxTime: .seconds(1))
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(try builder.authorize(try Token(base64: fixtures.twoBlocks, rootKey: rootKey)))
        }
        benchmark.stopMeasurement()
    }

    Benchmark("biscuit: issue a token (authority block, signed, base64)") { benchmark in
        let block = try Block(code: fixtures.authority)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { blackHole(try Token(authority: block, rootKey: fixtures.root).base64) }
        benchmark.stopMeasurement()
    }

    // The microsecond path services take (RampartAuthorizer.ServiceAuthorizer): a token seen
    // before (the verified-token cache), its key and revocations checked, its expiry, its rights.
    Benchmark("rampart: in-process authorize, cached token as issued") { benchmark async in
        do {
            let (authorizer, token, request) = try await rampartFixture(fixtures.root)
            let text = token.base64
            _ = try authorizer.authorize(text, request)
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations { blackHole(try authorizer.authorize(text, request)) }
            benchmark.stopMeasurement()
        } catch {
            fatalError("the in-process authorizer refused the fixture: \(error)")
        }
    }

    // The same with an attenuation block (read-only, one project): the checks run as Datalog.
    Benchmark("rampart: in-process authorize, cached attenuated token") { benchmark async in
        do {
            let (authorizer, token, request) = try await rampartFixture(fixtures.root)
            let text = try token.appending(try Block(code: #"check if operation("read"), resource_project("web");"#)).base64
            _ = try authorizer.authorize(text, request)
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations { blackHole(try authorizer.authorize(text, request)) }
            benchmark.stopMeasurement()
        } catch {
            fatalError("the in-process authorizer refused the fixture: \(error)")
        }
    }

    Benchmark("biscuit: attenuate a token (append a block, base64)") { benchmark in
        let token = try Token(base64: fixtures.twoBlocks, rootKey: rootKey)
        let block = try Block(code: fixtures.attenuation)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { blackHole(try token.appending(block).base64) }
        benchmark.stopMeasurement()
    }
}
