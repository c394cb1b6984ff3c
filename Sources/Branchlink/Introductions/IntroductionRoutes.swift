import Foundation
import HTTP
import Postgres

/// `/v1/introductions`: a workplace committee introduces a working member to the commune/ward where
/// the member lives; the commune receives it and assigns a residential branch, which takes the
/// member on. Every step is checked by `IntroductionStateMachine`, scoped by `Policy`, dated by
/// `Deadlines`, and recorded as an event in the same transaction.
enum IntroductionRoutes {
    static func register(on router: Router<AppContext>) {
        router.post("/v1/introductions", create)
        router.post("/v1/introductions/batch", maxBodyBytes: 8 << 20, batch)
        router.get("/v1/introductions", list)
        router.get("/v1/introductions/{id}", get)
        for action in [IntroductionAction.receive, .assign, .acknowledge, .return, .withdraw] {
            router.post("/v1/introductions/{id}/\(action.rawValue)") { request, ctx in try act(action, request, ctx) }
        }
    }

    /// Organization kinds that issue introductions: the workplace side of the tree.
    static let issuingKinds: Set<String> = ["grassroots_committee", "grassroots_branch", "partial_committee", "branch", "directly_subordinate"]

    static func load(_ db: Connection, _ id: UUID, for p: Principal, forUpdate: Bool = false) throws -> Introduction {
        guard let row = try db.queryRow("SELECT \(Introduction.columns) FROM \(Introduction.from) WHERE i.id = $1"
                                        + (forUpdate ? " FOR UPDATE OF i" : ""), id) else { throw APIError.notFound("introduction") }
        let intro = try Introduction(row: row)
        guard Policy.canSee(p, intro.involved) else { throw APIError.notFound("introduction") }
        return intro
    }

    static func pathID(_ request: Request) throws -> UUID {
        try request.pathUUID(notFound: "introduction")
    }

    // MARK: Create

    struct NewIntroduction {
        var memberID: UUID
        var communeID: UUID
        var branchID: UUID?
        var note: String?

        /// Reads one item; errors are collected in `input` (pointers prefixed by the caller for batches).
        static func read(_ input: inout JSONInput) -> NewIntroduction? {
            let member = input.uuid("member_id")
            let commune = input.uuid("commune_id")
            let branch = input.uuid("branch_id", required: false)
            let note = input.string("note", required: false, maxLength: 2000)
            guard let member, let commune else { return nil }
            return NewIntroduction(memberID: member, communeID: commune, branchID: branch, note: note)
        }
    }

    static func create(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        try Policy.require(p, .act)
        var input = try JSONInput(request)
        let item = NewIntroduction.read(&input)
        try input.finish()
        guard let item else { throw APIError(status: 422, code: "validation_failed", detail: "Invalid body.") }
        let intro = try ctx.db.transaction { db in try introduce(db, p, item, requestID: request.requestID) }
        return try JSONOutput.resource(intro, status: 201, version: intro.version, location: "/v1/introductions/\(intro.id.lower)")
    }

    /// Creates one introduction inside the caller's transaction; throws an `APIError` for every
    /// rule it breaks (the batch endpoint reports them per item).
    static func introduce(_ db: Connection, _ p: Principal, _ item: NewIntroduction, requestID: String) throws -> Introduction {
        guard issuingKinds.contains(p.orgKind), !p.isResidenceSide else {
            throw APIError.forbidden("Only a workplace committee introduces its members.")
        }
        guard let m = try db.queryRow("""
            SELECT exemption, workplace_path::text FROM members WHERE id = $1 FOR UPDATE
            """, item.memberID) else { throw fieldError(404, "not_found", "/member_id", "No member with this id is visible to you.") }
        let exemption = try m.decode(String.self, 0)
        guard Policy.contains(p, path: try m.decode(String.self, 1)) else {
            throw fieldError(404, "not_found", "/member_id", "No member with this id is visible to you.")
        }
        if exemption == "introduction" {
            throw fieldError(422, "member_exempt_from_introduction", "/member_id",
                             "The member is exempt from introduction (HD 33 §1.2) and is never introduced to a residence.")
        }
        guard let c = try db.queryRow("SELECT kind, path::text, valid_to IS NULL FROM organizations WHERE id = $1", item.communeID),
              try c.decode(String.self, 0) == "commune" else {
            throw fieldError(422, "invalid_commune", "/commune_id", "Must be an open commune or ward.")
        }
        guard try c.decode(Bool.self, 2) else { throw fieldError(422, "invalid_commune", "/commune_id", "The commune is closed (merged).") }
        let communePath = try c.decode(String.self, 1)
        var branchPath: String? = nil
        if let b = item.branchID {
            guard let row = try db.queryRow("SELECT path::text FROM organizations WHERE id = $1 AND kind = 'branch' AND parent_id = $2 AND valid_to IS NULL",
                                            b, item.communeID) else {
                throw fieldError(422, "invalid_branch", "/branch_id", "Must be an open residential branch of the commune.")
            }
            branchPath = try row.decode(String.self, 0)
        }
        if try db.queryRow("SELECT 1 FROM introductions WHERE member_id = $1 AND status IN ('sent','received','assigned','active')", item.memberID) != nil {
            throw fieldError(409, "live_introduction_exists", "/member_id", "The member already has a live introduction.")
        }
        let year = try db.queryRow("SELECT extract(year FROM hcm_today())::int")!.decode(Int.self, 0)
        let seq = try db.queryRow("""
            INSERT INTO letter_counters (org_id, year, last) VALUES ($1, $2, 1)
            ON CONFLICT (org_id, year) DO UPDATE SET last = letter_counters.last + 1 RETURNING last
            """, p.orgID, year)!.decode(Int.self, 0)
        let number = "\(seq)-GGT/ĐU"
        let id = UUID()
        let due = try Deadlines.dueOn(db, step: .introductionReceive, orgID: item.communeID)
        do {
            try db.execute("""
                INSERT INTO introductions (id, number, year, member_id, workplace_id, commune_id, branch_id, workplace_path, commune_path,
                    branch_path, status, exemption_marker, note, awaiting_org_id, due_on, created_by)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8::ltree, $9::ltree, $10::ltree, 'sent', $11, $12, $6, $13, $14)
                """, id, number, year, item.memberID, p.orgID, item.communeID, item.branchID, p.orgPath, communePath, branchPath,
                exemption == "activities", item.note, due, p.accountID)
        } catch let e as PostgresError where e.kind == .uniqueViolation {
            throw fieldError(409, "live_introduction_exists", "/member_id", "The member already has a live introduction.")
        }
        try EventLog.append(db, type: "introduction.sent", entityType: "introduction", entityID: id,
                            orgIDs: [p.orgID, item.communeID] + (item.branchID.map { [$0] } ?? []), actor: p, requestID: requestID,
                            data: ["member_id": item.memberID.lower, "number": number])
        return try load(db, id, for: p)
    }

    static func fieldError(_ status: Int, _ code: String, _ pointer: String, _ message: String) -> APIError {
        APIError(status: status, code: code, detail: message, errors: [FieldError(pointer: pointer, code: code, message: message)])
    }

    /// Many members at once (the paper practice sends a list with one letter): each item succeeds or
    /// fails on its own, in its own savepoint, and the response reports every item.
    static func batch(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        try Policy.require(p, .act)
        var input = try JSONInput(request)
        var items: [(Int, NewIntroduction?, [FieldError])] = []
        if let raw = input.array("items", maxCount: 10_000) {
            for (i, obj) in raw.enumerated() {
                guard let o = obj as? [String: Any] else {
                    items.append((i, nil, [FieldError(pointer: "/items/\(i)", code: "type", message: "must be an object")]))
                    continue
                }
                var itemInput = JSONInput(object: o)
                let item = NewIntroduction.read(&itemInput)
                var errs = itemInput.errors
                itemInput.collectUnknown(into: &errs)
                items.append((i, item, errs.map { FieldError(pointer: "/items/\(i)" + $0.pointer, code: $0.code, message: $0.message) }))
            }
        }
        try input.finish()
        var results: [[String: Any]] = []
        var created = 0
        try ctx.db.transaction { db in
            for (i, item, errs) in items {
                guard let item, errs.isEmpty else {
                    results.append(["index": i, "ok": false, "errors": errs.map { ["pointer": $0.pointer, "code": $0.code, "message": $0.message] }])
                    continue
                }
                do {
                    let intro = try db.transaction { db in try introduce(db, p, item, requestID: request.requestID) }
                    created += 1
                    results.append(["index": i, "ok": true, "id": intro.id.lower, "number": intro.number])
                } catch let e as APIError {
                    let errors = e.errors.isEmpty ? [FieldError(pointer: "", code: e.code, message: e.detail)] : e.errors
                    results.append(["index": i, "ok": false, "status": e.status,
                                    "errors": errors.map { ["pointer": "/items/\(i)" + $0.pointer, "code": $0.code, "message": $0.message] }])
                }
            }
        }
        let body = try JSONSerialization.data(withJSONObject: ["items": items.count, "created": created, "failed": items.count - created,
                                                               "results": results], options: [.sortedKeys])
        return .json(200, Array(body))
    }

    // MARK: Read

    static func get(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        let intro = try load(ctx.db, try pathID(request), for: p)
        if let notModified = ETag.notModified(request, version: intro.version) { return notModified }
        return try JSONOutput.resource(intro, version: intro.version)
    }

    struct ListFilter: Sendable {
        var status: String?
        var uuids: [(column: String, value: UUID)] = []
        var overdue: Bool?
        var q: String?

        init(_ request: Request) throws {
            if let s = request.query("status") {
                guard IntroductionStatus(rawValue: s) != nil else {
                    throw APIError.invalidParameter("status", "must be one of " + IntroductionStatus.allCases.map(\.rawValue).joined(separator: ", "))
                }
                status = s
            }
            for (name, column) in [("member_id", "i.member_id"), ("commune_id", "i.commune_id"), ("branch_id", "i.branch_id"),
                                   ("workplace_id", "i.workplace_id")] {
                if let id = try request.uuidQuery(name) { uuids.append((column, id)) }
            }
            overdue = try request.boolQuery("overdue")
            if let q = request.query("q"), !q.isEmpty {
                guard q.count <= 100 else { throw APIError.invalidParameter("q", "must be at most 100 characters") }
                self.q = q
            }
        }
    }

    static func list(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        let filter = try ListFilter(request)
        return try Listing.respond(request, ctx, csv: "introductions", header: Introduction.csvHeader, row: { $0.csvRow }) { db, after, limit in
            try fetch(db, p, filter, after: after, limit: limit)
        }
    }

    static func fetch(_ db: Connection, _ p: Principal, _ f: ListFilter, after: [String]?, limit: Int) throws -> ([Introduction], [String]?) {
        var conditions = [Policy.exchangeVisibleSQL(alias: "i", param: 1), Policy.memberVisibilitySQL(p, exemptionColumn: "m.exemption")]
        var params: [any PostgresEncodable] = [p.orgPath]
        func bind(_ v: any PostgresEncodable) -> Int { params.append(v); return params.count }
        if let s = f.status { conditions.append("i.status = $\(bind(s))") }
        for (column, id) in f.uuids { conditions.append("\(column) = $\(bind(id))") }
        if let o = f.overdue { conditions.append(o ? "i.due_on < hcm_today()" : "(i.due_on IS NULL OR i.due_on >= hcm_today())") }
        if let q = f.q {
            let n = bind(q)
            // LIKE wildcards in the query are literal characters.
            conditions.append("""
                (search_key(m.full_name) LIKE '%' || replace(replace(replace(search_key($\(n)), '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%'
                 OR m.party_card_number = $\(n) OR i.number = $\(n))
                """)
        }
        if let c = try CreatedKeyset.condition(after: after, alias: "i", bind: bind) { conditions.append(c) }
        let rows = try db.query("SELECT \(Introduction.columns) FROM \(Introduction.from) WHERE \(conditions.joined(separator: " AND ")) "
                                + "ORDER BY i.created_at, i.id LIMIT \(limit + 1)", parameters: params)
        return CreatedKeyset.page(try rows.map(Introduction.init(row:)), limit: limit) { ($0.createdAt, $0.id) }
    }
}
