import Foundation
import HTTP
import Synchronization

/// Per-token token bucket (`limit` requests per `window`, refilled continuously), in memory per
/// instance: behind a load balancer with N instances a token gets at most N × limit. The headers
/// follow draft-ietf-httpapi-ratelimit-headers (RateLimit-Limit/Remaining/Reset).
public final class RateLimiter: Sendable {
    public struct Decision {
        public let allowed: Bool
        public let remaining: Int
        public let resetSeconds: Int
        let limit: Int
        var headers: HTTPHeaders {
            ["ratelimit-limit": String(limit), "ratelimit-remaining": String(remaining), "ratelimit-reset": String(resetSeconds)]
        }
    }

    private struct Bucket { var tokens: Double; var updated: UInt64 }
    private let buckets = Mutex<[UUID: Bucket]>([:])
    public let limit: Int
    public let windowSeconds: Double

    public init(limit: Int = 1200, windowSeconds: Double = 60) {
        self.limit = limit
        self.windowSeconds = windowSeconds
    }

    public func take(key: UUID, now: UInt64 = System.now()) -> Decision {
        let rate = Double(limit) / windowSeconds
        return buckets.withLock { all in
            var b = all[key] ?? Bucket(tokens: Double(limit), updated: now)
            b.tokens = min(Double(limit), b.tokens + Double(now &- b.updated) / 1e9 * rate)
            b.updated = now
            let allowed = b.tokens >= 1
            if allowed { b.tokens -= 1 }
            all[key] = b
            if all.count > 100_000 { all = all.filter { now &- $0.value.updated < UInt64(windowSeconds * 1e9) } }
            let reset = allowed ? Int(((Double(limit) - b.tokens) / rate).rounded(.up)) : Int(((1 - b.tokens) / rate).rounded(.up))
            return Decision(allowed: allowed, remaining: Int(b.tokens), resetSeconds: max(1, reset), limit: limit)
        }
    }
}
