import Foundation
import HTTP

/// Printable documents: HTML by default, PDF with `Accept: application/pdf`. The PDF is the same
/// HTML printed by headless Chromium (Debian package `chromium`): the one engine that lays out the
/// Vietnamese text and the A4 page exactly as the browser preview the officers check, with no
/// second template to keep in step. It runs only for PDF requests (rare: a letter is printed
/// once), with a time limit, in a private temporary directory; without Chromium the request gets a
/// clear 503 naming the package.
enum PrintOutput {
    static func respond(_ request: Request, html: String, filename: String) throws -> Response {
        let accept = request.headers["accept"]?.lowercased() ?? ""
        if accept.contains("application/pdf") {
            let pdf = try PDFRenderer.render(html: html)
            return Response(status: 200, headers: [
                "content-type": "application/pdf",
                "content-disposition": "inline; filename=\"\(filename).pdf\"",
            ], body: pdf)
        }
        if !accept.isEmpty && !accept.contains("text/html") && !accept.contains("*/*") && !accept.contains("text/*") {
            throw APIError(status: 406, code: "not_acceptable", detail: "This document is available as text/html or application/pdf.")
        }
        return Response(status: 200, headers: ["content-type": "text/html; charset=utf-8"], body: Array(html.utf8))
    }
}

enum PDFRenderer {
    static let candidates = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]

    static func render(html: String, timeoutSeconds: Double = 30) throws -> [UInt8] {
        guard let chromium = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw APIError(status: 503, code: "pdf_unavailable",
                           detail: "PDF output needs headless Chromium on the server (apt-get install chromium); HTML is available.")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bl-pdf-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("doc.html"), output = dir.appendingPathComponent("doc.pdf")
        try Data(html.utf8).write(to: input)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: chromium)
        process.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer", "--user-data-dir=\(dir.path)/profile",
                             "--print-to-pdf=\(output.path)", input.absoluteString]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            throw APIError(status: 503, code: "pdf_unavailable", detail: "PDF rendering timed out; HTML is available.")
        }
        guard let data = FileManager.default.contents(atPath: output.path), data.starts(with: Array("%PDF".utf8)) else {
            throw APIError(status: 503, code: "pdf_unavailable", detail: "PDF rendering failed; HTML is available.")
        }
        return [UInt8](data)
    }
}
