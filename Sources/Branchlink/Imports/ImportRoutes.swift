import Foundation
import HTTP
import Postgres

/// `POST /v1/imports/organizations` and `POST /v1/imports/members`: a `text/csv` body (UTF-8, BOM
/// optional, RFC 4180), `?dry_run=true|false&atomic=true|false`. Answers 200 with every row's
/// result; with `atomic=true` and a failing row, 422 `import_failed` (a problem whose extension
/// members are the same report, `written` 0) — in a dry run too, so a dry run predicts the real
/// run's status as well as its per-row errors.
///
/// Organizations are registry administration (admin accounts); members are day-to-day work
/// (officers and admins). Either way every reference must lie in the caller's subtree.
enum ImportRoutes {
    static let maxBodyBytes = 64 << 20

    static func register(on router: Router<AppContext>) {
        router.post("/v1/imports/organizations", maxBodyBytes: maxBodyBytes) { request, ctx in
            try handle(request, ctx, kind: .organizations)
        }
        router.post("/v1/imports/members", maxBodyBytes: maxBodyBytes) { request, ctx in
            try handle(request, ctx, kind: .members)
        }
    }

    static func handle(_ request: Request, _ ctx: AppContext, kind: ImportKind) throws -> Response {
        let p = try ctx.caller()
        try Policy.require(p, kind == .organizations ? .administer : .act)
        let options = ImportOptions(dryRun: try flag(request, "dry_run"), atomic: try flag(request, "atomic"))
        try checkContentType(request)
        let report = try Importer.run(ctx.db, kind: kind, csv: request.body, actor: ImportActor(principal: p, requestID: request.requestID),
                                      options: options)
        return response(report, for: request)
    }

    static func flag(_ request: Request, _ name: String) throws -> Bool {
        guard let v = request.query(name) else { return false }
        switch v {
        case "true": return true
        case "false": return false
        default: throw APIError.invalidParameter(name, "must be true or false")
        }
    }

    /// `text/csv` (or `application/csv`), UTF-8 when a charset is named.
    static func checkContentType(_ request: Request) throws {
        let unsupported = APIError(status: 415, code: "unsupported_media_type", detail: "Send the file as text/csv; charset=utf-8.")
        guard let ct = request.headers["content-type"]?.lowercased() else { throw unsupported }
        let parts = ct.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard let type = parts.first, type == "text/csv" || type == "application/csv" else { throw unsupported }
        for param in parts.dropFirst() where param.hasPrefix("charset=") {
            let charset = param.dropFirst("charset=".count).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            guard charset == "utf-8" || charset == "utf8" else { throw unsupported }
        }
    }

    static func response(_ report: ImportReport, for request: Request) -> Response {
        guard report.rejected else { return .json(200, report.json()) }
        let lang = Localization.language(request.headers["accept-language"])
        let detail = "\(report.failed) of \(report.rows) rows failed and atomic=true: nothing was written."
        let prefix = "\"type\":\"https://branchlink.example/problems/import_failed\""
            + ",\"title\":\(JSONString.quote(Localization.title(code: "import_failed", status: 422, lang: lang)))"
            + ",\"status\":422,\"detail\":\(JSONString.quote(detail)),\"code\":\"import_failed\""
            + ",\"request_id\":\(JSONString.quote(request.requestID)),"
        return Response(status: 422, headers: ["content-type": "application/problem+json", "content-language": lang.rawValue],
                        body: report.json(problemPrefix: prefix))
    }
}
