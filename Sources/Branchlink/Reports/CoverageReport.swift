import Foundation
import HTTP
import Postgres

/// `GET /v1/reports/coverage?org_id=&year=[&group_by=workplace]`: how far the organizations under
/// `org_id` are with introductions, change notices and assessments, one row per organization
/// and a total row for `org_id` itself.
///
/// Two sides, never mixed in one report, so that every item counts once per row and the total is
/// the subtree's own figure:
/// - by child (default), the residence side: members living in the subtree (residential branches:
///   members linked to them), introductions, notices and requests addressed to its communes and
///   branches; rows are the children that hold residences (provinces, districts, communes, and a
///   commune's branches);
/// - `group_by=workplace`, the sending side: members working in the subtree, introductions, notices
///   and requests sent by it; rows are the workplace committees under `org_id` (its children when
///   `org_id` is a workplace committee or below).
/// Overdue counts are of items waiting on an organization of the row's subtree (both sides), so a
/// row says who is late. Request counts are of `year`. Confidential requests are counted, never
/// listed (their drill-down lists hide them from ancestors).
///
/// Computed on each call: members from their counts per organization (kept in step by triggers),
/// introductions, notices and requests grouped by organization id over their (covering) indexes,
/// then organizations mapped to rows (migrations 0010 and 0017; bench/reports.sh for the figures).
enum CoverageReport {
    static func register(on router: Router<AppContext>) {
        router.get("/v1/reports/coverage", coverage)
    }

    enum Side: String { case child, workplace }

    /// The organization a report is about, with what decides which SQL applies.
    struct Target {
        var org: CoverageRow.Org
        var isRoot: Bool
        /// A workplace committee or anything under one: its children are the rows of the sending side.
        var workplaceLevel: Bool
    }

    static let workplaceCommitteeKinds = ["grassroots_committee", "grassroots_branch", "partial_committee"]

    static func coverage(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        let orgID = try request.uuidQuery("org_id") ?? p.orgID
        let year: Int
        if let v = request.query("year") {
            guard let y = Int(v), (2000...2100).contains(y) else { throw APIError.invalidParameter("year", "must be a year from 2000 to 2100") }
            year = y
        } else {
            year = try Deadlines.today(ctx.db).year
        }
        var side = Side.child
        if let v = request.query("group_by") {
            guard let s = Side(rawValue: v) else { throw APIError.invalidParameter("group_by", "must be child or workplace") }
            side = s
        }
        let target = try loadTarget(ctx.db, orgID, for: p)
        let report = try compute(ctx.db, target: target, side: side, year: year, residenceCaller: p.isResidenceSide)
        if let format = TableOutput.format(request) {
            let residence = p.isResidenceSide
            return TableOutput.table(format, filename: "coverage", header: CoverageRow.csvHeader,
                                     rows: ([report.total] + report.rows).map { $0.csv(residenceCaller: residence) })
        }
        var out = JSONBytes(capacity: 1024 * (report.rows.count + 1))
        out.raw("{\"org_id\":")
        out.uuid(orgID)
        out.raw(",\"year\":")
        out.int(year)
        out.raw(",\"group_by\":")
        out.string(side.rawValue)
        out.raw(",\"as_of\":")
        out.date(report.today)
        out.raw(",\"total\":")
        report.total.write(&out, residenceCaller: p.isResidenceSide)
        out.raw(",\"rows\":[")
        for (i, row) in report.rows.enumerated() {
            if i > 0 { out.raw(",") }
            row.write(&out, residenceCaller: p.isResidenceSide)
        }
        out.raw("]}")
        let body = out.bytes
        let tag = ETag.content(body)
        if ETag.notModified(request, tag: tag) { return Response(status: 304, headers: ["etag": tag]) }
        return Response(status: 200, headers: ["content-type": "application/json", "etag": tag], body: body)
    }

    /// The organization, or 404 when it does not exist or lies outside the caller's subtree.
    static func loadTarget(_ db: Connection, _ id: UUID, for p: Principal) throws -> Target {
        guard let row = try db.queryRow("""
            SELECT o.id, o.code, o.name, o.kind, o.path::text, o.parent_id IS NULL, coalesce(par.kind = 'commune', false),
                   EXISTS (SELECT 1 FROM organizations a WHERE a.path @> o.path AND a.kind = ANY($2))
            FROM organizations o LEFT JOIN organizations par ON par.id = o.parent_id WHERE o.id = $1
            """, id, workplaceCommitteeKinds) else { throw APIError.notFound("organization") }
        let path = try row.decode(String.self, 4)
        guard Policy.contains(p, path: path) else { throw APIError.notFound("organization") }
        let kind = try row.decode(String.self, 3)
        let org = CoverageRow.Org(id: try row.decode(UUID.self, 0), code: try row.decode(String.self, 1), name: try row.decode(String.self, 2),
                                  kind: kind, path: path, residentialBranch: try kind == "branch" && row.decode(Bool.self, 6))
        return Target(org: org, isRoot: try row.decode(Bool.self, 5), workplaceLevel: try row.decode(Bool.self, 7))
    }

    struct Report {
        var total: CoverageRow
        var rows: [CoverageRow]
        var today: PGDate
    }

    static func compute(_ db: Connection, target: Target, side: Side, year: Int, residenceCaller: Bool) throws -> Report {
        let grassrootsRows = side == .workplace && !target.workplaceLevel
        let sql = self.sql(target: target, side: side, grassroots: grassrootsRows, residenceCaller: residenceCaller)
        let (loaded, result) = try db.transaction { db -> ([CoverageRow], [Row]) in
            // The per-organization aggregates of a province hash a few hundred thousand index
            // entries: enough memory to keep them off disk, and no JIT compilation (it costs more
            // than it saves at this size).
            try db.execute("SET LOCAL work_mem = '64MB'")
            try db.execute("SET LOCAL jit = off")
            // A country-wide report reads every member and exchange (seconds, bench/reports.sh):
            // more than the per-request statement timeout allows, and still bounded.
            if target.isRoot || target.org.kind == "province" { try db.execute("SET LOCAL statement_timeout = '30s'") }
            let rows = try loadRows(db, target: target, side: side, grassroots: grassrootsRows)
            return (rows, try db.queryUnprepared(sql, parameters: [target.org.path, year]).map(Row.init))
        }
        var rows = loaded
        var index: [String: Int] = [:]
        for (i, r) in rows.enumerated() { index[r.org.path] = i }
        var total = CoverageRow(org: target.org)
        for r in result {
            total.add(source: r.source, k1: r.k1, k2: r.k2, k3: r.k3, n: r.n)
            if let child = r.child, let i = index[child] { rows[i].add(source: r.source, k1: r.k1, k2: r.k2, k3: r.k3, n: r.n) }
        }
        total.addLinks(year: year, workplaceSide: side == .workplace)
        for i in rows.indices { rows[i].addLinks(year: year, workplaceSide: side == .workplace) }
        return Report(total: total, rows: rows, today: try Deadlines.today(db))
    }

    struct Row {
        var source: String, child: String?, k1: String?, k2: String?, k3: String?, n: [Int]
        init(_ r: Postgres.Row) throws {
            source = try r.decode(String.self, 0)
            child = try r.decode(String?.self, 1)
            k1 = try r.decode(String?.self, 2)
            k2 = try r.decode(String?.self, 3)
            k3 = try r.decode(String?.self, 4)
            n = try (5..<12).map { try r.decode(Int.self, $0) }
        }
    }

    /// The rows of the report: the children of the target (residence side: those holding
    /// residences), or the outermost workplace committees under it.
    static func loadRows(_ db: Connection, target: Target, side: Side, grassroots: Bool) throws -> [CoverageRow] {
        let condition: String
        var params: [any PostgresEncodable] = [target.org.id]
        if grassroots {
            params += [target.org.path, workplaceCommitteeKinds]
            condition = """
                o.path <@ $2::ltree AND o.kind = ANY($3) AND o.id <> $1
                AND NOT EXISTS (SELECT 1 FROM organizations a WHERE a.path @> o.path AND a.id <> o.id AND a.path <@ $2::ltree AND a.kind = ANY($3))
                """
        } else if side == .child && target.org.kind != "commune" {
            condition = "o.parent_id = $1 AND o.kind IN ('central', 'province', 'district', 'commune')"
        } else {
            condition = "o.parent_id = $1"
        }
        return try db.query("""
            SELECT o.id, o.code, o.name, o.kind, o.path::text, coalesce(par.kind = 'commune', false)
            FROM organizations o LEFT JOIN organizations par ON par.id = o.parent_id
            WHERE \(condition) AND (o.valid_to IS NULL OR o.valid_to >= hcm_today())
            ORDER BY o.name, o.code
            """, parameters: params).map { r in
            let kind = try r.decode(String.self, 3)
            return CoverageRow(org: .init(id: try r.decode(UUID.self, 0), code: try r.decode(String.self, 1), name: try r.decode(String.self, 2),
                                          kind: kind, path: try r.decode(String.self, 4), residentialBranch: try kind == "branch" && r.decode(Bool.self, 5)))
        }
    }
}
