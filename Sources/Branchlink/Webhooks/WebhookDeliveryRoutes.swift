import Foundation
import HTTP
import Postgres

/// `/v1/webhooks/{id}/deliveries`: what was sent to a subscription, each with its attempts, and
/// `redeliver` to send one again (same webhook-id, a fresh 24-hour retry window).
enum WebhookDeliveryRoutes {
    static let statuses = ["pending", "retrying", "delivered", "dead"]

    static func register(on router: Router<AppContext>) {
        router.get("/v1/webhooks/{id}/deliveries", list)
        router.get("/v1/webhooks/{id}/deliveries/{delivery_id}", get)
        router.post("/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver", redeliver)
    }

    static func load(_ db: Connection, _ request: Request, _ p: Principal, forUpdate: Bool = false)
        throws -> (WebhookSubscription, WebhookDelivery) {
        let w = try WebhookRoutes.load(db, try request.pathUUID(notFound: "webhook"), for: p)
        let id = try request.pathUUID("delivery_id", notFound: "delivery")
        guard let row = try db.queryRow("SELECT \(WebhookDelivery.columns) FROM webhook_deliveries d WHERE d.id = $1 AND d.subscription_id = $2"
                                         + (forUpdate ? " FOR UPDATE" : ""), id, w.id) else {
            throw APIError.notFound("delivery")
        }
        return (w, try WebhookDelivery(row: row))
    }

    static func withAttempts(_ db: Connection, _ d: WebhookDelivery) throws -> WebhookDelivery {
        var d = d
        d.attempts = try db.query("""
            SELECT id, number, started_at, finished_at, response_status, response_excerpt, error, duration_ms
            FROM webhook_attempts WHERE delivery_id = $1 ORDER BY number
            """, d.id).map(WebhookAttempt.init(row:))
        return d
    }

    static func list(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        let w = try WebhookRoutes.load(ctx.db, try request.pathUUID(notFound: "webhook"), for: p)
        let status = request.query("status")
        if let s = status, !statuses.contains(s) {
            throw APIError.invalidParameter("status", "must be one of " + statuses.joined(separator: ", "))
        }
        return try Listing.respond(request, ctx, csv: "webhook-deliveries", header: WebhookDelivery.csvHeader, row: { $0.csvRow }) { db, after, limit in
            var params: [any PostgresEncodable] = [w.id]
            func bind(_ v: any PostgresEncodable) -> Int { params.append(v); return params.count }
            var conditions = ["d.subscription_id = $1"]
            if let status { conditions.append("d.status = $\(bind(status))") }
            if let c = try CreatedKeyset.condition(after: after, alias: "d", bind: bind) { conditions.append(c) }
            let rows = try db.query("SELECT \(WebhookDelivery.columns) FROM webhook_deliveries d WHERE " + conditions.joined(separator: " AND ")
                                    + " ORDER BY d.created_at, d.id LIMIT \(limit + 1)", parameters: params)
            return CreatedKeyset.page(try rows.map(WebhookDelivery.init(row:)), limit: limit) { ($0.createdAt, $0.id) }
        }
    }

    static func get(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        let (_, d) = try load(ctx.db, request, p)
        if let notModified = ETag.notModified(request, version: d.version) { return notModified }
        return try JSONOutput.resource(try withAttempts(ctx.db, d), version: d.version)
    }

    /// Sends the delivery again: due now, a new 24-hour window, the same webhook-id. 409 while it
    /// is still waiting for its first attempt or an attempt is in flight.
    static func redeliver(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        var input = try JSONInput(request)
        try input.finish()
        return try ctx.db.transaction { db in
            let (w, d) = try load(db, request, p, forUpdate: true)
            try Policy.require(p, .act, at: w.orgPath, what: "webhook")
            try ETag.checkIfMatch(request, version: d.version)
            let inFlight = try db.queryRow("SELECT locked_until > now() FROM webhook_deliveries WHERE id = $1", d.id)?.decode(Bool?.self, 0) ?? false
            if d.status == "pending" || inFlight {
                throw APIError(status: 409, code: "delivery_in_progress",
                               detail: "This delivery is already waiting to be sent or being sent.", extra: ["current_status": d.status])
            }
            try db.execute("""
                UPDATE webhook_deliveries SET status = 'retrying', next_attempt_at = now(), deadline_at = now() + interval '24 hours',
                    updated_at = now(), version = version + 1
                WHERE id = $1
                """, d.id)
            // "Now" also means before the subscription's own back-off ends.
            try db.execute("UPDATE webhook_subscriptions SET backoff_until = NULL WHERE id = $1 AND backoff_until IS NOT NULL", w.id)
            try EventLog.append(db, type: "webhook.updated", entityType: "webhook", entityID: w.id, orgIDs: [w.orgId], actor: p,
                                requestID: request.requestID, data: ["redelivered": d.id.lower])
            let (_, updated) = try load(db, request, p)
            return try JSONOutput.resource(try withAttempts(db, updated), version: updated.version)
        }
    }
}
