import CPosix
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// Reading, parsing and dispatching requests of a connection.
extension EventLoop {

    private var headCapacity: Int { limits.maxRequestLineBytes + limits.maxHeaderBytes + 1024 }

    func onReadable(_ c: Connection<Context>, flags: UInt32) {
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
        if c.outBuf.count - c.outOffset > 256 * 1024 {
            // Output backlog: stop reading until flush drains it (it re-arms), instead of filling the
            // input buffer with pipelined requests until it overflows into a 431.
            setInterest(c, c.interest & ~Self.readInterest)
            return
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
    func process(_ c: Connection<Context>) {
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

    func beginRequest(_ c: Connection<Context>, _ head: RequestHead) {
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

    func finishBody(_ c: Connection<Context>) {
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
    func fail(_ c: Connection<Context>, _ e: HTTPParseError) {
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
}
