import Foundation
import HTTP

/// The two table formats of every list and report, chosen with `Accept`: CSV (`text/csv`) and
/// Excel (`application/vnd.openxmlformats-officedocument.spreadsheetml.sheet`).
public enum TableFormat: String, Sendable, CaseIterable {
    case csv
    case xlsx

    var mediaType: String { self == .csv ? "text/csv" : XLSXWriter.contentType }
}

/// `Accept: text/csv` or the XLSX media type on any list: the whole filtered set (not one page),
/// streamed page by page from the database on the handler thread — CSV in UTF-8 with a BOM (Excel
/// opens it as UTF-8), XLSX deflated as it is written. A failure mid-way cuts the connection
/// instead of ending the file early, so a partial export can never pass for a complete one.
/// Background exports (`POST /v1/exports`) run the same streams into storage.
public enum TableOutput {
    /// The table format the client asks for (JSON ranked first means JSON: nil).
    public static func format(_ request: Request) -> TableFormat? {
        guard let accept = request.headers["accept"]?.lowercased() else { return nil }
        if accept.hasPrefix("application/json") { return nil }
        if accept.contains(XLSXWriter.contentType) { return .xlsx }
        if accept.contains("text/csv") { return .csv }
        return nil
    }

    /// A streamed table. `pages` is called with the keyset position of the last row written (nil
    /// first) and returns the next rows and the position after them (nil when done).
    public static func stream(_ format: TableFormat, filename: String, header: [String],
                              pages: @escaping @Sendable (_ after: [String]?, _ limit: Int) throws -> (rows: [[String?]], next: [String]?)) -> Response {
        stream(format, filename: filename, header: header) { emit in
            var after: [String]? = nil
            repeat {
                let page = try pages(after, 1000)
                try emit(page.rows)
                after = page.next
            } while after != nil
        }
    }

    /// A streamed table whose producer hands over rows as it reads them (`emit`, any number of
    /// times, in order).
    public static func stream(_ format: TableFormat, filename: String, header: [String],
                              produce: @escaping @Sendable (_ emit: ([[String?]]) throws -> Void) throws -> Void) -> Response {
        let body = BodyStream { writer in
            switch format {
            case .csv:
                try writer.write([0xEF, 0xBB, 0xBF])
                try writer.write(CSVOutput.line(header))
                try produce { rows in for row in rows { try writer.write(CSVOutput.line(row)) } }
            case .xlsx:
                let sheet = XLSXWriter(sheetName: filename, header: header) { try writer.write($0) }
                try produce { rows in for row in rows { try sheet.row(row) } }
                try sheet.finish()
            }
        }
        let type = format == .csv ? "text/csv; charset=utf-8" : XLSXWriter.contentType
        return Response(status: 200, headers: [
            "content-type": type,
            "content-disposition": "attachment; filename=\"\(filename).\(format.rawValue)\"",
        ], stream: body)
    }
}

extension TableOutput {
    /// A report's table, already computed, in the asked format.
    public static func table(_ format: TableFormat, filename: String, header: [String], rows: [[String?]]) -> Response {
        stream(format, filename: filename, header: header) { _, _ in (rows, nil) }
    }
}

public enum CSVOutput {
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
}

/// Moves a thread-confined value into a `@Sendable` closure that runs on the same handler thread
/// (streamed responses run on the thread that ran the handler).
public struct SameThread<T>: @unchecked Sendable {
    public let value: T
    public init(_ value: T) { self.value = value }
}
