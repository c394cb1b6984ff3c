// Black-box test support: an in-process HTTPServer on 127.0.0.1:0 with short timeouts, a raw
// blocking-socket client that reads responses byte-exactly from the stream, and assertion helpers.
// Everything here talks to the server only over TCP (no access to internals).
import XCTest
import Foundation
import HTTP
import CPosix
#if canImport(Glibc)
import Glibc
#endif

/// The trivial per-handler-thread context of the test servers.
final class BlackBoxContext {
    let index: Int
    init(index: Int) { self.index = index }
}

// MARK: - Test server fixture

/// A running `HTTPServer<BlackBoxContext>` with the black-box routes.
final class BlackBoxServer: @unchecked Sendable {
    let server: HTTPServer<BlackBoxContext>
    var port: Int { server.port }

    /// ~50 KiB of JSON for the gzip tests (compressible, deterministic).
    static let bigJSON: String = {
        var s = "{\"items\":["
        var i = 0
        while s.utf8.count < 50 * 1024 {
            if i > 0 { s += "," }
            s += "{\"id\":\(i),\"name\":\"item-\(i)\",\"description\":\"a fairly repetitive description of item number \(i)\"}"
            i += 1
        }
        s += "]}"
        return s
    }()

    /// Short timeouts so the timeout cases finish in about a second each.
    static func testConfig(_ tweak: (inout ServerConfig) -> Void = { _ in }) -> ServerConfig {
        var c = ServerConfig()
        c.host = "127.0.0.1"
        c.port = 0
        c.loopCount = 2
        c.workerCount = 4
        c.queueCapacity = 64
        c.drainTimeoutMs = 2_000
        c.limits.headerTimeoutMs = 800
        c.limits.bodyTimeoutMs = 800
        c.limits.idleTimeoutMs = 1_000
        c.limits.writeTimeoutMs = 2_000
        c.limits.lingerTimeoutMs = 300
        c.corsOrigins = ["https://app.example"]
        c.accessLog = false
        c.logger.logLevel = .critical
        tweak(&c)
        return c
    }

    static func makeRouter() -> Router<BlackBoxContext> {
        let router = Router<BlackBoxContext>()
        router.addOnLoop("GET", "/healthz") { _ in .json(200, #"{"status":"ok"}"#) }
        let echo: Router<BlackBoxContext>.Handler = { req, _ in
            Response(status: 200, headers: ["content-type": "application/octet-stream",
                                            "x-body-length": String(req.body.count)], body: req.body)
        }
        router.post("/echo", echo)
        router.put("/small", maxBodyBytes: 16, echo)
        router.get("/items/{id}") { req, _ in
            .json(200, "{\"id\":\(JSONString.quote(req.parameter("id") ?? ""))}")
        }
        router.delete("/items/{id}") { _, _ in Response(status: 204) }
        router.get("/slow") { req, _ in
            let ms = Int(req.query("ms") ?? "0") ?? 0
            if ms > 0 { usleep(UInt32(ms) * 1000) }
            return .json(200, "{\"slept\":\(ms)}")
        }
        router.get("/big") { _, _ in .json(200, BlackBoxServer.bigJSON) }
        // N KiB of incompressible-typed bytes (slow-reader / backpressure cases).
        router.get("/blob") { req, _ in
            let kb = min(Int(req.query("kb") ?? "1") ?? 1, 8 * 1024)
            return Response(status: 200, headers: ["content-type": "application/octet-stream"],
                            body: [UInt8](repeating: 0x42, count: kb * 1024))
        }
        router.get("/headers") { req, _ in
            var out = "method: \(req.method)\ntarget: \(req.head.target)\npath: \(req.path)\n"
            out += "authority: \(req.head.authority ?? "-")\nversion: \(req.head.version)\n"
            out += "query: \(req.head.query ?? "-")\n"
            for (name, value) in req.headers { out += "h:\(name): \(value)\n" }
            return .text(200, out)
        }
        return router
    }

    init(config: ServerConfig, signals: Bool = false) throws {
        server = HTTPServer<BlackBoxContext>(config: config, router: Self.makeRouter()) { BlackBoxContext(index: $0) }
        if signals { try server.handleTerminationSignals() }
        try server.start()
    }

    convenience init(_ tweak: (inout ServerConfig) -> Void = { _ in }) throws {
        try self.init(config: Self.testConfig(tweak))
    }

    /// Drains and joins, then keeps the object alive for the rest of the process (handler
    /// threads of a timed-out drain may still reference it).
    func stop() {
        server.shutdown()
        BlackBoxServer.retire(self)
    }

    private static let retired = BBRetiredServers()
    static func retire(_ s: BlackBoxServer) { retired.add(s) }
}

private final class BBRetiredServers: @unchecked Sendable {
    private var lock = pthread_mutex_t()
    private var servers: [BlackBoxServer] = []
    init() { pthread_mutex_init(&lock, nil) }
    func add(_ s: BlackBoxServer) {
        pthread_mutex_lock(&lock); servers.append(s); pthread_mutex_unlock(&lock)
    }
}

/// One server shared by every stateless black-box case (started on first use, never stopped).
let sharedBlackBoxServer: BlackBoxServer = {
    do { return try BlackBoxServer() } catch { fatalError("black-box server failed to start: \(error)") }
}()

// MARK: - Raw client

enum BBClientError: Error, CustomStringConvertible {
    case connect(Int32)
    case closed(partial: String)
    case timeout(partial: String)
    case malformed(String)

    var description: String {
        switch self {
        case .connect(let e): "connect failed: errno \(e)"
        case .closed(let p): "connection closed by the server before a complete response; got \(p.debugDescription)"
        case .timeout(let p): "timed out waiting for a complete response; got \(p.debugDescription)"
        case .malformed(let m): "malformed response: \(m)"
        }
    }
}

struct BBResponse {
    let status: Int
    let statusLine: String
    /// Names lowercased, values trimmed, in order.
    let headers: [(name: String, value: String)]
    let body: [UInt8]

    func header(_ name: String) -> String? {
        let n = name.lowercased()
        return headers.first { $0.name == n }?.value
    }

    func values(_ name: String) -> [String] {
        let n = name.lowercased()
        return headers.filter { $0.name == n }.map(\.value)
    }

    var text: String { String(decoding: body, as: UTF8.self) }
    var saysClose: Bool { header("connection")?.lowercased().contains("close") ?? false }
}

func bbBytes(_ s: String) -> [UInt8] { Array(s.utf8) }

func bbNow() -> Double { Double(System.now()) / 1e9 }

/// A blocking IPv4 client socket. `buffer` keeps bytes received but not yet parsed (pipelining).
final class BBClient {
    let fd: Int32
    private(set) var buffer: [UInt8] = []
    private(set) var sawEOF = false
    private(set) var sawReset = false

    /// - Parameter receiveBuffer: SO_RCVBUF set before connecting (a small one makes the server's
    ///   writes block quickly: slow-reader tests).
    init(port: Int, receiveBuffer: Int? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw BBClientError.connect(errno) }
        if var size = receiveBuffer.map(Int32.init) {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if rc != 0 {
            let e = errno
            Glibc.close(fd)
            throw BBClientError.connect(e)
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        // Safety net only; every read below is bounded by poll().
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { Glibc.close(fd) }

    /// Local port of this client socket.
    var localPort: Int {
        var addr = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    /// Simulates a slow network path: the in-process server's socket for this connection gets a
    /// fixed small SO_SNDBUF (loopback otherwise autotunes it to ~4 MiB, which hides write
    /// backpressure). Finds the server's descriptor by its peer address. False if not found.
    func shrinkServerSendBuffer(to bytes: Int32, serverPort: Int) -> Bool {
        let me = localPort
        let deadline = bbNow() + 1
        while bbNow() < deadline {
            for sfd in Int32(3)..<Int32(4096) where sfd != fd {
                var local = sockaddr_in(), peer = sockaddr_in()
                var l1 = socklen_t(MemoryLayout<sockaddr_in>.size), l2 = l1
                let ok1 = withUnsafeMutablePointer(to: &local) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(sfd, $0, &l1) }
                }
                let ok2 = withUnsafeMutablePointer(to: &peer) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(sfd, $0, &l2) }
                }
                guard ok1 == 0, ok2 == 0, local.sin_family == sa_family_t(AF_INET),
                      Int(UInt16(bigEndian: local.sin_port)) == serverPort,
                      Int(UInt16(bigEndian: peer.sin_port)) == me else { continue }
                var size = bytes
                return setsockopt(sfd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size)) == 0
            }
            usleep(5_000)
        }
        return false
    }

    /// Sends everything; false if the peer is gone (EPIPE/ECONNRESET).
    @discardableResult
    func send(_ data: [UInt8]) -> Bool {
        var off = 0
        while off < data.count {
            let n = data.withUnsafeBytes { raw in
                Glibc.send(fd, raw.baseAddress! + off, raw.count - off, Int32(MSG_NOSIGNAL))
            }
            if n > 0 { off += n; continue }
            if n < 0 && errno == EINTR { continue }
            return false
        }
        return true
    }

    @discardableResult
    func send(_ s: String) -> Bool { send(Array(s.utf8)) }

    func shutdownWrite() { Glibc.shutdown(fd, Int32(SHUT_WR)) }

    /// Waits up to `timeout` seconds for bytes (or EOF) to be readable.
    func waitReadable(_ timeout: Double) -> Bool {
        if !buffer.isEmpty || sawEOF { return true }
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        var rc: Int32
        repeat { rc = poll(&p, 1, Int32(max(0, timeout * 1000))) } while rc < 0 && errno == EINTR
        return rc > 0
    }

    /// Reads what is available within `deadline`; false on timeout, true when bytes or EOF arrived.
    private func fill(deadline: Double) -> Bool {
        if sawEOF { return true }
        let remaining = deadline - bbNow()
        if remaining <= 0 { return false }
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        var rc: Int32
        repeat { rc = poll(&p, 1, Int32(remaining * 1000) + 1) } while rc < 0 && errno == EINTR
        if rc <= 0 { return false }
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n > 0 {
            buffer.append(contentsOf: chunk[0..<n])
        } else if n == 0 {
            sawEOF = true
        } else if errno == ECONNRESET {
            sawEOF = true
            sawReset = true
        } else if errno != EINTR && errno != EAGAIN {
            sawEOF = true
        }
        return true
    }

    private func find(_ pattern: [UInt8], from: Int = 0) -> Int? {
        guard buffer.count >= pattern.count + from else { return nil }
        var i = from
        while i + pattern.count <= buffer.count {
            if buffer[i] == pattern[0] && Array(buffer[i..<(i + pattern.count)]) == pattern { return i }
            i += 1
        }
        return nil
    }

    private var partial: String { String(decoding: buffer.prefix(300), as: UTF8.self) }

    /// Parses ONE response (an interim 1xx counts as one) from the stream; leftover bytes stay
    /// buffered for the next call. `head`: the request was HEAD (no body follows the headers).
    func readResponse(head: Bool = false, timeout: Double = 3) throws -> BBResponse {
        let deadline = bbNow() + timeout
        var headEnd: Int? = find([13, 10, 13, 10])
        while headEnd == nil {
            if sawEOF { throw BBClientError.closed(partial: partial) }
            if !fill(deadline: deadline) { throw BBClientError.timeout(partial: partial) }
            headEnd = find([13, 10, 13, 10])
        }
        let headText = String(decoding: buffer[0..<headEnd!], as: UTF8.self)
        var lines = headText.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst()
        let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), let status = Int(parts[1]) else {
            throw BBClientError.malformed("status line \(statusLine.debugDescription)")
        }
        var headers: [(name: String, value: String)] = []
        for l in lines {
            guard let colon = l.firstIndex(of: ":") else { throw BBClientError.malformed("header line \(l.debugDescription)") }
            headers.append((l[..<colon].lowercased(), l[l.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        var pos = headEnd! + 4
        var body: [UInt8] = []
        let noBody = head || (100..<200).contains(status) || status == 204 || status == 304
        let te = headers.first { $0.name == "transfer-encoding" }?.value.lowercased()
        let cl = headers.first { $0.name == "content-length" }.flatMap { Int($0.value) }
        if noBody {
            // nothing
        } else if let te, te.contains("chunked") {
            while true {
                var lineEnd = find([13, 10], from: pos)
                while lineEnd == nil {
                    if sawEOF { throw BBClientError.closed(partial: partial) }
                    if !fill(deadline: deadline) { throw BBClientError.timeout(partial: partial) }
                    lineEnd = find([13, 10], from: pos)
                }
                let sizeText = String(decoding: buffer[pos..<lineEnd!], as: UTF8.self)
                guard let size = Int(sizeText.split(separator: ";")[0], radix: 16) else {
                    throw BBClientError.malformed("chunk size \(sizeText)")
                }
                pos = lineEnd! + 2
                while buffer.count < pos + size + 2 {
                    if sawEOF { throw BBClientError.closed(partial: partial) }
                    if !fill(deadline: deadline) { throw BBClientError.timeout(partial: partial) }
                }
                body.append(contentsOf: buffer[pos..<(pos + size)])
                pos += size + 2
                if size == 0 { break }
            }
        } else if let cl {
            while buffer.count < pos + cl {
                if sawEOF { throw BBClientError.closed(partial: partial) }
                if !fill(deadline: deadline) { throw BBClientError.timeout(partial: partial) }
            }
            body = Array(buffer[pos..<(pos + cl)])
            pos += cl
        } else {
            while !sawEOF {
                if !fill(deadline: deadline) { throw BBClientError.timeout(partial: partial) }
            }
            body = Array(buffer[pos...])
            pos = buffer.count
        }
        buffer.removeFirst(pos)
        return BBResponse(status: status, statusLine: statusLine, headers: headers, body: body)
    }

    /// True when the server closed (FIN or RST) within `timeout`. Bytes that arrive meanwhile are
    /// kept in `buffer` (callers assert it is empty when no further response is allowed).
    func isClosedByPeer(timeout: Double = 1.5) -> Bool {
        let deadline = bbNow() + timeout
        while !sawEOF {
            if !fill(deadline: deadline) { return false }
        }
        return true
    }
}

// MARK: - Base class and assertions

enum BBAfter {
    /// The server must close the connection after this response (and say so with `Connection: close`).
    case closed
    /// The connection must stay open and answer another request.
    case usable
}

class BlackBoxCase: XCTestCase {
    var server: BlackBoxServer { sharedBlackBoxServer }
    var port: Int { server.port }

    static let healthz = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"

    func connect(_ port: Int? = nil, file: StaticString = #filePath, line: UInt = #line) throws -> BBClient {
        do { return try BBClient(port: port ?? self.port) } catch {
            XCTFail("connect: \(error)", file: file, line: line)
            throw error
        }
    }

    /// Sends `raw` on a fresh connection, reads one response, checks the status, then whether the
    /// connection is closed (with `Connection: close` on the response) or still usable, and finally
    /// that the server still answers `/healthz` on a new connection.
    @discardableResult
    func expect(_ raw: [UInt8], status: Int, then after: BBAfter, head: Bool = false,
                file: StaticString = #filePath, line: UInt = #line) -> BBResponse? {
        var response: BBResponse?
        do {
            let c = try connect(file: file, line: line)
            c.send(raw)
            let r = try c.readResponse(head: head)
            response = r
            XCTAssertEqual(r.status, status, "status for \(String(decoding: raw.prefix(120), as: UTF8.self).debugDescription); body: \(r.text)", file: file, line: line)
            XCTAssertTrue(r.statusLine.hasPrefix("HTTP/1.1 "), "status line \(r.statusLine)", file: file, line: line)
            switch after {
            case .closed: assertClosed(c, after: r, file: file, line: line)
            case .usable: assertUsable(c, after: r, file: file, line: line)
            }
        } catch {
            XCTFail("exchange failed: \(error)", file: file, line: line)
        }
        assertHealthy(file: file, line: line)
        return response
    }

    @discardableResult
    func expect(_ raw: String, status: Int, then after: BBAfter, head: Bool = false,
                file: StaticString = #filePath, line: UInt = #line) -> BBResponse? {
        expect(Array(raw.utf8), status: status, then: after, head: head, file: file, line: line)
    }

    /// The response said `Connection: close`, and the server closed without sending anything more.
    func assertClosed(_ c: BBClient, after r: BBResponse? = nil, timeout: Double = 1.5,
                      file: StaticString = #filePath, line: UInt = #line) {
        if let r { XCTAssertTrue(r.saysClose, "expected connection: close on \(r.status)", file: file, line: line) }
        XCTAssertTrue(c.isClosedByPeer(timeout: timeout), "expected the server to close the connection", file: file, line: line)
        XCTAssertEqual(c.buffer.count, 0, "unexpected bytes after the response: \(String(decoding: c.buffer.prefix(200), as: UTF8.self).debugDescription)",
                       file: file, line: line)
    }

    /// The connection answers another request with 200 (and the previous response did not say close).
    func assertUsable(_ c: BBClient, after r: BBResponse? = nil, file: StaticString = #filePath, line: UInt = #line) {
        if let r { XCTAssertFalse(r.saysClose, "unexpected connection: close on \(r.status)", file: file, line: line) }
        c.send(Self.healthz)
        do {
            let r2 = try c.readResponse()
            XCTAssertEqual(r2.status, 200, "follow-up request on the same connection", file: file, line: line)
        } catch {
            XCTFail("connection not usable after the response: \(error)", file: file, line: line)
        }
    }

    /// A fresh connection gets 200 from /healthz.
    func assertHealthy(port: Int? = nil, file: StaticString = #filePath, line: UInt = #line) {
        do {
            let c = try BBClient(port: port ?? self.port)
            c.send(Self.healthz)
            let r = try c.readResponse()
            XCTAssertEqual(r.status, 200, "health check", file: file, line: line)
            XCTAssertEqual(r.text, #"{"status":"ok"}"#, file: file, line: line)
        } catch {
            XCTFail("server unhealthy: \(error)", file: file, line: line)
        }
    }

    /// After a drain started: connecting fails, or the connection is closed without an answer.
    func assertRefusesNewConnections(port: Int, file: StaticString = #filePath, line: UInt = #line) {
        guard let c = try? BBClient(port: port) else { return }
        c.send(Self.healthz)
        XCTAssertTrue(c.isClosedByPeer(timeout: 1), "a new connection stayed open during the drain", file: file, line: line)
        XCTAssertEqual(c.buffer.count, 0, "a new connection was served during the drain", file: file, line: line)
    }
}
