import Foundation
import HTTP

/// `Accept: text/csv` on any list: the whole filtered set (not one page) as UTF-8 CSV with a BOM
/// (Excel opens it as UTF-8), streamed page by page from the database on the handler thread.
/// A failure mid-way cuts the connection instead of ending the file early, so a partial export can
/// never pass for a complete one.
public enum CSVOutput {
    /// True when the client asks for CSV (and does not rank JSON above it).
    public static func wanted(_ request: Request) -> Bool {
        guard let accept = request.headers["accept"]?.lowercased() else { return false }
        guard accept.contains("text/csv") else { return false }
        return !accept.hasPrefix("application/json")
    }

    /// One CSV line (RFC 4180): quoted when needed; cells that a spreadsheet would run as a
    /// formula (=, +, -, @ first) are prefixed with an apostrophe.
    public static func line(_ fields: [String?]) -> String {
        fields.map { field in
            guard var f = field else { return "" }
            if let first = f.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first) { f = "'" + f }
            if f.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) {
                return "\"" + f.replacingOccurrences(of: "\"", with: "\"\"") + "\""
            }
            return f
        }.joined(separator: ",") + "\r\n"
    }

    /// A streamed CSV response. `pages` is called with the keyset position of the last row written
    /// (nil first) and returns the next rows and the position after them (nil when done).
    public static func stream(filename: String, header: [String],
                              pages: @escaping @Sendable (_ after: [String]?, _ limit: Int) throws -> (rows: [[String?]], next: [String]?)) -> Response {
        let body = BodyStream { writer in
            try writer.write([0xEF, 0xBB, 0xBF])
            try writer.write(line(header))
            var after: [String]? = nil
            repeat {
                let page = try pages(after, 1000)
                for row in page.rows { try writer.write(line(row)) }
                after = page.next
            } while after != nil
        }
        return Response(status: 200, headers: [
            "content-type": "text/csv; charset=utf-8",
            "content-disposition": "attachment; filename=\"\(filename).csv\"",
        ], stream: body)
    }
}

/// Moves a thread-confined value into a `@Sendable` closure that runs on the same handler thread
/// (streamed responses run on the thread that ran the handler).
public struct SameThread<T>: @unchecked Sendable {
    public let value: T
    public init(_ value: T) { self.value = value }
}
