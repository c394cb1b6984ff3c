import Foundation
import Logging
import Postgres
import Synchronization

/// Generates large campaigns in the background, on `workers` threads each with its own database
/// connection, never on a request's handler thread. Woken when a campaign is created, and every
/// `pollInterval` they look for running campaigns, so campaigns interrupted by a restart resume.
/// Workers of any number of instances share a campaign chunk by chunk (CampaignGenerator.step
/// claims chunks with SKIP LOCKED); two workers use both cores of a small machine, the inserts of
/// one chunk being mostly single-threaded work in PostgreSQL.
public final class CampaignRunner: Sendable {
    private let threads: BackgroundThreads

    public init(database: PostgresConfiguration, logger: Logger, workers: Int = 2, pollInterval: Double = 30) {
        var config = database
        // Chunks of a national campaign take seconds: the request statement timeout does not apply.
        config.statementTimeoutMilliseconds = 600_000
        threads = BackgroundThreads(name: "campaigns", count: max(1, workers), database: config, logger: logger,
                                    pollInterval: pollInterval) { [logger] db, stopping in
            try Self.runPending(db, logger: logger, stopping: stopping)
            return false
        }
    }

    public func start() { threads.start() }

    /// A campaign was created: look now rather than at the next poll.
    public func notify() { threads.notify() }

    /// Stops after the chunks in progress (each chunk is its own transaction: nothing half-done).
    public func stop(timeout: Double = 30) { threads.stop(timeout: timeout) }

    private static func runPending(_ db: Connection, logger: Logger, stopping: () -> Bool) throws {
        let ids = try db.query("SELECT id FROM assessment_campaigns WHERE status = 'running' ORDER BY created_at").map { try $0.decode(UUID.self, 0) }
        for id in ids where !stopping() {
            do {
                while !stopping(), try CampaignGenerator.step(db, campaignID: id) {}
            } catch {
                CampaignGenerator.fail(db, campaignID: id, error: error, logger: logger)
            }
        }
    }
}
