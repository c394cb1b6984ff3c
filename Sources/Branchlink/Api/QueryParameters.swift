import Foundation
import HTTP

/// Typed reading of list filters: absent → nil, malformed → 400 `invalid_parameter` naming the
/// parameter, so every list answers the same way to the same mistake.
extension Request {
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
