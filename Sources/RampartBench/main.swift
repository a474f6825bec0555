// rampart-bench: in-process benchmarks of the policy model and the durable log. Usage:
//   rampart-bench policy [--organizations N] [--principals N] [--bindings N] [--checks N]
//   rampart-bench storage [--directory PATH] [--entries N] [--entry-bytes N]
//   rampart-bench store [--directory PATH] [--commands N]
//   rampart-bench crash-child store|log PATH   (used by the crash tests)
// Each prints its numbers; build with -c release.

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The value of `--name N`, or `fallback`.
func flag(_ name: String, default fallback: Int) -> Int {
    let arguments = CommandLine.arguments
    guard let position = arguments.firstIndex(of: "--" + name), position + 1 < arguments.count,
        let value = Int(arguments[position + 1]), value > 0
    else { return fallback }
    return value
}

/// The value of `--name TEXT`, or `fallback`.
func textFlag(_ name: String, default fallback: String) -> String {
    let arguments = CommandLine.arguments
    guard let position = arguments.firstIndex(of: "--" + name), position + 1 < arguments.count else { return fallback }
    return arguments[position + 1]
}

/// Microseconds in a duration.
func microseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1e6 + Double(duration.components.attoseconds) / 1e12
}

/// `text` right-aligned in `width` columns.
func pad(_ text: String, _ width: Int) -> String {
    String(repeating: " ", count: max(0, width - text.count)) + text
}

switch CommandLine.arguments.dropFirst().first {
case "policy":
    runPolicyBenchmark()
case "storage":
    runStorageBenchmark()
case "store":
    runStoreBenchmark()
case "crash-child":
    runCrashChild()
default:
    print("usage: rampart-bench policy|storage|store [--flag value ...]")
    exit(2)
}
