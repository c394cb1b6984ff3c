import Foundation
import HTTP
import Postgres

/// `/v1/webhooks`: signed event deliveries to an organization's URL. A subscription belongs to
/// the organization of the account that creates it (officers and admins); it is read by the
/// accounts of that organization's subtree and changed by its officers and admins (and those of
/// its ancestors). Deliveries are made by `WebhookWorker`, never in a request.
enum WebhookRoutes {
    static func register(on router: Router<AppContext>) {
        router.post("/v1/webhooks", create)
        router.get("/v1/webhooks", list)
        router.get("/v1/webhooks/{id}", get)
        router.patch("/v1/webhooks/{id}", patch)
        router.delete("/v1/webhooks/{id}", delete)
        router.post("/v1/webhooks/{id}/rotate-secret", rotate)
        // PATCH {status} in one word each, as DESIGN.md's API map names them.
        router.post("/v1/webhooks/{id}/pause") { request, ctx in try setStatus(request, ctx, "paused") }
        router.post("/v1/webhooks/{id}/resume") { request, ctx in try setStatus(request, ctx, "active") }
        WebhookDeliveryRoutes.register(on: router)
    }

    /// A response showing the secret is never cached, and an Idempotency-Key replay of it comes
    /// without the secret (Idempotency strips `secret` from `no-store` responses).
    static func secretShown(_ r: Response) -> Response {
        var r = r
        r.headers.set("cache-control", "no-store")
        return r
    }

    static func load(_ db: Connection, _ id: UUID, for p: Principal, forUpdate: Bool = false) throws -> WebhookSubscription {
        guard let row = try db.queryRow("SELECT \(WebhookSubscription.columns) FROM \(WebhookSubscription.from) WHERE w.id = $1"
                                         + (forUpdate ? " FOR UPDATE OF w" : ""), id),
              let w = Optional(try WebhookSubscription(row: row)), Policy.contains(p, path: w.orgPath) else {
            throw APIError.notFound("webhook")
        }
        return w
    }

    /// The validated `url` and `event_types` fields (either may be absent on PATCH).
    static func readTarget(_ input: inout JSONInput, required: Bool, allowPrivate: Bool) -> (url: String?, types: [String]?) {
        var url: String?
        if required || input.has("url") {
            url = input.string("url", maxLength: 2000)
            if let u = url, let problem = WebhookRules.urlProblem(u, allowPrivate: allowPrivate) {
                input.fail("url", problem.code, problem.message)
                url = nil
            }
        }
        var types: [String]?
        if required || input.has("event_types"), let raw = input.array("event_types", maxCount: 100) {
            var out: [String] = []
            for (i, v) in raw.enumerated() {
                guard let s = v as? String else { input.fail("event_types/\(i)", "type", "must be a string"); continue }
                if let problem = WebhookRules.eventTypeProblem(s) { input.fail("event_types/\(i)", "unknown_event_type", problem); continue }
                if !out.contains(s) { out.append(s) }
            }
            types = out
        }
        return (url, types)
    }

    static func create(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        try Policy.require(p, .act)
        var input = try JSONInput(request)
        let target = readTarget(&input, required: true, allowPrivate: ctx.webhookAllowPrivate)
        let description = input.string("description", required: false, maxLength: 500)
        try input.finish()
        guard let url = target.url, let types = target.types else { return .json(500, "{}") }

        let secret = WebhookRules.newSecret()
        return try ctx.db.transaction { db in
            let id = try db.queryRow("""
                INSERT INTO webhook_subscriptions (org_id, url, event_types, description, secret, created_by)
                VALUES ($1, $2, $3, $4, $5, $6) RETURNING id
                """, p.orgID, url, types, description, secret, p.accountID)!.decode(UUID.self, 0)
            // Events of transactions that ended before this one took its snapshot are older than
            // the subscription; everything after this position is delivered (see migration 0013).
            try db.execute("""
                INSERT INTO webhook_cursors (subscription_id, after_xid, after_sequence)
                SELECT $1, (pg_snapshot_xmin(pg_current_snapshot())::text::bigint - 1)::text::xid8, 9223372036854775807
                """, id)
            try EventLog.append(db, type: "webhook.created", entityType: "webhook", entityID: id, orgIDs: [p.orgID], actor: p,
                                requestID: request.requestID, data: ["event_types": types])
            var w = try load(db, id, for: p)
            w.secret = secret
            return secretShown(try JSONOutput.resource(w, status: 201, version: w.version, location: "/v1/webhooks/\(id.lower)"))
        }
    }

    static func get(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        let w = try load(ctx.db, try request.pathUUID(notFound: "webhook"), for: p)
        if let notModified = ETag.notModified(request, version: w.version) { return notModified }
        return try JSONOutput.resource(w, version: w.version)
    }

    static func list(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        let status = request.query("status")
        if let s = status, s != "active", s != "paused" { throw APIError.invalidParameter("status", "must be active or paused") }
        return try Listing.respond(request, ctx, csv: "webhooks", header: WebhookSubscription.csvHeader, row: { $0.csvRow }) { db, after, limit in
            var params: [any PostgresEncodable] = [p.orgPath]
            func bind(_ v: any PostgresEncodable) -> Int { params.append(v); return params.count }
            var conditions = [Policy.subtreeSQL("o.path", param: 1)]
            if let status { conditions.append("w.status = $\(bind(status))") }
            if let c = try CreatedKeyset.condition(after: after, alias: "w", bind: bind) { conditions.append(c) }
            let rows = try db.query("SELECT \(WebhookSubscription.columns) FROM \(WebhookSubscription.from) WHERE "
                                    + conditions.joined(separator: " AND ") + " ORDER BY w.created_at, w.id LIMIT \(limit + 1)", parameters: params)
            return CreatedKeyset.page(try rows.map(WebhookSubscription.init(row:)), limit: limit) { ($0.createdAt, $0.id) }
        }
    }

    static func patch(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        let id = try request.pathUUID(notFound: "webhook")
        var input = try JSONInput(request)
        let target = readTarget(&input, required: false, allowPrivate: ctx.webhookAllowPrivate)
        let description = input.has("description") ? input.string("description", required: false, maxLength: 500) : nil
        let clearDescription = input.has("description") && input.isNull("description")
        let status = input.has("status") ? input.string("status", pattern: "^(active|paused)$") : nil
        try input.finish()
        return try update(request, ctx, p: p, id: id, target: target, description: description, clearDescription: clearDescription,
                          status: status)
    }

    /// `POST /{id}/pause` and `/resume`: an empty body (or `{}`), the rest as PATCH.
    static func setStatus(_ request: Request, _ ctx: AppContext, _ status: String) throws -> Response {
        let p = try ctx.caller()
        let id = try request.pathUUID(notFound: "webhook")
        var input = try JSONInput(request)
        try input.finish()
        return try update(request, ctx, p: p, id: id, target: (nil, nil), description: nil, clearDescription: false, status: status)
    }

    private static func update(_ request: Request, _ ctx: AppContext, p: Principal, id: UUID, target: (url: String?, types: [String]?),
                               description: String?, clearDescription: Bool, status: String?) throws -> Response {
        try ctx.db.transaction { db in
            let w = try load(db, id, for: p, forUpdate: true)
            try Policy.require(p, .act, at: w.orgPath, what: "webhook")
            try ETag.checkIfMatch(request, version: w.version)
            var changed: [String] = []
            if target.url != nil { changed.append("url") }
            if target.types != nil { changed.append("event_types") }
            if description != nil || clearDescription { changed.append("description") }
            if let status, status != w.status { changed.append("status") }
            // Pausing by hand says so; resuming clears the failure streak, so one more failure
            // does not pause it again at once. Held deliveries that are due go out at the next tick.
            try db.execute("""
                UPDATE webhook_subscriptions SET url = COALESCE($2, url), event_types = COALESCE($3, event_types),
                    description = CASE WHEN $4 THEN NULL ELSE COALESCE($5, description) END,
                    status = COALESCE($6, status),
                    paused_reason = CASE WHEN $6 = 'paused' AND status <> 'paused' THEN 'manual' WHEN $6 = 'active' THEN NULL ELSE paused_reason END,
                    paused_at = CASE WHEN $6 = 'paused' AND status <> 'paused' THEN now() WHEN $6 = 'active' THEN NULL ELSE paused_at END,
                    consecutive_failures = CASE WHEN $6 = 'active' AND status = 'paused' THEN 0 ELSE consecutive_failures END,
                    failing_since = CASE WHEN $6 = 'active' AND status = 'paused' THEN NULL ELSE failing_since END,
                    backoff_until = CASE WHEN $6 = 'active' AND status = 'paused' THEN NULL ELSE backoff_until END,
                    updated_at = now(), version = version + 1
                WHERE id = $1
                """, id, target.url, target.types, clearDescription, description, status)
            try EventLog.append(db, type: "webhook.updated", entityType: "webhook", entityID: id, orgIDs: [w.orgId], actor: p,
                                requestID: request.requestID, data: ["fields": changed])
            let updated = try load(db, id, for: p)
            return try JSONOutput.resource(updated, version: updated.version)
        }
    }

    static func delete(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        let id = try request.pathUUID(notFound: "webhook")
        try ctx.db.transaction { db in
            let w = try load(db, id, for: p, forUpdate: true)
            try Policy.require(p, .act, at: w.orgPath, what: "webhook")
            try ETag.checkIfMatch(request, version: w.version)
            // Its deliveries and attempts go with it (ON DELETE CASCADE); a send in flight finds
            // nothing to record and is dropped.
            try db.execute("DELETE FROM webhook_subscriptions WHERE id = $1", id)
            try EventLog.append(db, type: "webhook.deleted", entityType: "webhook", entityID: id, orgIDs: [w.orgId], actor: p,
                                requestID: request.requestID)
        }
        return Response(status: 204)
    }

    /// A new secret; the current one keeps signing (second signature) for `overlap_seconds`
    /// (default 24 h, 0 ends it at once). A rotation during an overlap drops the older secret.
    static func rotate(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        let id = try request.pathUUID(notFound: "webhook")
        var input = try JSONInput(request)
        let overlap = input.int("overlap_seconds", required: false, range: 0...(7 * 86_400)) ?? Int(WebhookRules.defaultRotationOverlap)
        try input.finish()
        let secret = WebhookRules.newSecret()
        return try ctx.db.transaction { db in
            let w = try load(db, id, for: p, forUpdate: true)
            try Policy.require(p, .act, at: w.orgPath, what: "webhook")
            try ETag.checkIfMatch(request, version: w.version)
            try db.execute("""
                UPDATE webhook_subscriptions SET previous_secret = secret, secret = $2,
                    previous_secret_expires_at = now() + $3::bigint * interval '1 second', updated_at = now(), version = version + 1
                WHERE id = $1
                """, id, secret, overlap)
            try EventLog.append(db, type: "webhook.secret_rotated", entityType: "webhook", entityID: id, orgIDs: [w.orgId], actor: p,
                                requestID: request.requestID, data: ["overlap_seconds": overlap])
            var updated = try load(db, id, for: p)
            updated.secret = secret
            return secretShown(try JSONOutput.resource(updated, version: updated.version))
        }
    }
}
