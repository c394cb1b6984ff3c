import Foundation

/// An Office Open XML workbook (ECMA-376, the `.xlsx` Excel and LibreOffice open) written row by
/// row into a `ZipStream`: the sheet XML is deflated as it is produced, so a province-wide list is
/// never held in memory. Strings are inline (`t="inlineStr"`: no shared-string table to keep),
/// whole numbers are numbers, the header row is bold and frozen. A sheet holds at most Excel's
/// 1,048,576 rows; longer lists continue on further sheets instead of being cut.
final class XLSXWriter {
    static let contentType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    static let maxRowsPerSheet = 1_048_576

    private let zip: ZipStream
    private let sheetName: String
    private let header: [String?]
    private let rowLimit: Int
    private var sheets = 0
    private var rowsInSheet = 0
    private var line: [UInt8] = []

    init(sheetName: String, header: [String], maxRowsPerSheet: Int = XLSXWriter.maxRowsPerSheet,
         output: @escaping ([UInt8]) throws -> Void) {
        self.zip = ZipStream(output: output)
        self.rowLimit = max(2, maxRowsPerSheet)
        self.sheetName = Self.safeSheetName(sheetName)
        self.header = header
        line.reserveCapacity(4096)
    }

    func row(_ cells: [String?]) throws {
        if sheets == 0 || rowsInSheet == rowLimit { try startSheet() }
        try write(cells, style: nil)
    }

    /// Closes the last sheet and writes the workbook parts that name the sheets.
    func finish() throws {
        if sheets == 0 { try startSheet() }
        try endSheet()
        var types = #"<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">"#
            + #"<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>"#
            + #"<Default Extension="xml" ContentType="application/xml"/>"#
            + #"<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>"#
            + #"<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>"#
        var sheetList = "", rels = ""
        for i in 1...sheets {
            types += #"<Override PartName="/xl/worksheets/sheet\#(i).xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>"#
            let name = i == 1 ? sheetName : String(sheetName.prefix(25)) + " (\(i))"
            sheetList += #"<sheet name="\#(Self.escape(name))" sheetId="\#(i)" r:id="rId\#(i)"/>"#
            rels += #"<Relationship Id="rId\#(i)" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet\#(i).xml"/>"#
        }
        rels += #"<Relationship Id="rId\#(sheets + 1)" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>"#
        let xml = #"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"# + "\n"
        try zip.entry("xl/workbook.xml", xml + #"<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>"# + sheetList + "</sheets></workbook>")
        try zip.entry("xl/_rels/workbook.xml.rels", xml + #"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">"# + rels + "</Relationships>")
        try zip.entry("xl/styles.xml", xml + Self.styles)
        try zip.entry("_rels/.rels", xml + #"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#)
        try zip.entry("[Content_Types].xml", xml + types + "</Types>")
        try zip.finish()
    }

    private func startSheet() throws {
        if sheets > 0 { try endSheet() }
        sheets += 1
        rowsInSheet = 0
        try zip.begin("xl/worksheets/sheet\(sheets).xml")
        try zip.write(Array((#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"# + "\n"
            + #"<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetViews><sheetView workbookViewId="0">"#
            + #"<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/></sheetView></sheetViews><sheetData>"#).utf8))
        try write(header, style: 1)
    }

    private func endSheet() throws {
        try zip.write(Array("</sheetData></worksheet>".utf8))
        try zip.end()
    }

    private func write(_ cells: [String?], style: Int?) throws {
        rowsInSheet += 1
        line.removeAll(keepingCapacity: true)
        line.append(contentsOf: #"<row r="\#(rowsInSheet)">"#.utf8)
        let s = style.map { #" s="\#($0)""# } ?? ""
        for cell in cells {
            guard let cell, !cell.isEmpty else {
                line.append(contentsOf: "<c\(s)/>".utf8)
                continue
            }
            if style == nil, Self.isWholeNumber(cell) {
                line.append(contentsOf: "<c><v>".utf8)
                line.append(contentsOf: cell.utf8)
                line.append(contentsOf: "</v></c>".utf8)
            } else {
                let utf8 = cell.utf8
                let preserve = utf8.first == 0x20 || utf8.last == 0x20 || utf8.contains(0x0A)
                line.append(contentsOf: #"<c t="inlineStr"\#(s)><is><t\#(preserve ? #" xml:space="preserve""# : "")>"#.utf8)
                Self.appendEscaped(utf8, to: &line)
                line.append(contentsOf: "</t></is></c>".utf8)
            }
        }
        line.append(contentsOf: "</row>".utf8)
        try zip.write(line)
    }

    /// Digits without a leading zero and at most 15 of them (Excel's precision): counts and years.
    /// Codes such as "007" or 16-digit identifiers stay text so nothing is lost or reformatted.
    static func isWholeNumber(_ s: String) -> Bool {
        var utf8 = Substring(s).utf8[...]
        if utf8.first == UInt8(ascii: "-") { utf8 = utf8.dropFirst() }
        guard let first = utf8.first, utf8.count <= 15, utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return false }
        return first != 0x30 || (utf8.count == 1 && s.first != "-")
    }

    /// XML text: markup characters escaped, characters XML 1.0 cannot carry (C0 controls other than
    /// tab and newlines, U+FFFE/U+FFFF) dropped.
    static func escape(_ s: String) -> String {
        var out: [UInt8] = []
        appendEscaped(s.utf8, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    static func appendEscaped(_ utf8: String.UTF8View, to out: inout [UInt8]) {
        var it = utf8.makeIterator()
        var pending: [UInt8] = []
        while let b = it.next() {
            switch b {
            case 0x26: out.append(contentsOf: "&amp;".utf8)
            case 0x3C: out.append(contentsOf: "&lt;".utf8)
            case 0x3E: out.append(contentsOf: "&gt;".utf8)
            case 0x22: out.append(contentsOf: "&quot;".utf8)
            case 0x09, 0x0A, 0x0D: out.append(b)
            case 0..<0x20: continue
            case 0xEF:
                // U+FFFE and U+FFFF are EF BF BE and EF BF BF.
                pending = [b]
                if let b2 = it.next() {
                    pending.append(b2)
                    if let b3 = it.next() {
                        pending.append(b3)
                        if b2 == 0xBF && (b3 == 0xBE || b3 == 0xBF) { continue }
                    }
                }
                out.append(contentsOf: pending)
            default: out.append(b)
            }
        }
    }

    /// Sheet names: at most 31 characters, none of `[]:*?/\`.
    static func safeSheetName(_ name: String) -> String {
        let cleaned = String(name.unicodeScalars.filter { !"[]:*?/\\".unicodeScalars.contains($0) }.map(Character.init))
        return cleaned.isEmpty ? "Sheet" : String(cleaned.prefix(31))
    }

    private static let styles = #"<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">"#
        + #"<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font><font><b/><sz val="11"/><name val="Calibri"/></font></fonts>"#
        + #"<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>"#
        + #"<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>"#
        + #"<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>"#
        + #"<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>"#
        + #"<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>"#
        + #"<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>"#
}
