import Foundation
import Postgres

/// Two webhooks of the pilot province, so the webhook API has something to show:
/// - the province's, active, for introductions and change notices, to an `.invalid` host (RFC
///   2606: never resolves), so acting in the demo makes deliveries that fail and retry without
///   ever reaching a real server;
/// - the first commune's, paused after failing (`paused_reason = failing`), with a history of
///   delivered, retrying (held while paused) and dead deliveries and their attempts.
/// Idempotent per province through the marker event `demo.webhooks_loaded`.
public enum DemoWebhooks {
    public static let markerEvent = "demo.webhooks_loaded"

    @discardableResult
    public static func load(_ db: Connection, provinceCode code: String) throws -> Bool {
        try db.transaction { db in
            guard let province = try db.queryRow("SELECT id FROM organizations WHERE code = $1", code)?.decode(UUID.self, 0),
                  let commune = try db.queryRow("SELECT id FROM organizations WHERE code = $1", code + "-X01")?.decode(UUID.self, 0) else {
                throw DemoError("the demo province \(code) is not loaded")
            }
            if try db.queryRow("SELECT 1 FROM events WHERE entity_type = 'organization' AND entity_id = $1 AND type = $2",
                               province, markerEvent) != nil { return false }
            let active = try db.queryRow("""
                INSERT INTO webhook_subscriptions (org_id, url, event_types, description, secret)
                VALUES ($1, 'http://province-records.invalid/branchlink/events', ARRAY['introduction.*', 'change_notice.*'],
                        'Demo: hệ thống hồ sơ của Ban Tổ chức Tỉnh ủy (địa chỉ .invalid, không bao giờ tới được)', $2)
                RETURNING id
                """, province, WebhookRules.newSecret())!.decode(UUID.self, 0)
            let paused = try db.queryRow("""
                INSERT INTO webhook_subscriptions (org_id, url, event_types, description, secret, status, paused_reason, paused_at,
                    consecutive_failures, failing_since)
                VALUES ($1, 'http://commune-portal.invalid/branchlink', ARRAY['*'],
                        'Demo: cổng thông tin xã, tạm dừng sau nhiều lần gửi lỗi', $2, 'paused', 'failing', now() - interval '2 hours',
                        23, now() - interval '26 hours')
                RETURNING id
                """, commune, WebhookRules.newSecret())!.decode(UUID.self, 0)
            // Both start after every event of this transaction (the whole demo province is loaded
            // in it): the demo's history is never sent anywhere, only what happens afterwards.
            try db.execute("""
                INSERT INTO webhook_cursors (subscription_id, after_xid, after_sequence)
                SELECT id, pg_current_xact_id(), 9223372036854775807
                FROM webhook_subscriptions WHERE id IN ($1, $2)
                """, active, paused)
            // The paused webhook's history: six of the commune's recent events; the first three
            // delivered, the next two dead after a day of retries, the last held while paused.
            try db.execute("""
                WITH ev AS (
                    SELECT sequence, type, row_number() OVER (ORDER BY sequence DESC) AS n FROM events
                    WHERE org_ids && ARRAY[$2::uuid] AND entity_type <> 'organization' ORDER BY sequence DESC LIMIT 6
                ), d AS (
                    INSERT INTO webhook_deliveries (subscription_id, event_sequence, event_type, message_id, status, attempt_count,
                        next_attempt_at, deadline_at, last_attempt_at, last_response_status, last_error, delivered_at, created_at)
                    SELECT $1, sequence, type, 'msg_' || md5($1::text || ':' || sequence),
                           CASE WHEN n <= 3 THEN 'delivered' WHEN n <= 5 THEN 'dead' ELSE 'retrying' END,
                           CASE WHEN n <= 3 THEN 1 WHEN n <= 5 THEN 30 ELSE 4 END,
                           now() - interval '1 hour', now() - interval '26 hours' + interval '24 hours' * (CASE WHEN n <= 5 THEN 1 ELSE 2 END),
                           now() - interval '2 hours', CASE WHEN n <= 3 THEN 200 WHEN n <= 5 THEN 503 END,
                           CASE WHEN n <= 3 THEN NULL WHEN n <= 5 THEN 'HTTP 503' ELSE 'cannot resolve commune-portal.invalid' END,
                           CASE WHEN n <= 3 THEN now() - interval '27 hours' END, now() - interval '27 hours'
                    FROM ev
                    RETURNING id, attempt_count, status
                )
                INSERT INTO webhook_attempts (delivery_id, number, started_at, finished_at, response_status, response_excerpt, error, duration_ms)
                SELECT d.id, k, now() - interval '27 hours' + (k - 1) * interval '50 minutes',
                       now() - interval '27 hours' + (k - 1) * interval '50 minutes' + interval '180 milliseconds',
                       CASE WHEN d.status = 'delivered' THEN 200 WHEN d.status = 'dead' THEN 503 END,
                       CASE WHEN d.status = 'delivered' THEN '{"ok":true}' WHEN d.status = 'dead' THEN 'Service Unavailable' END,
                       CASE WHEN d.status = 'delivered' THEN NULL WHEN d.status = 'dead' THEN 'HTTP 503' ELSE 'cannot resolve commune-portal.invalid' END,
                       180
                FROM d CROSS JOIN LATERAL generate_series(1, d.attempt_count) k
                """, paused, commune)
            try EventLog.append(db, type: "webhook.auto_paused", entityType: "webhook", entityID: paused, orgIDs: [commune],
                                actor: nil, requestID: nil, data: ["consecutive_failures": 23, "via": "demo"])
            try EventLog.append(db, type: markerEvent, entityType: "organization", entityID: province, orgIDs: [province],
                                actor: nil, requestID: nil, data: ["webhooks": [active.lower, paused.lower]])
            return true
        }
    }
}
