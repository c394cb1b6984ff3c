import HTTP
import Postgres
import Synchronization

/// What a handler thread owns for its whole life: its database connection. One per thread, never
/// shared, so handlers use it without locks.
public final class AppContext {
    public let db: Connection
    /// Set by `Authentication` for the duration of one request on this thread.
    public internal(set) var principal: Principal?
    /// Shared by every handler thread of the application.
    public let principals: PrincipalCache
    let index: Int
    /// Campaigns over more members than this are generated in the background (202).
    let campaignSyncLimit: Int
    let campaignRunner: CampaignRunner?
    /// Subscriptions may name loopback/private destinations (tests, demo, `--webhook-allow-private`).
    let webhookAllowPrivate: Bool
    let exportRunner: ExportRunner?
    /// What the audit record of the write in progress says beyond its defaults (AuditTrail); nil
    /// outside an audited write.
    public internal(set) var audit: AuditNote?
    /// Work to run once the audited write's transaction has committed (see `afterCommit`).
    var commitHooks: [() -> Void]?
    private var wasConnected: Bool
    private let gauge: DatabaseGauge

    init(index: Int, db: Connection, gauge: DatabaseGauge, principals: PrincipalCache, campaignSyncLimit: Int = 20_000,
         campaignRunner: CampaignRunner? = nil, exportRunner: ExportRunner? = nil, webhookAllowPrivate: Bool = false) {
        self.index = index
        self.db = db
        self.principals = principals
        self.gauge = gauge
        self.campaignSyncLimit = campaignSyncLimit
        self.campaignRunner = campaignRunner
        self.webhookAllowPrivate = webhookAllowPrivate
        self.exportRunner = exportRunner
        self.wasConnected = db.isConnected
        gauge.track(connected: wasConnected, previously: nil)
    }

    /// Runs `work` after the request's transaction commits (AuditTrail wraps every write in one), or
    /// at once when none is open: cache invalidations and wake-ups must not run before the change
    /// is visible to others, nor at all when it is rolled back.
    public func afterCommit(_ work: @escaping () -> Void) {
        if commitHooks != nil { commitHooks!.append(work) } else { work() }
    }

    /// After every request: roll back anything left open and keep the connection gauge current.
    func afterJob() {
        db.afterJob()
        let now = db.isConnected
        if now != wasConnected {
            gauge.track(connected: now, previously: wasConnected)
            wasConnected = now
        }
    }
}

/// `db_connections{state}` for /metrics, updated by the handler threads that own the connections.
final class DatabaseGauge: Sendable {
    private let open = Atomic<Int>(0)
    private let broken = Atomic<Int>(0)

    func track(connected: Bool, previously: Bool?) {
        if let previously {
            if previously { open.subtract(1, ordering: .relaxed) } else { broken.subtract(1, ordering: .relaxed) }
        }
        if connected { open.add(1, ordering: .relaxed) } else { broken.add(1, ordering: .relaxed) }
    }

    func render() -> String {
        "# HELP db_connections Database connections of the handler threads, by state.\n# TYPE db_connections gauge\n"
            + "db_connections{state=\"open\"} \(open.load(ordering: .relaxed))\n"
            + "db_connections{state=\"broken\"} \(broken.load(ordering: .relaxed))\n"
    }
}
