import Foundation
import Postgres

/// Sends due deliveries, one at a time per worker thread, in three steps:
/// 1. claim (one transaction, committed): the oldest due delivery of an active subscription whose
///    lease is free (`FOR UPDATE SKIP LOCKED`), leased until now + lease; a new attempt row with a
///    new id is written; an earlier attempt left unfinished by a killed process is closed as
///    interrupted. So an attempt id goes out at most once, whatever happens after the commit.
/// 2. the HTTP POST, outside any transaction;
/// 3. record (one transaction): the attempt's outcome, and the delivery's — delivered, retrying
///    at the next back-off time, or dead after its 24-hour window — only while this attempt still
///    holds the lease; the subscription's failure streak, and the auto-pause with its event.
/// A process killed between 1 and 3 leaves a lease that runs out: another sender claims the
/// delivery again (at-least-once delivery; receivers deduplicate on webhook-id).
enum WebhookSender {
    struct Claim {
        var deliveryID: UUID
        var attemptID: UUID
        var attemptNumber: Int
        var subscriptionID: UUID
        var messageID: String
        var url: String
        var secrets: [String]
        var body: [UInt8]
        var deadline: Date
    }

    static func claim(_ db: Connection, now: Date, lease: TimeInterval) throws -> Claim? {
        try db.transaction { db -> Claim? in
            let at = Timestamp.rfc3339(now)
            // Subscriptions take turns (the one served least recently first), so one with a big
            // backlog or a slow receiver does not hold up the others; paused and backing-off ones
            // are passed over without looking at their deliveries. The subscription row is not
            // locked here (several senders may serve one subscription at once, each skipping the
            // deliveries the others hold); last_claimed_at is written after the delivery is
            // locked, in the order record uses too (delivery, attempt, subscription).
            guard let sub = try db.queryRow("""
                SELECT s.id, s.url, s.secret, CASE WHEN s.previous_secret_expires_at > $1::text::timestamptz THEN s.previous_secret END
                FROM webhook_subscriptions s
                WHERE s.status = 'active' AND (s.backoff_until IS NULL OR s.backoff_until <= $1::text::timestamptz)
                  AND EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.subscription_id = s.id AND d.status IN ('pending', 'retrying')
                              AND d.next_attempt_at <= $1::text::timestamptz
                              AND (d.locked_until IS NULL OR d.locked_until <= $1::text::timestamptz))
                ORDER BY s.last_claimed_at NULLS FIRST, s.id
                LIMIT 1
                """, at) else { return nil }
            let subscriptionID = try sub.decode(UUID.self, 0)
            guard let row = try db.queryRow("""
                SELECT d.id, d.current_attempt_id, d.event_sequence, d.message_id, d.deadline_at
                FROM webhook_deliveries d
                WHERE d.subscription_id = $2 AND d.status IN ('pending', 'retrying') AND d.next_attempt_at <= $1::text::timestamptz
                  AND (d.locked_until IS NULL OR d.locked_until <= $1::text::timestamptz)
                ORDER BY d.next_attempt_at, d.event_sequence
                LIMIT 1
                FOR UPDATE SKIP LOCKED
                """, at, subscriptionID) else { return nil }
            let deliveryID = try row.decode(UUID.self, 0)
            if let interrupted = try row.decode(UUID?.self, 1) {
                try db.execute("""
                    UPDATE webhook_attempts SET finished_at = $2::text::timestamptz, error = 'interrupted: the sender stopped before recording an outcome'
                    WHERE id = $1 AND finished_at IS NULL
                    """, interrupted, at)
            }
            let attemptID = UUID()
            let number = try db.queryRow("""
                UPDATE webhook_deliveries SET locked_until = $2::text::timestamptz + $3::bigint * interval '1 millisecond',
                    current_attempt_id = $4, attempt_count = attempt_count + 1, last_attempt_at = $2::text::timestamptz,
                    updated_at = now(), version = version + 1
                WHERE id = $1 RETURNING attempt_count
                """, deliveryID, at, Int(lease * 1000), attemptID)!.decode(Int.self, 0)
            try db.execute("INSERT INTO webhook_attempts (id, delivery_id, number, started_at) VALUES ($1, $2, $3, $4::text::timestamptz)",
                           attemptID, deliveryID, number, at)
            try db.execute("UPDATE webhook_subscriptions SET last_claimed_at = $2::text::timestamptz WHERE id = $1", subscriptionID, at)
            let sequence = try row.decode(Int.self, 2)
            return Claim(deliveryID: deliveryID, attemptID: attemptID, attemptNumber: number, subscriptionID: subscriptionID,
                         messageID: try row.decode(String.self, 3), url: try sub.decode(String.self, 1),
                         secrets: [try sub.decode(String.self, 2)] + (try sub.decode(String?.self, 3).map { [$0] } ?? []),
                         body: try payload(db, sequence: sequence), deadline: try row.decode(Date.self, 4))
        }
    }

    /// The delivered JSON (Standard Webhooks shape): `type`, `timestamp` (when the event occurred)
    /// and `data`, the event exactly as `GET /v1/events` shows it. Built from the event row alone,
    /// so every attempt sends the same bytes.
    static func payload(_ db: Connection, sequence: Int) throws -> [UInt8] {
        guard let row = try db.queryRow("""
            SELECT sequence, type, occurred_at, entity_type, entity_id, org_ids, actor_account_id, acting_for_org_id, request_id, data::text
            FROM events WHERE sequence = $1
            """, sequence) else { return Array("{}".utf8) }
        let type = try row.decode(String.self, 1), occurred = try row.decode(Date.self, 2)
        var j = JSONBytes()
        j.raw("{\"type\":"); j.string(type)
        j.raw(",\"timestamp\":"); j.timestamp(occurred)
        j.raw(",\"data\":{\"sequence\":"); j.int(try row.decode(Int.self, 0))
        j.raw(",\"type\":"); j.string(type)
        j.raw(",\"occurred_at\":"); j.timestamp(occurred)
        j.raw(",\"entity\":{\"type\":"); j.string(try row.decode(String.self, 3))
        j.raw(",\"id\":"); j.uuid(try row.decode(UUID.self, 4)); j.raw("}")
        j.raw(",\"org_ids\":[")
        for (i, o) in try row.decode([UUID].self, 5).enumerated() {
            if i > 0 { j.raw(",") }
            j.uuid(o)
        }
        j.raw("],\"actor\":")
        if let a = try row.decode(UUID?.self, 6) { j.raw("{\"account_id\":"); j.uuid(a); j.raw("}") } else { j.null() }
        j.raw(",\"acting_for\":"); j.uuid(try row.decode(UUID?.self, 7))
        j.raw(",\"request_id\":"); j.string(try row.decode(String?.self, 8))
        j.raw(",\"data\":"); j.bytes.append(contentsOf: try row.decode(String.self, 9).utf8)
        j.raw("}}")
        return j.bytes
    }

    /// The POST of one claim with its Standard Webhooks headers; the timestamp is the wall clock
    /// at sending (receivers compare it with theirs).
    static func send(_ c: Claim, limits: WebhookClient.Limits) -> WebhookClient.Outcome {
        let timestamp = Int(Date().timeIntervalSince1970)
        let headers = [
            ("webhook-id", c.messageID),
            ("webhook-timestamp", String(timestamp)),
            ("webhook-signature", WebhookRules.signatureHeader(secrets: c.secrets, messageID: c.messageID, timestamp: timestamp, body: c.body)),
            ("branchlink-attempt-id", c.attemptID.lower),
            ("branchlink-attempt", String(c.attemptNumber)),
        ]
        return WebhookClient.post(url: c.url, headers: headers, body: c.body, limits: limits)
    }

    static func record(_ db: Connection, _ c: Claim, _ o: WebhookClient.Outcome, now: Date, jitter: Double = Double.random(in: 0.8...1.2)) throws {
        let at = Timestamp.rfc3339(now)
        try db.transaction { db in
            let next = o.succeeded ? nil : WebhookRules.nextAttempt(failedAttempts: c.attemptNumber, failedAt: now, deadline: c.deadline, jitter: jitter)
            let status = o.succeeded ? "delivered" : next == nil ? "dead" : "retrying"
            let updated = try db.execute("""
                UPDATE webhook_deliveries SET status = $3, locked_until = NULL, current_attempt_id = NULL,
                    next_attempt_at = COALESCE($4::text::timestamptz, next_attempt_at), last_response_status = $5, last_error = $6,
                    delivered_at = CASE WHEN $3 = 'delivered' THEN $7::text::timestamptz ELSE delivered_at END,
                    updated_at = now(), version = version + 1
                WHERE id = $1 AND current_attempt_id = $2
                """, c.deliveryID, c.attemptID, status, next.map(Timestamp.rfc3339), o.status, o.error.map { String($0.prefix(500)) }, at)
            // The attempt after the delivery: claims lock in the same order (no deadlock).
            try db.execute("""
                UPDATE webhook_attempts SET finished_at = $2::text::timestamptz, response_status = $3, response_excerpt = $4, error = $5, duration_ms = $6
                WHERE id = $1
                """, c.attemptID, at, o.status, o.excerpt, o.error.map { String($0.prefix(500)) }, o.durationMs)
            // Lease taken over (or the subscription deleted): the newer claim owns the outcome.
            // The failure streak is part of the subscription's representation: it bumps the
            // version (its ETag) like any change, but not updated_at (the configuration's time).
            guard updated == 1 else { return }
            if o.succeeded {
                try db.execute("""
                    UPDATE webhook_subscriptions SET consecutive_failures = 0, failing_since = NULL, backoff_until = NULL, version = version + 1
                    WHERE id = $1 AND (consecutive_failures <> 0 OR failing_since IS NOT NULL OR backoff_until IS NOT NULL)
                    """, c.subscriptionID)
                return
            }
            guard let s = try db.queryRow("""
                UPDATE webhook_subscriptions SET consecutive_failures = consecutive_failures + 1,
                    failing_since = COALESCE(failing_since, $2::text::timestamptz), version = version + 1
                WHERE id = $1 RETURNING consecutive_failures, failing_since, status, org_id
                """, c.subscriptionID, at) else { return }
            let failures = try s.decode(Int.self, 0), since = try s.decode(Date?.self, 1)
            if let until = WebhookRules.backoffUntil(consecutiveFailures: failures, failedAt: now, jitter: jitter) {
                try db.execute("UPDATE webhook_subscriptions SET backoff_until = $2::text::timestamptz WHERE id = $1", c.subscriptionID,
                               Timestamp.rfc3339(until))
            }
            guard try s.decode(String.self, 2) == "active", WebhookRules.shouldPause(consecutiveFailures: failures, failingSince: since, now: now) else { return }
            try db.execute("""
                UPDATE webhook_subscriptions SET status = 'paused', paused_reason = 'failing', paused_at = $2::text::timestamptz,
                    updated_at = now(), version = version + 1
                WHERE id = $1
                """, c.subscriptionID, at)
            try EventLog.append(db, type: "webhook.auto_paused", entityType: "webhook", entityID: c.subscriptionID,
                                orgIDs: [try s.decode(UUID.self, 3)], actor: nil, requestID: nil,
                                data: ["consecutive_failures": failures, "failing_since": since.map(Timestamp.rfc3339) ?? ""])
        }
    }
}
