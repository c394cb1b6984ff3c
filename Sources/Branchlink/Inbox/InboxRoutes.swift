import Foundation
import HTTP
import Postgres

/// `GET /v1/inbox`: everything waiting on one organization (the caller's, or with `org_id` any in
/// its subtree), overdue first, then by due date; with counts by kind. Each row names the action
/// expected and links to the item. Backed by the partial `(awaiting_org_id, due_on)` indexes of
/// every waiting table, so a busy commune's inbox is a few index range scans.
enum InboxRoutes {
    static func register(on router: Router<AppContext>) {
        router.get("/v1/inbox", inbox)
    }

    /// One SELECT per waiting table, each naming its columns (any one may stand alone with `kind=`):
    /// kind, id, action, awaiting_org_id, due_on, member_id, member name, href prefix.
    static let sources: [(kind: String, sql: String)] = [
        ("introduction", """
            SELECT 'introduction' AS kind, i.id, CASE i.status WHEN 'sent' THEN 'receive' WHEN 'received' THEN 'assign'
                   ELSE 'acknowledge' END AS action, i.awaiting_org_id, i.due_on, m.id AS member_id, m.full_name,
                   '/v1/introductions/' AS href
            FROM introductions i JOIN members m ON m.id = i.member_id WHERE i.awaiting_org_id = $1
            """),
        ("change_notice", """
            SELECT 'change_notice' AS kind, n.id, 'acknowledge' AS action, n.awaiting_org_id, n.due_on, m.id AS member_id, m.full_name,
                   '/v1/change-notices/' AS href
            FROM change_notices n JOIN members m ON m.id = n.member_id WHERE n.awaiting_org_id = $1
            """),
        ("workplace_task", """
            SELECT 'workplace_task' AS kind, t.id, CASE t.kind WHEN 'introduce_new_commune' THEN 'introduce_to_new_commune'
                   ELSE 'reintroduce' END AS action, t.awaiting_org_id, t.due_on, m.id AS member_id, m.full_name, '/v1/members/' AS href
            FROM workplace_tasks t JOIN members m ON m.id = t.member_id WHERE t.awaiting_org_id = $1 AND t.done_at IS NULL
            """),
        // A confidential request shows only in the inbox of the organization itself, never when an
        // ancestor looks at a child's inbox (it sees it in counts: DESIGN.md §3).
        ("assessment_request", """
            SELECT 'assessment_request' AS kind, r.id, CASE r.status WHEN 'requested' THEN 'forward' WHEN 'forwarded' THEN 'submit'
                   WHEN 'submitted' THEN 'confirm' ELSE 'close' END AS action, r.awaiting_org_id, r.due_on, m.id AS member_id, m.full_name,
                   '/v1/assessment-requests/' AS href
            FROM assessment_requests r JOIN members m ON m.id = r.member_id WHERE r.awaiting_org_id = $1 AND (NOT r.confidential OR {own_inbox})
            """),
        ("residence_report", """
            SELECT 'residence_report' AS kind, x.id, 'acknowledge' AS action, x.awaiting_org_id, x.due_on, m.id AS member_id, m.full_name,
                   '/v1/residence-reports/' AS href
            FROM residence_reports x JOIN members m ON m.id = x.member_id WHERE x.awaiting_org_id = $1
            """),
    ]

    static func inbox(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        var orgID = p.orgID
        if let v = request.query("org_id") {
            guard let id = UUID(uuidString: v) else { throw APIError.invalidParameter("org_id", "must be a UUID") }
            guard let row = try ctx.db.queryRow("SELECT path::text FROM organizations WHERE id = $1", id),
                  Policy.contains(p, path: try row.decode(String.self, 0)) else { throw APIError.notFound("organization") }
            orgID = id
        }
        var kinds = sources
        if let k = request.query("kind") {
            kinds = sources.filter { $0.kind == k }
            guard !kinds.isEmpty else {
                throw APIError.invalidParameter("kind", "must be one of " + sources.map(\.kind).joined(separator: ", "))
            }
        }
        let overdueOnly = try request.boolQuery("overdue") ?? false
        let own = orgID == p.orgID ? "TRUE" : "FALSE"
        let union = kinds.map { $0.sql.replacingOccurrences(of: "{own_inbox}", with: own) }.joined(separator: "\nUNION ALL\n")
        if let format = TableOutput.format(request) {
            let db = SameThread(ctx.db), target = orgID, overdue = overdueOnly
            return TableOutput.stream(format, filename: "inbox", header: ["kind", "id", "action", "awaiting_org_id", "due_on", "overdue",
                                                              "member_id", "member_full_name", "href"]) { after, limit in
                let (rows, next) = try fetch(db.value, orgID: target, union: union, overdueOnly: overdue, after: after, limit: limit)
                return (rows.map { [$0.kind, $0.id.lower, $0.action, $0.awaitingOrgID.lower, $0.dueOn.description,
                                    $0.overdue ? "true" : "false", $0.memberID.lower, $0.memberName, $0.href] }, next)
            }
        }
        let page = try Page(request, keyCount: 3)
        let (rows, next) = try fetch(ctx.db, orgID: orgID, union: union, overdueOnly: overdueOnly, after: page.after, limit: page.limit)
        let items = try rows.map { r -> [UInt8] in
            let obj: [String: Any] = [
                "kind": r.kind, "id": r.id.lower, "action": r.action, "awaiting_org_id": r.awaitingOrgID.lower,
                "due_on": r.dueOn.description, "overdue": r.overdue,
                "member": ["id": r.memberID.lower, "full_name": r.memberName], "href": r.href,
            ]
            return Array(try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys]))
        }
        var response = Page.response(request, items: items, nextKeys: next)

        // Counts over the whole inbox (not the page), for badges and dashboards.
        let counts = try ctx.db.query("""
            SELECT kind, count(*), count(*) FILTER (WHERE due_on < hcm_today()) FROM (\(union)) w GROUP BY kind
            """, orgID)
        var byKind: [String: Int] = Dictionary(uniqueKeysWithValues: kinds.map { ($0.kind, 0) })
        var total = 0, overdue = 0
        for row in counts {
            let n = try row.decode(Int.self, 1)
            byKind[try row.decode(String.self, 0)] = n
            total += n
            overdue += try row.decode(Int.self, 2)
        }
        let countsJSON = try JSONSerialization.data(withJSONObject: ["total": total, "overdue": overdue, "by_kind": byKind], options: [.sortedKeys])
        // Splice "org_id" and "counts" into the page envelope (its last byte is the closing brace).
        response.body.removeLast()
        response.body += Array(",\"org_id\":\"\(orgID.lower)\",\"counts\":".utf8) + Array(countsJSON) + [UInt8(ascii: "}")]
        return response
    }

    struct Row {
        var kind: String, id: UUID, action: String, awaitingOrgID: UUID, dueOn: PGDate, overdue: Bool
        var memberID: UUID, memberName: String, href: String
    }

    /// One keyset page of the inbox, ordered overdue first, then by due date and id.
    static func fetch(_ db: Connection, orgID: UUID, union: String, overdueOnly: Bool, after: [String]?, limit: Int) throws -> ([Row], [String]?) {
        var params: [any PostgresEncodable] = [orgID]
        var conditions = overdueOnly ? ["due_on < hcm_today()"] : ["TRUE"]
        if let after {
            guard after.count == 3, let rank = Int(after[0]), PGDate(after[1]) != nil, let id = UUID(uuidString: after[2]) else {
                throw APIError(status: 400, code: "invalid_cursor", detail: "The cursor is not one this list issued.")
            }
            params += [rank, after[1], id]
            conditions.append("(rank, due_on, id) > ($2::int, $3::text::date, $4::uuid)")
        }
        let result = try db.query("""
            SELECT kind, id, action, awaiting_org_id, due_on, rank, member_id, full_name, href FROM (
                SELECT w.*, CASE WHEN w.due_on < hcm_today() THEN 0 ELSE 1 END AS rank FROM (\(union)) w
            ) x WHERE \(conditions.joined(separator: " AND "))
            ORDER BY rank, due_on, id LIMIT \(limit + 1)
            """, parameters: params)
        var rows: [Row] = []
        var last: [String]? = nil
        for r in result.prefix(limit) {
            let kind = try r.decode(String.self, 0)
            let id = try r.decode(UUID.self, 1)
            let due = try r.decode(PGDate.self, 4)
            let rank = try r.decode(Int.self, 5)
            let memberID = try r.decode(UUID.self, 6)
            // A task is about the member (introduce again); the other items are resources themselves.
            let href = try r.decode(String.self, 8) + (kind == "workplace_task" ? memberID.lower : id.lower)
            rows.append(Row(kind: kind, id: id, action: try r.decode(String.self, 2), awaitingOrgID: try r.decode(UUID.self, 3),
                            dueOn: due, overdue: rank == 0, memberID: memberID, memberName: try r.decode(String.self, 7), href: href))
            last = [String(rank), due.description, id.lower]
        }
        return (rows, result.count > limit ? last : nil)
    }
}
