import Branchlink
import Foundation
import HTTP
import Postgres
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// A Branchlink application on a free port with its own migrated database, stopped by `stop()`.
final class TestApp {
    let app: Application
    let databaseURL: String
    var port: Int { app.port }

    init(configure: (inout Application.Options) -> Void = { _ in }) throws {
        databaseURL = try TestDatabase.createDatabase(prefix: "app", migrated: true)
        // The application runs as its restricted role, as `branchlink serve` does; fixtures use
        // `databaseURL` (the owner).
        var options = Application.Options(database: PostgresConfiguration(AppRole.connectionString(databaseURL),
                                                                          reconnectBackoff: .milliseconds(100)))
        options.server.port = 0
        options.server.loopCount = 1
        options.server.workerCount = 2
        options.server.accessLog = false
        configure(&options)
        app = Application(options: options)
        try app.start()
    }

    func stop() { app.shutdown() }

    func get(_ path: String, headers: [String: String] = [:]) throws -> TestResponse {
        try TestHTTP.request(port: port, method: "GET", path: path, headers: headers)
    }
}

struct TestResponse {
    var status: Int
    var headers: [String: String]
    var body: [UInt8]
    var text: String { String(decoding: content, as: UTF8.self) }
    /// The body with a chunked transfer coding removed (streamed lists and files).
    var content: [UInt8] { headers["transfer-encoding"] == "chunked" ? TestHTTP.dechunk(body) : body }
    func json() throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
    }
}

/// A minimal HTTP/1.1 client over a blocking socket: one request per connection (`Connection:
/// close`), the response read to EOF. Enough for black-box tests of the application.
enum TestHTTP {
    static func request(port: Int, method: String, path: String, headers: [String: String] = [:], body: [UInt8] = []) throws -> TestResponse {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestError("socket failed") }
        defer { close(fd) }
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { throw TestError("connect failed: errno \(errno)") }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        for (k, v) in headers { head += "\(k): \(v)\r\n" }
        if !body.isEmpty || method == "POST" || method == "PUT" { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        let out = Array(head.utf8) + body
        var sent = 0
        while sent < out.count {
            let n = out[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw TestError("send failed") }
            sent += n
        }
        var data: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            data.append(contentsOf: buf[0..<n])
        }
        return try parse(data)
    }

    /// Decodes a chunked body (the whole response was read to EOF).
    static func dechunk(_ body: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var i = 0
        while i < body.count {
            guard let lineEnd = (i..<body.count - 1).first(where: { body[$0] == 13 && body[$0 + 1] == 10 }),
                  let size = Int(String(decoding: body[i..<lineEnd], as: UTF8.self), radix: 16) else { break }
            if size == 0 { break }
            out += body[(lineEnd + 2)..<(lineEnd + 2 + size)]
            i = lineEnd + 2 + size + 2
        }
        return out
    }

    static func parse(_ data: [UInt8]) throws -> TestResponse {
        let sep: [UInt8] = [13, 10, 13, 10]
        guard let end = (0..<max(0, data.count - 3)).first(where: { Array(data[$0..<$0 + 4]) == sep }) else {
            throw TestError("no complete response head in \(data.count) bytes")
        }
        let lines = String(decoding: data[0..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let parts = lines[0].split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else { throw TestError("bad status line \(lines[0])") }
        var headers: [String: String] = [:]
        for l in lines.dropFirst() {
            guard let c = l.firstIndex(of: ":") else { continue }
            headers[l[..<c].lowercased()] = l[l.index(after: c)...].trimmingCharacters(in: .whitespaces)
        }
        return TestResponse(status: status, headers: headers, body: Array(data[(end + 4)...]))
    }
}

struct TestError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
