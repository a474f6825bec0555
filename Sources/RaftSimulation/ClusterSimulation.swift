import RaftCore

/// A seeded simulation of a whole cluster: replicas, a faulty network, crashes, pauses,
/// partitions, membership changes and snapshots, with every safety property checked after
/// every step, then a liveness phase once the faults stop.
///
/// Everything random comes from one `DeterministicRandom` seeded by the parameters, and nothing
/// iterates a hashed collection, so a seed replays bit for bit.
public struct ClusterSimulation {
    /// The parameters of this run.
    public let parameters: SimulationParameters
    private var random: DeterministicRandom
    private var replicas: [ReplicaID: SimulatedReplica] = [:]
    /// Every replica ever created, sorted.
    private var replicaIDs: [ReplicaID] = []
    private var removed: Set<ReplicaID> = []
    private var pausedUntil: [ReplicaID: UInt64] = [:]
    private var restartAt: [ReplicaID: UInt64] = [:]
    private var network = SimulatedNetwork()
    private var checker = SafetyChecker()
    private var now: UInt64 = 0
    private var faultsActive = true
    private var partitionHealAt: UInt64?
    private var latestMembership: (commit: LogIndex, membership: Membership)
    private var nextSpareID: UInt64
    private var linkClock: [SimulatedNetwork.Link: UInt64] = [:]
    private var servedReads: Set<UInt64> = []
    private var snapshotReports: [(leader: ReplicaID, follower: ReplicaID, succeeded: Bool)] = []
    private var hostile: HostilePeer

    private var nextProposalID: UInt64 = 1
    private var pendingProposals: [ReplicaID: Set<UInt64>] = [:]
    private var acknowledged: [UInt64: LogIndex] = [:]
    private var maxAcknowledgedIndex: LogIndex = 0
    private var nextReadID: UInt64 = 1
    private var pendingReads: [UInt64: (replica: ReplicaID, minimumIndex: LogIndex)] = [:]
    private var readsAwaitingApply: [ReplicaID: [(id: UInt64, index: LogIndex)]] = [:]

    /// What the run did so far.
    public private(set) var statistics = SimulationStatistics()
    /// The most recent events, when `parameters.recordTrace` is set.
    public var trace: [String] { traceLog.lines }
    private let traceLog = TraceLog(limit: 20_000)

    /// Creates the founding replicas of a new cluster.
    public init(parameters: SimulationParameters) {
        self.parameters = parameters
        random = DeterministicRandom(seed: parameters.seed)
        hostile = HostilePeer(seed: parameters.seed)
        let founders = (1...UInt64(parameters.clusterSize)).map { ReplicaID($0) }
        latestMembership = (1, Membership(voters: founders))
        nextSpareID = UInt64(parameters.clusterSize) + 1
        for id in founders {
            addReplica(id, persisted: .bootstrap(voters: founders))
        }
    }

    // MARK: - Running

    /// Runs the fault phase, heals everything, and runs the liveness phase.
    /// - Returns: what the run did.
    /// - Throws: the first violated property.
    public mutating func run() throws(SimulationViolation) -> SimulationStatistics {
        let faultUnits = UInt64(parameters.faultTicks) * parameters.unitsPerTick
        while now < faultUnits {
            try stepUnit()
        }
        try heal()
        try checkLiveness()
        statistics.units = now
        statistics.elections = checker.elections
        return statistics
    }

    private mutating func stepUnit() throws(SimulationViolation) {
        checker.time = now
        for id in replicaIDs {
            if let at = restartAt[id], at <= now {
                restartAt[id] = nil
                try restart(id)
            }
            if let until = pausedUntil[id], until <= now {
                pausedUntil[id] = nil
                note("unpause \(id)")
            }
        }
        if let healAt = partitionHealAt, healAt <= now {
            partitionHealAt = nil
            network.healAll()
            note("partition healed")
        }
        while let envelope = network.popDue(at: now) {
            try deliver(envelope)
        }
        for (offset, id) in replicaIDs.enumerated() where isActive(id) {
            if (now + UInt64(offset) * 3) % parameters.unitsPerTick == 0 {
                replicas[id]!.withInstance { $0.tick() }
                // Sometimes a proposal arrives between a tick and the Ready it produced (a tick
                // can make a lone voter leader, with its vote not yet durable).
                if faultsActive && random.below(100) < 10 && replicas[id]!.instance?.role == .leader {
                    try propose(on: id)
                }
                try drain(id)
            }
        }
        if faultsActive {
            try injectFaults()
            try generateWorkload()
            try injectHostileMessage()
        }
        now += 1
    }

    /// Sometimes hands a running member a message from `HostilePeer`; it must be refused.
    private mutating func injectHostileMessage() throws(SimulationViolation) {
        guard parameters.hostilePeerPercent > 0, hostile.attacksNow(percent: parameters.hostilePeerPercent) else { return }
        // A replica that is not a member of its own membership yet (a learner being added)
        // listens to anyone; the transport's address book is what protects it.
        let targets = activeIDs.filter { replicas[$0]!.instance!.membership.contains($0) }
        guard !targets.isEmpty else { return }
        let target = hostile.pick(targets)
        let message = hostile.message(to: target, members: replicaIDs.filter { !removed.contains($0) })
        let before = replicas[target]!.instance!.refusedMessages
        if parameters.recordTrace { note("hostile \(message)") }
        // Stepped directly: a refused snapshot message needs no image, and one that was not
        // refused is reported below before anything could use it.
        replicas[target]!.withInstance { $0.step(message) }
        guard replicas[target]!.instance!.refusedMessages == before + 1 else {
            throw SimulationViolation(property: .hostileMessageRefused, detail: "replica \(target) stepped \(message)", time: now)
        }
        try drain(target)
    }

    /// Runs until `condition` returns a value or `limit` units pass.
    private mutating func run<Value>(
        forAtMost limit: UInt64, until condition: (inout ClusterSimulation) -> Value?
    ) throws(SimulationViolation) -> Value? {
        let deadline = now + limit
        while now < deadline {
            if let value = condition(&self) { return value }
            try stepUnit()
        }
        return condition(&self)
    }

    // MARK: - Replicas

    private mutating func addReplica(_ id: ReplicaID, persisted: PersistedState) {
        var options = RaftOptions(id: id)
        options.electionTimeoutTicks = parameters.electionTimeoutTicks
        options.heartbeatIntervalTicks = 1
        options.maxAppendBytes = parameters.faults.maxAppendBytes
        options.maxInflightMessages = 4
        options.plantedBugs = parameters.plantedBugs
        replicas[id] = SimulatedReplica(options: options, persisted: persisted, seed: parameters.seed &+ id.rawValue)
        replicaIDs.append(id)
        replicaIDs.sort()
        note("replica \(id) created")
    }

    private func isActive(_ id: ReplicaID) -> Bool {
        guard let replica = replicas[id], replica.isRunning else { return false }
        return pausedUntil[id] == nil
    }

    private var activeIDs: [ReplicaID] { replicaIDs.filter { isActive($0) } }

    private mutating func crash(_ id: ReplicaID) {
        replicas[id]!.crash()
        forgetClientState(of: id)
        statistics.crashes += 1
        if faultsActive && !removed.contains(id) {
            restartAt[id] = now + UInt64(1 + random.below(5 * parameters.electionTimeoutTicks)) * parameters.unitsPerTick
        }
        note("crash \(id)")
    }

    private mutating func forgetClientState(of id: ReplicaID) {
        pendingProposals[id] = nil
        readsAwaitingApply[id] = nil
        for readID in pendingReads.keys.sorted() where pendingReads[readID]?.replica == id {
            pendingReads[readID] = nil
        }
    }

    private mutating func restart(_ id: ReplicaID) throws(SimulationViolation) {
        guard let replica = replicas[id], !replica.isRunning, !removed.contains(id) else { return }
        replicas[id]!.restart()
        checker.replicaRestarted(id, commit: replicas[id]!.instance!.commitIndex)
        note("restart \(id) with \(replicas[id]!.durable.hardState)")
        try drain(id)
    }

    // MARK: - Carrying out Ready

    /// Carries out every pending `Ready` of one replica, then checks it.
    private mutating func drain(_ id: ReplicaID) throws(SimulationViolation) {
        while replicas[id]?.isRunning == true {
            let crashNow = faultsActive && random.below(1000) < parameters.faults.crashInReadyPerMille
            guard let outcome = replicas[id]!.processReady(crashBeforePersist: crashNow) else { break }
            try checker.observe(outcome, on: id)
            if let soft = outcome.softState { note("\(id) is \(soft)") }
            if outcome.installedSnapshot != nil { statistics.snapshotsInstalled += 1 }
            route(outcome.sentBeforePersist)
            if outcome.crashed {
                note("crash \(id) before persisting")
                forgetClientState(of: id)
                statistics.crashes += 1
                restartAt[id] = now + UInt64(1 + random.below(3 * parameters.electionTimeoutTicks)) * parameters.unitsPerTick
                break
            }
            route(outcome.sentAfterPersist)
            for (entry, _) in outcome.applied {
                acknowledgeIfProposed(entry, on: id)
            }
            for readState in outcome.readStates {
                try readCompleted(readState, on: id)
            }
            try serveReadsAwaitingApply(on: id)
            if replicas[id]!.compactIfNeeded(interval: parameters.faults.snapshotInterval) {
                note("\(id) compacted through \(replicas[id]!.durable.snapshot.index)")
            }
            try syncMembership(from: id)
        }
        if let instance = replicas[id]?.instance {
            try checker.checkReplica(instance)
        }
        if removed.contains(id) { stopRemovedReplicas() }
        let reports = snapshotReports
        snapshotReports = []
        for report in reports where replicas[report.leader]?.isRunning == true {
            replicas[report.leader]!.withInstance { $0.reportSnapshot(to: report.follower, succeeded: report.succeeded) }
            try drain(report.leader)
        }
    }

    private mutating func route(_ messages: [Message]) {
        for message in messages {
            var image: StateMachineImage?
            if case .installSnapshot(let metadata) = message.kind {
                image = replicas[message.from]!.durable.snapshotImage
                precondition(image?.index == metadata.index, "snapshot message \(metadata) without a matching image")
            }
            if faultsActive && random.below(100) < parameters.faults.dropPercent {
                note("drop \(message)")
                if image != nil { snapshotReports.append((message.from, message.to, false)) }
                continue
            }
            network.schedule(message, image: image, at: deliveryTime(from: message.from, to: message.to))
            if faultsActive && random.below(100) < parameters.faults.duplicatePercent {
                network.schedule(message, image: image, at: deliveryTime(from: message.from, to: message.to))
            }
        }
    }

    /// Links deliver in order, like the TCP connections of the real transport, except for the
    /// messages the reorder fault holds back.
    private mutating func deliveryTime(from: ReplicaID, to: ReplicaID) -> UInt64 {
        let link = SimulatedNetwork.Link(from: from, to: to)
        let earliest = now + UInt64(1 + random.below(4))
        if faultsActive && random.below(100) < parameters.faults.reorderPercent {
            return earliest + UInt64(random.below(Int(parameters.unitsPerTick) * 10))
        }
        let time = max(earliest, linkClock[link] ?? 0)
        linkClock[link] = time
        return time
    }

    private mutating func deliver(_ envelope: Envelope) throws(SimulationViolation) {
        let message = envelope.message
        let isSnapshot = envelope.snapshotImage != nil
        guard let target = replicas[message.to], target.isRunning, !removed.contains(message.to),
            !network.isBlocked(from: message.from, to: message.to)
        else {
            if isSnapshot { snapshotReports.append((message.from, message.to, false)) }
            return
        }
        if pausedUntil[message.to] != nil {
            network.schedule(message, image: envelope.snapshotImage, at: now + parameters.unitsPerTick)
            return
        }
        if parameters.recordTrace { note("deliver \(message)") }
        statistics.delivered += 1
        replicas[message.to]!.deliver(message, snapshotImage: envelope.snapshotImage)
        if isSnapshot { snapshotReports.append((message.from, message.to, true)) }
        try drain(message.to)
    }

    // MARK: - Membership

    /// Starts replicas the committed membership added and stops those it removed.
    private mutating func syncMembership(from id: ReplicaID) throws(SimulationViolation) {
        guard let instance = replicas[id]?.instance, instance.commitIndex > latestMembership.commit else { return }
        let membership = instance.committedMembership
        let changed = membership != latestMembership.membership
        latestMembership = (instance.commitIndex, membership)
        guard changed else { return }
        statistics.membershipChanges += 1
        note("membership is now \(membership)")
        for member in membership.allMembers where replicas[member] == nil {
            addReplica(member, persisted: .empty)
        }
        for existing in replicaIDs where !membership.contains(existing) && !removed.contains(existing) {
            removed.insert(existing)
            restartAt[existing] = nil
            note("replica \(existing) removed")
        }
        stopRemovedReplicas()
    }

    /// Stops removed replicas once they no longer lead, as the runtime does: a removed leader
    /// keeps leading until the remaining voters know of its removal.
    private mutating func stopRemovedReplicas() {
        for id in removed.sorted() where replicas[id]!.isRunning && replicas[id]!.instance!.role != .leader {
            crash(id)
            note("replica \(id) stopped")
        }
    }

    private mutating func changeMembership() throws(SimulationViolation) {
        guard let leaderID = activeIDs.first(where: { replicas[$0]!.instance!.role == .leader }) else { return }
        let membership = replicas[leaderID]!.instance!.membership
        let size = parameters.clusterSize
        let change: MembershipChange
        if let learner = membership.learners.first {
            change = .promote(learner)
        } else if random.chance(percent: 50) && membership.voters.count > max(1, size - 1) {
            change = .remove(membership.allMembers[random.below(membership.allMembers.count)])
        } else if membership.voters.count < size + 1 {
            change = .addLearner(ReplicaID(nextSpareID))
            nextSpareID += 1
        } else {
            return
        }
        do {
            try replicas[leaderID]!.withInstance { (instance) throws(ProposalError) in
                try instance.proposeMembershipChange(change)
            }
            note("\(leaderID) proposes \(change)")
        } catch {
            note("\(leaderID) refuses \(change): \(error)")
        }
        try drain(leaderID)
    }

    // MARK: - Faults and workload

    private mutating func injectFaults() throws(SimulationViolation) {
        let faults = parameters.faults
        let members = replicaIDs.filter { !removed.contains($0) }
        if random.below(10_000) < faults.crashPerTenThousand {
            let running = members.filter { replicas[$0]!.isRunning }
            if !running.isEmpty { crash(running[random.below(running.count)]) }
        }
        if random.below(10_000) < faults.pausePerTenThousand {
            let running = activeIDs
            if !running.isEmpty {
                let id = running[random.below(running.count)]
                pausedUntil[id] = now + UInt64((1 + random.below(3)) * parameters.electionTimeoutTicks) * parameters.unitsPerTick
                note("pause \(id)")
            }
        }
        if random.below(10_000) < faults.partitionPerTenThousand && members.count > 1 {
            partition(members)
        }
        if random.below(10_000) < faults.membershipPerTenThousand {
            try changeMembership()
        }
    }

    private mutating func partition(_ members: [ReplicaID]) {
        network.healAll()
        let leader = members.first { replicas[$0]!.instance?.role == .leader } ?? members[random.below(members.count)]
        switch random.below(4) {
        case 0:
            // Random halves, both directions.
            var sideA: [ReplicaID] = []
            var sideB: [ReplicaID] = []
            for id in members { if random.chance(percent: 50) { sideA.append(id) } else { sideB.append(id) } }
            for a in sideA { for b in sideB { network.block(from: a, to: b); network.block(from: b, to: a) } }
            note("partition \(sideA) | \(sideB)")
        case 1:
            for other in members where other != leader {
                network.block(from: leader, to: other)
                network.block(from: other, to: leader)
            }
            note("isolate \(leader)")
        case 2:
            for other in members where other != leader { network.block(from: leader, to: other) }
            note("one-way: \(leader) cannot send")
        default:
            for other in members where other != leader { network.block(from: other, to: leader) }
            note("one-way: \(leader) cannot receive")
        }
        partitionHealAt = now + UInt64((2 + random.below(6)) * parameters.electionTimeoutTicks) * parameters.unitsPerTick
    }

    private mutating func generateWorkload() throws(SimulationViolation) {
        if random.below(100) < parameters.faults.proposePercent {
            let leaders = activeIDs.filter { replicas[$0]!.instance!.role == .leader }
            if !leaders.isEmpty {
                try propose(on: leaders[random.below(leaders.count)])
            }
        }
        if random.below(100) < parameters.faults.readPercent {
            let running = activeIDs
            if !running.isEmpty {
                _ = try startRead(on: running[random.below(running.count)])
            }
        }
    }

    @discardableResult
    private mutating func propose(on id: ReplicaID) throws(SimulationViolation) -> UInt64? {
        let proposalID = nextProposalID
        nextProposalID += 1
        do {
            let position = try replicas[id]!.withInstance { (instance) throws(ProposalError) in
                try instance.propose(SimulatedCommand.encode(proposalID))
            }
            guard position != nil else { return nil }
            pendingProposals[id, default: []].insert(proposalID)
            if parameters.recordTrace { note("\(id) proposes #\(proposalID) at \(position!)") }
        } catch {
            return nil
        }
        try drain(id)
        return proposalID
    }

    private mutating func acknowledgeIfProposed(_ entry: Entry, on id: ReplicaID) {
        guard case .command(let bytes) = entry.payload, let proposalID = SimulatedCommand.decode(bytes),
            pendingProposals[id]?.remove(proposalID) != nil
        else { return }
        acknowledged[proposalID] = entry.index
        maxAcknowledgedIndex = max(maxAcknowledgedIndex, entry.index)
        statistics.acknowledged += 1
    }

    private mutating func startRead(on id: ReplicaID) throws(SimulationViolation) -> UInt64? {
        let readID = nextReadID
        nextReadID += 1
        do {
            try replicas[id]!.withInstance { (instance) throws(ProposalError) in
                try instance.readIndex(context: ReadContext(number: readID))
            }
        } catch {
            return nil
        }
        pendingReads[readID] = (id, maxAcknowledgedIndex)
        if parameters.recordTrace { note("\(id) starts read #\(readID) (must see \(maxAcknowledgedIndex))") }
        try drain(id)
        return readID
    }

    private mutating func readCompleted(_ readState: ReadState, on id: ReplicaID) throws(SimulationViolation) {
        guard let readID = readState.context.number, let pending = pendingReads[readID], pending.replica == id else {
            return
        }
        if readState.index < pending.minimumIndex {
            throw checker.violation(
                .linearizableRead,
                "read #\(readID) on \(id) got index \(readState.index), but a write at \(pending.minimumIndex) was acknowledged before it began")
        }
        readsAwaitingApply[id, default: []].append((readID, readState.index))
    }

    private mutating func serveReadsAwaitingApply(on id: ReplicaID) throws(SimulationViolation) {
        guard let waiting = readsAwaitingApply[id], !waiting.isEmpty else { return }
        let applied = replicas[id]!.stateMachine.index
        var still: [(id: UInt64, index: LogIndex)] = []
        for read in waiting {
            if read.index <= applied {
                pendingReads[read.id] = nil
                if !faultsActive { servedReads.insert(read.id) }
                statistics.reads += 1
            } else {
                still.append(read)
            }
        }
        readsAwaitingApply[id] = still
    }

    // MARK: - Healing and liveness

    private mutating func heal() throws(SimulationViolation) {
        faultsActive = false
        network.healAll()
        partitionHealAt = nil
        pausedUntil = [:]
        restartAt = [:]
        note("heal: faults stop")
        for id in replicaIDs where !removed.contains(id) && !(replicas[id]!.isRunning) {
            try restart(id)
        }
    }

    /// The leader every running member follows, when there is exactly one.
    private func stableLeader() -> ReplicaID? {
        let leaders = activeIDs.filter { replicas[$0]!.instance!.role == .leader }
        guard leaders.count == 1, let leaderID = leaders.first else { return nil }
        let leader = replicas[leaderID]!.instance!
        // Members of the committed membership: a replica in an uncommitted addition is only
        // started once its addition commits.
        for member in leader.committedMembership.allMembers {
            guard let instance = replicas[member]?.instance else { return nil }
            if instance.term != leader.term || instance.leader != leaderID { return nil }
        }
        return leaderID
    }

    private mutating func checkLiveness() throws(SimulationViolation) {
        let window = UInt64(10 * parameters.electionTimeoutTicks) * parameters.unitsPerTick
        guard let leaderID = try run(forAtMost: window, until: { $0.stableLeader() }) else {
            throw checker.violation(.liveness, "no stable leader within 10 election timeouts after healing")
        }
        let voters = replicas[leaderID]!.instance!.membership.voters.filter { $0 != leaderID }
        if let target = voters.first {
            // Hand leadership over, so the read below runs on a leader that has just started.
            _ = try? replicas[leaderID]!.withInstance { (instance) throws(ProposalError) in
                try instance.transferLeadership(to: target)
            }
            note("\(leaderID) transfers leadership to \(target)")
            try drain(leaderID)
            let settled = try run(forAtMost: window) { simulation in
                simulation.stableLeader().flatMap { simulation.replicas[$0]!.instance!.leadTransferee == nil ? $0 : nil }
            }
            guard settled != nil else {
                throw checker.violation(.liveness, "no stable leader within 10 election timeouts after a transfer")
            }
        }
        // Followers far behind catch up at the pace of the append size, so the rest gets longer.
        let catchUpDeadline = now + 5 * window
        var readID: UInt64?
        var proposalID: UInt64?
        while now < catchUpDeadline {
            if let leader = stableLeader() {
                // A read is lost when the leader that held it steps down: ask the new one.
                let readLost = readID.map { !servedReads.contains($0) && pendingReads[$0]?.replica != leader } ?? true
                if readLost {
                    readID = try startRead(on: leader)
                } else if let read = readID, servedReads.contains(read),
                    proposalID.map({ acknowledged[$0] == nil && pendingProposals[leader]?.contains($0) != true }) ?? true
                {
                    proposalID = try propose(on: leader)
                }
            }
            if let read = readID, servedReads.contains(read), let proposal = proposalID, acknowledged[proposal] != nil,
                allMembersApplied()
            {
                return
            }
            try stepUnit()
        }
        let readServed = readID.map { servedReads.contains($0) } ?? false
        let written = proposalID.map { acknowledged[$0] != nil } ?? false
        throw checker.violation(
            .liveness,
            "50 election timeouts after healing: read served \(readServed), write acknowledged \(written), "
                + "acknowledged writes through \(maxAcknowledgedIndex) applied everywhere \(allMembersApplied())")
    }

    private func allMembersApplied() -> Bool {
        for member in latestMembership.membership.allMembers {
            guard let replica = replicas[member], replica.isRunning,
                replica.stateMachine.index >= maxAcknowledgedIndex
            else { return false }
        }
        return true
    }

    // MARK: - Trace

    private func note(_ text: @autoclosure () -> String) {
        guard parameters.recordTrace else { return }
        traceLog.append("t=\(now) \(text())")
    }
}

/// The bounded list of recent events of one simulation. A reference type so that recording an
/// event never needs exclusive access to the simulation it describes.
private final class TraceLog {
    private(set) var lines: [String] = []
    private let limit: Int

    init(limit: Int) {
        self.limit = limit
    }

    func append(_ line: String) {
        if lines.count >= limit { lines.removeFirst(lines.count - limit + 1) }
        lines.append(line)
    }
}
