@testable import AdminAPI
import Foundation
import Testing

/// `rampart_http_requests_total` and `rampart_http_request_duration_seconds`: requests counted
/// by operation (method and path template) and status, with cumulative latency buckets.
@Suite struct RequestMetricsTests {
    /// The value of the sample `name{labels}` in `text`, or nil.
    static func sample(_ text: String, _ series: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    @Test func requestsAreCountedByTemplateAndStatusInCumulativeBuckets() {
        let metrics = RequestMetrics()
        metrics.record(method: "GET", path: "/v1/orgs/acme/projects", status: 200, elapsed: .microseconds(80))
        metrics.record(method: "GET", path: "/v1/orgs/globex/projects", status: 200, elapsed: .milliseconds(3))
        metrics.record(method: "GET", path: "/v1/orgs/acme/projects?limit=5", status: 404, elapsed: .milliseconds(2))
        metrics.record(method: "GET", path: "/v1/cluster/hash", status: 200, elapsed: .seconds(9))
        metrics.record(method: "GET", path: "/nowhere/at/all", status: 404, elapsed: .microseconds(10))
        metrics.record(method: "DELETE", path: "/v1/cluster/hash", status: 405, elapsed: .microseconds(10))
        let text = metrics.prometheusText()
        let projects = #"route="GET /v1/orgs/{org}/projects",status="200""#
        #expect(Self.sample(text, "rampart_http_requests_total{\(projects)}") == 2)
        #expect(Self.sample(text, #"rampart_http_requests_total{route="GET /v1/orgs/{org}/projects",status="404"}"#) == 1)
        #expect(Self.sample(text, "rampart_http_request_duration_seconds_bucket{\(projects),le=\"0.0001\"}") == 1)
        #expect(Self.sample(text, "rampart_http_request_duration_seconds_bucket{\(projects),le=\"0.0025\"}") == 1)
        #expect(Self.sample(text, "rampart_http_request_duration_seconds_bucket{\(projects),le=\"0.005\"}") == 2)
        #expect(Self.sample(text, "rampart_http_request_duration_seconds_bucket{\(projects),le=\"+Inf\"}") == 2)
        let sum = Self.sample(text, "rampart_http_request_duration_seconds_sum{\(projects)}") ?? 0
        #expect(abs(sum - 0.00308) < 1e-9)
        // Beyond the last bound: only in +Inf.
        let hash = #"route="GET /v1/cluster/hash",status="200""#
        #expect(Self.sample(text, "rampart_http_request_duration_seconds_bucket{\(hash),le=\"5.0\"}") == 0)
        #expect(Self.sample(text, "rampart_http_request_duration_seconds_bucket{\(hash),le=\"+Inf\"}") == 1)
        // No operation is a bounded `other`, whatever the path.
        #expect(Self.sample(text, #"rampart_http_requests_total{route="other",status="404"}"#) == 1)
        #expect(Self.sample(text, #"rampart_http_requests_total{route="other",status="405"}"#) == 1)
        #expect(!text.contains("acme") && !text.contains("nowhere"), "no path value becomes a label")
    }

    @Test func concurrentRecordingLosesNothing() async {
        let metrics = RequestMetrics()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    for _ in 0..<1000 { metrics.record(method: "POST", path: "/v1/authorize", status: 200, elapsed: .microseconds(50)) }
                }
            }
        }
        #expect(Self.sample(metrics.prometheusText(), #"rampart_http_requests_total{route="POST /v1/authorize",status="200"}"#) == 8000)
    }

    @Test func routedRequestsShowInTheMetricsRoute() async throws {
        let fixture = try await Fixture()
        let refused = try await fixture.client.send(.get, "/v1/orgs/nope", token: fixture.admin)
        #expect(refused.status == 404)
        let metrics = try await fixture.client.send(.get, "/metrics")
        #expect(Self.sample(metrics.body, #"rampart_http_requests_total{route="GET /v1/orgs/{org}",status="404"}"#) == 1, "\(metrics.body)")
        #expect(metrics.body.contains("# TYPE rampart_http_request_duration_seconds histogram"))
    }
}
