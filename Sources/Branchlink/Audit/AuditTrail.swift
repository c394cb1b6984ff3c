import Crypto
import Foundation
import HTTP
import Postgres

/// Audits every write: installed after `Authentication`, `ActingFor` and `Idempotency`, it runs a
/// POST/PUT/PATCH/DELETE handler inside one transaction (the handlers' own `transaction {}` calls
/// become savepoints in it) and, when the response is below 400, appends the audit record as the
/// last statement of that transaction. So a change exists exactly when its record does; a failed
/// or refused write (a thrown error or a 4xx/5xx answer) is rolled back and leaves no record. An
/// Idempotency-Key replay never reaches this middleware: it is not a second write.
///
/// Entity and fields default to the route (`AuditFields.entity`), the path id or the created
/// resource's `id`, the request body's top-level names and the response's new `status`; handlers
/// refine them through `AppContext.audit`.
struct AuditTrail: Middleware {
    static let writeMethods: Set<String> = ["POST", "PUT", "PATCH", "DELETE"]

    func handle(_ request: Request, context: AppContext, next: (Request, AppContext) throws -> Response) throws -> Response {
        guard Self.writeMethods.contains(request.method) else { return try next(request, context) }
        let note = AuditNote()
        context.audit = note
        context.commitHooks = []
        defer { context.audit = nil; context.commitHooks = nil }
        let response: Response
        do {
            response = try context.db.transaction { db in
                let response = try next(request, context)
                guard response.status < 400 else { throw Unsuccessful(response: response) }
                let p = try context.caller()
                try AuditChain.append(db, AuditChain.Entry(request: request, response: response, principal: p, note: note))
                return response
            }
        } catch let u as Unsuccessful {
            return u.response
        }
        let hooks = context.commitHooks ?? []
        context.commitHooks = nil
        for hook in hooks { hook() }
        return response
    }

    /// A response of 400 or more: the transaction is rolled back and the response returned as is.
    private struct Unsuccessful: Error { let response: Response }
}

/// Appends to and reads `audit_records`.
public enum AuditChain {
    /// Key of the transaction-scoped advisory lock that serializes appends, so that each record
    /// links to the one committed just before it. Taken as late as possible (the append is the
    /// transaction's last statement), it is held only from there until COMMIT. `audit_head()`
    /// (migration 0011) takes it with this number.
    public static let lockKey: Int64 = 0x626C_6175_6469_7431  // "blaudit1"

    /// A record before its place in the chain (sequence, time and hashes) is known.
    public struct Entry: Sendable {
        public var accountID: UUID?
        public var accountOrgID: UUID?
        public var orgID: UUID?
        public var delegationID: UUID?
        public var action: String
        public var status: Int
        public var entityType: String?
        public var entityID: UUID?
        public var fields: [String: String?]
        public var requestID: String?
        public var bodySHA256: [UInt8]

        public init(accountID: UUID? = nil, accountOrgID: UUID? = nil, orgID: UUID? = nil, delegationID: UUID? = nil, action: String,
                    status: Int = 200, entityType: String? = nil, entityID: UUID? = nil, fields: [String: String?] = [:],
                    requestID: String? = nil, body: [UInt8] = []) {
            self.accountID = accountID; self.accountOrgID = accountOrgID; self.orgID = orgID; self.delegationID = delegationID
            self.action = action; self.status = status; self.entityType = entityType; self.entityID = entityID
            self.fields = fields; self.requestID = requestID; self.bodySHA256 = Array(SHA256.hash(data: body))
        }

        init(request: Request, response: Response, principal p: Principal, note: AuditNote) {
            let (defaultType, idParameter) = AuditFields.entity(route: request.route)
            let answer = AuditFields.fromResponse(response.body)
            var fields = AuditFields.fromBody(request.body)
            if let status = answer.status { fields["status"] = status }
            for (k, v) in note.fields { fields[k] = v }
            let pathID = idParameter.flatMap { request.parameter($0) }.flatMap(UUID.init(uuidString:))
            self.init(accountID: p.accountID, accountOrgID: p.accountOrgID, orgID: p.orgID, delegationID: p.delegationID,
                      action: "\(request.method) \(request.route)", status: response.status,
                      entityType: note.entityType ?? defaultType, entityID: note.entityID ?? pathID ?? answer.id,
                      fields: fields, requestID: request.requestID, body: request.body)
        }
    }

    /// Appends `entry` inside the caller's open transaction and returns the record: `audit_head()`
    /// (migration 0011) takes the lock and reads the head in one round trip, the record is hashed
    /// here and inserted; the lock is then held only until COMMIT.
    @discardableResult
    public static func append(_ db: Connection, _ entry: Entry) throws -> AuditRecord {
        precondition(db.inTransaction, "the audit record must be written in the transaction of the change")
        var object: [String: Any] = [:]
        for (k, v) in entry.fields { object[k] = v ?? NSNull() }
        let json = String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
        guard let head = try db.queryRow("SELECT head_sequence, head_hash, now_micros FROM audit_head()") else {
            throw APIError(status: 500, code: "internal_error", detail: "The audit chain head could not be read.")
        }
        var record = AuditRecord(
            sequence: Int64(try head.decode(Int?.self, 0) ?? 0) + 1, atMicros: Int64(try head.decode(Int.self, 2)),
            accountID: entry.accountID, accountOrgID: entry.accountOrgID, orgID: entry.orgID, delegationID: entry.delegationID,
            action: entry.action, status: entry.status, entityType: entry.entityType, entityID: entry.entityID, fields: entry.fields,
            requestID: entry.requestID, bodySHA256: entry.bodySHA256, prevHash: try head.decode([UInt8]?.self, 1) ?? AuditRecord.genesis,
            hash: [])
        record.hash = record.computedHash
        try db.execute("""
            INSERT INTO audit_records (sequence, at, account_id, account_org_id, org_id, delegation_id, action, status, entity_type,
                                       entity_id, fields, request_id, body_sha256, prev_hash, hash)
            VALUES ($1, timestamptz 'epoch' + $2::bigint * interval '1 microsecond', $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12,
                    $13, $14, $15)
            """, Int(record.sequence), Int(record.atMicros), record.accountID, record.accountOrgID, record.orgID, record.delegationID,
            record.action, record.status, record.entityType, record.entityID, json, record.requestID, record.bodySHA256,
            record.prevHash, record.hash)
        return record
    }

    /// Columns read back into an `AuditRecord` by `record(row:)`, from `audit_records a`.
    static let columns = """
        a.sequence, (extract(epoch FROM a.at) * 1000000)::bigint, a.account_id, a.account_org_id, a.org_id, a.delegation_id,
        a.action, a.status, a.entity_type, a.entity_id, a.fields::text, a.request_id, a.body_sha256, a.prev_hash, a.hash
        """

    static func record(row: Row) throws -> AuditRecord {
        var fields: [String: String?] = [:]
        if let object = try JSONSerialization.jsonObject(with: Data(try row.decode(String.self, 10).utf8)) as? [String: Any] {
            for (k, v) in object { fields[k] = .some(v as? String) }
        }
        return AuditRecord(
            sequence: Int64(try row.decode(Int.self, 0)), atMicros: Int64(try row.decode(Int.self, 1)),
            accountID: try row.decode(UUID?.self, 2), accountOrgID: try row.decode(UUID?.self, 3), orgID: try row.decode(UUID?.self, 4),
            delegationID: try row.decode(UUID?.self, 5), action: try row.decode(String.self, 6), status: try row.decode(Int.self, 7),
            entityType: try row.decode(String?.self, 8), entityID: try row.decode(UUID?.self, 9), fields: fields,
            requestID: try row.decode(String?.self, 11), bodySHA256: try row.decode([UInt8].self, 12),
            prevHash: try row.decode([UInt8].self, 13), hash: try row.decode([UInt8].self, 14))
    }
}
