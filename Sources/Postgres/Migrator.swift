import Crypto
import Foundation
import Logging

/// One `NNNN_name.sql` file.
public struct Migration: Sendable, Equatable {
    public let version: Int
    public let name: String
    public let fileName: String
    public let path: String
    public let sql: String
    /// SHA-256 of the file's bytes, lowercase hex.
    public let checksum: String
    /// False when the file's first line is `-- branchlink:no-transaction` (for statements such as
    /// CREATE INDEX CONCURRENTLY); such a file is run outside a transaction.
    public let transactional: Bool
}

public enum MigrationError: Error, CustomStringConvertible, Sendable {
    case directoryNotFound(searched: [String])
    case invalidFileName(String)
    case duplicateVersion(version: Int, files: [String])
    /// An applied migration's file has changed since it was applied.
    case checksumMismatch(version: Int, file: String, recorded: String, actual: String)
    case migrationFailed(file: String, error: PostgresError)

    public var description: String {
        switch self {
        case .directoryNotFound(let searched):
            return "migrations directory not found (looked in: \(searched.joined(separator: ", "))); set BRANCHLINK_MIGRATIONS_DIR"
        case .invalidFileName(let f):
            return "migration file \(f) is not named NNNN_name.sql"
        case .duplicateVersion(let v, let files):
            return "migration version \(v) is used by several files: \(files.joined(separator: ", "))"
        case .checksumMismatch(let v, let file, let recorded, let actual):
            return "migration \(file) (version \(v)) was changed after it was applied (recorded sha256 \(recorded), file now \(actual)); "
                + "add a new migration instead of editing an applied one"
        case .migrationFailed(let file, let error):
            return "migration \(file) failed: \(error)"
        }
    }
}

/// Applies `NNNN_name.sql` files in version order, each in its own transaction, recording them in
/// `schema_migrations`, under a session advisory lock so that several instances can start at once.
public struct Migrator: Sendable {
    public let directory: String
    public var logger: Logger

    /// Key of the `pg_advisory_lock` held while migrating.
    public static let advisoryLockKey: Int64 = 0x626C_5F6D_6967_7261 // "bl_migra"

    public init(directory: String, logger: Logger = Logger(label: "branchlink.migrate")) {
        self.directory = directory
        self.logger = logger
    }

    /// The migration files, sorted by version.
    public func loadMigrations() throws -> [Migration] {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue else {
            throw MigrationError.directoryNotFound(searched: [directory])
        }
        var byVersion: [Int: [Migration]] = [:]
        for file in try fm.contentsOfDirectory(atPath: directory) where file.hasSuffix(".sql") {
            let stem = file.dropLast(4)
            guard let underscore = stem.firstIndex(of: "_"),
                let version = Int(stem[..<underscore]), stem[..<underscore].allSatisfy(\.isASCII),
                stem.index(after: underscore) < stem.endIndex
            else { throw MigrationError.invalidFileName(file) }
            let path = directory + "/" + file
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            let checksum = SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
            let sql = String(decoding: data, as: UTF8.self)
            let firstLine = sql.prefix { $0 != "\n" }.lowercased()
            let m = Migration(
                version: version, name: String(stem[stem.index(after: underscore)...]), fileName: file, path: path,
                sql: sql, checksum: checksum, transactional: !firstLine.contains("branchlink:no-transaction"))
            byVersion[version, default: []].append(m)
        }
        if let dup = byVersion.first(where: { $0.value.count > 1 }) {
            throw MigrationError.duplicateVersion(version: dup.key, files: dup.value.map(\.fileName).sorted())
        }
        return byVersion.values.map { $0[0] }.sorted { $0.version < $1.version }
    }

    /// Applies every pending migration and returns those applied (empty when up to date).
    /// Refuses to run (before applying anything) if an applied migration's file has changed.
    @discardableResult
    public func migrate(_ connection: Connection) throws -> [Migration] {
        let migrations = try loadMigrations()
        let restoreTimeout = connection.currentStatementTimeout
        // Waiting for another instance's lock, and long migrations, must not hit statement_timeout.
        try connection.setStatementTimeout(milliseconds: 0)
        defer { try? connection.setStatementTimeout(milliseconds: restoreTimeout) }
        try connection.query("SELECT pg_advisory_lock($1)", Migrator.advisoryLockKey)
        defer { _ = try? connection.query("SELECT pg_advisory_unlock($1)", Migrator.advisoryLockKey) }

        try connection.simpleQuery("""
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version    integer PRIMARY KEY,
                name       text NOT NULL,
                checksum   text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """)
        var applied: [Int: String] = [:]
        for row in try connection.query("SELECT version, checksum FROM schema_migrations") {
            applied[try row.decode(Int.self, 0)] = try row.decode(String.self, 1)
        }
        for m in migrations {
            if let recorded = applied[m.version], recorded != m.checksum {
                throw MigrationError.checksumMismatch(version: m.version, file: m.fileName, recorded: recorded, actual: m.checksum)
            }
        }
        let known = Set(migrations.map(\.version))
        for v in applied.keys.sorted() where !known.contains(v) {
            logger.warning("database has a migration this build does not know", metadata: ["version": .stringConvertible(v)])
        }
        var done: [Migration] = []
        for m in migrations where applied[m.version] == nil {
            let started = Date()
            do {
                let record = { (c: Connection) throws in
                    _ = try c.execute(
                        "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, now())",
                        Int32(m.version), m.name, m.checksum)
                }
                if m.transactional {
                    try connection.transaction { c in
                        try c.simpleQuery(m.sql)
                        try record(c)
                    }
                } else {
                    try connection.simpleQuery(m.sql)
                    try record(connection)
                }
            } catch let e as PostgresError {
                throw MigrationError.migrationFailed(file: m.fileName, error: e)
            }
            logger.info("applied migration", metadata: [
                "file": .string(m.fileName), "ms": .stringConvertible(Int(Date().timeIntervalSince(started) * 1000)),
            ])
            done.append(m)
        }
        return done
    }

    /// Finds the migrations directory: `explicit`, then `$BRANCHLINK_MIGRATIONS_DIR`, then
    /// `./migrations`, then a `migrations` folder beside a `Package.swift` (or beside the
    /// executable) walking up from the executable's directory, then from `filePath` (the caller's
    /// source file) and from this module's source file.
    public static func locateDirectory(
        explicit: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment,
        filePath: String = #filePath
    ) throws -> String {
        let fm = FileManager.default
        func isDir(_ p: String) -> Bool {
            var d: ObjCBool = false
            return fm.fileExists(atPath: p, isDirectory: &d) && d.boolValue
        }
        if let explicit, !explicit.isEmpty {
            guard isDir(explicit) else { throw MigrationError.directoryNotFound(searched: [explicit]) }
            return absolute(explicit)
        }
        if let env = environment["BRANCHLINK_MIGRATIONS_DIR"], !env.isEmpty {
            guard isDir(env) else { throw MigrationError.directoryNotFound(searched: ["$BRANCHLINK_MIGRATIONS_DIR=\(env)"]) }
            return absolute(env)
        }
        var searched: [String] = []
        let cwd = fm.currentDirectoryPath + "/migrations"
        searched.append(cwd)
        if isDir(cwd) { return cwd }

        var starts: [(String, Bool)] = []
        if let exe = try? fm.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            starts.append((URL(fileURLWithPath: exe).deletingLastPathComponent().path, true))
        } else if let exe = Bundle.main.executablePath {
            starts.append((URL(fileURLWithPath: exe).deletingLastPathComponent().path, true))
        }
        starts.append((URL(fileURLWithPath: filePath).deletingLastPathComponent().path, false))
        starts.append((URL(fileURLWithPath: #filePath).deletingLastPathComponent().path, false))
        for (start, isExecutable) in starts {
            var dir = URL(fileURLWithPath: start)
            if isExecutable, isDir(dir.path + "/migrations") { return dir.path + "/migrations" }
            while true {
                let candidate = dir.path + "/migrations"
                if fm.fileExists(atPath: dir.path + "/Package.swift"), isDir(candidate) { return candidate }
                let parent = dir.deletingLastPathComponent()
                if parent.path == dir.path || dir.path == "/" { break }
                dir = parent
            }
            searched.append("Package.swift/migrations above \(start)")
        }
        throw MigrationError.directoryNotFound(searched: searched)
    }

    private static func absolute(_ p: String) -> String {
        p.hasPrefix("/") ? p : FileManager.default.currentDirectoryPath + "/" + p
    }
}
