import Foundation
import HTTP
import Postgres

/// `/v1/residence-reports`: the residential branch tells the member's workplace committee of a
/// commendation or a breach of conduct; the workplace acknowledges it with a response. Addressed
/// through the member's active introduction at the branch (its workplace, commune and branch are
/// copied onto the report, so visibility is the exchanges' rule), waiting on the workplace for
/// `notice_acknowledge` days.
enum ResidenceReportRoutes {
    static func register(on router: Router<AppContext>) {
        router.post("/v1/residence-reports", create)
        router.get("/v1/residence-reports", list)
        router.get("/v1/residence-reports/{id}", get)
        router.post("/v1/residence-reports/{id}/acknowledge", acknowledge)
    }

    static func load(_ db: Connection, _ id: UUID, for p: Principal, forUpdate: Bool = false) throws -> ResidenceReport {
        guard let row = try db.queryRow("SELECT \(ResidenceReport.columns) FROM \(ResidenceReport.from) WHERE r.id = $1"
                                        + (forUpdate ? " FOR UPDATE OF r" : ""), id) else { throw APIError.notFound("residence report") }
        let report = try ResidenceReport(row: row)
        guard report.visible(to: p) else { throw APIError.notFound("residence report") }
        return report
    }

    static func pathID(_ request: Request) throws -> UUID {
        try request.pathUUID(notFound: "residence report")
    }

    // MARK: Send

    static func create(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        try Policy.require(p, .act)
        var input = try JSONInput(request)
        let memberID = input.uuid("member_id")
        let kind = input.enumeration("kind", ResidenceReportKind.self)
        let summary = input.string("summary", maxLength: 4000)
        let occurredOn = input.date("occurred_on", required: false)
        if let d = occurredOn {
            if d < ResidenceMeetingRoutes.earliest {
                input.fail("occurred_on", "out_of_range", "must not be before 2000-01-01")
            } else if d > (try Deadlines.today(ctx.db)) {
                input.fail("occurred_on", "out_of_range", "must not be in the future")
            }
        }
        try input.finish()
        guard let memberID, let kind, let summary else { throw APIError(status: 422, code: "validation_failed", detail: "Invalid body.") }
        // Checked before the member is looked at: other organizations learn nothing about the member here.
        guard p.isResidenceSide, p.orgKind == "branch" else {
            throw APIError.forbidden("Only a residential branch sends residence reports.")
        }
        let report = try ctx.db.transaction { db in
            try send(db, p, memberID: memberID, kind: kind, summary: summary, occurredOn: occurredOn, requestID: request.requestID)
        }
        return try JSONOutput.resource(report, status: 201, version: report.version, location: "/v1/residence-reports/\(report.id.lower)")
    }

    static func send(_ db: Connection, _ p: Principal, memberID: UUID, kind: ResidenceReportKind, summary: String, occurredOn: PGDate?,
                     requestID: String) throws -> ResidenceReport {
        // Shared lock: a change notice ending the link waits until the report is in.
        guard let row = try db.queryRow("""
            SELECT \(Introduction.columns) FROM \(Introduction.from)
            WHERE i.member_id = $1 AND i.status = 'active' AND i.branch_id = $2 AND m.exemption <> 'introduction' FOR SHARE OF i
            """, memberID, p.orgID) else {
            let visible = try db.queryRow("""
                SELECT 1 FROM members m WHERE m.id = $1 AND \(Policy.memberScopeSQL(alias: "m", param: 2))
                  AND \(Policy.memberVisibilitySQL(p, exemptionColumn: "m.exemption"))
                """, memberID, p.orgPath) != nil
            guard visible else { throw APIError.notFound("member") }
            throw APIError(status: 409, code: "no_active_link",
                           detail: "The member is not an active working member of this branch: only the branch the member's introduction is assigned to, once it has taken the member on, reports on the member.",
                           errors: [FieldError(pointer: "/member_id", code: "no_active_link", message: "has no active link at this branch")])
        }
        let intro = try Introduction(row: row)
        let id = UUID()
        let due = try Deadlines.dueOn(db, step: .noticeAcknowledge, orgID: intro.workplaceId)
        try db.execute("""
            INSERT INTO residence_reports (id, member_id, introduction_id, kind, summary, occurred_on, workplace_id, commune_id, branch_id,
                workplace_path, commune_path, branch_path, status, awaiting_org_id, due_on, created_by)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::ltree, $11::ltree, $12::ltree, 'sent', $7, $13, $14)
            """, id, memberID, intro.id, kind.rawValue, summary, occurredOn, intro.workplaceId, intro.communeId, p.orgID,
            intro.involved.workplacePath, intro.involved.communePath, p.orgPath, due, p.accountID)
        try EventLog.append(db, type: "residence_report.sent", entityType: "residence_report", entityID: id,
                            orgIDs: [intro.workplaceId, intro.communeId, p.orgID], actor: p, requestID: requestID,
                            data: ["kind": kind.rawValue, "introduction_id": intro.id.lower])
        return try load(db, id, for: p)
    }

    // MARK: Acknowledge

    static func acknowledge(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        try Policy.require(p, .act)
        let id = try pathID(request)
        var input = try JSONInput(request)
        let response = input.string("response", maxLength: 4000)
        try input.finish()
        guard let response else { throw APIError(status: 422, code: "validation_failed", detail: "Invalid body.") }
        let report = try ctx.db.transaction { db -> ResidenceReport in
            let r = try load(db, id, for: p, forUpdate: true)
            if case .failure(let refusal) = ResidenceReportStateMachine.acknowledge(r.status, by: Policy.side(p, r.involved)) {
                throw Policy.refusal(refusal, action: "acknowledge")
            }
            try ETag.checkIfMatch(request, version: r.version)
            try db.execute("""
                UPDATE residence_reports SET status = 'acknowledged', response = $2, acknowledged_on = hcm_today(),
                    awaiting_org_id = NULL, due_on = NULL, updated_at = now(), version = version + 1 WHERE id = $1
                """, id, response)
            try EventLog.append(db, type: "residence_report.acknowledged", entityType: "residence_report", entityID: id,
                                orgIDs: [r.workplaceId, r.communeId, r.branchId], actor: p, requestID: request.requestID,
                                data: ["kind": r.kind.rawValue])
            return try load(db, id, for: p)
        }
        return try JSONOutput.resource(report, version: report.version)
    }

    // MARK: Read

    static func get(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        let r = try load(ctx.db, try pathID(request), for: p)
        if let notModified = ETag.notModified(request, version: r.version) { return notModified }
        return try JSONOutput.resource(r, version: r.version)
    }

    struct ListFilter: Sendable {
        var status: String?
        var kind: String?
        var memberID: UUID?
        var overdue: Bool?

        init(_ request: Request) throws {
            if let v = request.query("status") {
                guard ResidenceReportStatus(rawValue: v) != nil else { throw APIError.invalidParameter("status", "must be sent or acknowledged") }
                status = v
            }
            if let v = request.query("kind") {
                guard ResidenceReportKind(rawValue: v) != nil else { throw APIError.invalidParameter("kind", "must be commendation or breach") }
                kind = v
            }
            memberID = try request.uuidQuery("member_id")
            overdue = try request.boolQuery("overdue")
        }
    }

    static func list(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        let filter = try ListFilter(request)
        return try Listing.respond(request, ctx, csv: "residence-reports", header: ResidenceReport.csvHeader, row: { $0.csvRow }) { db, after, limit in
            try fetch(db, p, filter, after: after, limit: limit)
        }
    }

    static func fetch(_ db: Connection, _ p: Principal, _ f: ListFilter, after: [String]?, limit: Int) throws -> ([ResidenceReport], [String]?) {
        var conditions = [Policy.exchangeVisibleSQL(alias: "r", param: 1), Policy.memberVisibilitySQL(p, exemptionColumn: "m.exemption")]
        var params: [any PostgresEncodable] = [p.orgPath]
        func bind(_ v: any PostgresEncodable) -> Int { params.append(v); return params.count }
        if let v = f.status { conditions.append("r.status = $\(bind(v))") }
        if let v = f.kind { conditions.append("r.kind = $\(bind(v))") }
        if let v = f.memberID { conditions.append("r.member_id = $\(bind(v))") }
        if let o = f.overdue { conditions.append(o ? "r.due_on < hcm_today()" : "(r.due_on IS NULL OR r.due_on >= hcm_today())") }
        if let c = try CreatedKeyset.condition(after: after, alias: "r", bind: bind) { conditions.append(c) }
        let rows = try db.query("SELECT \(ResidenceReport.columns) FROM \(ResidenceReport.from) WHERE \(conditions.joined(separator: " AND ")) "
                                + "ORDER BY r.created_at, r.id LIMIT \(limit + 1)", parameters: params)
        return CreatedKeyset.page(try rows.map(ResidenceReport.init(row:)), limit: limit) { ($0.createdAt, $0.id) }
    }
}
