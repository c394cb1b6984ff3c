import Foundation
import Logging

/// The database for test suites of every target: one temporary embedded cluster per test process
/// (created on first use, stopped and deleted at exit), or the server named by
/// `BRANCHLINK_TEST_DATABASE_URL` when that is set.
///
///     let url = try TestDatabase.url()                     // shared database "branchlink"
///     let fresh = try TestDatabase.createDatabase()        // an empty database of your own
///     let migrated = try TestDatabase.createDatabase(migrated: true)
public enum TestDatabase {
    private static let state = TestDatabaseState()

    /// Connection string of the shared test database.
    public static func url() throws -> String {
        try state.resolve().url
    }

    /// The shared temporary cluster; nil when `BRANCHLINK_TEST_DATABASE_URL` is used.
    public static func cluster() throws -> EmbeddedCluster? {
        try state.resolve().cluster
    }

    /// Creates a new, uniquely named database on the test server and returns its connection
    /// string. With `migrated: true` the project's migrations (see `Migrator.locateDirectory`) are
    /// applied to it. The database is dropped with the cluster at exit (on an external server it
    /// stays; names start with `prefix`).
    public static func createDatabase(prefix: String = "t", migrated: Bool = false, migrationsDirectory: String? = nil) throws -> String {
        let base = try url()
        let name = "\(prefix)_\(getpid())_\(state.nextSerial())_\(String(UInt32.random(in: 0...UInt32.max), radix: 36))"
            .lowercased().filter { $0.isLetter || $0.isNumber || $0 == "_" }
        let admin = try Connection(base)
        try admin.simpleQuery("CREATE DATABASE \(quoteIdentifier(name)) TEMPLATE template0 ENCODING 'UTF8'")
        let target = replacingDatabase(in: base, with: name)
        if migrated {
            let dir = try Migrator.locateDirectory(explicit: migrationsDirectory)
            let conn = try Connection(target)
            var logger = Logger(label: "branchlink.migrate")
            logger.logLevel = .warning
            try Migrator(directory: dir, logger: logger).migrate(conn)
        }
        return target
    }

    /// Drops a database made by `createDatabase` (terminating its sessions).
    public static func dropDatabase(_ connectionString: String) throws {
        guard let name = databaseName(in: connectionString) else { return }
        let admin = try Connection(try url())
        try admin.simpleQuery("DROP DATABASE IF EXISTS \(quoteIdentifier(name)) WITH (FORCE)")
    }
}

final class TestDatabaseState: @unchecked Sendable {
    private let lock = NSLock()
    private var resolved: (url: String, cluster: EmbeddedCluster?)?
    private var serial = 0

    func nextSerial() -> Int {
        lock.withLock {
            serial += 1
            return serial
        }
    }

    func resolve() throws -> (url: String, cluster: EmbeddedCluster?) {
        try lock.withLock {
            if let resolved { return resolved }
            if let external = ProcessInfo.processInfo.environment["BRANCHLINK_TEST_DATABASE_URL"], !external.isEmpty {
                resolved = (external, nil)
            } else {
                var logger = Logger(label: "branchlink.test-postgres")
                logger.logLevel = .warning
                let cluster = try EmbeddedCluster.temporary(logger: logger)
                resolved = (cluster.connectionString, cluster)
            }
            return resolved!
        }
    }
}

/// Returns `connectionString` pointing at database `name` (URL path or conninfo `dbname`).
public func replacingDatabase(in connectionString: String, with name: String) -> String {
    if connectionString.hasPrefix("postgres://") || connectionString.hasPrefix("postgresql://"),
        var components = URLComponents(string: connectionString)
    {
        components.path = "/" + name
        return components.string ?? connectionString
    }
    return connectionString + " dbname=\(conninfoQuote(name))"
}

func databaseName(in connectionString: String) -> String? {
    if connectionString.hasPrefix("postgres://") || connectionString.hasPrefix("postgresql://") {
        let path = URLComponents(string: connectionString)?.path ?? ""
        return path.count > 1 ? String(path.dropFirst()) : nil
    }
    // Last dbname= wins in conninfo.
    var result: String? = nil
    var rest = Substring(connectionString)
    while let r = rest.range(of: "dbname=") {
        var value = rest[r.upperBound...]
        if value.first == "'" {
            value = value.dropFirst()
            var out = ""
            var escaped = false
            for c in value {
                if escaped { out.append(c); escaped = false; continue }
                if c == "\\" { escaped = true; continue }
                if c == "'" { break }
                out.append(c)
            }
            result = out
        } else {
            result = String(value.prefix { $0 != " " })
        }
        rest = rest[r.upperBound...]
    }
    return result
}
