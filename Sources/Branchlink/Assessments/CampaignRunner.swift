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
    private let configuration: PostgresConfiguration
    private let logger: Logger
    private let pollInterval: Double
    private let workers: Int
    private let wake = DispatchSemaphore(value: 0)
    private let state = Mutex<(stopping: Bool, started: Int)>((false, 0))
    private let finished = DispatchSemaphore(value: 0)

    public init(database: PostgresConfiguration, logger: Logger, workers: Int = 2, pollInterval: Double = 30) {
        var config = database
        // Chunks of a national campaign take seconds: the request statement timeout does not apply.
        config.statementTimeoutMilliseconds = 600_000
        self.configuration = config
        self.logger = logger
        self.pollInterval = pollInterval
        self.workers = max(1, workers)
    }

    public func start() {
        for i in 0..<workers {
            let thread = Thread { [self] in loop() }
            thread.name = "bl-campaigns-\(i)"
            state.withLock { $0.started += 1 }
            thread.start()
        }
    }

    /// A campaign was created: look now rather than at the next poll.
    public func notify() { for _ in 0..<workers { wake.signal() } }

    /// Stops after the chunks in progress (each chunk is its own transaction: nothing half-done).
    public func stop(timeout: Double = 30) {
        let started = state.withLock { s -> Int in
            s.stopping = true
            return s.started
        }
        for _ in 0..<started { wake.signal() }
        let deadline = DispatchTime.now() + timeout
        for _ in 0..<started { _ = finished.wait(timeout: deadline) }
    }

    private var stopping: Bool { state.withLock { $0.stopping } }

    private func loop() {
        defer { finished.signal() }
        var db: Connection?
        while !stopping {
            do {
                if db == nil { db = try Connection(configuration: configuration, requireConnection: false) }
                try runPending(db!)
            } catch {
                logger.warning("campaign runner: \(error)")
            }
            _ = wake.wait(timeout: .now() + pollInterval)
        }
    }

    private func runPending(_ db: Connection) throws {
        let ids = try db.query("SELECT id FROM assessment_campaigns WHERE status = 'running' ORDER BY created_at").map { try $0.decode(UUID.self, 0) }
        for id in ids where !stopping {
            do {
                while !stopping, try CampaignGenerator.step(db, campaignID: id) {}
            } catch {
                CampaignGenerator.fail(db, campaignID: id, error: error, logger: logger)
            }
        }
    }
}
