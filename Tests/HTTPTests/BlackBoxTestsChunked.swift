// Black-box cases, checklist §(a) E (chunked request bodies).
import XCTest
import HTTP

final class BlackBoxTestsChunked: BlackBoxCase {
    private func chunked(_ body: String, path: String = "/echo", method: String = "POST") -> String {
        "\(method) \(path) HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\(body)"
    }

    // E1
    func testE01_singleChunk() {
        let r = expect(chunked("5\r\nhello\r\n0\r\n\r\n"), status: 200, then: .usable)
        XCTAssertEqual(r?.text, "hello")
    }

    func testE01_multipleChunksUpperAndLowerHexAndZeroPaddedLastChunk() {
        let body = "a\r\n0123456789\r\nA\r\nabcdefghij\r\n01\r\n!\r\n000\r\n\r\n"
        let r = expect(chunked(body), status: 200, then: .usable)
        XCTAssertEqual(r?.text, "0123456789abcdefghij!")
    }

    func testE01_chunkedWithTransferEncodingCaseInsensitive() {
        let r = expect("POST /echo HTTP/1.1\r\nHost: t\r\ntransfer-encoding: CHUNKED\r\n\r\n3\r\nabc\r\n0\r\n\r\n", status: 200, then: .usable)
        XCTAssertEqual(r?.text, "abc")
    }

    // E2
    func testE02_chunkExtensionsAreIgnored() {
        let r = expect(chunked("5;a=b\r\nhello\r\n6;name=\"quoted; value\";flag\r\n world\r\n0;last\r\n\r\n"), status: 200, then: .usable)
        XCTAssertEqual(r?.text, "hello world")
    }

    // E11
    func testE11_trailersAreAcceptedAndDiscarded() throws {
        let c = try connect()
        c.send(chunked("5\r\nhello\r\n0\r\nX-Trailer: 1\r\nContent-Length: 999\r\n\r\n") + Self.healthz)
        let r1 = try c.readResponse()
        XCTAssertEqual(r1.status, 200)
        XCTAssertEqual(r1.text, "hello")
        let r2 = try c.readResponse()
        XCTAssertEqual(r2.status, 200, "pipelined request after the trailer section")
        assertUsable(c, after: r2)
        assertHealthy()
    }

    // E3 / E4
    func testE03_nonHexSizeIs400() { expect(chunked("zz\r\nhello\r\n0\r\n\r\n"), status: 400, then: .closed) }
    func testE03_hexPrefixSizeIs400() { expect(chunked("0x5\r\nhello\r\n0\r\n\r\n"), status: 400, then: .closed) }
    func testE03_negativeSizeIs400() { expect(chunked("-5\r\nhello\r\n0\r\n\r\n"), status: 400, then: .closed) }
    func testE03_leadingSpaceInSizeIs400() { expect(chunked(" 5\r\nhello\r\n0\r\n\r\n"), status: 400, then: .closed) }
    func testE03_emptySizeLineIs400() { expect(chunked("\r\nhello\r\n0\r\n\r\n"), status: 400, then: .closed) }
    func testE04_sizeOverflowIs400() {
        expect(chunked("10000000000000000\r\nhello\r\n0\r\n\r\n"), status: 400, then: .closed)
    }

    // E5
    func testE05_bareLFAfterSizeIs400() { expect(chunked("5\nhello\r\n0\r\n\r\n"), status: 400, then: .closed) }
    func testE05_bareLFAfterDataIs400() { expect(chunked("5\r\nhello\n0\r\n\r\n"), status: 400, then: .closed) }

    // E6 / E7 / E9
    func testE06_emptyExtensionNameIs400() { expect(chunked("5;\r\nhello\r\n0\r\n\r\n"), status: 400, then: .closed) }
    func testE06_controlCharacterInExtensionIs400() {
        expect(bbBytes(chunked("5;a=")) + [0x01] + bbBytes("\r\nhello\r\n0\r\n\r\n"), status: 400, then: .closed)
    }
    func testE07_trailingWhitespaceAfterSizeIs400() { expect(chunked("5 \r\nhello\r\n0\r\n\r\n"), status: 400, then: .closed) }
    func testE09_extensionOver4KiBIs400() {
        let ext = ";x=" + String(repeating: "a", count: 5_000)
        expect(chunked("5\(ext)\r\nhello\r\n0\r\n\r\n"), status: 400, then: .closed)
    }

    // E8
    func testE08_dataLongerThanSizeIs400() { expect(chunked("3\r\nhello\r\n0\r\n\r\n"), status: 400, then: .closed) }
    func testE08_dataShorterThanSizeIsRejected() {
        // 7 declared, 5 sent + CRLF: the CRLF becomes data, then "0\r" is not CRLF.
        expect(chunked("7\r\nhello\r\n0\r\n\r\n"), status: 400, then: .closed)
    }

    // E10
    func testE10_decodedBodyOverRouteLimitIs413() {
        expect(chunked("20\r\n" + String(repeating: "x", count: 32) + "\r\n0\r\n\r\n", path: "/small", method: "PUT"), status: 413, then: .closed)
    }

    func testE10_limitIsCumulativeAcrossChunks() {
        let ten = String(repeating: "x", count: 10)
        expect(chunked("a\r\n\(ten)\r\na\r\n\(ten)\r\n0\r\n\r\n", path: "/small", method: "PUT"), status: 413, then: .closed)
    }

    func testE10_bodyAtRouteLimitIsAccepted() {
        let sixteen = String(repeating: "y", count: 16)
        let r = expect(chunked("8\r\n\(sixteen.prefix(8))\r\n8\r\n\(sixteen.suffix(8))\r\n0\r\n\r\n", path: "/small", method: "PUT"), status: 200, then: .usable)
        XCTAssertEqual(r?.text, sixteen)
    }

    // E12 (missing last chunk) is covered with a stall in BlackBoxTestsTimeouts.
}
