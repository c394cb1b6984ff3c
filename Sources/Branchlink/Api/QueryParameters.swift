import Foundation
import HTTP

/// Typed reading of list filters: absent → nil, malformed → 400 `invalid_parameter` naming the
/// parameter, so every list answers the same way to the same mistake.
extension Request {
    /// The `{name}` path segment as a UUID; anything else names no resource: 404, like an unknown id.
    func pathUUID(_ name: String = "id", notFound what: String) throws -> UUID {
        guard let s = parameter(name), let id = UUID(uuidString: s) else { throw APIError.notFound(what) }
        return id
    }

    func uuidQuery(_ name: String) throws -> UUID? {
        guard let v = query(name) else { return nil }
        guard let id = UUID(uuidString: v) else { throw APIError.invalidParameter(name, "must be a UUID") }
        return id
    }

    func boolQuery(_ name: String) throws -> Bool? {
        guard let v = query(name) else { return nil }
        guard v == "true" || v == "false" else { throw APIError.invalidParameter(name, "must be true or false") }
        return v == "true"
    }
}
