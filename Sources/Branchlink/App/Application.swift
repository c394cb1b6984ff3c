import Foundation
import HTTP
import Logging
import Postgres
import Synchronization

/// Assembles Branchlink: the router with every domain area's routes, the HTTP server, and one
/// database connection per handler thread. The CLI and the tests start it the same way.
public final class Application: Sendable {
    public let server: HTTPServer<AppContext>
    /// Background generation of large assessment campaigns (nil when `backgroundJobs` is off).
    public let campaignRunner: CampaignRunner?
    /// Webhook deliveries (nil when `backgroundJobs` is off).
    public let webhookWorker: WebhookWorker?
    /// Background exports (nil when `backgroundJobs` is off).
    let exportRunner: ExportRunner?
    /// Periodic tasks: reminders, escalations (nil when `backgroundJobs` is off).
    public let scheduler: Scheduler?
    /// Who the recent tokens belong to; invalidated by this process's own revocations.
    public let principals: PrincipalCache

    public struct Options: Sendable {
        public var server = ServerConfig()
        public var database: PostgresConfiguration
        public var rateLimiter = RateLimiter()
        /// Campaigns over more members than this answer 202 and are generated in the background.
        public var campaignSyncLimit = 20_000
        /// Threads making background exports (0: exports wait for another instance).
        public var exportWorkers = 1
        /// Runs the background jobs (campaign generation, exports) in this process.
        public var backgroundJobs = true
        public var principalCache = PrincipalCache()
        /// Seconds between scheduler ticks (reminders, escalations).
        public var schedulerInterval: Double = 60
        /// The scheduler's periodic tasks.
        public var schedulerTasks: [any ScheduledTask] = Scheduler.standardTasks()
        /// Webhook sender settings; `webhooks.limits.allowPrivate` also lets subscriptions name
        /// loopback/private destinations (`--webhook-allow-private`).
        public var webhooks = WebhookWorker.Config()
        public init(database: PostgresConfiguration) { self.database = database }
    }

    public init(options: Options) {
        let router = Router<AppContext>()
        // Routes like /readyz need the server, which needs the router: they reach it through a slot
        // filled right after the server is built (before it starts).
        let slot = ServerSlot()
        let serverAccessor: @Sendable () -> HTTPServer<AppContext>? = { slot.server.withLock { $0 } }
        OperationsRoutes.register(on: router, server: serverAccessor, openAPI: ResourceLocator.openAPIBytes())

        // Everything below needs a bearer token.
        router.use(QueryGuard())
        router.use(Authentication(rateLimiter: options.rateLimiter))
        router.use(ActingFor())
        router.use(Idempotency())
        // Every write in one transaction with its audit record (after Idempotency: replays are not writes).
        router.use(AuditTrail())
        OrganizationRoutes.register(on: router)
        MemberRoutes.register(on: router)
        AccountRoutes.register(on: router)
        TokenRoutes.register(on: router)
        ImportRoutes.register(on: router)
        IntroductionRoutes.register(on: router)
        IntroductionLetter.register(on: router)
        ChangeNoticeRoutes.register(on: router)
        PolicyRoutes.register(on: router)
        InboxRoutes.register(on: router)
        AssessmentRequestRoutes.register(on: router)
        AssessmentMeetingRoutes.register(on: router)
        CampaignRoutes.register(on: router)
        ResidenceMeetingRoutes.register(on: router)
        ResidenceReportRoutes.register(on: router)
        EventFeedRoutes.register(on: router)
        WebhookRoutes.register(on: router)
        ExportRoutes.register(on: router)
        CoverageReport.register(on: router)
        OverdueReport.register(on: router)
        EscalationRoutes.register(on: router)
        AuditRoutes.register(on: router)
        DelegationRoutes.register(on: router)

        let gauge = DatabaseGauge()
        let mapper = ErrorMapper()
        let logger = options.server.logger
        let dbConfig = options.database
        let runner = options.backgroundJobs ? CampaignRunner(database: dbConfig, logger: Logger(label: "branchlink.campaigns")) : nil
        let syncLimit = options.campaignSyncLimit
        let webhookWorker = options.backgroundJobs
            ? WebhookWorker(database: dbConfig, config: options.webhooks, logger: Logger(label: "branchlink.webhooks")) : nil
        let allowPrivate = options.webhooks.limits.allowPrivate
        let principals = options.principalCache
        let exports = options.backgroundJobs
            ? ExportRunner(database: dbConfig, router: router, principals: principals, logger: Logger(label: "branchlink.exports"),
                           workers: options.exportWorkers) : nil
        let server = HTTPServer(
            config: options.server, router: router,
            afterJob: { $0.afterJob() },
            errorResponse: { error, request in
                mapper.response(for: error, request: request) { message, fields in
                    var md: Logger.Metadata = ["request_id": .string(request.requestID), "route": .string(request.route)]
                    for (k, v) in fields { md[k] = .string(v) }
                    logger.error("\(message)", metadata: md)
                }
            },
            extraMetrics: { gauge.render() },
            makeContext: { index in
                // A database that is down at start-up must not stop the server: the connection
                // reconnects later and requests get fast 503s meanwhile.
                let db = try Connection(configuration: dbConfig, requireConnection: false)
                return AppContext(index: index, db: db, gauge: gauge, principals: principals, campaignSyncLimit: syncLimit,
                                  campaignRunner: runner, exportRunner: exports, webhookAllowPrivate: allowPrivate)
            })
        slot.server.withLock { $0 = server }
        self.server = server
        self.campaignRunner = runner
        self.webhookWorker = webhookWorker
        self.exportRunner = exports
        self.scheduler = options.backgroundJobs
            ? Scheduler(database: dbConfig, logger: Logger(label: "branchlink.scheduler"), interval: options.schedulerInterval,
                        tasks: options.schedulerTasks)
            : nil
        self.principals = principals
    }

    public func start() throws {
        try server.start()
        campaignRunner?.start()
        webhookWorker?.start()
        exportRunner?.start()
        scheduler?.start()
    }

    /// Stops serving (drain) and the background jobs (after the chunk in progress).
    public func shutdown() {
        server.shutdown()
        stopBackgroundJobs()
    }

    /// Stops the background jobs, each after the unit of work in progress (a campaign chunk, an
    /// export, a delivery attempt, a scheduler page): nothing is left half-done.
    public func stopBackgroundJobs() {
        campaignRunner?.stop()
        webhookWorker?.stop()
        exportRunner?.stop()
        scheduler?.stop()
    }
    public var port: Int { server.port }
}

private final class ServerSlot: Sendable {
    let server = Mutex<HTTPServer<AppContext>?>(nil)
}

/// Finds files shipped next to the code (openapi.yaml, migrations/) from the working directory,
/// an environment override, the executable's location or the source tree.
public enum ResourceLocator {
    public static func find(_ name: String, env: String) -> String? {
        let fm = FileManager.default
        if let p = ProcessInfo.processInfo.environment[env], fm.fileExists(atPath: p) { return p }
        var candidates = [fm.currentDirectoryPath + "/" + name]
        var dir = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<6 {
            candidates.append(dir.appendingPathComponent(name).path)
            dir.deleteLastPathComponent()
        }
        var src = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        for _ in 0..<5 {
            candidates.append(src.appendingPathComponent(name).path)
            src.deleteLastPathComponent()
        }
        return candidates.first { fm.fileExists(atPath: $0) }
    }

    static func openAPIBytes() -> [UInt8]? {
        guard let path = find("openapi.yaml", env: "BRANCHLINK_OPENAPI_PATH"),
              let data = FileManager.default.contents(atPath: path) else { return nil }
        return [UInt8](data)
    }
}
