import Foundation
import HTTP
import Postgres

/// `/v1/assessment-requests`: the workplace asks the residence how a working member lives up to
/// Regulation 213 (annually through campaigns, or on demand for a procedure); the commune forwards
/// to the member's branch, the branch meets the Front work committee and submits the form, the
/// commune confirms, the workplace closes. Every step is checked by `AssessmentStateMachine`, scoped
/// by `Policy`, dated by `Deadlines`, and recorded as an event in the same transaction.
enum AssessmentRequestRoutes {
    static func register(on router: Router<AppContext>) {
        router.post("/v1/assessment-requests", create)
        router.get("/v1/assessment-requests", list)
        router.get("/v1/assessment-requests/{id}", get)
        for action in [AssessmentAction.forward, .submit, .sendBack, .confirm, .close, .cancel] {
            router.post("/v1/assessment-requests/{id}/\(action.rawValue)") { request, ctx in try act(action, request, ctx) }
        }
        router.post("/v1/assessment-requests/{id}/meeting", AssessmentMeetingRoutes.recordForRequest)
        router.put("/v1/assessment-requests/{id}/form", AssessmentFormRoutes.put)
        router.get("/v1/assessment-requests/{id}/form", AssessmentFormRoutes.get)
        AssessmentCounts.register(on: router)
    }

    static func load(_ db: Connection, _ id: UUID, for p: Principal, forUpdate: Bool = false) throws -> AssessmentRequest {
        guard let row = try db.queryRow("SELECT \(AssessmentRequest.columns) FROM \(AssessmentRequest.from) WHERE r.id = $1"
                                        + (forUpdate ? " FOR UPDATE OF r" : ""), id) else { throw APIError.notFound("assessment request") }
        let r = try AssessmentRequest(row: row)
        guard Policy.canSee(p, r.involved, confidential: r.confidential) else { throw APIError.notFound("assessment request") }
        return r
    }

    static func pathID(_ request: Request) throws -> UUID {
        try request.pathUUID(notFound: "assessment request")
    }

    // MARK: Create (on demand)

    static func create(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        try Policy.require(p, .act)
        var input = try JSONInput(request)
        let memberID = input.uuid("member_id")
        let purpose = input.enumeration("purpose", AssessmentPurpose.self)
        let neededBy = input.date("needed_by")
        let confidential = input.bool("confidential", required: false) ?? false
        let note = input.string("note", required: false, maxLength: 2000)
        if purpose == .annual {
            input.fail("purpose", "annual_from_campaign", "annual requests are created by an assessment campaign (POST /v1/assessment-campaigns)")
        }
        try input.finish()
        guard let memberID, let purpose, let neededBy else { throw APIError(status: 422, code: "validation_failed", detail: "Invalid body.") }

        let r = try ctx.db.transaction { db -> AssessmentRequest in
            let today = try Deadlines.today(db)
            guard neededBy >= today else {
                throw IntroductionRoutes.fieldError(422, "date_in_past", "/needed_by", "must be today or later")
            }
            guard !p.isResidenceSide else {
                throw APIError.forbidden("Assessments are requested by the member's workplace side or a personnel body, not by the residence.")
            }
            guard let m = try db.queryRow("SELECT exemption, workplace_path::text FROM members WHERE id = $1 FOR UPDATE", memberID),
                  Policy.contains(p, path: try m.decode(String.self, 1)) else {
                throw IntroductionRoutes.fieldError(404, "not_found", "/member_id", "No member with this id is visible to you.")
            }
            let exemption = try m.decode(String.self, 0)
            if exemption == "introduction" {
                throw IntroductionRoutes.fieldError(422, "member_exempt_from_introduction", "/member_id",
                                                    "The member is exempt from introduction (HD 33 §1.2): no residence body ever assesses the member.")
            }
            guard let link = try db.queryRow("""
                SELECT id, commune_id FROM introductions WHERE member_id = $1 AND status = 'active'
                """, memberID) else {
                throw IntroductionRoutes.fieldError(409, "no_active_link", "/member_id",
                                                    "The member has no active residence link: the residence cannot assess a member it has not taken on.")
            }
            let variant: FormTemplate.Variant = exemption == "activities" ? .B : .A
            let template = try FormTemplates.current(db, variant)
            let communeID = try link.decode(UUID.self, 1)
            let id = UUID()
            let due = try dueOn(db, .requestForward, orgID: communeID, neededBy: neededBy)
            try db.execute("""
                INSERT INTO assessment_requests (id, member_id, introduction_id, purpose, year, confidential, form_variant, form_version,
                    needed_by, note, requester_org_id, commune_id, status, awaiting_org_id, due_on, created_by)
                VALUES ($1, $2, $3, $4, extract(year FROM hcm_today())::int, $5, $6, $7, $8, $9, $10, $11, 'requested', $11, $12, $13)
                """, id, memberID, try link.decode(UUID.self, 0), purpose.rawValue, confidential, variant.rawValue, template.version,
                neededBy, note, p.orgID, communeID, due, p.accountID)
            try EventLog.append(db, type: "assessment_request.created", entityType: "assessment_request", entityID: id,
                                orgIDs: [p.orgID, communeID], actor: p, requestID: request.requestID,
                                data: ["purpose": purpose.rawValue, "confidential": confidential, "form_variant": variant.rawValue])
            return try load(db, id, for: p)
        }
        return try JSONOutput.resource(r, status: 201, version: r.version, location: "/v1/assessment-requests/\(r.id.lower)")
    }

    /// Due date of a step starting today: the policy's days for the waiting organization, but never
    /// later than the date the requester needs the result by (an on-demand request for an
    /// appointment cannot wait the annual pace). Closing is the requester's own step: not capped.
    static func dueOn(_ db: Connection, _ step: WaitingStep, orgID: UUID, neededBy: PGDate) throws -> PGDate {
        let due = try Deadlines.dueOn(db, step: step, orgID: orgID)
        return step == .resultClose ? due : min(due, neededBy)
    }

    // MARK: Read

    static func get(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        let r = try load(ctx.db, try pathID(request), for: p)
        if let notModified = ETag.notModified(request, version: r.version) { return notModified }
        return try JSONOutput.resource(r, version: r.version)
    }

    struct ListFilter: Sendable {
        var strings: [(column: String, value: String)] = []
        var uuids: [(column: String, value: UUID)] = []
        var year: Int?
        var overdue: Bool?

        init(_ request: Request) throws {
            if let s = request.query("status") {
                guard AssessmentStatus(rawValue: s) != nil else {
                    throw APIError.invalidParameter("status", "must be one of " + AssessmentStatus.allCases.map(\.rawValue).joined(separator: ", "))
                }
                strings.append(("r.status", s))
            }
            if let s = request.query("purpose") {
                guard AssessmentPurpose(rawValue: s) != nil else {
                    throw APIError.invalidParameter("purpose", "must be one of " + AssessmentPurpose.allCases.map(\.rawValue).joined(separator: ", "))
                }
                strings.append(("r.purpose", s))
            }
            for (name, column) in [("member_id", "r.member_id"), ("campaign_id", "r.campaign_id"), ("commune_id", "r.commune_id"),
                                   ("branch_id", "r.branch_id"), ("requester_org_id", "r.requester_org_id")] {
                if let id = try request.uuidQuery(name) { uuids.append((column, id)) }
            }
            if let v = request.query("year") {
                guard let y = Int(v), (2000...2100).contains(y) else { throw APIError.invalidParameter("year", "must be a year from 2000 to 2100") }
                year = y
            }
            overdue = try request.boolQuery("overdue")
        }
    }

    static func list(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        let filter = try ListFilter(request)
        return try Listing.respond(request, ctx, csv: "assessment-requests", header: AssessmentRequest.csvHeader, row: { $0.csvRow }) { db, after, limit in
            try fetch(db, p, filter, after: after, limit: limit)
        }
    }

    static func fetch(_ db: Connection, _ p: Principal, _ f: ListFilter, after: [String]?, limit: Int) throws -> ([AssessmentRequest], [String]?) {
        var conditions = [Policy.requestVisibleSQL(path: 1, org: 2)]
        var params: [any PostgresEncodable] = [p.orgPath, p.orgID]
        func bind(_ v: any PostgresEncodable) -> Int { params.append(v); return params.count }
        for (column, v) in f.strings { conditions.append("\(column) = $\(bind(v))") }
        for (column, id) in f.uuids { conditions.append("\(column) = $\(bind(id))") }
        if let y = f.year { conditions.append("r.year = $\(bind(y))::int") }
        if let o = f.overdue { conditions.append(o ? "r.due_on < hcm_today()" : "(r.due_on IS NULL OR r.due_on >= hcm_today())") }
        if let c = try CreatedKeyset.condition(after: after, alias: "r", bind: bind) { conditions.append(c) }
        let rows = try db.query("SELECT \(AssessmentRequest.columns) FROM \(AssessmentRequest.from) WHERE \(conditions.joined(separator: " AND ")) "
                                + "ORDER BY r.created_at, r.id LIMIT \(limit + 1)", parameters: params)
        return CreatedKeyset.page(try rows.map(AssessmentRequest.init(row:)), limit: limit) { ($0.createdAt, $0.id) }
    }
}
