import PolicyModel
import PolicyStore
import RaftCore
import RaftStorage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The child process of the crash tests, and the checks the tests run after killing it:
///   rampart-bench crash-child store DATABASE          apply the command stream until killed,
///                                                     printing `durable N` after each batch
///   rampart-bench crash-child store-state DATABASE    print `applied N hash H` of a store
///   rampart-bench crash-child store-reference DATABASE N
///                                                     apply entries 1...N to a new store and
///                                                     print its `applied N hash H`
///   rampart-bench crash-child log DIRECTORY           persist entries until killed, printing
///                                                     `durable N` after each synced batch
///   rampart-bench crash-child log-verify DIRECTORY    check the recovered log against the
///                                                     stream and print `entries N commit C`
func runCrashChild() {
    let arguments = CommandLine.arguments
    guard arguments.count >= 4 else {
        say("usage: rampart-bench crash-child MODE PATH [N]")
        exit(2)
    }
    let path = arguments[3]
    do {
        switch arguments[2] {
        case "store":
            let store = try PolicyStore(path: path)
            while true {
                let next = store.appliedIndex + 1
                try store.apply((next..<next + 7).map { CrashWorkload.entry($0) })
                say("durable \(store.appliedIndex)")
            }
        case "store-state":
            let store = try PolicyStore(path: path)
            say("applied \(store.appliedIndex) hash \(hex(try store.stateHash()))")
        case "store-reference":
            guard arguments.count >= 5, let count = UInt64(arguments[4]) else { exit(2) }
            let store = try PolicyStore(path: path)
            if count > 0 { try store.apply((1...count).map { CrashWorkload.entry($0) }) }
            say("applied \(store.appliedIndex) hash \(hex(try store.stateHash()))")
        case "log":
            let log = try RaftLogStorage(directory: path)
            var next = (log.recovered.entries.last?.index ?? 0) + 1
            while true {
                let entries = (next..<next + 5).map { CrashWorkload.logEntry($0) }
                try log.persist(hardState: HardState(term: 1, commit: next + 4), snapshot: nil, entries: entries, sync: true)
                say("durable \(next + 4)")
                next += 5
            }
        case "log-verify":
            let recovered = try RaftLogStorage(directory: path).recovered
            for (offset, entry) in recovered.entries.enumerated() where entry != CrashWorkload.logEntry(UInt64(offset) + 1) {
                say("mismatch at \(offset + 1)")
                exit(1)
            }
            say("entries \(recovered.entries.count) commit \(recovered.hardState.commit)")
        default:
            say("unknown crash child mode \(arguments[2])")
            exit(2)
        }
    } catch {
        say("crash child failed: \(error)")
        exit(1)
    }
}

/// Writes a line straight to standard output, unbuffered, so the parent sees each line as soon
/// as the batch it reports is durable.
private func say(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    var written = 0
    while written < bytes.count {
        let count = bytes.withUnsafeBytes { write(1, $0.baseAddress! + written, bytes.count - written) }
        if count <= 0 { return }
        written += count
    }
}

private func hex(_ bytes: [UInt8]) -> String {
    bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
}

/// The deterministic streams the crash child writes and checks against.
enum CrashWorkload {
    /// The log entry at `index`: a command whose bytes depend only on the index.
    static func logEntry(_ index: UInt64) -> Entry {
        Entry(term: 1, index: index, payload: .command((0..<64).map { UInt8(truncatingIfNeeded: index &* 31 &+ $0) }))
    }

    /// The store entry at `index`: organizations, projects, principals and bindings, in a fixed
    /// pattern, with a no-op entry every eleventh index.
    static func entry(_ index: UInt64) -> AppliedEntry {
        if index % 11 == 0 { return AppliedEntry(index: index, command: nil) }
        let organization = name("org\(index % 5)")
        let command: Command
        switch index % 4 {
        case 0: command = .createOrganization(name: organization)
        case 1: command = .createProject(organization: organization, name: name("p\(index)"))
        case 2: command = .createPrincipal(PrincipalReference(organization: organization, name: name("u\(index)")), kind: .user)
        default:
            command = .createBinding(
                id: EntityID(high: 1, low: index), principal: PrincipalReference(organization: organization, name: name("u\(index - 1)")),
                role: .builtIn(.organizationViewer), scope: .organization(organization))
        }
        let envelope = CommandEnvelope(
            command: command, actor: nil, requestID: "crash-\(index)", time: Timestamp(millisecondsSinceEpoch: Int64(index)))
        return AppliedEntry(index: index, command: CommandCodec.encode(envelope))
    }

    private static func name(_ text: String) -> Name {
        do { return try Name(text) } catch { fatalError("invalid workload name \(text)") }
    }
}
