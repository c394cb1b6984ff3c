import Branchlink
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// A webhook receiver on 127.0.0.1 for the tests: one thread per connection, blocking sockets.
/// Every request is checked as an integrator would (Standard Webhooks: the signature against the
/// secrets it currently accepts, the timestamp within 5 minutes) and recorded. It can be made slow
/// (`delay`) or failing (`respond` decides the status of each request).
final class WebhookReceiver: @unchecked Sendable {
    struct Received {
        var messageID: String
        var attemptID: String
        var timestamp: String
        var signature: String
        var body: [UInt8]
        /// Verified against `secrets` when it arrived.
        var valid: Bool
        var status: Int
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any]) ?? [:] }
        var sequence: Int? { (json["data"] as? [String: Any])?["sequence"] as? Int }
    }

    let port: Int
    private let fd: Int32
    private let lock = NSLock()
    private var _received: [Received] = []
    private var _secrets: [String] = []
    private var _delay: Double = 0
    private var _respond: (Int, Bool) -> Int = { _, _ in 200 }
    private var stopped = false

    var url: String { "http://127.0.0.1:\(port)/hook" }
    var received: [Received] { lock.withLock { _received } }
    /// The secrets a signature may match (one is enough), as the integrator holds them.
    var secrets: [String] {
        get { lock.withLock { _secrets } }
        set { lock.withLock { _secrets = newValue } }
    }
    var delay: Double {
        get { lock.withLock { _delay } }
        set { lock.withLock { _delay = newValue } }
    }
    /// Status for the n-th request (0-based, counted over the receiver's life); the flag says
    /// whether this webhook-id came before.
    func respond(_ f: @escaping (Int, Bool) -> Int) { lock.withLock { _respond = f } }

    init() throws {
        let sock = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(sock, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(sock, 128) == 0 else { throw TestError("receiver: bind/listen failed") }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(sock, $0, &len) } }
        fd = sock
        port = Int(UInt16(bigEndian: addr.sin_port))
        let t = Thread { [self] in acceptLoop() }
        t.start()
    }

    func stop() {
        lock.withLock { stopped = true }
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }

    private func acceptLoop() {
        while true {
            let c = accept(fd, nil, nil)
            if c < 0 {
                if lock.withLock({ stopped }) { return }
                continue
            }
            let t = Thread { [self] in handle(c) }
            t.start()
        }
    }

    private func handle(_ c: Int32) {
        defer { close(c) }
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var data: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        var headEnd: Int?
        var length = 0
        while true {
            if let h = headEnd, data.count >= h + length { break }
            let n = buf.withUnsafeMutableBytes { recv(c, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return }
            data += buf[0..<n]
            if headEnd == nil, let e = (0..<max(0, data.count - 3)).first(where: { data[$0] == 13 && data[$0 + 1] == 10 && data[$0 + 2] == 13 && data[$0 + 3] == 10 }) {
                headEnd = e + 4
                for line in String(decoding: data[0..<e], as: UTF8.self).split(separator: "\r\n") where line.lowercased().hasPrefix("content-length:") {
                    length = Int(line.dropFirst(15).trimmingCharacters(in: .whitespaces)) ?? 0
                }
            }
        }
        guard let h = headEnd else { return }
        var headers: [String: String] = [:]
        for line in String(decoding: data[0..<h], as: UTF8.self).split(separator: "\r\n").dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let body = Array(data[h..<(h + length)])
        let id = headers["webhook-id"] ?? "", ts = headers["webhook-timestamp"] ?? "", sig = headers["webhook-signature"] ?? ""
        let (secrets, delay, status) = lock.withLock { () -> ([String], Double, Int) in
            (_secrets, _delay, _respond(_received.count, _received.contains { $0.messageID == id }))
        }
        let valid = secrets.contains { WebhookRules.verify(secret: $0, messageID: id, timestamp: ts, signatureHeader: sig, body: body) }
        lock.withLock {
            _received.append(Received(messageID: id, attemptID: headers["branchlink-attempt-id"] ?? "", timestamp: ts, signature: sig,
                                      body: body, valid: valid, status: status))
        }
        if delay > 0 { usleep(UInt32(delay * 1_000_000)) }
        let text = status == 200 ? "ok" : "failing on purpose"
        let response = "HTTP/1.1 \(status) X\r\nContent-Length: \(text.utf8.count)\r\nConnection: close\r\n\r\n\(text)"
        _ = Array(response.utf8).withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }
}
