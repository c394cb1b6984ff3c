import HTTP
import Postgres

/// An error a handler throws to answer with a problem (RFC 9457). `code` is stable and documented
/// in openapi.yaml; `title` is localized by `Accept-Language`; `detail` explains this occurrence.
public struct APIError: Error, Sendable {
    public var status: Int
    public var code: String
    public var detail: String
    public var errors: [FieldError]
    public var headers: HTTPHeaders
    /// Extra members of the problem object (e.g. `current_status` of a 409).
    public var extra: [String: String]

    public init(status: Int, code: String, detail: String, errors: [FieldError] = [], headers: HTTPHeaders = HTTPHeaders(),
                extra: [String: String] = [:]) {
        self.status = status; self.code = code; self.detail = detail; self.errors = errors
        self.headers = headers; self.extra = extra
    }

    /// Outside the caller's scope or absent: the same answer, so existence is never revealed.
    public static func notFound(_ what: String = "resource") -> APIError {
        APIError(status: 404, code: "not_found", detail: "No \(what) with this id is visible to you.")
    }

    public static let unauthenticated = APIError(status: 401, code: "unauthenticated",
        detail: "Send a valid bearer token: Authorization: Bearer <token>.", headers: ["www-authenticate": "Bearer"])

    public static func forbidden(_ detail: String) -> APIError { APIError(status: 403, code: "forbidden", detail: detail) }

    public static func invalidParameter(_ name: String, _ message: String) -> APIError {
        APIError(status: 400, code: "invalid_parameter", detail: "Query parameter \(name) \(message).",
                 errors: [FieldError(pointer: "?" + name, code: "invalid_parameter", message: message)])
    }

    public static let databaseUnavailable = APIError(status: 503, code: "database_unavailable",
        detail: "The database is unreachable; retry shortly.", headers: ["retry-after": "1"])

    public func response(for request: Request) -> Response {
        let lang = Localization.language(request.headers["accept-language"])
        var json = "{\"type\":\"https://branchlink.example/problems/\(code)\""
        json += ",\"title\":\(JSONString.quote(Localization.title(code: code, status: status, lang: lang)))"
        json += ",\"status\":\(status),\"detail\":\(JSONString.quote(detail)),\"code\":\(JSONString.quote(code))"
        json += ",\"request_id\":\(JSONString.quote(request.requestID))"
        for (k, v) in extra.sorted(by: { $0.key < $1.key }) { json += ",\(JSONString.quote(k)):\(JSONString.quote(v))" }
        if !errors.isEmpty {
            json += ",\"errors\":[" + errors.map {
                "{\"pointer\":\(JSONString.quote($0.pointer)),\"code\":\(JSONString.quote($0.code)),\"message\":\(JSONString.quote($0.message))}"
            }.joined(separator: ",") + "]"
        }
        json += "}"
        var h = headers
        h.set("content-type", "application/problem+json")
        h.set("content-language", lang.rawValue)
        return Response(status: status, headers: h, body: Array(json.utf8))
    }
}

/// Maps anything a handler throws to a response. Database details never reach the client or the
/// log (they may quote personal data): only the error's kind and SQLSTATE are logged.
public struct ErrorMapper: Sendable {
    public init() {}

    public func response(for error: any Error, request: Request, log: (String, [String: String]) -> Void) -> Response {
        switch error {
        case let e as APIError:
            return e.response(for: request)
        case let e as PostgresError:
            switch e.kind {
            case .connectionUnavailable:
                return APIError.databaseUnavailable.response(for: request)
            case .queryCanceled:
                log("database statement timed out", ["sqlstate": e.sqlState])
                return APIError(status: 503, code: "database_timeout", detail: "The database did not answer in time; retry shortly.",
                                headers: ["retry-after": "1"]).response(for: request)
            case .serializationFailure, .deadlockDetected:
                return APIError(status: 409, code: "concurrent_update", detail: "A concurrent change conflicted with this request; retry it.")
                    .response(for: request)
            default:
                log("database error", ["sqlstate": e.sqlState, "constraint": e.constraint ?? ""])
                return APIError(status: 500, code: "internal_error", detail: "The server failed to handle the request.")
                    .response(for: request)
            }
        default:
            log("handler failed", ["error_type": String(describing: type(of: error))])
            return APIError(status: 500, code: "internal_error", detail: "The server failed to handle the request.")
                .response(for: request)
        }
    }
}
