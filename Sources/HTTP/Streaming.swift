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
}

public struct StreamCancelled: Error {}

/// Handed to a `BodyStream` producer; buffers small writes into chunks of about 32 KiB.
public final class StreamWriter {
    private let channel: StreamChannel
    private let send: ([UInt8]) -> Void
    private var buffer: [UInt8] = []
    public private(set) var bytesWritten = 0

    init(channel: StreamChannel, send: @escaping ([UInt8]) -> Void) {
        self.channel = channel
        self.send = send
        buffer.reserveCapacity(40 * 1024)
    }

    public func write(_ bytes: [UInt8]) throws {
        buffer.append(contentsOf: bytes)
        bytesWritten += bytes.count
        if buffer.count >= 32 * 1024 { try flush() }
    }

    public func write(_ text: String) throws { try write(Array(text.utf8)) }

    func flush() throws {
        guard !buffer.isEmpty else {
            if channel.isCancelled { throw StreamCancelled() }
            return
        }
        guard channel.reserve(buffer.count) else { throw StreamCancelled() }
        send(buffer)
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
