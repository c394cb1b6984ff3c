import Foundation
import HTTP
import Postgres

/// `/v1/organizations`: the one tree of party organizations. Creating, changing, moving and merging
/// nodes is registry administration (admin of an ancestor); everyone reads their subtree.
enum OrganizationRoutes {
    static func register(on router: Router<AppContext>) {
        router.post("/v1/organizations", create)
        router.get("/v1/organizations", list)
        router.get("/v1/organizations/{id}", get)
        router.patch("/v1/organizations/{id}", patch)
        router.post("/v1/organizations/{id}/move", move)
        router.post("/v1/organizations/{id}/merge", merge)
    }

    /// Loads an organization inside the caller's scope (404 otherwise).
    static func load(_ db: Connection, _ id: UUID, for p: Principal, forUpdate: Bool = false) throws -> Organization {
        guard let row = try db.queryRow(
            "SELECT \(Organization.columns) FROM \(Organization.from) WHERE o.id = $1" + (forUpdate ? " FOR UPDATE OF o" : ""), id),
              let org = Optional(try Organization(row: row)), Policy.contains(p, path: org.path) else {
            throw APIError.notFound("organization")
        }
        return org
    }

    static func pathID(_ request: Request, _ name: String = "id") throws -> UUID {
        try request.pathUUID(name, notFound: "organization")
    }

    static func create(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        try Policy.require(p, .administer)
        var input = try JSONInput(request)
        let parentID = input.uuid("parent_id")
        let kind = input.enumeration("kind", OrgKind.self)
        let sector = input.enumeration("sector", OrgSector.self)
        let code = input.string("code", maxLength: 64, pattern: "^[A-Za-z0-9._-]+$")
        let name = input.string("name", maxLength: 300)
        let validFrom = input.date("valid_from", required: false)
        try input.finish()
        guard let parentID, let kind, let sector, let code, let name else { return .json(500, "{}") }

        return try ctx.db.transaction { db in
            let parent = try load(db, parentID, for: p)
            try checkPlacement(kind: kind, sector: sector, parentKind: parent.kind)
            guard parent.validTo == nil else {
                throw APIError(status: 409, code: "organization_closed", detail: "The parent organization is closed (merged or dissolved).")
            }
            let id = UUID()
            do {
                try db.execute("""
                    INSERT INTO organizations (id, parent_id, path, kind, sector, code, name, valid_from)
                    VALUES ($1, $2, $3::ltree || org_label($1), $4, $5, $6, $7, COALESCE($8, CURRENT_DATE))
                    """, id, parentID, parent.path, kind.rawValue, sector.rawValue, code, name, validFrom)
            } catch let e as PostgresError where e.kind == .uniqueViolation {
                throw APIError(status: 409, code: "already_exists", detail: "An organization with code \(code) already exists.",
                               errors: [FieldError(pointer: "/code", code: "already_exists", message: "is already used")])
            }
            try EventLog.append(db, type: "organization.created", entityType: "organization", entityID: id,
                                orgIDs: [id, parentID], actor: p, requestID: request.requestID, data: ["kind": kind.rawValue])
            let org = try load(db, id, for: p)
            return try JSONOutput.resource(org, status: 201, version: org.version, location: "/v1/organizations/\(id.lower)")
        }
    }

    static func checkPlacement(kind: OrgKind, sector: OrgSector, parentKind: String, parentPointer: String = "/parent_id") throws {
        guard let pk = OrgKind(rawValue: parentKind), kind.allowedParents.contains(pk) else {
            throw APIError(status: 422, code: "invalid_parent", detail: "A \(kind.rawValue) cannot be placed under a \(parentKind).",
                           errors: [FieldError(pointer: parentPointer, code: "invalid_parent", message: "cannot hold a \(kind.rawValue)")])
        }
        guard kind.allowedSectors.contains(sector) else {
            throw APIError(status: 422, code: "validation_failed", detail: "Sector \(sector.rawValue) does not fit kind \(kind.rawValue).",
                           errors: [FieldError(pointer: "/sector", code: "invalid_value", message: "does not fit kind \(kind.rawValue)")])
        }
    }

    static func get(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        let org = try load(ctx.db, try pathID(request), for: p)
        if let notModified = ETag.notModified(request, version: org.version) { return notModified }
        return try JSONOutput.resource(org, version: org.version)
    }

    static func list(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        let filter = try ListFilter(request)
        return try Listing.respond(request, ctx, csv: "organizations", header: Organization.csvHeader, row: { $0.csvRow },
                                   encode: { try $0.encoded() }) { db, after, limit in
            try fetch(db, p, filter, after: after, limit: limit)
        }
    }

    /// The list's filters, parsed and validated once.
    struct ListFilter: Sendable {
        var parentID: UUID?
        var kind: String?
        var subtreeOf: UUID?
        var q: String?

        init(_ request: Request) throws {
            parentID = try request.uuidQuery("parent_id")
            if let v = request.query("kind") {
                guard OrgKind(rawValue: v) != nil else {
                    throw APIError.invalidParameter("kind", "must be one of " + OrgKind.allCases.map(\.rawValue).joined(separator: ", "))
                }
                kind = v
            }
            subtreeOf = try request.uuidQuery("subtree_of")
            if let q = request.query("q"), !q.isEmpty {
                guard q.count <= 100 else { throw APIError.invalidParameter("q", "must be at most 100 characters") }
                self.q = q
            }
        }
    }

    /// One keyset page of the caller's visible organizations, ordered by (created_at, id).
    static func fetch(_ db: Connection, _ p: Principal, _ f: ListFilter, after: [String]?, limit: Int) throws -> ([Organization], [String]?) {
        var conditions = [Policy.subtreeSQL("o.path", param: 1)]
        var params: [any PostgresEncodable] = [p.orgPath]
        func bind(_ v: any PostgresEncodable) -> Int { params.append(v); return params.count }
        if let v = f.parentID { conditions.append("o.parent_id = $\(bind(v))") }
        if let v = f.kind { conditions.append("o.kind = $\(bind(v))") }
        if let v = f.subtreeOf { conditions.append("o.path <@ (SELECT path FROM organizations WHERE id = $\(bind(v)))") }
        if let q = f.q {
            let n = bind(q)
            conditions.append("(search_key(o.name) LIKE '%' || search_key($\(n)) || '%' OR o.code = $\(n))")
        }
        if let c = try CreatedKeyset.condition(after: after, alias: "o", bind: bind) { conditions.append(c) }
        let sql = "SELECT \(Organization.columns) FROM \(Organization.from) WHERE \(conditions.joined(separator: " AND ")) "
            + "ORDER BY o.created_at, o.id LIMIT \(limit + 1)"
        let rows = try db.query(sql, parameters: params)
        return CreatedKeyset.page(try rows.map(Organization.init(row:)), limit: limit) { ($0.createdAt, $0.id) }
    }

    static func patch(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        let id = try pathID(request)
        var input = try JSONInput(request)
        let name = input.has("name") ? input.string("name", maxLength: 300) : nil
        let code = input.has("code") ? input.string("code", maxLength: 64, pattern: "^[A-Za-z0-9._-]+$") : nil
        let sector = input.has("sector") ? input.enumeration("sector", OrgSector.self) : nil
        let validTo = input.has("valid_to") && !input.isNull("valid_to") ? input.date("valid_to") : nil
        let clearValidTo = input.has("valid_to") && input.isNull("valid_to")
        if clearValidTo { _ = input.string("valid_to", required: false) }  // an explicit null reopens
        try input.finish()

        return try ctx.db.transaction { db in
            let org = try load(db, id, for: p, forUpdate: true)
            try Policy.require(p, .administer, at: org.path, what: "organization")
            try ETag.checkIfMatch(request, version: org.version)
            if let sector, let kind = OrgKind(rawValue: org.kind), !kind.allowedSectors.contains(sector) {
                throw APIError(status: 422, code: "validation_failed", detail: "Sector \(sector.rawValue) does not fit kind \(org.kind).",
                               errors: [FieldError(pointer: "/sector", code: "invalid_value", message: "does not fit kind \(org.kind)")])
            }
            var changed: [String] = []
            if name != nil { changed.append("name") }
            if code != nil { changed.append("code") }
            if sector != nil { changed.append("sector") }
            if validTo != nil || clearValidTo { changed.append("valid_to") }
            do {
                try db.execute("""
                    UPDATE organizations SET name = COALESCE($2, name), code = COALESCE($3, code), sector = COALESCE($4, sector),
                        valid_to = CASE WHEN $5 THEN NULL ELSE COALESCE($6, valid_to) END,
                        updated_at = now(), version = version + 1
                    WHERE id = $1
                    """, id, name, code, sector?.rawValue, clearValidTo, validTo)
            } catch let e as PostgresError where e.kind == .uniqueViolation {
                throw APIError(status: 409, code: "already_exists", detail: "Another organization already uses this code.",
                               errors: [FieldError(pointer: "/code", code: "already_exists", message: "is already used")])
            } catch let e as PostgresError where e.kind == .checkViolation {
                throw APIError(status: 422, code: "validation_failed", detail: "valid_to must not be before valid_from.",
                               errors: [FieldError(pointer: "/valid_to", code: "out_of_range", message: "must not be before valid_from")])
            }
            try EventLog.append(db, type: "organization.updated", entityType: "organization", entityID: id,
                                orgIDs: [id] + (org.parentId.map { [$0] } ?? []), actor: p, requestID: request.requestID,
                                data: ["fields": changed])
            let updated = try load(db, id, for: p)
            return try JSONOutput.resource(updated, version: updated.version)
        }
    }
}
