import HTTP
import Postgres

/// An error a handler throws to answer with a problem (RFC 9457). `code` is stable and documented
/// in openapi.yaml; `detail` is for humans.
public struct APIError: Error, Sendable {
    public var status: Int
    public var code: String
    public var detail: String
    public var headers: HTTPHeaders

    public init(status: Int, code: String, detail: String, headers: HTTPHeaders = HTTPHeaders()) {
        self.status = status; self.code = code; self.detail = detail; self.headers = headers
    }

    public static func notFound(_ detail: String = "No resource at this path.") -> APIError {
        APIError(status: 404, code: "not_found", detail: detail)
    }

    public static let databaseUnavailable = APIError(status: 503, code: "database_unavailable",
        detail: "The database is unreachable; retry shortly.", headers: ["retry-after": "1"])

    public func response(requestID: String) -> Response {
        .problem(status: status, code: code, detail: detail, requestID: requestID, extraHeaders: headers)
    }
}

/// Maps anything a handler throws to a response. Database details never reach the client or the
/// log (they may quote personal data): only the error's kind and SQLSTATE are logged.
public struct ErrorMapper: Sendable {
    public init() {}

    public func response(for error: any Error, request: Request, log: (String, [String: String]) -> Void) -> Response {
        switch error {
        case let e as APIError:
            return e.response(requestID: request.requestID)
        case let e as PostgresError:
            switch e.kind {
            case .connectionUnavailable:
                return APIError.databaseUnavailable.response(requestID: request.requestID)
            case .queryCanceled:
                log("database statement timed out", ["sqlstate": e.sqlState])
                return APIError(status: 503, code: "database_timeout", detail: "The database did not answer in time; retry shortly.",
                                headers: ["retry-after": "1"]).response(requestID: request.requestID)
            case .serializationFailure, .deadlockDetected:
                return APIError(status: 409, code: "concurrent_update", detail: "A concurrent change conflicted with this request; retry it.")
                    .response(requestID: request.requestID)
            default:
                log("database error", ["sqlstate": e.sqlState])
                return APIError(status: 500, code: "internal_error", detail: "The server failed to handle the request.")
                    .response(requestID: request.requestID)
            }
        default:
            log("handler failed", ["error_type": String(describing: type(of: error))])
            return APIError(status: 500, code: "internal_error", detail: "The server failed to handle the request.")
                .response(requestID: request.requestID)
        }
    }
}
