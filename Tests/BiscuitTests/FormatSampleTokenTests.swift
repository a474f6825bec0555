import Testing

@testable import Biscuit

/// The reference's sample tokens decode, and encode back to their exact bytes.
@Suite("Protobuf codec on the reference's sample tokens")
struct FormatSampleTokenTests {
    /// Sample 004's block 1 is random bytes by design ("random block"): it is not a `Block`.
    static let garbageBlocks: Set<String> = ["test004_random_block.bc#1"]

    /// How many signed blocks the 39 sample files hold together (authority blocks included).
    static let sampleBlockCount = 71

    @Test func everySampleIsPresent() {
        let samples = FormatTestSamples.all()
        let mainSamples = samples.filter { !$0.name.hasPrefix("legacy-v0-third-party/") }
        #expect(mainSamples.count == FormatTestSamples.expectedSampleCount)
        #expect(samples.count - mainSamples.count == 2)
    }

    @Test func everySampleTokenDecodesAndEncodesToItsOwnBytes() throws {
        for sample in FormatTestSamples.all() {
            let message = try BiscuitMessage(decoding: sample.bytes)
            #expect(message.encoded() == sample.bytes, "\(sample.name) re-encodes differently")
        }
    }

    @Test func everySampleBlockDecodesAndEncodesToItsOwnBytes() throws {
        var blockCount = 0
        for sample in FormatTestSamples.all() {
            let message = try BiscuitMessage(decoding: sample.bytes)
            for (index, signed) in ([message.authority] + message.blocks).enumerated() {
                let name = "\(sample.name)#\(index)"
                if Self.garbageBlocks.contains(name) {
                    #expect(throws: ProtobufError.self, "\(name) is random bytes") { try BlockMessage(decoding: signed.block) }
                    continue
                }
                let block = try BlockMessage(decoding: signed.block)
                #expect(block.encoded() == signed.block, "\(name) re-encodes differently")
                blockCount += 1
            }
        }
        #expect(blockCount + Self.garbageBlocks.count == Self.sampleBlockCount)
    }

    @Test func sampleTokensHaveTheFieldsTheReferenceWrote() throws {
        guard let basic = FormatTestSamples.named("test001_basic.bc"),
            let sealed = FormatTestSamples.named("test020_sealed.bc"),
            let thirdParty = FormatTestSamples.named("test024_third_party.bc"),
            let secp256r1 = FormatTestSamples.named("test036_secp256r1.bc")
        else { return }

        let token = try BiscuitMessage(decoding: basic.bytes)
        #expect(token.rootKeyID == nil)
        #expect(token.blocks.count == 1)
        #expect(token.authority.nextKey.algorithm == 0)
        #expect(token.authority.nextKey.key.count == 32)
        #expect(token.authority.signature.count == 64)
        guard case .nextSecret(let secret) = token.proof else {
            Issue.record("test001 is not sealed, so its proof is the next secret")
            return
        }
        #expect(secret.count == 32)
        let authority = try BlockMessage(decoding: token.authority.block)
        #expect(authority.symbols == ["file1", "file2"])
        #expect(authority.version == 3)
        #expect(authority.facts.count == 3)

        guard case .finalSignature = try BiscuitMessage(decoding: sealed.bytes).proof else {
            Issue.record("test020 is sealed, so its proof is a final signature")
            return
        }

        let external = try BiscuitMessage(decoding: thirdParty.bytes).blocks.first?.externalSignature
        #expect(external?.publicKey.key.count == 32)
        #expect(try BiscuitMessage(decoding: thirdParty.bytes).blocks.first?.version == 1)

        let p256 = try BiscuitMessage(decoding: secp256r1.bytes)
        #expect(p256.authority.nextKey.algorithm == 1)
        #expect(p256.authority.nextKey.key.count == 33)
    }

    @Test func closureParametersInSample032AreWrittenUnpacked() throws {
        guard let sample = FormatTestSamples.named("test032_laziness_closures.bc") else { return }
        let token = try BiscuitMessage(decoding: sample.bytes)
        var closureCount = 0
        for signed in [token.authority] + token.blocks {
            let block = try BlockMessage(decoding: signed.block)
            let expressions = (block.rules + block.checks.flatMap(\.queries)).flatMap(\.expressions)
            for closure in expressions.flatMap({ Self.closures(in: $0.ops) }) {
                // Our encoder writes field 1 (varint) once per parameter; the reference's bytes
                // hold exactly what it writes.
                let encoded = closure.encoded()
                #expect(Self.bytes(signed.block, contain: encoded), "closure \(closure) is not written unpacked")
                closureCount += 1
            }
        }
        #expect(closureCount > 0)
    }

    @Test func aSecondAuthorityOccurrenceMergesIntoTheFirstAsTheReferenceDoes() throws {
        guard let sample = FormatTestSamples.named("test001_basic.bc") else { return }
        // biscuit-python 0.4.0 (the reference 6.0.0) accepts this token: prost merged the two.
        let extra = FormatTestBytes.lengthDelimited(2, FormatTestBytes.varintField(5, 0))
        let original = try BiscuitMessage(decoding: sample.bytes)
        let merged = try BiscuitMessage(decoding: sample.bytes + extra)
        var expected = original.authority
        expected.version = 0
        #expect(merged.authority == expected)
        #expect(merged.blocks == original.blocks)
    }

    @Test func aSignatureVersionBeyond32BitsKeepsItsLowBitsAsTheReferenceDoes() throws {
        guard let sample = FormatTestSamples.named("test001_basic.bc") else { return }
        // biscuit-python 0.4.0 accepts test001 with `authority.version = 2^32` (read as 0).
        let extra = FormatTestBytes.lengthDelimited(2, FormatTestBytes.varintField(5, 1 << 32))
        #expect(try BiscuitMessage(decoding: sample.bytes + extra).authority.version == 0)
    }

    @Test func everyTruncationOfASampleTokenIsAnError() {
        for sample in FormatTestSamples.all() {
            for length in 0..<sample.bytes.count {
                let prefix = Array(sample.bytes[..<length])
                #expect(throws: ProtobufError.self, "\(sample.name) cut to \(length) bytes") {
                    try BiscuitMessage(decoding: prefix)
                }
            }
        }
    }

    /// Whether `bytes` holds `part` at some offset.
    static func bytes(_ bytes: [UInt8], contain part: [UInt8]) -> Bool {
        guard part.count <= bytes.count else { return false }
        return (0...(bytes.count - part.count)).contains { bytes[$0..<($0 + part.count)].elementsEqual(part) }
    }

    /// The closures among `ops`, at any depth.
    static func closures(in ops: [OpMessage]) -> [OpMessage] {
        var found: [OpMessage] = []
        for op in ops {
            if case .closure(_, let body) = op {
                found.append(op)
                found += closures(in: body)
            }
        }
        return found
    }
}
