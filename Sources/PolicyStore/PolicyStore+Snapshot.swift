internal import Crypto
internal import CSQLite

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

extension PolicyStore {
    /// SHA-256 over every table, rows in primary-key order, each value with its type: equal on
    /// every replica that applied the same commands, whatever the batching. The applied index is
    /// left out: it is reported beside the hash, and entries that carry no command (a leader's
    /// no-op, a membership change) move it without changing the policy. So a cluster restored
    /// from a snapshot has the snapshot's hash until its first command, although its first
    /// leader's no-op moved the revision on.
    public func stateHash() throws(PolicyStoreError) -> [UInt8] {
        try Self.stateHash(of: database)
    }

    /// The state hash of the database behind `database` (see `stateHash()`).
    static func stateHash(of database: SQLiteDatabase) throws(PolicyStoreError) -> [UInt8] {
        var hasher = SHA256()
        do {
            for (table, orderBy) in Schema.hashedTables {
                hasher.update(data: Array(table.utf8) + [0])
                let rows = try database.rows(
                    table == "meta" ? "SELECT * FROM meta WHERE key <> 'applied_index' ORDER BY key" : "SELECT * FROM \(table) ORDER BY \(orderBy)")
                for row in rows {
                    for value in row { Self.feed(value, into: &hasher) }
                    hasher.update(data: [0xFF])
                }
            }
        } catch {
            throw .database(error)
        }
        return Array(hasher.finalize())
    }

    /// The state hash and applied index of the database at `databasePath`, read in one
    /// transaction through a read-only connection of its own, while the store's owner goes on
    /// committing. The owner interrupts it through `control` (`cancelAndWait()`) before it
    /// replaces or closes the files.
    /// - Throws: `.cancelled` when interrupted; `.database` when SQLite fails.
    public static func stateHash(ofDatabaseAt databasePath: String, control: SnapshotCopyControl) throws(PolicyStoreError)
        -> (hash: [UInt8], appliedIndex: UInt64)
    {
        defer { control.finish() }
        do throws(DatabaseError) {
            return try readTransaction(of: databasePath, control: control, purpose: "state hash") { (source, applied) throws(DatabaseError) in
                do throws(PolicyStoreError) {
                    return (try stateHash(of: source), applied)
                } catch .database(let error) {
                    throw error
                } catch {
                    throw DatabaseError(code: 1, message: "\(error)", context: "state hash of \(databasePath)")
                }
            }
        } catch {
            if control.isCancelled { throw .cancelled }
            throw .database(error)
        }
    }

    private static func feed(_ value: SQLValue, into hasher: inout SHA256) {
        var bytes: [UInt8] = []
        switch value {
        case .integer(let number):
            bytes.append(1)
            withUnsafeBytes(of: number.littleEndian) { bytes.append(contentsOf: $0) }
        case .text(let text):
            bytes.append(2)
            withUnsafeBytes(of: UInt64(text.utf8.count).littleEndian) { bytes.append(contentsOf: $0) }
            bytes.append(contentsOf: text.utf8)
        case .blob(let blob):
            bytes.append(3)
            withUnsafeBytes(of: UInt64(blob.count).littleEndian) { bytes.append(contentsOf: $0) }
            bytes.append(contentsOf: blob)
        case .null:
            bytes.append(4)
        }
        hasher.update(data: bytes)
    }

    /// Writes a consistent copy of the database (as of `appliedIndex`) to `path`: written
    /// aside, synced, then renamed into place.
    public func writeSnapshot(to path: String) throws(PolicyStoreError) {
        guard staged == nil else { throw .misuse("a staged batch was not written to the database") }
        _ = try Self.writeSnapshot(of: self.path, aside: path + ".partial") { _ in path }
    }

    /// Writes a consistent copy of the database at `databasePath` through a connection of its
    /// own, so that the store's owner goes on committing meanwhile: the copy reads one commit
    /// (the newest when it starts) while later commits go to the write-ahead log. The copy is
    /// written to `aside`, synced, and renamed to `destination(index)`, where `index` is the
    /// applied index the copy holds; the name is known only once the copy is made.
    ///
    /// The owner must not replace or remove the database's files while a copy reads them: it
    /// calls `control.cancelAndWait()` first, which stops the copy (`.cancelled`, nothing
    /// renamed into place) and returns once the copy has let go of the files.
    /// - Returns: the applied index of the copy.
    public static func writeSnapshot(
        of databasePath: String, aside: String, control: SnapshotCopyControl? = nil, destination: (UInt64) -> String
    ) throws(PolicyStoreError) -> UInt64 {
        defer { control?.finish() }
        try removeIfPresent(aside)
        let index: UInt64
        do throws(DatabaseError) {
            let source = try SQLiteDatabase(path: databasePath)
            defer { source.close() }
            guard control?.begin(source) ?? true else { throw DatabaseError(code: 9, message: "cancelled", context: "snapshot") }
            defer { control?.end() }
            try source.execute("PRAGMA busy_timeout = \(snapshotBusyTimeoutMilliseconds)")
            try source.run("VACUUM INTO ?", [.text(aside)])
            let copy = try SQLiteDatabase(path: aside)
            defer { copy.close() }
            var found: Int64?
            try copy.query("SELECT value FROM meta WHERE key = 'applied_index'") { (row) throws(DatabaseError) in found = row.integer(0) }
            guard let found, found >= 0 else {
                throw DatabaseError(code: 1, message: "the copy holds no applied index", context: "snapshot of \(databasePath)")
            }
            index = UInt64(found)
        } catch {
            try? removeIfPresent(aside)
            if control?.isCancelled == true { throw .cancelled }
            throw .database(error)
        }
        if control?.isCancelled == true {
            try? removeIfPresent(aside)
            throw .cancelled
        }
        try syncFile(aside)
        try rename(aside, to: destination(index))
        return index
    }

    /// Copies the database at `databasePath` to `path`, consistent at one applied index, at a
    /// pace (`pacing`) instead of at once: for a backup, whose copy would otherwise write as much
    /// as the database holds in one burst while the replicas sync their logs on the same disk.
    /// The copy reads one transaction (the newest commit when it starts) through a connection of
    /// its own with SQLite's online backup, a step at a time, pausing between steps; later
    /// commits go to the write-ahead log meanwhile (which grows until the copy ends: it holds
    /// the log's checkpoint back). The copy is written to `path` + `.partial`, neither it nor
    /// its directory synced (it is read once and removed), and renamed to `path`.
    ///
    /// `control.cancelAndWait()` stops it between two steps (`.cancelled`, nothing at `path`).
    /// - Returns: the applied index of the copy.
    public static func exportCopy(of databasePath: String, to path: String, control: SnapshotCopyControl? = nil, pacing: CopyPacing)
        throws(PolicyStoreError) -> UInt64
    {
        defer { control?.finish() }
        let aside = path + ".partial"
        try removeIfPresent(aside)
        let index: UInt64
        do throws(DatabaseError) {
            index = try readTransaction(of: databasePath, control: control, purpose: "backup copy") { (source, applied) throws(DatabaseError) in
                try copyPaced(source, to: aside, control: control, pacing: pacing)
                return applied
            }
        } catch {
            try? removeIfPresent(aside)
            try? removeIfPresent(aside + "-wal")
            try? removeIfPresent(aside + "-shm")
            if control?.isCancelled == true { throw .cancelled }
            throw .database(error)
        }
        if control?.isCancelled == true {
            try? removeIfPresent(aside)
            throw .cancelled
        }
        if renameFile(aside, path) != 0 { throw .io(operation: "rename", path: aside, errno: errno) }
        return index
    }

    /// Opens a read-only connection to the database at `databasePath` (through `control`, which
    /// may interrupt it), starts one read transaction, reads the applied index in it, and runs
    /// `body` with the connection and that index: whatever `body` reads is the database at that
    /// index, however much the owner commits meanwhile.
    private static func readTransaction<Value>(
        of databasePath: String, control: SnapshotCopyControl?, purpose: String, _ body: (SQLiteDatabase, UInt64) throws(DatabaseError) -> Value
    ) throws(DatabaseError) -> Value {
        let source = try SQLiteDatabase(path: databasePath, readOnly: true)
        defer { source.close() }
        guard control?.begin(source) ?? true else { throw DatabaseError(code: 9, message: "cancelled", context: purpose) }
        defer { control?.end() }
        try source.execute("PRAGMA busy_timeout = \(snapshotBusyTimeoutMilliseconds)")
        // The transaction starts at its first read.
        try source.execute("BEGIN")
        defer { try? source.execute("ROLLBACK") }
        var applied: Int64 = -1
        try source.query("SELECT value FROM meta WHERE key = 'applied_index'") { (row) throws(DatabaseError) in applied = row.integer(0) }
        guard applied >= 0 else { throw DatabaseError(code: 1, message: "no applied index", context: "\(purpose) of \(databasePath)") }
        return try body(source, UInt64(applied))
    }

    /// Copies what `source`'s open read transaction sees into a new database at `path`, at
    /// `pacing`'s pace, stopping between steps once `control` is cancelled.
    private static func copyPaced(_ source: SQLiteDatabase, to path: String, control: SnapshotCopyControl?, pacing: CopyPacing)
        throws(DatabaseError)
    {
        let copy = try SQLiteDatabase(path: path)
        defer { copy.close() }
        // Nothing to roll back in a file that is thrown away if anything fails.
        try copy.execute("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF")
        var pageBytes: Int64 = 4096
        try source.query("PRAGMA page_size") { (row) throws(DatabaseError) in pageBytes = row.integer(0) }
        let clock = pacing.start(pageBytes: Int(pageBytes))
        try source.backup(into: copy, pagesPerStep: pacing.pagesPerStep) { (copied, _) throws(DatabaseError) in
            if control?.isCancelled == true { throw DatabaseError(code: 9, message: "cancelled", context: "backup copy") }
            clock.pause(afterPages: copied)
        }
        // The pages came with the source's header, which names the write-ahead log; a copy
        // read by itself (inspected, restored) is an ordinary database.
        try copy.execute("PRAGMA journal_mode = DELETE")
    }

    /// How long a snapshot copy waits for a lock the writer holds briefly (a checkpoint).
    static var snapshotBusyTimeoutMilliseconds: Int { 10_000 }

    /// Replaces the database at `databasePath` with a snapshot, atomically and restartably: the
    /// snapshot is copied aside and synced; a marker records that the restore is decided; the old
    /// write-ahead files are removed and the copy renamed into place; the marker goes last. A
    /// crash anywhere after the marker is finished by the next `PolicyStore` opened there. The
    /// store at `databasePath` must be closed; open a new one afterwards.
    public static func restoreSnapshot(from snapshotPath: String, to databasePath: String) throws(PolicyStoreError) {
        let aside = databasePath + ".restoring"
        try copyFile(snapshotPath, to: aside)
        try syncFile(aside)
        try writeEmptyFile(databasePath + ".restore-pending")
        try syncDirectory(of: databasePath)
        try finishInterruptedRestore(of: databasePath)
    }

    /// Completes a restore whose marker exists (see `restoreSnapshot`).
    static func finishInterruptedRestore(of databasePath: String) throws(PolicyStoreError) {
        let marker = databasePath + ".restore-pending"
        guard access(marker, F_OK) == 0 else { return }
        let aside = databasePath + ".restoring"
        if access(aside, F_OK) == 0 {
            // The old write-ahead log must never be replayed onto the restored database.
            try removeIfPresent(databasePath + "-wal")
            try removeIfPresent(databasePath + "-shm")
            try syncDirectory(of: databasePath)
            try rename(aside, to: databasePath)
        }
        try removeIfPresent(marker)
        try syncDirectory(of: databasePath)
    }

    private static func writeEmptyFile(_ path: String) throws(PolicyStoreError) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw .io(operation: "open", path: path, errno: errno) }
        defer { closeDescriptor(descriptor) }
        if fsync(descriptor) != 0 { throw .io(operation: "fsync", path: path, errno: errno) }
    }

    // MARK: - Files

    private static func syncFile(_ path: String) throws(PolicyStoreError) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .io(operation: "open", path: path, errno: errno) }
        defer { closeDescriptor(descriptor) }
        if fsync(descriptor) != 0 { throw .io(operation: "fsync", path: path, errno: errno) }
    }

    private static func rename(_ source: String, to destination: String) throws(PolicyStoreError) {
        if renameFile(source, destination) != 0 { throw .io(operation: "rename", path: source, errno: errno) }
        try syncDirectory(of: destination)
    }

    private static func syncDirectory(of path: String) throws(PolicyStoreError) {
        let directory = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let descriptor = open(directory.isEmpty ? "/" : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .io(operation: "open", path: directory, errno: errno) }
        defer { closeDescriptor(descriptor) }
        if fsync(descriptor) != 0 { throw .io(operation: "fsync", path: directory, errno: errno) }
    }

    private static func removeIfPresent(_ path: String) throws(PolicyStoreError) {
        if unlink(path) != 0 && errno != ENOENT { throw .io(operation: "unlink", path: path, errno: errno) }
    }

    private static func copyFile(_ source: String, to destination: String) throws(PolicyStoreError) {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw .io(operation: "open", path: source, errno: errno) }
        defer { closeDescriptor(input) }
        let output = open(destination, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard output >= 0 else { throw .io(operation: "open", path: destination, errno: errno) }
        defer { closeDescriptor(output) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw .io(operation: "read", path: source, errno: errno)
            }
            if count == 0 { return }
            var written = 0
            while written < count {
                let result = buffer.withUnsafeBytes { write(output, $0.baseAddress! + written, count - written) }
                if result < 0 {
                    if errno == EINTR { continue }
                    throw .io(operation: "write", path: destination, errno: errno)
                }
                written += result
            }
        }
    }
}

/// How fast a paced copy of the database goes (`PolicyStore.exportCopy`): a step of
/// `pagesPerStep` pages, then a pause that keeps the average at `bytesPerSecond` at most. The
/// pauses are what spread a backup's disk writes out; a copy that cannot keep the pace (a slow
/// disk) goes as fast as it can, without pauses.
public struct CopyPacing: Sendable, Equatable {
    /// The highest average rate of the copy, in bytes of database a second.
    public var bytesPerSecond: Int
    /// How many pages (of the database's page size, 4 KiB by default) a step copies.
    public var pagesPerStep: Int32

    /// A pace of `bytesPerSecond` (at least 1 MiB/s), in steps of `pagesPerStep` pages.
    public init(bytesPerSecond: Int, pagesPerStep: Int32 = 64) {
        self.bytesPerSecond = max(bytesPerSecond, 1 << 20)
        self.pagesPerStep = max(pagesPerStep, 1)
    }

    /// The pace of a backup: 48 MiB/s, a 100,000-principal database (30 MiB) in under a
    /// second, a million (250 MiB) in about five; fast enough that a save takes little longer
    /// than sending the file, slow enough that the log syncs of the replicas on the same disk
    /// are not queued behind it.
    public static let backup = CopyPacing(bytesPerSecond: 48 << 20)

    /// Starts the clock of one copy.
    func start(pageBytes: Int) -> Clock { Clock(pacing: self, start: Self.now(), pageBytes: max(pageBytes, 512)) }

    /// Seconds on a monotonic clock.
    static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    /// The clock of one copy: how far ahead of its pace it is.
    struct Clock {
        let pacing: CopyPacing
        let start: Double
        /// The database's page size.
        let pageBytes: Int

        /// Sleeps for as long as the copy is ahead of its pace after `copied` pages; at most a
        /// quarter of a second at a time (so that a cancelled copy stops soon).
        func pause(afterPages copied: Int) {
            let due = Double(copied * pageBytes) / Double(pacing.bytesPerSecond)
            let ahead = min(due - (CopyPacing.now() - start), 0.25)
            guard ahead > 0.000_5 else { return }
            var request = timespec(tv_sec: 0, tv_nsec: Int(ahead * 1e9))
            var remaining = timespec()
            while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
        }
    }
}

/// The thread a background copy runs on (a snapshot, a backup, a state hash).
public enum BackgroundThread {
    /// How much lower than the replica's other threads a background copy runs (nice value).
    public static let niceIncrement: Int32 = 10

    /// Lowers the calling thread's CPU priority by `niceIncrement` (Linux: the nice value of
    /// this thread alone), so that a copy of a large database yields the CPU to the runtime
    /// and the request threads instead of slowing writes down. Call it first on a thread made
    /// for the copy, never on a shared one.
    public static func lowerPriority() {
        _ = rampart_lower_thread_priority(niceIncrement)
    }
}

/// The C library's `close`, out of reach of `PolicyStore.close()` inside the extension.
func closeDescriptor(_ descriptor: Int32) {
    _ = close(descriptor)
}

/// The C library's `rename`, out of reach of the extension's own `rename`.
private func renameFile(_ source: String, _ destination: String) -> Int32 {
    rename(source, destination)
}

/// Stops a snapshot copy (`PolicyStore.writeSnapshot(of:aside:control:destination:)`) from
/// another thread and waits until it has let go of the database's files: the database's owner
/// calls `cancelAndWait()` before it replaces or closes them. One control serves one copy.
///
/// `@unchecked Sendable`: every field is guarded by `mutex`.
public final class SnapshotCopyControl: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var database: SQLiteDatabase?
    private var cancelled = false
    private var finished = false

    /// Creates the control of a copy about to start.
    public init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        condition.deallocate()
    }

    /// Interrupts the copy if it is reading, and returns once the copy has ended (at once if it
    /// has). A copy that had not renamed its file into place by then renames nothing.
    public func cancelAndWait() {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        cancelled = true
        database?.interrupt()
        while !finished { pthread_cond_wait(condition, mutex) }
    }

    /// Whether `cancelAndWait()` was called.
    public var isCancelled: Bool {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return cancelled
    }

    /// The copy reads through `database` from now on; false when already cancelled.
    func begin(_ database: SQLiteDatabase) -> Bool {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        guard !cancelled else { return false }
        self.database = database
        return true
    }

    /// The copy stopped reading (before its connection closes: never interrupted after).
    func end() {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        database = nil
    }

    /// The copy has ended, whatever its outcome (calling it again does nothing more): its
    /// runner calls it last, so that `cancelAndWait()` returns.
    public func finish() {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        finished = true
        pthread_cond_broadcast(condition)
    }
}
