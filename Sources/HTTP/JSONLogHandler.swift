import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// swift-log handler writing one JSON object per line. It builds the line as bytes (no String
/// concatenation, no sorting) because the access log runs once per request on the event loop, and
/// lines are buffered and written by `LogSink.flush()` (the loops call it once per wake-up) so a busy
/// server does not pay one `write` per request. Metadata must never carry bodies, tokens or
/// personal data. Integers and doubles passed as `.stringConvertible` are written as JSON numbers.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    let labelJSON: [UInt8]

    public init(label: String, level: Logger.Level = .info) {
        self.logLevel = level
        var l: [UInt8] = []
        JSONBytes.appendString(label, to: &l)
        self.labelJSON = l
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var line: [UInt8] = []
        line.reserveCapacity(256)
        line.append(contentsOf: #"{"ts":""#.utf8)
        LogSink.appendTimestamp(to: &line)
        line.append(contentsOf: #"","level":""#.utf8)
        line.append(contentsOf: event.level.rawValue.utf8)
        line.append(contentsOf: #"","logger":"#.utf8)
        line.append(contentsOf: labelJSON)
        line.append(contentsOf: #","msg":"#.utf8)
        JSONBytes.appendString(event.message.description, to: &line)
        for (k, v) in metadata where event.metadata?[k] == nil { Self.appendField(k, v, to: &line) }
        if let extra = event.metadata { for (k, v) in extra { Self.appendField(k, v, to: &line) } }
        line.append(contentsOf: "}\n".utf8)
        LogSink.shared.append(line)
        if event.level >= .warning { LogSink.shared.flush() }
    }

    static func appendField(_ key: String, _ value: Logger.Metadata.Value, to out: inout [UInt8]) {
        out.append(UInt8(ascii: ","))
        JSONBytes.appendString(key, to: &out)
        out.append(UInt8(ascii: ":"))
        appendValue(value, to: &out)
    }

    static func appendValue(_ v: Logger.Metadata.Value, to out: inout [UInt8]) {
        switch v {
        case .string(let s):
            JSONBytes.appendString(s, to: &out)
        case .stringConvertible(let c):
            switch c {
            case let i as Int: out.append(contentsOf: String(i).utf8)
            case let d as Double where d.isFinite: out.append(contentsOf: String(d).utf8)
            case let b as Bool: out.append(contentsOf: (b ? "true" : "false").utf8)
            default: JSONBytes.appendString(c.description, to: &out)
            }
        case .array(let a):
            out.append(UInt8(ascii: "["))
            for (i, e) in a.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                appendValue(e, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .dictionary(let d):
            out.append(UInt8(ascii: "{"))
            for (i, (k, e)) in d.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                JSONBytes.appendString(k, to: &out)
                out.append(UInt8(ascii: ":"))
                appendValue(e, to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }
}

enum JSONBytes {
    private static let hex = Array("0123456789abcdef".utf8)

    /// Appends `s` as a JSON string literal.
    static func appendString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out.append(UInt8(ascii: "\\")); out.append(b)
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\")); out.append(b)
            case UInt8(ascii: "\n"): out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "n"))
            case UInt8(ascii: "\r"): out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "r"))
            case UInt8(ascii: "\t"): out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "t"))
            case 0..<0x20:
                out.append(contentsOf: "\\u00".utf8)
                out.append(hex[Int(b >> 4)]); out.append(hex[Int(b & 15)])
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

/// Buffered stdout for log lines.
public final class LogSink: Sendable {
    public static let shared = LogSink(fd: 1)
    private let buffer = Mutex<[UInt8]>([])
    private let fd: Int32
    /// "YYYY-MM-DDTHH:MM:SS" of the last second formatted, shared by all threads.
    private static let secondCache = Mutex<(Int, [UInt8])>((-1, []))

    init(fd: Int32) { self.fd = fd }

    func append(_ line: [UInt8]) {
        let shouldFlush = buffer.withLock { buf -> Bool in
            buf.append(contentsOf: line)
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
    static func appendTimestamp(to out: inout [UInt8]) {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        let sec = Int(ts.tv_sec)
        let prefix = secondCache.withLock { cache -> [UInt8] in
            if cache.0 == sec { return cache.1 }
            var t = time_t(sec)
            var tmv = tm()
            gmtime_r(&t, &tmv)
            func p(_ v: Int32, _ w: Int = 2) -> String { let s = String(v); return String(repeating: "0", count: max(0, w - s.count)) + s }
            let s = Array("\(p(tmv.tm_year + 1900, 4))-\(p(tmv.tm_mon + 1))-\(p(tmv.tm_mday))T\(p(tmv.tm_hour)):\(p(tmv.tm_min)):\(p(tmv.tm_sec))".utf8)
            cache = (sec, s)
            return s
        }
        out.append(contentsOf: prefix)
        let ms = Int(ts.tv_nsec / 1_000_000)
        out.append(UInt8(ascii: "."))
        out.append(UInt8(48 + ms / 100)); out.append(UInt8(48 + ms / 10 % 10)); out.append(UInt8(48 + ms % 10))
        out.append(UInt8(ascii: "Z"))
    }
}
