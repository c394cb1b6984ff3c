import CPosix
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The HTTP/1.1 server: `loopCount` epoll loops own the sockets; `workerCount` handler threads each
/// own one application `Context` (one database connection) for their whole life and run worker
/// routes synchronously. Health and routing errors are answered on the loops.
///
///     let server = HTTPServer(config: config, router: router) { index in try AppContext(index) }
///     try server.start()
///     server.waitUntilStopped()      // returns after SIGTERM/SIGINT (if installed) and drain
public final class HTTPServer<Context: AnyObject>: @unchecked Sendable {
    public let config: ServerConfig
    public let router: Router<Context>
    public let metrics = HTTPMetrics()
    let finalizer: ResponseFinalizer
    let queue: JobQueue<Job<Context>>
    private(set) var loops: [EventLoop<Context>] = []
    private var loopThreads: [OSThread] = []
    private var workerThreads: [OSThread] = []
    private let makeContext: (Int) throws -> Context
    private let afterJob: @Sendable (Context) -> Void
    private let errorResponse: @Sendable (any Error, Request) -> Response
    private let extraMetrics: @Sendable () -> String
    private let drainingFlag = Atomic<Bool>(false)
    private let drainStartedAt = Atomic<UInt64>(0)
    private let runningWorkers = Atomic<Int>(0)
    private let lastFdWarning = Atomic<Int>(0)
    private var termFd: Int32 = -1
    public private(set) var port = 0

    /// - Parameters:
    ///   - makeContext: builds the context of handler thread `i`, called once per thread at start.
    ///   - afterJob: runs on the handler thread after every job (e.g. roll back an open transaction).
    ///   - errorResponse: maps an error thrown by a handler to a response (default: 500 problem).
    ///   - extraMetrics: Prometheus text appended to `/metrics` (e.g. database connection gauges).
    public init(config: ServerConfig, router: Router<Context>,
                afterJob: @escaping @Sendable (Context) -> Void = { _ in },
                errorResponse: (@Sendable (any Error, Request) -> Response)? = nil,
                extraMetrics: @escaping @Sendable () -> String = { "" },
                makeContext: @escaping (Int) throws -> Context) {
        self.config = config
        self.router = router
        self.finalizer = ResponseFinalizer(config: config)
        self.queue = JobQueue(capacity: config.queueCapacity)
        self.makeContext = makeContext
        self.afterJob = afterJob
        self.extraMetrics = extraMetrics
        let logger = config.logger
        self.errorResponse = errorResponse ?? { error, request in
            logger.error("handler failed", metadata: ["request_id": "\(request.requestID)", "error_type": "\(type(of: error))"])
            return .problem(status: 500, code: "internal_error", detail: "The server failed to handle the request.", requestID: request.requestID)
        }
    }

    public var isDraining: Bool { drainingFlag.load(ordering: .relaxed) }
    public var queueDepth: Int { queue.depth }

    /// Prometheus exposition of the server's metrics plus the application's.
    public func metricsText() -> String { metrics.render(queueDepth: queue.depth, extra: extraMetrics()) }

    /// SIGTERM/SIGINT start a graceful drain (a second one exits at once). Call before `start`.
    public func handleTerminationSignals() throws {
        termFd = eventfd(0, Int32(EFD_NONBLOCK) | Int32(EFD_CLOEXEC))
        guard termFd >= 0, cposix_install_term_handler(termFd) == 0 else { throw ServerError.system("sigaction", errno) }
    }

    /// Binds, creates the handler contexts and starts every thread. Returns once serving.
    public func start() throws {
        signal(SIGPIPE, SIG_IGN)
        _ = cposix_raise_nofile()
        router.freeze()
        var contexts: [Context] = []
        for i in 0..<config.workerCount { contexts.append(try makeContext(i)) }
        for i in 0..<max(1, config.loopCount) { loops.append(try EventLoop(index: i, server: self)) }
        port = try loops[0].listen(host: config.host, port: config.port)
        if termFd >= 0 { loops[0].termFd = termFd; loops[0].registerTermFd() }
        for (i, ctx) in contexts.enumerated() {
            let box = ContextBox(ctx)
            runningWorkers.add(1, ordering: .relaxed)
            workerThreads.append(OSThread(name: "bl-worker-\(i)") { [unowned self] in
                self.workerMain(box.value)
                self.runningWorkers.subtract(1, ordering: .releasing)
            })
        }
        for loop in loops {
            loopThreads.append(OSThread(name: "bl-loop-\(loop.index)") { loop.run() })
        }
        config.logger.info("listening", metadata: ["host": "\(config.host)", "port": "\(port)",
            "loops": "\(loops.count)", "workers": "\(config.workerCount)"])
    }

    /// Stop accepting, finish in-flight requests with `Connection: close`, close idle connections.
    public func beginDrain() {
        guard !drainingFlag.exchange(true, ordering: .relaxed) else { return }
        drainStartedAt.store(System.now(), ordering: .relaxed)
        for loop in loops { loop.post(.drain) }
    }

    /// Blocks until every loop has drained, then stops the handler threads.
    public func waitUntilStopped() {
        for t in loopThreads { t.join() }
        queue.close()
        // Exit within the grace period: handlers still running after it are not waited for.
        let graceEnd = drainStartedAt.load(ordering: .relaxed) + UInt64(config.drainTimeoutMs) * 1_000_000
        while runningWorkers.load(ordering: .acquiring) > 0 && System.now() < graceEnd { usleep(5_000) }
        guard runningWorkers.load(ordering: .acquiring) == 0 else {
            config.logger.warning("drain timeout: handler threads still busy; not waiting for them")
            LogSink.shared.flush()
            return  // descriptors stay open: late completions are posted to (and dropped by) the loops
        }
        for t in workerThreads { t.join() }
        for loop in loops { loop.closeDescriptors() }
        if termFd >= 0 { close(termFd) }
        LogSink.shared.flush()
    }

    /// Drain and wait (tests, embedding).
    public func shutdown() {
        beginDrain()
        waitUntilStopped()
    }

    private func workerMain(_ context: Context) {
        while let job = queue.pop() {
            let started = System.now()
            let waited = Double(started - job.enqueuedAt) / 1e9
            metrics.recordQueueWait(seconds: waited)
            var response: Response
            if waited * 1000 > Double(config.queueMaxWaitMs) {
                response = .problem(status: 503, code: "service_unavailable", detail: "The server is busy; retry shortly.",
                                    requestID: job.request.requestID, extraHeaders: ["retry-after": "1"])
            } else {
                do { response = try job.handler(job.request, context) } catch { response = errorResponse(error, job.request) }
                afterJob(context)
            }
            finalizer.finalize(&response, head: job.request.head, requestID: job.request.requestID)
            if let stream = response.stream {
                runStream(stream, response: response, job: job, context: context)
            } else {
                job.loop.post(.completion(fd: job.fd, generation: job.generation, response: response))
            }
        }
    }

    /// Runs a streaming producer on this handler thread, feeding the loop chunk by chunk.
    private func runStream(_ stream: BodyStream, response: Response, job: Job<Context>, context: Context) {
        let channel = StreamChannel()
        let loop = job.loop, fd = job.fd, gen = job.generation
        loop.post(.streamHead(fd: fd, generation: gen, response: response, channel: channel))
        let writer = StreamWriter(channel: channel) { bytes in loop.post(.streamChunk(fd: fd, generation: gen, bytes: bytes)) }
        var failed = false
        do {
            try stream.produce(writer)
            try writer.flush()
        } catch is StreamCancelled {
            failed = true
        } catch {
            failed = true
            config.logger.error("stream failed", metadata: ["request_id": "\(job.request.requestID)", "error_type": "\(type(of: error))"])
        }
        afterJob(context)
        loop.post(.streamEnd(fd: fd, generation: gen, failed: failed))
    }

    // MARK: - Routing decisions made on the loop

    struct Resolution {
        enum Action {
            case respond(Response)
            case loop(Router<Context>.LoopHandler)
            case worker(Router<Context>.Handler, maxBodyBytes: Int?)
        }
        var route: String
        var parameters: [String: String]
        var action: Action
    }

    func resolve(_ head: RequestHead) -> Resolution {
        if head.method == "OPTIONS" && head.target == "*" {
            return Resolution(route: "*", parameters: [:], action: .respond(
                Response(status: 204, headers: ["allow": "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"])))
        }
        switch router.match(method: head.method, path: head.path) {
        case .found(let route, let params):
            switch route.action {
            case .loop(let h): return Resolution(route: route.pattern, parameters: params, action: .loop(h))
            case .worker(let h): return Resolution(route: route.pattern, parameters: params, action: .worker(h, maxBodyBytes: route.maxBodyBytes))
            }
        case .methodNotAllowed(let allow):
            let allowValue = allow.joined(separator: ", ")
            if head.method == "OPTIONS" {
                return Resolution(route: "options", parameters: [:], action: .respond(options(head, allow: allowValue)))
            }
            return Resolution(route: "unmatched", parameters: [:], action: .respond(
                .problem(status: 405, code: "method_not_allowed", detail: "\(head.method) is not allowed here; allowed: \(allowValue).",
                         extraHeaders: ["allow": allowValue])))
        case .notFound:
            return Resolution(route: "unmatched", parameters: [:], action: .respond(
                .problem(status: 404, code: "not_found", detail: "No resource at this path.")))
        }
    }

    /// OPTIONS on an existing path: `Allow`, and for a CORS preflight from an allowed origin the
    /// `Access-Control-Allow-*` headers.
    private func options(_ head: RequestHead, allow: String) -> Response {
        var r = Response(status: 204, headers: ["allow": allow])
        if head.headers["access-control-request-method"] != nil, finalizer.allowedOrigin(head) != nil {
            r.headers.set("access-control-allow-methods", allow)
            r.headers.set("access-control-allow-headers",
                          head.headers["access-control-request-headers"] ?? "authorization, content-type, if-match, if-none-match, idempotency-key, x-request-id, accept-language")
            r.headers.set("access-control-max-age", "600")
        }
        return r
    }

    func recordAccess(method: String, route: String, status: Int, seconds: Double, requestID: String, bytes: Int) {
        metrics.recordRequest(route: route, method: method, status: status, seconds: seconds)
        guard config.accessLog else { return }
        config.logger.info("request", metadata: [
            "request_id": .string(requestID), "method": .string(method), "route": .string(route),
            "status": .stringConvertible(status), "duration_ms": .stringConvertible((seconds * 1_000_000).rounded() / 1000),
            "bytes": .stringConvertible(bytes),
        ])
    }

    func logDescriptorExhaustion() {
        let now = Int(time(nil))
        if lastFdWarning.exchange(now, ordering: .relaxed) != now {
            config.logger.warning("out of file descriptors: shedding new connections for 100 ms")
        }
    }
}

/// Moves a non-Sendable context to the thread that will own it; nothing else touches it after.
private final class ContextBox<C>: @unchecked Sendable {
    let value: C
    init(_ v: C) { value = v }
}

extension EventLoop {
    func registerTermFd() {
        var ev = epoll_event()
        ev.events = EPOLLIN.rawValue
        ev.data.fd = termFd
        _ = epoll_ctl(epfd, EPOLL_CTL_ADD, termFd, &ev)
    }
}
