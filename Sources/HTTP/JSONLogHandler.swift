import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// swift-log handler writing one JSON object per line. Lines are buffered and written by
/// `LogSink.flush()` (the loops call it once per wake-up) so a busy server does not pay one
/// `write` per request. Metadata must never carry bodies, tokens or personal data.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    let label: String

    public init(label: String, level: Logger.Level = .info) {
        self.label = label
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var line = "{\"ts\":\"\(LogSink.timestamp())\",\"level\":\"\(event.level.rawValue)\",\"logger\":\(JSONString.quote(label)),\"msg\":\(JSONString.quote(event.message.description))"
        var all = metadata
        if let extra = event.metadata { all.merge(extra) { $1 } }
        for (k, v) in all.sorted(by: { $0.key < $1.key }) {
            line += ",\(JSONString.quote(k)):\(Self.render(v))"
        }
        line += "}\n"
        LogSink.shared.append(line)
        if event.level >= .warning { LogSink.shared.flush() }
    }

    static func render(_ v: Logger.Metadata.Value) -> String {
        switch v {
        case .string(let s):
            // Numbers logged as strings stay numbers in the JSON (durations, statuses).
            if let first = s.utf8.first, (48...57).contains(first), Double(s) != nil, !s.contains("-") { return s }
            return JSONString.quote(s)
        case .stringConvertible(let c): return JSONString.quote(c.description)
        case .array(let a): return "[" + a.map(render).joined(separator: ",") + "]"
        case .dictionary(let d):
            return "{" + d.sorted { $0.key < $1.key }.map { "\(JSONString.quote($0.key)):\(render($0.value))" }.joined(separator: ",") + "}"
        }
    }
}

/// Buffered stdout for log lines.
public final class LogSink: Sendable {
    public static let shared = LogSink(fd: 1)
    private let buffer = Mutex<[UInt8]>([])
    private let fd: Int32

    init(fd: Int32) { self.fd = fd }

    func append(_ line: String) {
        let shouldFlush = buffer.withLock { buf -> Bool in
            buf.append(contentsOf: line.utf8)
            return buf.count > 64 * 1024
        }
        if shouldFlush { flush() }
    }

    public func flush() {
        let bytes = buffer.withLock { buf -> [UInt8] in
            if buf.isEmpty { return [] }
            let out = buf
            buf.removeAll(keepingCapacity: true)
            return out
        }
        guard !bytes.isEmpty else { return }
        bytes.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = write(fd, raw.baseAddress! + off, raw.count - off)
                if n < 0 { if errno == EINTR { continue }; return }
                off += n
            }
        }
    }

    /// RFC 3339 UTC with milliseconds.
    static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = ts.tv_sec
        var tmv = tm()
        gmtime_r(&t, &tmv)
        let ms = Int(ts.tv_nsec / 1_000_000)
        func p(_ v: Int32, _ w: Int = 2) -> String { let s = String(v); return String(repeating: "0", count: max(0, w - s.count)) + s }
        return "\(p(tmv.tm_year + 1900, 4))-\(p(tmv.tm_mon + 1))-\(p(tmv.tm_mday))T\(p(tmv.tm_hour)):\(p(tmv.tm_min)):\(p(tmv.tm_sec)).\(p(Int32(ms), 3))Z"
    }
}
