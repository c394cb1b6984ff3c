/// Reads RFC 4180 CSV from UTF-8 bytes, one record at a time: a leading BOM is skipped; records end
/// with CRLF or LF (or the end of the input); fields are separated by commas; a field may be quoted
/// with `"` and then hold commas, line breaks and `""` for a quote; CRLF inside a quoted field is
/// read as LF. Lenient where spreadsheets are: a quote inside an unquoted field, or text after a
/// closing quote, is kept as text. The one unrecoverable error is a quote left open at the end of
/// the input (it swallowed the rest of the file), reported with the line where its field began.
public struct CSVReader {
    public struct UnterminatedQuote: Error, Equatable, Sendable {
        /// 1-based physical line where the open quoted field began.
        public let line: Int
    }

    private let bytes: [UInt8]
    private var position: Int
    /// 1-based physical line of the next unread byte.
    public private(set) var line = 1

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
        self.position = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
    }

    /// nil when the input is valid UTF-8; otherwise the 1-based line of the first invalid byte.
    public static func firstInvalidUTF8Line(_ bytes: [UInt8]) -> Int? {
        if String(validating: bytes, as: UTF8.self) != nil { return nil }
        // Slow path, only for invalid input: find the line by validating line by line.
        var line = 1
        var start = 0
        for i in 0...bytes.count where i == bytes.count || bytes[i] == 0x0A {
            if String(validating: bytes[start..<i], as: UTF8.self) == nil { return line }
            line += 1
            start = i + 1
        }
        return line
    }

    /// The next record's fields, or nil at the end of the input. A completely empty line yields
    /// `[""]` (callers usually skip it). Throws `UnterminatedQuote`.
    public mutating func next() throws -> [String]? {
        guard position < bytes.count else { return nil }
        var fields: [String] = []
        fields.reserveCapacity(16)
        var field: [UInt8] = []
        field.reserveCapacity(64)
        let n = bytes.count
        var i = position
        var line = self.line
        defer { position = i; self.line = line }
        return try bytes.withUnsafeBufferPointer { b in
            while true {
                // Start of a field.
                field.removeAll(keepingCapacity: true)
                if i < n && b[i] == 0x22 {
                    let openedOn = line
                    i += 1
                    var closed = false
                    while i < n {
                        let c = b[i]
                        if c == 0x22 {
                            if i + 1 < n && b[i + 1] == 0x22 { field.append(0x22); i += 2; continue }
                            i += 1
                            closed = true
                            break
                        }
                        if c == 0x0D && i + 1 < n && b[i + 1] == 0x0A { field.append(0x0A); i += 2; line += 1; continue }
                        if c == 0x0A { line += 1 }
                        field.append(c)
                        i += 1
                    }
                    guard closed else { throw UnterminatedQuote(line: openedOn) }
                }
                // Unquoted field, or the rest after a closing quote (kept as text).
                let start = i
                while i < n {
                    let c = b[i]
                    if c == 0x2C || c == 0x0A || (c == 0x0D && (i + 1 == n || b[i + 1] == 0x0A)) { break }
                    i += 1
                }
                if start < i { field.append(contentsOf: UnsafeBufferPointer(rebasing: b[start..<i])) }
                fields.append(String(decoding: field, as: UTF8.self))
                if i >= n { return fields }
                switch b[i] {
                case 0x2C:
                    i += 1
                    if i == n { fields.append(""); return fields }
                case 0x0D:
                    i += (i + 1 < n && b[i + 1] == 0x0A) ? 2 : 1
                    line += 1
                    return fields
                default:  // LF
                    i += 1
                    line += 1
                    return fields
                }
            }
        }
    }
}
