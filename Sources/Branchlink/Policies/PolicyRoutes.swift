import Foundation
import HTTP
import Postgres

/// `GET/PUT /v1/policies/{org_id}`: days allowed for each waiting step, set on any organization and
/// inherited down the tree (the nearest ancestor-or-self value wins; the root row of migration 0005
/// sets every step). GET shows the effective value of each step and where it comes from.
enum PolicyRoutes {
    static let fields = ["introduction_receive", "introduction_assign", "introduction_acknowledge", "notice_acknowledge",
                         "request_forward", "form_submit", "form_confirm", "result_close", "reintroduce",
                         "due_soon_days", "escalate_after_days"]

    static func register(on router: Router<AppContext>) {
        router.get("/v1/policies/{org_id}", get)
        router.put("/v1/policies/{org_id}", put)
    }

    static func orgPath(_ db: Connection, _ request: Request, _ p: Principal) throws -> (UUID, String, String) {
        guard let s = request.parameter("org_id"), let id = UUID(uuidString: s),
              let row = try db.queryRow("SELECT path::text, kind FROM organizations WHERE id = $1", id) else {
            throw APIError.notFound("organization")
        }
        let path = try row.decode(String.self, 0)
        // Readable for the caller's subtree and for its own ancestors (whose values it inherits).
        guard Policy.contains(p, path: path) || p.orgPath.hasPrefix(path + ".") else { throw APIError.notFound("organization") }
        return (id, path, try row.decode(String.self, 1))
    }

    static func effective(_ db: Connection, orgID: UUID, path: String) throws -> (json: [String: Any], version: Int) {
        let rows = try db.query("""
            SELECT a.id, nlevel(a.path), p.introduction_receive, p.introduction_assign, p.introduction_acknowledge, p.notice_acknowledge,
                   p.request_forward, p.form_submit, p.form_confirm, p.result_close, p.reintroduce, p.due_soon_days, p.escalate_after_days,
                   p.version
            FROM deadline_policies p JOIN organizations a ON a.id = p.org_id
            WHERE a.path @> $1::ltree ORDER BY nlevel(a.path) DESC
            """, path)
        var steps: [String: Any] = [:]
        var version = 0
        for (i, field) in fields.enumerated() {
            for row in rows {
                if let days = try row.decode(Int?.self, 2 + i) {
                    let from = try row.decode(UUID.self, 0)
                    steps[field] = ["days": days, "inherited_from_org_id": from.lower, "set_here": from == orgID]
                    break
                }
            }
            if steps[field] == nil { steps[field] = ["days": NSNull(), "inherited_from_org_id": NSNull(), "set_here": false] }
        }
        for row in rows where try row.decode(UUID.self, 0) == orgID { version = try row.decode(Int.self, 13) }
        return (["org_id": orgID.lower, "steps": steps, "version": version], version)
    }

    static func respond(_ json: [String: Any], version: Int) throws -> Response {
        var r = Response.json(200, Array(try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys])))
        r.headers.set("etag", ETag.make(version: version))
        return r
    }

    /// GET validates on the effective values, which a change on any ancestor alters: its tag is the
    /// sum of the versions of every policy row on the path (versions only grow, so the sum does).
    static func get(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        let (id, path, _) = try orgPath(ctx.db, request, p)
        let (json, _) = try effective(ctx.db, orgID: id, path: path)
        let chain = try ctx.db.queryRow("""
            SELECT COALESCE(sum(p.version), 0)::int8 FROM deadline_policies p JOIN organizations a ON a.id = p.org_id WHERE a.path @> $1::ltree
            """, path)!.decode(Int.self, 0)
        if let nm = ETag.notModified(request, version: chain) { return nm }
        return try respond(json, version: chain)
    }

    /// Sets this organization's own values; `null` (or an absent field) inherits from above.
    static func put(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        guard p.orgKind == "central" || p.orgKind == "province" else {
            throw APIError.forbidden("Deadline policies are set by the central or a provincial organization board.")
        }
        var input = try JSONInput(request)
        var values: [String: Int] = [:]
        for f in fields where input.has(f) && !input.isNull(f) {
            let range = f == "due_soon_days" ? 0...60 : 1...365
            if let v = input.int(f, range: range) { values[f] = v }
        }
        for f in fields where input.isNull(f) { _ = input.string(f, required: false) }  // explicit nulls: read, inherit
        try input.finish()

        let (json, version) = try ctx.db.transaction { db -> ([String: Any], Int) in
            let (id, path, _) = try orgPath(db, request, p)
            try Policy.require(p, .administer, at: path, what: "organization")
            let current = try db.queryRow("SELECT version FROM deadline_policies WHERE org_id = $1 FOR UPDATE", id)
            try ETag.checkIfMatch(request, version: try current?.decode(Int.self, 0) ?? 0)
            let params: [any PostgresEncodable] = [id] + fields.map { values[$0] }
            let columns = fields.joined(separator: ", ")
            let placeholders = fields.indices.map { "$\($0 + 2)" }.joined(separator: ", ")
            let updates = fields.map { "\($0) = EXCLUDED.\($0)" }.joined(separator: ", ")
            try db.execute("""
                INSERT INTO deadline_policies (org_id, \(columns)) VALUES ($1, \(placeholders))
                ON CONFLICT (org_id) DO UPDATE SET \(updates), updated_at = now(), version = deadline_policies.version + 1
                """, parameters: params)
            try EventLog.append(db, type: "policy.updated", entityType: "organization", entityID: id, orgIDs: [id], actor: p,
                                requestID: request.requestID, data: ["set": values.keys.sorted()])
            return try effective(db, orgID: id, path: path)
        }
        return try respond(json, version: version)
    }
}
