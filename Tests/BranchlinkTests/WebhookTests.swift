@testable import Branchlink
import Foundation
import Postgres
import XCTest

/// `/v1/webhooks` and the worker, driven by `runOnce` with a simulated clock: API and scoping,
/// signed and scoped deliveries, retries to the dead letter, redeliver, auto-pause and resume,
/// secret rotation, and the takeover of an attempt interrupted by a crash.
final class WebhookTests: XCTestCase {
    var f: ExchangeFixture!
    var receivers: [WebhookReceiver] = []

    override func setUpWithError() throws {
        f = try ExchangeFixture {
            $0.backgroundJobs = false
            $0.webhooks.limits.allowPrivate = true
            $0.rateLimiter = RateLimiter(limit: 1_000_000, windowSeconds: 60)
        }
    }
    override func tearDown() {
        receivers.forEach { $0.stop() }
        f.stop()
    }

    var config: WebhookWorker.Config {
        var c = WebhookWorker.Config()
        c.limits.allowPrivate = true
        c.limits.totalTimeout = 5
        c.sendBatch = 500
        return c
    }

    func receiver() throws -> WebhookReceiver {
        let r = try WebhookReceiver()
        receivers.append(r)
        return r
    }

    /// Runs the worker until a round finds nothing to do.
    @discardableResult
    func drain(now: Date = Date()) throws -> Int {
        var total = 0
        for _ in 0..<50 {
            let n = try WebhookWorker.runOnce(db: f.db, now: now, config: config)
            if n == 0 { return total }
            total += n
        }
        XCTFail("the worker never ran dry")
        return total
    }

    func subscribe(_ who: String, _ r: WebhookReceiver, _ types: [String] = ["*"]) throws -> (id: String, secret: String) {
        let res = try f.call(who, "POST", "/v1/webhooks", ["url": r.url, "event_types": types, "description": "test"])
        XCTAssertEqual(res.status, 201, res.text)
        let body = try res.json()
        let secret = try XCTUnwrap(body["secret"] as? String)
        r.secrets = [secret]
        return (try XCTUnwrap(body["id"] as? String), secret)
    }

    func delivery(_ subscription: String) throws -> [String: Any] {
        try XCTUnwrap(try f.db.queryRow("""
            SELECT status, attempt_count, next_attempt_at, deadline_at FROM webhook_deliveries WHERE subscription_id = $1::uuid ORDER BY event_sequence DESC LIMIT 1
            """, subscription).map { r -> [String: Any] in
            ["status": try r.decode(String.self, 0), "attempts": try r.decode(Int.self, 1), "next": try r.decode(Date.self, 2), "deadline": try r.decode(Date.self, 3)]
        })
    }

    func introduce(_ member: String) throws -> String {
        let res = try f.call("workplace", "POST", "/v1/introductions", ["member_id": member, "commune_id": f.orgs["C1"]!])
        XCTAssertEqual(res.status, 201, res.text)
        return try XCTUnwrap(try res.json()["id"] as? String)
    }

    func testCreateReadPatchDeleteAndScoping() throws {
        let r = try receiver()
        XCTAssertEqual(try f.call("viewer", "POST", "/v1/webhooks", ["url": r.url, "event_types": ["*"]]).status, 403)
        let bad = try f.call("commune", "POST", "/v1/webhooks", ["url": "https://hooks.example.org/x", "event_types": ["introduction.sent", "nope"], "extra": 1])
        XCTAssertEqual(bad.status, 422, bad.text)
        let pointers = Set(((try bad.json()["errors"] as? [[String: Any]]) ?? []).compactMap { $0["pointer"] as? String })
        XCTAssertEqual(pointers, ["/url", "/event_types/1", "/extra"])

        let created = try f.call("commune", "POST", "/v1/webhooks", ["url": r.url, "event_types": ["introduction.*", "introduction.*"]])
        XCTAssertEqual(created.status, 201, created.text)
        let body = try created.json()
        let id = try XCTUnwrap(body["id"] as? String)
        XCTAssertEqual(created.headers["location"], "/v1/webhooks/\(id)")
        let secret = try XCTUnwrap(body["secret"] as? String)
        XCTAssertEqual(WebhookRules.key(ofSecret: secret)?.count, 32)
        XCTAssertEqual(body["event_types"] as? [String], ["introduction.*"])
        XCTAssertEqual(body["status"] as? String, "active")
        XCTAssertEqual(body["org_id"] as? String, f.orgs["C1"])

        let got = try f.call("commune", "GET", "/v1/webhooks/\(id)")
        XCTAssertEqual(got.status, 200)
        XCTAssertNil(try got.json()["secret"], "the secret is shown once")
        let etag = try XCTUnwrap(got.headers["etag"])
        XCTAssertEqual(try f.call("commune", "GET", "/v1/webhooks/\(id)", headers: ["If-None-Match": etag]).status, 304)
        XCTAssertEqual(try f.call("viewer", "GET", "/v1/webhooks/\(id)").status, 200, "the province reads its communes' webhooks")
        XCTAssertEqual(try f.call("other_commune", "GET", "/v1/webhooks/\(id)").status, 404)
        XCTAssertEqual(try f.call("branch", "GET", "/v1/webhooks/\(id)").status, 404, "a child does not see its parent's webhooks")
        let mine = try f.call("commune", "GET", "/v1/webhooks").json()["items"] as? [[String: Any]] ?? []
        XCTAssertEqual(mine.compactMap { $0["id"] as? String }, [id])
        let others = try f.call("other_commune", "GET", "/v1/webhooks").json()["items"] as? [[String: Any]] ?? []
        XCTAssertTrue(others.isEmpty)

        XCTAssertEqual(try f.call("other_commune", "PATCH", "/v1/webhooks/\(id)", ["status": "paused"]).status, 404)
        XCTAssertEqual(try f.call("viewer", "PATCH", "/v1/webhooks/\(id)", ["status": "paused"]).status, 403)
        XCTAssertEqual(try f.call("commune", "PATCH", "/v1/webhooks/\(id)", ["status": "paused"], headers: ["If-Match": "\"v99\""]).status, 412)
        XCTAssertEqual(try f.call("commune", "PATCH", "/v1/webhooks/\(id)", ["status": "off"]).status, 422)
        let paused = try f.call("commune", "PATCH", "/v1/webhooks/\(id)", ["status": "paused", "event_types": ["*"]], headers: ["If-Match": etag])
        XCTAssertEqual(paused.status, 200, paused.text)
        XCTAssertEqual(try paused.json()["paused_reason"] as? String, "manual")
        XCTAssertEqual(try paused.json()["event_types"] as? [String], ["*"])
        XCTAssertNotEqual(paused.headers["etag"], etag)
        // The one-word actions do the same as PATCH {status}.
        let resumed = try f.call("commune", "POST", "/v1/webhooks/\(id)/resume", headers: ["If-Match": paused.headers["etag"]!])
        XCTAssertEqual(resumed.status, 200, resumed.text)
        XCTAssertEqual(try resumed.json()["status"] as? String, "active")
        XCTAssertEqual(try f.call("viewer", "POST", "/v1/webhooks/\(id)/pause").status, 403)
        XCTAssertEqual(try f.call("commune", "POST", "/v1/webhooks/\(id)/pause", ["why": 1]).status, 422)
        let pausedAgain = try f.call("commune", "POST", "/v1/webhooks/\(id)/pause")
        XCTAssertEqual(try pausedAgain.json()["status"] as? String, "paused")
        XCTAssertEqual(try pausedAgain.json()["paused_reason"] as? String, "manual")

        // An Idempotency-Key replay confirms the creation without showing the secret again.
        let body2: [String: Any] = ["url": r.url, "event_types": ["member.updated"]]
        let first = try f.call("commune", "POST", "/v1/webhooks", body2, headers: ["Idempotency-Key": "wh-1"])
        XCTAssertEqual(first.status, 201, first.text)
        XCTAssertEqual(first.headers["cache-control"], "no-store")
        XCTAssertNotNil(try first.json()["secret"] as? String)
        let replay = try f.call("commune", "POST", "/v1/webhooks", body2, headers: ["Idempotency-Key": "wh-1"])
        XCTAssertEqual(replay.status, 201)
        XCTAssertEqual(replay.headers["idempotent-replayed"], "true")
        XCTAssertEqual(try replay.json()["id"] as? String, try first.json()["id"] as? String)
        XCTAssertNil(try replay.json()["secret"])

        XCTAssertEqual(try f.call("other_commune", "DELETE", "/v1/webhooks/\(id)").status, 404)
        XCTAssertEqual(try f.call("commune", "DELETE", "/v1/webhooks/\(id)").status, 204)
        XCTAssertEqual(try f.call("commune", "GET", "/v1/webhooks/\(id)").status, 404)
    }

    func testDeliveriesAreSignedScopedAndListed() throws {
        let rC1 = try receiver(), rC2 = try receiver(), rP1 = try receiver()
        let c1 = try subscribe("commune", rC1)
        _ = try subscribe("other_commune", rC2)
        _ = try subscribe("admin", rP1, ["introduction.*", "assessment_request.*"])

        let intro = try introduce(f.members[0])
        XCTAssertEqual(try f.call("commune", "POST", "/v1/introductions/\(intro)/receive", [:]).status, 200)
        XCTAssertEqual(try f.call("commune", "POST", "/v1/introductions/\(intro)/assign", ["branch_id": f.orgs["B1"]!]).status, 200)
        XCTAssertEqual(try f.call("branch", "POST", "/v1/introductions/\(intro)/acknowledge", [:]).status, 200)
        let due = try XCTUnwrap(try f.db.queryRow("SELECT (hcm_today() + 5)::text")?.decode(String.self, 0))
        let secret = try f.call("workplace", "POST", "/v1/assessment-requests",
                                ["member_id": f.members[0], "purpose": "appointment", "needed_by": due, "confidential": true])
        XCTAssertEqual(secret.status, 201, secret.text)
        let secretID = try XCTUnwrap(try secret.json()["id"] as? String)
        XCTAssertEqual(try f.call("commune", "POST", "/v1/assessment-requests/\(secretID)/forward", [:]).status, 200)

        try drain()
        func entities(_ r: WebhookReceiver) -> [String] {
            r.received.compactMap { (($0.json["data"] as? [String: Any])?["entity"] as? [String: Any])?["id"] as? String }
        }
        for r in [rC1, rC2, rP1] {
            XCTAssertTrue(r.received.allSatisfy(\.valid), "every signature verifies")
            XCTAssertEqual(Set(r.received.map(\.messageID)).count, r.received.count, "one message per event")
        }
        XCTAssertEqual(entities(rC1).filter { $0 == intro }.count, 4, "sent, received, assigned, acknowledged")
        XCTAssertEqual(entities(rC1).filter { $0 == secretID }.count, 2, "the commune is involved in the confidential request")
        XCTAssertTrue(rC1.received.contains { $0.json["type"] as? String == "webhook.created" }, "* includes the webhook's own events")
        XCTAssertTrue(Set(entities(rC2)).isDisjoint(with: [intro, secretID]), "another commune's webhook receives none of it")
        XCTAssertEqual(entities(rP1).filter { $0 == intro }.count, 4, "the province receives its communes' events")
        XCTAssertFalse(entities(rP1).contains(secretID), "a confidential request is never sent to an ancestor")
        XCTAssertTrue(rP1.received.allSatisfy { ($0.json["type"] as? String ?? "").hasPrefix("introduction.") }, "only the subscribed types")

        // The payload: type, timestamp and the event as the feed shows it.
        let sent = try XCTUnwrap(rC1.received.first { $0.json["type"] as? String == "introduction.sent" }).json
        XCTAssertNotNil(sent["timestamp"] as? String)
        let data = try XCTUnwrap(sent["data"] as? [String: Any])
        XCTAssertEqual(data["type"] as? String, "introduction.sent")
        XCTAssertNotNil(data["sequence"] as? Int)
        XCTAssertTrue((data["org_ids"] as? [String] ?? []).contains(f.orgs["C1"]!))

        // The deliveries API.
        let list = try f.call("commune", "GET", "/v1/webhooks/\(c1.id)/deliveries?status=delivered&limit=500")
        XCTAssertEqual(list.status, 200, list.text)
        let items = try XCTUnwrap(try list.json()["items"] as? [[String: Any]])
        XCTAssertEqual(items.count, rC1.received.count)
        XCTAssertEqual(Set(items.compactMap { $0["message_id"] as? String }), Set(rC1.received.map(\.messageID)))
        let one = try f.call("commune", "GET", "/v1/webhooks/\(c1.id)/deliveries/\(try XCTUnwrap(items.first?["id"] as? String))")
        XCTAssertEqual(one.status, 200, one.text)
        let attempts = try XCTUnwrap(try one.json()["attempts"] as? [[String: Any]])
        XCTAssertEqual(attempts.count, 1)
        XCTAssertEqual(attempts.first?["response_status"] as? Int, 200)
        XCTAssertEqual((try one.json()["last_response"] as? [String: Any])?["body_excerpt"] as? String, "ok")
        let pending = try f.call("commune", "GET", "/v1/webhooks/\(c1.id)/deliveries?status=pending").json()["items"] as? [[String: Any]]
        XCTAssertEqual(pending?.count, 0)
        XCTAssertEqual(try f.call("commune", "GET", "/v1/webhooks/\(c1.id)/deliveries?status=bogus").status, 400)
        XCTAssertEqual(try f.call("other_commune", "GET", "/v1/webhooks/\(c1.id)/deliveries").status, 404)
    }

    func testRetriesDeadLetterAndRedeliver() throws {
        let r = try receiver()
        r.respond { _, _ in 500 }
        let w = try subscribe("commune", r, ["introduction.*"])
        _ = try introduce(f.members[0])
        let t0 = Date()
        XCTAssertEqual(try drain(now: t0), 2, "one delivery created, one attempt")
        var d = try delivery(w.id)
        XCTAssertEqual(d["status"] as? String, "retrying")
        let next = try XCTUnwrap(d["next"] as? Date).timeIntervalSince(t0)
        XCTAssertTrue((23.9...36.1).contains(next), "30 s ± 20 % jitter, got \(next)")
        XCTAssertEqual(try drain(now: t0.addingTimeInterval(10)), 0, "not due yet")
        XCTAssertEqual(try drain(now: t0.addingTimeInterval(40)), 1)
        XCTAssertEqual(try delivery(w.id)["attempts"] as? Int, 2)
        // A day later the next failure is past the 24-hour window: dead-lettered.
        XCTAssertEqual(try drain(now: t0.addingTimeInterval(25 * 3600)), 1)
        d = try delivery(w.id)
        XCTAssertEqual(d["status"] as? String, "dead")
        XCTAssertEqual(r.received.count, 3)
        let dead = try XCTUnwrap(try f.call("commune", "GET", "/v1/webhooks/\(w.id)/deliveries?status=dead").json()["items"] as? [[String: Any]])
        XCTAssertEqual(dead.count, 1)
        let did = try XCTUnwrap(dead.first?["id"] as? String)
        XCTAssertEqual(dead.first?["last_response_status"] as? Int, 500)
        XCTAssertEqual(dead.first?["last_error"] as? String, "HTTP 500")
        XCTAssertTrue(dead.first?["next_attempt_at"] is NSNull)

        XCTAssertEqual(try f.call("other_commune", "POST", "/v1/webhooks/\(w.id)/deliveries/\(did)/redeliver", [:]).status, 404)
        XCTAssertEqual(try f.call("viewer", "POST", "/v1/webhooks/\(w.id)/deliveries/\(did)/redeliver", [:]).status, 403)
        let again = try f.call("commune", "POST", "/v1/webhooks/\(w.id)/deliveries/\(did)/redeliver", [:])
        XCTAssertEqual(again.status, 200, again.text)
        XCTAssertEqual(try again.json()["status"] as? String, "retrying")
        XCTAssertEqual((try again.json()["attempts"] as? [[String: Any]])?.count, 3)
        r.respond { _, _ in 200 }
        XCTAssertEqual(try drain(), 1)
        XCTAssertEqual(try delivery(w.id)["status"] as? String, "delivered")
        XCTAssertEqual(Set(r.received.map(\.messageID)).count, 1, "the same webhook-id on every attempt and on redelivery")
        XCTAssertEqual(Set(r.received.map(\.attemptID)).count, 4, "a new attempt id each time")
        XCTAssertTrue(r.received.allSatisfy(\.valid))
    }

    func testBackoffOfTheSubscriptionAutoPauseAndResume() throws {
        let r = try receiver()
        r.respond { _, _ in 503 }
        let w = try subscribe("commune", r)
        for i in 0..<25 {
            try f.db.execute("INSERT INTO events (type, entity_type, entity_id, org_ids, data) VALUES ('member.updated', 'member', gen_random_uuid(), ARRAY[$1::uuid], jsonb_build_object('i', $2::int))",
                             f.orgs["C1"]!, i)
        }
        let t0 = Date()
        try drain(now: t0)
        XCTAssertEqual(r.received.count, 3, "three failures in a row, then the subscription backs off instead of sending its whole queue")
        let row = { try XCTUnwrap(try self.f.db.queryRow("SELECT status, paused_reason, consecutive_failures, backoff_until FROM webhook_subscriptions WHERE id = $1::uuid", w.id)) }
        let until = try XCTUnwrap(try row().decode(Date?.self, 3)).timeIntervalSince(t0)
        XCTAssertTrue((47.9...72.1).contains(until), "60 s ± 20 %, got \(until)")
        XCTAssertEqual(try drain(now: t0.addingTimeInterval(until - 1)), 0)
        XCTAssertEqual(r.received.count, 3)
        // Every two hours one probe fails; the tenth failure, hours after the first, pauses it.
        var k = 0
        while try row().decode(String.self, 0) == "active" && k < 20 {
            k += 1
            try drain(now: t0.addingTimeInterval(Double(k) * 7200))
        }
        XCTAssertEqual(k, 7)
        XCTAssertEqual(r.received.count, 10)
        XCTAssertEqual(try row().decode(String?.self, 1), "failing")
        XCTAssertEqual(try f.db.queryRow("SELECT count(*) FROM events WHERE type = 'webhook.auto_paused' AND entity_id = $1::uuid", w.id)?.decode(Int.self, 0), 1)
        try drain(now: t0.addingTimeInterval(16 * 3600))
        XCTAssertEqual(r.received.count, 10, "nothing is sent while paused")
        let got = try f.call("commune", "GET", "/v1/webhooks/\(w.id)")
        XCTAssertEqual(try got.json()["paused_reason"] as? String, "failing")
        XCTAssertEqual(try got.json()["consecutive_failures"] as? Int, 10)

        r.respond { _, _ in 200 }
        let resumed = try f.call("commune", "PATCH", "/v1/webhooks/\(w.id)", ["status": "active"], headers: ["If-Match": got.headers["etag"]!])
        XCTAssertEqual(resumed.status, 200, resumed.text)
        XCTAssertEqual(try resumed.json()["consecutive_failures"] as? Int, 0)
        XCTAssertTrue(try resumed.json()["backoff_until"] is NSNull)
        try drain(now: t0.addingTimeInterval(16 * 3600))
        XCTAssertEqual(try f.db.queryRow("SELECT count(*) FILTER (WHERE status <> 'delivered'), count(*) FROM webhook_deliveries WHERE subscription_id = $1::uuid", w.id)
                       .map { [try $0.decode(Int.self, 0), try $0.decode(Int.self, 1)] }, [0, 28], "25 + created + auto_paused + updated, all delivered")
        XCTAssertTrue(r.received.allSatisfy(\.valid))
    }

    /// Subscriptions take turns: a backlog of 30 at one does not delay the other's one delivery.
    func testSubscriptionsTakeTurns() throws {
        let a = try receiver(), b = try receiver()
        _ = try subscribe("commune", a, ["member.updated"])
        _ = try subscribe("other_commune", b, ["member.updated"])
        try f.db.execute("INSERT INTO events (type, entity_type, entity_id, org_ids) SELECT 'member.updated', 'member', gen_random_uuid(), ARRAY[$1::uuid] FROM generate_series(1, 30)", f.orgs["C1"]!)
        try f.db.execute("INSERT INTO events (type, entity_type, entity_id, org_ids) VALUES ('member.updated', 'member', gen_random_uuid(), ARRAY[$1::uuid])", f.orgs["C2"]!)
        var c = config
        c.sendBatch = 2
        XCTAssertEqual(try WebhookWorker.runOnce(db: f.db, now: Date(), config: c), 33, "31 deliveries created, 2 sent")
        XCTAssertEqual(a.received.count, 1)
        XCTAssertEqual(b.received.count, 1)
        try drain()
        XCTAssertEqual(a.received.count, 30)
    }

    func testRotationSignsWithBothSecretsDuringTheOverlapOnly() throws {
        let r = try receiver()
        let w = try subscribe("commune", r, ["member.updated"])
        let rotated = try f.call("commune", "POST", "/v1/webhooks/\(w.id)/rotate-secret", ["overlap_seconds": 3600])
        XCTAssertEqual(rotated.status, 200, rotated.text)
        let newSecret = try XCTUnwrap(try rotated.json()["secret"] as? String)
        XCTAssertNotEqual(newSecret, w.secret)
        XCTAssertNotNil(try rotated.json()["previous_secret_expires_at"] as? String)
        r.secrets = [w.secret, newSecret]
        func event() throws {
            try f.db.execute("INSERT INTO events (type, entity_type, entity_id, org_ids) VALUES ('member.updated', 'member', gen_random_uuid(), ARRAY[$1::uuid])", f.orgs["C1"]!)
        }
        func verifies(_ m: WebhookReceiver.Received, _ secret: String) -> Bool {
            WebhookRules.verify(secret: secret, messageID: m.messageID, timestamp: m.timestamp, signatureHeader: m.signature, body: m.body)
        }
        try event()
        try drain()
        let during = try XCTUnwrap(r.received.last)
        XCTAssertEqual(during.signature.split(separator: " ").count, 2)
        XCTAssertTrue(verifies(during, w.secret), "the old secret still verifies during the overlap")
        XCTAssertTrue(verifies(during, newSecret))
        try event()
        try drain(now: Date().addingTimeInterval(2 * 3600))
        let after = try XCTUnwrap(r.received.last)
        XCTAssertEqual(after.signature.split(separator: " ").count, 1)
        XCTAssertFalse(verifies(after, w.secret), "the old secret is rejected after the overlap")
        XCTAssertTrue(verifies(after, newSecret))
        XCTAssertEqual(try f.call("other_commune", "POST", "/v1/webhooks/\(w.id)/rotate-secret", [:]).status, 404)
    }

    /// The sender's client on its own: a receiver slower than the deadline is a timeout; a
    /// loopback destination is refused unless allowed; a refused connection is an error.
    func testClientDeadlineAndDestinationCheck() throws {
        let r = try receiver()
        r.delay = 2
        var limits = WebhookClient.Limits()
        limits.allowPrivate = true
        limits.totalTimeout = 0.5
        let slow = WebhookClient.post(url: r.url, headers: [], body: Array("{}".utf8), limits: limits)
        XCTAssertNil(slow.status)
        XCTAssertEqual(slow.error, "timed out waiting for the response")
        XCTAssertLessThan(slow.durationMs, 1500)
        r.delay = 0
        limits.totalTimeout = 5
        let ok = WebhookClient.post(url: r.url + "?x=1", headers: [("webhook-id", "msg_x")], body: Array("{}".utf8), limits: limits)
        XCTAssertEqual(ok.status, 200)
        XCTAssertEqual(ok.excerpt, "ok")
        XCTAssertTrue(ok.succeeded)
        limits.allowPrivate = false
        let refused = WebhookClient.post(url: r.url, headers: [], body: [], limits: limits)
        XCTAssertNil(refused.status)
        XCTAssertEqual(refused.error, "destination 127.0.0.1 is a loopback or private address (not allowed)")
        limits.allowPrivate = true
        r.stop()
        let closed = WebhookClient.post(url: r.url, headers: [], body: [], limits: limits)
        XCTAssertNil(closed.status)
        XCTAssertTrue(closed.error?.hasPrefix("connect failed") == true, closed.error ?? "")
    }

    /// A sender that dies after claiming (the attempt row is committed, nothing recorded): once
    /// the lease runs out another sender closes that attempt as interrupted and makes a new one.
    func testInterruptedAttemptIsTakenOverWithANewAttemptID() throws {
        let r = try receiver()
        let w = try subscribe("commune", r, ["member.updated"])
        try f.db.execute("INSERT INTO events (type, entity_type, entity_id, org_ids) VALUES ('member.updated', 'member', gen_random_uuid(), ARRAY[$1::uuid])", f.orgs["C1"]!)
        let t0 = Date()
        XCTAssertEqual(try WebhookDispatch.run(f.db, now: t0), 1)
        let lost = try XCTUnwrap(try WebhookSender.claim(f.db, now: t0, lease: config.lease))
        XCTAssertNil(try WebhookSender.claim(f.db, now: t0.addingTimeInterval(1), lease: config.lease), "leased")
        XCTAssertEqual(try drain(now: t0.addingTimeInterval(config.lease + 1)), 1)
        XCTAssertEqual(try delivery(w.id)["status"] as? String, "delivered")
        let attempts = try f.db.query("SELECT id, number, error, finished_at IS NOT NULL FROM webhook_attempts ORDER BY number").map {
            (try $0.decode(UUID.self, 0), try $0.decode(Int.self, 1), try $0.decode(String?.self, 2), try $0.decode(Bool.self, 3))
        }
        XCTAssertEqual(attempts.count, 2)
        XCTAssertEqual(attempts[0].0, lost.attemptID)
        XCTAssertTrue(attempts[0].2?.hasPrefix("interrupted") == true)
        XCTAssertTrue(attempts.allSatisfy(\.3))
        XCTAssertEqual(r.received.map(\.attemptID), [attempts[1].0.lower])
        // The lost sender coming back late cannot overwrite the newer outcome.
        try WebhookSender.record(f.db, lost, WebhookClient.Outcome(status: 500, excerpt: nil, error: "HTTP 500", durationMs: 1), now: t0)
        XCTAssertEqual(try delivery(w.id)["status"] as? String, "delivered")
    }
}
