import Foundation
import HTTP
import Postgres

public enum ImportKind: String, Sendable, CaseIterable {
    case organizations, members
}

public struct ImportOptions: Sendable {
    /// Validate everything (per-row and set-based checks) and write nothing.
    public var dryRun: Bool
    /// Write nothing unless every row is valid.
    public var atomic: Bool

    public init(dryRun: Bool = false, atomic: Bool = false) {
        self.dryRun = dryRun; self.atomic = atomic
    }
}

/// Who imports: the organization whose subtree bounds every reference, and who the event names.
public struct ImportActor: Sendable {
    public let orgID: UUID
    /// ltree path of `orgID`: workplaces and parents must lie in `path <@ orgPath`.
    public let orgPath: String
    /// The caller (API); nil for the CLI, which acts with database access, not an account.
    public let principal: Principal?
    public let requestID: String?
    /// `api` or `cli`, recorded in the event.
    public let via: String

    public init(principal: Principal, requestID: String) {
        orgID = principal.orgID; orgPath = principal.orgPath; self.principal = principal
        self.requestID = requestID; via = "api"
    }

    /// The root organization (the whole tree) with no account: `branchlink import` runs with direct
    /// database access, which already allows anything, so it does not go through HTTP auth.
    public static func rootAdministrator(_ db: Connection) throws -> ImportActor {
        guard let row = try db.queryRow("SELECT id, path::text FROM organizations WHERE parent_id IS NULL ORDER BY created_at LIMIT 1") else {
            throw APIError(status: 500, code: "internal_error", detail: "The database has no root organization; run the migrations.")
        }
        return ImportActor(orgID: try row.decode(UUID.self, 0), orgPath: try row.decode(String.self, 1), principal: nil,
                           requestID: nil, via: "cli")
    }

    init(orgID: UUID, orgPath: String, principal: Principal?, requestID: String?, via: String) {
        self.orgID = orgID; self.orgPath = orgPath; self.principal = principal; self.requestID = requestID; self.via = via
    }
}

/// The outcome of one import: every data row's result (failed rows carry their errors; the rest
/// are ok), what was written.
public struct ImportReport: Sendable {
    public let kind: ImportKind
    public let rows: Int
    /// Errors of the failed rows, by 1-based data row number.
    public let failures: [Int: [ImportRowError]]
    public let dryRun: Bool
    public let atomic: Bool
    public let written: Int

    public init(kind: ImportKind, rows: Int, failures: [Int: [ImportRowError]], dryRun: Bool, atomic: Bool, written: Int) {
        self.kind = kind; self.rows = rows; self.failures = failures; self.dryRun = dryRun; self.atomic = atomic
        self.written = written
    }

    public var failed: Int { failures.count }
    public var ok: Int { rows - failures.count }
    /// `atomic` and some row failed: nothing was (or, in a dry run, would be) written.
    public var rejected: Bool { atomic && !failures.isEmpty }

    /// The report's JSON object; `problemPrefix` (already-encoded members ending with a comma) is
    /// put first when the report is the body of a problem.
    public func json(problemPrefix: String = "") -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64 + rows * 34 + failures.count * 120)
        out += Array("{\(problemPrefix)\"rows\":\(rows),\"ok\":\(ok),\"failed\":\(failed),\"dry_run\":\(dryRun),\"atomic\":\(atomic),\"written\":\(written),\"results\":[".utf8)
        if rows > 0 {
            for row in 1...rows {
                if row > 1 { out.append(UInt8(ascii: ",")) }
                if let errors = failures[row] {
                    out += Array("{\"row\":\(row),\"ok\":false,\"errors\":[".utf8)
                    for (i, e) in errors.enumerated() {
                        if i > 0 { out.append(UInt8(ascii: ",")) }
                        let column = e.column.map(JSONString.quote) ?? "null"
                        out += Array("{\"column\":\(column),\"code\":\(JSONString.quote(e.code)),\"message\":\(JSONString.quote(e.message))}".utf8)
                    }
                    out += Array("]}".utf8)
                } else {
                    out += Array("{\"row\":\(row),\"ok\":true,\"errors\":[]}".utf8)
                }
            }
        }
        out += Array("]}".utf8)
        return out
    }
}

/// Imports organizations or members from CSV: the header is checked first (unknown or missing
/// columns → 400); every data row is validated in Swift (types, formats, enums, lengths) and
/// streamed by COPY into a TEMP staging table in the request's transaction; set-based SQL then
/// adds the checks that need the database (references inside the actor's subtree, duplicates in the
/// file and against existing rows, placement in the tree); a real run inserts the valid rows with
/// one INSERT … SELECT and appends one `import.completed` event. A dry run runs exactly the same
/// steps and rolls back, so both report the same per-row errors.
public enum Importer {
    /// Longest a whole import may run in the database (the handler's usual statement timeout is
    /// seconds; 100,000 rows take a few).
    public static let statementTimeoutMs = 600_000

    public static let serviceTimeZone = TimeZone(identifier: "Asia/Ho_Chi_Minh") ?? TimeZone(secondsFromGMT: 7 * 3600)!

    public static func run(_ db: Connection, kind: ImportKind, csv: [UInt8], actor: ImportActor, options: ImportOptions,
                           today: PGDate = PGDate.today(in: serviceTimeZone)) throws -> ImportReport {
        if let line = CSVReader.firstInvalidUTF8Line(csv) {
            throw APIError(status: 400, code: "invalid_encoding", detail: "The file is not UTF-8 (first invalid byte on line \(line)).")
        }
        var reader = CSVReader(csv)
        let header: [String]
        do {
            guard let h = try reader.next(), h != [""] else {
                throw APIError(status: 400, code: "missing_header", detail: "The file is empty: the first line must name the columns.")
            }
            header = h
        } catch let e as CSVReader.UnterminatedQuote {
            throw malformed(e)
        }
        // Both headers are checked before the database is touched.
        let memberColumns = kind == .members ? try ImportHeader<MemberColumn>(header) : nil
        let organizationColumns = kind == .organizations ? try ImportHeader<OrganizationColumn>(header) : nil
        // Inside the request's transaction (AuditTrail) a SET LOCAL lasts until it ends; outside, the
        // session setting is restored by resetSession after the job.
        if db.inTransaction {
            _ = try db.simpleQuery("SET LOCAL statement_timeout = \(statementTimeoutMs)")
        } else {
            try db.setStatementTimeout(milliseconds: statementTimeoutMs)
        }
        do {
            return try db.transaction { db in
                let report: ImportReport
                if let memberColumns {
                    report = try MemberImport.run(db, columns: memberColumns, reader: &reader, actor: actor, options: options, today: today)
                } else if let organizationColumns {
                    report = try OrganizationImport.run(db, columns: organizationColumns, reader: &reader, actor: actor, options: options)
                } else {
                    preconditionFailure("unhandled import kind")
                }
                if options.dryRun || report.rejected { throw Rollback(report: report) }
                return report
            }
        } catch let r as Rollback {
            return r.report
        }
    }

    private struct Rollback: Error { let report: ImportReport }

    static func malformed(_ e: CSVReader.UnterminatedQuote) -> APIError {
        APIError(status: 400, code: "malformed_csv",
                 detail: "A quoted field opened on line \(e.line) is never closed; check the quotes on that line.")
    }

    /// Reads the data records after the header, skipping empty lines, numbering rows from 1, and
    /// checking each record's width.
    static func forEachRecord(_ reader: inout CSVReader, width: Int,
                              _ body: (_ row: Int, _ fields: [String], _ widthError: ImportRowError?) throws -> Void) throws -> Int {
        var row = 0
        while true {
            let record: [String]?
            do { record = try reader.next() } catch let e as CSVReader.UnterminatedQuote { throw malformed(e) }
            guard let fields = record else { return row }
            if fields.count == 1 && fields[0].isEmpty { continue }
            row += 1
            let widthError = fields.count == width ? nil
                : ImportRowError(column: nil, code: "column_count", message: "has \(fields.count) fields; the header has \(width)")
            try body(row, fields, widthError)
        }
    }

    /// The errors the staging checks wrote, by row, in check order.
    static func stagedErrors(_ db: Connection) throws -> [Int: [ImportRowError]] {
        var out: [Int: [ImportRowError]] = [:]
        for row in try db.queryUnprepared("SELECT row_no, col, code, message FROM import_errors ORDER BY row_no, ord, col") {
            out[try row.decode(Int.self, 0), default: []].append(
                ImportRowError(column: try row.decode(String?.self, 1), code: try row.decode(String.self, 2), message: try row.decode(String.self, 3)))
        }
        return out
    }

    static func merge(_ a: [Int: [ImportRowError]], _ b: [Int: [ImportRowError]]) -> [Int: [ImportRowError]] {
        a.merging(b) { $0 + $1 }
    }

    static func appendEvent(_ db: Connection, _ report: ImportReport, actor: ImportActor) throws {
        try EventLog.append(db, type: "import.completed", entityType: "import", entityID: UUID(), orgIDs: [actor.orgID],
                            actor: actor.principal, requestID: actor.requestID,
                            data: ["kind": report.kind.rawValue, "rows": report.rows, "ok": report.ok, "failed": report.failed,
                                   "written": report.written, "atomic": report.atomic, "via": actor.via])
    }

    /// A real run must write exactly the rows it reported ok; anything else is a bug, and the
    /// transaction is rolled back rather than leaving a report that lies.
    static func checkWritten(_ written: Int, expected: Int) throws {
        guard written == expected else {
            throw APIError(status: 500, code: "internal_error",
                           detail: "The import would have written \(written) rows but validated \(expected); nothing was written.")
        }
    }

    static func concurrentChange() -> APIError {
        APIError(status: 409, code: "concurrent_update",
                 detail: "Another change created some of these rows while the import ran; nothing was written. Run the import again.")
    }
}

/// The header row: which column is where. Names are trimmed and compared case-insensitively.
struct ImportHeader<C: ImportColumn> {
    let index: [C: Int]
    let width: Int

    init(_ names: [String]) throws {
        var index: [C: Int] = [:]
        var unknown: [String] = []
        var duplicate: [String] = []
        for (i, raw) in names.enumerated() {
            let name = ImportFieldRules.trim(raw).lowercased()
            guard let c = C(rawValue: name) else { unknown.append(name); continue }
            if index[c] != nil { duplicate.append(name) } else { index[c] = i }
        }
        func pointer(_ name: String) -> String {
            "/columns/" + name.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
        }
        let allowed = C.allCases.map(\.rawValue).joined(separator: ", ")
        if !unknown.isEmpty {
            throw APIError(status: 400, code: "unknown_column", detail: "The header names columns this import does not know. Columns: \(allowed).",
                           errors: unknown.map { FieldError(pointer: pointer($0), code: "unknown_column", message: "is not a column of this import") })
        }
        if !duplicate.isEmpty {
            throw APIError(status: 400, code: "duplicate_column", detail: "The header names a column more than once.",
                           errors: duplicate.map { FieldError(pointer: pointer($0), code: "duplicate_column", message: "appears more than once") })
        }
        let missing = C.allCases.filter { $0.isRequired && index[$0] == nil }
        if !missing.isEmpty {
            throw APIError(status: 400, code: "missing_column", detail: "The header lacks required columns.",
                           errors: missing.map { FieldError(pointer: pointer($0.rawValue), code: "missing_column", message: "is required") })
        }
        self.index = index
        self.width = names.count
    }

    /// The raw value of `column` in `fields`, nil when the header has no such column.
    @inline(__always)
    func value(_ column: C, in fields: [String]) -> String? {
        guard let i = index[column], i < fields.count else { return nil }
        return fields[i]
    }
}
