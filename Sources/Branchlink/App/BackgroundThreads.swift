import Foundation
import Logging
import Postgres
import Synchronization

/// Threads that repeat one job until stopped, never on a request's handler thread: each has its
/// own database connection (opened lazily, so a database that is down at start-up only delays the
/// work), runs the job again at once while it reports it was busy, and otherwise sleeps
/// `pollInterval` or until `notify()`. The campaign runner, the export runner, the webhook worker
/// and the scheduler differ only in their job; the job itself must be safe in any number of
/// threads and instances (work claimed with SKIP LOCKED or advisory locks).
final class BackgroundThreads: Sendable {
    /// The job: true when it did something and should run again at once. `stopping` turns true
    /// when `stop()` was called; a long job checks it between units of work.
    typealias Job = @Sendable (_ db: Connection, _ stopping: () -> Bool) throws -> Bool

    private let name: String
    private let count: Int
    private let configuration: PostgresConfiguration
    private let logger: Logger
    private let pollInterval: Double
    private let sleepFirst: Bool
    private let job: Job
    private let wake = DispatchSemaphore(value: 0)
    private let state = Mutex<(stopping: Bool, started: Int)>((false, 0))
    private let finished = DispatchSemaphore(value: 0)

    /// `sleepFirst`: the first run comes one `pollInterval` after start (a process that starts and
    /// stops at once does no background writes).
    init(name: String, count: Int, database: PostgresConfiguration, logger: Logger, pollInterval: Double,
         sleepFirst: Bool = false, job: @escaping Job) {
        self.name = name
        self.count = max(0, count)
        self.configuration = database
        self.logger = logger
        self.pollInterval = max(0.01, pollInterval)
        self.sleepFirst = sleepFirst
        self.job = job
    }

    /// Starts the threads (once; later calls do nothing).
    func start() {
        let first = state.withLock { s -> Bool in
            guard s.started == 0, !s.stopping else { return false }
            s.started = count
            return true
        }
        guard first else { return }
        for i in 0..<count {
            let thread = Thread { [self] in loop() }
            thread.name = "bl-\(name)-\(i)"
            thread.start()
        }
    }

    /// There is new work: run now rather than at the next poll.
    func notify() { for _ in 0..<count { wake.signal() } }

    /// Stops after the unit of work in progress in each thread, waiting at most `timeout` seconds.
    func stop(timeout: Double = 30) {
        let started = state.withLock { s -> Int in
            s.stopping = true
            return s.started
        }
        for _ in 0..<started { wake.signal() }
        let deadline = DispatchTime.now() + timeout
        for _ in 0..<started { _ = finished.wait(timeout: deadline) }
    }

    var isStopping: Bool { state.withLock { $0.stopping } }

    private func loop() {
        defer { finished.signal() }
        var db: Connection?
        if sleepFirst { _ = wake.wait(timeout: .now() + pollInterval) }
        while !isStopping {
            var busy = false
            do {
                if db == nil { db = try Connection(configuration: configuration, requireConnection: false) }
                busy = try job(db!) { [self] in isStopping }
            } catch {
                logger.warning("\(name): \(error)")
                db?.afterJob()  // roll back anything the failed job left open
            }
            if !busy { _ = wake.wait(timeout: .now() + pollInterval) }
        }
    }
}
