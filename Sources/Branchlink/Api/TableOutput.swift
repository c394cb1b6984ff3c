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
                var bytes: [UInt8] = []
                try produce { rows in
                    bytes.removeAll(keepingCapacity: true)
                    for row in rows { CSVOutput.append(row, to: &bytes) }
                    try writer.write(bytes)
                }
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
    /// formula (=, +, -, @, tab or CR first) are prefixed with an apostrophe.
    public static func line(_ fields: [String?]) -> String {
        var out: [UInt8] = []
        append(fields, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// The same line appended as bytes: exports write hundreds of thousands of them.
    public static func append(_ fields: [String?], to out: inout [UInt8]) {
        for (i, field) in fields.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            guard let field else { continue }
            let utf8 = field.utf8
            let formula = utf8.first.map { $0 == 0x3D || $0 == 0x2B || $0 == 0x2D || $0 == 0x40 || $0 == 0x09 || $0 == 0x0D } ?? false
            let quote = utf8.contains { $0 == 0x2C || $0 == 0x22 || $0 == 0x0A || $0 == 0x0D }
            if quote { out.append(0x22) }
            if formula { out.append(UInt8(ascii: "'")) }
            if quote {
                for b in utf8 {
                    out.append(b)
                    if b == 0x22 { out.append(0x22) }
                }
                out.append(0x22)
            } else {
                out.append(contentsOf: utf8)
            }
        }
        out.append(0x0D)
        out.append(0x0A)
    }
}

/// Moves a thread-confined value into a `@Sendable` closure that runs on the same handler thread
/// (streamed responses run on the thread that ran the handler).
public struct SameThread<T>: @unchecked Sendable {
    public let value: T
    public init(_ value: T) { self.value = value }
}
