import Foundation
import HTTP
import Postgres

/// One background export: which list or report (`path`), in which format, for whom, and where it
/// stands. Rows live in `exports` (migration 0014), the file in `export_chunks`.
struct Export: Encodable {
    var id: UUID
    var path: String
    var format: TableFormat
    var filename: String
    var status: String
    var attempts: Int
    var bytes: Int?
    var sha256: String?
    var error: Problem?
    var createdAt: Date
    var startedAt: Date?
    var finishedAt: Date?
    var expiresAt: Date
    var version: Int
    var accountID: UUID

    /// The problem a failed export ended with, as the list itself would have answered it.
    struct Problem: Codable {
        var status: Int
        var code: String
        var detail: String
    }

    static let columns = """
        e.id, e.path, e.format, e.filename, e.status, e.attempts, e.bytes, e.sha256, e.error::text, e.created_at, e.started_at,
        e.finished_at, e.expires_at, e.version, e.account_id
        """

    init(row r: Row) throws {
        id = try r.decode(UUID.self, 0)
        path = try r.decode(String.self, 1)
        format = TableFormat(rawValue: try r.decode(String.self, 2)) ?? .csv
        filename = try r.decode(String.self, 3)
        status = try r.decode(String.self, 4)
        attempts = try r.decode(Int.self, 5)
        bytes = try r.decode(Int?.self, 6)
        sha256 = try r.decode(String?.self, 7)
        error = try r.decode(String?.self, 8).flatMap { try? JSONDecoder().decode(Problem.self, from: Data($0.utf8)) }
        createdAt = try r.decode(Date.self, 9)
        startedAt = try r.decode(Date?.self, 10)
        finishedAt = try r.decode(Date?.self, 11)
        expiresAt = try r.decode(Date.self, 12)
        version = try r.decode(Int.self, 13)
        accountID = try r.decode(UUID.self, 14)
    }

    var href: String { "/v1/exports/\(id.lower)" }

    enum CodingKeys: String, CodingKey {
        case id, path, format, filename, status, attempts, bytes, sha256, error, createdAt, startedAt, finishedAt, expiresAt, version, href, fileHref
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id.lower, forKey: .id)
        try c.encode(path, forKey: .path)
        try c.encode(format.rawValue, forKey: .format)
        try c.encode(filename, forKey: .filename)
        try c.encode(status, forKey: .status)
        try c.encode(attempts, forKey: .attempts)
        try c.encode(bytes, forKey: .bytes)
        try c.encode(sha256, forKey: .sha256)
        try c.encode(error, forKey: .error)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(startedAt, forKey: .startedAt)
        try c.encode(finishedAt, forKey: .finishedAt)
        try c.encode(expiresAt, forKey: .expiresAt)
        try c.encode(version, forKey: .version)
        try c.encode(href, forKey: .href)
        try c.encode(status == "done" ? href + "/file" : nil, forKey: .fileHref)
    }

    static let csvHeader = ["id", "path", "format", "status", "bytes", "sha256", "error_code", "created_at", "finished_at", "expires_at"]

    var csvRow: [String?] {
        [id.lower, path, format.rawValue, status, bytes.map(String.init), sha256, error?.code, Timestamp.rfc3339(createdAt),
         finishedAt.map(Timestamp.rfc3339), Timestamp.rfc3339(expiresAt)]
    }

    /// Exports are private to the account that asked: the file holds what that account may see.
    static func load(_ db: Connection, _ id: UUID, for p: Principal) throws -> Export {
        guard let row = try db.queryRow("SELECT \(columns) FROM exports e WHERE e.id = $1", id),
              let e = try? Export(row: row), e.accountID == p.accountID else { throw APIError.notFound("export") }
        return e
    }
}

/// Runs a GET of this API inside the application, as `Router` would for a client, with the
/// principal already on the context (Authentication lets it through): the export's POST checks the
/// list with it, the background worker produces the file with it.
enum InternalRequest {
    /// The route's response, or an `APIError` for a path that is not a list or report of this API.
    static func table(router: Router<AppContext>, path target: String, format: TableFormat, requestID: String,
                      context: AppContext) throws -> Response {
        let parts = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = String(parts[0])
        let query = parts.count > 1 ? String(parts[1]) : nil
        guard path.hasPrefix("/v1/"), !path.hasPrefix("/v1/exports"), !target.contains("#") else {
            throw ExportRoutes.pathError("must be a list or report of this API under /v1/ (not an export)")
        }
        guard case .found(let route, let parameters) = router.match(method: "GET", path: path), case .worker(let handler) = route.action else {
            throw ExportRoutes.pathError("names no list or report of this API (nothing answers GET \(path))")
        }
        let head = RequestHead(method: "GET", target: target, path: path, query: query, version: HTTPVersion(major: 1, minor: 1),
                               headers: ["accept": format.mediaType], framing: .none, keepAlive: true, expectContinue: false)
        let request = Request(head: head, body: [], requestID: requestID, pathParameters: parameters, route: route.pattern)
        return try handler(request, context)
    }
}
