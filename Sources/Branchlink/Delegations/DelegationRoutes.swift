import Foundation
import HTTP
import Postgres

/// `/v1/delegations`: an officer or admin lets another account act for its own organization for
/// at most a year (`POST`); both sides list them (`GET`, given = delegations of organizations in the
/// caller's subtree, received = to the calling account); the delegating side or the delegate ends
/// one early (`POST /{id}/revoke`). A request made under a delegation can neither create nor revoke
/// one: delegation does not pass on.
enum DelegationRoutes {
    static func register(on router: Router<AppContext>) {
        router.post("/v1/delegations", create)
        router.get("/v1/delegations", list)
        router.get("/v1/delegations/{id}", get)
        router.post("/v1/delegations/{id}/revoke", revoke)
    }

    static let notTransferable = APIError(status: 403, code: "delegation_not_transferable",
                                          detail: "A request made under a delegation cannot create or revoke delegations.")

    static func load(_ db: Connection, _ id: UUID, forUpdate: Bool = false) throws -> Delegation? {
        try db.queryRow("SELECT \(Delegation.columns) FROM \(Delegation.from) WHERE d.id = $1\(forUpdate ? " FOR UPDATE OF d" : "")", id)
            .map(Delegation.init(row:))
    }

    /// Given (its organization is in the caller's subtree) or received (to the calling account).
    static func canSee(_ p: Principal, _ d: Delegation) -> Bool {
        Policy.contains(p, path: d.orgPath) || d.delegateAccountID == p.accountID
    }

    static func visible(_ db: Connection, _ request: Request, _ p: Principal, forUpdate: Bool = false) throws -> Delegation {
        let id = try request.pathUUID(notFound: "delegation")
        guard let d = try load(db, id, forUpdate: forUpdate), canSee(p, d) else { throw APIError.notFound("delegation") }
        return d
    }

    static func create(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        guard p.delegationID == nil else { throw notTransferable }
        try Policy.require(p, .act)
        var input = try JSONInput(request)
        let delegateID = input.uuid("delegate_account_id")
        let now = Date()
        func time(_ key: String, required: Bool) -> Date? {
            guard let s = input.string(key, required: required, maxLength: 64) else { return nil }
            guard let d = Timestamp.parse(s) else { input.fail(key, "format", "must be an RFC 3339 timestamp"); return nil }
            return d
        }
        let requestedFrom = time("valid_from", required: false)
        let validFrom = requestedFrom ?? now
        let validUntil = time("valid_until", required: true)
        let reason = input.string("reason", required: false, maxLength: 500)
        if let validUntil, let problem = DelegationRules.periodProblem(from: validFrom, until: validUntil, now: now) {
            input.fail(problem.field, problem.code, problem.message)
        }
        if delegateID == p.accountID { input.fail("delegate_account_id", "invalid", "must be another account than the caller's") }
        try input.finish()
        guard let delegateID, let validUntil else { throw APIError(status: 422, code: "validation_failed", detail: "Invalid body.") }

        return try ctx.db.transaction { db in
            // Without valid_from it starts at the transaction's now(), the clock every check uses.
            guard let delegate = try AccountRoutes.load(db, delegateID),
                  DelegationRules.inReach(delegatingPath: p.orgPath, delegatePath: delegate.orgPath) else {
                throw APIError.notFound("account")
            }
            guard delegate.disabledAt == nil else {
                throw APIError(status: 409, code: "account_disabled", detail: "The delegate account is disabled.",
                               extra: ["current_status": "disabled"])
            }
            guard let row = try db.queryRow("""
                INSERT INTO delegations (org_id, grantor_account_id, delegate_account_id, valid_from, valid_until, reason)
                VALUES ($1, $2, $3, COALESCE($4::text::timestamptz, now()), $5::text::timestamptz, $6) RETURNING id
                """, p.orgID, p.accountID, delegateID, requestedFrom.map(Timestamp.rfc3339), Timestamp.rfc3339(validUntil), reason),
                let d = try load(db, try row.decode(UUID.self, 0)) else { throw APIError.notFound("delegation") }
            try EventLog.append(db, type: "delegation.created", entityType: "delegation", entityID: d.id, orgIDs: [d.orgID, delegate.orgId],
                                actor: p, requestID: request.requestID,
                                data: ["delegate_account_id": delegateID.lower, "valid_from": Timestamp.rfc3339(d.validFrom),
                                       "valid_until": Timestamp.rfc3339(d.validUntil)])
            return JSONOutput.resource(json: d.json, status: 201, version: d.version, location: "/v1/delegations/\(d.id.lower)")
        }
    }

    static func get(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        let d = try visible(ctx.db, request, p)
        if let notModified = ETag.notModified(request, version: d.version) { return notModified }
        return JSONOutput.resource(json: d.json, version: d.version)
    }

    /// Ends a live or scheduled delegation now: by an officer or admin whose subtree holds the
    /// delegating organization, or by the delegate itself. Revoked or expired ones → 409.
    static func revoke(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        guard p.delegationID == nil else { throw notTransferable }
        var input = try JSONInput(request)
        try input.finish()
        return try ctx.db.transaction { db in
            let d = try visible(db, request, p, forUpdate: true)
            if d.delegateAccountID != p.accountID { try Policy.require(p, .act, at: d.orgPath, what: "delegation") }
            try ETag.checkIfMatch(request, version: d.version)
            guard d.status == "active" || d.status == "scheduled" else {
                throw APIError(status: 409, code: "delegation_not_revocable", detail: "The delegation is already \(d.status).",
                               extra: ["current_status": d.status])
            }
            try db.execute("""
                UPDATE delegations SET revoked_at = now(), revoked_by_account_id = $2, updated_at = now(), version = version + 1
                WHERE id = $1
                """, d.id, p.accountID)
            try EventLog.append(db, type: "delegation.revoked", entityType: "delegation", entityID: d.id, orgIDs: [d.orgID],
                                actor: p, requestID: request.requestID, data: ["delegate_account_id": d.delegateAccountID.lower])
            guard let updated = try load(db, d.id) else { throw APIError.notFound("delegation") }
            return JSONOutput.resource(json: updated.json, version: updated.version)
        }
    }

    struct ListFilter: Sendable {
        var direction: String?
        var status: String?

        init(_ request: Request) throws {
            if let v = request.query("direction") {
                guard ["given", "received"].contains(v) else { throw APIError.invalidParameter("direction", "must be given or received") }
                direction = v
            }
            if let v = request.query("status") {
                guard ["scheduled", "active", "expired", "revoked"].contains(v) else {
                    throw APIError.invalidParameter("status", "must be one of scheduled, active, expired, revoked")
                }
                status = v
            }
        }
    }

    static func list(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        let filter = try ListFilter(request)
        return try Listing.respond(request, ctx, csv: "delegations", header: Delegation.csvHeader, row: { $0.csvRow },
                                   encode: { $0.json }) { db, after, limit in
            try fetch(db, p, filter, after: after, limit: limit)
        }
    }

    static func fetch(_ db: Connection, _ p: Principal, _ f: ListFilter, after: [String]?, limit: Int) throws -> ([Delegation], [String]?) {
        var params: [any PostgresEncodable] = []
        func bind(_ v: any PostgresEncodable) -> Int { params.append(v); return params.count }
        let given = "o.path <@ $\(bind(p.orgPath))::ltree"
        let received = "d.delegate_account_id = $\(bind(p.accountID))"
        var conditions: [String]
        switch f.direction {
        case "given": conditions = [given]
        case "received": conditions = [received]
        default: conditions = ["(\(given) OR \(received))"]
        }
        switch f.status {
        case "revoked": conditions.append("d.revoked_at IS NOT NULL")
        case "expired": conditions.append("d.revoked_at IS NULL AND d.valid_until <= now()")
        case "scheduled": conditions.append("d.revoked_at IS NULL AND d.valid_from > now()")
        case "active": conditions.append("d.revoked_at IS NULL AND d.valid_from <= now() AND d.valid_until > now()")
        default: break
        }
        if let c = try CreatedKeyset.condition(after: after, alias: "d", bind: bind) { conditions.append(c) }
        let rows = try db.query("""
            SELECT \(Delegation.columns) FROM \(Delegation.from) WHERE \(conditions.joined(separator: " AND "))
            ORDER BY d.created_at, d.id LIMIT \(limit + 1)
            """, parameters: params)
        return CreatedKeyset.page(try rows.map(Delegation.init(row:)), limit: limit) { ($0.createdAt, $0.id) }
    }
}
