import ArgumentParser
import Branchlink
import Foundation
import Logging
import Postgres

/// `branchlink import members|organizations FILE [--dry-run] [--atomic]`: the same import as
/// `POST /v1/imports/…`, run straight against the database as the root organization. It bypasses
/// HTTP authentication on purpose: whoever can run it already has the database's credentials,
/// which allow anything; the `import.completed` event records `"via": "cli"` and no account.
struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import", abstract: "Import organizations or members from a CSV file, straight into the database.",
        discussion: """
            The file is UTF-8 CSV (BOM optional, RFC 4180 quoting, CRLF or LF) with a header row; the columns are those of \
            POST /v1/imports/organizations and /v1/imports/members (see openapi.yaml). Prints a summary and every failed \
            row (row numbers count data rows from 1, blank lines skipped). Exit status: 0 every row ok; 2 some rows failed \
            (with --atomic nothing was written); 1 the file could not be read as a whole (encoding, header, quoting).
            """,
        subcommands: [Members.self, Organizations.self])

    struct Members: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Import members (party_card_number, full_name, sex, birth_date, workplace_code, …).")
        @OptionGroup var options: ImportArguments
        func run() throws { try options.run(kind: .members) }
    }

    struct Organizations: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Import organizations (code, name, kind, sector, parent_code, valid_from).")
        @OptionGroup var options: ImportArguments
        func run() throws { try options.run(kind: .organizations) }
    }
}

struct ImportArguments: ParsableArguments {
    @Argument(help: "The CSV file.") var file: String
    @Flag(name: .customLong("dry-run"), help: "Validate every row and write nothing.") var dryRun = false
    @Flag(help: "Write nothing unless every row is valid.") var atomic = false
    @Option(name: .customLong("log-level")) var logLevel: String = "warning"
    @OptionGroup var database: DatabaseOptions

    func run(kind: ImportKind) throws {
        let level = Logger.Level(rawValue: logLevel) ?? .warning
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        let logger = Logger(label: "branchlink.import")
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ImportCommandError(description: "cannot read \(file)")
        }

        // An embedded cluster that `serve` is running must keep running after this command.
        let alreadyRunning = database.resolvedURL == nil && TokenCommand.Create.embeddedClusterRunning(database, logger: logger)
        let setup = try DatabaseSetup.open(database, logger: logger)
        defer { if !alreadyRunning { setup.stop() } }
        try DatabaseSetup.migrate(url: setup.url, logger: logger)
        let db = try Connection(setup.url)

        let started = DispatchTime.now().uptimeNanoseconds
        let report: ImportReport
        do {
            // Not a request: audited as one system record in the import's transaction.
            report = try db.transaction { db in
                let report = try Importer.run(db, kind: kind, csv: [UInt8](data), actor: try ImportActor.rootAdministrator(db),
                                              options: ImportOptions(dryRun: dryRun, atomic: atomic))
                try AuditChain.append(db, AuditChain.Entry(
                    action: "cli.import.\(kind.rawValue)", entityType: "import",
                    fields: ["dry_run": String(dryRun), "atomic": String(atomic), "rows": String(report.rows), "ok": String(report.ok),
                             "failed": String(report.failed), "written": String(report.written)], body: [UInt8](data)))
                return report
            }
        } catch let e as APIError {
            var message = "\(file): \(e.code): \(e.detail)"
            for f in e.errors { message += "\n  \(f.pointer.replacingOccurrences(of: "/columns/", with: "column ")): \(f.message)" }
            FileHandle.standardError.write(Data((message + "\n").utf8))
            throw ExitCode(1)
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        print(Self.summary(report, seconds: seconds))
        for row in report.failures.keys.sorted() {
            print("row \(row): " + report.failures[row]!.map(\.description).joined(separator: "; "))
        }
        if report.failed > 0 { throw ExitCode(2) }
    }

    static func summary(_ r: ImportReport, seconds: Double) -> String {
        var s = "\(r.kind.rawValue): \(r.rows) rows, \(r.ok) ok, \(r.failed) failed, \(r.written) written"
        if r.dryRun { s += " (dry run: nothing written)" }
        if r.rejected && !r.dryRun { s += " (atomic: nothing written because rows failed)" }
        return s + String(format: " in %.2f s", seconds)
    }
}

struct ImportCommandError: Error, CustomStringConvertible {
    let description: String
}
