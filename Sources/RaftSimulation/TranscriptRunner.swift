import RaftCore

/// Runs transcript scripts: each line `> command args` is executed against an
/// `InteractionCluster`, and the lines it writes are compared with the golden lines that follow
/// it in the script. Lines starting with `#` and blank lines are kept as they are.
///
/// Commands (ids are numbers; `voters=1,2,3` style lists):
/// - `bootstrap voters=1,2,3 [prevote=off] [checkquorum=off] [one-entry-per-append]`: founding
///   replicas of a new cluster.
/// - `add-replica 4`: a new, empty replica that waits to be added by a leader.
/// - `campaign 1`, `tick 1 [count]`, `tick-election 1` (ticks until the replica campaigns).
/// - `propose 1 [count]`, `read-index 1 7` (context 7), `transfer-leadership 1 2`.
/// - `add-learner 1 4`, `promote 1 4`, `remove 1 3` (the first number is the leader asked).
/// - `stabilize`, `process-ready 1`, `deliver [to]`, `drop-messages [to]`.
/// - `partition 1 | 2 3`, `cut 1 2` (one direction), `heal`.
/// - `crash 1`, `restart 1`, `compact 1`.
/// - `status`: one line per replica; `log 1`: the replica's log.
public struct TranscriptRunner {
    private var cluster = InteractionCluster()
    private var nextProposal: UInt64 = 1

    /// Creates a runner with an empty cluster.
    public init() {}

    /// Runs a script and returns it with every command's output replaced by the actual output.
    /// Comparing the result with the input tells whether the transcript still holds.
    public mutating func run(script: String) -> String {
        var result: [String] = []
        var lines = script.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        var index = 0
        while index < lines.count {
            let line = lines[index]
            index += 1
            guard line.hasPrefix("> ") else {
                result.append(line)
                continue
            }
            // Skip the golden output that follows the command.
            while index < lines.count && !lines[index].hasPrefix("> ") && !lines[index].hasPrefix("#")
                && !lines[index].isEmpty
            {
                index += 1
            }
            result.append(line)
            execute(String(line.dropFirst(2)))
            result.append(contentsOf: cluster.takeOutput().map { "  " + $0 })
        }
        return result.joined(separator: "\n") + "\n"
    }

    // MARK: - Commands

    private mutating func execute(_ command: String) {
        let words = command.split(separator: " ").map(String.init)
        guard let verb = words.first else { return }
        let arguments = Array(words.dropFirst())
        switch verb {
        case "bootstrap":
            let voters = list(arguments, "voters")
            let preVote = !arguments.contains("prevote=off")
            let checkQuorum = !arguments.contains("checkquorum=off")
            let oneEntryPerAppend = arguments.contains("one-entry-per-append")
            for id in voters {
                cluster.addReplica(id, persisted: .bootstrap(voters: voters)) { options in
                    options.preVote = preVote
                    options.checkQuorum = checkQuorum
                    if oneEntryPerAppend { options.maxAppendBytes = 1 }
                }
            }
        case "add-replica":
            cluster.addReplica(id(arguments, 0), persisted: .empty)
        case "campaign":
            cluster.with(id(arguments, 0)) { $0.campaign() }
        case "tick":
            let count = arguments.count > 1 ? Int(arguments[1]) ?? 1 : 1
            for _ in 0..<count { cluster.with(id(arguments, 0)) { $0.tick() } }
        case "tick-election":
            tickUntilCampaign(id(arguments, 0))
        case "propose":
            let count = arguments.count > 1 ? Int(arguments[1]) ?? 1 : 1
            for _ in 0..<count { propose(on: id(arguments, 0)) }
        case "read-index":
            report(id(arguments, 0)) { (instance) throws(ProposalError) in
                try instance.readIndex(context: ReadContext(number: UInt64(arguments[1]) ?? 0))
            }
        case "transfer-leadership":
            let target = id(arguments, 1)
            report(id(arguments, 0)) { (instance) throws(ProposalError) in try instance.transferLeadership(to: target) }
        case "add-learner", "promote", "remove":
            let member = id(arguments, 1)
            let change: MembershipChange =
                verb == "add-learner" ? .addLearner(member) : verb == "promote" ? .promote(member) : .remove(member)
            report(id(arguments, 0)) { (instance) throws(ProposalError) in
                let position = try instance.proposeMembershipChange(change)
                return "\(change) at \(position)"
            }
        case "stabilize":
            cluster.stabilize()
        case "process-ready":
            cluster.processReady(id(arguments, 0))
        case "deliver":
            cluster.deliver(to: arguments.isEmpty ? nil : id(arguments, 0))
        case "drop-messages":
            cluster.dropQueued(to: arguments.isEmpty ? nil : id(arguments, 0))
        case "partition":
            let split = arguments.split(separator: "|")
            cluster.partition(split[0].map { ReplicaID(UInt64($0)!) }, split[1].map { ReplicaID(UInt64($0)!) })
        case "cut":
            cluster.cut(from: id(arguments, 0), to: id(arguments, 1))
        case "heal":
            cluster.heal()
        case "crash":
            cluster.crash(id(arguments, 0))
        case "restart":
            cluster.restart(id(arguments, 0))
        case "compact":
            cluster.compact(id(arguments, 0))
        case "status":
            status()
        case "log":
            log(id(arguments, 0))
        default:
            cluster.write("error: unknown command \(verb)")
        }
    }

    private func id(_ arguments: [String], _ position: Int) -> ReplicaID {
        precondition(arguments.count > position, "missing replica id")
        return ReplicaID(UInt64(arguments[position])!)
    }

    private func list(_ arguments: [String], _ key: String) -> [ReplicaID] {
        guard let argument = arguments.first(where: { $0.hasPrefix(key + "=") }) else { return [] }
        return argument.dropFirst(key.count + 1).split(separator: ",").map { ReplicaID(UInt64($0)!) }
    }

    private mutating func propose(on replica: ReplicaID) {
        let proposal = nextProposal
        nextProposal += 1
        report(replica) { (instance) throws(ProposalError) in
            let position = try instance.propose(SimulatedCommand.encode(proposal))
            return "proposal #\(proposal) at \(position)"
        }
    }

    /// Runs an operation that may be refused and writes its result or refusal.
    private mutating func report<Value>(
        _ replica: ReplicaID, _ body: (inout RaftInstance) throws(ProposalError) -> Value
    ) {
        do {
            guard let value = try cluster.with(replica, body) else {
                cluster.write("\(replica): not running")
                return
            }
            if !(value is Void) { cluster.write("\(replica): \(value)") }
        } catch {
            cluster.write("\(replica): refused: \(error)")
        }
    }

    /// Ticks a replica until its election timeout fires: it is campaigning and has vote requests
    /// to send. Run it on a replica with no pending work (after `stabilize`).
    private mutating func tickUntilCampaign(_ replica: ReplicaID) {
        for ticks in 1...(4 * 10) {
            cluster.with(replica) { $0.tick() }
            guard let instance = cluster.instance(replica) else { break }
            let campaigning = [Role.preCandidate, .candidate, .leader].contains(instance.role)
            if campaigning && instance.hasReady {
                cluster.write("\(replica): campaigned after \(ticks) ticks")
                return
            }
        }
        cluster.write("\(replica): did not campaign")
    }

    private mutating func status() {
        for replica in cluster.ids {
            guard let instance = cluster.instance(replica) else {
                cluster.write("\(replica): down")
                continue
            }
            cluster.write(
                "\(replica): \(instance.role) term=\(instance.term) leader=\(instance.leader.map(\.description) ?? "-") "
                    + "last=\(instance.lastPosition) commit=\(instance.commitIndex) applied=\(instance.appliedIndex) "
                    + "\(instance.membership)\(instance.isRemoved ? " removed" : "")")
        }
    }

    private mutating func log(_ replica: ReplicaID) {
        guard let instance = cluster.instance(replica) else {
            cluster.write("\(replica): down")
            return
        }
        var entries: [String] = []
        var index = instance.snapshotMetadata.index + 1
        while let entry = instance.entry(at: index) {
            entries.append(entry.description)
            index += 1
        }
        cluster.write("\(replica): \(instance.snapshotMetadata) [\(entries.joined(separator: ", "))]")
    }
}
