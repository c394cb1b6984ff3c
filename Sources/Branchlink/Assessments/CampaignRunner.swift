import Foundation
import Logging
import Postgres
import Synchronization

/// Generates large campaigns in the background, on one thread with its own database connection,
/// never on a request's handler thread. Woken when a campaign is created, and every
/// `pollInterval` it looks for running campaigns, so campaigns interrupted by a restart resume and
/// any number of instances can share a database: a campaign is worked on by the instance holding
/// its advisory lock, chunk by chunk (see CampaignGenerator.step).
public final class CampaignRunner: Sendable {
    private let configuration: PostgresConfiguration
    private let logger: Logger
    private let pollInterval: Double
    private let wake = DispatchSemaphore(value: 0)
    private let state = Mutex<(stopping: Bool, thread: Thread?)>((false, nil))
    private let finished = DispatchSemaphore(value: 0)

    public init(database: PostgresConfiguration, logger: Logger, pollInterval: Double = 30) {
        var config = database
        // Chunks of a national campaign take seconds: the request statement timeout does not apply.
        config.statementTimeoutMilliseconds = 600_000
        self.configuration = config
        self.logger = logger
        self.pollInterval = pollInterval
    }

    public func start() {
        let thread = Thread { [self] in loop() }
        thread.name = "bl-campaigns"
        state.withLock { $0.thread = thread }
        thread.start()
    }

    /// A campaign was created: look now rather than at the next poll.
    public func notify() { wake.signal() }

    /// Stops after the chunk in progress (each chunk is its own transaction: nothing half-done).
    public func stop(timeout: Double = 30) {
        let running = state.withLock { s -> Bool in
            s.stopping = true
            return s.thread != nil
        }
        guard running else { return }
        wake.signal()
        _ = finished.wait(timeout: .now() + timeout)
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
            let key = "campaign:\(id.lower)"
            guard try db.queryRow("SELECT pg_try_advisory_lock(hashtextextended($1, 0))", key)!.decode(Bool.self, 0) else { continue }
            defer { _ = try? db.execute("SELECT pg_advisory_unlock(hashtextextended($1, 0))", key) }
            do {
                while !stopping, try CampaignGenerator.step(db, campaignID: id) {}
            } catch {
                CampaignGenerator.fail(db, campaignID: id, error: error, logger: logger)
            }
        }
    }
}
