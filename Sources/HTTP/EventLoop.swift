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
        case adopt(fd: Int32, remote: String)
        case drain
    }

    let index: Int
    unowned let server: HTTPServer<Context>
    let epfd: Int32
    let wakeFd: Int32
    var listenFd: Int32 = -1
    var termFd: Int32 = -1
    private let limits: HTTPLimits
    private var conns: [Connection<Context>?] = []
    private var connectionCount = 0
    private let inbox = Mutex<[Message]>([])
    private var generationCounter: UInt64 = 0
    private var earliestDeadline: UInt64 = .max
    private var draining = false
    private var drainDeadline: UInt64 = .max
    private var acceptPausedUntil: UInt64 = 0
    private var reserveFd: Int32 = -1
    private var nextAcceptTarget = 0
    private var requestCounter: UInt64 = 0
    private let requestIDPrefix: String
    private var dateLine: [UInt8] = []
    private var dateSecond = 0
    private var scratch = [UInt8](repeating: 0, count: 16 * 1024)

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

    private func register(_ fd: Int32, events: UInt32) {
        var ev = epoll_event()
        ev.events = events
        ev.data.fd = fd
        _ = epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev)
    }

    private func setInterest(_ c: Connection<Context>, _ events: UInt32) {
        guard c.interest != events else { return }
        c.interest = events
        var ev = epoll_event()
        ev.events = events
        ev.data.fd = c.fd
        _ = epoll_ctl(epfd, EPOLL_CTL_MOD, c.fd, &ev)
    }

    private static var readInterest: UInt32 { EPOLLIN.rawValue | EPOLLRDHUP.rawValue }

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

    private func processInbox() {
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
                writeResponse(c, response)
                if conns[Int(fd)] === c { process(c) }
            case .adopt(let fd, let remote):
                adopt(fd: fd, remote: remote)
            case .drain:
                startDrain()
            }
        }
    }

    // MARK: - Accept

    func listen(host: String, port: Int) throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ServerError.system("socket", errno) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &addr.sin_addr) == 1 else { close(fd); throw ServerError.invalidHost(host) }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { let e = errno; close(fd); throw ServerError.system("bind \(host):\(port)", e) }
        guard Glibc.listen(fd, SOMAXCONN) == 0 else { let e = errno; close(fd); throw ServerError.system("listen", e) }
        var bound = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &bound) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        listenFd = fd
        register(fd, events: EPOLLIN.rawValue)
        return Int(UInt16(bigEndian: bound.sin_port))
    }

    private func acceptBatch() {
        for _ in 0..<64 {
            var addr = sockaddr_in()
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            let fd = withUnsafeMutablePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    cposix_accept4(listenFd, $0, &len, Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
                }
            }
            if fd < 0 {
                let e = errno
                switch e {
                case EAGAIN, EWOULDBLOCK: return
                case EINTR, ECONNABORTED, EPROTO, EPERM: continue
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    shedWhenOutOfDescriptors()
                    return
                default:
                    server.config.logger.error("accept failed", metadata: ["errno": "\(e)"])
                    return
                }
            }
            if server.metrics.openConnections.load(ordering: .relaxed) >= limits.maxConnections || draining {
                rejectOverCap(fd)
                continue
            }
            server.metrics.openConnections.add(1, ordering: .relaxed)
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            let remote = Self.format(addr)
            let loops = server.loops
            let target = loops[nextAcceptTarget % loops.count]
            nextAcceptTarget &+= 1
            if target === self { adopt(fd: fd, remote: remote) } else { target.post(.adopt(fd: fd, remote: remote)) }
        }
    }

    /// Out of descriptors: free the reserve, accept and close the waiting client so it is not left
    /// hanging, take the reserve back, and stop accepting for 100 ms (the reserve-fd trick).
    private func shedWhenOutOfDescriptors() {
        server.metrics.recordRejectedConnection()
        if reserveFd >= 0 { close(reserveFd); reserveFd = -1 }
        let fd = cposix_accept4(listenFd, nil, nil, Int32(SOCK_CLOEXEC.rawValue))
        if fd >= 0 { close(fd) }
        reserveFd = open("/dev/null", O_RDONLY | O_CLOEXEC)
        _ = epoll_ctl(epfd, EPOLL_CTL_DEL, listenFd, nil)
        acceptPausedUntil = System.now() + 100_000_000
        server.logDescriptorExhaustion()
    }


    private func rejectOverCap(_ fd: Int32) {
        server.metrics.recordRejectedConnection()
        Canned.overCapResponse.withUnsafeBytes { _ = send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        close(fd)
    }

    private static func format(_ addr: sockaddr_in) -> String {
        var a = addr.sin_addr
        var buf = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
        inet_ntop(AF_INET, &a, &buf, socklen_t(buf.count))
        return String(cString: buf) + ":" + String(UInt16(bigEndian: addr.sin_port))
    }

    private func adopt(fd: Int32, remote: String) {
        if draining { close(fd); server.metrics.openConnections.subtract(1, ordering: .relaxed); return }
        if Int(fd) >= conns.count { conns.append(contentsOf: repeatElement(nil, count: Int(fd) + 1 - conns.count + 64)) }
        generationCounter &+= 1
        let c = Connection<Context>(fd: fd, generation: generationCounter, remoteAddress: remote, limits: limits)
        conns[Int(fd)] = c
        connectionCount += 1
        c.interest = Self.readInterest
        register(fd, events: c.interest)
        setDeadline(c, .idle, System.now() + UInt64(limits.headerTimeoutMs) * 1_000_000)
    }

    // MARK: - Reading and parsing

    private var headCapacity: Int { limits.maxRequestLineBytes + limits.maxHeaderBytes + 1024 }

    private func onReadable(_ c: Connection<Context>, flags: UInt32) {
        switch c.phase {
        case .lingering:
            drainLinger(c)
            return
        case .dispatched:
            // Interest is off while a handler runs; only hang-up or error get here.
            c.peerClosedInput = true
            setInterest(c, 0)
            return
        default: break
        }
        let cap: Int
        if case .head = c.phase { cap = headCapacity } else { cap = Swift.max(headCapacity, 64 * 1024) }
        guard c.reserveInput(min: 1, cap: cap) else {
            fail(c, .headerFieldsTooLarge)
            return
        }
        var n: Int
        repeat { n = read(c.fd, c.inBuf! + c.inEnd, c.inCapacity - c.inEnd) } while n < 0 && errno == EINTR
        if n > 0 {
            c.inEnd += n
            process(c)
        } else if n == 0 {
            c.peerClosedInput = true
            if case .head = c.phase, c.buffered == 0, !c.hasPendingOutput {
                closeConnection(c)
                return
            }
            setInterest(c, c.interest & ~Self.readInterest)
            process(c)
            if conns[Int(c.fd)] === c, case .head = c.phase, !c.hasPendingOutput { closeConnection(c) }
        } else if errno != EAGAIN && errno != EWOULDBLOCK {
            closeConnection(c)
        }
    }

    /// Parses and runs as many buffered requests as the connection's state allows (pipelining):
    /// responses are appended in order and written together.
    private func process(_ c: Connection<Context>) {
        parsing: while conns[Int(c.fd)] === c {
            switch c.phase {
            case .head:
                if c.closeAfterWrite || c.buffered == 0 { break parsing }
                // Don't pile up responses for a client that is not reading them.
                if c.outBuf.count - c.outOffset > 256 * 1024 { break parsing }
                if c.headStartedAt == 0 {
                    c.headStartedAt = System.now()
                    setDeadline(c, .head, c.headStartedAt + UInt64(limits.headerTimeoutMs) * 1_000_000)
                }
                switch c.parser.parse(c.unconsumed) {
                case .needMore:
                    if c.peerClosedInput { closeConnection(c); return }
                    break parsing
                case .failure(let e):
                    fail(c, e)
                    break parsing
                case .complete(let head, let consumed):
                    c.consume(consumed)
                    beginRequest(c, head)
                }
            case .body(let remaining):
                let take = Swift.min(remaining, c.buffered)
                if take > 0 {
                    c.body.append(contentsOf: UnsafeBufferPointer(start: c.inBuf! + c.inStart, count: take))
                    c.consume(take)
                }
                if remaining - take == 0 {
                    finishBody(c)
                } else {
                    c.phase = .body(remaining: remaining - take)
                    if c.peerClosedInput { closeConnection(c); return }
                    setDeadline(c, .body, System.now() + UInt64(limits.bodyTimeoutMs) * 1_000_000)
                    break parsing
                }
            case .chunked(var decoder):
                let result = decoder.decode(c.unconsumed, into: &c.body)
                switch result {
                case .needMore(let consumed):
                    c.consume(consumed)
                    c.phase = .chunked(decoder)
                    if c.peerClosedInput { closeConnection(c); return }
                    setDeadline(c, .body, System.now() + UInt64(limits.bodyTimeoutMs) * 1_000_000)
                    break parsing
                case .done(let consumed):
                    c.consume(consumed)
                    finishBody(c)
                case .failure(let e):
                    fail(c, e)
                    break parsing
                }
            case .dispatched, .lingering:
                break parsing
            }
        }
        if conns[Int(c.fd)] === c, c.hasPendingOutput { flush(c) }
    }

    private func beginRequest(_ c: Connection<Context>, _ head: RequestHead) {
        c.head = head
        c.requestStartedAt = System.now()
        requestCounter &+= 1
        if let given = head.headers["x-request-id"], Self.isValidRequestID(given) {
            c.requestID = given
        } else {
            c.requestID = requestIDPrefix + String(requestCounter, radix: 16)
        }
        var bodyLimit = limits.maxBodyBytes
        let resolution = server.resolve(head)
        c.route = resolution.route
        c.pathParameters = resolution.parameters
        switch resolution.action {
        case .respond(let r): c.pending = .respond(r)
        case .loop(let h): c.pending = .loop(h)
        case .worker(let h, let limit): c.pending = .worker(h); bodyLimit = limit ?? bodyLimit
        }
        let bodyExpected: Bool
        switch head.framing {
        case .none:
            bodyExpected = false
        case .contentLength(let n):
            if n > bodyLimit { fail(c, .payloadTooLarge); return }
            bodyExpected = n > 0
            if n == 0 { finishBody(c); return }
            c.body.reserveCapacity(n)
            c.phase = .body(remaining: n)
        case .chunked:
            bodyExpected = true
            c.phase = .chunked(ChunkedDecoder(limits: limits, maxBodyBytes: bodyLimit))
        }
        guard bodyExpected else { finishBody(c); return }
        if head.expectContinue && head.version == .http11 && c.buffered == 0 {
            if case .respond(let r) = c.pending {
                // The request fails anyway: answer now instead of inviting a body we would discard.
                c.closeAfterWrite = true
                writeResponse(c, r)
                return
            }
            c.outBuf.append(contentsOf: Canned.continueLine)
        }
        setDeadline(c, .body, System.now() + UInt64(limits.bodyTimeoutMs) * 1_000_000)
    }


    static func isValidRequestID(_ s: String) -> Bool {
        let u = s.utf8
        guard (1...128).contains(u.count) else { return false }
        for b in u {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."): continue
            default: return false
            }
        }
        return true
    }

    private func finishBody(_ c: Connection<Context>) {
        clearDeadline(c)
        guard let head = c.head, let pending = c.pending else { return }
        let request = Request(head: head, body: c.body, requestID: c.requestID, pathParameters: c.pathParameters,
                              route: c.route, remoteAddress: c.remoteAddress, startedAt: c.requestStartedAt)
        switch pending {
        case .respond(let r):
            writeResponse(c, r)
        case .loop(let h):
            writeResponse(c, h(request))
        case .worker(let h):
            c.phase = .dispatched
            setInterest(c, 0)
            let job = Job(request: request, handler: h, loop: self, fd: c.fd, generation: c.generation, enqueuedAt: System.now())
            if server.queue.tryPush(job) {
                server.metrics.inFlight.add(1, ordering: .relaxed)
            } else {
                setInterest(c, Self.readInterest)
                writeResponse(c, Response.problem(status: 503, code: "service_unavailable",
                    detail: "The server is busy; retry shortly.", requestID: c.requestID, extraHeaders: ["retry-after": "1"]))
            }
        }
    }

    /// A request-level error: answer it and close the connection (framing can no longer be trusted).
    private func fail(_ c: Connection<Context>, _ e: HTTPParseError) {
        c.closeAfterWrite = true
        if c.head == nil {
            // No usable head: answer as HTTP/1.1 with a placeholder head for logging.
            c.head = RequestHead(method: "-", target: "-", path: "-", query: nil, version: .http11,
                                 headers: HTTPHeaders(), framing: .none, keepAlive: false, expectContinue: false)
            c.route = "invalid"
            if c.requestID.isEmpty { requestCounter &+= 1; c.requestID = requestIDPrefix + String(requestCounter, radix: 16) }
            c.requestStartedAt = System.now()
        }
        var r = Response.problem(e)
        if e == .headerFieldsTooLarge || e == .uriTooLong || e == .payloadTooLarge { r.headers.set("connection", "close") }
        writeResponse(c, r)
        flush(c)
    }

    // MARK: - Writing

    private func writeResponse(_ c: Connection<Context>, _ response: Response, finalized: Bool = false) {
        guard let head = c.head else { return }
        var r = response
        if !finalized { server.finalizer.finalize(&r, head: head, requestID: c.requestID) }
        c.requestsServed += 1
        let close = c.closeAfterWrite || !head.keepAlive || c.requestsServed >= limits.maxRequestsPerConnection
            || draining || c.peerClosedInput || (r.headers["connection"]?.lowercased().contains("close") ?? false)
        c.closeAfterWrite = close
        serialize(r, head: head, close: close, into: &c.outBuf)
        let seconds = Double(System.now() - c.requestStartedAt) / 1e9
        server.recordAccess(method: head.method, route: c.route, status: r.status, seconds: seconds,
                            requestID: c.requestID, bytes: r.body.count)
        let wasDispatched: Bool
        if case .dispatched = c.phase { wasDispatched = true } else { wasDispatched = false }
        c.resetRequest()
        if wasDispatched && !close && !c.peerClosedInput { setInterest(c, Self.readInterest) }
    }

    private func serialize(_ r: Response, head: RequestHead, close: Bool, into out: inout [UInt8]) {
        refreshDate()
        out.append(contentsOf: StatusLines.line(r.status))
        out.append(contentsOf: dateLine)
        for (name, value) in r.headers {
            switch name {
            case "content-length", "connection", "date", "transfer-encoding": continue
            default:
                out.append(contentsOf: name.utf8)
                out.append(0x3A); out.append(0x20)
                out.append(contentsOf: value.utf8)
                out.append(0x0D); out.append(0x0A)
            }
        }
        let bodyAllowed = r.status >= 200 && r.status != 204 && r.status != 304
        if bodyAllowed {
            out.append(contentsOf: Canned.contentLengthName)
            out.append(contentsOf: String(r.body.count).utf8)
            out.append(0x0D); out.append(0x0A)
        }
        if close {
            out.append(contentsOf: Canned.connectionClose)
        } else if head.version == .http10 {
            out.append(contentsOf: Canned.connectionKeepAlive)
        }
        out.append(0x0D); out.append(0x0A)
        if bodyAllowed && head.method != "HEAD" { out.append(contentsOf: r.body) }
    }


    private func refreshDate() {
        let t = time(nil)
        guard t != dateSecond else { return }
        dateSecond = t
        dateLine = Array("date: \(HTTPDate.format(t))\r\n".utf8)
    }

    /// Writes pending output with one `send` per batch of responses; on EAGAIN waits for EPOLLOUT.
    private func flush(_ c: Connection<Context>) {
        while c.outOffset < c.outBuf.count {
            let n = c.outBuf.withUnsafeBytes { raw in
                send(c.fd, raw.baseAddress! + c.outOffset, raw.count - c.outOffset, Int32(MSG_NOSIGNAL))
            }
            if n > 0 {
                c.outOffset += n
                if c.deadlineKind == .write { setDeadline(c, .write, System.now() + UInt64(limits.writeTimeoutMs) * 1_000_000) }
                continue
            }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                setInterest(c, c.interest | EPOLLOUT.rawValue)
                if c.deadlineKind != .write { setDeadline(c, .write, System.now() + UInt64(limits.writeTimeoutMs) * 1_000_000) }
                return
            }
            closeConnection(c)
            return
        }
        c.outBuf.removeAll(keepingCapacity: true)
        c.outOffset = 0
        if c.interest & EPOLLOUT.rawValue != 0 { setInterest(c, c.interest & ~EPOLLOUT.rawValue) }
        if c.closeAfterWrite {
            startLinger(c)
            return
        }
        switch c.phase {
        case .head where c.buffered == 0:
            if draining { closeConnection(c); return }
            setDeadline(c, .idle, System.now() + UInt64(limits.idleTimeoutMs) * 1_000_000)
            c.releaseBuffersIfIdle()
        case .head:
            // Pipelined bytes wait in the buffer: continue with them (flush was called from EPOLLOUT).
            if c.deadlineKind == .write { clearDeadline(c) }
            process(c)
        default:
            if c.deadlineKind == .write { clearDeadline(c) }
        }
    }

    /// After `Connection: close`: shut the write side and read the client's leftovers for a moment, so
    /// our response is not destroyed by an RST caused by unread input (lingering close).
    private func startLinger(_ c: Connection<Context>) {
        if c.peerClosedInput { closeConnection(c); return }
        shutdown(c.fd, Int32(SHUT_WR))
        c.phase = .lingering
        c.inStart = 0; c.inEnd = 0
        setInterest(c, Self.readInterest)
        setDeadline(c, .linger, System.now() + UInt64(limits.lingerTimeoutMs) * 1_000_000)
    }

    private func drainLinger(_ c: Connection<Context>) {
        var total = 0
        while total < 64 * 1024 {
            let n = scratch.withUnsafeMutableBytes { read(c.fd, $0.baseAddress, $0.count) }
            if n > 0 { total += n; continue }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
            break
        }
        closeConnection(c)
    }

    private func closeConnection(_ c: Connection<Context>) {
        guard conns[Int(c.fd)] === c else { return }
        conns[Int(c.fd)] = nil
        connectionCount -= 1
        server.metrics.openConnections.subtract(1, ordering: .relaxed)
        close(c.fd)
    }

    // MARK: - Timers

    private func setDeadline(_ c: Connection<Context>, _ kind: Connection<Context>.Deadline, _ at: UInt64) {
        c.deadline = at
        c.deadlineKind = kind
        if at < earliestDeadline { earliestDeadline = at }
    }

    private func clearDeadline(_ c: Connection<Context>) {
        c.deadline = 0
        c.deadlineKind = .none
    }

    /// Checks every connection's single deadline; called when the earliest one may have passed.
    /// A linear sweep over at most a few thousand connections a few times per second is cheaper and
    /// simpler than a heap with lazy deletion, and it never skips a connection.
    private func sweep(now: UInt64) {
        var next: UInt64 = .max
        for case let c? in conns where c.deadline != 0 {
            if c.deadline <= now {
                expire(c)
                if conns[Int(c.fd)] === c, c.deadline != 0 { next = Swift.min(next, c.deadline) }
            } else {
                next = Swift.min(next, c.deadline)
            }
        }
        earliestDeadline = next
    }

    private func expire(_ c: Connection<Context>) {
        let kind = c.deadlineKind
        server.metrics.recordTimeout(kind.rawValue)
        clearDeadline(c)
        switch kind {
        case .head where c.headStartedAt != 0, .body:
            c.closeAfterWrite = true
            if c.head == nil {
                c.head = RequestHead(method: "-", target: "-", path: "-", query: nil, version: .http11,
                                     headers: HTTPHeaders(), framing: .none, keepAlive: false, expectContinue: false)
                c.route = "timeout"
                requestCounter &+= 1
                c.requestID = requestIDPrefix + String(requestCounter, radix: 16)
                c.requestStartedAt = System.now()
            }
            writeResponse(c, .problem(status: 408, code: "request_timeout", detail: "The request was not received in time."))
            flush(c)
        default:
            closeConnection(c)
        }
    }

    // MARK: - Drain

    private func startDrain() {
        guard !draining else { return }
        draining = true
        drainDeadline = System.now() + UInt64(server.config.drainTimeoutMs) * 1_000_000
        if listenFd >= 0 {
            _ = epoll_ctl(epfd, EPOLL_CTL_DEL, listenFd, nil)
            close(listenFd)
            listenFd = -1
        }
        for case let c? in conns {
            if case .head = c.phase, c.buffered == 0, c.headStartedAt == 0, !c.hasPendingOutput {
                closeConnection(c)
            }
        }
    }
}

enum StatusLines {
    private static let table: [Int: [UInt8]] = {
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
    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

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
