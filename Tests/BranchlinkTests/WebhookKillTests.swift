import Branchlink
import Foundation
import Postgres
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// The real `branchlink serve` executable, killed with SIGKILL while webhook deliveries are pending
/// and in flight, then started again: every event is delivered, no attempt id reaches the receiver
/// twice, and the receiver (on 127.0.0.1, slow, failing each message's first try now and then)
/// verifies every signature and timestamp.
final class WebhookKillTests: XCTestCase {
    var server: Process?
    var receiver: WebhookReceiver?

    override func tearDown() {
        if let s = server, s.isRunning { kill(s.processIdentifier, SIGKILL); s.waitUntilExit() }
        receiver?.stop()
    }

    /// The executable `swift build`/`swift test` built next to the test bundle.
    func binary() throws -> String {
        let fm = FileManager.default
        var candidates = [URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
                          Bundle.main.bundleURL.deletingLastPathComponent(), Bundle.main.bundleURL]
            .map { $0.appendingPathComponent("branchlink").path }
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        candidates.append(repo.appendingPathComponent(".build/debug/branchlink").path)
        guard let found = candidates.first(where: { fm.isExecutableFile(atPath: $0) }) else {
            throw TestError("no branchlink executable in \(candidates); run swift build first")
        }
        return found
    }

    func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard ok else { throw TestError("no free port") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    func start(_ bin: String, databaseURL: String, log: FileHandle) throws -> Int {
        let port = try freePort()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: bin)
        p.arguments = ["serve", "--database-url", databaseURL, "--port", String(port), "--loops", "1", "--workers", "2",
                       "--webhook-allow-private", "--webhook-timeout-ms", "2000", "--webhook-threads", "3", "--log-level", "warning"]
        p.standardOutput = log
        p.standardError = log
        try p.run()
        server = p
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let r = try? TestHTTP.request(port: port, method: "GET", path: "/readyz"), r.status == 200 { return port }
            guard p.isRunning else { throw TestError("branchlink serve exited with \(p.terminationStatus)") }
            usleep(100_000)
        }
        throw TestError("branchlink serve did not become ready")
    }

    func insertEvents(_ db: Connection, org: String, count: Int, perTransaction: Int) throws {
        for _ in 0..<(count / perTransaction) {
            try db.transaction { db in
                for _ in 0..<perTransaction {
                    try db.execute("INSERT INTO events (type, entity_type, entity_id, org_ids) VALUES ('member.updated', 'member', gen_random_uuid(), ARRAY[$1::uuid])", org)
                }
            }
        }
    }

    func testDeliveriesSurviveSIGKILL() throws {
        let bin = try binary()
        let url = try TestDatabase.createDatabase(prefix: "kill", migrated: true)
        let db = try Connection(url)
        let org = UUID().uuidString.lowercased()
        try db.execute("""
            INSERT INTO organizations (id, parent_id, path, kind, sector, code, name)
            SELECT $1::uuid, id, path || org_label($1::uuid), 'province', 'province', 'KILL-P', 'Tỉnh thử' FROM organizations WHERE parent_id IS NULL
            """, org)
        let token = try TokenIssuer.createAccountWithToken(db, orgCode: "KILL-P", role: .officer, name: "kill test").secret
        let logPath = NSTemporaryDirectory() + "branchlink-kill-\(getpid()).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try XCTUnwrap(FileHandle(forWritingAtPath: logPath))

        let r = try WebhookReceiver()
        receiver = r
        r.delay = 0.1
        // Every sixth request fails when it is the message's first try: retried after the back-off.
        r.respond { index, seenBefore in !seenBefore && index % 6 == 0 ? 500 : 200 }

        var port = try start(bin, databaseURL: url, log: log)
        let created = try TestHTTP.request(port: port, method: "POST", path: "/v1/webhooks",
                                           headers: ["Authorization": "Bearer \(token)", "Content-Type": "application/json"],
                                           body: Array(#"{"url":"\#(r.url)","event_types":["member.updated"]}"#.utf8))
        XCTAssertEqual(created.status, 201, created.text)
        r.secrets = [try XCTUnwrap(try created.json()["secret"] as? String)]

        try insertEvents(db, org: org, count: 120, perTransaction: 8)
        // Kill while deliveries are pending and some are in flight at the slow receiver.
        let waitUntil = Date().addingTimeInterval(60)
        while r.received.count < 30 && Date() < waitUntil { usleep(10_000) }
        let first = try XCTUnwrap(server)
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        XCTAssertEqual(first.terminationReason, .uncaughtSignal)
        let receivedBeforeKill = r.received.count
        let open = try XCTUnwrap(try db.queryRow("SELECT count(*) FROM webhook_deliveries WHERE status <> 'delivered'")?.decode(Int.self, 0))
        let inFlight = try XCTUnwrap(try db.queryRow("SELECT count(*) FROM webhook_attempts WHERE finished_at IS NULL")?.decode(Int.self, 0))
        let dispatched = try XCTUnwrap(try db.queryRow("SELECT count(*) FROM webhook_deliveries")?.decode(Int.self, 0))
        XCTAssertGreaterThan(120 - dispatched + open, 0, "killed while deliveries were pending")

        // Events keep coming while the server is down.
        try insertEvents(db, org: org, count: 40, perTransaction: 5)
        port = try start(bin, databaseURL: url, log: log)
        let expected = Set(try db.query("SELECT sequence FROM events WHERE type = 'member.updated'").map { try $0.decode(Int.self, 0) })
        XCTAssertEqual(expected.count, 160)
        let deadline = Date().addingTimeInterval(150)
        func deliveredSequences() -> Set<Int> { Set(r.received.filter { $0.status == 200 }.compactMap(\.sequence)) }
        while Date() < deadline {
            if deliveredSequences().isSuperset(of: expected),
               try db.queryRow("SELECT count(*) FROM webhook_deliveries WHERE status <> 'delivered'")?.decode(Int.self, 0) == 0 { break }
            usleep(200_000)
        }
        let received = r.received
        XCTAssertEqual(deliveredSequences().intersection(expected), expected, "every event delivered")
        XCTAssertTrue(received.allSatisfy(\.valid), "every signature and timestamp verifies")
        XCTAssertEqual(Set(received.map(\.attemptID)).count, received.count, "no attempt id seen twice")
        XCTAssertFalse(received.contains { $0.attemptID.isEmpty })
        let rows = try XCTUnwrap(try db.queryRow("""
            SELECT count(*) FILTER (WHERE status = 'delivered'), count(*),
                   (SELECT count(*) FROM webhook_attempts WHERE finished_at IS NULL),
                   (SELECT count(*) FROM webhook_attempts WHERE error LIKE 'interrupted%'),
                   (SELECT count(*) FROM webhook_attempts)
            FROM webhook_deliveries
            """))
        XCTAssertEqual(try rows.decode(Int.self, 0), 160)
        XCTAssertEqual(try rows.decode(Int.self, 1), 160, "one delivery per event")
        XCTAssertEqual(try rows.decode(Int.self, 2), 0, "interrupted attempts were closed by the takeover")
        let interrupted = try rows.decode(Int.self, 3), attempts = try rows.decode(Int.self, 4)
        // Every request the receiver saw is a recorded attempt; only interrupted attempts may be missing there.
        let ids = Set(try db.query("SELECT id FROM webhook_attempts").map { try $0.decode(UUID.self, 0).lower })
        XCTAssertTrue(Set(received.map(\.attemptID)).isSubset(of: ids))
        XCTAssertLessThanOrEqual(received.count, attempts)
        XCTAssertLessThanOrEqual(attempts - interrupted, received.count)
        let repeats = received.count - Set(received.map(\.messageID)).count
        print("webhook SIGKILL test: \(receivedBeforeKill) requests before the kill, \(inFlight) attempts in flight at the kill, "
              + "\(open) deliveries open, \(dispatched) dispatched of 120; after restart: \(received.count) requests in all, "
              + "\(attempts) attempts (\(interrupted) interrupted), \(repeats) repeated webhook-ids (retries and re-sends after the kill)")

        if let s = server { kill(s.processIdentifier, SIGTERM); s.waitUntilExit() }
    }
}
