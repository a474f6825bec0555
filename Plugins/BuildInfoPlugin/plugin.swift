import Foundation
import PackagePlugin

/// Writes the build's git revision and date into the `BuildInfo` module before every build
/// (`scripts/build-info`): the file changes only when the revision does, so an unchanged tree
/// recompiles nothing, and the date is the commit's, so the same commit builds the same bytes.
@main
struct BuildInfoPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let output = context.pluginWorkDirectoryURL.appending(path: "Generated")
        let script = context.package.directoryURL.appending(path: "scripts/build-info")
        return [
            .prebuildCommand(
                displayName: "Recording the git revision and date of the build",
                executable: URL(fileURLWithPath: "/bin/sh"),
                arguments: [script.path, context.package.directoryURL.path, output.appending(path: "GeneratedBuildInfo.swift").path],
                outputFilesDirectory: output)
        ]
    }
}
