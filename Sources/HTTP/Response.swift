/// A response as a handler returns it. The server adds `Date`, `Content-Length`, `Connection`,
/// `X-Request-Id` and applies CORS and gzip; handlers set status, content type, other headers, body.
public struct Response: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: [UInt8]
    /// When set, the body is produced by this stream (chunked) and `body` is ignored.
    public var stream: BodyStream?

    public init(status: Int = 200, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = [], stream: BodyStream? = nil) {
        self.status = status; self.headers = headers; self.body = body; self.stream = stream
    }

    public static func json(_ status: Int = 200, _ bytes: [UInt8]) -> Response {
        Response(status: status, headers: ["content-type": "application/json; charset=utf-8"], body: bytes)
    }

    public static func json(_ status: Int = 200, _ text: String) -> Response {
        json(status, Array(text.utf8))
    }

    public static func text(_ status: Int = 200, _ text: String, contentType: String = "text/plain; charset=utf-8") -> Response {
        Response(status: status, headers: ["content-type": contentType], body: Array(text.utf8))
    }

    /// An RFC 9457 problem with a stable `code`. Built by hand so the HTTP layer needs no encoder.
    public static func problem(status: Int, code: String, title: String? = nil, detail: String,
                               requestID: String? = nil, extraHeaders: HTTPHeaders = HTTPHeaders()) -> Response {
        var json = "{\"type\":\"https://branchlink.example/problems/\(code)\""
        json += ",\"title\":\(JSONString.quote(title ?? HTTPStatus.reason(status)))"
        json += ",\"status\":\(status),\"detail\":\(JSONString.quote(detail)),\"code\":\(JSONString.quote(code))"
        if let requestID { json += ",\"request_id\":\(JSONString.quote(requestID))" }
        json += "}"
        var headers = extraHeaders
        headers.set("content-type", "application/problem+json")
        return Response(status: status, headers: headers, body: Array(json.utf8))
    }

    public static func problem(_ error: HTTPParseError) -> Response {
        problem(status: error.status, code: error.code, detail: error.detail)
    }
}

/// Minimal JSON string escaping for hand-built bodies (problems, logs, metrics labels).
public enum JSONString {
    public static func quote(_ s: String) -> String {
        var out = "\""
        out.reserveCapacity(s.utf8.count + 2)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let c where c.value < 0x20:
                let hex = String(c.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
        return out
    }
}

public enum HTTPStatus {
    public static func reason(_ status: Int) -> String {
        switch status {
        case 100: "Continue"
        case 200: "OK"
        case 201: "Created"
        case 202: "Accepted"
        case 204: "No Content"
        case 304: "Not Modified"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 406: "Not Acceptable"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 410: "Gone"
        case 411: "Length Required"
        case 412: "Precondition Failed"
        case 413: "Content Too Large"
        case 414: "URI Too Long"
        case 415: "Unsupported Media Type"
        case 417: "Expectation Failed"
        case 422: "Unprocessable Content"
        case 428: "Precondition Required"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        case 505: "HTTP Version Not Supported"
        default: "Status \(status)"
        }
    }
}
