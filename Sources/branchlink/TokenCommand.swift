import ArgumentParser
import Branchlink
import Foundation
import Logging
import Postgres

/// `branchlink token create --org CODE --role ROLE [--name NAME]`: bootstraps an account and its
/// first token straight in the database (the first admin has no token to call the API with).
struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Create accounts with bearer tokens from the command line.",
        subcommands: [Create.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an account in an organization and print its new bearer token.",
            discussion: "Only the token is written to standard output (one line), so `TOKEN=$(branchlink token create …)` works; "
                + "the account and token details go to standard error. Runs pending migrations first.")

        @Option(help: "Code (TW is the root) or id of the organization the account belongs to.") var org: String
        @Option(help: "Role of the account: officer, viewer or admin.") var role: String
        @Option(help: "Account name (default: \"<role> <org>\").") var name: String?
        @Option(name: .customLong("log-level")) var logLevel: String = "warning"
        @OptionGroup var database: DatabaseOptions

        func validate() throws {
            guard Role(rawValue: role) != nil else {
                throw ValidationError("--role must be one of " + Role.allCases.map(\.rawValue).joined(separator: ", "))
            }
            if let name, name.trimmingCharacters(in: .whitespaces).isEmpty || name.count > 200 {
                throw ValidationError("--name must have 1 to 200 characters")
            }
        }

        func run() throws {
            // Logs go to stderr: stdout carries the token alone.
            let level = Logger.Level(rawValue: logLevel) ?? .warning
            LoggingSystem.bootstrap { label in
                var h = StreamLogHandler.standardError(label: label)
                h.logLevel = level
                return h
            }
            let logger = Logger(label: "branchlink.token")
            let role = Role(rawValue: role)!
            let accountName = name?.trimmingCharacters(in: .whitespaces) ?? "\(role.rawValue) \(org)"

            // An embedded cluster that `serve` is running must keep running after this command.
            let alreadyRunning = database.resolvedURL == nil && Self.embeddedClusterRunning(database, logger: logger)
            let setup = try DatabaseSetup.open(database, logger: logger)
            defer { if !alreadyRunning { setup.stop() } }
            try DatabaseSetup.migrate(url: setup.url, logger: logger)

            let db = try Connection(setup.url)
            let issued: TokenIssuer.Issued
            do {
                // Not a request: audited as one system record in the same transaction.
                issued = try db.transaction { db in
                    let issued = try TokenIssuer.createAccountWithToken(db, orgCode: org, role: role, name: accountName)
                    let orgID = try db.queryRow("SELECT a.org_id FROM tokens t JOIN accounts a ON a.id = t.account_id WHERE t.id = $1", issued.id)?.decode(UUID.self, 0)
                    try AuditChain.append(db, AuditChain.Entry(orgID: orgID, action: "cli.token.create", entityType: "token", entityID: issued.id,
                                                               fields: ["role": role.rawValue]))
                    return issued
                }
            } catch let e as APIError where e.code == "not_found" {
                throw TokenCommandError(description: "no organization has the code \(org)")
            }
            let accountID = try db.queryRow("SELECT account_id FROM tokens WHERE id = $1", issued.id)?.decode(UUID.self, 0)
            FileHandle.standardOutput.write(Data((issued.secret + "\n").utf8))
            FileHandle.standardError.write(Data("""
                created account \(accountID?.lower ?? "?") (\(role.rawValue), organization \(org), name "\(accountName)")
                token \(issued.id.lower) printed on stdout; it is shown only once. Use it as: Authorization: Bearer <token>

                """.utf8))
        }

        static func embeddedClusterRunning(_ options: DatabaseOptions, logger: Logger) -> Bool {
            let dir = URL(fileURLWithPath: options.resolvedDataDir).appendingPathComponent("pg").standardizedFileURL.path
            guard let cluster = try? EmbeddedCluster(directory: dir, options: DatabaseSetup.clusterOptions(logger: logger)) else { return false }
            return cluster.isRunning
        }
    }
}

struct TokenCommandError: Error, CustomStringConvertible {
    let description: String
}
