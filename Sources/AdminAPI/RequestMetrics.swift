import NIOConcurrencyHelpers
#if canImport(Glibc)
import Glibc
#endif

/// Requests by route and status, with latency histograms: `rampart_http_requests_total`,
/// `rampart_http_request_duration_seconds` (buckets, sum, count) in `/metrics`. Every request is
/// counted once where it is logged (`RequestLog`), whichever path served it: the router or the
/// fast path.
///
/// A route is the operation's method and path template (`POST /v1/orgs/{org}/projects`), so the
/// label set is bounded by the operation table; a path no operation matches counts as `other`.
/// Recording takes one of `shardCount` locks, picked by the recording thread, so the event
/// loops rarely meet on one; the scrape adds the shards up.
public final class RequestMetrics: Sendable {
    /// The upper bounds of the latency buckets, in seconds (then +Inf).
    public static let boundsSeconds: [Double] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5]
    /// The bounds in nanoseconds, compared on the hot path.
    private static let boundsNanoseconds: [Int64] = boundsSeconds.map { Int64($0 * 1e9) }
    /// How many independently locked tables requests are recorded into.
    static let shardCount = 8

    /// One route and status.
    private struct Key: Hashable {
        /// The index in `AdminRoutes.operations`, or `operations.count` for `other`.
        var route: Int
        var status: Int
    }

    /// One route and status's counts: per bucket (the last is +Inf, not cumulative), and the
    /// sum of durations.
    private struct Cell {
        var buckets = [UInt64](repeating: 0, count: RequestMetrics.boundsSeconds.count + 1)
        var sumNanoseconds: Int64 = 0
    }

    private let table: RouteTable
    private let routeLabels: [String]
    private let shards: [NIOLockedValueBox<[Key: Cell]>]

    /// Metrics over the API's operation table.
    public convenience init() {
        self.init(operations: AdminRoutes.operations)
    }

    /// Metrics over `operations` (method, path template).
    init(operations: [(method: String, path: String)]) {
        table = RouteTable(operations)
        routeLabels = operations.map { "\($0.method) \($0.path)" } + ["other"]
        shards = (0..<Self.shardCount).map { _ in NIOLockedValueBox([:]) }
    }

    /// Counts one request.
    /// - Parameters:
    ///   - method: its HTTP method.
    ///   - path: its path, parameters filled in (matched against the templates); a query
    ///     string, if any, is not part of it.
    ///   - status: the status answered.
    ///   - elapsed: from its head's arrival to its answer.
    func record(method: String, path: String, status: Int, elapsed: Duration) {
        let bare = path.firstIndex(of: "?").map { String(path[..<$0]) } ?? path
        let route = table.operation(method: method, path: bare) ?? routeLabels.count - 1
        let nanoseconds = elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000
        let bucket = Self.boundsNanoseconds.firstIndex { nanoseconds <= $0 } ?? Self.boundsNanoseconds.count
        let shard = shards[Self.shardIndex()]
        shard.withLockedValue { cells in
            let key = Key(route: route, status: status)
            if cells[key] == nil { cells[key] = Cell() }
            cells[key]!.buckets[bucket] += 1
            cells[key]!.sumNanoseconds += nanoseconds
        }
    }

    /// The shard of the calling thread: threads are spread by their id.
    private static func shardIndex() -> Int {
        Int(UInt(bitPattern: pthread_self().hashValue) % UInt(shardCount))
    }

    /// The counts in the Prometheus text format.
    public func prometheusText() -> String {
        var merged: [Key: Cell] = [:]
        for shard in shards {
            for (key, cell) in shard.withLockedValue({ $0 }) {
                var total = merged[key] ?? Cell()
                for index in total.buckets.indices { total.buckets[index] += cell.buckets[index] }
                total.sumNanoseconds += cell.sumNanoseconds
                merged[key] = total
            }
        }
        let keys = merged.keys.sorted { ($0.route, $0.status) < ($1.route, $1.status) }
        var requests = [
            "# HELP rampart_http_requests_total API requests answered, by route (method and path template) and status.",
            "# TYPE rampart_http_requests_total counter",
        ]
        var durations = [
            "# HELP rampart_http_request_duration_seconds Time from a request's head to its answer, by route and status.",
            "# TYPE rampart_http_request_duration_seconds histogram",
        ]
        for key in keys {
            let cell = merged[key]!
            let labels = "route=\"\(routeLabels[key.route])\",status=\"\(key.status)\""
            let count = cell.buckets.reduce(0, +)
            requests.append("rampart_http_requests_total{\(labels)} \(count)")
            var cumulative: UInt64 = 0
            for (index, bound) in Self.boundsSeconds.enumerated() {
                cumulative += cell.buckets[index]
                durations.append("rampart_http_request_duration_seconds_bucket{\(labels),le=\"\(bound)\"} \(cumulative)")
            }
            durations.append("rampart_http_request_duration_seconds_bucket{\(labels),le=\"+Inf\"} \(count)")
            durations.append("rampart_http_request_duration_seconds_sum{\(labels)} \(Double(cell.sumNanoseconds) / 1e9)")
            durations.append("rampart_http_request_duration_seconds_count{\(labels)} \(count)")
        }
        return (requests + durations).joined(separator: "\n") + "\n"
    }
}
