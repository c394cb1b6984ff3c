import CLibPQ
import CPosix
import Foundation
import Logging

/// How to open a `Connection`. Sendable, so one value can be handed to every handler thread.
public struct PostgresConfiguration: Sendable {
    /// `postgres://user@host/db?…`, `postgresql://…` or a libpq conninfo (`host=/tmp dbname=x`).
    public var connectionString: String
    /// `statement_timeout` set on every (re)connect; 0 disables it.
    public var statementTimeoutMilliseconds: Int
    /// Used as libpq's `fallback_application_name` (a value in the connection string wins).
    public var applicationName: String
    /// `connect_timeout` unless the connection string sets one.
    public var connectTimeoutSeconds: Int
    /// After a failed reconnect, calls fail immediately with `.connectionUnavailable` until this
    /// much time has passed; then one `PQreset` is tried again.
    public var reconnectBackoff: Duration
    /// Prepared statements kept per connection; beyond this, new SQL runs unprepared.
    public var maxPreparedStatements: Int
    public var logger: Logger

    public init(
        _ connectionString: String,
        statementTimeoutMilliseconds: Int = 5000,
        applicationName: String = "branchlink",
        connectTimeoutSeconds: Int = 5,
        reconnectBackoff: Duration = .milliseconds(500),
        maxPreparedStatements: Int = 1000,
        logger: Logger = Logger(label: "branchlink.postgres")
    ) {
        self.connectionString = connectionString
        self.statementTimeoutMilliseconds = statementTimeoutMilliseconds
        self.applicationName = applicationName
        self.connectTimeoutSeconds = connectTimeoutSeconds
        self.reconnectBackoff = reconnectBackoff
        self.maxPreparedStatements = maxPreparedStatements
        self.logger = logger
    }
}

/// Transaction isolation level for `Connection.transaction(isolation:)`.
public enum IsolationLevel: String, Sendable {
    case readCommitted = "READ COMMITTED"
    case repeatableRead = "REPEATABLE READ"
    case serializable = "SERIALIZABLE"
}

/// One libpq connection. Not thread-safe and not Sendable: create it on the thread that uses it
/// (one per handler thread) and keep it there. Every call blocks that thread.
public final class Connection {
    public let configuration: PostgresConfiguration
    public var logger: Logger
    let pg: OpaquePointer

    struct Prepared {
        let name: String
        let types: [UInt32]
    }
    private var statements: [String: [Prepared]] = [:]
    private var statementCount = 0
    private var nextStatementID = 1
    /// Number of `PQprepare` round trips this connection has made (cache misses).
    public private(set) var prepareCount = 0
    /// Number of successful `PQreset` reconnects.
    public private(set) var reconnectCount = 0
    private var lastResetAttemptNs: UInt64 = 0
    private var savepointDepth = 0
    var currentStatementTimeout: Int

    // Reused per call to avoid allocations on the hot path (the connection is thread-confined).
    private var paramBytes: [UInt8] = []
    private var paramOffsets: [Int] = []
    private var paramLengths: [Int32] = []
    private var paramFormats: [Int32] = []
    private var paramTypes: [UInt32] = []
    private var paramPointers: [UnsafePointer<CChar>?] = []

    /// Opens a connection from a URL or conninfo string.
    public convenience init(
        _ connectionString: String, statementTimeoutMilliseconds: Int = 5000,
        logger: Logger = Logger(label: "branchlink.postgres")
    ) throws {
        try self.init(configuration: PostgresConfiguration(
            connectionString, statementTimeoutMilliseconds: statementTimeoutMilliseconds, logger: logger))
    }

    /// Opens a connection. With `requireConnection: false` a connection that cannot be opened now
    /// is still returned; its calls throw `.connectionUnavailable` until the server is reachable
    /// (useful for handler threads started while the database is down).
    public init(configuration: PostgresConfiguration, requireConnection: Bool = true) throws {
        self.configuration = configuration
        self.logger = configuration.logger
        self.currentStatementTimeout = configuration.statementTimeoutMilliseconds
        let keys = ["connect_timeout", "fallback_application_name", "dbname"]
        let values = [String(configuration.connectTimeoutSeconds), configuration.applicationName, configuration.connectionString]
        self.pg = Connection.connectdb(keys: keys, values: values)
        paramBytes.reserveCapacity(256)
        PQsetNoticeProcessor(pg, { arg, message in
            guard let arg, let message else { return }
            let connection = Unmanaged<Connection>.fromOpaque(arg).takeUnretainedValue()
            var text = String(cString: message)
            if text.hasSuffix("\n") { text.removeLast() }
            connection.logger.debug("postgres notice", metadata: ["notice": .string(text)])
        }, Unmanaged.passUnretained(self).toOpaque())
        if PQstatus(pg) != CONNECTION_OK {
            let message = Connection.trimmed(PQerrorMessage(pg))
            if requireConnection {
                throw PostgresError.connectionUnavailable("could not connect: \(message)")
            }
            lastResetAttemptNs = cposix_monotonic_ns()
            logger.warning("postgres unavailable at start", metadata: ["error": .string(message)])
            return
        }
        do {
            try setupSession()
        } catch {
            if requireConnection {
                throw error
            }
        }
    }

    deinit { PQfinish(pg) }

    private static func connectdb(keys: [String], values: [String]) -> OpaquePointer {
        var cKeys = keys.map { strdup($0) }
        var cValues = values.map { strdup($0) }
        defer {
            cKeys.forEach { free($0) }
            cValues.forEach { free($0) }
        }
        cKeys.append(nil)
        cValues.append(nil)
        let kp = cKeys.map { UnsafePointer<CChar>($0) }
        let vp = cValues.map { UnsafePointer<CChar>($0) }
        return PQconnectdbParams(kp, vp, 1)!
    }

    static func trimmed(_ p: UnsafePointer<CChar>?) -> String {
        guard let p else { return "" }
        return String(cString: p).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func setupSession() throws {
        if currentStatementTimeout != configuration.statementTimeoutMilliseconds {
            currentStatementTimeout = configuration.statementTimeoutMilliseconds
        }
        try simpleCommand("SET statement_timeout = \(max(0, currentStatementTimeout))", reconnect: false)
    }

    // MARK: - Status

    /// libpq's view, without I/O: the socket is up and no transaction is open.
    public var isHealthy: Bool {
        PQstatus(pg) == CONNECTION_OK && PQtransactionStatus(pg) == PQTRANS_IDLE
    }

    /// True when libpq believes the connection is up (no I/O).
    public var isConnected: Bool { PQstatus(pg) == CONNECTION_OK }

    /// One round trip (`SELECT 1`); reconnects if allowed by the backoff. Never throws.
    public func ping() -> Bool {
        do {
            try simpleCommand("SELECT 1", reconnect: true)
            return true
        } catch {
            return false
        }
    }

    /// True while a transaction block is open on this connection.
    public var inTransaction: Bool {
        let s = PQtransactionStatus(pg)
        return s == PQTRANS_INTRANS || s == PQTRANS_INERROR || s == PQTRANS_ACTIVE
    }

    /// Backend process id (changes after a reconnect).
    public var backendPID: Int32 { PQbackendPID(pg) }

    /// Number of SQL texts currently prepared on this connection.
    public var preparedStatementCount: Int { statementCount }

    /// Call after every job on a pooled/handler-thread connection: rolls back a transaction that
    /// was left open (by a bug or an aborted job) so the next job starts clean.
    public func resetSession() {
        guard PQstatus(pg) == CONNECTION_OK else { return }
        savepointDepth = 0
        if PQtransactionStatus(pg) != PQTRANS_IDLE {
            logger.warning("rolling back a transaction left open after a job")
            try? simpleCommand("ROLLBACK", reconnect: false)
        }
        if currentStatementTimeout != configuration.statementTimeoutMilliseconds {
            try? setStatementTimeout(milliseconds: configuration.statementTimeoutMilliseconds)
        }
    }

    /// Alias of `resetSession()`.
    public func afterJob() { resetSession() }

    /// Changes `statement_timeout` for this session (0 disables it). `resetSession()` restores the
    /// configured value.
    public func setStatementTimeout(milliseconds: Int) throws {
        try simpleCommand("SET statement_timeout = \(max(0, milliseconds))", reconnect: true)
        currentStatementTimeout = milliseconds
    }

    // MARK: - Reconnect

    /// Before a call: if the server already ended this idle session (restart, admin shutdown,
    /// idle timeout) its FATAL message and EOF are waiting on the socket. Reading them here (one
    /// zero-timeout poll) lets us reconnect *before* sending, so the statement is never lost.
    func ensureConnected() throws {
        if PQstatus(pg) == CONNECTION_OK {
            let fd = PQsocket(pg)
            guard fd >= 0 else { return try reconnect() }
            let wasInTransaction = PQtransactionStatus(pg) != PQTRANS_IDLE
            var alive = true
            // The FATAL message and the EOF may take two reads to see.
            for _ in 0..<4 {
                var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                if poll(&p, 1, 0) <= 0 { break }
                if PQconsumeInput(pg) == 0 || PQstatus(pg) != CONNECTION_OK {
                    alive = false
                    break
                }
                _ = PQisBusy(pg) // parse what arrived (notices, a FATAL ErrorResponse)
                while let n = PQnotifies(pg) { PQfreemem(n) }
            }
            if alive && PQstatus(pg) == CONNECTION_OK { return }
            if wasInTransaction {
                // Never continue a transaction on a new session: surface the loss; the next call
                // reconnects.
                forgetStatements()
                savepointDepth = 0
                throw PostgresError.connectionUnavailable("connection lost inside a transaction")
            }
            logger.info("postgres session was closed by the server; reconnecting")
        }
        try reconnect()
    }

    /// Tries one `PQreset` unless one was tried less than `reconnectBackoff` ago.
    private func reconnect() throws {
        let now = cposix_monotonic_ns()
        let backoff = configuration.reconnectBackoff
        let backoffNs = UInt64(backoff.components.seconds) * 1_000_000_000 + UInt64(backoff.components.attoseconds / 1_000_000_000)
        if lastResetAttemptNs != 0 && now &- lastResetAttemptNs < backoffNs {
            throw PostgresError.connectionUnavailable("database unavailable (reconnect backing off)")
        }
        lastResetAttemptNs = now
        forgetStatements()
        savepointDepth = 0
        PQreset(pg)
        guard PQstatus(pg) == CONNECTION_OK else {
            let message = Connection.trimmed(PQerrorMessage(pg))
            logger.warning("postgres reconnect failed", metadata: ["error": .string(message)])
            throw PostgresError.connectionUnavailable("database unavailable: \(message)")
        }
        currentStatementTimeout = configuration.statementTimeoutMilliseconds
        try setupSession()
        lastResetAttemptNs = 0
        reconnectCount += 1
        logger.info("postgres reconnected", metadata: ["backend_pid": .stringConvertible(PQbackendPID(pg))])
    }

    private func forgetStatements() {
        statements.removeAll(keepingCapacity: true)
        statementCount = 0
    }

    /// Builds the error for a failed result (or a nil one), marking connection loss.
    func error(from res: OpaquePointer?) -> PostgresError {
        let connectionBad = PQstatus(pg) == CONNECTION_BAD
        guard let res, let statePtr = PQresultErrorField(res, Int32(UInt8(ascii: "C"))) else {
            let message = Connection.trimmed(PQerrorMessage(pg))
            if connectionBad {
                return .connectionUnavailable(message.isEmpty ? "connection lost" : message)
            }
            return PostgresError(sqlState: "XX000", message: message.isEmpty ? "unknown error" : message)
        }
        func field(_ c: Character) -> String? {
            guard let p = PQresultErrorField(res, Int32(c.asciiValue!)) else { return nil }
            return String(cString: p)
        }
        var e = PostgresError(
            sqlState: String(cString: statePtr),
            message: field("M") ?? Connection.trimmed(PQresultErrorMessage(res)),
            detail: field("D"), hint: field("H"), constraint: field("n"), table: field("t"),
            column: field("c"), schema: field("s"), severity: field("V"))
        if connectionBad { e.kind = .connectionUnavailable }
        return e
    }

    // MARK: - Queries

    /// Runs a parameterised statement (prepared and cached per SQL text) and returns its rows.
    /// Parameters bind to `$1…$n`; an Optional that is nil is SQL NULL of the wrapped type
    /// (`String?.none`), `PostgresNull()` is an untyped NULL.
    @discardableResult
    public func query(_ sql: String, _ parameters: any PostgresEncodable...) throws -> PostgresResult {
        try run(sql, parameters, prepared: true)
    }

    /// Same as `query(_:_:)` with the parameters in an array.
    @discardableResult
    public func query(_ sql: String, parameters: [any PostgresEncodable]) throws -> PostgresResult {
        try run(sql, parameters, prepared: true)
    }

    /// Runs a statement and returns the number of rows it affected.
    @discardableResult
    public func execute(_ sql: String, _ parameters: any PostgresEncodable...) throws -> Int {
        try run(sql, parameters, prepared: true).rowsAffected
    }

    @discardableResult
    public func execute(_ sql: String, parameters: [any PostgresEncodable]) throws -> Int {
        try run(sql, parameters, prepared: true).rowsAffected
    }

    /// The first row, or nil.
    public func queryRow(_ sql: String, _ parameters: any PostgresEncodable...) throws -> Row? {
        try run(sql, parameters, prepared: true).firstRow
    }

    public func queryRow(_ sql: String, parameters: [any PostgresEncodable]) throws -> Row? {
        try run(sql, parameters, prepared: true).firstRow
    }

    /// Runs a parameterised statement without preparing it (one-off SQL; nothing cached).
    @discardableResult
    public func queryUnprepared(_ sql: String, parameters: [any PostgresEncodable] = []) throws -> PostgresResult {
        try run(sql, parameters, prepared: false)
    }

    /// Runs SQL text through the simple protocol (`PQexec`): several `;`-separated statements,
    /// no parameters, text-format results. Use for DDL and migrations, never with user input.
    @discardableResult
    public func simpleQuery(_ sql: String) throws -> PostgresResult {
        try ensureConnected()
        let res = PQexec(pg, sql)
        return try check(res)
    }

    func simpleCommand(_ sql: String, reconnect: Bool) throws {
        if reconnect { try ensureConnected() }
        _ = try check(PQexec(pg, sql))
    }

    private func check(_ res: OpaquePointer?) throws -> PostgresResult {
        if let res {
            let status = PQresultStatus(res)
            if status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK || status == PGRES_EMPTY_QUERY {
                return PostgresResult(res)
            }
        }
        let e = error(from: res)
        if let res { PQclear(res) }
        if e.kind == .connectionUnavailable, PQstatus(pg) == CONNECTION_BAD { forgetStatements() }
        throw e
    }

    private func bind(_ parameters: [any PostgresEncodable]) throws {
        paramBytes.removeAll(keepingCapacity: true)
        paramOffsets.removeAll(keepingCapacity: true)
        paramLengths.removeAll(keepingCapacity: true)
        paramFormats.removeAll(keepingCapacity: true)
        paramTypes.removeAll(keepingCapacity: true)
        for p in parameters {
            if p.isNull {
                paramOffsets.append(-1)
                paramLengths.append(0)
                paramFormats.append(0)
                paramTypes.append(p.postgresType.rawValue)
                continue
            }
            let start = paramBytes.count
            try p.encode(into: &paramBytes)
            paramOffsets.append(start)
            paramLengths.append(Int32(paramBytes.count - start))
            // libpq ignores the length of text-format values and reads a C string: terminate it.
            if p.postgresFormat == .text { paramBytes.append(0) }
            paramFormats.append(p.postgresFormat.rawValue)
            paramTypes.append(p.postgresType.rawValue)
        }
        paramBytes.append(0) // never an empty buffer: a zero-length value needs a non-nil pointer
    }

    private func run(_ sql: String, _ parameters: [any PostgresEncodable], prepared: Bool, retry: Bool = true) throws -> PostgresResult {
        try ensureConnected()
        try bind(parameters)
        let wasIdle = PQtransactionStatus(pg) == PQTRANS_IDLE
        var statementName: String? = nil
        if prepared {
            if let list = statements[sql], let hit = list.first(where: { $0.types == paramTypes }) {
                statementName = hit.name
            } else if statementCount < configuration.maxPreparedStatements {
                statementName = try prepare(sql)
            }
        }
        let n = Int32(parameters.count)
        let res: OpaquePointer? = paramBytes.withUnsafeBufferPointer { bytes in
            let base = UnsafeRawPointer(bytes.baseAddress!).assumingMemoryBound(to: CChar.self)
            paramPointers.removeAll(keepingCapacity: true)
            for o in paramOffsets { paramPointers.append(o < 0 ? nil : base + o) }
            return paramPointers.withUnsafeBufferPointer { values in
                paramLengths.withUnsafeBufferPointer { lengths in
                    paramFormats.withUnsafeBufferPointer { formats in
                        if let statementName {
                            return PQexecPrepared(pg, statementName, n, values.baseAddress, lengths.baseAddress, formats.baseAddress, 1)
                        }
                        return paramTypes.withUnsafeBufferPointer { types in
                            PQexecParams(pg, sql, n, types.baseAddress, values.baseAddress, lengths.baseAddress, formats.baseAddress, 1)
                        }
                    }
                }
            }
        }
        if let res {
            let status = PQresultStatus(res)
            if status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK || status == PGRES_EMPTY_QUERY {
                return PostgresResult(res)
            }
        }
        let e = error(from: res)
        if let res { PQclear(res) }
        if PQstatus(pg) == CONNECTION_BAD {
            forgetStatements()
            // The server ended this session (restart, fast shutdown) while it was idle: the
            // statement never ran, so reconnect once and run it again.
            let terminated = e.sqlState == "57P01" || e.sqlState == "57P02" || e.sqlState == "57P03"
            if retry && wasIdle && terminated {
                logger.info("postgres session terminated by the server; reconnecting", metadata: ["sqlstate": .string(e.sqlState)])
                try reconnect()
                return try run(sql, parameters, prepared: prepared, retry: false)
            }
            throw PostgresError.connectionUnavailable(e.message)
        }
        if let statementName, retry, wasIdle,
            e.sqlState == "26000" || (e.sqlState == "0A000" && e.message.contains("cached plan"))
        {
            // Prepared statement gone (DEALLOCATE/DISCARD) or its result type changed: re-prepare.
            dropStatement(sql: sql, name: statementName, deallocate: e.sqlState == "0A000")
            return try run(sql, parameters, prepared: prepared, retry: false)
        }
        if let statementName, e.sqlState == "26000" {
            dropStatement(sql: sql, name: statementName, deallocate: false)
        }
        throw e
    }

    private func prepare(_ sql: String) throws -> String {
        let name = "s\(nextStatementID)"
        nextStatementID += 1
        let res = paramTypes.withUnsafeBufferPointer { types in
            PQprepare(pg, name, sql, Int32(types.count), types.baseAddress)
        }
        prepareCount += 1
        guard let res, PQresultStatus(res) == PGRES_COMMAND_OK else {
            let e = error(from: res)
            if let res { PQclear(res) }
            if PQstatus(pg) == CONNECTION_BAD {
                forgetStatements()
                throw PostgresError.connectionUnavailable(e.message)
            }
            throw e
        }
        PQclear(res)
        statements[sql, default: []].append(Prepared(name: name, types: paramTypes))
        statementCount += 1
        return name
    }

    private func dropStatement(sql: String, name: String, deallocate: Bool) {
        if var list = statements[sql] {
            list.removeAll { $0.name == name }
            statements[sql] = list.isEmpty ? nil : list
            statementCount -= 1
        }
        if deallocate { try? simpleCommand("DEALLOCATE \(name)", reconnect: false) }
    }

    /// Drops every prepared statement of this connection (server side too).
    public func deallocateAll() throws {
        try simpleCommand("DEALLOCATE ALL", reconnect: true)
        forgetStatements()
    }

    // MARK: - Transactions

    /// Runs `body` in a transaction: BEGIN, then COMMIT if it returns, ROLLBACK (and rethrow) if it
    /// throws. Nested calls use a SAVEPOINT. A COMMIT that the server turns into a rollback
    /// (the block had failed) throws `.transactionAborted`.
    @discardableResult
    public func transaction<T>(
        isolation: IsolationLevel? = nil, readOnly: Bool = false, _ body: (Connection) throws -> T
    ) throws -> T {
        if inTransaction {
            return try savepoint(body)
        }
        var begin = "BEGIN"
        if let isolation { begin += " ISOLATION LEVEL \(isolation.rawValue)" }
        if readOnly { begin += " READ ONLY" }
        try simpleCommand(begin, reconnect: true)
        let value: T
        do {
            value = try body(self)
        } catch {
            rollbackQuietly()
            throw error
        }
        try commit()
        return value
    }

    private func commit() throws {
        let res: PostgresResult
        do {
            res = try check(PQexec(pg, "COMMIT"))
        } catch {
            rollbackQuietly()
            throw error
        }
        if res.commandTag == "ROLLBACK" {
            throw PostgresError(
                sqlState: "25P02", message: "transaction was aborted by an earlier error and has been rolled back",
                kind: .transactionAborted)
        }
    }

    private func rollbackQuietly() {
        savepointDepth = 0
        guard PQstatus(pg) == CONNECTION_OK, PQtransactionStatus(pg) != PQTRANS_IDLE else { return }
        if let res = PQexec(pg, "ROLLBACK") { PQclear(res) }
    }

    private func savepoint<T>(_ body: (Connection) throws -> T) throws -> T {
        savepointDepth += 1
        let name = "bl_sp\(savepointDepth)"
        defer { savepointDepth -= 1 }
        try simpleCommand("SAVEPOINT \(name)", reconnect: false)
        let value: T
        do {
            value = try body(self)
        } catch {
            if PQstatus(pg) == CONNECTION_OK {
                try? simpleCommand("ROLLBACK TO SAVEPOINT \(name)", reconnect: false)
                try? simpleCommand("RELEASE SAVEPOINT \(name)", reconnect: false)
            }
            throw error
        }
        try simpleCommand("RELEASE SAVEPOINT \(name)", reconnect: false)
        return value
    }

    /// Runs `body` in a transaction (SERIALIZABLE by default) and reruns it from the start when it
    /// fails with a serialization failure (40001) or a deadlock (40P01), up to `maxAttempts` runs
    /// in all, with a short randomized pause between runs. `body` must have no side effects outside
    /// the database. Inside an already open transaction it runs once (no retry is possible there).
    @discardableResult
    public func withSerializableRetry<T>(
        maxAttempts: Int = 5, isolation: IsolationLevel = .serializable, _ body: (Connection) throws -> T
    ) throws -> T {
        if inTransaction { return try transaction(isolation: isolation, body) }
        var attempt = 1
        while true {
            do {
                return try transaction(isolation: isolation, body)
            } catch let e as PostgresError where e.isRetryableTransactionFailure && attempt < maxAttempts {
                logger.debug("retrying transaction", metadata: ["sqlstate": .string(e.sqlState), "attempt": .stringConvertible(attempt)])
                let pauseMs = UInt32.random(in: 1...(5 * UInt32(min(attempt, 8))))
                usleep(pauseMs * 1000)
                attempt += 1
            }
        }
    }
}

/// A connection is confined to the thread that opened it.
@available(*, unavailable, message: "a Connection is confined to one thread; open one per thread from a PostgresConfiguration")
extension Connection: Sendable {}
