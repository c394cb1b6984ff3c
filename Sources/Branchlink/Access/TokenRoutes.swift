import Foundation
import HTTP
import Postgres

/// A bearer token's metadata. The secret is shown once, in the answer to its creation; only its
/// SHA-256 is stored and neither ever appears here.
public struct Token: Encodable, Sendable {
    public var id: UUID
    public var accountId: UUID
    public var name: String
    public var expiresAt: Date?
    public var revokedAt: Date?
    /// `active`, `expired` or `revoked`, derived at read time.
    public var status: String
    public var createdAt: Date
    var orgID: UUID
    var orgPath: String
    /// Set only in the response to the creation.
    var secret: String?

    enum CodingKeys: String, CodingKey {
        case id, accountId, name, expiresAt, revokedAt, status, createdAt, token
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id.lower, forKey: .id)
        try c.encode(accountId.lower, forKey: .accountId)
        try c.encode(name, forKey: .name)
        try c.encode(expiresAt, forKey: .expiresAt)
        try c.encode(revokedAt, forKey: .revokedAt)
        try c.encode(status, forKey: .status)
        try c.encode(createdAt, forKey: .createdAt)
        if let secret { try c.encode(secret, forKey: .token) }
    }

    static let columns = """
        t.id, t.account_id, t.name, t.expires_at, t.revoked_at,
        CASE WHEN t.revoked_at IS NOT NULL THEN 'revoked' WHEN t.expires_at <= now() THEN 'expired' ELSE 'active' END,
        t.created_at, a.org_id, o.path::text
        """
    static let from = "tokens t JOIN accounts a ON a.id = t.account_id JOIN organizations o ON o.id = a.org_id"

    init(row: Row) throws {
        id = try row.decode(UUID.self, 0)
        accountId = try row.decode(UUID.self, 1)
        name = try row.decode(String.self, 2)
        expiresAt = try row.decode(Date?.self, 3)
        revokedAt = try row.decode(Date?.self, 4)
        status = try row.decode(String.self, 5)
        createdAt = try row.decode(Date.self, 6)
        orgID = try row.decode(UUID.self, 7)
        orgPath = try row.decode(String.self, 8)
    }

    static let csvHeader = ["id", "account_id", "name", "expires_at", "revoked_at", "status", "created_at"]

    var csvRow: [String?] {
        [id.lower, accountId.lower, name, expiresAt.map(Timestamp.rfc3339), revokedAt.map(Timestamp.rfc3339), status,
         Timestamp.rfc3339(createdAt)]
    }
}

/// `/v1/tokens`: an account creates, lists and revokes its own tokens; an admin also those of the
/// accounts of its subtree (Policy.requireTokenCreation / canManageTokens).
enum TokenRoutes {
    /// Latest expiry a token may be given at creation: one calendar year from now.
    static func latestExpiry(from now: Date) -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar.date(byAdding: .year, value: 1, to: now) ?? now.addingTimeInterval(365 * 24 * 3600)
    }

    static func register(on router: Router<AppContext>) {
        router.post("/v1/tokens", create)
        router.get("/v1/tokens", list)
        router.get("/v1/tokens/{id}", get)
        router.delete("/v1/tokens/{id}", revoke)
    }

    static func load(_ db: Connection, _ id: UUID) throws -> Token? {
        guard let row = try db.queryRow("SELECT \(Token.columns) FROM \(Token.from) WHERE t.id = $1", id) else { return nil }
        return try Token(row: row)
    }

    /// A token the caller manages, or 404 (others' tokens are never revealed).
    static func visible(_ db: Connection, _ request: Request, _ p: Principal) throws -> Token {
        guard let s = request.parameter("id"), let id = UUID(uuidString: s), let token = try load(db, id),
              Policy.canManageTokens(p, accountID: token.accountId, orgPath: token.orgPath) else {
            throw APIError.notFound("token")
        }
        return token
    }

    static func create(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        var input = try JSONInput(request)
        let accountID = input.uuid("account_id", required: false) ?? p.accountID
        let name = input.string("name", maxLength: 200)
        var expiresAt: Date? = nil
        if let s = input.string("expires_at", required: false, maxLength: 64) {
            if let d = Timestamp.parse(s) {
                let now = Date()
                if d <= now {
                    input.fail("expires_at", "out_of_range", "must be in the future")
                } else if d > latestExpiry(from: now) {
                    input.fail("expires_at", "out_of_range", "must be at most one year from now")
                } else {
                    expiresAt = d
                }
            } else {
                input.fail("expires_at", "format", "must be an RFC 3339 timestamp")
            }
        }
        try input.finish()
        guard let name else { throw APIError(status: 422, code: "validation_failed", detail: "Invalid body.") }

        return try ctx.db.transaction { db in
            guard let account = try AccountRoutes.load(db, accountID, forUpdate: true) else { throw APIError.notFound("account") }
            try Policy.requireTokenCreation(p, accountID: account.id, orgPath: account.orgPath)
            guard account.disabledAt == nil else {
                throw APIError(status: 409, code: "account_disabled", detail: "The account is disabled; it cannot get new tokens.",
                               extra: ["current_status": "disabled"])
            }
            let issued = try TokenIssuer.issue(db, accountID: account.id, name: name, expiresAt: expiresAt)
            try EventLog.append(db, type: "token.created", entityType: "token", entityID: issued.id, orgIDs: [account.orgId],
                                actor: p, requestID: request.requestID, data: ["account_id": account.id.lower])
            guard var token = try load(db, issued.id) else { throw APIError.notFound("token") }
            token.secret = issued.secret
            var response = try JSONOutput.resource(token, status: 201, location: "/v1/tokens/\(issued.id.lower)")
            // The secret is shown once: no cache keeps it, and Idempotency stores this answer without it.
            response.headers.set("cache-control", "no-store")
            return response
        }
    }

    static func get(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        var response = try JSONOutput.resource(try visible(ctx.db, request, p))
        let tag = ETag.content(response.body)
        if ETag.notModified(request, tag: tag) { return Response(status: 304, headers: ["etag": tag]) }
        response.headers.set("etag", tag)
        return response
    }

    /// Revocation is immediate (the principal cache of this process forgets the token once the
    /// revocation commits; other instances within its TTL) and idempotent: revoking a
    /// revoked token answers 204 again without a second event.
    static func revoke(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        let tokenID = try ctx.db.transaction { db in
            let token = try visible(db, request, p)
            let changed = try db.execute("UPDATE tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", token.id)
            if changed == 1 {
                try EventLog.append(db, type: "token.revoked", entityType: "token", entityID: token.id, orgIDs: [token.orgID],
                                    actor: p, requestID: request.requestID, data: ["account_id": token.accountId.lower])
            }
            return token.id
        }
        let principals = ctx.principals
        ctx.afterCommit { principals.invalidate(tokenID: tokenID) }
        return Response(status: 204)
    }

    static func list(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        let filter = try ListFilter(request)
        return try Listing.respond(request, ctx, csv: "tokens", header: Token.csvHeader, row: { $0.csvRow }) { db, after, limit in
            try fetch(db, p, filter, after: after, limit: limit)
        }
    }

    struct ListFilter: Sendable {
        var accountID: UUID?
        var status: String?

        init(_ request: Request) throws {
            accountID = try request.uuidQuery("account_id")
            if let v = request.query("status") {
                guard ["active", "expired", "revoked"].contains(v) else {
                    throw APIError.invalidParameter("status", "must be one of active, expired, revoked")
                }
                status = v
            }
        }
    }

    /// One keyset page of the tokens the caller manages, ordered by (created_at, id).
    static func fetch(_ db: Connection, _ p: Principal, _ f: ListFilter, after: [String]?, limit: Int) throws -> ([Token], [String]?) {
        let scope = Policy.tokenScopeSQL(p, accountColumn: "t.account_id", orgPathColumn: "o.path", param: 1)
        var conditions = [scope.sql]
        var params: [any PostgresEncodable] = [scope.value]
        func bind(_ v: any PostgresEncodable) -> Int { params.append(v); return params.count }
        if let v = f.accountID { conditions.append("t.account_id = $\(bind(v))") }
        switch f.status {
        case "active": conditions.append("t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())")
        case "expired": conditions.append("t.revoked_at IS NULL AND t.expires_at <= now()")
        case "revoked": conditions.append("t.revoked_at IS NOT NULL")
        default: break
        }
        if let c = try CreatedKeyset.condition(after: after, alias: "t", bind: bind) { conditions.append(c) }
        let sql = "SELECT \(Token.columns) FROM \(Token.from) WHERE \(conditions.joined(separator: " AND ")) "
            + "ORDER BY t.created_at, t.id LIMIT \(limit + 1)"
        let rows = try db.query(sql, parameters: params)
        return CreatedKeyset.page(try rows.map(Token.init(row:)), limit: limit) { ($0.createdAt, $0.id) }
    }
}
