import Foundation
import Logging
import Postgres
import Synchronization

/// A piece of periodic background work. `runOnce` does what is due at `now` and returns how much it
/// did; it must be safe to run at the same time in any number of instances (claim work with
/// `FOR UPDATE SKIP LOCKED` or advisory locks, make effects idempotent), and it takes `now` from its
/// caller so tests can simulate time.
public protocol ScheduledTask: Sendable {
    var name: String { get }
    func runOnce(db: Connection, now: Date) throws -> Int
}

/// Hosts the periodic tasks of `branchlink serve` (reminders and escalations; webhook deliveries
/// plug in the same way) on one background thread with its own database connection: every
/// `interval` seconds it runs each task once. Never on a request's handler thread.
public final class Scheduler: Sendable {
    public let tasks: [any ScheduledTask]
    private let logger: Logger
    private let threads: BackgroundThreads

    /// The tasks `branchlink serve` runs.
    public static func standardTasks(lookbackDays: Int = ReminderPolicy.defaultLookbackDays) -> [any ScheduledTask] {
        [ReminderTask(lookbackDays: lookbackDays), EscalationResolver()]
    }

    public init(database: PostgresConfiguration, logger: Logger, interval: Double = 60, tasks: [any ScheduledTask] = Scheduler.standardTasks()) {
        var config = database
        // A page touches at most `batchSize` items; a slow one must not be cut by the request timeout.
        config.statementTimeoutMilliseconds = max(config.statementTimeoutMilliseconds, 120_000)
        self.logger = logger
        self.tasks = tasks
        // The first tick comes one interval after start: a process that starts and stops at once
        // (a test, a migration check) does no background writes.
        threads = BackgroundThreads(name: "scheduler", count: 1, database: config, logger: logger, pollInterval: interval,
                                    sleepFirst: true) { db, _ in
            let report = Self.tick(db: db, now: Date(), tasks: tasks, logger: logger)
            if !report.errors.isEmpty { db.afterJob() }
            if report.done.values.reduce(0, +) > 0 {
                logger.info("scheduler tick", metadata: report.done.reduce(into: Logger.Metadata()) { $0[$1.key] = .string(String($1.value)) })
            }
            return false
        }
    }

    public struct TickReport: Sendable {
        /// Work done per task name.
        public var done: [String: Int] = [:]
        /// Task name → error, for the tasks that failed (the others still ran).
        public var errors: [String: String] = [:]
    }

    /// Runs every task once at `now`. A failing task is reported and does not stop the others.
    public static func tick(db: Connection, now: Date, tasks: [any ScheduledTask] = standardTasks(), logger: Logger? = nil) -> TickReport {
        var report = TickReport()
        for task in tasks {
            do {
                report.done[task.name] = try task.runOnce(db: db, now: now)
            } catch {
                report.errors[task.name] = "\(error)"
                logger?.warning("scheduler task failed", metadata: ["task": .string(task.name), "error": .string("\(error)")])
            }
        }
        return report
    }

    public func tick(db: Connection, now: Date) -> TickReport { Self.tick(db: db, now: now, tasks: tasks, logger: logger) }

    public func start() { threads.start() }

    /// Stops after the page in progress (each page is its own transaction: nothing half-done).
    public func stop(timeout: Double = 30) { threads.stop(timeout: timeout) }
}
