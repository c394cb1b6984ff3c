import ArgumentParser
import Branchlink
import Foundation
import HTTP
import Logging
import Postgres

@main
struct BranchlinkCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "branchlink",
        abstract: "Branchlink: Regulation 213-QĐ/TW paperwork between party organizations, over HTTP.",
        subcommands: [Serve.self, Migrate.self, TokenCommand.self, ImportCommand.self, DemoCommand.self, Version.self])
}

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Migrate the database, then serve HTTP until SIGTERM/SIGINT.")
    @OptionGroup var server: ServerOptions
    @OptionGroup var database: DatabaseOptions
    @Flag(help: "Load the demo province once (see `branchlink demo`), issue its tokens into <data-dir>/demo.json and print them.")
    var demo = false
    @Option(name: .customLong("scheduler-interval-seconds"), help: "Seconds between scheduler ticks: reminders, escalations (env BRANCHLINK_SCHEDULER_INTERVAL_SECONDS, default 60).")
    var schedulerInterval: Int?
    @Option(name: .customLong("reminder-lookback-days"), help: "How far back the scheduler reminds of overdue steps (env BRANCHLINK_REMINDER_LOOKBACK_DAYS, default 365).")
    var reminderLookback: Int?

    func run() throws {
        let logger = Logging.bootstrap(level: server.resolvedLogLevel)
        defer { LogSink.shared.flush() }
        let db = try DatabaseSetup.open(database, logger: logger)
        defer { db.stop() }
        try DatabaseSetup.migrate(url: db.url, logger: logger)
        if demo { try DemoSetup.load(url: db.url) }
        let config = server.makeConfig(logger: logger)
        // The embedded cluster's server runs as the application role, which cannot change audit
        // records; an external URL is used as given (connect it as branchlink_app, see AppRole).
        let appURL = db.cluster != nil ? AppRole.connectionString(db.url) : db.url
        if let check = try? Connection(appURL), (try? AppRole.canAlterAudit(check)) != false {
            logger.warning("the server's database role can change audit records; connect it as \(AppRole.name)")
        }
        var options = Application.Options(database: PostgresConfiguration(
            appURL, statementTimeoutMilliseconds: database.resolvedStatementTimeout, logger: Logger(label: "branchlink.postgres")))
        options.server = config
        options.rateLimiter = server.makeRateLimiter()
        options.schedulerInterval = Double(max(1, schedulerInterval ?? Env.int("BRANCHLINK_SCHEDULER_INTERVAL_SECONDS") ?? 60))
        options.schedulerTasks = Scheduler.standardTasks(
            lookbackDays: max(1, reminderLookback ?? Env.int("BRANCHLINK_REMINDER_LOOKBACK_DAYS") ?? ReminderPolicy.defaultLookbackDays))
        options.webhooks = server.makeWebhookConfig()
        let app = Application(options: options)
        try app.server.handleTerminationSignals()
        try app.start()
        if demo {
            try DemoSetup.issueAndPrint(url: db.url, baseURL: DemoSetup.baseURL(host: config.host, port: app.port),
                                        dataDir: database.resolvedDataDir)
        }
        app.server.waitUntilStopped()
        app.stopBackgroundJobs()
        logger.info("stopped")
    }
}

struct Migrate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply pending migrations and exit.")
    @OptionGroup var database: DatabaseOptions
    @Option(name: .customLong("log-level")) var logLevel: String = "info"

    func run() throws {
        let logger = Logging.bootstrap(level: Logger.Level(rawValue: logLevel) ?? .info)
        defer { LogSink.shared.flush() }
        let db = try DatabaseSetup.open(database, logger: logger)
        defer { db.stop() }
        try DatabaseSetup.migrate(url: db.url, logger: logger)
    }
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version.")
    func run() { print("branchlink \(BranchlinkVersion.current)") }
}

enum Logging {
    static func bootstrap(level: Logger.Level) -> Logger {
        LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: level) }
        return Logger(label: "branchlink")
    }
}

/// The database a command uses: the configured URL, or the embedded cluster it starts and stops.
struct DatabaseSetup {
    let url: String
    let cluster: EmbeddedCluster?

    static func open(_ options: DatabaseOptions, logger: Logger) throws -> DatabaseSetup {
        if let url = options.resolvedURL { return DatabaseSetup(url: url, cluster: nil) }
        let dir = URL(fileURLWithPath: options.resolvedDataDir).appendingPathComponent("pg").standardizedFileURL.path
        let cluster = try EmbeddedCluster(directory: dir, options: clusterOptions(logger: logger))
        logger.info("starting embedded PostgreSQL", metadata: ["directory": .string(dir)])
        let url = try cluster.start()
        return DatabaseSetup(url: url, cluster: cluster)
    }

    /// The embedded cluster serves the demo, development and the benchmarks on one machine: sized for
    /// it rather than PostgreSQL's 128 MB defaults. Bulk work (imports, campaigns of two million
    /// requests) writes gigabytes of WAL; fewer checkpoints (full-page images) and larger WAL
    /// buffers cut the waits on WAL writes (bench/campaign.sh). Takes effect when the cluster starts.
    static func clusterOptions(logger: Logger) -> EmbeddedCluster.Options {
        let sharedMB = max(128, min(2048, Int(ProcessInfo.processInfo.physicalMemory / 8 / 1_048_576)))
        return EmbeddedCluster.Options(settings: ["shared_buffers": "\(sharedMB)MB", "wal_buffers": "64MB", "max_wal_size": "8GB",
                                                  "checkpoint_timeout": "15min"], logger: logger)
    }

    static func migrate(url: String, logger: Logger) throws {
        let dir = try Migrator.locateDirectory()
        let conn = try Connection(url)
        let applied = try Migrator(directory: dir, logger: logger).migrate(conn)
        logger.info("migrations applied", metadata: ["count": .string(String(applied.count)), "directory": .string(dir)])
    }

    func stop() {
        guard let cluster else { return }
        do { try cluster.stop() } catch { cluster.stopImmediately() }
    }
}
