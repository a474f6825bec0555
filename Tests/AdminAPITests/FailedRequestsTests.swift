import Foundation
import Logging
import PolicyModel
import Testing

@testable import AdminAPI

/// Outside review, finding 11: failed authentication was not counted, logged or throttled, and
/// refused requests left no trace in the audit log.
@Suite struct FailedRequestsTests {
    static let start = ContinuousClock.now

    @Test func anAddressThatFailsTooOftenWaitsForItsBucketToRefill() {
        var limits = AuthenticationThrottle.Limits()
        limits.burst = 3
        limits.refillPerSecond = 0.5
        let throttle = AuthenticationThrottle(limits: limits)
        for _ in 0..<3 {
            #expect(throttle.retryAfter("10.0.0.1", now: Self.start) == nil)
            _ = throttle.failed("10.0.0.1", now: Self.start)
        }
        #expect(throttle.retryAfter("10.0.0.1", now: Self.start) == .seconds(2), "one failure's worth refills in 2 s")
        #expect(throttle.retryAfter("10.0.0.2", now: Self.start) == nil, "other addresses are not affected")
        #expect(throttle.retryAfter("10.0.0.1", now: Self.start + .seconds(2)) == nil)
        #expect(throttle.failures.load(ordering: .relaxed) == 3)
    }

    @Test func failuresAreLoggedOncePerAddressPerIntervalWithTheirCount() {
        var limits = AuthenticationThrottle.Limits()
        limits.maxLogLines = 2
        let throttle = AuthenticationThrottle(limits: limits)
        #expect(throttle.failed("a", now: Self.start) == 1)
        #expect(throttle.failed("a", now: Self.start + .seconds(1)) == nil)
        #expect(throttle.failed("a", now: Self.start + .seconds(2)) == nil)
        #expect(throttle.failed("b", now: Self.start + .seconds(3)) == 1)
        #expect(throttle.failed("c", now: Self.start + .seconds(4)) == nil, "at most two lines per interval in all")
        #expect(throttle.failed("a", now: Self.start + .seconds(61)) == 3, "the next line counts what was not logged")
    }

    @Test func theTableOfAddressesIsBounded() {
        var limits = AuthenticationThrottle.Limits()
        limits.maxSources = 8
        limits.burst = 1
        let throttle = AuthenticationThrottle(limits: limits)
        for number in 0..<100 { _ = throttle.failed("10.0.0.\(number)", now: Self.start + .milliseconds(number)) }
        #expect(throttle.retryAfter("10.0.0.99", now: Self.start + .milliseconds(100)) != nil, "the newest is remembered")
        #expect(throttle.retryAfter("10.0.0.0", now: Self.start + .milliseconds(100)) == nil, "the oldest was forgotten")
    }

    /// A flood of wrong keys from one address is answered 429 with `Retry-After` after the
    /// burst, even with a right key meanwhile; other addresses are served.
    @Test func theRouterThrottlesAnAddressThatGuessesKeys() async throws {
        let fixture = try await Fixture()
        let client = fixture.client
        let wrong = "0000000000000000000000000000abcd." + String(repeating: "0", count: 64)
        for _ in 0..<20 {
            #expect(try await client.send(.get, "/v1/orgs", token: wrong, from: "192.0.2.7").status == 401)
        }
        let throttled = try await client.send(.get, "/v1/orgs", token: fixture.admin, from: "192.0.2.7")
        #expect(throttled.status == 429 && throttled.code == "too_many_failures")
        #expect(Int(throttled.headers[.retryAfter] ?? "") ?? 0 >= 1)
        #expect(try await client.send(.get, "/v1/orgs", token: fixture.admin, from: "192.0.2.8").status == 200)
        let metrics = try await client.send(.get, "/metrics")
        #expect(metrics.body.contains("rampart_authentication_failures_total 20"))
        #expect(metrics.body.contains("rampart_authentication_throttled_total 1"))
    }

    /// Refusals are gathered and recorded, one audit record per distinct refusal with its count,
    /// the refused principal, the permission, the scope and why.
    @Test func refusedRequestsAreRecordedInTheAuditLog() async throws {
        let fixture = try await Fixture()
        try await fixture.organization("alpha")
        let viewer = try await fixture.member("alpha", "viewer", role: "org.viewer")
        let client = fixture.client
        for _ in 0..<3 {
            #expect(try await client.send(.post, "/v1/orgs/alpha/projects", body: #"{"name":"p"}"#, token: viewer).status == 403)
        }
        #expect(try await client.send(.post, "/v1/orgs/alpha/roles", body: #"{"name":"r","permissions":["*.*.*"]}"#, token: viewer).status == 403)
        var logger = Logger(label: "denials")
        logger.logLevel = .critical
        await client.routes.denials.flush(to: fixture.cluster, logger: logger)
        let answer = try await client.send(.get, "/v1/audit?action=access.denied", token: fixture.admin)
        let records = try #require(answer.object["items"] as? [[String: Any]])
        #expect(records.count == 2)
        let first = try #require(records.first)
        #expect(first["actor"] as? String == "alpha/viewer")
        #expect(first["outcome"] as? String == "lacks_permission")
        #expect(first["organization"] as? String == "alpha")
        #expect(first["target"] as? String == "iam.projects.create on orgs/alpha (3 requests)")
        // The organization's own auditors see them.
        let auditor = try await fixture.member("alpha", "auditor", role: "org.auditor")
        let theirs = try await client.send(.get, "/v1/audit?organization=alpha&action=access.denied", token: auditor)
        #expect((theirs.object["items"] as? [[String: Any]])?.count == 2)
    }

    /// However many distinct refusals, at most `maxDistinct` are itemized per interval.
    @Test func aFloodOfRefusalsLeavesABoundedTrace() {
        var limits = DenialLog.Limits()
        limits.maxDistinct = 4
        let log = DenialLog(limits: limits)
        let viewer = PrincipalReference(organization: try! Name("alpha"), name: try! Name("viewer"))
        for number in 0..<10 {
            log.record(viewer, try! Permission("svc.res\(number).get"), on: .cluster, .lacksPermission, requestID: "r\(number)")
            log.record(viewer, try! Permission("svc.res\(number).get"), on: .cluster, .lacksPermission, requestID: "again")
        }
        let (denials, notItemized) = log.drain()
        #expect(denials.map(\.0.count) == [2, 2, 2, 2])
        #expect(denials.map(\.requestID) == ["r0", "r1", "r2", "r3"], "each with the first refused request's id")
        #expect(notItemized == 12)
        #expect(log.drain().denials.isEmpty, "drained")
    }
}
