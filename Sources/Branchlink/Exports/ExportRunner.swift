import Crypto
import Foundation
import HTTP
import Logging
import Postgres
import Synchronization

/// Makes the files of `POST /v1/exports` in the background, never on a request's handler thread.
/// Each worker thread has its own database connection and claims one export at a time with
/// `FOR UPDATE SKIP LOCKED`, so any number of instances share the queue. The file is produced in
/// one REPEATABLE READ transaction that holds the export's row lock: it is one consistent snapshot,
/// and a worker that dies leaves nothing half-written (its lease lapses, another worker redoes it).
public final class ExportRunner: Sendable {
    /// Stored chunk size; a download is streamed chunk by chunk.
    static let chunkBytes = 1 << 20
    /// Files larger than this fail with `export_too_large` rather than filling the database.
    static let maxFileBytes = 2 << 30
    /// Runs of one export (a crash or a lost database counts as a run) before it fails for good.
    static let maxAttempts = 3
    /// How long a claim holds without the row lock (between claiming and starting the run).
    static let leaseSeconds = 120.0

    private let configuration: PostgresConfiguration
    private let job: ExportJob
    private let threads: BackgroundThreads

    init(database: PostgresConfiguration, router: Router<AppContext>, principals: PrincipalCache, logger: Logger,
         workers: Int = 1, pollInterval: Double = 5) {
        var config = database
        // A province-wide file takes longer than a request's statement timeout allows.
        config.statementTimeoutMilliseconds = 1_800_000
        self.configuration = config
        let job = ExportJob(router: router, principals: principals, logger: logger)
        self.job = job
        threads = BackgroundThreads(name: "exports", count: workers, database: config, logger: logger, pollInterval: pollInterval) { db, stopping in
            let ctx = job.context(db)
            try job.expire(db)
            while !stopping(), try job.runNext(ctx) {}
            return false
        }
    }

    func start() { threads.start() }

    /// An export was asked for: look now rather than at the next poll.
    func notify() { threads.notify() }

    /// Stops after the exports in progress.
    func stop(timeout: Double = 30) { threads.stop(timeout: timeout) }

    /// One pass on a connection of its own (tests with `workers: 0` drive the runner with it).
    @discardableResult
    func runOnce() throws -> Bool {
        let ctx = job.context(try Connection(configuration: configuration))
        try job.expire(ctx.db)
        return try job.runNext(ctx)
    }
}

/// What one export worker does: claim an export, run its list as the token that asked, store the file.
struct ExportJob: Sendable {
    let router: Router<AppContext>
    let principals: PrincipalCache
    let logger: Logger

    /// A context like a handler thread's, around the worker's own connection.
    func context(_ db: Connection) -> AppContext { AppContext(index: -1, db: db, gauge: DatabaseGauge(), principals: principals) }

    /// Deletes the files of exports past their retention.
    func expire(_ db: Connection) throws {
        try db.execute("""
            WITH gone AS (UPDATE exports SET status = 'expired', version = version + 1
                          WHERE status IN ('done', 'failed') AND expires_at <= now() RETURNING id)
            DELETE FROM export_chunks WHERE export_id IN (SELECT id FROM gone)
            """)
    }

    /// Claims and runs one export; false when none is waiting.
    @discardableResult
    func runNext(_ ctx: AppContext) throws -> Bool {
        guard let claim = try ctx.db.queryRow("""
            UPDATE exports SET status = 'running', attempts = attempts + 1, started_at = now(),
                   lease_until = now() + make_interval(secs => $1), version = version + 1
            WHERE id = (SELECT id FROM exports
                        WHERE (status = 'queued' AND (lease_until IS NULL OR lease_until <= now()))
                           OR (status = 'running' AND lease_until <= now())
                        ORDER BY created_at FOR UPDATE SKIP LOCKED LIMIT 1)
            RETURNING id, token_id, path, format, attempts, request_id
            """, ExportRunner.leaseSeconds) else { return false }
        let id = try claim.decode(UUID.self, 0)
        let attempts = try claim.decode(Int.self, 4)
        guard attempts <= ExportRunner.maxAttempts else {
            try fail(ctx.db, id, APIError(status: 500, code: "export_abandoned", detail: "The export failed \(attempts - 1) times; ask again."))
            return true
        }
        let format = TableFormat(rawValue: try claim.decode(String.self, 3)) ?? .csv
        do {
            try produce(ctx, id: id, tokenID: try claim.decode(UUID.self, 1), path: try claim.decode(String.self, 2), format: format,
                        requestID: try claim.decode(String?.self, 5) ?? id.lower)
        } catch let e as APIError {
            try fail(ctx.db, id, e)
        } catch {
            // Database trouble: back to the queue after a pause, for another run.
            logger.warning("export \(id.lower) run \(attempts) failed: \(error)")
            _ = try? ctx.db.execute("UPDATE exports SET status = 'queued', lease_until = now() + interval '30 seconds', version = version + 1 WHERE id = $1 AND status = 'running'", id)
        }
        return true
    }

    private func produce(_ ctx: AppContext, id: UUID, tokenID: UUID, path: String, format: TableFormat, requestID: String) throws {
        try ctx.db.transaction(isolation: .repeatableRead) { db in
            guard try db.queryRow("SELECT 1 FROM exports WHERE id = $1 AND status = 'running' FOR UPDATE", id) != nil else { return }
            try db.execute("DELETE FROM export_chunks WHERE export_id = $1", id)
            // The export runs with the rights its token has now: a token revoked (or an account
            // disabled) since the POST gets nothing.
            guard let (principal, _) = try Authentication.principal(db, where: "t.id = $1", tokenID) else {
                throw APIError(status: 401, code: "token_revoked", detail: "The token that asked for this export is no longer valid.")
            }
            ctx.principal = principal
            defer { ctx.principal = nil }
            let response = try InternalRequest.table(router: router, path: path, format: format, requestID: requestID, context: ctx)
            guard response.status == 200, let stream = response.stream else {
                throw APIError(status: response.status, code: "not_exportable", detail: "GET \(path) answered \(response.status).")
            }
            var sink = ChunkSink(export: id, db: db)
            try stream.run { try sink.append($0) }
            try sink.flush()
            try db.execute("""
                UPDATE exports SET status = 'done', bytes = $2, sha256 = $3, finished_at = now(), lease_until = NULL, error = NULL,
                       expires_at = now() + make_interval(secs => $4), version = version + 1
                WHERE id = $1
                """, id, sink.total, sink.digest(), Double(ExportRoutes.retentionSeconds))
        }
    }

    private func fail(_ db: Connection, _ id: UUID, _ e: APIError) throws {
        let problem = try JSONEncoder().encode(Export.Problem(status: e.status, code: e.code, detail: e.detail))
        try db.execute("""
            UPDATE exports SET status = 'failed', error = $2::jsonb, finished_at = now(), lease_until = NULL, version = version + 1
            WHERE id = $1
            """, id, String(decoding: problem, as: UTF8.self))
    }

    /// Buffers the file into stored chunks of `chunkBytes`, counting and hashing as it goes.
    private struct ChunkSink {
        let export: UUID
        let db: Connection
        var buffer: [UInt8] = []
        var seq = 0
        var total = 0
        var hash = SHA256()

        init(export: UUID, db: Connection) {
            self.export = export
            self.db = db
            buffer.reserveCapacity(ExportRunner.chunkBytes + 64 * 1024)
        }

        mutating func append(_ bytes: [UInt8]) throws {
            total += bytes.count
            guard total <= ExportRunner.maxFileBytes else {
                throw APIError(status: 413, code: "export_too_large",
                               detail: "The file would exceed \(ExportRunner.maxFileBytes >> 20) MiB; narrow the filters.")
            }
            hash.update(data: bytes)
            buffer.append(contentsOf: bytes)
            if buffer.count >= ExportRunner.chunkBytes { try flush() }
        }

        mutating func flush() throws {
            guard !buffer.isEmpty else { return }
            try db.execute("INSERT INTO export_chunks (export_id, seq, data) VALUES ($1, $2, $3)", export, seq, buffer)
            seq += 1
            buffer.removeAll(keepingCapacity: true)
        }

        func digest() -> String { hash.finalize().map { String(format: "%02x", $0) }.joined() }
    }
}
