import Crypto
import Foundation
import Postgres

/// Creates bearer tokens: 32 random bytes (base64url, prefixed `blk_` so leaked tokens are easy to
/// find in logs or repositories), shown once; only their SHA-256 is stored.
public enum TokenIssuer {
    public struct Issued: Sendable {
        public let id: UUID
        public let secret: String
    }

    public static func issue(_ db: Connection, accountID: UUID, name: String, expiresAt: Date? = nil) throws -> Issued {
        var rng = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let secret = "blk_" + Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        let hash = Array(SHA256.hash(data: Array(secret.utf8)))
        let id = UUID()
        try db.execute("INSERT INTO tokens (id, account_id, name, token_hash, expires_at) VALUES ($1, $2, $3, $4, $5)",
                       id, accountID, name, hash, expiresAt)
        return Issued(id: id, secret: secret)
    }

    /// Creates an account in the organization with `code` (or, when it is a UUID, that id: codes
    /// can be changed, ids cannot) and a token for it (CLI bootstrap, demo).
    public static func createAccountWithToken(_ db: Connection, orgCode: String, role: Role, name: String) throws -> Issued {
        try db.transaction { db in
            let byID = UUID(uuidString: orgCode)
            guard let row = try byID.map({ try db.queryRow("SELECT id FROM organizations WHERE id = $1", $0) })
                    ?? db.queryRow("SELECT id FROM organizations WHERE code = $1", orgCode) else {
                throw APIError(status: 404, code: "not_found", detail: "No organization with code \(orgCode).")
            }
            let orgID = try row.decode(UUID.self, 0)
            let accountID = UUID()
            try db.execute("INSERT INTO accounts (id, org_id, role, name) VALUES ($1, $2, $3, $4)", accountID, orgID, role.rawValue, name)
            let issued = try issue(db, accountID: accountID, name: "\(name) (CLI)")
            try EventLog.append(db, type: "account.created", entityType: "account", entityID: accountID, orgIDs: [orgID],
                                actor: nil, requestID: nil, data: ["role": role.rawValue, "via": "cli"])
            return issued
        }
    }
}
