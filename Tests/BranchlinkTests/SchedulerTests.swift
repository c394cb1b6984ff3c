import Branchlink
import Foundation
import Postgres
import Synchronization
import XCTest

/// Reminders and escalations: the pure rule, a simulated month of ticks by two instances on one
/// database, and the scheduler thread of a served application.
final class SchedulerTests: XCTestCase {

    // MARK: The rule

    func testReminderRuleTable() {
        let due = PGDate("2027-03-10")!
        let p = ReminderPolicy(dueSoonDays: 3, escalateAfterDays: 7, lookbackDays: 60)
        let cases: [(String, Set<ReminderKind>)] = [
            ("2027-03-01", []), ("2027-03-06", []), ("2027-03-07", [.dueSoon]), ("2027-03-09", [.dueSoon]),
            ("2027-03-10", [.dueSoon]),                 // due today: not yet overdue
            ("2027-03-11", [.overdue]), ("2027-03-16", [.overdue]),
            ("2027-03-17", [.overdue, .escalation]),      // overdue by 7 days
            ("2027-05-09", [.overdue, .escalation]),      // 60 days: still within the look-back
            ("2027-05-10", []),                          // 61 days: beyond it
        ]
        for (today, expected) in cases {
            XCTAssertEqual(ReminderRule.due(dueOn: due, today: PGDate(today)!, policy: p), expected, today)
        }
        // Policy variations: due_soon_days 0 reminds on the day itself; a 1-day escalation.
        XCTAssertEqual(ReminderRule.due(dueOn: due, today: PGDate("2027-03-09")!, policy: ReminderPolicy(dueSoonDays: 0)), [])
        XCTAssertEqual(ReminderRule.due(dueOn: due, today: due, policy: ReminderPolicy(dueSoonDays: 0)), [.dueSoon])
        XCTAssertEqual(ReminderRule.due(dueOn: due, today: PGDate("2027-03-11")!, policy: ReminderPolicy(escalateAfterDays: 1)),
                       [.overdue, .escalation])
        // The service's calendar day: 2027-01-15 17:00 UTC is already the 16th in Hanoi (UTC+7).
        XCTAssertEqual(ReminderRule.today(Date(timeIntervalSince1970: 1_800_000_000 + 9 * 3600 - 1)).description, "2027-01-15")
        XCTAssertEqual(ReminderRule.today(Date(timeIntervalSince1970: 1_800_000_000 + 9 * 3600)).description, "2027-01-16")
    }

    func testEscalationAcknowledgeRuleTable() {
        let cases: [(String, Bool, Result<String, TransitionRefusal>)] = [
            ("open", true, .success("acknowledged")),
            ("acknowledged", true, .failure(.invalidState(current: "acknowledged"))),
            ("resolved", true, .failure(.invalidState(current: "resolved"))),
            ("open", false, .failure(.wrongSide(required: .other))),
            ("resolved", false, .failure(.wrongSide(required: .other))),
        ]
        for (status, byParent, expected) in cases {
            XCTAssertEqual(EscalationStateMachine.acknowledge(status, byParent: byParent), expected, "\(status) \(byParent)")
        }
    }

    // MARK: A simulated month, two instances

    /// Items in several waiting steps, some answered, sent back, moved or cancelled mid-month; two
    /// schedulers (own connections, own threads) tick concurrently every simulated hour for 31 days.
    /// Every reminder and escalation must happen exactly once, on the expected day.
    func testTwoInstancesForASimulatedMonthRemindExactlyOnce() throws {
        let f = try ExchangeFixture(members: 4) { $0.backgroundJobs = false }
        defer { f.stop() }
        let db = f.db
        let t0 = ReminderRule.today(Date())
        func day(_ d: Int) -> String { t0.adding(days: d).description }
        let o = f.orgs
        let m = f.members
        // One live introduction per member: three waiting, one active (for notices, requests, reports).
        let introA = try insertIntroduction(db, f, member: m[0], number: 1, status: "sent", awaiting: o["C1"]!, due: day(5))
        let introB = try insertIntroduction(db, f, member: m[1], number: 2, status: "sent", awaiting: o["C1"]!, due: day(10))
        let introM = try insertIntroduction(db, f, member: m[2], number: 3, status: "sent", awaiting: o["C1"]!, due: day(3))
        let active = try insertIntroduction(db, f, member: m[3], number: 4, status: "active", awaiting: nil, due: nil)
        let noticeN = try insertNotice(db, f, member: m[3], intro: active, due: day(2))
        let requestR = try insertRequest(db, f, member: m[3], intro: active, status: "forwarded", awaiting: o["B1"]!, due: day(6))
        let requestX = try insertRequest(db, f, member: m[3], intro: active, status: "requested", awaiting: o["C1"]!, due: day(5))
        let requestF = try insertRequest(db, f, member: m[3], intro: active, status: "requested", awaiting: o["C1"]!, due: day(1),
                                         confidential: true)
        let reportQ = try insertReport(db, f, member: m[3], intro: active, due: day(20))

        // What the officers do, at 09:00 of a simulated day (the due dates a real action would
        // compute from the policy are set explicitly, relative to the simulated calendar).
        let actions: [Int: [() throws -> Void]] = [
            1: [{ try db.execute("UPDATE assessment_requests SET status = 'cancelled', awaiting_org_id = NULL, due_on = NULL WHERE id = $1::uuid", requestX) }],
            4: [{ try db.execute("UPDATE assessment_requests SET status = 'submitted', awaiting_org_id = commune_id, due_on = $2::text::date WHERE id = $1::uuid", requestR, day(11)) }],
            6: [{ try db.execute("UPDATE introductions SET due_on = $2::text::date WHERE id = $1::uuid", introM, day(20)) }],
            8: [{ try db.execute("UPDATE introductions SET status = 'received', due_on = $2::text::date WHERE id = $1::uuid", introB, day(12)) }],
            13: [{ try db.execute("""
                UPDATE assessment_requests SET status = 'forwarded', send_back_count = send_back_count + 1, awaiting_org_id = branch_id,
                    due_on = $2::text::date WHERE id = $1::uuid
                """, requestR, day(18)) }],
            15: [{ try db.execute("UPDATE change_notices SET status = 'acknowledged', awaiting_org_id = NULL, due_on = NULL WHERE id = $1::uuid", noticeN) }],
            20: [{ try db.execute("UPDATE assessment_requests SET status = 'submitted', awaiting_org_id = commune_id, due_on = $2::text::date WHERE id = $1::uuid", requestR, day(25)) }],
            24: [{ try db.execute("UPDATE assessment_requests SET status = 'confirmed', awaiting_org_id = requester_org_id, due_on = $2::text::date WHERE id = $1::uuid", requestR, day(34)) }],
        ]

        let instances = Instances([try Connection(f.t.databaseURL), try Connection(f.t.databaseURL)])
        // Small pages, so that a page boundary falls inside the fixture's items too.
        let tasks: [any ScheduledTask] = [ReminderTask(batchSize: 2), EscalationResolver()]
        let start = Double((t0.daysSince2000 + 10_957) * 86_400 - 7 * 3_600)   // 00:00 of day 0 in Hanoi
        let errors = Mutex<[String]>([])
        for hour in 0..<(31 * 24) {
            if hour % 24 == 9 { for action in actions[hour / 24] ?? [] { try action() } }
            let now = Date(timeIntervalSince1970: start + Double(hour) * 3_600)
            DispatchQueue.concurrentPerform(iterations: 2) { i in
                let report = Scheduler.tick(db: instances.dbs[i], now: now, tasks: tasks)
                if !report.errors.isEmpty { errors.withLock { $0.append("\(report.errors)") } }
            }
        }
        XCTAssertEqual(errors.withLock { $0 }, [])

        // Every reminder expected: (item, step, due day, kind) → the simulated day it was sent.
        typealias Key = String
        func key(_ id: String, _ step: String, _ dueDay: Int, _ kind: String) -> Key { "\(id) \(step) \(day(dueDay)) \(kind)" }
        var expected: [Key: Int] = [:]
        func expect(_ id: String, _ step: String, due: Int, soon: Int? = nil, overdue: Int? = nil, escalation: Int? = nil) {
            if let soon { expected[key(id, step, due, "due_soon")] = soon }
            if let overdue { expected[key(id, step, due, "overdue")] = overdue }
            if let escalation { expected[key(id, step, due, "escalation")] = escalation }
        }
        expect(introA, "introduction_receive", due: 5, soon: 2, overdue: 6, escalation: 12)     // never answered
        expect(introB, "introduction_receive", due: 10, soon: 7)                                // received on day 8
        expect(introB, "introduction_assign", due: 12, soon: 9, overdue: 13, escalation: 19)
        expect(introM, "introduction_receive", due: 3, soon: 0, overdue: 4)                     // moved on day 6
        expect(introM, "introduction_receive", due: 20, soon: 17, overdue: 21, escalation: 27)
        expect(noticeN, "notice_acknowledge", due: 2, soon: 0, overdue: 3, escalation: 9)       // acknowledged on day 15
        expect(requestR, "form_submit", due: 6, soon: 3)                                        // submitted on day 4
        expect(requestR, "form_confirm", due: 11, soon: 8, overdue: 12)                         // sent back on day 13
        expect(requestR, "form_submit", due: 18, soon: 15, overdue: 19)                         // resubmitted on day 20
        expect(requestR, "form_confirm", due: 25, soon: 22)                                     // confirmed on day 24; closing due day 34
        expect(requestF, "request_forward", due: 1, soon: 0, overdue: 2)                        // confidential: never escalated
        expect(reportQ, "report_acknowledge", due: 20, soon: 17, overdue: 21, escalation: 27)
        // requestX: cancelled on day 1 before anything was due: nothing.

        var sent: [Key: Int] = [:]
        for row in try db.query("SELECT item_id::text, step, due_on::text, reminder, as_of - $1::text::date FROM reminders", day(0)) {
            let k = "\(try row.decode(String.self, 0)) \(try row.decode(String.self, 1)) \(try row.decode(String.self, 2)) \(try row.decode(String.self, 3))"
            XCTAssertNil(sent[k], "reminder twice: \(k)")
            sent[k] = try row.decode(Int.self, 4)
        }
        XCTAssertEqual(sent, expected)

        // One event per reminder, none twice: (entity, type, step, due date) is unique in the log.
        var events: [Key: Int] = [:]
        for row in try db.query("""
            SELECT entity_id::text, data->>'step', data->>'due_on', split_part(type, '.', 2), count(*)::int FROM events
            WHERE type LIKE '%.due_soon' OR type LIKE '%.overdue' GROUP BY 1, 2, 3, 4
            """) {
            events["\(try row.decode(String.self, 0)) \(try row.decode(String.self, 1)) \(try row.decode(String.self, 2)) \(try row.decode(String.self, 3))"] = try row.decode(Int.self, 4)
        }
        XCTAssertEqual(events, expected.filter { !$0.key.hasSuffix("escalation") }.mapValues { _ in 1 })

        // Escalations: one record and one event each, to the parent of the organization waited on;
        // the acknowledged notice's escalation resolved once; the others still in P1's inbox.
        var escalations: [String: (to: String, status: String)] = [:]
        for row in try db.query("SELECT item_id::text, step_key, escalated_to_org_id::text, status FROM escalations") {
            escalations[try row.decode(String.self, 0) + " " + (try row.decode(String.self, 1))] = (try row.decode(String.self, 2), try row.decode(String.self, 3))
        }
        XCTAssertEqual(escalations.count, 5)
        XCTAssertEqual(escalations["\(introA) sent@\(day(5))"]?.to, o["P1"])
        XCTAssertEqual(escalations["\(introB) received@\(day(12))"]?.to, o["P1"])
        XCTAssertEqual(escalations["\(introM) sent@\(day(20))"]?.to, o["P1"])
        XCTAssertEqual(escalations["\(noticeN) sent@\(day(2))"]?.to, o["C1"], "the notice waited on branch B1")
        XCTAssertEqual(escalations["\(noticeN) sent@\(day(2))"]?.status, "resolved")
        XCTAssertEqual(escalations["\(reportQ) sent@\(day(20))"]?.to, o["P1"], "the report waited on workplace W1")
        XCTAssertEqual(escalations.values.filter { $0.status == "open" }.count, 4)
        let counts = try db.queryRow("""
            SELECT count(*) FILTER (WHERE type = 'escalation.created'), count(*) FILTER (WHERE type = 'escalation.resolved'),
                   count(DISTINCT entity_id) FILTER (WHERE type = 'escalation.created') FROM events
            """)!
        XCTAssertEqual(try counts.decode(Int.self, 0), 5)
        XCTAssertEqual(try counts.decode(Int.self, 1), 1)
        XCTAssertEqual(try counts.decode(Int.self, 2), 5)

        let inbox = try f.call("admin", "GET", "/v1/inbox?kind=escalation")
        XCTAssertEqual(inbox.status, 200, inbox.text)
        let rows = try XCTUnwrap(inbox.json()["items"] as? [[String: Any]])
        XCTAssertEqual(rows.count, 4)
        XCTAssertEqual(Set(rows.compactMap { $0["action"] as? String }), ["acknowledge"])
        XCTAssertEqual(((try f.call("commune", "GET", "/v1/inbox?kind=escalation").json()["items"]) as? [Any])?.count, 0)

        // The confidential request's reminders reach its own organizations only, not the province.
        XCTAssertTrue(try feedEntities(f, "commune").contains(requestF))
        XCTAssertFalse(try feedEntities(f, "viewer").contains(requestF))
        XCTAssertTrue(try feedEntities(f, "viewer").contains(introA))

        // Acknowledging: only the parent's own officers; once.
        let escID = try XCTUnwrap(rows.first?["id"] as? String)
        XCTAssertEqual(try f.call("commune", "POST", "/v1/escalations/\(escID)/acknowledge", [:]).status, 404)
        XCTAssertEqual(try f.call("viewer", "POST", "/v1/escalations/\(escID)/acknowledge", [:]).status, 403)
        let got = try f.call("viewer", "GET", "/v1/escalations/\(escID)")
        XCTAssertEqual(got.status, 200, got.text)
        XCTAssertEqual(try got.json()["status"] as? String, "open")
        XCTAssertEqual(try f.call("admin", "POST", "/v1/escalations/\(escID)/acknowledge", [:], headers: ["If-Match": "\"v99\""]).status, 412)
        let ack = try f.call("admin", "POST", "/v1/escalations/\(escID)/acknowledge", ["note": "Đã nhắc xã"])
        XCTAssertEqual(ack.status, 200, ack.text)
        XCTAssertEqual(try ack.json()["status"] as? String, "acknowledged")
        XCTAssertEqual(try ack.json()["awaiting_org_id"] as? NSNull, NSNull())
        let again = try f.call("admin", "POST", "/v1/escalations/\(escID)/acknowledge", [:])
        XCTAssertEqual(again.status, 409)
        XCTAssertEqual(try again.json()["code"] as? String, "invalid_transition")
        XCTAssertEqual(((try f.call("admin", "GET", "/v1/inbox?kind=escalation").json()["items"]) as? [Any])?.count, 3)

        // More ticks on the last day change nothing.
        let before = try db.queryRow("SELECT count(*)::int FROM events")!.decode(Int.self, 0)
        for i in 0..<2 { _ = Scheduler.tick(db: instances.dbs[i], now: Date(timeIntervalSince1970: start + 30.5 * 86_400), tasks: tasks) }
        XCTAssertEqual(try db.queryRow("SELECT count(*)::int FROM events")!.decode(Int.self, 0), before)
    }

    /// Overdue and escalation windows are swept once a day, and again after `resweepSeconds`: a due
    /// date set in the past during the day is reminded at the next re-sweep; a new wait due soon is
    /// reminded at the next tick.
    func testOverdueWindowsAreResweptAfterTheIntervalAndDueSoonAtOnce() throws {
        let f = try ExchangeFixture(members: 2) { $0.backgroundJobs = false }
        defer { f.stop() }
        let today = ReminderRule.today(Date())
        let midnight = Double((today.daysSince2000 + 10_957) * 86_400 - 7 * 3_600)
        let tasks: [any ScheduledTask] = [ReminderTask(resweepSeconds: 3_600)]
        func tick(_ hours: Double) -> Scheduler.TickReport {
            Scheduler.tick(db: f.db, now: Date(timeIntervalSince1970: midnight + hours * 3_600), tasks: tasks)
        }
        func sent(_ id: String) throws -> [String] {
            try f.db.query("SELECT reminder FROM reminders WHERE item_id = $1::text::uuid ORDER BY reminder", id).map { try $0.decode(String.self, 0) }
        }
        XCTAssertEqual(tick(10).errors, [:])
        let late = try insertIntroduction(f.db, f, member: f.members[0], number: 1, status: "sent", awaiting: f.orgs["C1"]!,
                                          due: today.adding(days: -1).description)
        let soon = try insertIntroduction(f.db, f, member: f.members[1], number: 2, status: "sent", awaiting: f.orgs["C1"]!,
                                          due: today.adding(days: 1).description)
        XCTAssertEqual(tick(10.5).done["reminders"], 1)
        XCTAssertEqual(try sent(soon), ["due_soon"])
        XCTAssertEqual(try sent(late), [], "the overdue window was swept 30 minutes ago")
        XCTAssertEqual(tick(11).done["reminders"], 1)
        XCTAssertEqual(try sent(late), ["overdue"])
        XCTAssertEqual(tick(11.5).done["reminders"], 0)
    }

    // MARK: The served application

    /// The scheduler thread of a running application sends reminders with no request at all.
    func testServedApplicationRemindsWithoutRequests() throws {
        let f = try ExchangeFixture(members: 1) { $0.schedulerInterval = 0.2 }
        defer { f.stop() }
        let today = ReminderRule.today(Date())
        let id = try insertIntroduction(f.db, f, member: f.members[0], number: 9, status: "sent", awaiting: f.orgs["C1"]!,
                                        due: today.adding(days: -8).description)
        var types: Set<String> = []
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            types = Set(try f.db.query("SELECT type FROM events WHERE entity_id = $1::text::uuid OR data->'item'->>'id' = $1::text", id)
                .map { try $0.decode(String.self, 0) })
            if types.isSuperset(of: ["reminder.overdue", "escalation.created"]) { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        XCTAssertTrue(types.isSuperset(of: ["reminder.overdue", "escalation.created"]), "\(types)")
        XCTAssertFalse(types.contains("reminder.due_soon"), "no late due_soon for a step already overdue")
        let inbox = try f.call("admin", "GET", "/v1/inbox?kind=escalation")
        XCTAssertEqual((try inbox.json()["counts"] as? [String: Any])?["total"] as? Int, 1, inbox.text)
    }

    // MARK: Demo

    /// The demo province comes with what the scheduler makes of it today: reminders, and
    /// escalations of long-overdue items in the parents' inboxes; a second load adds none.
    func testDemoProvinceShowsRemindersAndEscalations() throws {
        let t = try TestApp { $0.backgroundJobs = false }
        defer { t.stop() }
        let db = try Connection(t.databaseURL, statementTimeoutMilliseconds: 0)
        try DemoLoader.load(db, seed: 11, members: 1200)
        func count(_ sql: String) throws -> Int { try db.queryRow(sql)!.decode(Int.self, 0) }
        XCTAssertGreaterThan(try count("SELECT count(*)::int FROM events WHERE type = 'reminder.overdue'"), 0)
        XCTAssertGreaterThan(try count("SELECT count(*)::int FROM events WHERE type = 'reminder.due_soon'"), 0)
        XCTAssertGreaterThan(try count("SELECT count(*)::int FROM escalations WHERE status = 'open'"), 0)
        XCTAssertEqual(try count("""
            SELECT count(*)::int FROM escalations e JOIN organizations w ON w.id = e.waited_org_id
            WHERE w.parent_id IS DISTINCT FROM e.escalated_to_org_id
            """), 0)
        let events = try count("SELECT count(*)::int FROM events")
        try DemoLoader.load(db, seed: 11, members: 1200)
        XCTAssertEqual(try count("SELECT count(*)::int FROM events"), events)
    }

    // MARK: Scale (measurement; set BRANCHLINK_SCHEDULER_BENCH=<requests> to run)

    /// Generated assessment requests with due dates spread over ±10 days: the cost of the due-date
    /// index on inserts, of a first tick that sends everything, and of a steady-state tick.
    func testScaleTickOnGeneratedRequests() throws {
        guard let n = ProcessInfo.processInfo.environment["BRANCHLINK_SCHEDULER_BENCH"].flatMap(Int.init) else {
            throw XCTSkip("set BRANCHLINK_SCHEDULER_BENCH=200000 to measure")
        }
        let f = try ExchangeFixture(members: 1) { $0.backgroundJobs = false }
        defer { f.stop() }
        let db = try Connection(f.t.databaseURL, statementTimeoutMilliseconds: 0)
        let o = f.orgs
        func insert(_ count: Int) throws -> Double {
            let started = Date()
            try db.execute("""
                INSERT INTO assessment_requests (member_id, introduction_id, purpose, year, form_variant, form_version, needed_by,
                    requester_org_id, commune_id, branch_id, status, awaiting_org_id, due_on)
                SELECT gen_random_uuid(), gen_random_uuid(), 'reward', 2027, 'A', 1, DATE '2027-12-31', $1::uuid, $2::uuid, $3::uuid,
                       CASE i % 3 WHEN 0 THEN 'requested' WHEN 1 THEN 'forwarded' ELSE 'confirmed' END,
                       CASE i % 3 WHEN 0 THEN $2::uuid WHEN 1 THEN $3::uuid ELSE $1::uuid END, hcm_today() + (i % 21) - 10
                FROM generate_series(1, $4::int) i
                """, o["W1"]!, o["C1"]!, o["B1"]!, count)
            return Date().timeIntervalSince(started)
        }
        let withIndex = try insert(n)
        try db.execute("DROP INDEX assessment_requests_due")
        let withoutIndex = try insert(n)
        try db.execute("DELETE FROM assessment_requests WHERE id IN (SELECT id FROM assessment_requests ORDER BY created_at DESC, id LIMIT $1::int)", n)
        try db.execute("CREATE INDEX assessment_requests_due ON assessment_requests (due_on, id) WHERE awaiting_org_id IS NOT NULL")
        try db.execute("VACUUM ANALYZE assessment_requests")

        let task = ReminderTask(batchSize: 500, maxPagesPerRun: 100_000)
        var started = Date()
        let first = try task.runOnce(db: db, now: Date())
        let firstSeconds = Date().timeIntervalSince(started)
        started = Date()
        let second = try ReminderTask(resweepSeconds: 0).runOnce(db: db, now: Date())
        let steadySeconds = Date().timeIntervalSince(started)
        started = Date()
        XCTAssertEqual(try task.runOnce(db: db, now: Date()), 0)
        let sweptSeconds = Date().timeIntervalSince(started)
        // due in 0...3 days: 4 of 21 due dates; overdue: 10 of 21; overdue by 7 or more: 4 of 21.
        let perDate = n / 21
        XCTAssertEqual(Double(first), Double(perDate * 18), accuracy: Double(18 * 21))
        XCTAssertEqual(second, 0)
        print("""
            scheduler bench: \(n) requests; insert \(String(format: "%.2f", withIndex)) s with the due-date index, \
            \(String(format: "%.2f", withoutIndex)) s without; first tick \(first) reminders in \(String(format: "%.2f", firstSeconds)) s \
            (\(String(format: "%.1f", firstSeconds * 1000 / Double(max(1, first)) * 500)) ms per 500); steady tick \(String(format: "%.3f", steadySeconds)) s \
            with full passes, \(String(format: "%.3f", sweptSeconds)) s when the overdue windows were swept within the hour
            """)
    }

    // MARK: Fixture rows (SQL: the scheduler only reads the waiting columns)

    func feedEntities(_ f: ExchangeFixture, _ who: String) throws -> Set<String> {
        var ids: Set<String> = [], after = ""
        while true {
            let r = try f.call(who, "GET", "/v1/events?limit=500&after=\(after)")
            let json = try r.json()
            let items = (json["items"] as? [[String: Any]]) ?? []
            for e in items where (e["type"] as? String)?.hasSuffix(".due_soon") == true || (e["type"] as? String)?.hasSuffix(".overdue") == true {
                if let id = (e["entity"] as? [String: Any])?["id"] as? String { ids.insert(id) }
            }
            guard items.count == 500, let next = json["next_after"] as? String else { return ids }
            after = next
        }
    }

    func path(_ db: Connection, _ id: String) throws -> String {
        try db.queryRow("SELECT path::text FROM organizations WHERE id = $1::uuid", id)!.decode(String.self, 0)
    }

    func insertIntroduction(_ db: Connection, _ f: ExchangeFixture, member: String, number: Int, status: String, awaiting: String?,
                            due: String?) throws -> String {
        let id = UUID().uuidString.lowercased()
        let active = status == "active"
        try db.execute("""
            INSERT INTO introductions (id, number, year, member_id, workplace_id, commune_id, branch_id, workplace_path, commune_path,
                branch_path, status, awaiting_org_id, due_on)
            VALUES ($1::uuid, $2, 2027, $3::uuid, $4::uuid, $5::uuid, $6::uuid, $7::ltree, $8::ltree, $9::ltree, $10, $11::uuid, $12::text::date)
            """, id, "\(number)-GGT/ĐU", member, f.orgs["W1"]!, f.orgs["C1"]!, active ? f.orgs["B1"]! : nil, try path(db, f.orgs["W1"]!),
            try path(db, f.orgs["C1"]!), active ? try path(db, f.orgs["B1"]!) : nil, status, awaiting, due)
        return id
    }

    func insertNotice(_ db: Connection, _ f: ExchangeFixture, member: String, intro: String, due: String) throws -> String {
        let id = UUID().uuidString.lowercased()
        try db.execute("""
            INSERT INTO change_notices (id, member_id, introduction_id, kind, effective_on, status, workplace_id, commune_id, branch_id,
                workplace_path, commune_path, branch_path, awaiting_org_id, due_on)
            VALUES ($1::uuid, $2::uuid, $3::uuid, 'position_change', DATE '2026-01-01', 'sent', $4::uuid, $5::uuid, $6::uuid,
                $7::ltree, $8::ltree, $9::ltree, $6::uuid, $10::text::date)
            """, id, member, intro, f.orgs["W1"]!, f.orgs["C1"]!, f.orgs["B1"]!, try path(db, f.orgs["W1"]!), try path(db, f.orgs["C1"]!),
            try path(db, f.orgs["B1"]!), due)
        return id
    }

    func insertRequest(_ db: Connection, _ f: ExchangeFixture, member: String, intro: String, status: String, awaiting: String,
                       due: String, confidential: Bool = false) throws -> String {
        let id = UUID().uuidString.lowercased()
        try db.execute("""
            INSERT INTO assessment_requests (id, member_id, introduction_id, purpose, year, confidential, form_variant, form_version,
                needed_by, requester_org_id, commune_id, branch_id, status, awaiting_org_id, due_on)
            VALUES ($1::uuid, $2::uuid, $3::uuid, 'reward', 2027, $4, 'A', 1, DATE '2027-12-31', $5::uuid, $6::uuid, $7::uuid, $8,
                $9::uuid, $10::text::date)
            """, id, member, intro, confidential, f.orgs["W1"]!, f.orgs["C1"]!, f.orgs["B1"]!, status, awaiting, due)
        return id
    }

    func insertReport(_ db: Connection, _ f: ExchangeFixture, member: String, intro: String, due: String) throws -> String {
        let id = UUID().uuidString.lowercased()
        try db.execute("""
            INSERT INTO residence_reports (id, member_id, introduction_id, kind, summary, workplace_id, commune_id, branch_id,
                workplace_path, commune_path, branch_path, status, awaiting_org_id, due_on)
            VALUES ($1::uuid, $2::uuid, $3::uuid, 'commendation', 'Tích cực tham gia', $4::uuid, $5::uuid, $6::uuid,
                $7::ltree, $8::ltree, $9::ltree, 'sent', $4::uuid, $10::text::date)
            """, id, member, intro, f.orgs["W1"]!, f.orgs["C1"]!, f.orgs["B1"]!, try path(db, f.orgs["W1"]!), try path(db, f.orgs["C1"]!),
            try path(db, f.orgs["B1"]!), due)
        return id
    }
}

/// The two scheduler instances' connections: each is used by one thread at a time (its index).
private final class Instances: @unchecked Sendable {
    let dbs: [Connection]
    init(_ dbs: [Connection]) { self.dbs = dbs }
}
