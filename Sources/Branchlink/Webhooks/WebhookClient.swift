import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The sender's HTTP/1.1 client: one POST per connection (`Connection: close`) over a plain
/// socket, with a connect timeout, a total deadline for the whole exchange and a cap on what is
/// read of the response (only the status and a bounded excerpt are kept). http:// only: the
/// service has no TLS client (DESIGN.md §5 allows URLSession, whose curl backend resolves names
/// itself and would bypass the destination check below; WebhookRules.urlProblem refuses https).
///
/// Every resolved address is checked on every attempt (a name that resolves to a private address
/// later, DNS rebinding, is refused then) and the socket connects to the checked address itself.
public enum WebhookClient {
    public struct Limits: Sendable {
        public var connectTimeout: Double = 5
        public var totalTimeout: Double = 15
        public var maxResponseBytes = 64 * 1024
        public var excerptBytes = 1024
        public var allowPrivate = false
        public init() {}
    }

    public struct Outcome: Sendable {
        /// The response status, nil when no response head was read.
        public var status: Int?
        public var excerpt: String?
        public var error: String?
        public var durationMs: Int
        public var succeeded: Bool { status.map { (200..<300).contains($0) } ?? false }
    }

    public static func post(url: String, headers: [(String, String)], body: [UInt8], limits: Limits) -> Outcome {
        let started = DispatchTime.now().uptimeNanoseconds
        let deadline = Double(started) / 1e9 + limits.totalTimeout
        func elapsedMs() -> Int { Int((DispatchTime.now().uptimeNanoseconds - started) / 1_000_000) }
        do {
            guard let c = URLComponents(string: url), c.scheme?.lowercased() == "http", let host = c.host, !host.isEmpty else {
                throw ClientError("unsupported URL (http:// only)")
            }
            let port = c.port ?? 80
            var target = c.percentEncodedPath.isEmpty ? "/" : c.percentEncodedPath
            if let q = c.percentEncodedQuery { target += "?" + q }
            let fd = try connect(host: host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port: port, limits: limits, deadline: deadline)
            defer { close(fd) }
            let hostHeader = c.port.map { "\(host):\($0)" } ?? host
            var head = "POST \(target) HTTP/1.1\r\nHost: \(hostHeader)\r\nUser-Agent: Branchlink-Webhooks/1\r\n"
            head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\nConnection: close\r\n"
            for (k, v) in headers { head += "\(k): \(v)\r\n" }
            head += "\r\n"
            try send(fd, Array(head.utf8) + body, deadline: deadline)
            let (status, excerpt) = try readResponse(fd, limits: limits, deadline: deadline)
            return Outcome(status: status, excerpt: excerpt, error: (200..<300).contains(status) ? nil : "HTTP \(status)",
                           durationMs: elapsedMs())
        } catch let e as ClientError {
            return Outcome(status: nil, excerpt: nil, error: e.message, durationMs: elapsedMs())
        } catch {
            return Outcome(status: nil, excerpt: nil, error: "\(error)", durationMs: elapsedMs())
        }
    }

    struct ClientError: Error { let message: String; init(_ m: String) { message = m } }

    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    /// Resolves `host`, refuses private destinations unless allowed, and connects (non-blocking,
    /// bounded by the connect timeout) to the first address that answers.
    static func connect(host: String, port: Int, limits: Limits, deadline: Double) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var res: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &res)
        guard rc == 0, let first = res else { throw ClientError("cannot resolve \(host)") }
        defer { freeaddrinfo(first) }
        var candidates: [(family: Int32, addr: [UInt8], len: socklen_t)] = []
        var p: UnsafeMutablePointer<addrinfo>? = first
        while let ai = p {
            let bytes = [UInt8](UnsafeRawBufferPointer(start: ai.pointee.ai_addr, count: Int(ai.pointee.ai_addrlen)))
            if !limits.allowPrivate {
                var buf = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
                let text: String
                if ai.pointee.ai_family == AF_INET {
                    var sin = ai.pointee.ai_addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee }
                    inet_ntop(AF_INET, &sin.sin_addr, &buf, socklen_t(buf.count))
                } else {
                    var sin6 = ai.pointee.ai_addr.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee }
                    inet_ntop(AF_INET6, &sin6.sin6_addr, &buf, socklen_t(buf.count))
                }
                text = String(cString: buf)
                if WebhookRules.isPrivateAddress(text) != false {
                    throw ClientError("destination \(text) is a loopback or private address (not allowed)")
                }
            }
            candidates.append((ai.pointee.ai_family, bytes, ai.pointee.ai_addrlen))
            p = ai.pointee.ai_next
        }
        var lastError = "no address for \(host)"
        for c in candidates {
            let fd = socket(c.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            guard fd >= 0 else { continue }
            let r = c.addr.withUnsafeBytes { Glibc.connect(fd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), c.len) }
            if r == 0 || errno == EINPROGRESS {
                let connectDeadline = min(deadline, now() + limits.connectTimeout)
                if r != 0 {
                    guard wait(fd, events: Int16(POLLOUT), deadline: connectDeadline) else {
                        lastError = "connect timed out"; close(fd); continue
                    }
                    var err: Int32 = 0
                    var len = socklen_t(MemoryLayout<Int32>.size)
                    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
                    guard err == 0 else { lastError = "connect failed: \(String(cString: strerror(err)))"; close(fd); continue }
                }
                return fd
            }
            lastError = "connect failed: \(String(cString: strerror(errno)))"
            close(fd)
        }
        throw ClientError(lastError)
    }

    /// Waits until `fd` is ready for `events` or the deadline passes (false).
    static func wait(_ fd: Int32, events: Int16, deadline: Double) -> Bool {
        while true {
            let left = deadline - now()
            if left <= 0 { return false }
            var pfd = pollfd(fd: fd, events: events, revents: 0)
            let r = poll(&pfd, 1, Int32(min(left * 1000, 60_000).rounded(.up)))
            if r > 0 { return true }
            if r < 0 && errno != EINTR { return false }
        }
    }

    static func send(_ fd: Int32, _ bytes: [UInt8], deadline: Double) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n > 0 { sent += n; continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                guard wait(fd, events: Int16(POLLOUT), deadline: deadline) else { throw ClientError("timed out sending the request") }
                continue
            }
            throw ClientError("send failed: \(String(cString: strerror(errno)))")
        }
    }

    /// Reads the status line and up to `maxResponseBytes` of the rest; returns the status and an
    /// excerpt of the body (chunked bodies de-chunked as far as read).
    static func readResponse(_ fd: Int32, limits: Limits, deadline: Double) throws -> (Int, String) {
        var data: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 16 * 1024)
        var headEnd: Int?
        var contentLength: Int?
        while data.count < limits.maxResponseBytes {
            if let h = headEnd, let cl = contentLength, data.count - h >= cl { break }
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                data += buf[0..<n]
                if headEnd == nil, let e = find(data, [13, 10, 13, 10]) {
                    headEnd = e + 4
                    let head = String(decoding: data[0..<e], as: UTF8.self).lowercased()
                    for line in head.split(separator: "\r\n") where line.hasPrefix("content-length:") {
                        contentLength = Int(line.dropFirst(15).trimmingCharacters(in: .whitespaces))
                    }
                }
                continue
            }
            if n == 0 { break }
            if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR {
                guard wait(fd, events: Int16(POLLIN), deadline: deadline) else {
                    if headEnd != nil { break }
                    throw ClientError("timed out waiting for the response")
                }
                continue
            }
            if headEnd != nil { break }
            throw ClientError("receive failed: \(String(cString: strerror(errno)))")
        }
        guard let h = headEnd ?? find(data, [13, 10, 13, 10]).map({ $0 + 4 }) else { throw ClientError("no complete response head") }
        let head = String(decoding: data[0..<h], as: UTF8.self)
        let statusLine = head.split(separator: "\r\n").first ?? ""
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]), (100...599).contains(status) else {
            throw ClientError("malformed response status line")
        }
        var body = Array(data[h...])
        if head.lowercased().contains("transfer-encoding: chunked") { body = dechunk(body) }
        let excerpt = String(decoding: body.prefix(limits.excerptBytes), as: UTF8.self)
        return (status, excerpt)
    }

    static func find(_ data: [UInt8], _ needle: [UInt8]) -> Int? {
        guard data.count >= needle.count else { return nil }
        return (0...(data.count - needle.count)).first { i in (0..<needle.count).allSatisfy { data[i + $0] == needle[$0] } }
    }

    static func dechunk(_ body: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var i = 0
        while i < body.count, let lineEnd = find(Array(body[i...]), [13, 10]).map({ $0 + i }),
              let size = Int(String(decoding: body[i..<lineEnd], as: UTF8.self).split(separator: ";").first ?? "", radix: 16), size > 0 {
            let start = lineEnd + 2
            out += body[start..<min(body.count, start + size)]
            i = start + size + 2
        }
        return out
    }
}
