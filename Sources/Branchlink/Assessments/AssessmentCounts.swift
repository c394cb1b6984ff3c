import Foundation
import HTTP
import Postgres

/// `GET /v1/reports/assessments?org_id=&year=`: how far the assessments involving a subtree are, by
/// purpose and state, with overdue and confidential counts. Confidential requests are counted here
/// although their content is visible only to the organizations involved (DESIGN.md §3): a
/// provincial board sees that personnel procedures are waiting, not whose.
enum AssessmentCounts {
    static func register(on router: Router<AppContext>) {
        router.get("/v1/reports/assessments", counts)
    }

    static func counts(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        var orgID = p.orgID, path = p.orgPath
        if let v = request.query("org_id") {
            guard let id = UUID(uuidString: v) else { throw APIError.invalidParameter("org_id", "must be a UUID") }
            guard let row = try ctx.db.queryRow("SELECT path::text FROM organizations WHERE id = $1", id),
                  Policy.contains(p, path: try row.decode(String.self, 0)) else { throw APIError.notFound("organization") }
            orgID = id
            path = try row.decode(String.self, 0)
        }
        let year: Int
        if let v = request.query("year") {
            guard let y = Int(v), (2000...2100).contains(y) else { throw APIError.invalidParameter("year", "must be a year from 2000 to 2100") }
            year = y
        } else {
            year = try Deadlines.today(ctx.db).year
        }
        let rows = try ctx.db.query("""
            SELECT r.purpose, r.status, count(*), count(*) FILTER (WHERE r.due_on < hcm_today()), count(*) FILTER (WHERE r.confidential)
            FROM assessment_requests r
            WHERE (r.requester_org_id = ANY(ARRAY(SELECT id FROM organizations WHERE path <@ $1::ltree))
                   OR r.commune_id = ANY(ARRAY(SELECT id FROM organizations WHERE path <@ $1::ltree))
                   OR r.branch_id = ANY(ARRAY(SELECT id FROM organizations WHERE path <@ $1::ltree))) AND r.year = $2::int
            GROUP BY r.purpose, r.status
            """, path, year)
        if let format = TableOutput.format(request) {
            // One line per purpose and state, as counted (the JSON's totals are their sums).
            let table = try rows.map { r -> [String?] in
                [orgID.lower, String(year), try r.decode(String.self, 0), try r.decode(String.self, 1), String(try r.decode(Int.self, 2)),
                 String(try r.decode(Int.self, 3)), String(try r.decode(Int.self, 4))]
            }
            return TableOutput.table(format, filename: "assessments-\(year)",
                                     header: ["org_id", "year", "purpose", "status", "requests", "overdue", "confidential"], rows: table)
        }
        let zero = Dictionary(uniqueKeysWithValues: AssessmentStatus.allCases.map { ($0.rawValue, 0) })
        var byStatus = zero
        var byPurpose: [String: [String: Int]] = [:]
        var total = 0, overdue = 0, confidential = 0
        for row in rows {
            let purpose = try row.decode(String.self, 0), status = try row.decode(String.self, 1), n = try row.decode(Int.self, 2)
            byStatus[status, default: 0] += n
            byPurpose[purpose, default: zero][status, default: 0] += n
            total += n
            overdue += try row.decode(Int.self, 3)
            confidential += try row.decode(Int.self, 4)
        }
        let json: [String: Any] = ["org_id": orgID.lower, "year": year, "total": total, "overdue": overdue, "confidential": confidential,
                                   "by_status": byStatus, "by_purpose": byPurpose]
        let body = Array(try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys]))
        let tag = ETag.content(body)
        if ETag.notModified(request, tag: tag) { return Response(status: 304, headers: ["etag": tag]) }
        return Response(status: 200, headers: ["content-type": "application/json", "etag": tag], body: body)
    }
}
