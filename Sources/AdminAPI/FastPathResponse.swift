import APIModels
import HTTPTypes
import NIOCore

/// The bytes of the fast path's answers: exactly what the router's encoder would have written
/// for the same response (status line, `Content-Type`, `Retry-After` when given,
/// `Content-Length`, `X-Request-ID`, `Date`), as one buffer.
enum FastPathResponse {
    /// A whole HTTP/1.1 response.
    static func bytes(
        _ status: HTTPResponse.Status, contentType: String, retryAfter: String?, body: ByteBuffer, requestID: String, date: String,
        allocator: ByteBufferAllocator
    ) -> ByteBuffer {
        var response = allocator.buffer(capacity: 256 + body.readableBytes)
        switch status {
        case .ok: response.writeStaticString("HTTP/1.1 200 OK")
        case .created: response.writeStaticString("HTTP/1.1 201 Created")
        default:
            response.writeStaticString("HTTP/1.1 ")
            response.writeString(String(status.code))
            response.writeStaticString(" ")
            response.writeString(status.reasonPhrase)
        }
        response.writeStaticString("\r\nContent-Type: ")
        response.writeString(contentType)
        if let retryAfter {
            response.writeStaticString("\r\nRetry-After: ")
            response.writeString(retryAfter)
        }
        response.writeStaticString("\r\nContent-Length: ")
        response.writeString(String(body.readableBytes))
        response.writeStaticString("\r\nX-Request-ID: ")
        response.writeString(requestID)
        response.writeStaticString("\r\nDate: ")
        response.writeString(date)
        response.writeStaticString("\r\n\r\n")
        response.writeImmutableBuffer(body)
        return response
    }

    /// The JSON of a decision, as `JSONEncoder` would write it (without the optional fields
    /// that are nil). Binding ids are hex and denial reasons identifiers: nothing to escape.
    static func encode(_ response: AuthorizeResponse) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(96)
        buffer.writeStaticString(response.allowed ? "{\"allowed\":true" : "{\"allowed\":false")
        if let binding = response.binding {
            buffer.writeStaticString(",\"binding\":\"")
            buffer.writeString(binding)
            buffer.writeStaticString("\"")
        }
        if let reason = response.reason {
            buffer.writeStaticString(",\"reason\":\"")
            buffer.writeString(reason)
            buffer.writeStaticString("\"")
        }
        buffer.writeStaticString(",\"revision\":")
        buffer.writeString(String(response.revision))
        buffer.writeStaticString("}")
        return buffer
    }
}
