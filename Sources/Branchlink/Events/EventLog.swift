import Foundation
import Postgres

/// Appends to the `events` table. Call inside the transaction that makes the change, so the event
/// exists exactly when the change does.
public enum EventLog {
    public static func append(_ db: Connection, type: String, entityType: String, entityID: UUID, orgIDs: [UUID],
                              actor: Principal?, requestID: String?, data: [String: Any] = [:]) throws {
        let json = try JSONSerialization.data(withJSONObject: data, options: [.sortedKeys])
        try db.execute("""
            INSERT INTO events (type, entity_type, entity_id, org_ids, actor_account_id, acting_for_org_id, request_id, data, delegation_id)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9)
            """, type, entityType, entityID, Array(Set(orgIDs)), actor?.accountID, actor?.orgID, requestID,
            String(decoding: json, as: UTF8.self), actor?.delegationID)
    }
}
