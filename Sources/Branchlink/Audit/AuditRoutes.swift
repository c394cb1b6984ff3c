import Foundation
import HTTP
import Postgres

/// `GET /v1/audit`: the audit records of the caller's subtree (records whose acting organization or
/// whose account's organization lies in it), oldest first, keyset-paged by sequence, as JSON or
/// CSV. `GET /v1/audit/verify`: walks the whole chain (or `from`..`to`) and names the first broken
/// record; admins only, as it reads records of every organization (it reveals only sequences).
enum AuditRoutes {
    static func register(on router: Router<AppContext>) {
        router.get("/v1/audit", list)
        router.get("/v1/audit/verify", verify)
    }

    struct ListFilter: Sendable {
        var accountID: UUID?
        var entityType: String?
        var entityID: UUID?
        var action: String?
        var from: String?
        var to: String?

        init(_ request: Request) throws {
            accountID = try request.uuidQuery("account_id")
            entityID = try request.uuidQuery("entity_id")
            for (name, maxLength) in [("entity_type", 64), ("action", 200)] {
                if let v = request.query(name), v.count > maxLength {
                    throw APIError.invalidParameter(name, "must be at most \(maxLength) characters")
                }
            }
            entityType = request.query("entity_type")
            action = request.query("action")
            for name in ["from", "to"] {
                if let v = request.query(name) {
                    guard Timestamp.parse(v) != nil else { throw APIError.invalidParameter(name, "must be an RFC 3339 timestamp") }
                    if name == "from" { from = v } else { to = v }
                }
            }
        }
    }

    static func list(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        let filter = try ListFilter(request)
        return try Listing.respond(request, ctx, csv: "audit", header: csvHeader, row: csvRow, keyCount: 1, encode: json) { db, after, limit in
            try fetch(db, p, filter, after: after, limit: limit)
        }
    }

    static func fetch(_ db: Connection, _ p: Principal, _ f: ListFilter, after: [String]?, limit: Int) throws -> ([AuditRecord], [String]?) {
        var params: [any PostgresEncodable] = [p.orgPath]
        func bind(_ v: any PostgresEncodable) -> Int { params.append(v); return params.count }
        // The subtree's ids once (a hashed subplan), probed for both columns of every record.
        var conditions = ["""
            (a.org_id IN (SELECT o.id FROM organizations o WHERE o.path <@ $1::ltree)
             OR a.account_org_id IN (SELECT o.id FROM organizations o WHERE o.path <@ $1::ltree))
            """]
        if let v = f.accountID { conditions.append("a.account_id = $\(bind(v))") }
        if let v = f.entityType { conditions.append("a.entity_type = $\(bind(v))") }
        if let v = f.entityID { conditions.append("a.entity_id = $\(bind(v))") }
        if let v = f.action { conditions.append("a.action = $\(bind(v))") }
        if let v = f.from { conditions.append("a.at >= $\(bind(v))::text::timestamptz") }
        if let v = f.to { conditions.append("a.at < $\(bind(v))::text::timestamptz") }
        if let after {
            guard after.count == 1, let s = Int(after[0]) else {
                throw APIError(status: 400, code: "invalid_cursor", detail: "The cursor is not one this list issued.")
            }
            conditions.append("a.sequence > $\(bind(s))")
        }
        let rows = try db.query("""
            SELECT \(AuditChain.columns) FROM audit_records a WHERE \(conditions.joined(separator: " AND "))
            ORDER BY a.sequence LIMIT \(limit + 1)
            """, parameters: params)
        let records = try rows.map(AuditChain.record(row:))
        let items = Array(records.prefix(limit))
        guard records.count > limit, let last = items.last else { return (items, nil) }
        return (items, [String(last.sequence)])
    }

    static func at(_ r: AuditRecord) -> String { Timestamp.rfc3339(Date(timeIntervalSince1970: Double(r.atMicros) / 1_000_000)) }

    static func json(_ r: AuditRecord) -> [UInt8] {
        var j = JSONBytes()
        func id(_ u: UUID?) { if let u { j.uuid(u) } else { j.null() } }
        j.raw("{\"sequence\":"); j.int(Int(r.sequence))
        j.raw(",\"at\":"); j.string(at(r))
        j.raw(",\"account_id\":"); id(r.accountID)
        j.raw(",\"account_org_id\":"); id(r.accountOrgID)
        j.raw(",\"org_id\":"); id(r.orgID)
        j.raw(",\"acting_for\":")
        if let d = r.delegationID {
            j.raw("{\"delegation_id\":"); j.uuid(d); j.raw(",\"org_id\":"); id(r.orgID); j.raw("}")
        } else {
            j.null()
        }
        j.raw(",\"action\":"); j.string(r.action)
        j.raw(",\"status\":"); j.int(r.status)
        j.raw(",\"entity\":{\"type\":"); j.string(r.entityType); j.raw(",\"id\":"); id(r.entityID); j.raw("}")
        j.raw(",\"fields\":{")
        for (i, (name, value)) in r.fields.sorted(by: { $0.key < $1.key }).enumerated() {
            if i > 0 { j.raw(",") }
            j.string(name); j.raw(":"); j.string(value)
        }
        j.raw("},\"request_id\":"); j.string(r.requestID)
        j.raw(",\"body_sha256\":"); j.string(AuditRecord.hex(r.bodySHA256))
        j.raw(",\"prev_hash\":"); j.string(AuditRecord.hex(r.prevHash))
        j.raw(",\"hash\":"); j.string(AuditRecord.hex(r.hash))
        j.raw("}")
        return j.bytes
    }

    static let csvHeader = ["sequence", "at", "account_id", "account_org_id", "org_id", "delegation_id", "action", "status", "entity_type",
                            "entity_id", "fields", "request_id", "body_sha256", "prev_hash", "hash"]

    @Sendable static func csvRow(_ r: AuditRecord) -> [String?] {
        let fields = r.fields.sorted { $0.key < $1.key }.map { k, v in v.map { "\(k)=\($0)" } ?? k }.joined(separator: ";")
        return [String(r.sequence), at(r), r.accountID?.lower, r.accountOrgID?.lower, r.orgID?.lower, r.delegationID?.lower, r.action,
                String(r.status), r.entityType, r.entityID?.lower, fields, r.requestID, AuditRecord.hex(r.bodySHA256),
                AuditRecord.hex(r.prevHash), AuditRecord.hex(r.hash)]
    }

    static func verify(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        guard p.role == .admin else { throw APIError.forbidden("Only an admin account can verify the audit chain.") }
        func bound(_ name: String) throws -> Int64? {
            guard let v = request.query(name) else { return nil }
            guard let n = Int64(v), n >= 1 else { throw APIError.invalidParameter(name, "must be a sequence number (1 or more)") }
            return n
        }
        let from = try bound("from") ?? 1
        let to = try bound("to")
        if let to, to < from { throw APIError.invalidParameter("to", "must not be below from") }
        let started = DispatchTime.now().uptimeNanoseconds
        // One snapshot for the whole walk: records appended meanwhile are not half-seen.
        let result = try ctx.db.transaction(isolation: .repeatableRead, readOnly: true) { db in
            try AuditVerifier.verify(db, from: from, to: to)
        }
        let ms = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
        var j = JSONBytes()
        j.raw("{\"intact\":"); j.raw(result.intact ? "true" : "false")
        j.raw(",\"from\":"); j.int(Int(from))
        j.raw(",\"to\":"); if let to { j.int(Int(to)) } else { j.null() }
        j.raw(",\"checked\":"); j.int(result.checked)
        j.raw(",\"first_broken\":")
        if let s = result.firstBroken {
            j.raw("{\"sequence\":"); j.int(Int(s)); j.raw(",\"reason\":"); j.string(result.reason); j.raw("}")
        } else {
            j.null()
        }
        j.raw(",\"last\":")
        if let s = result.lastSequence, let h = result.lastHash {
            j.raw("{\"sequence\":"); j.int(Int(s)); j.raw(",\"hash\":"); j.string(AuditRecord.hex(h)); j.raw("}")
        } else {
            j.null()
        }
        j.raw(",\"elapsed_ms\":"); j.int(Int(ms.rounded()))
        j.raw("}")
        return .json(200, j.bytes)
    }
}
