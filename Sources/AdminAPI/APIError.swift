import APIModels
import Foundation
public import Hummingbird
public import PolicyModel
public import RampartAuthorizer

/// Every error the API answers with, and its mapping to HTTP: the one place where domain
/// rejections, cluster conditions and bad input become statuses and stable codes.
public enum APIError: Error, Sendable, Hashable {
    /// The request is malformed (JSON, types, unknown fields, invalid values).
    case badRequest(String)
    /// The body exceeds its limit.
    case bodyTooLarge(limit: Int)
    /// No or invalid credentials.
    case unauthenticated(String)
    /// Authenticated, but not allowed.
    case forbidden(String)
    /// A domain rejection from the state machine.
    case rejected(PolicyError)
    /// The cluster could not serve the request.
    case cluster(ClusterError)
    /// The cluster was already bootstrapped.
    case alreadyBootstrapped
    /// No route matches the path and method.
    case noSuchRoute(String)
    /// A retry (same `Idempotency-Key`) of a create whose answer carried a secret: the first
    /// request created the resource, and its secret, never stored, cannot be shown again.
    /// `keyID` is the API key the first request created, nil when it has been revoked since.
    case secretNotRepeatable(keyID: String?)
    /// The client's address failed authentication too often (`AuthenticationThrottle`); it may
    /// try again after `retryAfterSeconds`.
    case throttled(retryAfterSeconds: Int)
    /// The path exists, but not with this method; `allowed` are the methods it has.
    case methodNotAllowed(allowed: [String])
    /// A token presented as a credential, or asked about, is not accepted: 401 with the
    /// refusal's code, or 403 when its own checks refuse the request.
    case token(TokenRefusal)
    /// What the request asks for is no longer kept (`410 Gone`): the text says what is.
    case gone(String)

    /// The HTTP status.
    public var status: HTTPResponse.Status {
        switch self {
        case .badRequest: return .badRequest
        case .bodyTooLarge: return .contentTooLarge
        case .unauthenticated: return .unauthorized
        case .forbidden: return .forbidden
        case .alreadyBootstrapped, .secretNotRepeatable: return .conflict
        case .noSuchRoute: return .notFound
        case .throttled: return .tooManyRequests
        case .methodNotAllowed: return .methodNotAllowed
        case .token(.checksFailed): return .forbidden
        case .token: return .unauthorized
        case .gone: return .gone
        case .rejected(let error):
            switch error {
            case .invalidName, .invalidPermission, .invalidArgument, .crossOrganization: return .badRequest
            case .limitExceeded: return .unprocessableContent
            case .alreadyExists, .hasDependents, .invalidState: return .conflict
            case .notFound: return .notFound
            case .revisionMismatch: return .preconditionFailed
            case .forbidden: return .forbidden
            }
        case .cluster(let error):
            switch error {
            case .unavailable, .overloaded: return .serviceUnavailable
            case .timedOut: return .gatewayTimeout
            case .refused: return .conflict
            case .invalidArgument: return .badRequest
            case .internalFailure: return .internalServerError
            }
        }
    }

    /// The stable machine-readable code.
    public var code: String {
        switch self {
        case .badRequest: return "bad_request"
        case .bodyTooLarge: return "body_too_large"
        case .unauthenticated: return "unauthenticated"
        case .forbidden: return "forbidden"
        case .alreadyBootstrapped: return "already_bootstrapped"
        case .noSuchRoute: return "no_such_route"
        case .secretNotRepeatable: return "secret_not_repeatable"
        case .throttled: return "too_many_failures"
        case .methodNotAllowed: return "method_not_allowed"
        case .token(let refusal): return refusal.code
        case .gone: return "gone"
        case .rejected(let error): return error.code
        case .cluster(let error):
            switch error {
            case .unavailable: return "unavailable"
            case .overloaded: return "overloaded"
            case .timedOut: return "timed_out"
            case .refused: return "refused"
            case .invalidArgument: return "bad_request"
            case .internalFailure: return "internal"
            }
        }
    }

    /// What went wrong, for people.
    public var detail: String {
        switch self {
        case .badRequest(let text), .unauthenticated(let text), .forbidden(let text), .gone(let text): return text
        case .noSuchRoute(let path): return "no route for \(path)"
        case .bodyTooLarge(let limit): return "the body exceeds \(limit) bytes"
        case .alreadyBootstrapped: return "the cluster already has its first administrator"
        case .secretNotRepeatable(let keyID?):
            return "API key \(keyID) was created by the first request with this Idempotency-Key; its secret was shown only in that "
                + "answer and cannot be shown again (if that answer was lost, revoke key \(keyID) and create another)"
        case .secretNotRepeatable(nil):
            return "the first request with this Idempotency-Key created an API key that has since been revoked; its secret cannot be shown again"
        case .throttled(let seconds):
            return "too many failed authentications from this address; retry in \(seconds) s"
        case .methodNotAllowed(let allowed):
            return "this path is served with \(allowed.joined(separator: ", ")) only"
        case .rejected(let error): return error.description
        case .token(let refusal): return refusal.description
        case .cluster(let error):
            switch error {
            case .unavailable(let text), .refused(let text), .invalidArgument(let text), .internalFailure(let text): return text
            case .overloaded: return "the replica is overloaded; retry later"
            case .timedOut: return "the deadline passed; the outcome is unknown (retry with the same Idempotency-Key)"
            }
        }
    }

    /// The `application/problem+json` response.
    public func response() -> Response {
        var headers: HTTPFields = [.contentType: Self.problemContentType]
        if let retryAfter { headers[.retryAfter] = retryAfter }
        switch self {
        case .methodNotAllowed(let allowed): headers[.allow] = allowed.joined(separator: ", ")
        // The body was not read: the connection closes rather than read it to its end.
        case .bodyTooLarge: headers[.connection] = "close"
        default: break
        }
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: problemJSON)))
    }

    /// The media type of a problem.
    static let problemContentType = "application/problem+json"

    /// The problem's JSON (RFC 9457): code, title, status and detail.
    var problemJSON: Data {
        (try? JSONEncoder().encode(Problem(code: code, title: status.reasonPhrase, status: status.code, detail: detail))) ?? Data()
    }

    /// The `Retry-After` of an unavailable or overloaded cluster, or of a throttled address;
    /// nil for the rest.
    var retryAfter: String? {
        if case .throttled(let seconds) = self { return String(seconds) }
        return status == .serviceUnavailable ? "1" : nil
    }
}

/// Turns any error a route throws into a problem response; an unexpected error is a 500 with
/// no internals exposed.
struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return error.response()
        } catch let error as HTTPError {
            if error.status == .notFound || error.status == .methodNotAllowed {
                return APIError.noSuchRoute("\(request.method) \(request.uri.path)").response()
            }
            return APIError.badRequest(error.body ?? error.status.reasonPhrase).response()
        } catch {
            context.logger.error("unexpected error", metadata: ["error": "\(error)"])
            return APIError.cluster(.internalFailure("internal error")).response()
        }
    }
}
