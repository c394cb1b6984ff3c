import Foundation
import Postgres

/// Walks the audit chain in sequence order and names the first record that breaks it.
///
/// A record is broken when its sequence is not the previous one + 1 (a record is missing), when its
/// `prev_hash` differs from the previous record's `hash` (this record or the one before was
/// replaced), or when its `hash` differs from the SHA-256 of its canonical form (a field was
/// changed). What a chain alone cannot show is records cut off its end: compare `last` with a
/// copy of a recent head kept elsewhere for that.
///
/// Reads in batches of `batchSize` by primary key, so memory stays flat and each statement is
/// short; a range (`from`/`to`) checks part of a long chain (its first record is linked to the
/// stored hash of the record before it).
public enum AuditVerifier {
    public struct Result: Sendable, Equatable {
        public var checked: Int
        public var firstBroken: Int64?
        public var reason: String?
        public var lastSequence: Int64?
        public var lastHash: [UInt8]?
        public var intact: Bool { firstBroken == nil }
    }

    public static func verify(_ db: Connection, from: Int64 = 1, to: Int64? = nil, batchSize: Int = 10_000) throws -> Result {
        var expected = max(1, from)
        var prevHash: [UInt8]
        if expected == 1 {
            prevHash = AuditRecord.genesis
        } else if let row = try db.queryRow("SELECT hash FROM audit_records WHERE sequence = $1", Int(expected - 1)) {
            prevHash = try row.decode([UInt8].self, 0)
        } else {
            return Result(checked: 0, firstBroken: expected - 1, reason: "missing", lastSequence: nil, lastHash: nil)
        }
        var result = Result(checked: 0, firstBroken: nil, reason: nil, lastSequence: nil, lastHash: nil)
        let upper = to ?? Int64.max
        while expected <= upper {
            let rows = try db.query("""
                SELECT \(AuditChain.columns) FROM audit_records a
                WHERE a.sequence >= $1 AND a.sequence <= $2 ORDER BY a.sequence LIMIT \(batchSize)
                """, Int(expected), Int(upper))
            var count = 0
            for row in rows {
                count += 1
                let r = try AuditChain.record(row: row)
                if let reason = check(r, expected: expected, prevHash: prevHash) {
                    result.firstBroken = r.sequence == expected ? r.sequence : expected
                    result.reason = reason
                    return result
                }
                result.checked += 1
                result.lastSequence = r.sequence
                result.lastHash = r.hash
                prevHash = r.hash
                expected += 1
            }
            if count < batchSize { break }
        }
        return result
    }

    /// Why `r` breaks the chain at position `expected` after a record whose hash is `prevHash`.
    static func check(_ r: AuditRecord, expected: Int64, prevHash: [UInt8]) -> String? {
        if r.sequence != expected { return "missing" }
        if r.prevHash != prevHash { return "prev_hash_mismatch" }
        if r.computedHash != r.hash { return "hash_mismatch" }
        return nil
    }
}
