import Foundation
import Postgres

/// Demo delegations: the demo commune has let the secretary of its residential branch act for it,
/// once for a period that has ended (expired) and once now, for 30 days from the first demo start
/// (active), so `Acting-For` can be tried with the demo tokens. Added once, with their events and
/// one audit record (the demo set-up is not a request, so it is audited as one system record).
enum DemoDelegations {
    static func ensure(_ db: Connection, commune: UUID, grantor: UUID, delegate: UUID) throws {
        let existing = try db.queryRow("SELECT count(*) FROM delegations WHERE org_id = $1 AND grantor_account_id = $2", commune, grantor)
        guard try existing?.decode(Int.self, 0) == 0 else { return }
        let periods = [("expired", "now() - interval '60 days'", "now() - interval '30 days'", "Nghỉ phép tháng trước"),
                       ("active", "now()", "now() + interval '30 days'", "Đi học tập trung")]
        var ids: [UUID] = []
        for (_, from, until, reason) in periods {
            guard let row = try db.queryRow("""
                INSERT INTO delegations (org_id, grantor_account_id, delegate_account_id, valid_from, valid_until, reason)
                VALUES ($1, $2, $3, \(from), \(until), $4) RETURNING id
                """, commune, grantor, delegate, reason) else { continue }
            let id = try row.decode(UUID.self, 0)
            ids.append(id)
            try EventLog.append(db, type: "delegation.created", entityType: "delegation", entityID: id, orgIDs: [commune],
                                actor: nil, requestID: nil, data: ["delegate_account_id": delegate.lower, "via": "demo"])
        }
        try AuditChain.append(db, AuditChain.Entry(orgID: commune, action: "demo.delegations", entityType: "delegation",
                                                   fields: ["delegate_account_id": delegate.lower, "created": String(ids.count)]))
    }
}
