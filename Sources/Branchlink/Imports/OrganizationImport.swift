import Foundation
import Postgres

/// `POST /v1/imports/organizations` and `branchlink import organizations`: see `Importer`.
///
/// A row's parent is an existing organization inside the actor's subtree or another row of the same
/// file (in any order: parents are resolved level by level, so a file may list children before
/// their parents). Placement follows `OrgKind.allowedParents`. A row whose parent row fails fails
/// too (`parent_invalid`), so a file never creates half a branch of the tree by accident.
enum OrganizationImport {
    static func run(_ db: Connection, columns: ImportHeader<OrganizationColumn>, reader: inout CSVReader, actor: ImportActor,
                    options: ImportOptions) throws -> ImportReport {
        try db.simpleQuery("""
            DROP TABLE IF EXISTS pg_temp.import_orgs, pg_temp.import_errors;
            CREATE TEMP TABLE import_errors (row_no int NOT NULL, ord int NOT NULL, col text, code text NOT NULL,
                message text NOT NULL) ON COMMIT DROP;
            CREATE TEMP TABLE import_orgs (row_no int NOT NULL, valid bool NOT NULL, id uuid NOT NULL,
                code text, name text, kind text, sector text, parent_code text, valid_from date,
                depth int, parent_id uuid, parent_path ltree, parent_kind text, parent_closed bool,
                resolved bool NOT NULL DEFAULT false, path ltree) ON COMMIT DROP;
            """)

        var rowErrors: [Int: [ImportRowError]] = [:]
        var rows = 0
        try db.copyIn(sql: "COPY import_orgs (row_no, valid, id, code, name, kind, sector, parent_code, valid_from) FROM STDIN") { writer in
            rows = try Importer.forEachRecord(&reader, width: columns.width) { row, fields, widthError in
                if let widthError {
                    rowErrors[row] = [widthError]
                    return
                }
                let (r, errors) = OrganizationRowValidator.validate { columns.value($0, in: fields) }
                if !errors.isEmpty { rowErrors[row] = errors }
                try writer.append([String(row), errors.isEmpty ? "t" : "f", UUID().uuidString.lowercased(), r.code, r.name,
                                   r.kind?.rawValue, r.sector?.rawValue, r.parentCode, r.validFrom?.iso8601])
            }
        }

        // Statistics for the level-by-level self-joins below (organization files are small; the
        // member import skips this: its plans do not need them and 100,000 rows cost 0.4 s).
        try db.simpleQuery("ANALYZE import_orgs")

        let scope = actor.orgPath
        if !options.dryRun {
            // New paths are built from the parents' paths: keep those parents from moving until
            // the transaction ends.
            try db.queryUnprepared("""
                SELECT 1 FROM organizations o
                WHERE o.code IN (SELECT parent_code FROM import_orgs WHERE parent_code IS NOT NULL)
                  AND o.path <@ $1::ltree FOR SHARE OF o
                """, parameters: [scope])
        }

        try db.queryUnprepared("""
            INSERT INTO import_errors (row_no, ord, col, code, message)
            SELECT s.row_no, 1, 'code', 'duplicate_in_file',
                   'appears ' || d.n || ' times in this file (first on row ' || d.first || ')'
            FROM (SELECT code, count(*) AS n, min(row_no) AS first FROM import_orgs
                  WHERE code IS NOT NULL GROUP BY code HAVING count(*) > 1) d
            JOIN import_orgs s ON s.code = d.code
            """)
        try db.queryUnprepared("""
            INSERT INTO import_errors (row_no, ord, col, code, message)
            SELECT s.row_no, 2, 'code', 'already_exists', 'an organization with this code already exists'
            FROM import_orgs s JOIN organizations o ON o.code = s.code
            """)

        // Level 1: parents that exist, inside the actor's subtree (others stay unresolved and are
        // reported as unknown: existence outside the scope is never revealed).
        try db.queryUnprepared("""
            UPDATE import_orgs s SET depth = 1, parent_id = o.id, parent_path = o.path, parent_kind = o.kind,
                parent_closed = o.valid_to IS NOT NULL
            FROM organizations o WHERE o.code = s.parent_code AND o.path <@ $1::ltree
            """, parameters: [scope])
        var level = 1
        while true {
            try checkPlacement(db, level: level)
            let resolved = try db.queryUnprepared("""
                UPDATE import_orgs s SET resolved = true, path = s.parent_path || org_label(s.id)
                WHERE s.depth = $1 AND s.valid AND NOT EXISTS (SELECT 1 FROM import_errors e WHERE e.row_no = s.row_no)
                """, parameters: [level]).rowsAffected
            if resolved == 0 { break }
            // Level n+1: rows whose parent is a row resolved at level n.
            let linked = try db.queryUnprepared("""
                UPDATE import_orgs c SET depth = $1 + 1, parent_id = p.id, parent_path = p.path, parent_kind = p.kind,
                    parent_closed = false
                FROM import_orgs p
                WHERE p.resolved AND p.depth = $1 AND c.parent_code = p.code AND c.depth IS NULL
                """, parameters: [level]).rowsAffected
            if linked == 0 { break }
            level += 1
        }
        try db.queryUnprepared("""
            INSERT INTO import_errors (row_no, ord, col, code, message)
            SELECT s.row_no, 5, 'parent_code',
                   CASE WHEN f.first IS NULL THEN 'unknown_reference' ELSE 'parent_invalid' END,
                   CASE WHEN f.first IS NULL THEN 'no organization with this code in your scope or in this file'
                        ELSE 'the parent is row ' || f.first || ' of this file, which cannot be imported' END
            FROM import_orgs s
            LEFT JOIN (SELECT code, min(row_no) AS first FROM import_orgs WHERE code IS NOT NULL GROUP BY code) f
                   ON f.code = s.parent_code
            WHERE s.parent_code IS NOT NULL AND s.depth IS NULL
            """)

        let failures = Importer.merge(rowErrors, try Importer.stagedErrors(db))
        let ok = rows - failures.count
        let rejected = options.atomic && !failures.isEmpty
        var written = 0
        if !options.dryRun && !rejected {
            do {
                written = try db.queryUnprepared("""
                    INSERT INTO organizations (id, parent_id, path, kind, sector, code, name, valid_from)
                    SELECT id, parent_id, path, kind, sector, code, name, COALESCE(valid_from, CURRENT_DATE)
                    FROM import_orgs WHERE resolved ORDER BY depth, row_no
                    """).rowsAffected
            } catch let e as PostgresError where e.kind == .uniqueViolation {
                throw Importer.concurrentChange()
            }
            try Importer.checkWritten(written, expected: ok)
        }
        let report = ImportReport(kind: .organizations, rows: rows, failures: failures, dryRun: options.dryRun,
                                  atomic: options.atomic, written: written)
        if !options.dryRun && !rejected { try Importer.appendEvent(db, report, actor: actor) }
        return report
    }

    /// The pairs (kind, parent kind) `OrgKind.allowedParents` allows, as SQL `VALUES` (constants).
    static let allowedPairsSQL: String = OrgKind.allCases.flatMap { kind in
        kind.allowedParents.map { "('\(kind.rawValue)', '\($0.rawValue)')" }
    }.sorted().joined(separator: ", ")

    /// Rows linked to their parent at `level`: the parent must be open and may hold the row's kind.
    static func checkPlacement(_ db: Connection, level: Int) throws {
        try db.queryUnprepared("""
            INSERT INTO import_errors (row_no, ord, col, code, message)
            SELECT row_no, 3, 'parent_code', 'organization_closed', 'the parent organization is closed (merged or dissolved)'
            FROM import_orgs WHERE depth = $1 AND parent_closed
            """, parameters: [level])
        try db.queryUnprepared("""
            INSERT INTO import_errors (row_no, ord, col, code, message)
            SELECT s.row_no, 4, 'parent_code', 'invalid_parent', 'a ' || s.kind || ' cannot be placed under a ' || s.parent_kind
            FROM import_orgs s
            WHERE s.depth = $1 AND s.kind IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM (VALUES \(allowedPairsSQL)) AS a(kind, parent_kind)
                              WHERE a.kind = s.kind AND a.parent_kind = s.parent_kind)
            """, parameters: [level])
    }
}
