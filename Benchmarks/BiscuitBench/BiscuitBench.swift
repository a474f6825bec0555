// Micro-benchmarks of the Biscuit library, with allocation counts (ordo-one/benchmark), on the
// tokens `scripts/bench-biscuit` makes with the reference implementation (biscuit-python) so that
// both sides time the same tokens in the same run. Run with `scripts/bench-biscuit`; alone,
// `BISCUIT_BENCH_DIR=<folder> scripts/bench-micro --target BiscuitBench`.

import Benchmark
import Biscuit
import Foundation

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

    Benchmark("biscuit: attenuate a token (append a block, base64)") { benchmark in
        let token = try Token(base64: fixtures.twoBlocks, rootKey: rootKey)
        let block = try Block(code: fixtures.attenuation)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { blackHole(try token.appending(block).base64) }
        benchmark.stopMeasurement()
    }
}
