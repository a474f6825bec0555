public import Hummingbird
import NIOCore

/// Refuses requests whose shape no route takes, before anything else reads them (outside
/// review, finding 12):
/// - a method a known path does not serve is answered 405 with `Allow` (TRACE was a 404, as if
///   the path did not exist); an unknown path stays the router's 404;
/// - a body longer than the API's limit is refused with 413 before a byte of it is read, when
///   its length is declared, and a chunked body is cut off at the limit (routes that take no
///   body read and discarded bodies of any size).
struct RequestShapeMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext

    let table: RouteTable
    let maxBodyBytes: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let method = request.method.rawValue
        if let allowed = table.methods(for: request.uri.path), !allowed.contains(method), !(method == "HEAD" && allowed.contains("GET")) {
            throw APIError.methodNotAllowed(allowed: allowed)
        }
        if let length = request.headers[.contentLength] {
            guard let bytes = Int(length), bytes >= 0 else { throw APIError.badRequest("Content-Length must be a number of bytes") }
            guard bytes <= maxBodyBytes else { throw APIError.bodyTooLarge(limit: maxBodyBytes) }
            return try await next(request, context)
        }
        guard request.headers[.transferEncoding] != nil else { return try await next(request, context) }
        var request = request
        request.body = RequestBody(asyncSequence: LimitedBody(base: request.body, limit: maxBodyBytes))
        return try await next(request, context)
    }
}

/// A request body that ends in `APIError.bodyTooLarge` once more than `limit` bytes came.
struct LimitedBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer

    let base: RequestBody
    let limit: Int

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: RequestBody.AsyncIterator
        let limit: Int
        var seen = 0

        mutating func next() async throws -> ByteBuffer? {
            guard let buffer = try await base.next() else { return nil }
            seen += buffer.readableBytes
            guard seen <= limit else { throw APIError.bodyTooLarge(limit: limit) }
            return buffer
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: base.makeAsyncIterator(), limit: limit)
    }
}

/// The operation table as path templates (`AdminRoutes.operations`): which methods a path is
/// served with, telling a known path's other methods (405) from an unknown path (404).
struct RouteTable: Sendable {
    /// Each template's segments (nil for a parameter, which matches any one segment) and the
    /// methods served there.
    private let templates: [(segments: [String?], methods: [String])]
    /// Each operation's segments and method, in the order given.
    private let operations: [(segments: [String?], method: String)]

    init(_ operations: [(method: String, path: String)]) {
        var templates: [(segments: [String?], methods: [String])] = []
        self.operations = operations.map { operation in
            (operation.path.split(separator: "/").map { $0.hasPrefix("{") ? nil : String($0) }, operation.method)
        }
        for operation in operations {
            let segments: [String?] = operation.path.split(separator: "/").map { $0.hasPrefix("{") ? nil : String($0) }
            if let index = templates.firstIndex(where: { $0.segments == segments }) {
                templates[index].methods.append(operation.method)
            } else {
                templates.append((segments, [operation.method]))
            }
        }
        self.templates = templates
    }

    /// The index of the operation `method` and `path` are (the one with the fewest parameters
    /// when several templates match), or nil when none is.
    func operation(method: String, path: String) -> Int? {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        guard path.hasPrefix("/"), !segments.contains(where: \.isEmpty) else { return nil }
        var best: (index: Int, parameters: Int)?
        for (index, operation) in operations.enumerated() where operation.method == method && operation.segments.count == segments.count {
            guard zip(operation.segments, segments).allSatisfy({ expected, actual in expected.map { $0 == actual } ?? true }) else { continue }
            let parameters = operation.segments.filter { $0 == nil }.count
            if best.map({ parameters < $0.parameters }) ?? true { best = (index, parameters) }
        }
        return best?.index
    }

    /// The methods `path` is served with, or nil when no template matches it.
    func methods(for path: String) -> [String]? {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        guard path.hasPrefix("/"), !segments.contains(where: \.isEmpty) else { return nil }
        var found: [String]?
        for template in templates where template.segments.count == segments.count {
            let matches = zip(template.segments, segments).allSatisfy { expected, actual in expected.map { $0 == actual } ?? true }
            if matches { found = (found ?? []) + template.methods }
        }
        return found
    }
}
