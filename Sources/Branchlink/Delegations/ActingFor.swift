import Foundation
import HTTP
import Postgres

/// `Acting-For: <organization id>`: installed right after `Authentication`, it replaces the
/// caller's principal with the delegated one (the organization's scope, role `officer`,
/// `delegationID` and `homeOrgID` set) when a delegation to the calling account for that
/// organization is live now: not revoked, `valid_from <= now() < valid_until`, granted by an
/// account that is still enabled. Checked on every request with one indexed query and never
/// cached, so a revocation or the end of the period stops the next request on every instance; a
/// request without the header pays nothing.
struct ActingFor: Middleware {
    static let header = "acting-for"

    func handle(_ request: Request, context: AppContext, next: (Request, AppContext) throws -> Response) throws -> Response {
        let values = request.headers.values(Self.header)
        guard !values.isEmpty else { return try next(request, context) }
        let p = try context.caller()
        guard values.count == 1, let orgID = UUID(uuidString: values[0].trimmingCharacters(in: .whitespaces)) else {
            throw APIError(status: 400, code: "invalid_acting_for", detail: "Acting-For must be one organization id (a UUID).")
        }
        guard let row = try context.db.queryRow("""
            SELECT d.id, o.kind, o.path::text, parent.kind
            FROM delegations d
            JOIN accounts g ON g.id = d.grantor_account_id
            JOIN organizations o ON o.id = d.org_id
            LEFT JOIN organizations parent ON parent.id = o.parent_id
            WHERE d.delegate_account_id = $1 AND d.org_id = $2 AND d.valid_until > now() AND d.valid_from <= now()
              AND d.revoked_at IS NULL AND g.disabled_at IS NULL
            ORDER BY d.valid_until DESC LIMIT 1
            """, p.accountID, orgID) else {
            throw APIError(status: 403, code: "delegation_not_active",
                           detail: "No active delegation lets this account act for organization \(orgID.lower) (none, revoked or expired).")
        }
        let kind = try row.decode(String.self, 1)
        let parentKind = try row.decode(String?.self, 3)
        var delegated = Principal(
            accountID: p.accountID, accountName: p.accountName, tokenID: p.tokenID, role: .officer, orgID: orgID, orgKind: kind,
            orgPath: try row.decode(String.self, 2), residentialBranch: kind == "branch" && parentKind == "commune")
        delegated.delegationID = try row.decode(UUID.self, 0)
        delegated.homeOrgID = p.orgID
        context.principal = delegated
        defer { context.principal = p }
        return try next(request, context)
    }
}
