import ArgumentParser
import Branchlink
import Foundation
import HTTP
import Logging
import Postgres

/// `branchlink demo [--provinces N] [--members M] [--seed S]`: loads the demo province (or
/// national-scale data for benchmarks), issues the demo tokens and writes `<data-dir>/demo.json`.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Load the demo province (or national-scale data) and print ready-to-use tokens.",
        discussion: """
            Without options: one demo province (DEMO-P01) with 20 communes/wards, 150 residential branches, \
            30 workplace committees and 5,000 members, with their exchanges: introductions in every state, \
            change notices of every kind, workplace tasks, some overdue. With --provinces and --members: \
            provinces DEMO-P01… sharing M members (e.g. --provinces 34 --members 5500000 for national scale, \
            ~1 M live introductions). Deterministic for a --seed (dates are relative to the day of loading). \
            Provinces that already exist are skipped, except that a province without exchanges (loaded by an \
            earlier version) gains them; so running it again only issues fresh tokens (the previous demo \
            tokens are revoked). Tokens and organization ids go to <data-dir>/demo.json.
            """)

    @Option(help: "Number of provinces DEMO-P01… to generate (1–99, default 1).") var provinces: Int = 1
    @Option(help: "Members in all, spread over the provinces (default 5000 per province).") var members: Int?
    @Option(help: "Seed of the generator (default \(DemoLoader.defaultSeed)).") var seed: UInt64 = DemoLoader.defaultSeed
    @Option(name: .customLong("base-url"), help: "base_url written to demo.json (default http://<BRANCHLINK_HOST>:<BRANCHLINK_PORT>, i.e. http://127.0.0.1:8080).")
    var baseURL: String?
    @Option(name: .customLong("log-level")) var logLevel: String = "warning"
    @OptionGroup var database: DatabaseOptions

    var resolvedMembers: Int { members ?? DemoLoader.defaultMembers * provinces }

    func validate() throws {
        guard (1...99).contains(provinces) else { throw ValidationError("--provinces must be between 1 and 99") }
        guard resolvedMembers >= provinces, resolvedMembers <= 99 * 9_999_999 else {
            throw ValidationError("--members must be at least one per province and at most 9,999,999 per province")
        }
        guard resolvedMembers / provinces <= 9_999_999 else { throw ValidationError("at most 9,999,999 members per province") }
    }

    func run() throws {
        let level = Logger.Level(rawValue: logLevel) ?? .warning
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        let logger = Logger(label: "branchlink.demo")
        // An embedded cluster that `serve` is running must keep running after this command.
        let alreadyRunning = database.resolvedURL == nil && DemoSetup.embeddedClusterRunning(database, logger: logger)
        let setup = try DatabaseSetup.open(database, logger: logger)
        defer { if !alreadyRunning { setup.stop() } }
        try DatabaseSetup.migrate(url: setup.url, logger: logger)

        try DemoSetup.load(url: setup.url, seed: seed, provinces: provinces, members: resolvedMembers, verbose: provinces > 1)
        let base = baseURL ?? DemoSetup.baseURL(host: Env.string("BRANCHLINK_HOST") ?? "127.0.0.1",
                                                port: Env.int("BRANCHLINK_PORT") ?? 8080)
        try DemoSetup.issueAndPrint(url: setup.url, baseURL: base, dataDir: database.resolvedDataDir)
    }
}

/// The demo steps shared by `branchlink demo` and `branchlink serve --demo`. Output goes straight
/// to stdout (unbuffered): it is for the person at the terminal, never to the log.
enum DemoSetup {
    static func say(_ text: String) {
        LogSink.shared.flush()
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    /// Loads (idempotently) and reports each province and the totals.
    @discardableResult
    static func load(url: String, seed: UInt64 = DemoLoader.defaultSeed, provinces: Int = 1,
                     members: Int = DemoLoader.defaultMembers, verbose: Bool = false) throws -> [DemoLoader.ProvinceResult] {
        let db = try Connection(url, statementTimeoutMilliseconds: 0)
        let started = ContinuousClock.now
        if verbose { say("generating \(provinces) provinces, \(grouped(members)) members, seed \(seed)") }
        let results = try DemoLoader.load(db, seed: seed, provinces: provinces, members: members) { r in
            guard verbose else { return }
            let x = r.exchanges
            let exchanges = "\(grouped(x.introductionCount)) introductions (\(grouped(x.live)) live) + \(grouped(x.noticeCount)) notices"
            if r.loaded {
                say("\(r.code)  \(grouped(r.organizations)) organizations + \(grouped(r.members)) members + \(exchanges) in "
                    + "\(fixed1(r.seconds)) s (\(grouped(Int(r.rowsPerSecond))) organization and member rows/s)")
            } else if x.loaded {
                say("\(r.code)  already loaded; exchanges added: \(exchanges) in \(fixed1(x.seconds)) s")
            } else {
                say("\(r.code)  already loaded with its exchanges, left as it is")
            }
        }
        let loaded = results.filter(\.loaded)
        let elapsed = started.duration(to: .now)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        let orgs = loaded.reduce(0) { $0 + $1.organizations }, people = loaded.reduce(0) { $0 + $1.members }
        let exchanges = results.map(\.exchanges).filter(\.loaded)
        if !exchanges.isEmpty {
            var statuses: [String: Int] = [:], kinds: [String: Int] = [:]
            for x in exchanges {
                statuses.merge(x.introductions, uniquingKeysWith: +)
                kinds.merge(x.notices, uniquingKeysWith: +)
            }
            let live = exchanges.reduce(0) { $0 + $1.live }, notices = exchanges.reduce(0) { $0 + $1.noticeCount }
            let byStatus = IntroductionStatus.allCases.map { "\($0.rawValue) \(grouped(statuses[$0.rawValue, default: 0]))" }
            say("exchanges of \(exchanges.count) province\(exchanges.count == 1 ? "" : "s"): \(grouped(live)) live introductions "
                + "(\(byStatus.joined(separator: ", "))); \(grouped(notices)) change notices "
                + "(\(grouped(exchanges.reduce(0) { $0 + $1.noticesWaiting })) awaiting acknowledgement, \(kinds.count) kinds); "
                + "\(grouped(exchanges.reduce(0) { $0 + $1.tasksOpen })) open workplace tasks; "
                + "\(grouped(exchanges.reduce(0) { $0 + $1.overdue })) items overdue")
        }
        for a in results.map(\.assessments) where a.loaded {
            let byState = ["requested", "forwarded", "sent_back", "submitted", "confirmed", "closed", "cancelled"]
                .map { "\($0) \(grouped(a.requests[$0, default: 0]))" }
            say("assessments of the pilot province: \(grouped(a.requestCount)) requests (\(byState.joined(separator: ", "))); "
                + "\(grouped(a.meetings)) meetings with the Front work committee; \(grouped(a.residenceMeetings)) residence meetings; "
                + "\(grouped(a.residenceReports)) residence reports")
        }
        if loaded.isEmpty {
            if exchanges.isEmpty {
                say("demo data already loaded (\(results.map(\.code).joined(separator: ", "))): nothing added")
            } else {
                say("added exchanges in \(fixed1(seconds)) s (with ANALYZE)")
            }
        } else {
            let size = try db.queryRow("SELECT pg_size_pretty(pg_database_size(current_database()))")?.decode(String.self, 0) ?? "?"
            say("loaded \(loaded.count) province\(loaded.count == 1 ? "" : "s") (\(loaded.first!.name)\(loaded.count > 1 ? ", …" : "")): "
                + "\(grouped(orgs)) organizations, \(grouped(people)) members in "
                + "\(fixed1(seconds)) s (\(grouped(seconds > 0 ? Int(Double(orgs + people) / seconds) : 0)) rows/s, with ANALYZE); "
                + "database size \(size)")
        }
        return results
    }

    /// Issues the demo tokens, writes demo.json and prints the tokens with a curl line to try.
    static func issueAndPrint(url: String, baseURL: String, dataDir: String) throws {
        let db = try Connection(url)
        let handle = try DemoLoader.issueTokens(db, baseURL: baseURL)
        let path = try handle.write(toDirectory: dataDir)
        let t = handle.tokens
        var names: [String: String] = [:]
        for row in try db.query("SELECT id, name FROM organizations WHERE id = ANY($1)", [handle.orgs.province, handle.orgs.workplace,
                                handle.orgs.commune, handle.orgs.branch, handle.orgs.otherCommune].compactMap(UUID.init(uuidString:))) {
            names[try row.decode(UUID.self, 0).lower] = try row.decode(String.self, 1)
        }
        func org(_ id: String) -> String { "\(names[id] ?? "?") \(id)" }
        say("""

            Demo tokens (also in \(path); earlier demo tokens are revoked):
              admin                  \(t.admin)   admin of \(org(handle.orgs.province))
              province_viewer        \(t.provinceViewer)   viewer of the same province (organization board)
              workplace_officer      \(t.workplaceOfficer)   officer of \(org(handle.orgs.workplace))
              commune_officer        \(t.communeOfficer)   officer of \(org(handle.orgs.commune))
              branch_officer         \(t.branchOfficer)   secretary of \(org(handle.orgs.branch)) (residential branch of that commune)
              other_commune_officer  \(t.otherCommuneOfficer)   officer of \(org(handle.orgs.otherCommune))
            Try:
              curl -H "Authorization: Bearer \(t.admin)" \(baseURL)/v1/me
              curl -H "Authorization: Bearer \(t.admin)" \(baseURL)/v1/organizations/\(handle.orgs.province)

            """)
    }

    /// The URL clients use for a listening address (wildcards become loopback).
    static func baseURL(host: String, port: Int) -> String {
        var h = host
        if h == "0.0.0.0" || h.isEmpty { h = "127.0.0.1" }
        if h == "::" { h = "::1" }
        if h.contains(":") { h = "[" + h + "]" }
        return "http://\(h):\(port)"
    }

    static func embeddedClusterRunning(_ options: DatabaseOptions, logger: Logger) -> Bool {
        let dir = URL(fileURLWithPath: options.resolvedDataDir).appendingPathComponent("pg").standardizedFileURL.path
        guard let cluster = try? EmbeddedCluster(directory: dir, options: DatabaseSetup.clusterOptions(logger: logger)) else { return false }
        return cluster.isRunning
    }

    static func fixed1(_ v: Double) -> String { String(format: "%.1f", v) }

    static func grouped(_ n: Int) -> String {
        let s = String(n)
        var out = ""
        for (i, c) in s.enumerated() {
            if i > 0 && (s.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return out
    }
}
