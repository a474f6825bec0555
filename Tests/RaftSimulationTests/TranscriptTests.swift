import Foundation
import RaftSimulation
import Testing

/// Golden transcripts of named scenarios. Set `RAFT_REWRITE_TRANSCRIPTS=1` to rewrite them from
/// the current behaviour, then review the diff like code before committing it.
@Suite struct TranscriptTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Transcripts")

    static let scenarios = [
        "first_election", "prevote_rejoin", "check_quorum", "log_conflict", "figure8", "read_index",
        "leadership_transfer", "learner_promote", "remove_follower", "remove_leader", "snapshot_catch_up",
    ]

    @Test(arguments: scenarios)
    func transcriptMatchesGoldenOutput(_ name: String) throws {
        let url = Self.directory.appendingPathComponent(name + ".txt")
        let script = try String(contentsOf: url, encoding: .utf8)
        var runner = TranscriptRunner()
        let actual = runner.run(script: script)
        if ProcessInfo.processInfo.environment["RAFT_REWRITE_TRANSCRIPTS"] == "1" {
            try actual.write(to: url, atomically: true, encoding: .utf8)
            return
        }
        let expectedLines = script.split(separator: "\n", omittingEmptySubsequences: false)
        let actualLines = actual.split(separator: "\n", omittingEmptySubsequences: false)
        if let first = zip(expectedLines, actualLines).enumerated().first(where: { $0.element.0 != $0.element.1 }) {
            Issue.record("\(name).txt line \(first.offset + 1): expected «\(first.element.0)», got «\(first.element.1)»")
        }
        #expect(expectedLines.count == actualLines.count, "\(name).txt has a different number of lines")
    }

    @Test func everyTranscriptFileIsListed() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.directory.path)
            .filter { $0.hasSuffix(".txt") }.map { String($0.dropLast(4)) }
        #expect(Set(files) == Set(Self.scenarios))
    }
}
