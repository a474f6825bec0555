import PolicyModel
import PolicyStore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// State machine throughput: commands applied per second to the SQLite store (WAL,
/// `synchronous=FULL`: one durable commit per batch), for batches of 1, 16 and 256 commands.
/// Each command creates a principal and every fourth binds a role, as admins would.
func runStoreBenchmark() {
    let directory = textFlag("directory", default: "/tmp/rampart-store-bench-\(getpid())")
    let total = flag("commands", default: 20_000)
    let clock = ContinuousClock()
    _ = system("rm -rf '\(directory)' && mkdir -p '\(directory)'")
    print("policy store: commands applied per second, one SQLite transaction (fsync) per batch, in \(directory)")
    print("batch   commands/s   µs/batch p50   µs/batch p99")
    for batch in [1, 16, 256] {
        do {
            let store = try PolicyStore(path: directory + "/batch-\(batch).sqlite")
            let organization = try Name("acme")
            var index: UInt64 = 1
            try store.apply([encoded(index, .createOrganization(name: organization))])
            let count = batch == 1 ? min(total, 2_000) : total
            var samples: [Double] = []
            var made = 0
            let start = clock.now
            while made < count {
                var entries: [AppliedEntry] = []
                for _ in 0..<batch {
                    index += 1
                    let member = PrincipalReference(organization: organization, name: try Name("user\(made)"))
                    let command: Command =
                        made % 4 == 3
                        ? .createBinding(
                            id: EntityID(high: 7, low: index), principal: PrincipalReference(organization: organization, name: try Name("user\(made - 1)")),
                            role: .builtIn(.organizationViewer), scope: .organization(organization))
                        : .createPrincipal(member, kind: .user)
                    entries.append(encoded(index, command))
                    made += 1
                }
                let began = clock.now
                try store.apply(entries)
                samples.append(microseconds(clock.now - began))
            }
            let seconds = microseconds(clock.now - start) / 1e6
            samples.sort()
            print(
                pad(String(batch), 5) + pad(String(Int(Double(made) / seconds)), 13)
                    + pad(String(Int(samples[samples.count / 2])), 15) + pad(String(Int(samples[samples.count * 99 / 100])), 15))
            store.close()
        } catch {
            print("store benchmark failed: \(error)")
            exit(1)
        }
    }
    _ = system("rm -rf '\(directory)'")
}

private func encoded(_ index: UInt64, _ command: Command) -> AppliedEntry {
    let envelope = CommandEnvelope(
        command: command, actor: nil, requestID: "bench-\(index)", time: Timestamp(millisecondsSinceEpoch: Int64(index)))
    return AppliedEntry(index: index, command: CommandCodec.encode(envelope))
}

