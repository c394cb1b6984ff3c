import Foundation
import Postgres

/// Emits the `due_soon`, `overdue` and `escalation` of every waiting step whose time has come, each
/// exactly once, whatever the number of instances and ticks.
///
/// For each waiting table and reminder kind it walks the window of due dates where that reminder can
/// be due (`due_soon`: today … today + the largest `due_soon_days` of any policy; `overdue` and
/// `escalation`: back to the look-back) on the partial `(due_on, id)` index, in keyset pages of
/// `batchSize` steps not yet reminded (a probe of the reminders' primary key per step). One statement per page, in its
/// own transaction: it inserts the reminders (ON CONFLICT DO NOTHING) and appends an event — and for
/// an escalation the escalation record and its event — only for the rows it inserted. Pages are
/// claimed with a transaction-level advisory lock per (table, reminder kind): instances that find it
/// held move on to other work, and the primary key still stops any repeat if two ever overlap.
public struct ReminderTask: ScheduledTask {
    public let name = "reminders"
    public var batchSize: Int
    /// Pages per (table, kind) in one run: bounds a tick; what remains is found by the next one.
    public var maxPagesPerRun: Int
    public var lookbackDays: Int
    /// A complete pass over an overdue or escalation window is repeated when the day changes, or
    /// after this many seconds the same day (for due dates set in the past, or a policy lowered,
    /// during the day). `due_soon` windows (a few days of due dates) are walked on every run, since
    /// a new wait may be due within them at once.
    public var resweepSeconds: Double

    public init(batchSize: Int = 500, maxPagesPerRun: Int = 200, lookbackDays: Int = ReminderPolicy.defaultLookbackDays,
                resweepSeconds: Double = 3600) {
        self.batchSize = max(1, batchSize)
        self.maxPagesPerRun = max(1, maxPagesPerRun)
        self.lookbackDays = max(1, lookbackDays)
        self.resweepSeconds = resweepSeconds
    }

    public func runOnce(db: Connection, now: Date) throws -> Int {
        let today = ReminderRule.today(now)
        // The widest windows any policy asks for; each step's own policy is applied in the statement.
        let row = try db.queryRow("""
            SELECT COALESCE(max(due_soon_days), $1::int), COALESCE(min(escalate_after_days), $2::int) FROM deadline_policies
            """, ReminderPolicy.defaultDueSoonDays, ReminderPolicy.defaultEscalateAfterDays)
        let maxSoon = try row!.decode(Int.self, 0), minEscalate = try row!.decode(Int.self, 1)
        var sent = 0
        for source in WaitingSource.all {
            for kind in ReminderKind.allCases {
                let window: (PGDate, PGDate)
                switch kind {
                case .dueSoon: window = (today, today.adding(days: maxSoon))
                case .overdue: window = (today.adding(days: -lookbackDays), today.adding(days: -1))
                case .escalation: window = (today.adding(days: -lookbackDays), today.adding(days: -minEscalate))
                }
                guard window.0 <= window.1 else { continue }
                let task = "reminders:\(source.kind):\(kind.rawValue)"
                if kind != .dueSoon, let swept = try db.queryRow("SELECT swept_on::text, swept_at FROM scheduler_sweeps WHERE task = $1", task),
                   try swept.decode(String.self, 0) == today.description,
                   now.timeIntervalSince(try swept.decode(Date.self, 1)) < resweepSeconds { continue }
                let (count, complete) = try run(db, source, kind, today: today, window: window)
                sent += count
                if complete, kind != .dueSoon {
                    try db.execute("""
                        INSERT INTO scheduler_sweeps (task, swept_on, swept_at) VALUES ($1, $2::text::date, $3::text::timestamptz)
                        ON CONFLICT (task) DO UPDATE SET swept_on = EXCLUDED.swept_on, swept_at = EXCLUDED.swept_at
                        """, task, today.description, Timestamp.rfc3339(now))
                }
            }
        }
        return sent
    }

    /// Pages through one window. Returns the reminders sent and whether the pass went through the
    /// whole window; stops early when another instance holds the (table, kind) lock (it is doing
    /// this very work, and records the pass) or after `maxPagesPerRun` pages.
    func run(_ db: Connection, _ source: WaitingSource, _ kind: ReminderKind, today: PGDate,
             window: (PGDate, PGDate)) throws -> (sent: Int, complete: Bool) {
        let sql = Self.statement(source, kind, batchSize: batchSize)
        var cursor = (window.0.description, UUID(uuidString: "00000000-0000-0000-0000-000000000000")!)
        var sent = 0
        for _ in 0..<maxPagesPerRun {
            let page = try db.transaction { db -> (count: Int, last: (String, UUID)?, sent: Int)? in
                // The page must walk the due-date index in order from the cursor and stop after a page
                // (the planner, expecting few rows to pass the anti-join, would rather scan and sort
                // the whole table on every page): no sequential or bitmap scans in this transaction.
                // Its cost estimate (the whole window) also switched JIT on: ~1 s of compilation for a
                // page that runs in ~30 ms (measured on 200k steps), so no JIT either.
                guard try db.queryRow("""
                    SELECT pg_try_advisory_xact_lock(2110, hashtext($1)), set_config('enable_seqscan', 'off', true),
                           set_config('enable_bitmapscan', 'off', true), set_config('jit', 'off', true)
                    """, "reminders:\(source.kind):\(kind.rawValue)")!.decode(Bool.self, 0) else { return nil }
                // Unprepared: planned for this window and cursor every time, never a cached generic plan
                // that cannot see how narrow they are.
                let r = try db.queryUnprepared(sql, parameters: [today.description, window.1.description, cursor.0, cursor.1]).firstRow!
                let count = try r.decode(Int.self, 0)
                let last = count == 0 ? nil : (try r.decode(String.self, 1), try r.decode(UUID.self, 2))
                return (count, last, try r.decode(Int.self, 3))
            }
            guard let page else { return (sent, false) }
            sent += page.sent
            guard let last = page.last, page.count == batchSize else { return (sent, true) }
            cursor = last
        }
        return (sent, false)
    }

    /// The page statement of one (table, kind): $1 today, $2 the window's last due date, ($3, $4)
    /// the keyset cursor (due date, id) — the window's first due date and the nil UUID to start.
    /// The conditions on `p`/`pol` are `ReminderRule.due` in SQL.
    static func statement(_ s: WaitingSource, _ kind: ReminderKind, batchSize: Int) -> String {
        let today = "$1::text::date"
        let rule: String
        switch kind {
        case .dueSoon: rule = "p.due_on >= \(today) AND p.due_on - \(today) <= pol.soon"
        case .overdue: rule = "p.due_on < \(today)"
        // Confidential requests are never escalated: the parent is not an organization they involve
        // (it sees them in counts only). Nor is a wait on the root, which has no parent.
        case .escalation: rule = "\(today) - p.due_on >= pol.esc AND NOT p.confidential AND pol.parent_id IS NOT NULL"
        }
        let eventData = """
            jsonb_build_object('step', d.step, 'due_on', d.due_on, 'awaiting_org_id', d.awaiting_org_id, 'as_of', \(today),
                               \(kind == .dueSoon ? "'days_left', d.due_on - \(today)" : "'days_overdue', \(today) - d.due_on"))
            """
        let effects: String
        if kind == .escalation {
            effects = """
                esc AS (
                    INSERT INTO escalations (item_kind, item_id, step, step_key, member_id, item_due_on, days_overdue, escalated_on,
                        waited_org_id, escalated_to_org_id, org_ids, escalated_to_path, status, awaiting_org_id, due_on)
                    SELECT '\(s.kind)', d.id, d.step, d.step_key, d.member_id, d.due_on, \(today) - d.due_on, \(today),
                           d.awaiting_org_id, d.parent_id,
                           (SELECT array_agg(DISTINCT u) FROM unnest(d.org_ids || d.parent_id) u), d.parent_path, 'open', d.parent_id, d.due_on
                    FROM due d JOIN ins ON ins.item_id = d.id
                    ON CONFLICT DO NOTHING
                    RETURNING id, item_id, step, item_due_on, days_overdue, waited_org_id, escalated_to_org_id, org_ids
                ),
                ev AS (
                    INSERT INTO events (type, entity_type, entity_id, org_ids, data)
                    SELECT 'escalation.created', 'escalation', e.id, e.org_ids,
                           jsonb_build_object('item', jsonb_build_object('kind', '\(s.kind)', 'id', e.item_id), 'step', e.step,
                                              'due_on', e.item_due_on, 'days_overdue', e.days_overdue, 'waited_org_id', e.waited_org_id,
                                              'escalated_to_org_id', e.escalated_to_org_id, 'as_of', \(today))
                    FROM esc e
                    RETURNING 1
                )
                """
        } else {
            effects = """
                ev AS (
                    INSERT INTO events (type, entity_type, entity_id, org_ids, data)
                    SELECT 'reminder.\(kind.rawValue)', '\(s.kind)', d.id, d.org_ids, \(eventData)
                    FROM due d JOIN ins ON ins.item_id = d.id
                    RETURNING 1
                )
                """
        }
        return """
            WITH page AS MATERIALIZED (
                SELECT x.id, x.due_on, x.awaiting_org_id, x.member_id, (\(s.step)) AS step, (\(s.stepKey)) AS step_key,
                       \(s.orgIDs) AS org_ids, (\(s.confidential)) AS confidential
                FROM \(s.table) x
                -- The anti-join as a LATERAL probe of the reminders' primary key, one per step in
                -- due-date order: with NOT EXISTS the planner may (with stale statistics, measured)
                -- pick a nested loop over a materialized scan of all reminders, quadratic.
                LEFT JOIN LATERAL (SELECT true AS sent FROM reminders r WHERE r.item_kind = '\(s.kind)' AND r.item_id = x.id
                                   AND r.step_key = (\(s.stepKey)) AND r.reminder = '\(kind.rawValue)' LIMIT 1) done ON true
                WHERE x.awaiting_org_id IS NOT NULL AND \(s.live) AND x.due_on <= $2::text::date
                  AND (x.due_on, x.id) > ($3::text::date, $4::uuid) AND done.sent IS NULL
                ORDER BY x.due_on, x.id
                LIMIT \(batchSize)
            ),
            pol AS (
                SELECT o.id AS org_id, o.parent_id, po.path AS parent_path,
                       COALESCE(policy_days(o.id, 'due_soon_days'), \(ReminderPolicy.defaultDueSoonDays)) AS soon,
                       COALESCE(policy_days(o.id, 'escalate_after_days'), \(ReminderPolicy.defaultEscalateAfterDays)) AS esc
                FROM organizations o LEFT JOIN organizations po ON po.id = o.parent_id
                WHERE o.id IN (SELECT awaiting_org_id FROM page)
            ),
            due AS MATERIALIZED (
                SELECT p.*, pol.parent_id, pol.parent_path FROM page p JOIN pol ON pol.org_id = p.awaiting_org_id WHERE \(rule)
            ),
            ins AS (
                INSERT INTO reminders (item_kind, item_id, step_key, reminder, step, due_on, awaiting_org_id, as_of)
                SELECT '\(s.kind)', id, step_key, '\(kind.rawValue)', step, due_on, awaiting_org_id, \(today) FROM due
                ON CONFLICT DO NOTHING
                RETURNING item_id
            ),
            \(effects)
            SELECT (SELECT count(*) FROM page)::int, l.due_on::text, l.id, (SELECT count(*) FROM ev)::int
            FROM (SELECT 1) one
            LEFT JOIN LATERAL (SELECT due_on, id FROM page ORDER BY due_on DESC, id DESC LIMIT 1) l ON true
            """
    }
}
