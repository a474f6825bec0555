import Testing

@testable import Biscuit

/// No input crashes the decoders: deep nesting is refused with `tooDeep`, and random or mutated
/// bytes give a value or an error.
@Suite("Protobuf codec on hostile input")
struct ProtobufMalformedInputTests {
    typealias B = FormatTestBytes

    /// The innermost term of the nested inputs: `integer(7)`.
    static let innermostTerm = B.varintField(2, 7)

    // MARK: - Nesting

    @Test func termNestedTenThousandSetsDeepIsTooDeep() {
        let bytes = Self.nested(Self.innermostTerm, depth: 10_000, header: Self.setHeader)
        #expect(throws: ProtobufError.tooDeep) { try TermMessage(decoding: bytes) }
    }

    @Test func termNestedTenThousandArraysDeepIsTooDeep() {
        let bytes = Self.nested(Self.innermostTerm, depth: 10_000, header: Self.arrayHeader)
        #expect(throws: ProtobufError.tooDeep) { try TermMessage(decoding: bytes) }
    }

    @Test func termNestedTenThousandMapsDeepIsTooDeep() {
        let bytes = Self.nested(Self.innermostTerm, depth: 10_000, header: Self.mapHeader)
        #expect(throws: ProtobufError.tooDeep) { try TermMessage(decoding: bytes) }
    }

    @Test func closuresNestedTenThousandDeepAreTooDeep() {
        let innermost = B.lengthDelimited(1, Self.innermostTerm)
        let bytes = Self.nested(innermost, depth: 10_000, header: Self.closureHeader)
        #expect(throws: ProtobufError.tooDeep) { try OpMessage(decoding: bytes) }
    }

    @Test func deeplyNestedTermInsideABlockIsTooDeep() {
        let term = Self.nested(Self.innermostTerm, depth: 10_000, header: Self.arrayHeader)
        let fact = B.lengthDelimited(1, B.varintField(1, 0) + B.lengthDelimited(2, term))
        let block = B.varintField(3, 6) + B.lengthDelimited(4, fact)
        #expect(throws: ProtobufError.tooDeep) { try BlockMessage(decoding: block) }
    }

    @Test func nestingUpToTheLimitDecodes() throws {
        let limit = ProtoLimits.maxNestingDepth
        let headers: [(Int) -> [UInt8]] = [Self.setHeader, Self.arrayHeader, Self.mapHeader]
        for header in headers {
            let atLimit = Self.nested(Self.innermostTerm, depth: limit, header: header)
            let term = try TermMessage(decoding: atLimit)
            #expect(term.encoded() == atLimit)
            let beyond = Self.nested(Self.innermostTerm, depth: limit + 1, header: header)
            #expect(throws: ProtobufError.tooDeep) { try TermMessage(decoding: beyond) }
        }
        let innermostOp = B.lengthDelimited(1, Self.innermostTerm)
        let closures = Self.nested(innermostOp, depth: limit, header: Self.closureHeader)
        #expect(try OpMessage(decoding: closures).encoded() == closures)
        let tooMany = Self.nested(innermostOp, depth: limit + 1, header: Self.closureHeader)
        #expect(throws: ProtobufError.tooDeep) { try OpMessage(decoding: tooMany) }
    }

    @Test func termsInsideClosuresCountTowardsTheSameLimit() throws {
        let half = ProtoLimits.maxNestingDepth / 2
        let term = Self.nested(Self.innermostTerm, depth: half, header: Self.arrayHeader)
        let atLimit = Self.nested(B.lengthDelimited(1, term), depth: ProtoLimits.maxNestingDepth - half, header: Self.closureHeader)
        _ = try OpMessage(decoding: atLimit)
        let beyond = Self.nested(B.lengthDelimited(1, term), depth: ProtoLimits.maxNestingDepth - half + 1, header: Self.closureHeader)
        #expect(throws: ProtobufError.tooDeep) { try OpMessage(decoding: beyond) }
    }

    // MARK: - Repetition

    @Test func manyOccurrencesOfASingularMessageFieldMergeInLinearTime() throws {
        // 100,000 occurrences of `Term.set` (600 kB): merging by copying everything merged so far
        // at each occurrence would copy tens of gigabytes.
        let occurrence = B.lengthDelimited(7, B.lengthDelimited(1, B.varintField(2, 1)))
        let count = 100_000
        let bytes = Array([[UInt8]](repeating: occurrence, count: count).joined())
        #expect(try TermMessage(decoding: bytes) == .set(Array(repeating: .integer(1), count: count)))
        let keys = Array([[UInt8]](repeating: B.lengthDelimited(2, B.varintField(1, 0) + B.lengthDelimited(2, [7])), count: count).joined())
        let signed = B.lengthDelimited(1, []) + B.lengthDelimited(3, []) + keys
        #expect(try SignedBlockMessage(decoding: signed).nextKey == PublicKeyMessage(algorithm: 0, key: [7]))
    }

    // MARK: - Random and mutated input

    @Test func randomByteStringsNeverCrashTheDecoders() {
        let seed: UInt64 = 0xB15C_0175
        var random = FormatTestRandom(seed: seed)
        // Bytes drawn from all 256 values, then from the bytes protobuf tags and small lengths
        // use (so that more inputs get past the first field).
        let likelyBytes: [UInt8] = [0x00, 0x01, 0x02, 0x03, 0x05, 0x08, 0x0A, 0x10, 0x12, 0x18, 0x1A, 0x20, 0x22, 0x28,
                                    0x2A, 0x30, 0x32, 0x3A, 0x42, 0x4A, 0x52, 0x80, 0xFF]
        var decodedCount = 0
        for iteration in 0..<6_000 {
            let count = Int.random(in: 0...80, using: &random)
            let bytes: [UInt8] = (0..<count).map { _ in
                iteration % 2 == 0
                    ? UInt8.random(in: 0...255, using: &random)
                    : likelyBytes[Int.random(in: 0..<likelyBytes.count, using: &random)]
            }
            decodedCount += Self.decodeAsEveryMessage(bytes, context: "seed \(seed) iteration \(iteration)")
        }
        #expect(decodedCount > 0)
    }

    @Test func mutatedSampleTokensNeverCrashTheDecoders() {
        let seed: UInt64 = 0x70CE_4B17
        var random = FormatTestRandom(seed: seed)
        for sample in FormatTestSamples.all() {
            for iteration in 0..<150 {
                var bytes = sample.bytes
                for _ in 0..<Int.random(in: 1...4, using: &random) {
                    let index = Int.random(in: 0..<bytes.count, using: &random)
                    switch Int.random(in: 0..<3, using: &random) {
                    case 0: bytes[index] = UInt8.random(in: 0...255, using: &random)
                    case 1: bytes.remove(at: index)
                    default: bytes.insert(UInt8.random(in: 0...255, using: &random), at: index)
                    }
                    if bytes.isEmpty { break }
                }
                let context = "seed \(seed) \(sample.name) iteration \(iteration)"
                _ = Self.decodeAsEveryMessage(bytes, context: context)
                // A mutation that leaves the container valid may still have broken a block.
                do {
                    let token = try BiscuitMessage(decoding: bytes)
                    for signed in [token.authority] + token.blocks {
                        _ = Self.decodeAsEveryMessage(signed.block, context: context + " block")
                    }
                } catch {
                    continue
                }
            }
        }
    }

    // MARK: - Helpers

    /// Decodes `bytes` as every message type; for each that decodes, checks that its encoding
    /// decodes to the same value. Returns how many decoded.
    static func decodeAsEveryMessage(_ bytes: [UInt8], context: String) -> Int {
        var decoded = 0
        decoded += roundTrip(BiscuitMessage.self, bytes, context)
        decoded += roundTrip(SignedBlockMessage.self, bytes, context)
        decoded += roundTrip(BlockMessage.self, bytes, context)
        decoded += roundTrip(RuleMessage.self, bytes, context)
        decoded += roundTrip(TermMessage.self, bytes, context)
        decoded += roundTrip(OpMessage.self, bytes, context)
        decoded += roundTrip(MapEntryMessage.self, bytes, context)
        decoded += roundTrip(PolicyMessage.self, bytes, context)
        decoded += roundTrip(ThirdPartyBlockRequestMessage.self, bytes, context)
        decoded += roundTrip(ThirdPartyBlockContentsMessage.self, bytes, context)
        return decoded
    }

    /// Decodes `bytes` as a `Message`: an error is fine; a value must survive encoding.
    /// Returns 1 when it decoded.
    static func roundTrip<Message: ProtoMessage>(_ type: Message.Type, _ bytes: [UInt8], _ context: String) -> Int {
        let message: Message
        do {
            message = try Message(decoding: bytes)
        } catch {
            return 0
        }
        #expect(throws: Never.self, "\(context): \(Message.self) re-decodes") {
            let again = try Message(decoding: message.encoded())
            #expect(again == message, "\(context): \(Message.self) changes through encoding")
        }
        return 1
    }

    /// The bytes of `innermost` wrapped `depth` times, each wrapping made of `header(length of
    /// what it wraps)` then what it wraps. Built outside-in once the lengths are known, so that
    /// deep inputs take linear time.
    static func nested(_ innermost: [UInt8], depth: Int, header: (Int) -> [UInt8]) -> [UInt8] {
        var headers: [[UInt8]] = []
        var length = innermost.count
        for _ in 0..<depth {
            let wrapping = header(length)
            headers.append(wrapping)
            length += wrapping.count
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(length)
        for wrapping in headers.reversed() { bytes += wrapping }
        return bytes + innermost
    }

    /// A `Term` holding a `TermSet` whose one element (`length` bytes) follows.
    static func setHeader(_ length: Int) -> [UInt8] { collectionHeader(field: 7, length) }

    /// A `Term` holding an `Array` whose one element (`length` bytes) follows.
    static func arrayHeader(_ length: Int) -> [UInt8] { collectionHeader(field: 9, length) }

    /// A `Term` holding a `Map` whose one entry has key 1 and the value (`length` bytes) that follows.
    static func mapHeader(_ length: Int) -> [UInt8] {
        let entryStart = B.lengthDelimited(1, B.varintField(1, 1)) + B.tag(2, 2) + B.varint(UInt64(length))
        let mapStart = B.tag(1, 2) + B.varint(UInt64(entryStart.count + length)) + entryStart
        return B.tag(10, 2) + B.varint(UInt64(mapStart.count + length)) + mapStart
    }

    /// An `Op` holding an `OpClosure` with one parameter and the one operation (`length` bytes)
    /// that follows.
    static func closureHeader(_ length: Int) -> [UInt8] {
        let closureStart = B.varintField(1, 1024) + B.tag(2, 2) + B.varint(UInt64(length))
        return B.tag(4, 2) + B.varint(UInt64(closureStart.count + length)) + closureStart
    }

    /// A `Term` whose collection field `field` holds one element of `length` bytes.
    static func collectionHeader(field: UInt64, _ length: Int) -> [UInt8] {
        let collectionStart = B.tag(1, 2) + B.varint(UInt64(length))
        return B.tag(field, 2) + B.varint(UInt64(collectionStart.count + length)) + collectionStart
    }
}
