import Foundation
import HTTP
import Postgres

/// An account: one organization, one role (`officer`, `viewer`, `admin`). Its bearer tokens are
/// `Token`s (TokenRoutes). A disabled account keeps its history; its tokens stop working at once
/// (Authentication checks `disabled_at` on every request).
public struct Account: Encodable, Sendable {
    public var id: UUID
    public var orgId: UUID
    public var role: String
    public var name: String
    public var disabledAt: Date?
    public var createdAt: Date
    public var updatedAt: Date
    public var version: Int
    var orgPath: String

    enum CodingKeys: String, CodingKey {
        case id, orgId, role, name, disabledAt, createdAt, updatedAt, version
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id.lower, forKey: .id)
        try c.encode(orgId.lower, forKey: .orgId)
        try c.encode(role, forKey: .role)
        try c.encode(name, forKey: .name)
        try c.encode(disabledAt, forKey: .disabledAt)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(updatedAt, forKey: .updatedAt)
        try c.encode(version, forKey: .version)
    }

    static let columns = "a.id, a.org_id, a.role, a.name, a.disabled_at, a.created_at, a.updated_at, a.version, o.path::text"
    static let from = "accounts a JOIN organizations o ON o.id = a.org_id"

    init(row: Row) throws {
        id = try row.decode(UUID.self, 0)
        orgId = try row.decode(UUID.self, 1)
        role = try row.decode(String.self, 2)
        name = try row.decode(String.self, 3)
        disabledAt = try row.decode(Date?.self, 4)
        createdAt = try row.decode(Date.self, 5)
        updatedAt = try row.decode(Date.self, 6)
        version = try row.decode(Int.self, 7)
        orgPath = try row.decode(String.self, 8)
    }

    static let csvHeader = ["id", "org_id", "role", "name", "disabled_at", "created_at", "updated_at", "version"]

    var csvRow: [String?] {
        [id.lower, orgId.lower, role, name, disabledAt.map(Timestamp.rfc3339), Timestamp.rfc3339(createdAt),
         Timestamp.rfc3339(updatedAt), String(version)]
    }
}

/// `/v1/me` and `/v1/accounts`: who the caller is; accounts of an organization subtree, created and
/// disabled by its admins, read by its admins and viewers (Policy decides every case).
enum AccountRoutes {
    static func register(on router: Router<AppContext>) {
        router.get("/v1/me", me)
        router.post("/v1/accounts", create)
        router.get("/v1/accounts", list)
        router.get("/v1/accounts/{id}", get)
        router.post("/v1/accounts/{id}/disable", disable)
    }

    /// Loads an account (no scope check: callers apply the Policy rule that fits their action).
    static func load(_ db: Connection, _ id: UUID, forUpdate: Bool = false) throws -> Account? {
        guard let row = try db.queryRow(
            "SELECT \(Account.columns) FROM \(Account.from) WHERE a.id = $1" + (forUpdate ? " FOR UPDATE OF a" : ""), id) else { return nil }
        return try Account(row: row)
    }

    static func pathID(_ request: Request) throws -> UUID {
        try request.pathUUID(notFound: "account")
    }

    // MARK: - /v1/me

    struct Me: Encodable {
        struct AccountRef: Encodable { var id: String; var name: String }
        struct OrganizationRef: Encodable { var id: String; var code: String; var name: String; var kind: String }
        struct TokenRef: Encodable {
            var id: String; var name: String; var expiresAt: Date?
            enum CodingKeys: String, CodingKey { case id, name, expiresAt }
            func encode(to encoder: any Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(id, forKey: .id)
                try c.encode(name, forKey: .name)
                try c.encode(expiresAt, forKey: .expiresAt)
            }
        }
        var account: AccountRef
        var role: String
        var organization: OrganizationRef
        var token: TokenRef
    }

    static func me(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        guard let row = try ctx.db.queryRow("""
            SELECT o.code, o.name, o.kind, t.name, t.expires_at
            FROM tokens t JOIN accounts a ON a.id = t.account_id JOIN organizations o ON o.id = a.org_id
            WHERE t.id = $1
            """, p.tokenID) else { throw APIError.unauthenticated }
        let me = Me(
            account: .init(id: p.accountID.lower, name: p.accountName),
            role: p.role.rawValue,
            organization: .init(id: p.accountOrgID.lower, code: try row.decode(String.self, 0), name: try row.decode(String.self, 1),
                                kind: try row.decode(String.self, 2)),
            token: .init(id: p.tokenID.lower, name: try row.decode(String.self, 3), expiresAt: try row.decode(Date?.self, 4)))
        return try JSONOutput.resource(me)
    }

    // MARK: - /v1/accounts

    static func create(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        try Policy.require(p, .administer)
        var input = try JSONInput(request)
        let orgID = input.uuid("org_id")
        let role = input.enumeration("role", Role.self)
        let name = input.string("name", maxLength: 200)
        try input.finish()
        guard let orgID, let role, let name else { throw APIError(status: 422, code: "validation_failed", detail: "Invalid body.") }

        return try ctx.db.transaction { db in
            guard let org = try db.queryRow("SELECT path::text FROM organizations WHERE id = $1", orgID) else {
                throw APIError.notFound("organization")
            }
            try Policy.require(p, .administer, at: try org.decode(String.self, 0), what: "organization")
            let id = UUID()
            try db.execute("INSERT INTO accounts (id, org_id, role, name) VALUES ($1, $2, $3, $4)", id, orgID, role.rawValue, name)
            try EventLog.append(db, type: "account.created", entityType: "account", entityID: id, orgIDs: [orgID],
                                actor: p, requestID: request.requestID, data: ["role": role.rawValue])
            guard let account = try load(db, id) else { throw APIError.notFound("account") }
            return try JSONOutput.resource(account, status: 201, version: account.version, location: "/v1/accounts/\(id.lower)")
        }
    }

    static func get(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        guard let account = try load(ctx.db, try pathID(request)) else { throw APIError.notFound("account") }
        try Policy.requireAccountRead(p, accountID: account.id, orgPath: account.orgPath)
        if let notModified = ETag.notModified(request, version: account.version) { return notModified }
        return try JSONOutput.resource(account, version: account.version)
    }

    static func disable(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        let id = try pathID(request)
        var input = try JSONInput(request)
        try input.finish()
        let response = try ctx.db.transaction { db in
            guard let account = try load(db, id, forUpdate: true) else { throw APIError.notFound("account") }
            try Policy.require(p, .administer, at: account.orgPath, what: "account")
            try ETag.checkIfMatch(request, version: account.version)
            guard account.disabledAt == nil else {
                throw APIError(status: 409, code: "account_disabled", detail: "The account is already disabled.",
                               extra: ["current_status": "disabled"])
            }
            try db.execute("UPDATE accounts SET disabled_at = now(), updated_at = now(), version = version + 1 WHERE id = $1", id)
            try EventLog.append(db, type: "account.disabled", entityType: "account", entityID: id, orgIDs: [account.orgId],
                                actor: p, requestID: request.requestID)
            guard let updated = try load(db, id) else { throw APIError.notFound("account") }
            return try JSONOutput.resource(updated, version: updated.version)
        }
        let principals = ctx.principals
        ctx.afterCommit { principals.invalidate(accountID: id) }
        return response
    }

    static func list(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        try Policy.requireAccountListing(p)
        let filter = try ListFilter(request)
        return try Listing.respond(request, ctx, csv: "accounts", header: Account.csvHeader, row: { $0.csvRow }) { db, after, limit in
            try fetch(db, p, filter, after: after, limit: limit)
        }
    }

    struct ListFilter: Sendable {
        var orgID: UUID?
        var role: Role?
        var disabled: Bool?

        init(_ request: Request) throws {
            orgID = try request.uuidQuery("org_id")
            if let v = request.query("role") {
                guard let r = Role(rawValue: v) else {
                    throw APIError.invalidParameter("role", "must be one of " + Role.allCases.map(\.rawValue).joined(separator: ", "))
                }
                role = r
            }
            disabled = try request.boolQuery("disabled")
        }
    }

    /// One keyset page of the accounts of the caller's subtree, ordered by (created_at, id).
    static func fetch(_ db: Connection, _ p: Principal, _ f: ListFilter, after: [String]?, limit: Int) throws -> ([Account], [String]?) {
        var conditions = [Policy.subtreeSQL("o.path", param: 1)]
        var params: [any PostgresEncodable] = [p.orgPath]
        func bind(_ v: any PostgresEncodable) -> Int { params.append(v); return params.count }
        if let v = f.orgID { conditions.append("a.org_id = $\(bind(v))") }
        if let v = f.role { conditions.append("a.role = $\(bind(v.rawValue))") }
        if let v = f.disabled { conditions.append(v ? "a.disabled_at IS NOT NULL" : "a.disabled_at IS NULL") }
        if let c = try CreatedKeyset.condition(after: after, alias: "a", bind: bind) { conditions.append(c) }
        let sql = "SELECT \(Account.columns) FROM \(Account.from) WHERE \(conditions.joined(separator: " AND ")) "
            + "ORDER BY a.created_at, a.id LIMIT \(limit + 1)"
        let rows = try db.query(sql, parameters: params)
        return CreatedKeyset.page(try rows.map(Account.init(row:)), limit: limit) { ($0.createdAt, $0.id) }
    }
}
