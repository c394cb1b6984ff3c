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
    private let database: PostgresConfiguration
    private let logger: Logger
    private let state = Mutex<(stopping: Bool, started: Int)>((false, 0))
    private let wake = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)

    public init(database: PostgresConfiguration, config: Config, logger: Logger) {
        self.database = database
        self.config = config
        self.logger = logger
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

    public func start() {
        for i in 0..<max(1, config.threads) {
            let thread = Thread { [self] in loop() }
            thread.name = "bl-webhooks-\(i)"
            state.withLock { $0.started += 1 }
            thread.start()
        }
    }

    /// Stops after the attempts in flight (each is recorded before its thread ends).
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
            var busy = false
            do {
                if db == nil { db = try Connection(configuration: database, requireConnection: false) }
                busy = try runOnce(db: db!, now: Date()) > 0
            } catch {
                logger.warning("webhook worker: \(error)")
            }
            if !busy { _ = wake.wait(timeout: .now() + config.pollInterval) }
        }
    }
}
