#if canImport(Glibc)
import Glibc
#endif

/// A response body produced piece by piece on the handler thread (CSV of a whole filtered list,
/// exports): sent with chunked transfer coding, never held in memory whole. The producer blocks
/// while more than `StreamChannel.highWater` bytes wait for the socket (backpressure), and its
/// `write` throws once the client has gone, so an abandoned export stops reading the database.
public struct BodyStream: Sendable {
    let produce: @Sendable (StreamWriter) throws -> Void

    public init(_ produce: @escaping @Sendable (StreamWriter) throws -> Void) { self.produce = produce }

    /// Produces the whole body into `sink` on the calling thread (a background export).
    public func run(into sink: @escaping ([UInt8]) throws -> Void) throws {
        let writer = StreamWriter(sink: sink)
        try produce(writer)
        try writer.finish()
    }
}

public struct StreamCancelled: Error {}

/// Handed to a `BodyStream` producer; buffers small writes into chunks of about 32 KiB.
public final class StreamWriter {
    private enum Target {
        case socket(StreamChannel, ([UInt8]) -> Void)
        case sink(([UInt8]) throws -> Void)
    }
    private let target: Target
    private var buffer: [UInt8] = []
    public private(set) var bytesWritten = 0

    init(channel: StreamChannel, send: @escaping ([UInt8]) -> Void) {
        self.target = .socket(channel, send)
        buffer.reserveCapacity(40 * 1024)
    }

    /// A writer that hands its chunks to `sink` instead of a connection: background exports run
    /// a route's streamed body into storage with it. Call `finish()` after the producer returns.
    public init(sink: @escaping ([UInt8]) throws -> Void) {
        self.target = .sink(sink)
        buffer.reserveCapacity(40 * 1024)
    }

    /// Hands over what is still buffered (the server does this itself for socket writers).
    public func finish() throws { try flush() }

    public func write(_ bytes: [UInt8]) throws {
        buffer.append(contentsOf: bytes)
        bytesWritten += bytes.count
        if buffer.count >= 32 * 1024 { try flush() }
    }

    public func write(_ text: String) throws { try write(Array(text.utf8)) }

    func flush() throws {
        switch target {
        case .socket(let channel, let send):
            guard !buffer.isEmpty else {
                if channel.isCancelled { throw StreamCancelled() }
                return
            }
            guard channel.reserve(buffer.count) else { throw StreamCancelled() }
            send(buffer)
        case .sink(let sink):
            guard !buffer.isEmpty else { return }
            try sink(buffer)
        }
        buffer.removeAll(keepingCapacity: true)
    }
}

/// Flow control between one streaming handler and its event loop.
final class StreamChannel: @unchecked Sendable {
    static let highWater = 256 * 1024
    private var mutex = pthread_mutex_t()
    private var cond = pthread_cond_t()
    private var pending = 0
    private var cancelled = false

    init() {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&cond, nil)
    }

    deinit {
        pthread_mutex_destroy(&mutex)
        pthread_cond_destroy(&cond)
    }

    var isCancelled: Bool {
        pthread_mutex_lock(&mutex); defer { pthread_mutex_unlock(&mutex) }
        return cancelled
    }

    /// Producer side: waits while too much is queued; false once the client is gone.
    func reserve(_ n: Int) -> Bool {
        pthread_mutex_lock(&mutex)
        while pending >= Self.highWater && !cancelled { pthread_cond_wait(&cond, &mutex) }
        let ok = !cancelled
        if ok { pending += n }
        pthread_mutex_unlock(&mutex)
        return ok
    }

    /// Loop side: everything queued so far reached the socket.
    func drained() {
        pthread_mutex_lock(&mutex)
        pending = 0
        pthread_mutex_unlock(&mutex)
        pthread_cond_broadcast(&cond)
    }

    func cancel() {
        pthread_mutex_lock(&mutex)
        cancelled = true
        pthread_mutex_unlock(&mutex)
        pthread_cond_broadcast(&cond)
    }
}
