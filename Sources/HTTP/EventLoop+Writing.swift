import CPosix
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// Serializing and writing responses, lingering close.
extension EventLoop {

    func writeResponse(_ c: Connection<Context>, _ response: Response, finalized: Bool = false) {
        guard let head = c.head else { return }
        var r = response
        if !finalized { server.finalizer.finalize(&r, head: head, requestID: c.requestID) }
        let close = closeDecision(c, head: head, response: r, servedAfter: c.requestsServed + 1)
        serialize(r, head: head, close: close, into: &c.outBuf)
        finishExchange(c, head: head, status: r.status, bytes: r.body.count, close: close)
    }

    func closeDecision(_ c: Connection<Context>, head: RequestHead, response r: Response, servedAfter: Int) -> Bool {
        c.closeAfterWrite || !head.keepAlive || servedAfter >= limits.maxRequestsPerConnection
            || draining || c.peerClosedInput || (r.headers["connection"]?.lowercased().contains("close") ?? false)
    }

    /// Bookkeeping once a whole response is queued: access log, metrics, keep-alive state.
    func finishExchange(_ c: Connection<Context>, head: RequestHead, status: Int, bytes: Int, close: Bool) {
        c.requestsServed += 1
        c.closeAfterWrite = close
        let seconds = Double(System.now() - c.requestStartedAt) / 1e9
        server.recordAccess(method: head.method, route: c.route, status: status, seconds: seconds,
                            requestID: c.requestID, bytes: bytes)
        let wasDispatched: Bool
        if case .dispatched = c.phase { wasDispatched = true } else { wasDispatched = false }
        c.resetRequest()
        if wasDispatched && !close && !c.peerClosedInput { setInterest(c, Self.readInterest) }
    }

    // MARK: Streaming responses

    /// Head of a streamed response: chunked on HTTP/1.1; on HTTP/1.0 the body ends with the connection.
    func startStream(_ c: Connection<Context>, _ response: Response, channel: StreamChannel) {
        guard let head = c.head else { channel.cancel(); return }
        c.stream = channel
        c.streamChunked = head.version != .http10
        c.streamStatus = response.status
        c.streamBytes = 0
        if !c.streamChunked { c.closeAfterWrite = true }
        appendStatusAndHeaders(response, into: &c.outBuf)
        if c.streamChunked { c.outBuf.append(contentsOf: "transfer-encoding: chunked\r\n".utf8) }
        if c.closeAfterWrite { c.outBuf.append(contentsOf: Canned.connectionClose) }
        c.outBuf.append(contentsOf: "\r\n".utf8)
        if head.method == "HEAD" { channel.cancel() }  // headers only; the producer stops at its first write
        flush(c)
    }

    func appendChunk(_ c: Connection<Context>, _ bytes: [UInt8]) {
        guard !bytes.isEmpty, c.head?.method != "HEAD" else { return }
        c.streamBytes += bytes.count
        if c.streamChunked {
            c.outBuf.append(contentsOf: String(bytes.count, radix: 16).utf8)
            c.outBuf.append(contentsOf: "\r\n".utf8)
            c.outBuf.append(contentsOf: bytes)
            c.outBuf.append(contentsOf: "\r\n".utf8)
        } else {
            c.outBuf.append(contentsOf: bytes)
        }
    }

    /// A failed producer must not look like a complete body: the connection is cut without the
    /// last chunk, so the client sees a truncated transfer instead of a silently short file.
    func endStream(_ c: Connection<Context>, failed: Bool) {
        guard let head = c.head else { return }
        c.stream = nil
        if failed && head.method != "HEAD" {
            server.recordAccess(method: head.method, route: c.route, status: c.streamStatus, seconds: Double(System.now() - c.requestStartedAt) / 1e9,
                                requestID: c.requestID, bytes: c.streamBytes)
            closeConnection(c)
            return
        }
        if c.streamChunked && head.method != "HEAD" { c.outBuf.append(contentsOf: "0\r\n\r\n".utf8) }
        let close = c.closeAfterWrite || !head.keepAlive || c.requestsServed + 1 >= limits.maxRequestsPerConnection
            || draining || c.peerClosedInput
        finishExchange(c, head: head, status: c.streamStatus, bytes: c.streamBytes, close: close)
        flush(c)
    }

    func serialize(_ r: Response, head: RequestHead, close: Bool, into out: inout [UInt8]) {
        appendStatusAndHeaders(r, into: &out)
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


    /// Status line, `Date` and the handler's headers; framing headers are the server's to write.
    func appendStatusAndHeaders(_ r: Response, into out: inout [UInt8]) {
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
    }

    func refreshDate() {
        let t = time(nil)
        guard t != dateSecond else { return }
        dateSecond = t
        dateLine = Array("date: \(HTTPDate.format(t))\r\n".utf8)
    }

    /// Writes pending output with one `send` per batch of responses; on EAGAIN waits for EPOLLOUT.
    func flush(_ c: Connection<Context>) {
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
        if let stream = c.stream {
            stream.drained()
            if c.deadlineKind == .write { clearDeadline(c) }
            return
        }
        if c.interest & EPOLLOUT.rawValue != 0 { setInterest(c, c.interest & ~EPOLLOUT.rawValue) }
        if c.closeAfterWrite {
            startLinger(c)
            return
        }
        // Reading was paused while the output backlog was large (see onReadable): resume it.
        switch c.phase {
        case .head, .body, .chunked:
            if !c.peerClosedInput && c.interest & Self.readInterest == 0 { setInterest(c, c.interest | Self.readInterest) }
        default: break
        }
        switch c.phase {
        case .head where c.buffered == 0:
            if draining { closeConnection(c); return }
            setDeadline(c, .idle, System.now() + UInt64(limits.idleTimeoutMs) * 1_000_000)
            c.releaseBuffersIfIdle()
        case .head:
            // Pipelined bytes wait in the buffer: continue with them (flush was called from EPOLLOUT).
            if c.deadlineKind == .write {
                if c.headStartedAt != 0 {
                    setDeadline(c, .head, c.headStartedAt + UInt64(limits.headerTimeoutMs) * 1_000_000)
                } else {
                    clearDeadline(c)
                }
            }
            process(c)
        case .body, .chunked:
            if c.deadlineKind == .write { setDeadline(c, .body, System.now() + UInt64(limits.bodyTimeoutMs) * 1_000_000) }
        default:
            if c.deadlineKind == .write { clearDeadline(c) }
        }
    }

    /// After `Connection: close`: shut the write side and read the client's leftovers for a moment, so
    /// our response is not destroyed by an RST caused by unread input (lingering close).
    func startLinger(_ c: Connection<Context>) {
        if c.peerClosedInput { closeConnection(c); return }
        shutdown(c.fd, Int32(SHUT_WR))
        c.phase = .lingering
        c.inStart = 0; c.inEnd = 0
        setInterest(c, Self.readInterest)
        setDeadline(c, .linger, System.now() + UInt64(limits.lingerTimeoutMs) * 1_000_000)
    }

    func drainLinger(_ c: Connection<Context>) {
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

    func closeConnection(_ c: Connection<Context>) {
        guard conns[Int(c.fd)] === c else { return }
        conns[Int(c.fd)] = nil
        c.stream?.cancel()
        connectionCount -= 1
        server.metrics.openConnections.subtract(1, ordering: .relaxed)
        close(c.fd)
    }
}
