import Foundation
import Postgres

/// The database role the server runs as (migration 0011): it reads and writes every table, but
/// may only SELECT and INSERT audit records, owns nothing, and so can neither change the chain nor
/// disable its append-only trigger. Migrations run as the owning role; the server connects as this
/// one (embedded cluster and tests: automatically; an external database: configure the URL).
public enum AppRole {
    public static let name = "branchlink_app"

    /// The same server and database, logging in as the application role (the last `user` given
    /// wins in a libpq connection string).
    public static func connectionString(_ url: String) -> String {
        if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") {
            return url + (url.contains("?") ? "&" : "?") + "user=\(name)"
        }
        return url + " user=\(name)"
    }

    /// True when this session could change or remove audit records (a superuser, the table's owner,
    /// or a role granted UPDATE/DELETE): the server warns at start-up when it runs so.
    public static func canAlterAudit(_ db: Connection) throws -> Bool {
        guard let row = try db.queryRow("""
            SELECT r.rolsuper OR pg_has_role(c.relowner, 'USAGE') OR has_table_privilege('audit_records', 'UPDATE')
                   OR has_table_privilege('audit_records', 'DELETE') OR has_table_privilege('audit_records', 'TRUNCATE')
            FROM pg_roles r, pg_class c WHERE r.rolname = current_user AND c.oid = 'audit_records'::regclass
            """) else { return true }
        return try row.decode(Bool.self, 0)
    }
}
