import Crypto
import Foundation
import HTTP
import Postgres

/// `Idempotency-Key` on every POST (DESIGN.md §3), installed after `Authentication`: keys belong to
/// the calling account and live 24 h in `idempotency_keys`.
///
/// - The first request with a key claims it (`state = running`) in its own autocommitted statement,
///   before the handler runs, so a concurrent duplicate sees the claim at once: of any number of
///   simultaneous duplicates exactly one runs the handler.
/// - Its response is stored (`state = done`: status, the headers worth replaying, body) when the
///   status is below 500, problems included; a 5xx, a thrown database error or a streamed body
///   releases the key so the client can retry it.
/// - The same key again with the same method, path, query and body replays the stored response with
///   `Idempotent-Replayed: true`; with anything different → 422 `idempotency_key_reused`; while the
///   first is still running → 409 `idempotency_in_progress`.
/// - Rows older than 24 h are ignored and overwritten by a new claim, and deleted in small batches
///   now and then.
/// - A response marked `Cache-Control: no-store` carries a secret shown once (a new token): it is
///   stored without its top-level `token` and `secret` fields, so a replay confirms the creation
///   without showing the secret again, and no secret is ever written to this table.
struct Idempotency: Middleware {
    static let header = "idempotency-key"
    static let replayedHeaders = ["content-type", "content-language", "location", "etag", "cache-control"]
    static let secretFields = ["token", "secret"]
    /// How many times a key that vanished between the claim and the lookup (a 5xx released it) is
    /// claimed again before answering 409.
    static let claimAttempts = 3

    func handle(_ request: Request, context: AppContext, next: (Request, AppContext) throws -> Response) throws -> Response {
        guard request.method == "POST", request.headers.contains(Self.header) else { return try next(request, context) }
        let key = try Self.validKey(request.headers.values(Self.header))
        let p = try context.caller()
        let db = context.db
        let fingerprint = Self.fingerprint(request)

        var claimed = false
        for _ in 0..<Self.claimAttempts {
            if try claim(db, account: p.accountID, key: key, request: request, fingerprint: fingerprint) {
                claimed = true
                break
            }
            if let stored = try lookup(db, account: p.accountID, key: key) {
                return try stored.answer(to: request, fingerprint: fingerprint)
            }
        }
        guard claimed else { throw Self.inProgress }

        let response: Response
        do {
            response = try next(request, context)
        } catch let e as APIError where e.status < 500 {
            response = e.response(for: request)
        } catch {
            release(db, account: p.accountID, key: key)
            throw error
        }
        if response.status >= 500 || response.stream != nil {
            release(db, account: p.accountID, key: key)
        } else {
            store(db, account: p.accountID, key: key, response: response)
        }
        return response
    }

    // MARK: - Key and fingerprint

    /// 1–255 characters, none of them a control character; one `Idempotency-Key` field only.
    static func validKey(_ values: [String]) throws -> String {
        // Printable ASCII only, as a structured-field string (draft-ietf-httpapi-idempotency-key):
        // bytes outside it reach us as U+FFFD and two different keys would collide on it.
        guard values.count == 1, let key = values.first, !key.isEmpty, key.utf8.count <= 255,
              key.utf8.allSatisfy({ (0x20...0x7E).contains($0) }) else {
            throw APIError(status: 400, code: "invalid_idempotency_key",
                           detail: "Idempotency-Key must be one header of 1 to 255 printable ASCII characters.")
        }
        return key
    }

    /// SHA-256 of the query string, a NUL and the body: with the method and the path (stored as
    /// they are) it tells the same request from another one sent with the same key.
    static func fingerprint(_ request: Request) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: Array((request.head.query ?? "").utf8))
        hasher.update(data: [0])
        hasher.update(data: request.body)
        return Array(hasher.finalize())
    }

    static let inProgress = APIError(status: 409, code: "idempotency_in_progress",
        detail: "A request with this Idempotency-Key is still being processed; retry later.", headers: ["retry-after": "1"])

    // MARK: - Storage

    /// Inserts the running claim, or takes over a row older than 24 h; false when a live row exists.
    /// Autocommitted (the handler has not started a transaction yet), so duplicates see it at once.
    func claim(_ db: Connection, account: UUID, key: String, request: Request, fingerprint: [UInt8]) throws -> Bool {
        let claimed = try db.execute("""
            INSERT INTO idempotency_keys AS k (account_id, key, method, path, request_hash, state)
            VALUES ($1, $2, $3, $4, $5, 'running')
            ON CONFLICT (account_id, key) DO UPDATE
               SET method = EXCLUDED.method, path = EXCLUDED.path, request_hash = EXCLUDED.request_hash, state = 'running',
                   response_status = NULL, response_headers = NULL, response_body = NULL, created_at = now()
             WHERE k.created_at < now() - interval '24 hours'
            """, account, key, request.method, request.path, fingerprint) == 1
        if claimed && UInt8.random(in: 0...63) == 0 { Self.purgeExpired(db) }
        return claimed
    }

    /// Deletes a batch of expired rows. The outer age condition is re-checked on rows a concurrent
    /// claim has just taken over, so a fresh claim is never deleted.
    static func purgeExpired(_ db: Connection, batch: Int = 500) {
        _ = try? db.execute("""
            DELETE FROM idempotency_keys
             WHERE created_at < now() - interval '24 hours'
               AND (account_id, key) IN (SELECT account_id, key FROM idempotency_keys
                                          WHERE created_at < now() - interval '24 hours' LIMIT \(batch))
            """)
    }

    struct Stored {
        var method: String
        var path: String
        var fingerprint: [UInt8]
        var done: Bool
        var status: Int?
        var headers: [String: String]
        var body: [UInt8]

        func answer(to request: Request, fingerprint: [UInt8]) throws -> Response {
            guard method == request.method, path == request.path, self.fingerprint == fingerprint else {
                throw APIError(status: 422, code: "idempotency_key_reused",
                               detail: "This Idempotency-Key was used with a different request (method, path or body).")
            }
            guard done, let status else { throw Idempotency.inProgress }
            var h = HTTPHeaders()
            for name in Idempotency.replayedHeaders { if let v = headers[name] { h.set(name, v) } }
            h.set("idempotent-replayed", "true")
            return Response(status: status, headers: h, body: body)
        }
    }

    func lookup(_ db: Connection, account: UUID, key: String) throws -> Stored? {
        guard let row = try db.queryRow("""
            SELECT method, path, request_hash, state, response_status, response_headers, response_body
            FROM idempotency_keys
            WHERE account_id = $1 AND key = $2 AND created_at >= now() - interval '24 hours'
            """, account, key) else { return nil }
        var headers: [String: String] = [:]
        if let json = try row.decode(JSONB?.self, 5),
           let object = try? JSONSerialization.jsonObject(with: Data(json.bytes)) as? [String: String] {
            headers = object
        }
        return Stored(method: try row.decode(String.self, 0), path: try row.decode(String.self, 1),
                      fingerprint: try row.decode([UInt8].self, 2), done: try row.decode(String.self, 3) == "done",
                      status: try row.decode(Int?.self, 4), headers: headers, body: try row.decode([UInt8]?.self, 6) ?? [])
    }

    /// Records the response. If that fails (database gone meanwhile) the client still gets the
    /// response of the work that was done; the key stays `running` (409 on a retry) until it expires,
    /// which never runs the work twice.
    func store(_ db: Connection, account: UUID, key: String, response: Response) {
        var headers: [String: String] = [:]
        for name in Self.replayedHeaders { if let v = response.headers[name] { headers[name] = v } }
        let body = Self.storableBody(response)
        guard let json = try? JSONSerialization.data(withJSONObject: headers, options: [.sortedKeys]) else { return }
        resetLeftovers(db)
        _ = try? db.execute("""
            UPDATE idempotency_keys SET state = 'done', response_status = $3, response_headers = $4, response_body = $5
            WHERE account_id = $1 AND key = $2 AND state = 'running'
            """, account, key, response.status, JSONB(bytes: Array(json)), body)
    }

    /// The body as stored: without secret fields when the response is marked `no-store`.
    static func storableBody(_ response: Response) -> [UInt8] {
        guard let cc = response.headers["cache-control"]?.lowercased(), cc.contains("no-store") else { return response.body }
        guard var object = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any] else { return [] }
        for field in secretFields { object.removeValue(forKey: field) }
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else {
            return []
        }
        return Array(data)
    }

    /// Releases the claim so a retry runs the request again (after a 5xx or a thrown error).
    func release(_ db: Connection, account: UUID, key: String) {
        resetLeftovers(db)
        _ = try? db.execute("DELETE FROM idempotency_keys WHERE account_id = $1 AND key = $2 AND state = 'running'", account, key)
    }

    /// A handler that returned or threw with a transaction still open leaves it for `afterJob` to roll
    /// back; our statements must not run inside it (they would vanish with it).
    private func resetLeftovers(_ db: Connection) {
        if db.inTransaction { db.resetSession() }
    }
}
