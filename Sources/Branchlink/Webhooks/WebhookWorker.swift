import Foundation
import Logging
import Postgres
import Synchronization

/// Delivers webhooks in the background: `threads` threads, each with its own database connection,
/// call `runOnce` in a loop (and sleep `pollInterval` when it found nothing to do). `runOnce` is
/// the whole job, safe to run from any number of threads and instances at once (cursors and
/// deliveries are claimed with SKIP LOCKED); the loop is thin so that a generic scheduler can call
/// `runOnce` instead.
public final class WebhookWorker: Sendable {
    public struct Config: Sendable {
        public var limits = WebhookClient.Limits()
        /// Sender threads (each sends one delivery at a time; slow receivers need more).
        public var threads = 4
        /// Deliveries one `runOnce` sends at most (the bound of a batch).
        public var sendBatch = 50
        public var pollInterval: Double = 1
        public init() {}
        /// A claim outlives the longest attempt by this margin before another sender may take it over.
        public var lease: TimeInterval { limits.totalTimeout + 5 }
    }

    public let config: Config
    private let threads: BackgroundThreads

    public init(database: PostgresConfiguration, config: Config, logger: Logger) {
        self.config = config
        threads = BackgroundThreads(name: "webhooks", count: max(1, config.threads), database: database, logger: logger,
                                    pollInterval: config.pollInterval) { db, _ in
            try Self.runOnce(db: db, now: Date(), config: config) > 0
        }
    }

    /// One round: new events become deliveries, then up to `sendBatch` due deliveries are sent and
    /// recorded. `now` drives scheduling (due times, back-off, the 24-hour window, leases); the
    /// signature timestamp is the wall clock at sending. Returns deliveries created plus attempts made.
    @discardableResult
    public func runOnce(db: Connection, now: Date) throws -> Int {
        try Self.runOnce(db: db, now: now, config: config)
    }

    public static func runOnce(db: Connection, now: Date, config: Config) throws -> Int {
        var done = try WebhookDispatch.run(db, now: now)
        for _ in 0..<config.sendBatch {
            guard let claim = try WebhookSender.claim(db, now: now, lease: config.lease) else { break }
            let outcome = WebhookSender.send(claim, limits: config.limits)
            try WebhookSender.record(db, claim, outcome, now: now)
            done += 1
        }
        return done
    }

    public func start() { threads.start() }

    /// Stops after the attempts in flight (each is recorded before its thread ends).
    public func stop(timeout: Double = 30) { threads.stop(timeout: timeout) }
}
