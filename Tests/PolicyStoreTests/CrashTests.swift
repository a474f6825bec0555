import Foundation
import Testing

/// Crash safety with real process kills: a child process applies (or persists) batches and
/// reports each one once it is durable; it is killed with SIGKILL at different moments, and the
/// recovered state must hold everything reported durable, and be exactly the state of the
/// entries it holds. The child is `rampart-bench crash-child`, built with the package.
@Suite(.serialized) struct CrashTests {
    static let binary = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".build/debug/rampart-bench").path

    /// Runs a check mode of the child to completion and returns its output line.
    static func check(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["crash-child"] + arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(process.terminationStatus == 0, "crash-child \(arguments) failed: \(text)")
        return text
    }

    /// Starts the looping child, waits until it has reported `batches` durable batches, kills it
    /// with SIGKILL, and returns the last index it reported durable.
    static func killAfter(_ batches: Int, mode: String, path: String) throws -> UInt64 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["crash-child", mode, path]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        var text = ""
        var durable: UInt64 = 0
        var reported = 0
        while reported < batches {
            let data = output.fileHandleForReading.availableData
            if data.isEmpty { break }
            text += String(decoding: data, as: UTF8.self)
            let lines = text.split(separator: "\n").filter { $0.hasPrefix("durable ") }
            reported = lines.count
            durable = lines.last.flatMap { UInt64($0.dropFirst(8)) } ?? 0
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        // Lines written before the kill landed are durable too.
        text += String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let lines = text.split(separator: "\n").filter { $0.hasPrefix("durable ") }
        durable = lines.last.flatMap { UInt64($0.dropFirst(8)) } ?? durable
        #expect(reported >= batches, "the child stopped early: \(text.suffix(300))")
        return durable
    }

    @Test func killedStoreKeepsEveryDurableBatchAndNothingHalfApplied() throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary), "build the package first: \(Self.binary)")
        let directory = try StoreDirectory()
        let database = directory.database()
        var previous: UInt64 = 0
        for (round, batches) in [1, 4, 17, 40, 9].enumerated() {
            let durable = try Self.killAfter(batches, mode: "store", path: database)
            let state = try Self.check(["store-state", database]).split(separator: " ")
            let applied = UInt64(state[1]) ?? 0
            #expect(applied >= durable, "round \(round): batch \(durable) was reported durable but only \(applied) survived")
            #expect(applied >= previous, "the applied index went back")
            #expect(applied % 7 == 0, "a batch of 7 was half applied: \(applied)")
            let reference = try Self.check(["store-reference", directory.database("reference-\(round)"), String(applied)])
            #expect(reference == state.joined(separator: " "), "round \(round): state after the crash differs from applying 1...\(applied)")
            previous = applied
        }
    }

    @Test func killedLogKeepsEverySyncedBatch() throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary), "build the package first: \(Self.binary)")
        let directory = try StoreDirectory()
        let log = directory.path + "/log"
        for batches in [1, 6, 30, 3] {
            let durable = try Self.killAfter(batches, mode: "log", path: log)
            let result = try Self.check(["log-verify", log]).split(separator: " ")
            let entries = UInt64(result[1]) ?? 0
            #expect(entries >= durable, "entry \(durable) was reported durable but only \(entries) survived")
            #expect(entries % 5 == 0, "a batch of 5 was half persisted: \(entries)")
            #expect(UInt64(result[3]) == entries, "the hard state of the last batch must survive with its entries")
        }
    }
}
