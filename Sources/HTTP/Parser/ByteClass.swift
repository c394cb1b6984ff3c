/// 256-entry byte classification table shared by the head parser and the chunked decoder
/// (picohttpparser style): one load + one mask per byte instead of range comparisons.
enum ByteClass {
    /// tchar (RFC 9110 §5.6.2): field names, methods, transfer-coding and chunk-ext tokens.
    static let tchar: UInt8 = 1 << 0
    /// Allowed inside a field value: HTAB, SP, VCHAR, obs-text (0x80–0xFF).
    static let fieldValue: UInt8 = 1 << 1
    /// Allowed after the method in the request line: SP and VCHAR (no CTL, no DEL, no obs-text).
    static let requestLine: UInt8 = 1 << 2
    /// HEXDIG.
    static let hex: UInt8 = 1 << 3
    /// DIGIT.
    static let digit: UInt8 = 1 << 4
    /// reg-name / port characters of a Host: unreserved, sub-delims except ',', '%', ':'.
    static let host: UInt8 = 1 << 5
    /// qdtext of a quoted-string: HTAB, SP, 0x21, 0x23–0x5B, 0x5D–0x7E, obs-text.
    static let qdtext: UInt8 = 1 << 6

    /// The table, allocated once and never freed (immutable after initialisation).
    nonisolated(unsafe) static let table: UnsafePointer<UInt8> = {
        let t = UnsafeMutablePointer<UInt8>.allocate(capacity: 256)
        t.initialize(repeating: 0, count: 256)
        let tcharExtras = Array("!#$%&'*+-.^_`|~".utf8)
        let hostExtras = Array("-._~!$&'()*+;=%:".utf8)
        for b in 0..<256 {
            let c = UInt8(b)
            var f: UInt8 = 0
            let isAlpha = (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
            let isDigit = c >= 0x30 && c <= 0x39
            let isVChar = c >= 0x21 && c <= 0x7E
            if isAlpha || isDigit || tcharExtras.contains(c) { f |= tchar }
            if isVChar || c >= 0x80 || c == 0x20 || c == 0x09 { f |= fieldValue }
            if isVChar || c == 0x20 { f |= requestLine }
            if isDigit || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66) { f |= hex }
            if isDigit { f |= digit }
            if isAlpha || isDigit || hostExtras.contains(c) { f |= host }
            if c == 0x09 || c == 0x20 || c == 0x21 || (c >= 0x23 && c <= 0x5B) || (c >= 0x5D && c <= 0x7E) || c >= 0x80 {
                f |= qdtext
            }
            t[b] = f
        }
        return UnsafePointer(t)
    }()

    @inline(__always)
    static func hexValue(_ c: UInt8) -> Int {
        c <= 0x39 ? Int(c &- 0x30) : Int((c | 0x20) &- 0x61) &+ 10
    }
}

/// ASCII byte constants.
enum ASCII {
    static let cr: UInt8 = 0x0D
    static let lf: UInt8 = 0x0A
    static let sp: UInt8 = 0x20
    static let htab: UInt8 = 0x09
    static let colon: UInt8 = 0x3A
    static let semicolon: UInt8 = 0x3B
    static let equals: UInt8 = 0x3D
    static let comma: UInt8 = 0x2C
    static let quote: UInt8 = 0x22
    static let backslash: UInt8 = 0x5C
    static let slash: UInt8 = 0x2F
    static let question: UInt8 = 0x3F
    static let hash: UInt8 = 0x23
    static let star: UInt8 = 0x2A
    static let at: UInt8 = 0x40
    static let lbracket: UInt8 = 0x5B
    static let rbracket: UInt8 = 0x5D
    static let percent: UInt8 = 0x25
}
