import Foundation
import HTTP
import Postgres

/// `/v1/change-notices`: the workplace tells the residence of every change about a member. A
/// notice is addressed automatically through the member's live introduction; kinds that end the
/// link end it in the same transaction (ChangeNoticeKind.effect).
enum ChangeNoticeRoutes {
    static func register(on router: Router<AppContext>) {
        router.post("/v1/change-notices", create)
        router.get("/v1/change-notices", list)
        router.get("/v1/change-notices/{id}", get)
        router.post("/v1/change-notices/{id}/acknowledge", acknowledge)
    }

    static func load(_ db: Connection, _ id: UUID, for p: Principal, forUpdate: Bool = false) throws -> ChangeNotice {
        guard let row = try db.queryRow("SELECT \(ChangeNotice.columns) FROM \(ChangeNotice.from) WHERE n.id = $1"
                                        + (forUpdate ? " FOR UPDATE OF n" : ""), id) else { throw APIError.notFound("change notice") }
        let notice = try ChangeNotice(row: row)
        guard Policy.canSee(p, notice.involved) else { throw APIError.notFound("change notice") }
        return notice
    }

    static func pathID(_ request: Request) throws -> UUID {
        try request.pathUUID(notFound: "change notice")
    }

    static func create(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        try Policy.require(p, .act)
        var input = try JSONInput(request)
        let memberID = input.uuid("member_id")
        let kind = input.enumeration("kind", ChangeNoticeKind.self)
        let effectiveOn = input.date("effective_on")
        let decisionRef = input.string("decision_ref", required: false, maxLength: 200)
        let reason = input.string("reason", required: false, maxLength: 2000)
        var details: [String: String] = [:]
        if let kind {
            var d = input.object("details", required: !kind.details.required.isEmpty) ?? JSONInput(object: [:])
            for key in kind.details.required.union(kind.details.optional).sorted() {
                // Corrected names must fit the member record's own limit.
                let limit = key == "full_name" ? 200 : 500
                if let v = d.string(key, required: kind.details.required.contains(key), maxLength: limit) { details[key] = v }
            }
            input.absorb(d, under: "details")
            if kind == .dataCorrection && details.isEmpty {
                input.fail("details", "required", "must correct at least one of full_name, birth_date, residence_address")
            }
            try validateDetails(kind, details, &input)
        }
        try input.finish()
        guard let memberID, let kind, let effectiveOn else { throw APIError(status: 422, code: "validation_failed", detail: "Invalid body.") }

        let notice = try ctx.db.transaction { db in
            try send(db, p, memberID: memberID, kind: kind, effectiveOn: effectiveOn, decisionRef: decisionRef, reason: reason,
                     details: details, requestID: request.requestID)
        }
        return try JSONOutput.resource(notice, status: 201, version: notice.version, location: "/v1/change-notices/\(notice.id.lower)")
    }

    static func validateDetails(_ kind: ChangeNoticeKind, _ d: [String: String], _ input: inout JSONInput) throws {
        for key in ["new_workplace_org_id", "new_commune_id"] where d[key] != nil && UUID(uuidString: d[key]!) == nil {
            input.fail("details/\(key)", "format", "must be a UUID")
        }
        if let e = d["new_exemption"], !["none", "activities", "introduction"].contains(e) {
            input.fail("details/new_exemption", "invalid_value", "must be one of: none, activities, introduction")
        }
        if let e = d["new_exemption"], e != "none", d["exemption_ground"] == nil {
            input.fail("details/exemption_ground", "required", "is required unless new_exemption is none")
        }
        if let b = d["birth_date"], PGDate(b) == nil { input.fail("details/birth_date", "format", "must be a date YYYY-MM-DD") }
    }

    /// Records the notice and applies its effect on the link and the member.
    static func send(_ db: Connection, _ p: Principal, memberID: UUID, kind: ChangeNoticeKind, effectiveOn: PGDate,
                     decisionRef: String?, reason: String?, details: [String: String], requestID: String) throws -> ChangeNotice {
        guard let row = try db.queryRow("""
            SELECT \(Introduction.columns) FROM \(Introduction.from)
            WHERE i.member_id = $1 AND i.status IN ('sent','received','assigned','active') FOR UPDATE OF i
            """, memberID) else {
            // Distinguish "not yours" from "no link" only for members the caller may see.
            let visible = try db.queryRow("SELECT workplace_path::text FROM members WHERE id = $1", memberID)
                .map { Policy.contains(p, path: try $0.decode(String.self, 0)) } ?? false
            guard visible else { throw APIError.notFound("member") }
            throw APIError(status: 409, code: "no_live_introduction",
                           detail: "The member has no live introduction: introduce the member before notifying the residence.",
                           errors: [FieldError(pointer: "/member_id", code: "no_live_introduction", message: "has no live introduction")])
        }
        let intro = try Introduction(row: row)
        guard Policy.canSee(p, intro.involved) else { throw APIError.notFound("member") }
        guard Policy.side(p, intro.involved) == .workplace else {
            throw APIError(status: 403, code: "not_your_action", detail: "Only the workplace committee that introduced the member sends notices.")
        }

        var endsLink: Bool
        var task: (kind: String, org: UUID)? = nil
        switch kind.effect {
        case .keepsLink: endsLink = kind == .exemptionChange && details["new_exemption"] == "introduction"
        case .endsLink: endsLink = true
        case .endsLinkAndReintroduce:
            endsLink = true
            task = ("introduce_new_commune", intro.workplaceId)
        case .endsLinkIfOtherCommittee:
            let newOrg = UUID(uuidString: details["new_workplace_org_id"]!)!
            // The member's new workplace must be one a member may work at (the Members area's rule).
            guard let target = try db.queryRow("""
                SELECT o.path::text, o.kind, o.sector, p.kind FROM organizations o LEFT JOIN organizations p ON p.id = o.parent_id
                WHERE o.id = $1 AND o.valid_to IS NULL
                """, newOrg),
                  MemberRules.workplaceRefusal(kind: try target.decode(String.self, 1), sector: try target.decode(String.self, 2),
                                               parentKind: try target.decode(String?.self, 3), closed: false) == nil else {
                throw APIError(status: 422, code: "invalid_workplace", detail: "The new workplace must be an open workplace organization.",
                               errors: [FieldError(pointer: "/details/new_workplace_org_id", code: "invalid_workplace", message: "is not a workplace organization")])
            }
            let newPath = try target.decode(String.self, 0)
            let sameCommittee = newPath == intro.involved.workplacePath || newPath.hasPrefix(intro.involved.workplacePath + ".")
            endsLink = !sameCommittee
            if !sameCommittee { task = ("reintroduce_after_transfer", newOrg) }
            try db.execute("UPDATE members SET workplace_org_id = $2, workplace_path = $3::ltree, updated_at = now(), version = version + 1 WHERE id = $1",
                           memberID, newOrg, newPath)
        }
        try applyToMember(db, memberID, kind, details)

        let id = UUID()
        let addressee = (intro.status == .active ? intro.branchId : nil) ?? intro.communeId
        let due = try Deadlines.dueOn(db, step: .noticeAcknowledge, orgID: addressee)
        let detailsJSON = String(decoding: try JSONSerialization.data(withJSONObject: details, options: [.sortedKeys]), as: UTF8.self)
        try db.execute("""
            INSERT INTO change_notices (id, member_id, introduction_id, kind, effective_on, decision_ref, reason, details, status,
                workplace_id, commune_id, branch_id, workplace_path, commune_path, branch_path, awaiting_org_id, due_on, created_by)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, 'sent', $9, $10, $11, $12::ltree, $13::ltree, $14::ltree, $15, $16, $17)
            """, id, memberID, intro.id, kind.rawValue, effectiveOn, decisionRef, reason, detailsJSON, intro.workplaceId, intro.communeId,
            intro.branchId, intro.involved.workplacePath, intro.involved.communePath, intro.involved.branchPath, addressee, due, p.accountID)
        let orgIDs = [intro.workplaceId, intro.communeId] + (intro.branchId.map { [$0] } ?? [])
        try EventLog.append(db, type: "change_notice.sent", entityType: "change_notice", entityID: id, orgIDs: orgIDs, actor: p,
                            requestID: requestID, data: ["kind": kind.rawValue, "introduction_id": intro.id.lower])

        if endsLink {
            // Only an active link "ends"; one still in progress is withdrawn by the same notice.
            let ended = intro.status == .active
            try IntroductionRoutes.update(db, intro.id, ended
                ? "status = 'ended', ended_on = hcm_today(), end_reason = $2, ended_by_notice_id = $3, awaiting_org_id = NULL, due_on = NULL"
                : "status = 'withdrawn', withdraw_reason = $2, ended_by_notice_id = $3, awaiting_org_id = NULL, due_on = NULL",
                kind.rawValue, id)
            try EventLog.append(db, type: ended ? "introduction.ended" : "introduction.withdrawn", entityType: "introduction",
                                entityID: intro.id, orgIDs: orgIDs, actor: p, requestID: requestID, data: ["reason": kind.rawValue, "notice_id": id.lower])
        } else if kind == .exemptionChange {
            try IntroductionRoutes.update(db, intro.id, "exemption_marker = $2", details["new_exemption"] == "activities")
        }
        if let task {
            let taskDue = try Deadlines.dueOn(db, step: .reintroduce, orgID: task.org)
            try db.execute("""
                INSERT INTO workplace_tasks (kind, member_id, source_notice_id, awaiting_org_id, due_on) VALUES ($1, $2, $3, $4, $5)
                """, task.kind, memberID, id, task.org, taskDue)
        }
        return try load(db, id, for: p)
    }

    /// What the residence sees changes with the notice: corrected data, new exemption, new address.
    static func applyToMember(_ db: Connection, _ memberID: UUID, _ kind: ChangeNoticeKind, _ d: [String: String]) throws {
        switch kind {
        case .dataCorrection:
            try db.execute("""
                UPDATE members SET full_name = COALESCE($2, full_name), birth_date = COALESCE($3, birth_date),
                    residence_address = COALESCE($4, residence_address), updated_at = now(), version = version + 1 WHERE id = $1
                """, memberID, d["full_name"].map(MemberRules.normalizeName), d["birth_date"].flatMap(PGDate.init), d["residence_address"])
        case .exemptionChange:
            try db.execute("""
                UPDATE members SET exemption = $2, exemption_ground = $3, updated_at = now(), version = version + 1 WHERE id = $1
                """, memberID, d["new_exemption"]!, d["new_exemption"] == "none" ? nil : d["exemption_ground"])
        case .residenceChange:
            let commune = UUID(uuidString: d["new_commune_id"]!)!
            guard let row = try db.queryRow("SELECT parent_id FROM organizations WHERE id = $1 AND kind = 'commune' AND valid_to IS NULL", commune) else {
                throw APIError(status: 422, code: "invalid_commune", detail: "The new commune must be an open commune or ward.",
                               errors: [FieldError(pointer: "/details/new_commune_id", code: "invalid_commune", message: "is not an open commune")])
            }
            // The residence province is the commune's province (communes sit directly under provinces since 2025).
            try db.execute("""
                UPDATE members SET residence_commune_id = $2, residence_province_id = COALESCE(
                    (SELECT id FROM organizations WHERE id = $3 AND kind = 'province'), residence_province_id),
                    residence_address = $4, updated_at = now(), version = version + 1 WHERE id = $1
                """, memberID, commune, try row.decode(UUID?.self, 0), d["new_address_line"]!)
        default:
            break
        }
    }

    static func acknowledge(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        let id = try pathID(request)
        var input = try JSONInput(request)
        let note = input.string("note", required: false, maxLength: 2000)
        try input.finish()
        let notice = try ctx.db.transaction { db -> ChangeNotice in
            let n = try load(db, id, for: p, forUpdate: true)
            if case .failure(let refusal) = ChangeNoticeStateMachine.acknowledge(n.status, by: Policy.side(p, n.involved)) {
                throw Policy.refusal(refusal, action: "acknowledge")
            }
            try ETag.checkIfMatch(request, version: n.version)
            try db.execute("""
                UPDATE change_notices SET status = 'acknowledged', acknowledged_on = hcm_today(), acknowledged_by = $2, acknowledge_note = $3,
                    awaiting_org_id = NULL, due_on = NULL, updated_at = now(), version = version + 1 WHERE id = $1
                """, id, p.orgID, note)
            try EventLog.append(db, type: "change_notice.acknowledged", entityType: "change_notice", entityID: id,
                                orgIDs: [n.workplaceId, n.communeId] + (n.branchId.map { [$0] } ?? []), actor: p, requestID: request.requestID)
            return try load(db, id, for: p)
        }
        return try JSONOutput.resource(notice, version: notice.version)
    }

    static func get(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        let n = try load(ctx.db, try pathID(request), for: p)
        if let notModified = ETag.notModified(request, version: n.version) { return notModified }
        return try JSONOutput.resource(n, version: n.version)
    }

    struct ListFilter: Sendable {
        var kind: String?
        var status: String?
        var memberID: UUID?
        var overdue: Bool?

        init(_ request: Request) throws {
            if let v = request.query("kind") {
                guard ChangeNoticeKind(rawValue: v) != nil else { throw APIError.invalidParameter("kind", "is not a change notice kind") }
                kind = v
            }
            if let v = request.query("status") {
                guard ChangeNoticeStatus(rawValue: v) != nil else { throw APIError.invalidParameter("status", "must be sent or acknowledged") }
                status = v
            }
            memberID = try request.uuidQuery("member_id")
            overdue = try request.boolQuery("overdue")
        }
    }

    static func list(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        let filter = try ListFilter(request)
        return try Listing.respond(request, ctx, csv: "change-notices", header: ChangeNotice.csvHeader, row: { $0.csvRow }) { db, after, limit in
            try fetch(db, p, filter, after: after, limit: limit)
        }
    }

    static func fetch(_ db: Connection, _ p: Principal, _ f: ListFilter, after: [String]?, limit: Int) throws -> ([ChangeNotice], [String]?) {
        var conditions = [Policy.exchangeVisibleSQL(alias: "n", param: 1), Policy.memberVisibilitySQL(p, exemptionColumn: "m.exemption")]
        var params: [any PostgresEncodable] = [p.orgPath]
        func bind(_ v: any PostgresEncodable) -> Int { params.append(v); return params.count }
        if let v = f.kind { conditions.append("n.kind = $\(bind(v))") }
        if let v = f.status { conditions.append("n.status = $\(bind(v))") }
        if let v = f.memberID { conditions.append("n.member_id = $\(bind(v))") }
        if let o = f.overdue { conditions.append(o ? "n.due_on < hcm_today()" : "(n.due_on IS NULL OR n.due_on >= hcm_today())") }
        if let c = try CreatedKeyset.condition(after: after, alias: "n", bind: bind) { conditions.append(c) }
        let rows = try db.query("SELECT \(ChangeNotice.columns) FROM \(ChangeNotice.from) WHERE \(conditions.joined(separator: " AND ")) "
                                + "ORDER BY n.created_at, n.id LIMIT \(limit + 1)", parameters: params)
        return CreatedKeyset.page(try rows.map(ChangeNotice.init(row:)), limit: limit) { ($0.createdAt, $0.id) }
    }
}
