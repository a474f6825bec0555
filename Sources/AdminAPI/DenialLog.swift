public import Logging
public import PolicyModel
import Synchronization

/// Gathers the requests this replica refused to authenticated principals (HTTP 403) and
/// records them in the audit log (outside review, finding 11: for an IAM, access denied is an
/// audit event, and refusals left no trace).
///
/// A flood of refusals must not grow the audit log without bound, so refusals are counted,
/// not written one by one: every `interval`, this replica proposes one `Command.recordDenial`
/// per distinct (principal, permission, scope, reason) it refused since the last time, with
/// the count and the first refused request's id, at most `maxDistinct` of them. Refusals
/// beyond that are counted in the metrics and logged, not itemized. At most `maxDistinct`
/// records per `interval` per replica reach the audit log, whatever the load.
public final class DenialLog: Sendable {
    /// The limits of the log.
    public struct Limits: Sendable, Hashable {
        /// How often gathered refusals are recorded.
        public var interval = Duration.seconds(10)
        /// The most distinct refusals recorded per interval.
        public var maxDistinct = 32

        /// The default limits.
        public init() {}
    }

    private struct Key: Hashable {
        var principal: PrincipalReference
        var permission: Permission
        var scope: Scope
        var reason: DeniedAccess.Reason
    }

    private struct State {
        /// The refusals gathered since the last flush, in the order first seen.
        var order: [Key] = []
        var gathered: [Key: (count: UInt64, requestID: String)] = [:]
        var notItemized = 0
    }

    let limits: Limits
    private let state = Mutex(State())
    /// Refusals recorded in the audit log.
    let recorded = Atomic<Int>(0)
    /// Refusals counted but not itemized: beyond `maxDistinct`, or their proposal failed.
    let notRecorded = Atomic<Int>(0)

    /// A log with `limits`.
    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// Counts one refused request.
    func record(_ principal: PrincipalReference, _ permission: Permission, on scope: Scope, _ reason: DeniedAccess.Reason, requestID: String) {
        let key = Key(principal: principal, permission: permission, scope: scope, reason: reason)
        state.withLock { state in
            if let entry = state.gathered[key] {
                state.gathered[key] = (min(entry.count + 1, DeniedAccess.maxCount), entry.requestID)
            } else if state.order.count < limits.maxDistinct {
                state.order.append(key)
                state.gathered[key] = (1, requestID)
            } else {
                state.notItemized += 1
            }
        }
    }

    /// Takes what was gathered: the refusals to record, each with its first request's id, and
    /// how many more were not itemized.
    func drain() -> (denials: [(DeniedAccess, requestID: String)], notItemized: Int) {
        state.withLock { state in
            defer { state = State() }
            let denials = state.order.map { key in
                let entry = state.gathered[key]!
                return (
                    DeniedAccess(principal: key.principal, permission: key.permission, scope: key.scope, reason: key.reason, count: entry.count),
                    requestID: entry.requestID
                )
            }
            return (denials, state.notItemized)
        }
    }

    /// Records what was gathered: one command per distinct refusal, proposed with no actor (the
    /// cluster itself records them). A proposal that fails is counted and logged, not retried.
    public func flush(to cluster: any ClusterWriter & ReplicaResources, logger: Logger) async {
        let (denials, notItemized) = drain()
        if notItemized > 0 {
            notRecorded.add(notItemized, ordering: .relaxed)
            logger.warning(
                "refused requests beyond the audit log's share were counted, not itemized",
                metadata: ["not_itemized": "\(notItemized)", "itemized": "\(denials.count)"])
        }
        for (denied, requestID) in denials {
            let envelope = CommandEnvelope(command: .recordDenial(denied), actor: nil, requestID: requestID, time: cluster.now())
            do {
                let outcome = try await cluster.submit(envelope, timeout: limits.interval)
                if let rejection = outcome.rejection { throw ClusterError.refused(rejection.description) }
                recorded.add(Int(denied.count), ordering: .relaxed)
            } catch {
                notRecorded.add(Int(denied.count), ordering: .relaxed)
                logger.warning(
                    "a refusal could not be recorded in the audit log",
                    metadata: ["principal": "\(denied.principal)", "permission": "\(denied.permission)", "error": "\(error)"])
            }
        }
    }

    /// Flushes every `interval` until cancelled. What was gathered in the last interval before
    /// a replica stops is in its metrics only: the replica can no longer propose it.
    public func run(cluster: any ClusterWriter & ReplicaResources, logger: Logger) async {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: limits.interval)
            } catch {
                return
            }
            await flush(to: cluster, logger: logger)
        }
    }

    /// The counters in the Prometheus text format.
    func prometheusText() -> String {
        """
        # HELP rampart_denials_recorded_total Refused requests recorded in the audit log.
        # TYPE rampart_denials_recorded_total counter
        rampart_denials_recorded_total \(recorded.load(ordering: .relaxed))
        # HELP rampart_denials_not_recorded_total Refused requests counted but not itemized in the audit log.
        # TYPE rampart_denials_not_recorded_total counter
        rampart_denials_not_recorded_total \(notRecorded.load(ordering: .relaxed))

        """
    }
}
