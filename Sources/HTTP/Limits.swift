/// Every limit and timeout of the server, in one place (nginx style): named, with safe defaults,
/// configurable from the CLI/environment, enforced by the parser and the event loop only.
public struct HTTPLimits: Sendable, Equatable {
    /// Request line (method, target, version) in bytes → 414.
    public var maxRequestLineBytes = 8 * 1024
    /// One header field line in bytes → 431.
    public var maxHeaderLineBytes = 8 * 1024
    /// Whole header section (after the request line) in bytes → 431.
    public var maxHeaderBytes = 32 * 1024
    /// Number of header fields → 431.
    public var maxHeaderCount = 100
    /// Default body limit; routes may override → 413, decided from the declared length.
    public var maxBodyBytes = 1024 * 1024
    /// Chunk extensions per chunk (bytes) → 400.
    public var maxChunkExtensionBytes = 4 * 1024
    /// Trailer section of a chunked body → 431.
    public var maxTrailerBytes = 8 * 1024
    /// Requests served on one connection before it is closed.
    public var maxRequestsPerConnection = 1000
    /// Open client connections across all loops; beyond it new ones get 503 and are closed.
    public var maxConnections = 10_000

    /// Header section must complete within this, measured from its first byte (slowloris).
    public var headerTimeoutMs = 10_000
    /// Body reading may not stall longer than this between progress.
    public var bodyTimeoutMs = 30_000
    /// Response writing may not stall longer than this between progress.
    public var writeTimeoutMs = 30_000
    /// Idle keep-alive connection lifetime between requests.
    public var idleTimeoutMs = 65_000
    /// After a response with `Connection: close`, how long to drain the client's input before closing.
    public var lingerTimeoutMs = 2_000

    public init() {}
}
