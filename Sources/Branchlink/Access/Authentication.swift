import Crypto
import Foundation
import HTTP
import Postgres

/// Resolves `Authorization: Bearer <token>` to a `Principal` for every route added after it.
/// Tokens are stored as SHA-256; a revoked or expired token, or a disabled account, is 401 at once
/// in this process, and after at most the `PrincipalCache` TTL when another process changed it.
struct Authentication: Middleware {
    let rateLimiter: RateLimiter

    func handle(_ request: Request, context: AppContext, next: (Request, AppContext) throws -> Response) throws -> Response {
        // Set only by the application itself, never from anything a client sends: a background
        // export runs a list with the principal of the token that asked for it (ExportRunner),
        // and the export's own POST checks the list with the caller's principal.
        if context.principal != nil { return try next(request, context) }
        guard let token = Self.bearer(request.headers) else { throw APIError.unauthenticated }
        let hash = Array(SHA256.hash(data: token))
        let key = PrincipalCache.Key(hash)
        let principal: Principal
        if let cached = context.principals.lookup(key) {
            principal = cached
        } else {
            let generation = context.principals.generation()
            guard let (found, expiresAt) = try Self.principal(context.db, where: "t.token_hash = $1", hash) else { throw APIError.unauthenticated }
            principal = found
            context.principals.insert(key, principal, tokenExpiresAt: expiresAt, readAt: generation)
        }

        let decision = rateLimiter.take(key: principal.tokenID)
        guard decision.allowed else {
            throw APIError(status: 429, code: "rate_limited", detail: "Too many requests for this token; retry after \(decision.resetSeconds) s.",
                           headers: decision.headers.merging(["retry-after": String(decision.resetSeconds)]))
        }
        context.principal = principal
        defer { context.principal = nil }
        var response = try next(request, context)
        for (k, v) in decision.headers { response.headers.set(k, v) }
        return response
    }

    /// The principal of a live token (not revoked, not expired, account enabled) and the token's
    /// expiry, found by `condition` on `tokens t`.
    static func principal(_ db: Connection, where condition: String, _ value: any PostgresEncodable) throws -> (Principal, Date?)? {
        guard let row = try db.queryRow("""
            SELECT t.id, a.id, a.name, a.role, o.id, o.kind, o.path::text, p.kind, t.expires_at
            FROM tokens t
            JOIN accounts a ON a.id = t.account_id
            JOIN organizations o ON o.id = a.org_id
            LEFT JOIN organizations p ON p.id = o.parent_id
            WHERE \(condition) AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())
              AND a.disabled_at IS NULL
            """, value) else { return nil }
        let orgKind = try row.decode(String.self, 5)
        let parentKind = try row.decode(String?.self, 7)
        let principal = Principal(
            accountID: try row.decode(UUID.self, 1), accountName: try row.decode(String.self, 2),
            tokenID: try row.decode(UUID.self, 0), role: Role(rawValue: try row.decode(String.self, 3)) ?? .viewer,
            orgID: try row.decode(UUID.self, 4), orgKind: orgKind, orgPath: try row.decode(String.self, 6),
            residentialBranch: orgKind == "branch" && parentKind == "commune")
        return (principal, try row.decode(Date?.self, 8))
    }

    /// The token of the first `Authorization` field: `Bearer` (any case), then the token with
    /// surrounding spaces and tabs removed; nil when missing, empty or longer than 200 bytes.
    /// Works on the UTF-8 bytes: this runs on every request.
    static func bearer(_ headers: HTTPHeaders) -> ArraySlice<UInt8>? {
        for f in headers.fields where f.name == "authorization" { return bearer(f.value) }
        return nil
    }

    static func bearer(_ header: String?) -> ArraySlice<UInt8>? {
        guard let header else { return nil }
        let bytes = Array(header.utf8)
        guard bytes.count > 7 else { return nil }
        let scheme: [UInt8] = Array("bearer ".utf8)
        for i in 0..<7 where bytes[i] | (i < 6 ? 0x20 : 0) != scheme[i] { return nil }
        var lo = 7, hi = bytes.count
        while lo < hi, bytes[lo] == 0x20 || bytes[lo] == 0x09 { lo += 1 }
        while hi > lo, bytes[hi - 1] == 0x20 || bytes[hi - 1] == 0x09 { hi -= 1 }
        guard lo < hi, hi - lo <= 200 else { return nil }
        return bytes[lo..<hi]
    }
}

extension HTTPHeaders {
    func merging(_ other: [String: String]) -> HTTPHeaders {
        var h = self
        for (k, v) in other { h.set(k, v) }
        return h
    }
}
