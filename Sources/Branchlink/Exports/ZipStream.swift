import CZlib
import Foundation

/// A ZIP archive (APPNOTE 6.3) written front to back without seeking, so an XLSX of a whole
/// province can be streamed to a client or into storage while it is produced: each entry is
/// deflated as it comes and followed by a data descriptor (general purpose flag bit 3) carrying
/// its CRC-32 and sizes; the central directory is written at the end. No ZIP64: an entry or the
/// archive over `maxBytes` is refused with `ZipStream.Failure.tooLarge` rather than corrupted.
final class ZipStream {
    enum Failure: Error, Equatable {
        case tooLarge
        case deflate(Int32)
        case misuse(String)
    }

    /// ZIP without the ZIP64 extension counts sizes and offsets in 32 bits.
    static let maxBytes: UInt64 = 0xFFFF_FFFE

    private struct Entry {
        let name: [UInt8]
        let offset: UInt32
        var crc: UInt32 = 0
        var compressed: UInt32 = 0
        var uncompressed: UInt32 = 0
    }

    private let output: ([UInt8]) throws -> Void
    private var written: UInt64 = 0
    private var entries: [Entry] = []
    private var open: (entry: Entry, stream: UnsafeMutablePointer<z_stream>, crc: UInt, inBytes: UInt64, outBytes: UInt64)?
    private var outBuffer = [UInt8](repeating: 0, count: 64 * 1024)
    private let dosTime: UInt16
    private let dosDate: UInt16

    init(date: Date = Date(), output: @escaping ([UInt8]) throws -> Void) {
        self.output = output
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "Asia/Ho_Chi_Minh") ?? .gmt
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        dosTime = UInt16((c.hour ?? 0) << 11 | (c.minute ?? 0) << 5 | (c.second ?? 0) / 2)
        dosDate = UInt16(max(0, (c.year ?? 1980) - 1980) << 9 | (c.month ?? 1) << 5 | (c.day ?? 1))
    }

    deinit {
        if let open {
            deflateEnd(open.stream)
            open.stream.deallocate()
        }
    }

    func begin(_ name: String) throws {
        guard open == nil else { throw Failure.misuse("entry \(name) begun inside another") }
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        // Raw deflate (negative window bits): ZIP stores no zlib header. Level 3: most of level 6's
        // ratio on repetitive sheet XML at about twice the speed.
        guard deflateInit2_(stream, 3, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            stream.deallocate()
            throw Failure.deflate(Z_STREAM_ERROR)
        }
        let entry = Entry(name: Array(name.utf8), offset: try offset32())
        var header = Bytes()
        header.u32(0x0403_4b50)
        header.u16(20)          // version needed: 2.0 (deflate)
        header.u16(0x0808)      // bit 3: sizes in a data descriptor; bit 11: UTF-8 names
        header.u16(8)           // deflate
        header.u16(dosTime); header.u16(dosDate)
        header.u32(0); header.u32(0); header.u32(0)
        header.u16(UInt16(entry.name.count)); header.u16(0)
        header.bytes.append(contentsOf: entry.name)
        try emit(header.bytes)
        open = (entry, stream, crc32(0, nil, 0), 0, 0)
    }

    func write(_ bytes: [UInt8]) throws {
        guard var current = open else { throw Failure.misuse("write outside an entry") }
        guard !bytes.isEmpty else { return }
        let previous = current.crc
        current.crc = bytes.withUnsafeBufferPointer { crc32(previous, $0.baseAddress, UInt32($0.count)) }
        current.inBytes += UInt64(bytes.count)
        guard current.inBytes <= Self.maxBytes else { throw Failure.tooLarge }
        open = current
        try deflateChunk(bytes, flush: Z_NO_FLUSH)
    }

    func end() throws {
        guard var current = open else { throw Failure.misuse("end outside an entry") }
        try deflateChunk([], flush: Z_FINISH)
        current = open!
        deflateEnd(current.stream)
        current.stream.deallocate()
        open = nil
        var entry = current.entry
        entry.crc = UInt32(current.crc)
        entry.uncompressed = UInt32(current.inBytes)
        entry.compressed = UInt32(current.outBytes)
        var descriptor = Bytes()
        descriptor.u32(0x0807_4b50)
        descriptor.u32(entry.crc); descriptor.u32(entry.compressed); descriptor.u32(entry.uncompressed)
        try emit(descriptor.bytes)
        entries.append(entry)
    }

    func entry(_ name: String, _ text: String) throws {
        try begin(name)
        try write(Array(text.utf8))
        try end()
    }

    /// The central directory and its end record; the archive is complete after this.
    func finish() throws {
        guard open == nil else { throw Failure.misuse("finish with an open entry") }
        let start = try offset32()
        var dir = Bytes()
        for e in entries {
            dir.u32(0x0201_4b50)
            dir.u16(0x0314)     // made by: UNIX, 2.0
            dir.u16(20); dir.u16(0x0808); dir.u16(8)
            dir.u16(dosTime); dir.u16(dosDate)
            dir.u32(e.crc); dir.u32(e.compressed); dir.u32(e.uncompressed)
            dir.u16(UInt16(e.name.count)); dir.u16(0); dir.u16(0)
            dir.u16(0); dir.u16(0)
            dir.u32(0o100644 << 16)  // regular file, rw-r--r--
            dir.u32(e.offset)
            dir.bytes.append(contentsOf: e.name)
        }
        let size = UInt32(dir.bytes.count)
        dir.u32(0x0605_4b50)
        dir.u16(0); dir.u16(0)
        dir.u16(UInt16(entries.count)); dir.u16(UInt16(entries.count))
        dir.u32(size); dir.u32(start)
        dir.u16(0)
        try emit(dir.bytes)
    }

    private func deflateChunk(_ input: [UInt8], flush: Int32) throws {
        guard var current = open else { return }
        let stream = current.stream
        try input.withUnsafeBufferPointer { inBuf in
            stream.pointee.next_in = UnsafeMutablePointer(mutating: inBuf.baseAddress)
            stream.pointee.avail_in = UInt32(inBuf.count)
            while true {
                let (status, produced) = outBuffer.withUnsafeMutableBufferPointer { outBuf -> (Int32, Int) in
                    stream.pointee.next_out = outBuf.baseAddress
                    stream.pointee.avail_out = UInt32(outBuf.count)
                    let status = deflate(stream, flush)
                    return (status, outBuf.count - Int(stream.pointee.avail_out))
                }
                guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else { throw Failure.deflate(status) }
                if produced > 0 {
                    current.outBytes += UInt64(produced)
                    try emit(Array(outBuffer[0..<produced]))
                }
                if flush == Z_FINISH {
                    if status == Z_STREAM_END { break }
                } else if stream.pointee.avail_in == 0 && produced < outBuffer.count {
                    break
                }
            }
        }
        guard current.outBytes <= Self.maxBytes else { throw Failure.tooLarge }
        open = current
    }

    private func emit(_ bytes: [UInt8]) throws {
        written += UInt64(bytes.count)
        guard written <= Self.maxBytes else { throw Failure.tooLarge }
        try output(bytes)
    }

    private func offset32() throws -> UInt32 {
        guard written <= Self.maxBytes else { throw Failure.tooLarge }
        return UInt32(written)
    }
}

/// Little-endian fields of ZIP records.
private struct Bytes {
    var bytes: [UInt8] = []
    mutating func u16(_ v: UInt16) { bytes.append(UInt8(v & 0xFF)); bytes.append(UInt8(v >> 8)) }
    mutating func u32(_ v: UInt32) { for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8((v >> UInt32(shift)) & 0xFF)) } }
}
