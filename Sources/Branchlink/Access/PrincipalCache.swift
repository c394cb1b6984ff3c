import Foundation
import HTTP
import Synchronization

/// Principals of recently used tokens, keyed by the token's SHA-256, so that a busy token does not
/// pay a database round trip on every request.
///
/// Staleness bound:
/// - in this process, revoking a token, disabling an account and moving, merging or changing an
///   organization invalidate the affected entries right after their transaction commits: the next
///   request reads the database again;
/// - changes made by another process (another instance behind the load balancer, the CLI, SQL by
///   hand) are seen after at most `ttl` (default 5 s): an entry is never used longer than that;
/// - an entry never outlives the token's `expires_at`.
///
/// A request that read the database before an invalidation must not put back what it read: every
/// invalidation bumps a generation, and an insert carrying an older generation is dropped.
public final class PrincipalCache: Sendable {
    struct Key: Hashable, Sendable {
        let a: UInt64, b: UInt64, c: UInt64, d: UInt64
        init(_ hash: [UInt8]) {
            func word(_ i: Int) -> UInt64 {
                var w: UInt64 = 0
                for j in 0..<8 { w = w << 8 | UInt64(hash[i * 8 + j]) }
                return w
            }
            a = word(0); b = word(1); c = word(2); d = word(3)
        }
    }

    private struct Entry {
        let principal: Principal
        let until: UInt64
        let tokenExpiresAt: Date?
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        var generation: UInt64 = 0
    }

    private let state = Mutex(State())
    /// Nanoseconds an entry is used; 0 disables the cache.
    let ttl: UInt64
    let capacity: Int

    public init(ttlSeconds: Double = 5, capacity: Int = 10_000) {
        ttl = UInt64(max(0, ttlSeconds) * 1e9)
        self.capacity = capacity
    }

    var enabled: Bool { ttl > 0 }

    func lookup(_ key: Key, now: UInt64 = System.now()) -> Principal? {
        guard enabled else { return nil }
        let hit = state.withLock { s -> Entry? in
            guard let e = s.entries[key] else { return nil }
            if e.until <= now { s.entries[key] = nil; return nil }
            return e
        }
        guard let hit else { return nil }
        if let expires = hit.tokenExpiresAt, expires <= Date() { return nil }
        return hit.principal
    }

    /// The generation to pass to `insert` for a database read that starts now.
    func generation() -> UInt64 { state.withLock { $0.generation } }

    func insert(_ key: Key, _ principal: Principal, tokenExpiresAt: Date?, readAt generation: UInt64, now: UInt64 = System.now()) {
        guard enabled else { return }
        state.withLock { s in
            guard s.generation == generation else { return }
            if s.entries.count >= capacity {
                s.entries = s.entries.filter { $0.value.until > now }
                if s.entries.count >= capacity { s.entries.removeAll(keepingCapacity: true) }
            }
            s.entries[key] = Entry(principal: principal, until: now &+ ttl, tokenExpiresAt: tokenExpiresAt)
        }
    }

    public func invalidate(tokenID: UUID) { invalidate { $0.tokenID == tokenID } }
    public func invalidate(accountID: UUID) { invalidate { $0.accountID == accountID } }
    /// Organization changes can alter the path, kind or parent of any account's organization.
    public func invalidateAll() { invalidate { _ in true } }

    private func invalidate(_ matches: (Principal) -> Bool) {
        state.withLock { s in
            s.generation &+= 1
            s.entries = s.entries.filter { !matches($0.value.principal) }
        }
    }
}
