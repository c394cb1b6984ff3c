import HTTP

/// Rejects query parameters no list could mean: control characters (NUL cannot even be stored in
/// PostgreSQL text) and over-long values. One check for every route, before any handler reads them.
struct QueryGuard: Middleware {
    static let maxValueLength = 1000

    func handle(_ request: Request, context: AppContext, next: (Request, AppContext) throws -> Response) throws -> Response {
        for item in request.queryItems {
            let bad = (item.name + item.value).unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }
            if bad { throw APIError.invalidParameter(item.name, "must not contain control characters") }
            if item.value.unicodeScalars.count > Self.maxValueLength {
                throw APIError.invalidParameter(item.name, "must be at most \(Self.maxValueLength) characters")
            }
        }
        return try next(request, context)
    }
}
