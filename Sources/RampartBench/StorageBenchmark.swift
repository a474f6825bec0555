import RaftCore
import RaftStorage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Durable log throughput: entries per second for batches of 1, 16 and 64 entries with one
/// durable sync per batch, and the latency of a synced single-entry batch, which is the
/// fdatasync floor of the disk plus the log's own cost. Each runs twice: with segments that
/// reserve space ahead of their records (the default) and without (`preallocationBytes` 0).
func runStorageBenchmark() {
    let directory = textFlag("directory", default: "/tmp/rampart-storage-bench-\(getpid())")
    let total = flag("entries", default: 20_000)
    let entryBytes = flag("entry-bytes", default: 256)
    let payload = [UInt8](repeating: 0x5A, count: entryBytes)
    let clock = ContinuousClock()
    print("durable log: \(entryBytes)-byte entries in \(directory), one fdatasync per batch")
    print("reserve   batch   entries/s   µs/batch p50   µs/batch p99   syncs")
    do {
        try makeDirectory(directory)
    } catch {
        print("storage benchmark failed: \(error)")
        exit(1)
    }
    for (batch, reserve) in [1, 16, 64].flatMap({ batch in [(batch, 0), (batch, RaftStorageOptions().preallocationBytes)] }) {
        do {
            var options = RaftStorageOptions()
            options.preallocationBytes = reserve
            let log = try RaftLogStorage(directory: directory + "/batch-\(batch)-reserve-\(reserve)", options: options)
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
                pad(reserve == 0 ? "none" : "\(reserve >> 20) MiB", 7) + pad(String(batch), 8) + pad(String(rate), 12) + pad(String(Int(samples[samples.count / 2])), 15)
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

