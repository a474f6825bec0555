import APIModels
import ArgumentParser
import BuildInfo
import Foundation
import RampartClient

/// `rampart`: the replica server and the client's commands, in one binary.
///
/// Errors end the process with the statuses of `ExitStatus`: 64 for a wrong command line (with
/// the usage), 1 for a refused request or a failed check, 69 when no endpoint could serve the
/// request, 75 when a write's outcome is unknown.
@main
struct RampartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rampart", abstract: "Rampart: a replicated IAM policy store.", version: VersionCommand.line,
        subcommands: [ServerCommand.self, VersionCommand.self, SnapshotCommand.self] + ClientCommands.all)

    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asynchronous = command as? any AsyncParsableCommand {
                try await asynchronous.run()
            } else {
                try command.run()
            }
        } catch {
            if let report = ClientCommands.report(error, arguments: Array(CommandLine.arguments.dropFirst())) {
                FileHandle.standardError.write(Data((report.text + "\n").utf8))
                Foundation.exit(report.status)
            }
            exit(withError: error)
        }
    }
}

/// `rampart version`: this build's version, git revision and build date (as `rampart
/// --version`; `--output json` for scripts, which `scripts/sbom` reads).
struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version", abstract: "Print this build's version, git revision and build date.")

    @Option(name: [.short, .long], help: "table (one line) or json.") var output = "table"

    /// The one-line form: `rampart 0.20.0 (revision 0123456789ab, built 2026-12-07T18:00:00Z)`.
    static var line: String {
        "rampart \(RampartVersion.current) (revision \(BuildInfo.shortRevision), built \(BuildInfo.date))"
    }

    func validate() throws {
        guard ["table", "json"].contains(output) else { throw ValidationError("--output must be table or json, not \(output)") }
    }

    func run() throws {
        if output == "json" {
            let fields = ["version": RampartVersion.current, "revision": BuildInfo.revision, "build_date": BuildInfo.date]
            let data = try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(Self.line)
        }
    }
}
