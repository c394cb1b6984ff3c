import CLibPQ
import Foundation

/// Streams rows in COPY text format to the server (64 KiB `PQputCopyData` chunks).
/// Obtained from `Connection.copyIn(sql:_:)`; valid only inside that closure.
public struct CopyWriter: ~Copyable {
    let pg: OpaquePointer
    var buffer: [UInt8]
    public private(set) var rowsWritten = 0
    static let chunkSize = 64 * 1024

    init(pg: OpaquePointer) {
        self.pg = pg
        self.buffer = []
        self.buffer.reserveCapacity(CopyWriter.chunkSize + 4096)
    }

    /// Appends one row; nil is NULL (`\N`).
    public mutating func append(_ fields: [String?]) throws {
        var first = true
        for field in fields {
            if !first { buffer.append(0x09) }
            first = false
            appendField(field)
        }
        try endRow()
    }

    /// Appends one field of the current row (call `endRow()` after the last one).
    /// Fields are separated automatically when `separator` is true.
    public mutating func appendField(_ field: String?, separator: Bool) {
        if separator { buffer.append(0x09) }
        appendField(field)
    }

    @inline(__always)
    mutating func appendField(_ field: String?) {
        guard var s = field else {
            buffer.append(0x5C)
            buffer.append(UInt8(ascii: "N"))
            return
        }
        s.withUTF8 { utf8 in
            var runStart = 0
            for i in 0..<utf8.count {
                let c = utf8[i]
                let escaped: UInt8
                switch c {
                case 0x5C: escaped = 0x5C
                case 0x09: escaped = UInt8(ascii: "t")
                case 0x0A: escaped = UInt8(ascii: "n")
                case 0x0D: escaped = UInt8(ascii: "r")
                default: continue
                }
                if runStart < i { buffer.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<i])) }
                buffer.append(0x5C)
                buffer.append(escaped)
                runStart = i + 1
            }
            if runStart < utf8.count { buffer.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...])) }
        }
    }

    /// Ends the current row (after `appendField` calls).
    public mutating func endRow() throws {
        buffer.append(0x0A)
        rowsWritten += 1
        if buffer.count >= CopyWriter.chunkSize { try flush() }
    }

    mutating func flush() throws {
        guard !buffer.isEmpty else { return }
        let ok = buffer.withUnsafeBufferPointer { b in
            b.withMemoryRebound(to: CChar.self) { PQputCopyData(pg, $0.baseAddress, Int32($0.count)) }
        }
        guard ok == 1 else {
            throw PostgresError.connectionUnavailable("COPY data could not be sent: \(Connection.trimmed(PQerrorMessage(pg)))")
        }
        buffer.removeAll(keepingCapacity: true)
    }
}

extension Connection {
    /// `COPY … FROM STDIN` (text format) fed by `rows`; nil fields are NULL. Returns rows copied.
    @discardableResult
    public func copyIn<S: Sequence>(sql: String, rows: S) throws -> Int where S.Element == [String?] {
        try copyIn(sql: sql) { writer in
            for row in rows { try writer.append(row) }
        }
    }

    /// `COPY … FROM STDIN` (text format) with a streaming writer. If `body` throws, the COPY is
    /// aborted (nothing is inserted) and the error is rethrown. Returns rows copied.
    @discardableResult
    public func copyIn(sql: String, _ body: (inout CopyWriter) throws -> Void) throws -> Int {
        try simpleCopyStart(sql)
        var writer = CopyWriter(pg: pg)
        var failure: Error? = nil
        do {
            try body(&writer)
            try writer.flush()
        } catch {
            failure = error
        }
        let endOK: Int32
        if let failure {
            endOK = PQputCopyEnd(pg, "aborted by client: \(failure)")
        } else {
            endOK = PQputCopyEnd(pg, nil)
        }
        var serverError: PostgresError? = nil
        var copied = 0
        while let res = PQgetResult(pg) {
            let status = PQresultStatus(res)
            if status == PGRES_COMMAND_OK {
                copied = Int(String(cString: PQcmdTuples(res))) ?? 0
            } else if status == PGRES_COPY_IN {
                // Should not happen after PQputCopyEnd; end it to avoid looping.
                PQputCopyEnd(pg, "unexpected COPY state")
            } else if serverError == nil {
                serverError = error(from: res)
            }
            PQclear(res)
        }
        if let failure { throw failure }
        if endOK != 1 || PQstatus(pg) == CONNECTION_BAD {
            throw serverError ?? PostgresError.connectionUnavailable("COPY failed: \(Connection.trimmed(PQerrorMessage(pg)))")
        }
        if let serverError { throw serverError }
        return copied
    }

    private func simpleCopyStart(_ sql: String) throws {
        try ensureConnected()
        guard let res = PQexec(pg, sql) else { throw error(from: nil) }
        defer { PQclear(res) }
        guard PQresultStatus(res) == PGRES_COPY_IN else {
            if PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK {
                throw PostgresError(sqlState: "42601", message: "not a COPY … FROM STDIN statement: \(sql)")
            }
            throw error(from: res)
        }
    }
}
