import CLibPQ
import Crypto
import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

public enum EmbeddedClusterError: Error, CustomStringConvertible, Sendable {
    /// No initdb/pg_ctl/postgres found.
    case serverNotInstalled(searched: [String])
    case commandFailed(command: String, status: Int32, output: String)
    case unusableDirectory(path: String, reason: String)

    public var description: String {
        switch self {
        case .serverNotInstalled(let searched):
            return "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found (searched: \(searched.joined(separator: ", "))). "
                + "Install the server: `apt-get install postgresql-15` (Debian/Ubuntu; package `postgresql`), "
                + "or set BRANCHLINK_DATABASE_URL to an existing database."
        case .commandFailed(let command, let status, let output):
            return "command failed (exit \(status)): \(command)\n\(output)"
        case .unusableDirectory(let path, let reason):
            return "cannot use \(path) for the embedded PostgreSQL cluster: \(reason)"
        }
    }
}

/// A private PostgreSQL cluster managed with the installed server's initdb/pg_ctl: created on first
/// use, reachable only through a unix socket, run as `nobody` when this process is root.
///
///     let cluster = try EmbeddedCluster(directory: ".branchlink/pg")
///     let url = try cluster.start()     // "host=/…/run port=5432 dbname=branchlink user=branchlink"
///     …
///     try cluster.stop()
public final class EmbeddedCluster: @unchecked Sendable {
    public struct Options: Sendable {
        /// fsync, synchronous_commit and full_page_writes off, initdb --no-sync: for test clusters
        /// only (a crash can lose or corrupt data).
        public var fastTestSettings: Bool
        public var superuser: String
        public var database: String
        /// Port number; with no TCP listener it only names the socket file (.s.PGSQL.<port>).
        public var port: Int
        public var maxConnections: Int
        /// Extra `-c name=value` server settings.
        public var settings: [String: String]
        /// Directory holding initdb/pg_ctl/postgres; found automatically when nil.
        public var binDirectory: String?
        public var logger: Logger

        public init(
            fastTestSettings: Bool = false, superuser: String = "branchlink", database: String = "branchlink",
            port: Int = 5432, maxConnections: Int = 100, settings: [String: String] = [:],
            binDirectory: String? = nil, logger: Logger = Logger(label: "branchlink.embedded-postgres")
        ) {
            self.fastTestSettings = fastTestSettings
            self.superuser = superuser
            self.database = database
            self.port = port
            self.maxConnections = maxConnections
            self.settings = settings
            self.binDirectory = binDirectory
            self.logger = logger
        }
    }

    public let options: Options
    /// Absolute cluster directory: `data/` (PGDATA), `postgres.log`, maybe `run/` (socket).
    public let directory: String
    public let dataDirectory: String
    public let logFile: String
    public let binDirectory: String
    private let lock = NSLock()
    private var _socketDirectory: String
    private var _port: Int

    /// Finds the server binaries; nothing is created until `start()`.
    public init(directory: String, options: Options = Options()) throws {
        self.options = options
        let absolute = directory.hasPrefix("/") ? directory : FileManager.default.currentDirectoryPath + "/" + directory
        self.directory = URL(fileURLWithPath: absolute).standardizedFileURL.path
        self.dataDirectory = self.directory + "/data"
        self.logFile = self.directory + "/postgres.log"
        self.binDirectory = try options.binDirectory ?? EmbeddedCluster.findBinDirectory()
        self._port = options.port
        let local = self.directory + "/run"
        if (local + "/.s.PGSQL.\(options.port)").utf8.count < 100 {
            self._socketDirectory = local
        } else {
            let digest = SHA256.hash(data: Data(self.directory.utf8)).map { String(format: "%02x", $0) }.joined()
            self._socketDirectory = "/tmp/bl-" + digest.prefix(12)
        }
    }

    /// Unix socket directory (the `host` of the connection string).
    public var socketDirectory: String { lock.withLock { _socketDirectory } }

    /// libpq conninfo for `options.database`.
    public var connectionString: String { connectionString(database: options.database) }

    public func connectionString(database: String) -> String {
        lock.withLock {
            "host=\(conninfoQuote(_socketDirectory)) port=\(_port) dbname=\(conninfoQuote(database)) user=\(conninfoQuote(options.superuser))"
        }
    }

    // MARK: - Binaries

    /// Directory with initdb, pg_ctl and postgres: `$BRANCHLINK_PG_BINDIR`, `pg_config --bindir`,
    /// `PATH`, then `/usr/lib/postgresql/*/bin` (newest first) and a few usual prefixes.
    public static func findBinDirectory() throws -> String {
        var candidates: [String] = []
        if let env = ProcessInfo.processInfo.environment["BRANCHLINK_PG_BINDIR"], !env.isEmpty { candidates.append(env) }
        if let pgConfig = Subprocess.which("pg_config"),
            let r = try? Subprocess.run([pgConfig, "--bindir"]), r.status == 0
        {
            candidates.append(r.output.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        candidates += path.split(separator: ":").map(String.init)
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? [])
            .sorted { (Int($0) ?? 0) > (Int($1) ?? 0) }
        candidates += versions.map { "/usr/lib/postgresql/\($0)/bin" }
        candidates += ["/usr/local/pgsql/bin", "/usr/pgsql-15/bin", "/opt/homebrew/opt/postgresql@15/bin", "/usr/local/opt/postgresql@15/bin"]
        for dir in candidates where !dir.isEmpty {
            if ["initdb", "pg_ctl", "postgres"].allSatisfy({ access(dir + "/" + $0, X_OK) == 0 }) { return dir }
        }
        throw EmbeddedClusterError.serverNotInstalled(searched: ["pg_config --bindir", "PATH", "/usr/lib/postgresql/*/bin"])
    }

    // MARK: - Lifecycle

    public var isInitialized: Bool { FileManager.default.fileExists(atPath: dataDirectory + "/PG_VERSION") }

    /// Initializes (first run), starts (or adopts an instance left running by a crashed run),
    /// creates the database if missing, and returns its connection string.
    @discardableResult
    public func start() throws -> String {
        try lock.withLock { try startLocked() }
        try ensureDatabase(options.database)
        return connectionString
    }

    private func startLocked() throws {
        if try statusLocked() {
            if adoptRunningLocked() { return }
            options.logger.warning("embedded postgres is running but unreachable; restarting it", metadata: ["data": .string(dataDirectory)])
            try? pgCtl(["stop", "-D", dataDirectory, "-m", "fast", "-w", "-t", "30"])
        }
        try prepareDirectoriesLocked()
        if !isInitialized { try initdbLocked() }
        try pgCtl(["start", "-D", dataDirectory, "-l", logFile, "-w", "-t", "120", "-o", serverOptionsLocked()])
        options.logger.info("embedded postgres started", metadata: ["data": .string(dataDirectory), "socket": .string(_socketDirectory)])
    }

    /// `pg_ctl stop -m fast` (the postmaster found through postmaster.pid). No-op if not running.
    public func stop() throws {
        try lock.withLock {
            guard try statusLocked() else { return }
            try pgCtl(["stop", "-D", dataDirectory, "-m", "fast", "-w", "-t", "60"])
        }
    }

    /// Stops without a shutdown checkpoint (`-m immediate`); for throwaway clusters.
    public func stopImmediately() {
        lock.withLock {
            guard (try? statusLocked()) == true else { return }
            _ = try? pgCtl(["stop", "-D", dataDirectory, "-m", "immediate", "-w", "-t", "30"])
        }
    }

    /// `pg_ctl restart -m fast`: existing sessions are terminated.
    public func restart() throws {
        try lock.withLock {
            try prepareDirectoriesLocked()
            try pgCtl(["restart", "-D", dataDirectory, "-l", logFile, "-m", "fast", "-w", "-t", "120", "-o", serverOptionsLocked()])
        }
    }

    /// True when `pg_ctl status` reports a running postmaster for the data directory.
    public var isRunning: Bool { lock.withLock { (try? statusLocked()) ?? false } }

    private func statusLocked() throws -> Bool {
        guard isInitialized else { return false }
        let r = try Subprocess.run(Subprocess.unprivileged([binDirectory + "/pg_ctl", "status", "-D", dataDirectory]))
        return r.status == 0
    }

    /// Reuses a postmaster left running (e.g. by a crashed previous run) if it answers.
    private func adoptRunningLocked() -> Bool {
        guard let pidFile = try? String(contentsOfFile: dataDirectory + "/postmaster.pid", encoding: .utf8) else { return false }
        let lines = pidFile.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard lines.count >= 5, let port = Int(lines[3].trimmingCharacters(in: .whitespaces)) else { return false }
        let socket = lines[4].trimmingCharacters(in: .whitespaces)
        let conninfo = "host=\(conninfoQuote(socket)) port=\(port) dbname=postgres user=\(conninfoQuote(options.superuser)) connect_timeout=5"
        guard PQping(conninfo) == PQPING_OK else { return false }
        _socketDirectory = socket
        _port = port
        options.logger.info("reusing running embedded postgres", metadata: ["pid": .string(lines[0]), "socket": .string(socket)])
        return true
    }

    private func prepareDirectoriesLocked() throws {
        let fm = FileManager.default
        for dir in [directory, _socketDirectory] {
            if !fm.fileExists(atPath: dir) {
                do {
                    // Parents get the default mode (they must stay searchable by the unprivileged
                    // user); only the cluster's own directory is private.
                    let parent = (dir as NSString).deletingLastPathComponent
                    if !parent.isEmpty && !fm.fileExists(atPath: parent) {
                        try fm.createDirectory(atPath: parent, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
                    }
                    try fm.createDirectory(atPath: dir, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
                } catch {
                    throw EmbeddedClusterError.unusableDirectory(path: dir, reason: "\(error)")
                }
            }
        }
        if let user = Subprocess.unprivilegedUser {
            for dir in [directory, _socketDirectory] {
                guard chown(dir, user.uid, user.gid) == 0 else {
                    throw EmbeddedClusterError.unusableDirectory(path: dir, reason: "chown to \(user.name) failed: errno \(errno)")
                }
            }
            if fm.fileExists(atPath: logFile) { _ = chown(logFile, user.uid, user.gid) }
            // Every ancestor must be searchable by the unprivileged user.
            var url = URL(fileURLWithPath: directory).deletingLastPathComponent()
            while url.path != "/" && !url.path.isEmpty {
                var st = stat()
                if stat(url.path, &st) == 0 && st.st_uid != user.uid && (st.st_mode & 0o001) == 0 {
                    throw EmbeddedClusterError.unusableDirectory(
                        path: directory,
                        reason: "\(url.path) is not searchable by \(user.name), which runs PostgreSQL because this process is root; "
                            + "use a directory outside it or `chmod o+x \(url.path)`")
                }
                url = url.deletingLastPathComponent()
            }
        }
    }

    private func initdbLocked() throws {
        var args = [binDirectory + "/initdb", "-D", dataDirectory, "-U", options.superuser, "--auth=trust", "-E", "UTF8", "--no-instructions"]
        args.append("--locale=\(EmbeddedCluster.bestLocale)")
        if options.fastTestSettings { args.append("--no-sync") }
        let r = try Subprocess.run(Subprocess.unprivileged(args), workingDirectory: directory)
        guard r.status == 0 else {
            throw EmbeddedClusterError.commandFailed(command: args.joined(separator: " "), status: r.status, output: r.output)
        }
        options.logger.info("initialized embedded postgres cluster", metadata: ["data": .string(dataDirectory)])
    }

    /// C.UTF-8 (Unicode-aware lower/upper, codepoint order) when installed, else C.
    static let bestLocale: String = {
        for dir in ["/usr/lib/locale/C.utf8", "/usr/lib/locale/C.UTF-8"] where FileManager.default.fileExists(atPath: dir) {
            return "C.UTF-8"
        }
        if let r = try? Subprocess.run(["/bin/sh", "-c", "locale -a"]), r.output.lowercased().contains("c.utf8") {
            return "C.UTF-8"
        }
        return "C"
    }()

    private func serverOptionsLocked() -> String {
        var settings: [(String, String)] = [
            ("listen_addresses", "''"),
            ("max_connections", String(options.maxConnections)),
        ]
        if options.fastTestSettings {
            settings += [("fsync", "off"), ("synchronous_commit", "off"), ("full_page_writes", "off")]
        }
        for (k, v) in options.settings.sorted(by: { $0.key < $1.key }) { settings.append((k, shellQuote(v))) }
        return "-k \(shellQuote(_socketDirectory)) -p \(_port) " + settings.map { "-c \($0.0)=\($0.1)" }.joined(separator: " ")
    }

    private func pgCtl(_ args: [String]) throws {
        let argv = Subprocess.unprivileged([binDirectory + "/pg_ctl"] + args)
        let r = try Subprocess.run(argv, workingDirectory: directory)
        guard r.status == 0 else {
            var output = r.output
            if let log = try? String(contentsOfFile: logFile, encoding: .utf8) {
                output += "\n--- last lines of \(logFile) ---\n" + log.split(separator: "\n").suffix(15).joined(separator: "\n")
            }
            throw EmbeddedClusterError.commandFailed(command: argv.joined(separator: " "), status: r.status, output: output)
        }
    }

    /// Creates `name` if it does not exist (concurrent creators are fine).
    public func ensureDatabase(_ name: String) throws {
        let admin = try Connection(connectionString(database: "postgres"))
        if try admin.queryRow("SELECT 1 FROM pg_database WHERE datname = $1", name) != nil { return }
        do {
            try admin.simpleQuery("CREATE DATABASE \(quoteIdentifier(name))")
        } catch let e as PostgresError where e.sqlState == "42P04" || e.kind == .uniqueViolation {
            // created concurrently
        }
    }

    /// Stops the cluster and deletes its directory (and a socket directory outside it).
    public func destroy() {
        stopImmediately()
        let fm = FileManager.default
        try? fm.removeItem(atPath: directory)
        let socket = socketDirectory
        if !socket.hasPrefix(directory + "/") { try? fm.removeItem(atPath: socket) }
    }

    // MARK: - Temporary clusters (tests)

    /// A new cluster in a fresh temporary directory with fast test settings, started, and
    /// registered to be stopped and deleted when the process exits.
    public static func temporary(logger: Logger = Logger(label: "branchlink.embedded-postgres")) throws -> EmbeddedCluster {
        removeStaleTemporaryClusters()
        let base = (ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp")
        let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 36)
        let dir = "\(base.hasSuffix("/") ? String(base.dropLast()) : base)/bl-test-\(getpid())-\(suffix)"
        let cluster = try EmbeddedCluster(directory: dir, options: Options(fastTestSettings: true, maxConnections: 200, logger: logger))
        TemporaryClusterRegistry.shared.add(cluster)
        try cluster.start()
        return cluster
    }

    /// Removes bl-test-<pid>-* clusters whose creating process no longer exists.
    static func removeStaleTemporaryClusters() {
        let base = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: base) else { return }
        for entry in entries where entry.hasPrefix("bl-test-") {
            let parts = entry.split(separator: "-")
            guard parts.count >= 4, let pid = Int32(parts[2]), pid != getpid() else { continue }
            if kill(pid, 0) == 0 || errno == EPERM { continue }
            let dir = (base.hasSuffix("/") ? String(base.dropLast()) : base) + "/" + entry
            if let stale = try? EmbeddedCluster(directory: dir, options: Options(fastTestSettings: true)) {
                stale.destroy()
            }
        }
    }
}

final class TemporaryClusterRegistry: @unchecked Sendable {
    static let shared = TemporaryClusterRegistry()
    private let lock = NSLock()
    private var clusters: [EmbeddedCluster] = []
    private var registered = false

    func add(_ cluster: EmbeddedCluster) {
        lock.withLock {
            clusters.append(cluster)
            if !registered {
                registered = true
                atexit { TemporaryClusterRegistry.shared.destroyAll() }
            }
        }
    }

    func destroyAll() {
        let all = lock.withLock { () -> [EmbeddedCluster] in
            defer { clusters.removeAll() }
            return clusters
        }
        for c in all { c.destroy() }
    }
}

/// libpq conninfo value quoting.
func conninfoQuote(_ s: String) -> String {
    if !s.isEmpty && !s.contains(where: { $0 == " " || $0 == "'" || $0 == "\\" }) { return s }
    return "'" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
}

/// POSIX shell single-quoting.
func shellQuote(_ s: String) -> String {
    "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

/// SQL identifier quoting ("name").
public func quoteIdentifier(_ s: String) -> String {
    "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}
