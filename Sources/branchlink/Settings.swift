import ArgumentParser
import Branchlink
import Foundation
import HTTP
import Logging

/// Options shared by commands that reach the database.
struct DatabaseOptions: ParsableArguments {
    @Option(name: .customLong("database-url"), help: "PostgreSQL URL or conninfo (env BRANCHLINK_DATABASE_URL). Unset: an embedded cluster under --data-dir.")
    var databaseURL: String?

    @Option(name: .customLong("data-dir"), help: "Directory of the embedded cluster and demo files (env BRANCHLINK_DATA_DIR, default ./.branchlink).")
    var dataDir: String?

    @Option(name: .customLong("statement-timeout-ms"), help: "statement_timeout of every connection (env BRANCHLINK_STATEMENT_TIMEOUT_MS, default 5000).")
    var statementTimeoutMs: Int?

    var resolvedURL: String? { databaseURL ?? Env.string("BRANCHLINK_DATABASE_URL") }
    var resolvedDataDir: String { dataDir ?? Env.string("BRANCHLINK_DATA_DIR") ?? ".branchlink" }
    var resolvedStatementTimeout: Int { statementTimeoutMs ?? Env.int("BRANCHLINK_STATEMENT_TIMEOUT_MS") ?? 5000 }
}

/// HTTP server options: every limit and timeout of `HTTPLimits`, each also from BRANCHLINK_* env.
struct ServerOptions: ParsableArguments {
    @Option(help: "Listen address (env BRANCHLINK_HOST, default 127.0.0.1).") var host: String?
    @Option(help: "Listen port (env BRANCHLINK_PORT, default 8080).") var port: Int?
    @Option(help: "Event-loop threads (env BRANCHLINK_LOOPS, default: CPUs available).") var loops: Int?
    @Option(help: "Handler threads, one database connection each (env BRANCHLINK_WORKERS, default max(4, 2×CPUs)).") var workers: Int?
    @Option(name: .customLong("queue-capacity"), help: "Requests waiting for a handler before 503 (env BRANCHLINK_QUEUE_CAPACITY, 1024).") var queueCapacity: Int?
    @Option(name: .customLong("queue-max-wait-ms"), help: "Longest wait for a handler before 503 (env BRANCHLINK_QUEUE_MAX_WAIT_MS, 2000).") var queueMaxWaitMs: Int?
    @Option(name: .customLong("max-connections"), help: "Open connections cap (env BRANCHLINK_MAX_CONNECTIONS, 10000).") var maxConnections: Int?
    @Option(name: .customLong("max-body-bytes"), help: "Default request body limit (env BRANCHLINK_MAX_BODY_BYTES, 1048576).") var maxBodyBytes: Int?
    @Option(name: .customLong("max-request-line-bytes"), help: "Request line limit → 414 (env BRANCHLINK_MAX_REQUEST_LINE_BYTES, 8192).") var maxRequestLineBytes: Int?
    @Option(name: .customLong("max-header-line-bytes"), help: "Header line limit → 431 (env BRANCHLINK_MAX_HEADER_LINE_BYTES, 8192).") var maxHeaderLineBytes: Int?
    @Option(name: .customLong("max-header-bytes"), help: "Header section limit → 431 (env BRANCHLINK_MAX_HEADER_BYTES, 32768).") var maxHeaderBytes: Int?
    @Option(name: .customLong("max-header-count"), help: "Header fields limit → 431 (env BRANCHLINK_MAX_HEADER_COUNT, 100).") var maxHeaderCount: Int?
    @Option(name: .customLong("max-requests-per-connection"), help: "Requests per connection (env BRANCHLINK_MAX_REQUESTS_PER_CONNECTION, 1000).") var maxRequestsPerConnection: Int?
    @Option(name: .customLong("header-timeout-ms"), help: "Whole header section deadline from its first byte (env BRANCHLINK_HEADER_TIMEOUT_MS, 10000).") var headerTimeoutMs: Int?
    @Option(name: .customLong("body-timeout-ms"), help: "Body read stall limit (env BRANCHLINK_BODY_TIMEOUT_MS, 30000).") var bodyTimeoutMs: Int?
    @Option(name: .customLong("write-timeout-ms"), help: "Response write stall limit (env BRANCHLINK_WRITE_TIMEOUT_MS, 30000).") var writeTimeoutMs: Int?
    @Option(name: .customLong("idle-timeout-ms"), help: "Keep-alive idle limit (env BRANCHLINK_IDLE_TIMEOUT_MS, 65000).") var idleTimeoutMs: Int?
    @Option(name: .customLong("drain-timeout-ms"), help: "Grace period on SIGTERM/SIGINT (env BRANCHLINK_DRAIN_TIMEOUT_MS, 25000).") var drainTimeoutMs: Int?
    @Option(name: .customLong("cors-origins"), help: "Comma-separated allowed CORS origins, or * (env BRANCHLINK_CORS_ORIGINS; empty: CORS off).") var corsOrigins: String?
    @Option(name: .customLong("log-level"), help: "trace|debug|info|notice|warning|error|critical (env BRANCHLINK_LOG_LEVEL, info).") var logLevel: String?
    @Option(name: .customLong("rate-limit-per-minute"), help: "Requests per minute per token, per instance (env BRANCHLINK_RATE_LIMIT_PER_MINUTE, 1200).") var rateLimitPerMinute: Int?

    @Flag(name: .customLong("webhook-allow-private"), help: "Let webhooks deliver to loopback/private addresses (env BRANCHLINK_WEBHOOK_ALLOW_PRIVATE=1; off: refused, SSRF).")
    var webhookAllowPrivate = false
    @Option(name: .customLong("webhook-timeout-ms"), help: "Whole webhook attempt deadline; connect within min(5000, this) (env BRANCHLINK_WEBHOOK_TIMEOUT_MS, 15000).")
    var webhookTimeoutMs: Int?
    @Option(name: .customLong("webhook-threads"), help: "Webhook sender threads (env BRANCHLINK_WEBHOOK_THREADS, 4).") var webhookThreads: Int?

    func makeWebhookConfig() -> WebhookWorker.Config {
        var c = WebhookWorker.Config()
        c.limits.allowPrivate = webhookAllowPrivate || ["1", "true", "yes"].contains(Env.string("BRANCHLINK_WEBHOOK_ALLOW_PRIVATE")?.lowercased() ?? "")
        let total = max(100, webhookTimeoutMs ?? Env.int("BRANCHLINK_WEBHOOK_TIMEOUT_MS") ?? 15_000)
        c.limits.totalTimeout = Double(total) / 1000
        c.limits.connectTimeout = Double(min(5000, total)) / 1000
        c.threads = max(1, webhookThreads ?? Env.int("BRANCHLINK_WEBHOOK_THREADS") ?? 4)
        return c
    }

    func makeRateLimiter() -> RateLimiter {
        RateLimiter(limit: max(1, rateLimitPerMinute ?? Env.int("BRANCHLINK_RATE_LIMIT_PER_MINUTE") ?? 1200), windowSeconds: 60)
    }

    func makeConfig(logger: Logger) -> ServerConfig {
        var c = ServerConfig()
        c.logger = logger
        c.host = host ?? Env.string("BRANCHLINK_HOST") ?? c.host
        c.port = port ?? Env.int("BRANCHLINK_PORT") ?? c.port
        c.loopCount = loops ?? Env.int("BRANCHLINK_LOOPS") ?? c.loopCount
        c.workerCount = workers ?? Env.int("BRANCHLINK_WORKERS") ?? c.workerCount
        c.queueCapacity = queueCapacity ?? Env.int("BRANCHLINK_QUEUE_CAPACITY") ?? c.queueCapacity
        c.queueMaxWaitMs = queueMaxWaitMs ?? Env.int("BRANCHLINK_QUEUE_MAX_WAIT_MS") ?? c.queueMaxWaitMs
        c.drainTimeoutMs = drainTimeoutMs ?? Env.int("BRANCHLINK_DRAIN_TIMEOUT_MS") ?? c.drainTimeoutMs
        let origins = corsOrigins ?? Env.string("BRANCHLINK_CORS_ORIGINS") ?? ""
        c.corsOrigins = origins.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        var l = c.limits
        l.maxConnections = maxConnections ?? Env.int("BRANCHLINK_MAX_CONNECTIONS") ?? l.maxConnections
        l.maxBodyBytes = maxBodyBytes ?? Env.int("BRANCHLINK_MAX_BODY_BYTES") ?? l.maxBodyBytes
        l.maxRequestLineBytes = maxRequestLineBytes ?? Env.int("BRANCHLINK_MAX_REQUEST_LINE_BYTES") ?? l.maxRequestLineBytes
        l.maxHeaderLineBytes = maxHeaderLineBytes ?? Env.int("BRANCHLINK_MAX_HEADER_LINE_BYTES") ?? l.maxHeaderLineBytes
        l.maxHeaderBytes = maxHeaderBytes ?? Env.int("BRANCHLINK_MAX_HEADER_BYTES") ?? l.maxHeaderBytes
        l.maxHeaderCount = maxHeaderCount ?? Env.int("BRANCHLINK_MAX_HEADER_COUNT") ?? l.maxHeaderCount
        l.maxRequestsPerConnection = maxRequestsPerConnection ?? Env.int("BRANCHLINK_MAX_REQUESTS_PER_CONNECTION") ?? l.maxRequestsPerConnection
        l.headerTimeoutMs = headerTimeoutMs ?? Env.int("BRANCHLINK_HEADER_TIMEOUT_MS") ?? l.headerTimeoutMs
        l.bodyTimeoutMs = bodyTimeoutMs ?? Env.int("BRANCHLINK_BODY_TIMEOUT_MS") ?? l.bodyTimeoutMs
        l.writeTimeoutMs = writeTimeoutMs ?? Env.int("BRANCHLINK_WRITE_TIMEOUT_MS") ?? l.writeTimeoutMs
        l.idleTimeoutMs = idleTimeoutMs ?? Env.int("BRANCHLINK_IDLE_TIMEOUT_MS") ?? l.idleTimeoutMs
        c.limits = l
        return c
    }

    var resolvedLogLevel: Logger.Level {
        Logger.Level(rawValue: (logLevel ?? Env.string("BRANCHLINK_LOG_LEVEL") ?? "info").lowercased()) ?? .info
    }
}

enum Env {
    static func string(_ name: String) -> String? {
        guard let v = ProcessInfo.processInfo.environment[name], !v.isEmpty else { return nil }
        return v
    }

    static func int(_ name: String) -> Int? {
        guard let s = string(name) else { return nil }
        guard let v = Int(s) else {
            FileHandle.standardError.write(Data("ignoring \(name)=\(s): not an integer\n".utf8))
            return nil
        }
        return v
    }
}
