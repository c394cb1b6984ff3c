import Logging
import CPosix

/// Everything the server needs to start, with safe defaults.
public struct ServerConfig: Sendable {
    public var host = "127.0.0.1"
    /// 0 picks a free port (tests); read the bound port from `HTTPServer.port`.
    public var port = 8080
    /// Event-loop threads; default one per core.
    public var loopCount = max(1, System.coreCount)
    /// Handler threads, each owning one application context (one database connection).
    public var workerCount = max(4, 2 * System.coreCount)
    /// Jobs waiting for a handler thread; beyond it the loop answers 503 + Retry-After.
    public var queueCapacity = 1024
    /// A job that waited longer than this is answered 503 without running (the client has likely given up).
    public var queueMaxWaitMs = 2_000
    /// SIGTERM/SIGINT: time allowed to finish in-flight requests before connections are cut.
    public var drainTimeoutMs = 25_000
    public var limits = HTTPLimits()
    /// Allowed CORS origins (exact match, or "*"); empty disables CORS.
    public var corsOrigins: [String] = []
    /// Bodies at least this large are gzipped when the client accepts gzip.
    public var gzipMinBytes = 1024
    /// One JSON line per request on the access logger.
    public var accessLog = true
    public var logger = Logger(label: "branchlink.http")

    public init() {}
}

public enum System {
    /// CPUs this process may run on (its affinity mask), not the machine's total.
    public static var coreCount: Int { Int(cposix_available_cpus()) }
    /// Monotonic clock, nanoseconds.
    @inline(__always) public static func now() -> UInt64 { UInt64(cposix_monotonic_ns()) }
}
