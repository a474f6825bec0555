internal import CSQLite

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A failure reported by SQLite, with the statement or operation it came from.
public struct DatabaseError: Error, Hashable, Sendable, CustomStringConvertible {
    /// SQLite's result code.
    public var code: Int32
    /// SQLite's message.
    public var message: String
    /// What was being done.
    public var context: String

    public var description: String { "SQLite error \(code) (\(message)) in \(context)" }
}

/// A value bound to or read from a statement.
enum SQLValue: Hashable {
    case integer(Int64)
    case text(String)
    case blob([UInt8])
    case null
}

/// A thin wrapper over one SQLite connection: prepared statements cached by their SQL, and
/// transactions. Not thread-safe: its owner (the store) serializes access.
final class SQLiteDatabase {
    let path: String
    private var handle: OpaquePointer?
    private var statements: [String: OpaquePointer] = [:]
    /// Test hook: when set, the statement after this many more executions fails.
    var failAfterStatements: Int?

    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    /// The mode of every file of a database (`path`, `-wal`, `-shm`): owner-only, as the Raft
    /// log is. SQLite gives the files it creates beside a database the database file's mode.
    static let fileMode: mode_t = 0o600

    /// Opens (creating when absent) the database at `path`; with `readOnly`, opens an existing
    /// one that this connection will not write (a copy being checked).
    init(path: String, readOnly: Bool = false) throws(DatabaseError) {
        self.path = path
        if !readOnly { try Self.restrictFiles(of: path) }
        var connection: OpaquePointer?
        let flags = readOnly ? SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let result = sqlite3_open_v2(path, &connection, flags, nil)
        guard result == SQLITE_OK, let connection else {
            let message = connection.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            sqlite3_close_v2(connection)
            throw DatabaseError(code: result, message: message, context: "open \(path)")
        }
        handle = connection
        sqlite3_extended_result_codes(connection, 1)
    }

    deinit {
        close()
    }

    /// Creates the database file owner-only whatever the process umask, and narrows the files of
    /// a database created before (or by another tool) to that mode.
    private static func restrictFiles(of path: String) throws(DatabaseError) {
        guard path != ":memory:", !path.isEmpty else { return }
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, fileMode)
        guard descriptor >= 0 else {
            throw DatabaseError(code: SQLITE_CANTOPEN, message: "errno \(errno)", context: "create \(path)")
        }
        defer { closeDescriptor(descriptor) }
        guard fchmod(descriptor, fileMode) == 0 else {
            throw DatabaseError(code: SQLITE_PERM, message: "errno \(errno)", context: "chmod \(path)")
        }
        for suffix in ["-wal", "-shm"] where access(path + suffix, F_OK) == 0 {
            guard chmod(path + suffix, fileMode) == 0 else {
                throw DatabaseError(code: SQLITE_PERM, message: "errno \(errno)", context: "chmod \(path + suffix)")
            }
        }
    }

    /// Makes the statement running on this connection (on another thread) stop soon with
    /// `SQLITE_INTERRUPT`. The caller must make sure the connection is not being closed.
    func interrupt() {
        if let handle { sqlite3_interrupt(handle) }
    }

    func close() {
        for statement in statements.values { sqlite3_finalize(statement) }
        statements = [:]
        if let handle { sqlite3_close_v2(handle) }
        handle = nil
    }

    /// Runs one or more statements without parameters.
    func execute(_ sql: String) throws(DatabaseError) {
        try countStatement(sql)
        var message: UnsafeMutablePointer<CChar>?
        let result = sqlite3_exec(handle, sql, nil, nil, &message)
        guard result == SQLITE_OK else {
            let text = message.map { String(cString: $0) } ?? "unknown error"
            sqlite3_free(message)
            throw DatabaseError(code: result, message: text, context: sql)
        }
    }

    /// Runs a statement with parameters, discarding any rows.
    func run(_ sql: String, _ values: [SQLValue] = []) throws(DatabaseError) {
        try query(sql, values) { _ in }
    }

    /// Runs a statement with parameters and calls `row` for each result row.
    func query(_ sql: String, _ values: [SQLValue] = [], row: (Row) throws(DatabaseError) -> Void) throws(DatabaseError) {
        try countStatement(sql)
        let statement = try prepared(sql)
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        for (offset, value) in values.enumerated() {
            let position = Int32(offset + 1)
            let result: Int32
            switch value {
            case .integer(let number): result = sqlite3_bind_int64(statement, position, number)
            case .text(let text):
                // With its byte length, so that text holding a NUL is stored whole; SQLite copies
                // the bytes (`transient`), which are the string's own, not a copy of them.
                var contiguous = text
                result = contiguous.withUTF8 { buffer in
                    guard let base = buffer.baseAddress, buffer.count > 0 else {
                        return sqlite3_bind_text(statement, position, "", 0, Self.transient)
                    }
                    return base.withMemoryRebound(to: CChar.self, capacity: buffer.count) {
                        sqlite3_bind_text(statement, position, $0, Int32(buffer.count), Self.transient)
                    }
                }
            case .blob(let bytes) where bytes.isEmpty:
                result = sqlite3_bind_zeroblob(statement, position, 0)
            case .blob(let bytes):
                result = bytes.withUnsafeBytes { sqlite3_bind_blob(statement, position, $0.baseAddress, Int32($0.count), Self.transient) }
            case .null: result = sqlite3_bind_null(statement, position)
            }
            guard result == SQLITE_OK else { throw error(result, sql) }
        }
        while true {
            let result = sqlite3_step(statement)
            if result == SQLITE_DONE { return }
            guard result == SQLITE_ROW else { throw error(result, sql) }
            try row(Row(statement: statement))
        }
    }

    /// Runs a query and returns every row's values.
    func rows(_ sql: String, _ values: [SQLValue] = []) throws(DatabaseError) -> [[SQLValue]] {
        var result: [[SQLValue]] = []
        try query(sql, values) { (row) throws(DatabaseError) in
            result.append((0..<row.count).map { row.value($0) })
        }
        return result
    }

    /// Runs `body` in one write transaction; rolls back if it throws.
    func transaction<Result>(_ body: () throws(DatabaseError) -> Result) throws(DatabaseError) -> Result {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            _ = sqlite3_exec(handle, "ROLLBACK", nil, nil, nil)
            throw error
        }
    }

    /// Copies this connection's database into `destination` (an empty database on a connection
    /// of its own) with SQLite's online backup, `pagesPerStep` pages at a time, and calls `between`
    /// after each step with the pages copied so far and the database's page count; `between` may
    /// pause (pacing) or throw (cancelling: the destination then holds a partial copy, which
    /// the caller removes). Open a read transaction on this connection first: the copy is then the
    /// database as that transaction sees it, however much others commit meanwhile (without one,
    /// each commit by another connection would restart the copy).
    /// - Throws: the step's error, or `between`'s.
    func backup(into destination: SQLiteDatabase, pagesPerStep: Int32, between: (_ copied: Int, _ total: Int) throws(DatabaseError) -> Void)
        throws(DatabaseError)
    {
        guard let backup = sqlite3_backup_init(destination.handle, "main", handle, "main") else {
            throw destination.error(sqlite3_errcode(destination.handle), "backup of \(path) into \(destination.path)")
        }
        var finished = false
        defer { if !finished { sqlite3_backup_finish(backup) } }
        while true {
            let result = sqlite3_backup_step(backup, pagesPerStep)
            switch result & 0xFF {
            case SQLITE_DONE:
                finished = true
                let code = sqlite3_backup_finish(backup)
                guard code == SQLITE_OK else { throw destination.error(code, "backup of \(path) into \(destination.path)") }
                return
            case SQLITE_OK, SQLITE_BUSY, SQLITE_LOCKED:
                // Busy or locked: a lock held briefly (the destination is ours alone, so it is the
                // source's); the next step tries again after `between`'s pause.
                let total = Int(sqlite3_backup_pagecount(backup))
                try between(total - Int(sqlite3_backup_remaining(backup)), total)
            default:
                throw DatabaseError(code: result, message: String(cString: sqlite3_errstr(result)), context: "backup of \(path) into \(destination.path)")
            }
        }
    }

    private func prepared(_ sql: String) throws(DatabaseError) -> OpaquePointer {
        if let cached = statements[sql] { return cached }
        var statement: OpaquePointer?
        let result = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard result == SQLITE_OK, let statement else { throw error(result, sql) }
        statements[sql] = statement
        return statement
    }

    private func countStatement(_ sql: String) throws(DatabaseError) {
        guard let remaining = failAfterStatements else { return }
        if remaining == 0 {
            failAfterStatements = nil
            throw DatabaseError(code: SQLITE_IOERR, message: "injected failure", context: sql)
        }
        failAfterStatements = remaining - 1
    }

    private func error(_ code: Int32, _ context: String) -> DatabaseError {
        DatabaseError(code: code, message: String(cString: sqlite3_errmsg(handle)), context: context)
    }

    /// One result row.
    struct Row {
        let statement: OpaquePointer

        var count: Int { Int(sqlite3_column_count(statement)) }

        func value(_ column: Int) -> SQLValue {
            let index = Int32(column)
            switch sqlite3_column_type(statement, index) {
            case SQLITE_INTEGER: return .integer(sqlite3_column_int64(statement, index))
            case SQLITE_TEXT:
                let length = Int(sqlite3_column_bytes(statement, index))
                guard length > 0, let base = sqlite3_column_text(statement, index) else { return .text("") }
                return .text(String(decoding: UnsafeRawBufferPointer(start: base, count: length), as: UTF8.self))
            case SQLITE_BLOB:
                let length = Int(sqlite3_column_bytes(statement, index))
                guard length > 0, let base = sqlite3_column_blob(statement, index) else { return .blob([]) }
                return .blob(Array(UnsafeRawBufferPointer(start: base, count: length)))
            default: return .null
            }
        }

        func integer(_ column: Int) -> Int64 {
            if case .integer(let value) = value(column) { return value }
            return 0
        }

        func text(_ column: Int) -> String {
            if case .text(let value) = value(column) { return value }
            return ""
        }

        func blob(_ column: Int) -> [UInt8] {
            if case .blob(let value) = value(column) { return value }
            return []
        }
    }
}
