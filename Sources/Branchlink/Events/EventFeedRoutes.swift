import Foundation
import HTTP
import Postgres

/// `GET /v1/events?after=&limit=`: the events the caller may see, in commit order, with no gaps.
///
/// `sequence` is taken at insert time, so sequences commit out of order: a reader that moved past
/// 1000 would miss a slow transaction holding 990. Each event records the id of the transaction
/// that inserted it (`xid`, migration 0008). A page holds only events whose xid is below the xmin of
/// the reading statement's snapshot — every transaction with a smaller id has ended, so no event can
/// still appear below that line — ordered by (xid, sequence); the cursor is the (xid, sequence) of
/// the last event delivered (or, after a page that is not full, the snapshot's xmin: see `fetch`). A
/// transaction still running has xid >= xmin: its events wait until it ends, then come after any
/// cursor already issued. Events from before migration 0008 have xid NULL
/// and count as xid 0 (first, in sequence order).
///
/// The price: a long transaction (open anywhere in the cluster) holds every reader's feed back
/// until it ends — events are delayed, never lost or reordered.
enum EventFeedRoutes {
    static func register(on router: Router<AppContext>) {
        router.get("/v1/events", list)
    }

    /// The feed position: the (xid, sequence) of the last event delivered; (0, 0) before the first.
    struct Position: Comparable {
        var xid: UInt64
        var sequence: Int64
        static let start = Position(xid: 0, sequence: 0)

        var cursor: String { Page.encode([String(xid), String(sequence)]) }

        /// 400 `invalid_cursor` for anything this feed did not issue.
        init(cursor: String) throws {
            guard let keys = Page.decode(cursor), keys.count == 2, let x = UInt64(keys[0]), let s = Int64(keys[1]), s >= 0 else {
                throw APIError(status: 400, code: "invalid_cursor", detail: "The after cursor is not one this feed issued.",
                               errors: [FieldError(pointer: "?after", code: "invalid_cursor", message: "is not a cursor this feed issued")])
            }
            xid = x; sequence = s
        }
        init(xid: UInt64, sequence: Int64) { self.xid = xid; self.sequence = sequence }
        static func < (a: Position, b: Position) -> Bool { (a.xid, a.sequence) < (b.xid, b.sequence) }
    }

    static func list(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        try Policy.require(p, .read)
        var limit = Page.defaultLimit
        if let l = request.query("limit") {
            guard let n = Int(l), (1...Page.maxLimit).contains(n) else {
                throw APIError.invalidParameter("limit", "must be an integer from 1 to \(Page.maxLimit)")
            }
            limit = n
        }
        let after = try request.query("after").map { $0.isEmpty ? Position.start : try Position(cursor: $0) } ?? .start
        let (items, next) = try fetch(ctx.db, p, after: after, limit: limit)

        var out = JSONBytes(capacity: 256 + items.count * 512)
        out.raw("{\"items\":[")
        for (i, item) in items.enumerated() {
            if i > 0 { out.raw(",") }
            out.bytes.append(contentsOf: item)
        }
        out.raw("],\"next_after\":")
        out.string(next.cursor)
        out.raw("}")
        return JSONOutput.resource(json: out.bytes)
    }

    /// One page after `after` and the position to continue from. A single statement: the snapshot
    /// whose xmin bounds the page is the one that reads it.
    ///
    /// A full page continues after its last event. A page that is not full has seen every visible
    /// event below the snapshot's xmin, so it continues after (xmin - 1, max): no event can ever
    /// appear there any more (a later snapshot's xmin is never smaller). Without this, a consumer
    /// whose scope has few events would rescan, on every poll, all the events written by everyone
    /// since its own last one (a branch with no events: the whole table, each time).
    static func fetch(_ db: Connection, _ p: Principal, after: Position, limit: Int) throws -> (items: [[UInt8]], next: Position) {
        var params: [any PostgresEncodable] = []
        func bind(_ v: any PostgresEncodable) -> Int { params.append(v); return params.count }
        let key = "(COALESCE(e.xid, '0'::xid8), e.sequence)"
        let conditions = [
            "\(key) > ($\(bind(String(after.xid)))::text::xid8, $\(bind(Int(after.sequence)))::bigint)",
            "COALESCE(e.xid, '0'::xid8) < s.xmin",
            Policy.eventVisibleSQL(p, alias: "e", bind: bind),
        ]
        let rows = try db.query("""
            SELECT s.xmin::text, f.xid::text, f.sequence, f.type, f.occurred_at, f.entity_type, f.entity_id, f.org_ids,
                   f.actor_account_id, f.acting_for_org_id, f.request_id, f.data, f.delegation_id
            FROM (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin) s
            LEFT JOIN LATERAL (
                SELECT COALESCE(e.xid, '0'::xid8) AS xid, e.sequence, e.type, e.occurred_at, e.entity_type, e.entity_id, e.org_ids,
                       e.actor_account_id, e.acting_for_org_id, e.request_id, e.data::text AS data, e.delegation_id
                FROM events e
                WHERE \(conditions.joined(separator: " AND "))
                ORDER BY COALESCE(e.xid, '0'::xid8), e.sequence
                LIMIT \(limit)
            ) f ON true
            ORDER BY f.xid, f.sequence
            """, parameters: params)
        // The outer row always exists (LEFT JOIN), with the snapshot's xmin.
        guard let xmin = try rows.firstRow.flatMap({ UInt64(try $0.decode(String.self, 0)) }) else {
            throw APIError(status: 500, code: "internal_error", detail: "The feed position could not be read.")
        }
        var items: [[UInt8]] = []
        var last: Position?
        for row in rows {
            guard let x = try row.decode(String?.self, 1), let xid = UInt64(x) else { continue }
            let sequence = try row.decode(Int.self, 2)
            last = Position(xid: xid, sequence: Int64(sequence))
            var j = JSONBytes()
            j.raw("{\"sequence\":"); j.int(sequence)
            j.raw(",\"type\":"); j.string(try row.decode(String.self, 3))
            j.raw(",\"occurred_at\":"); j.timestamp(try row.decode(Date.self, 4))
            j.raw(",\"entity\":{\"type\":"); j.string(try row.decode(String.self, 5))
            j.raw(",\"id\":"); j.uuid(try row.decode(UUID.self, 6)); j.raw("}")
            j.raw(",\"org_ids\":[")
            for (i, o) in try row.decode([UUID].self, 7).enumerated() {
                if i > 0 { j.raw(",") }
                j.uuid(o)
            }
            j.raw("],\"actor\":")
            if let a = try row.decode(UUID?.self, 8) {
                // Under a delegation the actor is the delegate and acting_for the delegating organization.
                j.raw("{\"account_id\":"); j.uuid(a)
                if let d = try row.decode(UUID?.self, 12) { j.raw(",\"delegation_id\":"); j.uuid(d) }
                j.raw("}")
            } else { j.null() }
            j.raw(",\"acting_for\":"); j.uuid(try row.decode(UUID?.self, 9))
            j.raw(",\"request_id\":"); j.string(try row.decode(String?.self, 10))
            j.raw(",\"data\":"); j.bytes.append(contentsOf: try row.decode(String.self, 11).utf8)
            j.raw("}")
            items.append(j.bytes)
        }
        if items.count == limit, let last { return (items, last) }
        return (items, max(last ?? after, after, Position(xid: xmin - 1, sequence: Int64.max)))
    }
}

// MARK: - Who sees which event

extension Policy {
    /// SQL condition: the event (alias `a`) is visible to the caller. One rule, written next to the
    /// exchange rules it follows:
    /// - an event is visible when one of its `org_ids` is in the caller's subtree (the organizations
    ///   an exchange involves are all in its events' `org_ids`, so ancestors follow as they do for
    ///   the exchange itself); the root's accounts see every event;
    /// - events of a confidential assessment request are visible only to the organizations the
    ///   request involves themselves (requester, commune, branch), never to their ancestors — the
    ///   same rule as `canSee(_:_:confidential:)`;
    /// - members exempt from introduction (HD 33 §1.2) are never in an exchange, so no residence
    ///   organization is ever in the `org_ids` of an event about them: no extra rule is needed.
    static func eventVisibleSQL(_ p: Principal, alias a: String, bind: (any PostgresEncodable) -> Int) -> String {
        // The subtree becomes an array of ids once per statement; the root (no parent: a one-label
        // path) is every organization. The planner cannot see how many events the array matches:
        // for a wide scope (a province and above) most events match, and walking events_feed_order
        // from the cursor finds a page at once, where the events_org_ids (GIN) bitmap would fetch
        // and sort all of the province's events on every page. `IS TRUE` (the same condition: both
        // sides are never null) keeps GIN out for those; narrow scopes let the planner use it.
        let wide = ["central", "province", "directly_subordinate", "district"].contains(p.orgKind)
        let overlap = "\(a).org_ids && ARRAY(SELECT id FROM organizations WHERE path <@ $\(bind(p.orgPath))::ltree)"
        let scope = !p.orgPath.contains(".") ? "TRUE" : wide ? "(\(overlap)) IS TRUE" : overlap
        let org = bind(p.orgID)
        return """
            \(scope) AND (\(a).entity_type <> 'assessment_request' OR NOT EXISTS (
                SELECT 1 FROM assessment_requests cr WHERE cr.id = \(a).entity_id AND cr.confidential
                    AND $\(org)::uuid <> cr.requester_org_id AND $\(org)::uuid <> cr.commune_id AND cr.branch_id IS DISTINCT FROM $\(org)::uuid))
            """
    }
}
