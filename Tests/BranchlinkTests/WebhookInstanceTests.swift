@testable import Branchlink
import Foundation
import Postgres
import XCTest

/// Two application instances on one database, each with its worker threads: with a receiver that
/// always answers 200, every event reaches each subscription exactly once (cursors and deliveries
/// are claimed with SKIP LOCKED and leases; nothing is sent twice).
final class WebhookTwoInstancesTests: XCTestCase {
    func testTwoInstancesDeliverEachEventOnce() throws {
        let f = try ExchangeFixture { $0.webhooks.limits.allowPrivate = true; $0.webhooks.pollInterval = 0.2 }
        defer { f.stop() }
        var options = Application.Options(database: PostgresConfiguration(f.t.databaseURL))
        options.server.port = 0
        options.server.loopCount = 1
        options.server.workerCount = 1
        options.server.accessLog = false
        options.webhooks.limits.allowPrivate = true
        options.webhooks.pollInterval = 0.2
        let second = Application(options: options)
        try second.start()
        defer { second.shutdown() }
        let a = try WebhookReceiver(), b = try WebhookReceiver()
        defer { a.stop(); b.stop() }
        for (who, r, types) in [("commune", a, ["member.updated"]), ("admin", b, ["member.*"])] {
            let res = try f.call(who, "POST", "/v1/webhooks", ["url": r.url, "event_types": types])
            r.secrets = [try XCTUnwrap(try res.json()["secret"] as? String)]
        }
        for i in 0..<30 {
            try f.db.execute("INSERT INTO events (type, entity_type, entity_id, org_ids) SELECT 'member.updated', 'member', gen_random_uuid(), ARRAY[$1::uuid] FROM generate_series(1, 20)",
                             i % 2 == 0 ? f.orgs["C1"]! : f.orgs["C2"]!)
        }
        // C1's 300 go to the commune and the province; C2's 300 to the province only.
        let deadline = Date().addingTimeInterval(120)
        while (a.received.count < 300 || b.received.count < 600) && Date() < deadline { usleep(50_000) }
        usleep(500_000)
        XCTAssertEqual(a.received.count, 300)
        XCTAssertEqual(b.received.count, 600)
        for r in [a, b] {
            XCTAssertEqual(Set(r.received.map(\.messageID)).count, r.received.count, "each event once")
            XCTAssertEqual(Set(r.received.map(\.attemptID)).count, r.received.count)
            XCTAssertTrue(r.received.allSatisfy(\.valid))
        }
    }
}

/// The demo's webhooks, on the fixture's province renamed to the demo codes: loaded once, the
/// paused one with a history to show, the active one pointing at a host that never resolves.
final class DemoWebhooksTests: XCTestCase {
    func testDemoWebhooksShowEveryDeliveryStateAndReachNoRealHost() throws {
        let f = try ExchangeFixture { $0.backgroundJobs = false }
        defer { f.stop() }
        try f.db.execute("UPDATE organizations SET code = 'DEMO-T' WHERE code = 'P1'")
        try f.db.execute("UPDATE organizations SET code = 'DEMO-T-X01' WHERE code = 'C1'")
        // As in the demo loader: the province's events and the webhooks in one transaction.
        XCTAssertTrue(try f.db.transaction { db in
            for _ in 0..<6 {
                try db.execute("INSERT INTO events (type, entity_type, entity_id, org_ids) VALUES ('introduction.sent', 'introduction', gen_random_uuid(), ARRAY[$1::uuid])", f.orgs["C1"]!)
            }
            return try DemoWebhooks.load(db, provinceCode: "DEMO-T")
        })
        XCTAssertFalse(try DemoWebhooks.load(f.db, provinceCode: "DEMO-T"), "loaded once")
        let hooks = try XCTUnwrap(try f.call("admin", "GET", "/v1/webhooks").json()["items"] as? [[String: Any]])
        XCTAssertEqual(hooks.count, 2)
        let paused = try XCTUnwrap(hooks.first { $0["status"] as? String == "paused" })
        XCTAssertEqual(paused["paused_reason"] as? String, "failing")
        let id = try XCTUnwrap(paused["id"] as? String)
        var counts: [String: Int] = [:]
        for s in ["delivered", "dead", "retrying"] {
            counts[s] = (try f.call("commune", "GET", "/v1/webhooks/\(id)/deliveries?status=\(s)").json()["items"] as? [[String: Any]])?.count
        }
        XCTAssertEqual(counts, ["delivered": 3, "dead": 2, "retrying": 1])
        let dead = try XCTUnwrap((try f.call("commune", "GET", "/v1/webhooks/\(id)/deliveries?status=dead").json()["items"] as? [[String: Any]])?.first)
        let detail = try f.call("commune", "GET", "/v1/webhooks/\(id)/deliveries/\(try XCTUnwrap(dead["id"] as? String))").json()
        XCTAssertEqual((detail["attempts"] as? [[String: Any]])?.count, 30)
        XCTAssertEqual((detail["last_response"] as? [String: Any])?["status"] as? Int, 503)

        // An introduction to the commune: the province's webhook gets a delivery that fails on
        // name resolution; the paused one holds its delivery.
        XCTAssertEqual(try f.call("workplace", "POST", "/v1/introductions", ["member_id": f.members[0], "commune_id": f.orgs["C1"]!]).status, 201)
        var config = WebhookWorker.Config()
        config.limits.totalTimeout = 5
        _ = try WebhookWorker.runOnce(db: f.db, now: Date(), config: config)
        let errors = try f.db.query("""
            SELECT a.error FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id
            WHERE a.started_at > now() - interval '1 minute'
            """).map { try $0.decode(String?.self, 0) }
        XCTAssertEqual(errors, ["cannot resolve province-records.invalid"])
        let held = try f.db.query("SELECT event_type FROM webhook_deliveries WHERE subscription_id = $1::uuid AND status = 'pending' ORDER BY event_type", id)
            .map { try $0.decode(String.self, 0) }
        XCTAssertEqual(held, ["introduction.sent"], "the new event, held; nothing of the demo's own history")
    }
}
