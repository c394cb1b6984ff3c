/// Incremental decoder of a chunked request body (RFC 9112 §7.1), strict about sizes,
/// extensions and line endings, bounded by the body and extension limits.
///
/// A byte-level state machine: every call consumes all the bytes it is given (until the end of
/// the body or an error), so the caller never has to keep partial chunk lines around. Chunk data
/// is appended to `body` with one bulk copy per contiguous run. Chunk extensions and the trailer
/// section are validated and discarded (trailers are never merged into the header fields).
public struct ChunkedDecoder: Sendable {
    public enum Result: Sendable, Equatable {
        /// All of `consumed` bytes were used; feed more input.
        case needMore(consumed: Int)
        /// The last chunk and the trailer section ended after `consumed` bytes; bytes after it belong
        /// to the next pipelined request.
        case done(consumed: Int)
        case failure(HTTPParseError)
    }

    public let limits: HTTPLimits
    /// Body limit for this request (a route may override `limits.maxBodyBytes`).
    public let maxBodyBytes: Int

    /// Maximum number of hex digits of a chunk-size (15 → at most 2^60 - 1, no overflow).
    static let maxSizeDigits = 15
    /// Non-data overhead tolerated beyond 16 bytes per chunk plus twice the chunk's data
    /// (Go's CVE-2023-39326 rule): defeats tiny chunks with long extensions.
    static let maxExcessOverhead = 16 * 1024

    // The order matters: states up to `sizeLF` belong to the chunk-size line, `sizeWS`…`extPostValue`
    // to its extensions, `trailerLineStart`…`finalLF` to the trailer section.
    enum State: UInt8, Comparable {
        case sizeStart, size, sizeWS, extPreName, extName, extPostName, extPreValue, extToken, extQuoted,
             extQuotedEscape, extPostValue, sizeLF
        case data, dataCR, dataLF
        case trailerLineStart, trailerName, trailerValue, trailerLF, finalLF
        case done

        static func < (a: State, b: State) -> Bool { a.rawValue < b.rawValue }
    }

    private var state: State = .sizeStart
    private var chunkSize = 0
    private var sizeDigits = 0
    private var remaining = 0
    /// Decoded body bytes so far.
    public private(set) var bodyBytes = 0
    private var extBytes = 0
    private var lineBytes = 0
    private var excess = 0
    private var trailerBytes = 0
    private var failed: HTTPParseError?

    public init(limits: HTTPLimits, maxBodyBytes: Int) {
        self.limits = limits
        self.maxBodyBytes = maxBodyBytes
    }

    private mutating func fail(_ e: HTTPParseError) -> Result {
        failed = e
        return .failure(e)
    }

    /// Decodes as much of `bytes` as possible, appending chunk data to `body`. `bytes` starts right
    /// after what the previous call consumed.
    public mutating func decode(_ bytes: UnsafeBufferPointer<UInt8>, into body: inout [UInt8]) -> Result {
        if let e = failed { return .failure(e) }
        if state == .done { return .done(consumed: 0) }
        guard let base = bytes.baseAddress else { return .needMore(consumed: 0) }
        let n = bytes.count
        let cls = ByteClass.table
        var i = 0
        while i < n {
            if state == .data {
                let k = min(remaining, n - i)
                body.append(contentsOf: UnsafeBufferPointer(start: base + i, count: k))
                i += k
                remaining -= k
                if remaining == 0 { state = .dataCR }
                continue
            }
            let c = base[i]
            i += 1
            if state <= .sizeLF {
                lineBytes += 1
                if state >= .sizeWS && state <= .extPostValue && c != ASCII.cr {
                    extBytes += 1
                    if extBytes > limits.maxChunkExtensionBytes { return fail(.badRequest("Chunk extensions are too long.")) }
                }
            } else if state >= .trailerLineStart {
                trailerBytes += 1
                if trailerBytes > limits.maxTrailerBytes { return fail(.headerFieldsTooLarge) }
            }
            let flags = cls[Int(c)]
            let ws = c == ASCII.sp || c == ASCII.htab
            switch state {
            case .sizeStart:
                guard flags & ByteClass.hex != 0 else { return fail(.badRequest("Invalid chunk size.")) }
                chunkSize = ByteClass.hexValue(c)
                sizeDigits = 1
                state = .size
            case .size:
                if flags & ByteClass.hex != 0 {
                    sizeDigits += 1
                    if sizeDigits > Self.maxSizeDigits { return fail(.badRequest("Chunk size is too large.")) }
                    chunkSize = chunkSize << 4 | ByteClass.hexValue(c)
                    continue
                }
                if chunkSize > maxBodyBytes - bodyBytes { return fail(.payloadTooLarge) }
                if c == ASCII.cr {
                    state = .sizeLF
                } else if c == ASCII.semicolon || ws {
                    extBytes = 1
                    if extBytes > limits.maxChunkExtensionBytes { return fail(.badRequest("Chunk extensions are too long.")) }
                    state = c == ASCII.semicolon ? .extPreName : .sizeWS
                } else {
                    return fail(.badRequest("Invalid chunk size."))
                }
            case .sizeWS:
                if ws { continue }
                guard c == ASCII.semicolon else { return fail(.badRequest("Invalid chunk size line.")) }
                state = .extPreName
            case .extPreName:
                if ws { continue }
                guard flags & ByteClass.tchar != 0 else { return fail(.badRequest("Invalid chunk extension.")) }
                state = .extName
            case .extName, .extPostName:
                if flags & ByteClass.tchar != 0 && state == .extName { continue }
                if ws { state = .extPostName }
                else if c == ASCII.equals { state = .extPreValue }
                else if c == ASCII.semicolon { state = .extPreName }
                else if c == ASCII.cr { state = .sizeLF }
                else { return fail(.badRequest("Invalid chunk extension.")) }
            case .extPreValue:
                if ws { continue }
                if c == ASCII.quote { state = .extQuoted }
                else if flags & ByteClass.tchar != 0 { state = .extToken }
                else { return fail(.badRequest("Invalid chunk extension.")) }
            case .extToken, .extPostValue:
                if flags & ByteClass.tchar != 0 && state == .extToken { continue }
                if ws { state = .extPostValue }
                else if c == ASCII.semicolon { state = .extPreName }
                else if c == ASCII.cr { state = .sizeLF }
                else { return fail(.badRequest("Invalid chunk extension.")) }
            case .extQuoted:
                if c == ASCII.quote { state = .extPostValue }
                else if c == ASCII.backslash { state = .extQuotedEscape }
                else if flags & ByteClass.qdtext == 0 { return fail(.badRequest("Invalid chunk extension.")) }
            case .extQuotedEscape:
                guard flags & ByteClass.fieldValue != 0 else { return fail(.badRequest("Invalid chunk extension.")) }
                state = .extQuoted
            case .sizeLF:
                guard c == ASCII.lf else { return fail(.badRequest("Chunk size line must end with CRLF.")) }
                excess += lineBytes + 2
                excess -= 16 + 2 * chunkSize
                if excess < 0 { excess = 0 }
                if excess > Self.maxExcessOverhead { return fail(.badRequest("Too much chunk overhead.")) }
                lineBytes = 0
                extBytes = 0
                if chunkSize == 0 {
                    state = .trailerLineStart
                    trailerBytes = 0
                } else {
                    bodyBytes += chunkSize
                    remaining = chunkSize
                    body.reserveCapacity(body.count + min(chunkSize, 1 << 20))
                    state = .data
                }
            case .data:
                break // handled above
            case .dataCR:
                guard c == ASCII.cr else { return fail(.badRequest("Chunk data must be followed by CRLF.")) }
                state = .dataLF
            case .dataLF:
                guard c == ASCII.lf else { return fail(.badRequest("Chunk data must be followed by CRLF.")) }
                state = .sizeStart
            case .trailerLineStart:
                if c == ASCII.cr { state = .finalLF }
                else if flags & ByteClass.tchar != 0 { state = .trailerName }
                else { return fail(.badRequest("Invalid trailer field.")) }
            case .trailerName:
                if flags & ByteClass.tchar != 0 { continue }
                guard c == ASCII.colon else { return fail(.badRequest("Invalid trailer field.")) }
                state = .trailerValue
            case .trailerValue:
                if flags & ByteClass.fieldValue != 0 { continue }
                guard c == ASCII.cr else { return fail(.badRequest("Invalid trailer field.")) }
                state = .trailerLF
            case .trailerLF:
                guard c == ASCII.lf else { return fail(.badRequest("Bare CR in the trailer section.")) }
                state = .trailerLineStart
            case .finalLF:
                guard c == ASCII.lf else { return fail(.badRequest("Bare CR after the last chunk.")) }
                state = .done
                return .done(consumed: i)
            case .done:
                return .done(consumed: i - 1)
            }
        }
        return .needMore(consumed: n)
    }
}
