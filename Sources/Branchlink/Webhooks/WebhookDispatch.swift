import Foundation
import Postgres

/// Turns events into deliveries, per subscription, gap-free in the event feed's order.
///
/// Each subscription has a cursor (webhook_cursors) in the feed's (xid, sequence) order. A page
/// takes the subscription's matching, visible events after the cursor whose transaction id is
/// below the reading statement's snapshot xmin — every transaction with a smaller id has ended, so
/// no event can appear there later — and inserts a delivery for each, in the same transaction that
/// moves the cursor: a crash loses nothing and duplicates nothing (UNIQUE (subscription, event)).
/// A page that is not full moves the cursor to (xmin - 1, max), as the feed does (EventFeedRoutes).
/// Visibility is the feed's own rule (`Policy.eventVisibleSQL`) for the subscription's
/// organization, confidential requests included. Cursors are locked with SKIP LOCKED: instances
/// (and threads) dispatch different subscriptions at the same time, never the same one twice.
enum WebhookDispatch {
    static let pageSize = 500
    static let maxPagesPerSubscription = 20

    /// Dispatches every subscription not being dispatched elsewhere; returns the deliveries created.
    static func run(_ db: Connection, now: Date) throws -> Int {
        // Only subscriptions with any settled event after their cursor: one index probe each, so
        // an idle poll costs one statement however many subscriptions there are.
        let ids = try db.query("""
            WITH snap AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin)
            SELECT c.subscription_id FROM webhook_cursors c
            WHERE EXISTS (SELECT 1 FROM events e WHERE (COALESCE(e.xid, '0'::xid8), e.sequence) > (c.after_xid, c.after_sequence)
                          AND COALESCE(e.xid, '0'::xid8) < (SELECT xmin FROM snap))
            ORDER BY c.subscription_id
            """).map { try $0.decode(UUID.self, 0) }
        var created = 0
        for id in ids {
            for _ in 0..<maxPagesPerSubscription {
                guard let page = try db.transaction({ db in try dispatchPage(db, subscriptionID: id, now: now) }) else { break }
                created += page.created
                if !page.full { break }
            }
        }
        return created
    }

    /// LIKE patterns of `event_types`: `*` → `%`, `x.*` → `x.%`, names literal (`_` escaped).
    static func likePatterns(_ types: [String]) -> [String] {
        types.map { t in
            if t == "*" { return "%" }
            let escaped = t.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "_", with: "\\_")
                .replacingOccurrences(of: "%", with: "\\%")
            return escaped.hasSuffix(".*") ? String(escaped.dropLast()) + "%" : escaped
        }
    }

    /// One page for one subscription, or nil when another worker holds its cursor.
    static func dispatchPage(_ db: Connection, subscriptionID: UUID, now: Date) throws -> (created: Int, full: Bool)? {
        guard let sub = try db.queryRow("""
            SELECT c.after_xid::text, c.after_sequence, s.event_types, s.org_id, o.path::text, o.kind
            FROM webhook_cursors c JOIN webhook_subscriptions s ON s.id = c.subscription_id JOIN organizations o ON o.id = s.org_id
            WHERE c.subscription_id = $1 FOR UPDATE OF c SKIP LOCKED
            """, subscriptionID) else { return nil }
        let afterXid = try sub.decode(String.self, 0), afterSequence = try sub.decode(Int.self, 1)
        let types = try sub.decode([String].self, 2)
        // The subscription's organization as a reader of the feed: only the organization matters
        // to the visibility rule (not the role).
        let reader = Principal(accountID: UUID(), accountName: "webhook", tokenID: UUID(), role: .viewer,
                               orgID: try sub.decode(UUID.self, 3), orgKind: try sub.decode(String.self, 5),
                               orgPath: try sub.decode(String.self, 4), residentialBranch: false)
        var params: [any PostgresEncodable] = []
        func bind(_ v: any PostgresEncodable) -> Int { params.append(v); return params.count }
        let key = "(COALESCE(e.xid, '0'::xid8), e.sequence)"
        let conditions = [
            "\(key) > ($\(bind(afterXid))::text::xid8, $\(bind(afterSequence))::bigint)",
            "COALESCE(e.xid, '0'::xid8) < (SELECT xmin FROM snap)",
            "e.type LIKE ANY($\(bind(likePatterns(types)))::text[])",
            Policy.eventVisibleSQL(reader, alias: "e", bind: bind),
        ]
        let sid = bind(subscriptionID), at = bind(Timestamp.rfc3339(now))
        let row = try db.queryRow("""
            WITH snap AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin),
            batch AS (
                SELECT COALESCE(e.xid, '0'::xid8) AS xid, e.sequence, e.type FROM events e
                WHERE \(conditions.joined(separator: " AND "))
                ORDER BY COALESCE(e.xid, '0'::xid8), e.sequence
                LIMIT \(pageSize)
            ), ins AS (
                INSERT INTO webhook_deliveries (subscription_id, event_sequence, event_type, message_id, next_attempt_at, deadline_at)
                SELECT $\(sid)::uuid, b.sequence, b.type, 'msg_' || md5($\(sid)::text || ':' || b.sequence), $\(at)::text::timestamptz,
                       $\(at)::text::timestamptz + interval '24 hours'
                FROM batch b
                ON CONFLICT (subscription_id, event_sequence) DO NOTHING
                RETURNING 1
            ), last AS (SELECT xid, sequence FROM batch ORDER BY xid DESC, sequence DESC LIMIT 1)
            SELECT (SELECT xmin::text FROM snap), (SELECT count(*) FROM batch), (SELECT xid::text FROM last),
                   (SELECT sequence FROM last), (SELECT count(*) FROM ins)
            """, parameters: params)!
        let xmin = UInt64(try row.decode(String.self, 0)) ?? 0
        let count = try row.decode(Int.self, 1)
        let created = try row.decode(Int.self, 4)
        typealias Position = EventFeedRoutes.Position
        let after = Position(xid: UInt64(afterXid) ?? 0, sequence: Int64(afterSequence))
        var next = after
        if let x = try row.decode(String?.self, 2), let xid = UInt64(x) {
            next = Position(xid: xid, sequence: Int64(try row.decode(Int.self, 3)))
        }
        let full = count == pageSize
        if !full { next = max(next, after, Position(xid: xmin - 1, sequence: Int64.max)) }
        if next != after {
            try db.execute("UPDATE webhook_cursors SET after_xid = $2::text::xid8, after_sequence = $3 WHERE subscription_id = $1",
                           subscriptionID, String(next.xid), Int(next.sequence))
        }
        return (created, full)
    }
}
