import Crypto
import Foundation
import HTTP
import Postgres

/// `/v1/exports`: any list or report of this API as a file made in the background, for
/// province-wide data that is too large to wait for. `POST {path, format}` checks the request at
/// once (the same answer a direct GET would give: bad filters, scope) and answers 202 with the
/// status resource; the `ExportRunner` makes the file; `GET /{id}/file` downloads it until it
/// expires. Small lists need no export: `Accept: text/csv` or the XLSX type on the list itself.
enum ExportRoutes {
    /// Exports waiting or running per account at one time.
    static let maxActivePerAccount = 3
    /// How long a finished file is kept.
    static let retentionSeconds = 7 * 24 * 3600

    static func register(on router: Router<AppContext>) {
        router.post("/v1/exports") { request, ctx in try create(request, ctx, router: router) }
        router.get("/v1/exports", list)
        router.get("/v1/exports/{id}", get)
        router.get("/v1/exports/{id}/file", file)
        router.delete("/v1/exports/{id}", delete)
    }

    static func pathError(_ message: String) -> APIError {
        APIError(status: 422, code: "not_exportable", detail: "path \(message).",
                 errors: [FieldError(pointer: "/path", code: "not_exportable", message: message)])
    }

    static func create(_ request: Request, _ ctx: AppContext, router: Router<AppContext>) throws -> Response {
        let p = try ctx.caller()
        var input = try JSONInput(request)
        // The list is named either by its path (what a client would GET) or by its source and
        // parameters (`members` and `{"org_id": …}` for /v1/members?org_id=…).
        let given = input.string("path", required: false, maxLength: 2048, pattern: "^/v1/[^\\s#]*$")
        let source = input.string("source", required: false, maxLength: 200, pattern: "^[a-z][a-z0-9_-]*(/[a-z][a-z0-9_-]*)*$")
        let params = input.queryParameters("params", required: false)
        let format = input.enumeration("format", TableFormat.self, required: false) ?? .csv
        if input.has("path") == (input.has("source") || input.has("params")) {
            input.fail(input.has("path") ? "source" : "path", "path_or_source", "give either path, or source with optional params")
        } else if input.has("params") && !input.has("source") {
            input.fail("source", "required", "is required with params")
        }
        try input.finish()
        guard let path = given ?? source.map({ Self.path(source: $0, params: params ?? []) }) else {
            throw APIError(status: 422, code: "validation_failed", detail: "Invalid body.")
        }
        guard path.utf8.count <= 2048 else { throw pathError("is longer than 2,048 characters") }

        // The list answers now what it would answer a direct GET: 4xx for bad filters or scope, and
        // a table for lists and reports. Its stream is not run here: the worker runs it.
        let response: Response
        do {
            response = try InternalRequest.table(router: router, path: path, format: format, requestID: request.requestID, context: ctx)
        } catch let e as APIError where e.status < 500 && e.code != "not_exportable" {
            throw APIError(status: 422, code: "export_request_invalid", detail: "GET \(path) answers \(e.status) \(e.code): \(e.detail)",
                           errors: [FieldError(pointer: "/path", code: e.code, message: e.detail)])
        }
        guard response.status == 200, response.stream != nil,
              response.headers["content-type"]?.hasPrefix(format == .csv ? "text/csv" : XLSXWriter.contentType) == true else {
            throw pathError("is not a list or report with a table form (GET \(path) has no \(format.rawValue))")
        }
        let filename = Self.filename(response, format: format)

        let export = try ctx.db.transaction { db -> Export in
            // One account's exports are counted under a lock on its account row, so two concurrent
            // POSTs cannot both pass the limit.
            _ = try db.queryRow("SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE", p.accountID)
            let active = try db.queryRow("SELECT count(*) FROM exports WHERE account_id = $1 AND status IN ('queued', 'running')",
                                         p.accountID)!.decode(Int.self, 0)
            guard active < maxActivePerAccount else {
                throw APIError(status: 429, code: "too_many_exports",
                               detail: "At most \(maxActivePerAccount) exports may wait or run at once for an account; retry when one is done.",
                               headers: ["retry-after": "30"])
            }
            let row = try db.queryRow("""
                INSERT INTO exports (account_id, token_id, org_id, path, format, filename, request_id, expires_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, now() + make_interval(secs => $8))
                RETURNING \(Export.columns.replacingOccurrences(of: "e.", with: "exports."))
                """, p.accountID, p.tokenID, p.orgID, path, format.rawValue, filename, request.requestID, Double(retentionSeconds))!
            return try Export(row: row)
        }
        if let runner = ctx.exportRunner { ctx.afterCommit { runner.notify() } }
        var r = try JSONOutput.resource(export, status: 202, version: export.version, location: export.href)
        r.headers.set("retry-after", "2")
        return r
    }

    /// `/v1/<source>?<params>`, the parameters percent-encoded.
    static func path(source: String, params: [(name: String, value: String)]) -> String {
        var allowed = CharacterSet.alphanumerics.intersection(CharacterSet(charactersIn: Unicode.Scalar(0)...Unicode.Scalar(127)))
        allowed.insert(charactersIn: "-._~:")
        func encode(_ s: String) -> String { s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s }
        let query = params.map { encode($0.name) + "=" + encode($0.value) }.joined(separator: "&")
        return "/v1/" + source + (query.isEmpty ? "" : "?" + query)
    }

    /// The list's own file name (`members.csv` → `members`), without the extension.
    static func filename(_ response: Response, format: TableFormat) -> String {
        let disposition = response.headers["content-disposition"] ?? ""
        guard let start = disposition.range(of: "filename=\"")?.upperBound,
              let end = disposition[start...].firstIndex(of: "\"") else { return "export" }
        let name = String(disposition[start..<end])
        return name.hasSuffix("." + format.rawValue) ? String(name.dropLast(format.rawValue.count + 1)) : name
    }

    static func get(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        let e = try Export.load(ctx.db, try request.pathUUID(notFound: "export"), for: p)
        if let r = ETag.notModified(request, version: e.version) { return r }
        var r = try JSONOutput.resource(e, version: e.version)
        if e.status == "queued" || e.status == "running" { r.headers.set("retry-after", "2") }
        return r
    }

    static func list(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        let status = request.query("status")
        if let status, !["queued", "running", "done", "failed", "expired"].contains(status) {
            throw APIError.invalidParameter("status", "must be one of queued, running, done, failed, expired")
        }
        return try Listing.respond(request, ctx, csv: "exports", header: Export.csvHeader, row: { $0.csvRow }) { db, after, limit in
            var conditions = ["e.account_id = $1"]
            var params: [any PostgresEncodable] = [p.accountID]
            func bind(_ v: any PostgresEncodable) -> Int { params.append(v); return params.count }
            if let status { conditions.append("e.status = $\(bind(status))") }
            if let c = try CreatedKeyset.condition(after: after, alias: "e", bind: bind) { conditions.append(c) }
            let rows = try db.query("SELECT \(Export.columns) FROM exports e WHERE \(conditions.joined(separator: " AND ")) "
                                    + "ORDER BY e.created_at, e.id LIMIT \(limit + 1)", parameters: params)
            return CreatedKeyset.page(try rows.map(Export.init(row:)), limit: limit) { ($0.createdAt, $0.id) }
        }
    }

    /// The file, streamed chunk by chunk from the database; its SHA-256 is the (strong) ETag.
    static func file(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        let e = try Export.load(ctx.db, try request.pathUUID(notFound: "export"), for: p)
        switch e.status {
        case "done": break
        case "expired": throw APIError(status: 410, code: "export_expired", detail: "This export's file was deleted after \(retentionSeconds / 86400) days; ask again.")
        case "failed": throw APIError(status: 409, code: "export_failed", detail: "This export failed (\(e.error?.code ?? "error")); it has no file.",
                                      extra: ["current_status": e.status])
        default: throw APIError(status: 409, code: "export_not_ready", detail: "This export is \(e.status); poll \(e.href) until it is done.",
                                headers: ["retry-after": "2"], extra: ["current_status": e.status])
        }
        let tag = "\"\(e.sha256 ?? "")\""
        if ETag.notModified(request, tag: tag) { return Response(status: 304, headers: ["etag": tag]) }
        let db = SameThread(ctx.db), id = e.id
        let body = BodyStream { writer in
            var seq = 0
            while let row = try db.value.queryRow("SELECT data FROM export_chunks WHERE export_id = $1 AND seq = $2", id, seq) {
                try writer.write(try row.decode([UInt8].self, 0))
                seq += 1
            }
        }
        return Response(status: 200, headers: [
            "content-type": e.format == .csv ? "text/csv; charset=utf-8" : XLSXWriter.contentType,
            "content-disposition": "attachment; filename=\"\(e.filename).\(e.format.rawValue)\"",
            "etag": tag,
            "x-content-sha256": e.sha256 ?? "",
        ], stream: body)
    }

    /// Deletes an export and its file. A running one is refused (409): its worker holds it.
    static func delete(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        let id = try request.pathUUID(notFound: "export")
        try ctx.db.transaction { db in
            let e = try Export.load(db, id, for: p)
            try ETag.checkIfMatch(request, version: e.version)
            let running = APIError(status: 409, code: "export_running", detail: "This export is being made; delete it when it is done.",
                                   extra: ["current_status": "running"])
            let row: Row?
            do {
                row = try db.queryRow("SELECT status FROM exports WHERE id = $1 FOR UPDATE NOWAIT", id)
            } catch let error as PostgresError where error.sqlState == "55P03" {
                throw running  // a worker holds it
            }
            guard let row else { throw APIError.notFound("export") }
            guard try row.decode(String.self, 0) != "running" else { throw running }
            try db.execute("DELETE FROM exports WHERE id = $1", id)
        }
        return Response(status: 204)
    }
}
