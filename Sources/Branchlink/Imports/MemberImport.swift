import Foundation
import Postgres

/// `POST /v1/imports/members` and `branchlink import members`: see `Importer`.
enum MemberImport {
    static let stagingColumns = """
        party_card_number, full_name, sex, birth_date, admitted_on, full_member_on, workplace_code,
        residence_province_code, residence_commune_code, residence_address, exemption, exemption_ground
        """

    static func run(_ db: Connection, columns: ImportHeader<MemberColumn>, reader: inout CSVReader, actor: ImportActor,
                    options: ImportOptions, today: PGDate) throws -> ImportReport {
        try db.simpleQuery("""
            DROP TABLE IF EXISTS pg_temp.import_members, pg_temp.import_errors;
            CREATE TEMP TABLE import_errors (row_no int NOT NULL, ord int NOT NULL, col text, code text NOT NULL,
                message text NOT NULL) ON COMMIT DROP;
            CREATE TEMP TABLE import_members (row_no int NOT NULL, valid bool NOT NULL,
                party_card_number text, full_name text, sex text, birth_date date, admitted_on date, full_member_on date,
                workplace_code text, residence_province_code text, residence_commune_code text, residence_address text,
                exemption text, exemption_ground text) ON COMMIT DROP;
            """)

        // 1. Per-row rules in Swift, streamed into staging. Rows with errors are staged too (their
        //    invalid fields NULL, `valid` false) so that duplicates involving them are found.
        var rowErrors: [Int: [ImportRowError]] = [:]
        var rows = 0
        let residenceSide = actor.principal?.isResidenceSide ?? false
        try db.copyIn(sql: "COPY import_members (row_no, valid, \(stagingColumns)) FROM STDIN") { writer in
            rows = try Importer.forEachRecord(&reader, width: columns.width) { row, fields, widthError in
                if let widthError {
                    rowErrors[row] = [widthError]
                    return
                }
                let (r, errors) = MemberRowValidator.validate({ columns.value($0, in: fields) }, today: today,
                                                              residenceSide: residenceSide)
                if !errors.isEmpty { rowErrors[row] = errors }
                try writer.append([String(row), errors.isEmpty ? "t" : "f"] + r.stagingFields)
            }
        }

        // 2. Set-based checks. Workplaces: the referenced organizations inside the actor's subtree
        //    (a real run locks them FOR SHARE: their paths are copied into the new rows, so they must
        //    not move until the transaction ends); out-of-scope ones answer exactly like absent ones,
        //    existence is never revealed; the found ones must pass the Members area's workplace rule.
        let scope = actor.orgPath
        let workplaces = try db.queryUnprepared("""
            SELECT o.code, o.kind, o.sector, p.kind, o.valid_to IS NOT NULL
            FROM organizations o LEFT JOIN organizations p ON p.id = o.parent_id
            WHERE o.code IN (SELECT workplace_code FROM import_members WHERE workplace_code IS NOT NULL)
              AND o.path <@ $1::ltree
            """ + (options.dryRun ? "" : " FOR SHARE OF o"), parameters: [scope])
        var refused: (codes: [String], errors: [String], messages: [String]) = ([], [], [])
        for w in workplaces {
            if let refusal = MemberRules.workplaceRefusal(kind: try w.decode(String.self, 1), sector: try w.decode(String.self, 2),
                                                          parentKind: try w.decode(String?.self, 3), closed: try w.decode(Bool.self, 4)) {
                refused.codes.append(try w.decode(String.self, 0))
                refused.errors.append(refusal.rawValue)
                refused.messages.append(refusal.message)
            }
        }
        try db.queryUnprepared("""
            INSERT INTO import_errors (row_no, ord, col, code, message)
            SELECT s.row_no, 1, 'party_card_number', 'duplicate_in_file',
                   'appears ' || d.n || ' times in this file (first on row ' || d.first || ')'
            FROM (SELECT party_card_number, count(*) AS n, min(row_no) AS first FROM import_members
                  WHERE party_card_number IS NOT NULL GROUP BY party_card_number HAVING count(*) > 1) d
            JOIN import_members s ON s.party_card_number = d.party_card_number
            """)
        try db.queryUnprepared("""
            INSERT INTO import_errors (row_no, ord, col, code, message)
            SELECT s.row_no, 2, 'party_card_number', 'already_exists', 'a member with this party card number already exists'
            FROM import_members s JOIN members m ON m.party_card_number = s.party_card_number
            """)
        try db.queryUnprepared("""
            INSERT INTO import_errors (row_no, ord, col, code, message)
            SELECT s.row_no, 3, 'workplace_code', 'unknown_reference', 'no organization with this code in your scope'
            FROM import_members s
            WHERE s.workplace_code IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM organizations o WHERE o.code = s.workplace_code AND o.path <@ $1::ltree)
            """, parameters: [scope])
        if !refused.codes.isEmpty {
            try db.queryUnprepared("""
                INSERT INTO import_errors (row_no, ord, col, code, message)
                SELECT s.row_no, 3, 'workplace_code', r.code, r.message
                FROM import_members s JOIN unnest($1::text[], $2::text[], $3::text[]) AS r(workplace_code, code, message)
                     ON r.workplace_code = s.workplace_code
                """, parameters: [refused.codes, refused.errors, refused.messages])
        }
        // Residence: any province and commune of the country (members live anywhere); a code that
        // is not a province (commune) is unknown as such.
        try db.queryUnprepared("""
            INSERT INTO import_errors (row_no, ord, col, code, message)
            SELECT s.row_no, 4, 'residence_province_code',
                   CASE WHEN p.id IS NULL THEN 'unknown_reference' ELSE 'organization_closed' END,
                   CASE WHEN p.id IS NULL THEN 'no province with this code' ELSE 'the province is closed (merged or dissolved)' END
            FROM import_members s LEFT JOIN organizations p ON p.code = s.residence_province_code AND p.kind = 'province'
            WHERE s.residence_province_code IS NOT NULL AND (p.id IS NULL OR p.valid_to IS NOT NULL)
            """)
        try db.queryUnprepared("""
            INSERT INTO import_errors (row_no, ord, col, code, message)
            SELECT s.row_no, 5, 'residence_commune_code',
                   CASE WHEN c.id IS NULL THEN 'unknown_reference' WHEN c.valid_to IS NOT NULL THEN 'organization_closed'
                        ELSE 'not_in_province' END,
                   CASE WHEN c.id IS NULL THEN 'no commune or ward with this code'
                        WHEN c.valid_to IS NOT NULL THEN 'the commune is closed (merged or dissolved)'
                        ELSE 'the commune is not in residence_province_code' END
            FROM import_members s
            LEFT JOIN organizations c ON c.code = s.residence_commune_code AND c.kind = 'commune'
            LEFT JOIN organizations p ON p.code = s.residence_province_code AND p.kind = 'province'
            WHERE s.residence_commune_code IS NOT NULL
              AND (c.id IS NULL OR c.valid_to IS NOT NULL OR (p.id IS NOT NULL AND NOT c.path <@ p.path))
            """)

        let failures = Importer.merge(rowErrors, try Importer.stagedErrors(db))
        let ok = rows - failures.count
        let rejected = options.atomic && !failures.isEmpty
        var written = 0
        if !options.dryRun && !rejected {
            // 3. Write the valid rows in one statement.
            do {
                written = try db.queryUnprepared("""
                    INSERT INTO members (party_card_number, full_name, sex, birth_date, admitted_on, full_member_on,
                        workplace_org_id, workplace_path, residence_province_id, residence_commune_id, residence_address,
                        exemption, exemption_ground)
                    SELECT s.party_card_number, s.full_name, s.sex, s.birth_date, s.admitted_on, s.full_member_on,
                        w.id, w.path, p.id, c.id, s.residence_address, s.exemption, s.exemption_ground
                    FROM import_members s
                    JOIN organizations w ON w.code = s.workplace_code
                    LEFT JOIN organizations p ON p.code = s.residence_province_code
                    LEFT JOIN organizations c ON c.code = s.residence_commune_code
                    WHERE s.valid AND NOT EXISTS (SELECT 1 FROM import_errors e WHERE e.row_no = s.row_no)
                    ORDER BY s.row_no
                    """).rowsAffected
            } catch let e as PostgresError where e.kind == .uniqueViolation {
                throw Importer.concurrentChange()
            }
            try Importer.checkWritten(written, expected: ok)
        }
        let report = ImportReport(kind: .members, rows: rows, failures: failures, dryRun: options.dryRun, atomic: options.atomic,
                                  written: written)
        if !options.dryRun && !rejected { try Importer.appendEvent(db, report, actor: actor) }
        return report
    }
}
