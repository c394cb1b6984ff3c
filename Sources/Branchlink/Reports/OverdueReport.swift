import Foundation
import HTTP
import Postgres

/// `GET /v1/reports/overdue?org_id=[&type=&step=]`: every item of the subtree whose waiting step
/// is past its due date, oldest first: introductions, change notices, assessment requests,
/// residence reports and workplace tasks waiting on an organization of the subtree. Computed from
/// the data at each call (`due_on < hcm_today()`, DESIGN.md §2: overdue is never a stored flag);
/// the scheduler's reminders and escalations are a separate matter. Confidential requests appear
/// only to the organizations they involve, as everywhere else (the coverage report counts them).
enum OverdueReport {
    static func register(on router: Router<AppContext>) {
        router.get("/v1/reports/overdue", list)
    }

    static let columns = "(type, id, step, status, org, due_on, ref)"

    static let types = ["introduction", "change_notice", "assessment_request", "residence_report", "workplace_task"]

    /// One SELECT per waiting table, overdue rows only: type, id, step, status, awaiting org, due
    /// date, and the id the item's link names (a task links to its member). Use it as
    /// `(union) alias\(columns)`: a UNION takes its column names from its first SELECT, which a
    /// `type` filter may leave out. `orgCondition` restricts
    /// the awaiting organization (given the column); `requestVisible` hides confidential requests.
    static func waitingUnion(orgCondition: (String) -> String, requestVisible: String = "TRUE", types: [String] = types) -> String {
        var parts: [String] = []
        if types.contains("introduction") {
            parts.append("""
                SELECT 'introduction' AS type, i.id, CASE i.status WHEN 'sent' THEN 'introduction_receive' WHEN 'received' THEN 'introduction_assign'
                       ELSE 'introduction_acknowledge' END AS step, i.status, i.awaiting_org_id AS org, i.due_on, i.id AS ref
                FROM introductions i WHERE \(orgCondition("i.awaiting_org_id")) AND i.due_on < hcm_today()
                """)
        }
        if types.contains("change_notice") {
            parts.append("""
                SELECT 'change_notice', n.id, 'notice_acknowledge', n.status, n.awaiting_org_id, n.due_on, n.id
                FROM change_notices n WHERE \(orgCondition("n.awaiting_org_id")) AND n.due_on < hcm_today()
                """)
        }
        if types.contains("assessment_request") {
            parts.append("""
                SELECT 'assessment_request', r.id, CASE r.status WHEN 'requested' THEN 'request_forward' WHEN 'forwarded' THEN 'form_submit'
                       WHEN 'submitted' THEN 'form_confirm' ELSE 'result_close' END, r.status, r.awaiting_org_id, r.due_on, r.id
                FROM assessment_requests r WHERE \(orgCondition("r.awaiting_org_id")) AND r.due_on < hcm_today() AND \(requestVisible)
                """)
        }
        if types.contains("residence_report") {
            parts.append("""
                SELECT 'residence_report', x.id, 'report_acknowledge', x.status, x.awaiting_org_id, x.due_on, x.id
                FROM residence_reports x WHERE \(orgCondition("x.awaiting_org_id")) AND x.due_on < hcm_today()
                """)
        }
        if types.contains("workplace_task") {
            parts.append("""
                SELECT 'workplace_task', t.id, 'reintroduce', t.kind, t.awaiting_org_id, t.due_on, t.member_id
                FROM workplace_tasks t WHERE \(orgCondition("t.awaiting_org_id")) AND t.due_on < hcm_today() AND t.done_at IS NULL
                """)
        }
        return parts.joined(separator: "\nUNION ALL\n")
    }

    static let hrefPrefix = ["introduction": "/v1/introductions/", "change_notice": "/v1/change-notices/",
                             "assessment_request": "/v1/assessment-requests/", "residence_report": "/v1/residence-reports/",
                             "workplace_task": "/v1/members/"]

    struct Item: Sendable {
        var type: String, id: UUID, step: String, status: String
        var orgID: UUID, orgCode: String, orgName: String
        var dueOn: PGDate, ageDays: Int, href: String

        var json: [String: Any] {
            ["type": type, "id": id.lower, "step": step, "status": status,
             "awaiting_org": ["id": orgID.lower, "code": orgCode, "name": orgName],
             "due_on": dueOn.description, "age_days": ageDays, "href": href]
        }
        static let csvHeader = ["type", "id", "step", "status", "awaiting_org_id", "awaiting_org_code", "awaiting_org_name", "due_on", "age_days", "href"]
        var csvRow: [String?] { [type, id.lower, step, status, orgID.lower, orgCode, orgName, dueOn.description, String(ageDays), href] }
    }

    struct Filter: Sendable {
        var path: String, isRoot: Bool, callerOrg: UUID
        var types = OverdueReport.types
        var step: String?
    }

    static func list(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        let orgID = try request.uuidQuery("org_id") ?? p.orgID
        guard let row = try ctx.db.queryRow("SELECT path::text, parent_id IS NULL FROM organizations WHERE id = $1", orgID),
              Policy.contains(p, path: try row.decode(String.self, 0)) else { throw APIError.notFound("organization") }
        var filter = Filter(path: try row.decode(String.self, 0), isRoot: try row.decode(Bool.self, 1), callerOrg: p.orgID)
        if let t = request.query("type") {
            guard types.contains(t) else { throw APIError.invalidParameter("type", "must be one of " + types.joined(separator: ", ")) }
            filter.types = [t]
        }
        if let s = request.query("step") {
            guard CoverageRow.steps.contains(s) else { throw APIError.invalidParameter("step", "must be one of " + CoverageRow.steps.joined(separator: ", ")) }
            filter.step = s
        }
        let f = filter
        return try Listing.respond(request, ctx, csv: "overdue", header: Item.csvHeader, row: { $0.csvRow }, keyCount: 3,
                                   encode: { Array(try JSONSerialization.data(withJSONObject: $0.json, options: [.sortedKeys])) }) { db, after, limit in
            try fetch(db, f, after: after, limit: limit)
        }
    }

    /// One page, by (due date, type, id): the oldest first, a stable order for the keyset.
    static func fetch(_ db: Connection, _ f: Filter, after: [String]?, limit: Int) throws -> ([Item], [String]?) {
        var params: [any PostgresEncodable] = [f.path]
        func bind(_ v: any PostgresEncodable) -> Int { params.append(v); return params.count }
        let inTree: (String) -> String = { f.isRoot ? "\($0) IS NOT NULL" : "\($0) = ANY((SELECT a FROM ids)::uuid[])" }
        var requestVisible = "TRUE"
        if f.types.contains("assessment_request") {
            let n = bind(f.callerOrg)
            requestVisible = "(NOT r.confidential OR $\(n)::uuid IN (r.requester_org_id, r.commune_id) OR r.branch_id = $\(n)::uuid)"
        }
        let union = waitingUnion(orgCondition: inTree, requestVisible: requestVisible, types: f.types)
        var conditions = ["TRUE"]
        if let s = f.step { conditions.append("w.step = $\(bind(s))") }
        if let after {
            guard after.count == 3, PGDate(after[0]) != nil, types.contains(after[1]), let id = UUID(uuidString: after[2]) else {
                throw APIError(status: 400, code: "invalid_cursor", detail: "The cursor is not one this list issued.")
            }
            conditions.append("(w.due_on, w.type, w.id) > ($\(bind(after[0]))::text::date, $\(bind(after[1]))::text, $\(bind(id))::uuid)")
        }
        let rows = try db.query("""
            WITH ids AS MATERIALIZED (SELECT array_agg(id) AS a FROM organizations WHERE path <@ $1::ltree)
            SELECT w.type, w.id, w.step, w.status, w.org, o.code, o.name, w.due_on, hcm_today() - w.due_on, w.ref
            FROM (\(union)) w\(columns) JOIN organizations o ON o.id = w.org
            WHERE \(conditions.joined(separator: " AND "))
            ORDER BY w.due_on, w.type, w.id LIMIT \(limit + 1)
            """, parameters: params)
        let items = try rows.prefix(limit).map { r -> Item in
            let type = try r.decode(String.self, 0)
            return Item(type: type, id: try r.decode(UUID.self, 1), step: try r.decode(String.self, 2), status: try r.decode(String.self, 3),
                        orgID: try r.decode(UUID.self, 4), orgCode: try r.decode(String.self, 5), orgName: try r.decode(String.self, 6),
                        dueOn: try r.decode(PGDate.self, 7), ageDays: try r.decode(Int.self, 8),
                        href: (hrefPrefix[type] ?? "/") + (try r.decode(UUID.self, 9)).lower)
        }
        guard rows.count > limit, let last = items.last else { return (items, nil) }
        return (items, [last.dueOn.description, last.type, last.id.lower])
    }
}
