import Crypto
import Foundation
import HTTP
import Postgres

/// Resolves `Authorization: Bearer <token>` to a `Principal` for every route added after it.
/// Tokens are stored as SHA-256; a revoked or expired token, or a disabled account, is 401 at once.
struct Authentication: Middleware {
    let rateLimiter: RateLimiter

    func handle(_ request: Request, context: AppContext, next: (Request, AppContext) throws -> Response) throws -> Response {
        guard let token = Self.bearer(request.headers["authorization"]) else { throw APIError.unauthenticated }
        let hash = Array(SHA256.hash(data: Array(token.utf8)))
        guard let row = try context.db.queryRow("""
            SELECT t.id, a.id, a.name, a.role, o.id, o.kind, o.path::text, p.kind
            FROM tokens t
            JOIN accounts a ON a.id = t.account_id
            JOIN organizations o ON o.id = a.org_id
            LEFT JOIN organizations p ON p.id = o.parent_id
            WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())
              AND a.disabled_at IS NULL
            """, hash) else { throw APIError.unauthenticated }
        let orgKind = try row.decode(String.self, 5)
        let parentKind = try row.decode(String?.self, 7)
        let principal = Principal(
            accountID: try row.decode(UUID.self, 1), accountName: try row.decode(String.self, 2),
            tokenID: try row.decode(UUID.self, 0), role: Role(rawValue: try row.decode(String.self, 3)) ?? .viewer,
            orgID: try row.decode(UUID.self, 4), orgKind: orgKind, orgPath: try row.decode(String.self, 6),
            residentialBranch: orgKind == "branch" && parentKind == "commune")

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

    static func bearer(_ header: String?) -> String? {
        guard let header, header.count > 7, header.prefix(7).lowercased() == "bearer " else { return nil }
        let token = header.dropFirst(7).trimmingCharacters(in: .whitespaces)
        return token.isEmpty || token.count > 200 ? nil : token
    }
}

extension HTTPHeaders {
    func merging(_ other: [String: String]) -> HTTPHeaders {
        var h = self
        for (k, v) in other { h.set(k, v) }
        return h
    }
}
