import HTTP
import Postgres

/// `/healthz`, `/readyz`, `/metrics`, `/openapi.yaml`: what load balancers, Prometheus and client
/// generators need. Health, metrics and the contract are answered on the event loop (no database).
enum OperationsRoutes {
    static let healthBody = Array(#"{"status":"ok"}"#.utf8)

    static func register(on router: Router<AppContext>, server: @escaping @Sendable () -> HTTPServer<AppContext>?,
                         openAPI: [UInt8]?) {
        router.addOnLoop("GET", "/healthz") { _ in .json(200, healthBody) }

        router.get("/readyz") { request, ctx in
            if server()?.isDraining ?? false {
                return .problem(status: 503, code: "not_ready", detail: "The server is draining.", requestID: request.requestID)
            }
            guard ctx.db.ping() else {
                return .problem(status: 503, code: "not_ready", detail: "The database is unreachable.",
                                requestID: request.requestID, extraHeaders: ["retry-after": "1"])
            }
            return .json(200, #"{"status":"ready","database":"ok"}"#)
        }

        router.addOnLoop("GET", "/metrics") { _ in
            .text(200, server()?.metricsText() ?? "", contentType: "text/plain; version=0.0.4; charset=utf-8")
        }

        router.addOnLoop("GET", "/openapi.yaml") { request in
            guard let openAPI else {
                return .problem(status: 404, code: "not_found", detail: "openapi.yaml was not found at start-up.", requestID: request.requestID)
            }
            return Response(status: 200, headers: ["content-type": "application/yaml; charset=utf-8"], body: openAPI)
        }
    }
}
