import Foundation
import HTTP
import Postgres

/// The two answers of every list, written once: a keyset page of JSON items (`items`,
/// `next_cursor`, `Link: rel="next"`), or with `Accept: text/csv` the whole filtered set streamed
/// as CSV. A list supplies one `fetch` (a page after a keyset position) used by both.
enum Listing {
    typealias Fetch<Item> = @Sendable (_ db: Connection, _ after: [String]?, _ limit: Int) throws -> (items: [Item], next: [String]?)

    static func respond<Item: Encodable>(_ request: Request, _ ctx: AppContext, csv filename: String, header: [String],
                                         row: @escaping @Sendable (Item) -> [String?], keyCount: Int = 2,
                                         fetch: @escaping Fetch<Item>) throws -> Response {
        try respond(request, ctx, csv: filename, header: header, row: row, keyCount: keyCount, encode: { try JSONOutput.encode($0) }, fetch: fetch)
    }

    /// The same with a hand-written JSON encoding of the items.
    static func respond<Item>(_ request: Request, _ ctx: AppContext, csv filename: String, header: [String],
                              row: @escaping @Sendable (Item) -> [String?], keyCount: Int = 2,
                              encode: (Item) throws -> [UInt8], fetch: @escaping Fetch<Item>) throws -> Response {
        if let format = TableOutput.format(request) {
            let db = SameThread(ctx.db)
            return TableOutput.stream(format, filename: filename, header: header) { after, limit in
                let (items, next) = try fetch(db.value, after, limit)
                return (items.map(row), next)
            }
        }
        let page = try Page(request, keyCount: keyCount)
        let (items, next) = try fetch(ctx.db, page.after, page.limit)
        return Page.response(request, items: try items.map(encode), nextKeys: next)
    }
}

/// The `(created_at, id)` keyset most lists are ordered by.
enum CreatedKeyset {
    /// The condition "after this position" on `alias`, binding its two values through `bind`; nil
    /// on the first page; 400 `invalid_cursor` for a position this list did not issue. Timestamps
    /// travel as text: a Date round trip would lose microseconds.
    static func condition(after keys: [String]?, alias: String, bind: (any PostgresEncodable) -> Int) throws -> String? {
        guard let keys else { return nil }
        guard keys.count == 2, Timestamp.parse(keys[0]) != nil, let id = UUID(uuidString: keys[1]) else {
            throw APIError(status: 400, code: "invalid_cursor", detail: "The cursor is not one this list issued.")
        }
        return "(\(alias).created_at, \(alias).id) > ($\(bind(keys[0]))::text::timestamptz, $\(bind(id)))"
    }

    /// The page (at most `limit` of the `limit + 1` rows fetched) and the position after its last
    /// item when there is more.
    static func page<Item>(_ fetched: [Item], limit: Int, key: (Item) -> (createdAt: Date, id: UUID)) -> (items: [Item], next: [String]?) {
        let items = Array(fetched.prefix(limit))
        guard fetched.count > limit, let last = items.last else { return (items, nil) }
        let k = key(last)
        return (items, [Timestamp.rfc3339(k.createdAt), k.id.lower])
    }
}
