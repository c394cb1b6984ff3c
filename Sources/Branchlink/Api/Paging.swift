import Foundation
import HTTP

/// Keyset paging: `limit` (1…500, default 50) and an opaque `cursor` holding the sort key of the
/// last row returned. Rows inserted between two pages never shift the others (no row is lost or
/// repeated), unlike OFFSET paging.
public struct Page {
    public let limit: Int
    /// Sort-key values of the last row of the previous page, as the list's SQL expects them.
    public let after: [String]?

    public static let defaultLimit = 50
    public static let maxLimit = 500

    public init(limit: Int = Page.defaultLimit, after: [String]? = nil) {
        self.limit = limit; self.after = after
    }

    public init(_ request: Request, keyCount: Int) throws {
        if let l = request.query("limit") {
            guard let n = Int(l), (1...Page.maxLimit).contains(n) else {
                throw APIError.invalidParameter("limit", "must be an integer from 1 to \(Page.maxLimit)")
            }
            limit = n
        } else {
            limit = Page.defaultLimit
        }
        if let c = request.query("cursor"), !c.isEmpty {
            guard let keys = Page.decode(c), keys.count == keyCount else {
                throw APIError(status: 400, code: "invalid_cursor", detail: "The cursor is not one this list issued.")
            }
            after = keys
        } else {
            after = nil
        }
    }

    public static func encode(_ keys: [String]) -> String {
        let data = try! JSONSerialization.data(withJSONObject: keys)
        return data.base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func decode(_ cursor: String) -> [String]? {
        var b64 = cursor.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b64.count % 4 != 0 { b64 += "=" }
        guard let data = Data(base64Encoded: b64),
              let arr = try? JSONSerialization.jsonObject(with: data) as? [String] else { return nil }
        return arr
    }

    /// `{"items": [...], "next_cursor": …}` plus `Link: <…>; rel="next"` when there is a next page.
    /// `items` are already-encoded JSON objects; `nextKeys` is the sort key of the last item when the
    /// page is full.
    public static func response(_ request: Request, items: [[UInt8]], nextKeys: [String]?) -> Response {
        var body: [UInt8] = Array(#"{"items":["#.utf8)
        for (i, item) in items.enumerated() {
            if i > 0 { body.append(UInt8(ascii: ",")) }
            body.append(contentsOf: item)
        }
        body.append(contentsOf: #"],"next_cursor":"#.utf8)
        var r = Response.json(200, [])
        if let nextKeys {
            let cursor = encode(nextKeys)
            body.append(contentsOf: "\"\(cursor)\"".utf8)
            r.headers.set("link", "<\(nextURL(request, cursor: cursor))>; rel=\"next\"")
        } else {
            body.append(contentsOf: "null".utf8)
        }
        body.append(UInt8(ascii: "}"))
        r.body = body
        return r
    }

    static func nextURL(_ request: Request, cursor: String) -> String {
        var parts = request.queryItems.filter { $0.name != "cursor" }.map { "\(escape($0.name))=\(escape($0.value))" }
        parts.append("cursor=\(cursor)")
        return request.path + "?" + parts.joined(separator: "&")
    }

    static func escape(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: .urlQueryValueAllowed) ?? s
    }
}

extension CharacterSet {
    static let urlQueryValueAllowed: CharacterSet = {
        var s = CharacterSet.alphanumerics
        s.insert(charactersIn: "-._~")
        return s
    }()
}
