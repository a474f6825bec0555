import APIModels
import ArgumentParser
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
        commandName: "rampart", abstract: "Rampart: a replicated IAM policy store.", version: "rampart \(RampartVersion.current)",
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

/// `rampart version`: this build's version (as `rampart --version`).
struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print this build's version.")

    func run() {
        print("rampart \(RampartVersion.current)")
    }
}
