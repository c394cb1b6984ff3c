import CPosix
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// Per-connection deadlines and graceful drain.
extension EventLoop {

    func setDeadline(_ c: Connection<Context>, _ kind: Connection<Context>.Deadline, _ at: UInt64) {
        c.deadline = at
        c.deadlineKind = kind
        if at < earliestDeadline { earliestDeadline = at }
    }

    func clearDeadline(_ c: Connection<Context>) {
        c.deadline = 0
        c.deadlineKind = .none
    }

    /// Checks every connection's single deadline; called when the earliest one may have passed.
    /// A linear sweep over at most a few thousand connections a few times per second is cheaper and
    /// simpler than a heap with lazy deletion, and it never skips a connection.
    func sweep(now: UInt64) {
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

    func expire(_ c: Connection<Context>) {
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


    func startDrain() {
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
