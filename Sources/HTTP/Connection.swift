#if canImport(Glibc)
import Glibc
#endif

/// One client connection. Owned by exactly one event loop and touched only on its thread, so it
/// needs no locks. Its phases: reading a head, reading a body, waiting for a handler, writing,
/// lingering before close.
final class Connection<Context> {
    enum Phase {
        case head
        case body(remaining: Int)
        case chunked(ChunkedDecoder)
        /// A handler thread owns the request; nothing more is parsed until its response arrives.
        case dispatched
        /// Response sent with `Connection: close`: write side shut, input drained until EOF or timeout.
        case lingering
    }

    enum Deadline: String { case none, head, body, write, idle, linger }

    /// What to do once the body of the current request has been read.
    enum Pending {
        case respond(Response)
        case loop(@Sendable (Request) -> Response)
        case worker(Router<Context>.Handler)
    }

    let fd: Int32
    let generation: UInt64
    let remoteAddress: String

    // Input: bytes [inStart, inEnd) of `inBuf` are received and not yet consumed.
    var inBuf: UnsafeMutablePointer<UInt8>?
    var inCapacity = 0
    var inStart = 0
    var inEnd = 0

    // Output not yet written: `outBuf[outOffset...]`.
    var outBuf: [UInt8] = []
    var outOffset = 0

    var phase: Phase = .head
    var parser: HeadParser
    var requestsServed = 0
    var closeAfterWrite = false
    var peerClosedInput = false
    /// epoll interest currently registered (EPOLLIN|EPOLLRDHUP, EPOLLOUT).
    var interest: UInt32 = 0

    var deadline: UInt64 = 0
    var deadlineKind: Deadline = .none

    // The request being read or handled.
    var head: RequestHead?
    var body: [UInt8] = []
    var pending: Pending?
    var route = ""
    var pathParameters: [String: String] = [:]
    var requestID = ""
    var headStartedAt: UInt64 = 0
    /// A streaming response in progress (chunked unless HTTP/1.0).
    var stream: StreamChannel?
    var streamChunked = false
    var streamStatus = 0
    var streamBytes = 0
    var requestStartedAt: UInt64 = 0

    init(fd: Int32, generation: UInt64, remoteAddress: String, limits: HTTPLimits) {
        self.fd = fd
        self.generation = generation
        self.remoteAddress = remoteAddress
        self.parser = HeadParser(limits: limits)
    }

    deinit { inBuf?.deallocate() }

    var buffered: Int { inEnd - inStart }
    var hasPendingOutput: Bool { outOffset < outBuf.count }

    /// Makes room for at least `min` more bytes, growing up to `cap`; false when the cap is reached.
    func reserveInput(min: Int, cap: Int) -> Bool {
        if inBuf == nil {
            let size = Swift.max(4096, Swift.min(cap, min))
            inBuf = .allocate(capacity: size)
            inCapacity = size
            inStart = 0; inEnd = 0
        }
        if inCapacity - inEnd >= min { return true }
        if inStart > 0 {  // compact: move the unconsumed tail (pipelined bytes) to the front
            let n = inEnd - inStart
            if n > 0 { (inBuf! + 0).update(from: inBuf! + inStart, count: n) }
            inStart = 0; inEnd = n
            if inCapacity - inEnd >= min { return true }
        }
        guard inCapacity < cap else { return false }
        let newCap = Swift.min(cap, Swift.max(inCapacity * 2, inEnd + min))
        let nb = UnsafeMutablePointer<UInt8>.allocate(capacity: newCap)
        nb.update(from: inBuf!, count: inEnd)
        inBuf!.deallocate()
        inBuf = nb
        inCapacity = newCap
        return inCapacity - inEnd >= 1
    }

    func consume(_ n: Int) {
        inStart += n
        if inStart == inEnd { inStart = 0; inEnd = 0 }
    }

    /// Idle keep-alive connections give their buffers back (nginx does the same), so thousands of
    /// idle clients cost little memory.
    func releaseBuffersIfIdle() {
        if buffered == 0, let b = inBuf {
            b.deallocate()
            inBuf = nil
            inCapacity = 0; inStart = 0; inEnd = 0
        }
        if !hasPendingOutput && outBuf.capacity > 16 * 1024 {
            outBuf = []
            outOffset = 0
        }
    }

    var unconsumed: UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: inBuf.map { $0 + inStart }, count: buffered)
    }

    func resetRequest() {
        phase = .head
        head = nil
        body = []
        pending = nil
        route = ""
        pathParameters = [:]
        requestID = ""
        headStartedAt = 0
        parser.reset()
    }
}
