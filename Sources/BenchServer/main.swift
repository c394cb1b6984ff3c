// Bench-only server: the three routes of ../shared/bench/peers/README.md served by the project's
// own HTTP and Postgres modules, so `peers.sh` can measure them beside Hummingbird and Vapor.
//   GET  /healthz       → 200 {"status":"ok"}                 (answered on the event loop)
//   GET  /v1/items/{id} → 200 the row, 404 problem if absent  (handler thread + libpq)
//   POST /v1/items      → 201 the inserted row                 (body {"name":…,"org":…})
// Environment: PORT (8080), DATABASE_URL (postgres://postgres@127.0.0.1:55432/peerbench),
// WORKERS (4, like the peers' 4 connections), LOOPS (CPUs available), ACCESS_LOG (1).
import Foundation
import HTTP
import Logging
import Postgres

#if canImport(Glibc)
import Glibc
#endif

final class BenchContext {
    let db: Connection
    init(db: Connection) { self.db = db }
}

struct NewItem: Decodable { let name: String; let org: String }

let env = ProcessInfo.processInfo.environment
let databaseURL = env["DATABASE_URL"] ?? "postgres://postgres@127.0.0.1:55432/peerbench"
LoggingSystem.bootstrap { JSONLogHandler(label: $0, level: .info) }

var config = ServerConfig()
config.port = Int(env["PORT"] ?? "") ?? 8080
config.workerCount = Int(env["WORKERS"] ?? "") ?? 4
if let loops = Int(env["LOOPS"] ?? "") { config.loopCount = loops }
config.accessLog = env["ACCESS_LOG"] != "0"
config.logger = Logger(label: "bench")

/// `{"id":…,"name":…,"org":…,"created_at":"…Z"}` written by hand: the row has four known fields.
func itemJSON(_ row: Row) throws -> [UInt8] {
    let id = try row.decode(Int.self, 0)
    let name = try row.decode(String.self, 1)
    let org = try row.decode(String.self, 2)
    let created = try row.decode(Date.self, 3)
    let json = "{\"id\":\(id),\"name\":\(JSONString.quote(name)),\"org\":\(JSONString.quote(org)),\"created_at\":\"\(rfc3339(created))\"}"
    return Array(json.utf8)
}

func rfc3339(_ date: Date) -> String {
    var t = time_t(date.timeIntervalSince1970.rounded(.down))
    var tmv = tm()
    gmtime_r(&t, &tmv)
    func p(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
    return "\(tmv.tm_year + 1900)-\(p(tmv.tm_mon + 1))-\(p(tmv.tm_mday))T\(p(tmv.tm_hour)):\(p(tmv.tm_min)):\(p(tmv.tm_sec))Z"
}

func problem(_ status: Int, _ code: String, _ detail: String, _ request: Request) -> Response {
    .problem(status: status, code: code, detail: detail, requestID: request.requestID)
}

let router = Router<BenchContext>()
let health = Array(#"{"status":"ok"}"#.utf8)
router.addOnLoop("GET", "/healthz") { _ in .json(200, health) }

router.get("/v1/items/{id}") { request, ctx in
    guard let id = request.parameter("id").flatMap(Int.init) else {
        return problem(400, "invalid_id", "The id must be an integer.", request)
    }
    guard let row = try ctx.db.queryRow("SELECT id, name, org, created_at FROM items WHERE id = $1", id) else {
        return problem(404, "not_found", "No item with this id.", request)
    }
    return .json(200, try itemJSON(row))
}

router.post("/v1/items", maxBodyBytes: 64 * 1024) { request, ctx in
    guard let input = try? JSONDecoder().decode(NewItem.self, from: Data(request.body)) else {
        return problem(400, "invalid_body", "Expected {\"name\": string, \"org\": string}.", request)
    }
    guard let row = try ctx.db.queryRow(
        "INSERT INTO items (name, org, created_at) VALUES ($1, $2, now()) RETURNING id, name, org, created_at",
        input.name, input.org) else {
        return problem(500, "internal_error", "The insert returned no row.", request)
    }
    var r = Response.json(201, try itemJSON(row))
    r.headers.set("location", "/v1/items/\(try row.decode(Int.self, 0))")
    return r
}

let dbConfig = PostgresConfiguration(databaseURL, applicationName: "branchlink-bench")
let server = HTTPServer(
    config: config, router: router,
    afterJob: { $0.db.afterJob() },
    errorResponse: { error, request in
        if let e = error as? PostgresError, e.kind == .connectionUnavailable {
            return problem(503, "database_unavailable", "The database is unreachable.", request)
        }
        return problem(500, "internal_error", "The server failed to handle the request.", request)
    },
    makeContext: { _ in BenchContext(db: try Connection(configuration: dbConfig, requireConnection: false)) })
try server.handleTerminationSignals()
try server.start()
server.waitUntilStopped()
