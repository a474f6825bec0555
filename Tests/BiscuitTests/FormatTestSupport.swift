import Foundation
import Testing

@testable import Biscuit

/// The sample tokens of the reference (`shared/biscuit-samples`), located from this file.
enum FormatTestSamples {
    /// One sample file: its name (relative to the samples folder) and bytes.
    struct Sample: Sendable, CustomStringConvertible {
        /// The file's path relative to the samples folder, such as `test001_basic.bc`.
        let name: String
        /// The file's bytes: a serialized `Biscuit`.
        let bytes: [UInt8]

        /// The name, for test output.
        var description: String { name }
    }

    /// How many `.bc` files the samples folder holds (tests 001 to 037).
    static let expectedSampleCount = 37

    /// The folders where the samples may be: first `<repository>/../shared/biscuit-samples`, the
    /// repository being three levels up from this file (`Tests/BiscuitTests/<file>.swift`); then
    /// `shared/biscuit-samples` in each folder above this file.
    static func candidateFolders(filePath: String = #filePath) -> [URL] {
        let file = URL(fileURLWithPath: filePath)
        let repository = file.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        var candidates = [repository.deletingLastPathComponent().appendingPathComponent("shared/biscuit-samples")]
        var folder = file.deletingLastPathComponent()
        while folder.path != "/" {
            candidates.append(folder.appendingPathComponent("shared/biscuit-samples"))
            folder = folder.deletingLastPathComponent()
        }
        return candidates
    }

    /// The samples folder, or `nil` after recording an issue that says where it looked: a test
    /// that needs the samples fails rather than passes without them.
    static func folder(sourceLocation: SourceLocation = #_sourceLocation) -> URL? {
        let candidates = candidateFolders()
        for candidate in candidates where FileManager.default.fileExists(atPath: candidate.appendingPathComponent("test001_basic.bc").path) {
            return candidate
        }
        Issue.record(
            "the Biscuit samples folder is missing; looked in: \(candidates.map(\.path).joined(separator: ", "))",
            sourceLocation: sourceLocation)
        return nil
    }

    /// The 37 sample tokens then the two legacy third-party ones, or `[]` after recording an issue.
    static func all(sourceLocation: SourceLocation = #_sourceLocation) -> [Sample] {
        guard let folder = folder(sourceLocation: sourceLocation) else { return [] }
        var samples: [Sample] = []
        for subfolder in ["", "legacy-v0-third-party/"] {
            let directory = folder.appendingPathComponent(subfolder)
            let names: [String]
            do {
                names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            } catch {
                Issue.record("cannot list \(directory.path): \(error)", sourceLocation: sourceLocation)
                return []
            }
            for name in names.sorted() where name.hasSuffix(".bc") {
                do {
                    let data = try Data(contentsOf: directory.appendingPathComponent(name))
                    samples.append(Sample(name: subfolder + name, bytes: [UInt8](data)))
                } catch {
                    Issue.record("cannot read \(subfolder + name): \(error)", sourceLocation: sourceLocation)
                }
            }
        }
        return samples
    }

    /// One sample by name, or `nil` after recording an issue.
    static func named(_ name: String, sourceLocation: SourceLocation = #_sourceLocation) -> Sample? {
        let sample = all(sourceLocation: sourceLocation).first { $0.name == name }
        if sample == nil { Issue.record("no sample named \(name)", sourceLocation: sourceLocation) }
        return sample
    }
}

/// A seeded SplitMix64 generator: the fuzz tests' only randomness, so that a failure replays
/// from the seed they print.
struct FormatTestRandom: RandomNumberGenerator {
    /// The generator's state.
    private var state: UInt64

    /// A generator that produces the sequence of `seed`.
    init(seed: UInt64) {
        state = seed
    }

    /// The next 64 random bits.
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }
}

/// Builds protobuf bytes by hand for tests, independently of the messages' encoders.
enum FormatTestBytes {
    /// A varint.
    static func varint(_ value: UInt64) -> [UInt8] {
        var writer = ProtoWriter()
        writer.writeVarint(value)
        return writer.bytes
    }

    /// A tag for `field` with wire type `wire`.
    static func tag(_ field: UInt64, _ wire: UInt64) -> [UInt8] {
        varint(field << 3 | wire)
    }

    /// A length-delimited field.
    static func lengthDelimited(_ field: UInt64, _ content: [UInt8]) -> [UInt8] {
        tag(field, 2) + varint(UInt64(content.count)) + content
    }

    /// A varint field.
    static func varintField(_ field: UInt64, _ value: UInt64) -> [UInt8] {
        tag(field, 0) + varint(value)
    }
}
