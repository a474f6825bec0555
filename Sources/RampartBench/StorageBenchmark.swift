import RaftCore
import RaftStorage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Durable log throughput: entries per second for batches of 1, 16 and 64 entries with one
/// durable sync per batch, and the latency of a synced single-entry batch, which is the
/// fdatasync floor of the disk plus the log's own cost.
func runStorageBenchmark() {
    let directory = textFlag("directory", default: "/tmp/rampart-storage-bench-\(getpid())")
    let total = flag("entries", default: 20_000)
    let entryBytes = flag("entry-bytes", default: 256)
    let payload = [UInt8](repeating: 0x5A, count: entryBytes)
    let clock = ContinuousClock()
    print("durable log: \(entryBytes)-byte entries in \(directory), one fdatasync per batch")
    print("batch   entries/s   µs/batch p50   µs/batch p99   syncs")
    do {
        try makeDirectory(directory)
    } catch {
        print("storage benchmark failed: \(error)")
        exit(1)
    }
    for batch in [1, 16, 64] {
        do {
            let log = try RaftLogStorage(directory: directory + "/batch-\(batch)")
            var index: UInt64 = 0
            var samples: [Double] = []
            let count = batch == 1 ? min(total, 5_000) : total
            let start = clock.now
            while index < UInt64(count) {
                let entries = (0..<batch).map { offset in
                    Entry(term: 1, index: index + UInt64(offset) + 1, payload: .command(payload))
                }
                let began = clock.now
                try log.persist(hardState: nil, snapshot: nil, entries: entries, sync: true)
                samples.append(microseconds(clock.now - began))
                index += UInt64(batch)
            }
            let seconds = microseconds(clock.now - start) / 1e6
            samples.sort()
            let rate = Int(Double(index) / seconds)
            print(
                pad(String(batch), 5) + pad(String(rate), 12) + pad(String(Int(samples[samples.count / 2])), 15)
                    + pad(String(Int(samples[samples.count * 99 / 100])), 15) + pad(String(log.syncCount), 8))
            log.close()
        } catch {
            print("storage benchmark failed: \(error)")
            exit(1)
        }
    }
    _ = system("rm -rf '\(directory)'")
}

private func makeDirectory(_ path: String) throws {
    if mkdir(path, 0o700) != 0 && errno != EEXIST { throw StorageError.io(operation: "mkdir", path: path, errno: errno) }
}

