import Foundation
import Postgres

/// Closes open escalations whose item no longer waits in the escalated step (answered, cancelled,
/// sent on to its next step, due date moved, withdrawn): the parent's inbox shows only escalations
/// that still mean something. Each is resolved once, with an `escalation.resolved` event; the
/// UPDATE re-checks `status = 'open'` under the row lock, so a concurrent acknowledgement or another
/// instance's resolver never makes it happen twice. Open escalations are few (partial index).
public struct EscalationResolver: ScheduledTask {
    public let name = "escalation_resolver"
    public init() {}

    public func runOnce(db: Connection, now: Date) throws -> Int {
        var resolved = 0
        for s in WaitingSource.all {
            let row = try db.queryRow("""
                WITH gone AS (
                    UPDATE escalations e SET status = 'resolved', awaiting_org_id = NULL, due_on = NULL, resolved_at = now(),
                        updated_at = now(), version = e.version + 1
                    WHERE e.status = 'open' AND e.item_kind = '\(s.kind)' AND NOT EXISTS (
                        SELECT 1 FROM \(s.table) x WHERE x.id = e.item_id AND x.awaiting_org_id IS NOT NULL AND \(s.live)
                          AND (\(s.stepKey)) = e.step_key)
                    RETURNING e.id, e.item_id, e.step, e.org_ids
                ),
                ev AS (
                    INSERT INTO events (type, entity_type, entity_id, org_ids, data)
                    SELECT 'escalation.resolved', 'escalation', g.id, g.org_ids,
                           jsonb_build_object('item', jsonb_build_object('kind', '\(s.kind)', 'id', g.item_id), 'step', g.step,
                                              'as_of', $1::text::date)
                    FROM gone g
                    RETURNING 1
                )
                SELECT count(*)::int FROM ev
                """, ReminderRule.today(now).description)
            resolved += try row!.decode(Int.self, 0)
        }
        return resolved
    }
}
