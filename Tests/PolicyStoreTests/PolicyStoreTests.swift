import AuditVerification
import Foundation
import PolicyModel
import PolicyStore
import Testing

final class StoreDirectory {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("rampart-store-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    func database(_ name: String = "policy") -> String { path + "/" + name + ".sqlite" }
}

func name(_ text: String) -> Name {
    do { return try Name(text) } catch { preconditionFailure("bad fixture name \(text)") }
}

func principal(_ organization: String, _ member: String) -> PrincipalReference {
    PrincipalReference(organization: name(organization), name: name(member))
}

/// A committed entry. The default actor is the cluster itself (no principal), which the state
/// machine lets make any change; tests of the actor checks pass one.
func entry(_ index: UInt64, _ command: Command, actor: PrincipalReference? = nil, key: String? = nil)
    -> AppliedEntry
{
    let envelope = CommandEnvelope(
        command: command, actor: actor, requestID: "req-\(index)", idempotencyKey: key, expectedRevision: nil,
        time: Timestamp(millisecondsSinceEpoch: 1_700_000_000_000 + Int64(index)))
    return AppliedEntry(index: index, command: CommandCodec.encode(envelope))
}

/// A store in a fresh directory with the first ten entries of `workload()` applied, and the
/// whole workload.
func storeWithFirstTenEntries() throws -> (StoreDirectory, [AppliedEntry], PolicyStore) {
    let directory = try StoreDirectory()
    let entries = try workload()
    let store = try PolicyStore(path: directory.database())
    try store.apply(Array(entries[0..<10]))
    return (directory, entries, store)
}

/// A workload touching every table: tenants, projects, principals, roles, bindings, keys,
/// rejections, idempotent retries and no-op entries.
func workload() throws -> [AppliedEntry] {
    var commands: [Command] = [.createPrincipal(principal("system", "root"), kind: .user)]
    for organization in ["acme", "globex", "initech"] {
        commands.append(.createOrganization(name: name(organization)))
        commands.append(.createProject(organization: name(organization), name: name("web")))
        commands.append(.createRole(organization: name(organization), name: name("deployer"), permissions: [try Permission("compute.*.create")]))
        for member in ["alice", "bob"] {
            commands.append(.createPrincipal(principal(organization, member), kind: .user))
        }
    }
    commands.append(.createBinding(id: EntityID(high: 1, low: 1), principal: principal("acme", "alice"), role: .builtIn(.organizationAdmin), scope: .organization(name("acme"))))
    commands.append(.createBinding(id: EntityID(high: 1, low: 2), principal: principal("acme", "bob"), role: .custom(organization: name("acme"), name: name("deployer")), scope: .project(organization: name("acme"), project: name("web"))))
    commands.append(.createBinding(id: EntityID(high: 1, low: 3), principal: principal("acme", "bob"), role: .builtIn(.organizationAdmin), scope: .organization(name("globex"))))
    commands.append(.createAPIKey(id: EntityID(high: 2, low: 1), principal: principal("acme", "alice"), secretHash: [UInt8](repeating: 0xEE, count: 32)))
    commands.append(.addRootKey(id: EntityID(high: 3, low: 1), publicKey: [UInt8](repeating: 1, count: 32), sealedPrivateKey: [UInt8](repeating: 0xDD, count: 60)))
    commands.append(.activateRootKey(id: EntityID(high: 3, low: 1)))
    commands.append(.updateRole(organization: name("acme"), name: name("deployer"), permissions: [try Permission("compute.*.*")]))
    commands.append(.deleteOrganization(name: name("initech"), force: true))
    commands.append(.setOrganizationSuspended(name: name("globex"), suspended: true))
    var entries: [AppliedEntry] = []
    var index: UInt64 = 1
    for command in commands {
        entries.append(entry(index, command, key: index % 4 == 0 ? "key-\(index)" : nil))
        index += 1
        if index % 7 == 0 {
            entries.append(AppliedEntry(index: index, command: nil))
            index += 1
        }
    }
    // A retry of an idempotent request, and bytes that are no command at all.
    entries.append(entry(index, commands[3], key: "key-4"))
    entries.append(AppliedEntry(index: index + 1, command: [9, 9, 9]))
    return entries
}

/// Runs `statement` on the database at `path` with the sqlite3 shell (scripts/test-deps installs
/// it), as an outside hand damaging a row would.
func editWithSQLite(_ path: String, _ statement: String) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
    process.arguments = [path, statement]
    try process.run()
    process.waitUntilExit()
    try #require(process.terminationStatus == 0, "sqlite3 failed on \(statement)")
}

@Suite struct PolicyStoreTests {
    // The same commands on two fresh databases, in different batch splits, give the same state
    // hash and the same audit head.
    /// The database and its write-ahead files are owner-only whatever the umask (under 022 they
    /// were 0644), and a database left wider by an earlier version is narrowed when opened.
    @Test func databaseFilesAreOwnerOnly() throws {
        let previous = umask(0o022)
        defer { umask(previous) }
        let directory = try StoreDirectory()
        let path = directory.database()
        let store = try PolicyStore(path: path)
        try store.apply(Array(try workload()[0..<3]))
        for file in [path, path + "-wal", path + "-shm"] {
            let attributes = try FileManager.default.attributesOfItem(atPath: file)
            #expect((attributes[.posixPermissions] as? Int) == 0o600, "\(file): \(attributes[.posixPermissions] ?? "?")")
        }
        store.close()
        #expect(chmod(path, 0o644) == 0)
        let reopened = try PolicyStore(path: path)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        reopened.close()
    }

    // The cluster's bootstrap is durable: a restarted replica refuses a second one as the
    // others do, and the state hash covers it.
    @Test func bootstrapSurvivesARestart() throws {
        let directory = try StoreDirectory()
        let path = directory.database()
        let store = try PolicyStore(path: path)
        let before = try store.stateHash()
        let admin = AdministratorKey(keyID: EntityID(high: 1, low: 1), secretHash: Array(repeating: 1, count: 32), bindingID: EntityID(high: 1, low: 2))
        let rootKey = RootKeyMaterial(id: EntityID(high: 1, low: 3), publicKey: Array(repeating: 2, count: 32), sealedPrivateKey: Array(repeating: 3, count: 40))
        try store.apply([entry(1, .bootstrap(admin: admin, rootKey: rootKey))])
        #expect(store.state.bootstrapRevision == 1)
        #expect(try store.stateHash() != before)
        let hash = try store.stateHash()
        store.close()
        let reopened = try PolicyStore(path: path)
        #expect(reopened.state.bootstrapRevision == 1 && reopened.state.isBootstrapped)
        #expect(try reopened.stateHash() == hash)
        reopened.close()
    }

    @Test func sameCommandsInDifferentBatchesGiveTheSameState() throws {
        let directory = try StoreDirectory()
        let entries = try workload()
        let one = try PolicyStore(path: directory.database("one"))
        for single in entries { try one.apply([single]) }
        let all = try PolicyStore(path: directory.database("all"))
        try all.apply(entries)
        let uneven = try PolicyStore(path: directory.database("uneven"))
        var start = 0
        var size = 1
        while start < entries.count {
            try uneven.apply(Array(entries[start..<min(entries.count, start + size)]))
            start += size
            size = size % 5 + 2
        }
        let hash = try one.stateHash()
        #expect(try all.stateHash() == hash)
        #expect(try uneven.stateHash() == hash)
        #expect(one.auditHead.hash == all.auditHead.hash && all.auditHead.hash == uneven.auditHead.hash)
        #expect(one.appliedIndex == entries.last!.index)
        #expect(one.auditHead.sequence == UInt64(entries.filter { $0.command != nil }.count), "one record per command")
    }

    // A failing statement in the middle of a batch leaves the store at the previous applied
    // index with nothing half-applied, in memory and on disk.
    @Test func failureMidBatchLeavesThePreviousAppliedIndex() throws {
        let (directory, entries, store) = try storeWithFirstTenEntries()
        let hashBefore = try store.stateHash()
        let appliedBefore = store.appliedIndex
        store.failAfterStatements(6)
        #expect(throws: PolicyStoreError.self) { try store.apply(Array(entries[10...])) }
        #expect(store.appliedIndex == appliedBefore)
        #expect(try store.stateHash() == hashBefore)
        store.close()
        let reopened = try PolicyStore(path: directory.database())
        #expect(reopened.appliedIndex == appliedBefore)
        #expect(try reopened.stateHash() == hashBefore)
        try reopened.apply(Array(entries[10...]))
        let reference = try PolicyStore(path: directory.database("reference"))
        try reference.apply(entries)
        #expect(try reopened.stateHash() == reference.stateHash())
    }

    // `stage` changes memory only; the database follows at `writeStaged`, and nothing may read
    // it or stage another batch in between.
    @Test func stagedBatchReachesTheDatabaseWhenWritten() throws {
        let (directory, entries, store) = try storeWithFirstTenEntries()
        let reference = try PolicyStore(path: directory.database("reference"))
        let expected = try reference.apply(entries)
        let hashBefore = try store.stateHash()
        let outcomes = try store.stage(Array(entries[10...]))
        #expect(outcomes == Array(expected[10...]))
        #expect(store.appliedIndex == entries.last!.index && store.state.revision == entries.last!.index)
        #expect(store.auditHead.hash == reference.auditHead.hash)
        #expect(try store.stateHash() == hashBefore, "the database is still at the previous batch")
        #expect(throws: PolicyStoreError.self) { try store.stage([AppliedEntry(index: entries.last!.index + 1, command: nil)]) }
        #expect(throws: PolicyStoreError.self) { try store.writeSnapshot(to: directory.path + "/early.sqlite") }
        try store.writeStaged()
        #expect(try store.stateHash() == reference.stateHash())
        store.close()
        let reopened = try PolicyStore(path: directory.database())
        #expect(reopened.appliedIndex == entries.last!.index)
        #expect(reopened.auditHead.hash == reference.auditHead.hash)
    }

    // A failed write of a staged batch leaves the database at the previous batch, and
    // `reloadFromDatabase` puts memory back there.
    @Test func failedWriteOfAStagedBatchReloads() throws {
        let (directory, entries, store) = try storeWithFirstTenEntries()
        let hashBefore = try store.stateHash()
        let headBefore = store.auditHead
        _ = try store.stage(Array(entries[10...]))
        store.failAfterStatements(3)
        #expect(throws: PolicyStoreError.self) { try store.writeStaged() }
        #expect(store.appliedIndex == entries.last!.index, "memory is ahead until reloaded")
        try store.reloadFromDatabase()
        #expect(store.appliedIndex == entries[9].index && store.state.revision == entries[9].index)
        #expect(store.auditHead.sequence == headBefore.sequence && store.auditHead.hash == headBefore.hash)
        #expect(try store.stateHash() == hashBefore)
        try store.apply(Array(entries[10...]))
        let reference = try PolicyStore(path: directory.database("reference"))
        try reference.apply(entries)
        #expect(try store.stateHash() == reference.stateHash())
    }

    // Restoring a snapshot on a fresh replica gives the same state hash and audit head.
    @Test func snapshotRestoresTheSameState() throws {
        let directory = try StoreDirectory()
        let entries = try workload()
        let store = try PolicyStore(path: directory.database())
        try store.apply(entries)
        let snapshot = directory.path + "/snapshot.sqlite"
        try store.writeSnapshot(to: snapshot)
        try PolicyStore.restoreSnapshot(from: snapshot, to: directory.database("restored"))
        let restored = try PolicyStore(path: directory.database("restored"))
        #expect(try restored.stateHash() == store.stateHash())
        #expect(restored.auditHead.hash == store.auditHead.hash)
        #expect(restored.appliedIndex == store.appliedIndex)
        let next = entry(store.appliedIndex + 1, .createOrganization(name: name("after")))
        try store.apply([next])
        try restored.apply([next])
        #expect(try restored.stateHash() == store.stateHash())
    }

    // A snapshot copied through its own connection while the owner goes on committing holds
    // exactly one commit: its applied index names the file, and restoring it gives the state
    // the owner had at that index.
    @Test func snapshotCopiedWhileCommittingHoldsOneCommit() throws {
        let directory = try StoreDirectory()
        let entries = try workload()
        let store = try PolicyStore(path: directory.database(), durability: .replayable)
        try store.apply(Array(entries.prefix(5)))
        let hashAtFive = try store.stateHash()
        let (source, folder) = (directory.database(), directory.path)
        let copier = Thread {
            // Runs while the owner applies the rest, one entry per commit.
            _ = try? PolicyStore.writeSnapshot(of: source, aside: folder + "/taking.partial", destination: { folder + "/snapshot-\($0)" })
        }
        copier.start()
        for next in entries.dropFirst(5) { try store.apply([next]) }
        while !copier.isFinished { Thread.sleep(forTimeInterval: 0.001) }
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasPrefix("snapshot-") }
        #expect(files.count == 1)
        let name = try #require(files.first)
        let index = try #require(UInt64(name.dropFirst("snapshot-".count)))
        #expect(index >= 5 && index <= store.appliedIndex)
        try PolicyStore.restoreSnapshot(from: directory.path + "/" + name, to: directory.database("restored"))
        let restored = try PolicyStore(path: directory.database("restored"))
        #expect(restored.appliedIndex == index)
        let reference = try PolicyStore(path: directory.database("reference"))
        try reference.apply(entries.filter { $0.index <= index })
        #expect(try restored.stateHash() == reference.stateHash())
        if index == 5 { #expect(try restored.stateHash() == hashAtFive) }
        #expect(!FileManager.default.fileExists(atPath: directory.path + "/taking.partial"))
    }

    // The owner stops a copy before replacing the database's files: a copy stopped before it
    // read anything writes nothing; one stopped at any later moment either ends cleanly with its
    // file in place, or ends `.cancelled` with nothing in place; either way no partial is left
    // and `cancelAndWait` returns only once the copy has ended.
    @Test func snapshotCopyStoppedByItsOwnerLeavesNoHalfWrittenFile() throws {
        let directory = try StoreDirectory()
        let store = try PolicyStore(path: directory.database(), durability: .replayable)
        try store.apply(try workload())
        let (source, folder) = (directory.database(), directory.path)
        let aside = folder + "/taking.partial"
        func snapshots() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasPrefix("snapshot-") } }

        let early = SnapshotCopyControl()
        let canceller = Thread { early.cancelAndWait() }
        canceller.start()
        while !early.isCancelled { sched_yield() }
        #expect(throws: PolicyStoreError.cancelled) {
            try PolicyStore.writeSnapshot(of: source, aside: aside, control: early) { folder + "/snapshot-\($0)" }
        }
        while !canceller.isFinished { sched_yield() }
        #expect(try snapshots().isEmpty)
        #expect(!FileManager.default.fileExists(atPath: aside))

        // A larger database, so that a copy is still reading when it is stopped.
        let bulk = bulkPrincipals(after: store.appliedIndex, count: 20_000)
        for batch in stride(from: 0, to: bulk.count, by: 1_000) { try store.apply(Array(bulk[batch..<batch + 1_000])) }
        var interrupted = 0
        for round in 0..<10 {
            let control = SnapshotCopyControl()
            let result = ResultBox()
            let copier = Thread {
                do throws(PolicyStoreError) {
                    result.set(.success(try PolicyStore.writeSnapshot(of: source, aside: aside, control: control) { folder + "/snapshot-\($0)" }))
                } catch {
                    result.set(.failure(error))
                }
            }
            copier.start()
            // Even rounds stop the copy at once; odd ones once it has begun writing its copy.
            if round % 2 == 1 {
                while !FileManager.default.fileExists(atPath: aside) && result.value == nil { sched_yield() }
            }
            control.cancelAndWait()
            // The files are final once cancelAndWait returns; the result arrives just after.
            let placed = try snapshots()
            #expect(!FileManager.default.fileExists(atPath: aside))
            while result.value == nil { sched_yield() }
            switch try #require(result.value) {
            case .success(let index): #expect(placed == ["snapshot-\(index)"])
            case .failure(let error):
                #expect(error == .cancelled)
                #expect(placed.isEmpty)
                if round % 2 == 1 { interrupted += 1 }
            }
            for name in try snapshots() { try FileManager.default.removeItem(atPath: folder + "/" + name) }
        }
        #expect(interrupted > 0, "no copy was stopped while it was writing")
    }

    // A backup's paced copy, made while the owner goes on committing (more commits than steps,
    // each a restart of an unguarded online backup), holds exactly one commit, is an ordinary
    // database (no write-ahead log named in its header, none beside it), and restores to the
    // state the owner had at its index.
    @Test func backupCopyMadeWhileCommittingHoldsOneCommit() throws {
        let directory = try StoreDirectory()
        let entries = try workload()
        let store = try PolicyStore(path: directory.database(), durability: .replayable)
        try store.apply(Array(entries.prefix(5)))
        try store.apply(bulkPrincipals(after: store.appliedIndex, count: 3_000))
        let (source, copyPath) = (directory.database(), directory.path + "/backup")
        let result = ResultBox()
        let copier = Thread {
            do throws(PolicyStoreError) {
                // Steps of one page, at the slowest pace: the copy is still running when the
                // owner commits.
                result.set(.success(try PolicyStore.exportCopy(of: source, to: copyPath, pacing: CopyPacing(bytesPerSecond: 0, pagesPerStep: 1))))
            } catch {
                result.set(.failure(error))
            }
        }
        copier.start()
        // Commits only once the copy has begun (its read transaction is open when it creates
        // its file), so that the copy's index is known.
        while !FileManager.default.fileExists(atPath: copyPath + ".partial") && result.value == nil { sched_yield() }
        let remaining = bulkPrincipals(after: store.appliedIndex, count: 200, prefix: "late")
        for next in remaining {
            try store.apply([next])
            #expect(result.value == nil, "the copy ended before the owner's commits did: it proves nothing")
        }
        while result.value == nil { Thread.sleep(forTimeInterval: 0.001) }
        let index = try #require(try result.value?.get())
        #expect(index == remaining[0].index - 1)
        let header = try #require(FileHandle(forReadingAtPath: copyPath)).readData(ofLength: 20)
        #expect(Array(header[18..<20]) == [1, 1], "the copy's header still names a write-ahead log")
        for leftover in ["-wal", "-shm", "-journal", ".partial"] {
            #expect(!FileManager.default.fileExists(atPath: copyPath + leftover), "\(leftover) left beside the copy")
        }
        try PolicyStore.restoreSnapshot(from: copyPath, to: directory.database("restored"))
        let restored = try PolicyStore(path: directory.database("restored"))
        #expect(restored.appliedIndex == index)
        let reference = try PolicyStore(path: directory.database("reference"))
        try reference.apply(Array(entries.prefix(5)))
        try reference.apply(bulkPrincipals(after: reference.appliedIndex, count: 3_000))
        #expect(try restored.stateHash() == reference.stateHash())
    }

    // The pace holds: a copy of a database of about 1.5 MiB at 1 MiB/s cannot end before the
    // pace allows (a lower bound, which no slowness of the machine can break); and a copy
    // stopped by its owner between two steps leaves nothing behind.
    @Test func backupCopyKeepsItsPaceAndStopsBetweenSteps() throws {
        let directory = try StoreDirectory()
        let store = try PolicyStore(path: directory.database(), durability: .replayable)
        try store.apply(Array(try workload().prefix(5)))
        try store.apply(bulkPrincipals(after: store.appliedIndex, count: 6_000))
        let source = directory.database()
        let pace = CopyPacing(bytesPerSecond: 1 << 20, pagesPerStep: 16)
        let started = ContinuousClock.now
        _ = try PolicyStore.exportCopy(of: source, to: directory.path + "/paced", pacing: pace)
        let took = ContinuousClock.now - started
        // The database's pages are in its file and its write-ahead log: the copy holds them all.
        let bytes = try #require(try FileManager.default.attributesOfItem(atPath: directory.path + "/paced")[.size] as? Int)
        try #require(bytes > 1 << 20, "the database is too small (\(bytes) bytes) to measure a pace of 1 MiB/s")
        // The last step is not waited for: the bound is the pace of all pages but one step's.
        let floor = Double(bytes - 16 * 4096) / Double(1 << 20)
        #expect(took >= .milliseconds(Int(floor * 1000)), "a copy of \(bytes) bytes at 1 MiB/s took \(took)")

        let control = SnapshotCopyControl()
        let result = ResultBox()
        let stopped = directory.path + "/stopped"
        let aside = stopped + ".partial"
        let copier = Thread {
            do throws(PolicyStoreError) {
                result.set(.success(try PolicyStore.exportCopy(of: source, to: stopped, control: control, pacing: pace)))
            } catch {
                result.set(.failure(error))
            }
        }
        copier.start()
        while !FileManager.default.fileExists(atPath: aside) && result.value == nil { sched_yield() }
        control.cancelAndWait()
        #expect(!FileManager.default.fileExists(atPath: aside))
        #expect(!FileManager.default.fileExists(atPath: directory.path + "/stopped"))
        while result.value == nil { sched_yield() }
        #expect(throws: PolicyStoreError.cancelled) { try result.value?.get() }
    }

    // Reopening rebuilds the in-memory state: authorization and idempotency survive restarts.
    /// Token revocations and the feed's floor are stored, and restored as they were.
    @Test func revocationsSurviveARestartAndCountInTheStateHash() throws {
        let directory = try StoreDirectory()
        let store = try PolicyStore(path: directory.database())
        try store.apply(Array(try workload()[0..<10]))
        var numbering = EntryNumbering(after: store.appliedIndex)
        let soon = Timestamp(millisecondsSinceEpoch: 1_700_000_000_000 + Int64(numbering.index) + 2)
        let later = Timestamp(millisecondsSinceEpoch: 1_700_003_600_000)
        let hashBefore = try store.stateHash()
        try store.apply([
            numbering.next(.revokeTokens(ids: [[1, 2, 3]], organization: nil, reason: "soon", expiresAt: soon)),
            numbering.next(.revokeTokens(ids: [Array(repeating: 9, count: 64)], organization: name("acme"), reason: "later", expiresAt: later)),
            numbering.next(.revokeTokenEpoch(.principal(principal("acme", "alice")), reason: "left", expiresAt: later)),
            numbering.next(.revokeTokenEpoch(.organization(name("globex")), reason: "", expiresAt: later)),
        ])
        #expect(try store.stateHash() != hashBefore, "revocations are part of the state")
        try store.apply([numbering.next(.expireRevocations)])
        let revocations = store.state.allRevocations
        let floor = store.state.revocationFloor
        let hash = try store.stateHash()
        #expect(revocations.count == 3 && floor > 0)
        store.close()
        let reopened = try PolicyStore(path: directory.database())
        #expect(reopened.state.allRevocations == revocations)
        #expect(reopened.state.revocationFloor == floor)
        #expect(try reopened.stateHash() == hash)
        #expect(reopened.state.tokenRevocation(ids: [], principal: principal("acme", "alice"), issuedAt: Timestamp(millisecondsSinceEpoch: 0)) != nil)
    }

    /// The peer address book is stored, counted in the state hash, restored, and a damaged row
    /// stops the store from opening rather than handing a bad address to the network.
    @Test func peerAddressBookSurvivesARestart() throws {
        let directory = try StoreDirectory()
        let store = try PolicyStore(path: directory.database())
        try store.apply(Array(try workload()[0..<10]))
        var numbering = EntryNumbering(after: store.appliedIndex)
        let hashBefore = try store.stateHash()
        try store.apply([
            numbering.next(.setPeerAddress(replica: 4, address: "127.0.0.1:7004", autoPromote: true)),
            numbering.next(.setPeerAddress(replica: 5, address: "[::1]:7005", autoPromote: false)),
            numbering.next(.setPeerAddress(replica: 6, address: "rampart-6.internal:7001", autoPromote: true)),
            numbering.next(.removePeerAddress(replica: 6)),
        ])
        #expect(try store.stateHash() != hashBefore, "the address book is part of the state")
        let book = store.state.peerAddressBook
        let hash = try store.stateHash()
        #expect(book.keys.sorted() == [4, 5] && book[5]?.autoPromote == false)
        store.close()
        let reopened = try PolicyStore(path: directory.database())
        #expect(reopened.state.peerAddressBook == book)
        #expect(try reopened.stateHash() == hash)
        reopened.close()

        try editWithSQLite(directory.database(), "UPDATE peer_addresses SET address = 'no port' WHERE replica = 4")
        #expect(throws: PolicyStoreError.self) { _ = try PolicyStore(path: directory.database()) }
    }

    @Test func reopeningRestoresAuthorizationAndIdempotency() throws {
        let directory = try StoreDirectory()
        let entries = try workload()
        let first: CommandOutcome?
        do {
            let store = try PolicyStore(path: directory.database())
            first = try store.apply(entries)[3]
            store.close()
        }
        let store = try PolicyStore(path: directory.database())
        let create = try Permission("compute.instances.create", allowWildcards: false)
        let web = Scope.project(organization: name("acme"), project: name("web"))
        #expect(store.state.authorize(principal("acme", "bob"), create, on: web).allowed)
        #expect(!store.state.authorize(principal("acme", "bob"), create, on: .organization(name("globex"))).allowed)
        let original = try CommandCodec.decode(try #require(entries[3].command))
        let key = try #require(original.idempotencyKey)
        let retry = try store.apply([entry(store.appliedIndex + 1, original.command, actor: original.actor, key: key)])[0]
        #expect(retry?.replayed == true)
        #expect(retry?.revision == first?.revision)
        // Another request under the same key is refused, also after the restart.
        let other = try store.apply([entry(store.appliedIndex + 1, .createOrganization(name: name("zzz")), actor: original.actor, key: key)])[0]
        #expect(other?.rejection?.code == "invalid_argument")
        #expect(store.state.organization(name("zzz")) == nil)
    }

    // A well-formed command of a kind this build does not know (a newer build proposed it)
    // stops the store's owner instead of being recorded as invalid, which would fork this
    // replica's state and audit chain from the upgraded ones: the whole batch is refused, the
    // state is as before, and the same batch is refused again (bytes that are no command at all
    // are still recorded as invalid, by every build alike: see the workload).
    @Test func aCommandOfANewerBuildStopsTheStoreWithNothingApplied() throws {
        let directory = try StoreDirectory()
        let store = try PolicyStore(path: directory.database())
        try store.apply(Array(try workload()[0..<10]))
        // Version 1, time 0, no actor, request id "r", no idempotency key, no expected
        // revision, command kind 99.
        let newer: [UInt8] = [1, 0, 0, 1, UInt8(ascii: "r"), 0, 0, 99]
        #expect(throws: CommandDecodingError.unknownCommand(99)) { try CommandCodec.decode(newer) }
        let (index, hash, audit) = (store.appliedIndex, try store.stateHash(), store.auditHead)
        var numbering = EntryNumbering(after: index)
        let batch = [
            numbering.next(.createOrganization(name: name("before-the-newer-one"))),
            AppliedEntry(index: index + 2, command: newer),
        ]
        for _ in 0..<2 {
            #expect(throws: PolicyStoreError.newerCommand(index: index + 2, tag: 99)) { try store.apply(batch) }
            #expect(store.appliedIndex == index)
            #expect(try store.stateHash() == hash)
            #expect(store.auditHead == audit)
            #expect(store.state.organization(name("before-the-newer-one")) == nil)
        }
        // The store goes on once given what it can apply.
        try store.apply([batch[0]])
        #expect(store.state.organization(name("before-the-newer-one")) != nil)
    }

    // Every command leaves one audit record, rejections included; the chain verifies, and
    // editing any stored record breaks it.
    @Test func auditChainRecordsEveryCommandAndDetectsTampering() throws {
        let directory = try StoreDirectory()
        let store = try PolicyStore(path: directory.database())
        try store.apply(try workload())
        guard case .intact(let head, let count) = try store.verifyAuditChain() else {
            Issue.record("the chain does not verify")
            return
        }
        #expect(head == store.auditHead.hash)
        #expect(UInt64(count) == store.auditHead.sequence)
        let failures = try store.auditRecords(limit: 1000).items.filter { $0.outcome != "ok" }
        #expect(failures.contains { $0.outcome == "cross_organization" })
        #expect(failures.contains { $0.outcome == "invalid_command" })
        var records = try store.auditRecords(limit: 1000).items
        records[5].action = "organization.delete"
        #expect(AuditChain.verify(records) != .intact(head: head, count: count))
        var reordered = try store.auditRecords(limit: 1000).items
        reordered.swapAt(2, 3)
        guard case .broken = AuditChain.verify(reordered) else {
            Issue.record("reordering was not detected")
            return
        }
        var shortened = try store.auditRecords(limit: 1000).items
        shortened.remove(at: 4)
        guard case .broken = AuditChain.verify(shortened) else {
            Issue.record("a deletion was not detected")
            return
        }
    }

    @Test func auditRecordsNeverHoldSecrets() throws {
        let directory = try StoreDirectory()
        let store = try PolicyStore(path: directory.database())
        try store.apply(try workload())
        let text = try store.auditRecords(limit: 1000).items.map { "\($0)" }.joined()
        #expect(!text.contains("238, 238, 238"), "an API key's secret hash leaked")
        #expect(!text.contains("221, 221, 221"), "a sealed private key leaked")
    }

    @Test func auditListingFiltersAndPages() throws {
        let directory = try StoreDirectory()
        let store = try PolicyStore(path: directory.database())
        try store.apply(try workload())
        let acme = try store.auditRecords(limit: 1000, filter: AuditFilter(organization: "acme")).items
        #expect(!acme.isEmpty && acme.allSatisfy { $0.organization == "acme" })
        let creates = try store.auditRecords(limit: 1000, filter: AuditFilter(action: "organization.create")).items
        #expect(creates.map(\.target) == ["orgs/acme", "orgs/globex", "orgs/initech"])
        let byRequest = try store.auditRecords(limit: 10, filter: AuditFilter(requestID: "req-2")).items
        #expect(byRequest.count == 1)
        var seen: [UInt64] = []
        var cursor: String?
        repeat {
            let page = try store.auditRecords(after: cursor, limit: 4)
            #expect(page.items.count <= 4)
            seen += page.items.map(\.sequence)
            cursor = page.nextCursor
        } while cursor != nil
        #expect(seen == Array(1...store.auditHead.sequence))
        #expect(throws: PolicyStoreError.self) { try store.auditRecords(limit: 0) }
        #expect(throws: PolicyStoreError.self) { try store.auditRecords(after: "x", limit: 5) }
    }

    // Outside review, finding 7: records are kept by organization name, so once a name is
    // deleted and created again its new tenant must not read the old tenant's records.
    @Test func currentOrganizationOnlyLeavesOutAnEarlierOrganizationOfTheSameName() throws {
        let directory = try StoreDirectory()
        let store = try PolicyStore(path: directory.database())
        let acme = name("acme")
        try store.apply([
            entry(1, .createOrganization(name: acme)),
            entry(2, .createProject(organization: acme, name: name("old-secret"))),
            entry(3, .deleteOrganization(name: acme, force: true)),
            entry(4, .createOrganization(name: acme)),  // the new tenant
            entry(5, .createOrganization(name: acme)),  // refused: it exists, and moves nothing
            entry(6, .createProject(organization: acme, name: name("new"))),
        ])
        var current = AuditFilter(organization: "acme")
        current.currentOrganizationOnly = true
        #expect(try store.auditRecords(limit: 100, filter: current).items.map(\.revision) == [4, 5, 6])
        #expect(try store.auditRecords(limit: 100, filter: AuditFilter(organization: "acme")).items.map(\.revision) == [1, 2, 3, 4, 5, 6])
        // An organization never created (the system one) has no lower bound.
        var system = AuditFilter(organization: "globex")
        system.currentOrganizationOnly = true
        #expect(try store.auditRecords(limit: 100, filter: system).items.isEmpty)
    }

    @Test func listingsPageWithCursors() throws {
        let directory = try StoreDirectory()
        let store = try PolicyStore(path: directory.database())
        var index: UInt64 = 0
        var entries: [AppliedEntry] = []
        for number in 0..<25 {
            index += 1
            entries.append(entry(index, .createOrganization(name: name("org\(number)"))))
        }
        for number in 0..<7 {
            index += 1
            entries.append(entry(index, .createProject(organization: name("org1"), name: name("p\(number)"))))
        }
        try store.apply(entries)
        var names: [String] = []
        var cursor: String?
        repeat {
            let page = try store.organizations(after: cursor, limit: 10)
            names += page.items.map(\.name.value)
            cursor = page.nextCursor
        } while cursor != nil
        #expect(names == (["system"] + (0..<25).map { "org\($0)" }).sorted())
        let projects = try store.projects(of: name("org1"), limit: 5)
        #expect(projects.items.map(\.name.value) == ["p0", "p1", "p2", "p3", "p4"])
        #expect(try store.projects(of: name("org1"), after: projects.nextCursor, limit: 5).items.map(\.name.value) == ["p5", "p6"])
        #expect(try store.projects(of: name("org2"), limit: 5).items.isEmpty)
        #expect(throws: PolicyStoreError.self) { try store.organizations(limit: PolicyStore.maxPageSize + 1) }
    }

    @Test func applyingAnOldIndexIsRefused() throws {
        let directory = try StoreDirectory()
        let store = try PolicyStore(path: directory.database())
        try store.apply([entry(1, .createOrganization(name: name("acme")))])
        #expect(throws: PolicyStoreError.self) { try store.apply([entry(1, .createOrganization(name: name("other")))]) }
        #expect(store.state.organization(name("other")) == nil)
    }

    @Test func damagedRowStopsOpening() throws {
        let directory = try StoreDirectory()
        do {
            let store = try PolicyStore(path: directory.database())
            try store.apply([entry(1, .createOrganization(name: name("acme")))])
            store.close()
        }
        try editWithSQLite(directory.database(), "UPDATE organizations SET name = 'NOT A NAME' WHERE name = 'acme'")
        #expect(throws: PolicyStoreError.self) { _ = try PolicyStore(path: directory.database()) }
    }
}

@Suite struct RootKeySealerTests {
    @Test func sealedKeySignsAndOnlyOpensWithItsKeyAndID() throws {
        let sealer = try RootKeySealer(keyEncryptionKey: [UInt8](repeating: 7, count: 32))
        let id = EntityID(high: 9, low: 9)
        let (publicKey, sealed) = try sealer.generate(id: id)
        #expect(publicKey.count == 32)
        #expect(sealed.count <= RootKey.maxSealedPrivateKeyBytes)
        let signature = try sealer.sign([1, 2, 3], with: sealed, id: id)
        #expect(RootKeySealer.verify(signature, of: [1, 2, 3], publicKey: publicKey))
        #expect(!RootKeySealer.verify(signature, of: [1, 2, 4], publicKey: publicKey))
        let other = try RootKeySealer(keyEncryptionKey: [UInt8](repeating: 8, count: 32))
        #expect(throws: PolicyError.self) { try other.open(sealed, id: id) }
        #expect(throws: PolicyError.self) { try sealer.open(sealed, id: EntityID(high: 9, low: 10)) }
        #expect(throws: PolicyError.self) { try RootKeySealer(keyEncryptionKey: [1, 2, 3]) }
    }
}

/// Regressions for findings of the code review of the store.
@Suite struct PolicyStoreReviewTests {
    // Text is stored with its length: a NUL cannot cut it short, so what is hashed in memory is
    // what is stored, and a request id with control characters is refused (but still audited).
    @Test func controlCharactersAreRefusedAndTextIsStoredWhole() throws {
        let directory = try StoreDirectory()
        let envelope = CommandEnvelope(
            command: .createOrganization(name: name("acme")), actor: nil, requestID: "a\u{0}b", idempotencyKey: "k\u{0}1",
            time: Timestamp(millisecondsSinceEpoch: 1))
        do {
            let store = try PolicyStore(path: directory.database())
            let outcome = try store.apply([AppliedEntry(index: 1, command: CommandCodec.encode(envelope))])[0]
            #expect(outcome?.rejection?.code == "invalid_argument")
            #expect(store.state.organization(name("acme")) == nil)
            store.close()
        }
        let reopened = try PolicyStore(path: directory.database())
        #expect(try reopened.auditRecords(limit: 5).items.first?.requestID == "a\u{0}b")
        guard case .intact = try reopened.verifyAuditChain() else {
            Issue.record("the chain must verify after a restart")
            return
        }
    }

    // Entries must follow the applied index without gaps.
    @Test func gapsAndRepeatsAreRefused() throws {
        let directory = try StoreDirectory()
        let store = try PolicyStore(path: directory.database())
        try store.apply([entry(1, .createOrganization(name: name("acme")))])
        #expect(throws: PolicyStoreError.self) { try store.apply([entry(3, .createOrganization(name: name("other")))]) }
        #expect(throws: PolicyStoreError.self) {
            try store.apply([entry(2, .createOrganization(name: name("x"))), entry(2, .createOrganization(name: name("y")))])
        }
        #expect(store.appliedIndex == 1)
    }

    // The revision follows every entry, commands or not, identically before and after a restart.
    @Test func revisionFollowsEveryEntryAcrossRestarts() throws {
        let directory = try StoreDirectory()
        do {
            let store = try PolicyStore(path: directory.database())
            try store.apply([entry(1, .createOrganization(name: name("acme"))), AppliedEntry(index: 2, command: nil)])
            #expect(store.state.revision == 2)
            store.close()
        }
        #expect(try PolicyStore(path: directory.database()).state.revision == 2)
    }

    // A retry answered from the idempotency window is audited as a replay, and a command that
    // names only an id is audited under the organization it concerned.
    @Test func auditShowsReplaysAndTheOrganizationOfIDOnlyCommands() throws {
        let directory = try StoreDirectory()
        let store = try PolicyStore(path: directory.database())
        try store.apply([
            entry(1, .createOrganization(name: name("acme"))),
            entry(2, .createPrincipal(principal("acme", "alice"), kind: .user)),
            entry(3, .createBinding(id: EntityID(high: 4, low: 4), principal: principal("acme", "alice"), role: .builtIn(.organizationViewer), scope: .organization(name("acme"))), key: "k"),
            entry(4, .createBinding(id: EntityID(high: 4, low: 4), principal: principal("acme", "alice"), role: .builtIn(.organizationViewer), scope: .organization(name("acme"))), key: "k"),
            entry(5, .deleteBinding(id: EntityID(high: 4, low: 4))),
        ])
        let records = try store.auditRecords(limit: 10).items
        #expect(records.map(\.outcome) == ["ok", "ok", "ok", "replayed", "ok"])
        #expect(records[4].organization == "acme")
    }

    // A restore interrupted after its decision is finished by the next open.
    @Test func interruptedRestoreIsFinishedOnOpen() throws {
        let directory = try StoreDirectory()
        let source = try PolicyStore(path: directory.database("source"))
        try source.apply(try workload())
        let snapshot = directory.path + "/snapshot.sqlite"
        try source.writeSnapshot(to: snapshot)
        let target = directory.database("target")
        do {
            let old = try PolicyStore(path: target)
            try old.apply([entry(1, .createOrganization(name: name("old")))])
            old.close()
        }
        // The crash came after the copy and the marker, before the rename.
        try FileManager.default.copyItem(atPath: snapshot, toPath: target + ".restoring")
        try #require(FileManager.default.createFile(atPath: target + ".restore-pending", contents: Data()))
        let reopened = try PolicyStore(path: target)
        #expect(try reopened.stateHash() == source.stateHash())
        #expect(!FileManager.default.fileExists(atPath: target + ".restore-pending"))
    }

    // Names are read back with the limits they were written under.
    @Test func customLimitsApplyWhenLoading() throws {
        let directory = try StoreDirectory()
        var limits = PolicyLimits()
        limits.maxNameBytes = 100
        let long = String(repeating: "a", count: 80)
        do {
            let store = try PolicyStore(path: directory.database(), limits: limits)
            let envelope = CommandEnvelope(
                command: .createOrganization(name: try Name(long, limits: limits)), actor: nil, requestID: "r",
                time: Timestamp(millisecondsSinceEpoch: 1))
            try store.apply([AppliedEntry(index: 1, command: CommandCodec.encode(envelope))])
            store.close()
        }
        let reopened = try PolicyStore(path: directory.database(), limits: limits)
        #expect(reopened.state.organization(try Name(long, limits: limits)) != nil)
    }
}

/// A copy's result, set by its thread.
/// Entries numbered on from an index, one per command.
struct EntryNumbering {
    /// The index of the last entry made.
    private(set) var index: UInt64

    init(after index: UInt64) {
        self.index = index
    }

    /// The entry after the last one made, carrying `command`.
    mutating func next(_ command: Command) -> AppliedEntry {
        index += 1
        return entry(index, command)
    }
}

/// `count` entries after `index`, each creating a service account in `system` (a database large
/// enough that a copy of it takes many steps).
func bulkPrincipals(after index: UInt64, count: Int, prefix: String = "bulk") -> [AppliedEntry] {
    (0..<count).map { number in
        entry(index + 1 + UInt64(number), .createPrincipal(principal("system", "\(prefix)-\(number)"), kind: .serviceAccount))
    }
}

final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Result<UInt64, PolicyStoreError>?
    var value: Result<UInt64, PolicyStoreError>? { lock.withLock { stored } }
    func set(_ result: Result<UInt64, PolicyStoreError>) { lock.withLock { stored = result } }
}
