import CPosix
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A job handed from a loop to a handler thread.
struct Job<Context: AnyObject>: @unchecked Sendable {
    let request: Request
    let handler: Router<Context>.Handler
    unowned let loop: EventLoop<Context>
    let fd: Int32
    let generation: UInt64
    let enqueuedAt: UInt64
}

/// One epoll event-loop thread: owns its connections (an fd-indexed table), their timers and their
/// parsing; receives completed responses from handler threads through `post` (mutex inbox + eventfd).
/// Everything except `post` runs on the loop's own thread.
final class EventLoop<Context: AnyObject>: @unchecked Sendable {
    enum Message {
        case completion(fd: Int32, generation: UInt64, response: Response)
        case streamHead(fd: Int32, generation: UInt64, response: Response, channel: StreamChannel)
        case streamChunk(fd: Int32, generation: UInt64, bytes: [UInt8])
        case streamEnd(fd: Int32, generation: UInt64, failed: Bool)
        case adopt(fd: Int32, remote: String)
        case drain
    }

    let index: Int
    unowned let server: HTTPServer<Context>
    let epfd: Int32
    let wakeFd: Int32
    var listenFd: Int32 = -1
    var termFd: Int32 = -1
    let limits: HTTPLimits
    var conns: [Connection<Context>?] = []
    var connectionCount = 0
    let inbox = Mutex<[Message]>([])
    var generationCounter: UInt64 = 0
    var earliestDeadline: UInt64 = .max
    var draining = false
    var drainDeadline: UInt64 = .max
    var acceptPausedUntil: UInt64 = 0
    var reserveFd: Int32 = -1
    var nextAcceptTarget = 0
    var requestCounter: UInt64 = 0
    let requestIDPrefix: String
    var dateLine: [UInt8] = []
    var dateSecond = 0
    var scratch = [UInt8](repeating: 0, count: 16 * 1024)

    init(index: Int, server: HTTPServer<Context>) throws {
        self.index = index
        self.server = server
        self.limits = server.config.limits
        epfd = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epfd >= 0 else { throw ServerError.system("epoll_create1", errno) }
        wakeFd = eventfd(0, Int32(EFD_NONBLOCK) | Int32(EFD_CLOEXEC))
        guard wakeFd >= 0 else { throw ServerError.system("eventfd", errno) }
        var rnd = SystemRandomNumberGenerator()
        requestIDPrefix = String(rnd.next() & 0xffff_ffff_ffff, radix: 16) + "-\(index)-"
        register(wakeFd, events: EPOLLIN.rawValue)
        reserveFd = open("/dev/null", O_RDONLY | O_CLOEXEC)
    }

    func connection(_ fd: Int32, _ generation: UInt64) -> Connection<Context>? {
        guard Int(fd) < conns.count, let c = conns[Int(fd)], c.generation == generation else { return nil }
        return c
    }

    func closeDescriptors() {
        close(wakeFd)
        close(epfd)
        if reserveFd >= 0 { close(reserveFd) }
    }

    /// Thread-safe: called by handler threads and other loops.
    func post(_ m: Message) {
        let wasEmpty = inbox.withLock { box -> Bool in
            let e = box.isEmpty
            box.append(m)
            return e
        }
        // The loop reads the eventfd before taking the inbox, so one wake-up per batch suffices.
        if wasEmpty { _ = eventfd_write(wakeFd, 1) }
    }

    func register(_ fd: Int32, events: UInt32) {
        var ev = epoll_event()
        ev.events = events
        ev.data.fd = fd
        _ = epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev)
    }

    func setInterest(_ c: Connection<Context>, _ events: UInt32) {
        guard c.interest != events else { return }
        c.interest = events
        var ev = epoll_event()
        ev.events = events
        ev.data.fd = c.fd
        _ = epoll_ctl(epfd, EPOLL_CTL_MOD, c.fd, &ev)
    }

    static var readInterest: UInt32 { EPOLLIN.rawValue | EPOLLRDHUP.rawValue }

    // MARK: - Run loop

    func run() {
        var events = [epoll_event](repeating: epoll_event(), count: 256)
        while true {
            var now = System.now()
            if earliestDeadline <= now { sweep(now: now) }
            if draining {
                if connectionCount == 0 { break }
                if now >= drainDeadline {
                    server.config.logger.warning("drain timeout: closing connections", metadata: ["open": "\(connectionCount)"])
                    for c in conns.compactMap({ $0 }) { closeConnection(c) }
                    break
                }
            }
            if acceptPausedUntil != 0 && now >= acceptPausedUntil && !draining && listenFd >= 0 {
                acceptPausedUntil = 0
                register(listenFd, events: EPOLLIN.rawValue)
            }
            var wakeAt = Swift.min(earliestDeadline, drainDeadline)
            if acceptPausedUntil != 0 { wakeAt = Swift.min(wakeAt, acceptPausedUntil) }
            let timeoutMs = wakeAt == .max ? 1000 : Int32(Swift.min(1000, (wakeAt &- Swift.min(wakeAt, now)) / 1_000_000 + 1))
            let n = epoll_wait(epfd, &events, Int32(events.count), timeoutMs)
            if n < 0 {
                if errno == EINTR { continue }
                server.config.logger.error("epoll_wait failed", metadata: ["errno": "\(errno)"])
                continue
            }
            now = System.now()
            for i in 0..<Int(n) {
                let fd = events[i].data.fd
                let flags = events[i].events
                if fd == wakeFd {
                    var v: eventfd_t = 0
                    _ = eventfd_read(wakeFd, &v)
                    processInbox()
                } else if fd == listenFd {
                    acceptBatch()
                } else if fd == termFd {
                    var v: eventfd_t = 0
                    _ = eventfd_read(termFd, &v)
                    server.config.logger.info("signal received: draining")
                    server.beginDrain()
                } else if Int(fd) < conns.count, let c = conns[Int(fd)] {
                    if flags & EPOLLOUT.rawValue != 0 { flush(c) }
                    if flags & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0,
                       conns[Int(fd)] === c {
                        onReadable(c, flags: flags)
                    }
                }
            }
            LogSink.shared.flush()
        }
        LogSink.shared.flush()
    }

    func processInbox() {
        let messages = inbox.withLock { box -> [Message] in
            let m = box
            box.removeAll(keepingCapacity: true)
            return m
        }
        for m in messages {
            switch m {
            case .completion(let fd, let gen, let response):
                server.metrics.inFlight.subtract(1, ordering: .relaxed)
                guard Int(fd) < conns.count, let c = conns[Int(fd)], c.generation == gen else { continue }
                guard case .dispatched = c.phase else { continue }
                writeResponse(c, response, finalized: true)
                if conns[Int(fd)] === c { process(c) }
            case .streamHead(let fd, let gen, let response, let channel):
                guard let c = connection(fd, gen), case .dispatched = c.phase else { channel.cancel(); continue }
                startStream(c, response, channel: channel)
            case .streamChunk(let fd, let gen, let bytes):
                guard let c = connection(fd, gen), c.stream != nil else { continue }
                appendChunk(c, bytes)
                flush(c)
            case .streamEnd(let fd, let gen, let failed):
                server.metrics.inFlight.subtract(1, ordering: .relaxed)
                guard let c = connection(fd, gen), c.stream != nil else { continue }
                endStream(c, failed: failed)
                if conns[Int(fd)] === c { process(c) }
            case .adopt(let fd, let remote):
                adopt(fd: fd, remote: remote)
            case .drain:
                startDrain()
            }
        }
    }

}

enum StatusLines {
    static let table: [Int: [UInt8]] = {
        var t: [Int: [UInt8]] = [:]
        for s in [100, 200, 201, 202, 204, 304, 400, 401, 403, 404, 405, 406, 408, 409, 410, 411, 412, 413, 414,
                  415, 417, 422, 428, 429, 431, 500, 501, 502, 503, 504, 505] {
            t[s] = Array("HTTP/1.1 \(s) \(HTTPStatus.reason(s))\r\n".utf8)
        }
        return t
    }()

    static func line(_ status: Int) -> [UInt8] {
        table[status] ?? Array("HTTP/1.1 \(status) \(HTTPStatus.reason(status))\r\n".utf8)
    }
}

enum HTTPDate {
    static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// IMF-fixdate (RFC 9110 §5.6.7).
    static func format(_ t: time_t) -> String {
        var tt = t
        var tmv = tm()
        gmtime_r(&tt, &tmv)
        func p(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(days[Int(tmv.tm_wday)]), \(p(tmv.tm_mday)) \(months[Int(tmv.tm_mon)]) \(tmv.tm_year + 1900) \(p(tmv.tm_hour)):\(p(tmv.tm_min)):\(p(tmv.tm_sec)) GMT"
    }
}

public enum ServerError: Error, CustomStringConvertible {
    case system(String, Int32)
    case invalidHost(String)

    public var description: String {
        switch self {
        case .system(let what, let e): "\(what): \(String(cString: strerror(e))) (errno \(e))"
        case .invalidHost(let h): "invalid IPv4 listen address: \(h)"
        }
    }
}

/// Pre-encoded response fragments (generic types cannot hold static stored properties).
enum Canned {
    static let overCapResponse: [UInt8] = {
        let body = #"{"type":"https://branchlink.example/problems/too_many_connections","title":"Service Unavailable","status":503,"detail":"Too many open connections; retry shortly.","code":"too_many_connections"}"#
        return Array("HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: \(body.utf8.count)\r\n\r\n\(body)".utf8)
    }()
    static let continueLine = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)
    static let contentLengthName = Array("content-length: ".utf8)
    static let connectionClose = Array("connection: close\r\n".utf8)
    static let connectionKeepAlive = Array("connection: keep-alive\r\n".utf8)
}
