import Crypto
import Foundation

/// The pure rules of webhooks, table-tested in WebhookTests: signing (Standard Webhooks), secrets,
/// the retry schedule, auto-pause, event-type patterns and destination checks.
public enum WebhookRules {
    // MARK: Signing (https://www.standardwebhooks.com: webhook-id, webhook-timestamp, webhook-signature)

    /// `whsec_` + base64 of 32 random bytes.
    public static func newSecret() -> String {
        var g = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &g) }
        return "whsec_" + Data(bytes).base64EncodedString()
    }

    /// The key of a secret: the base64 after the `whsec_` prefix, decoded.
    public static func key(ofSecret secret: String) -> [UInt8]? {
        let b64 = secret.hasPrefix("whsec_") ? String(secret.dropFirst(6)) : secret
        return Data(base64Encoded: b64).map { [UInt8]($0) }
    }

    /// `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`.
    public static func signature(secret: String, messageID: String, timestamp: Int, body: [UInt8]) -> String? {
        guard let key = key(ofSecret: secret) else { return nil }
        var content = Array("\(messageID).\(timestamp).".utf8)
        content += body
        let mac = HMAC<SHA256>.authenticationCode(for: content, using: SymmetricKey(data: key))
        return "v1," + Data(mac).base64EncodedString()
    }

    /// The webhook-signature header: one signature per active secret, space-separated (the newest
    /// first; during a rotation's overlap the previous secret's signature follows).
    public static func signatureHeader(secrets: [String], messageID: String, timestamp: Int, body: [UInt8]) -> String {
        secrets.compactMap { signature(secret: $0, messageID: messageID, timestamp: timestamp, body: body) }.joined(separator: " ")
    }

    /// A receiver's check, as the spec describes it (used by the tests' receiver and documented for
    /// integrators): the timestamp within `tolerance` seconds of `now`, and one of the header's
    /// signatures equal (constant time) to the one computed with `secret`.
    public static func verify(secret: String, messageID: String, timestamp: String, signatureHeader: String, body: [UInt8],
                              now: Date = Date(), tolerance: TimeInterval = 300) -> Bool {
        guard let ts = Int(timestamp), abs(now.timeIntervalSince1970 - Double(ts)) <= tolerance,
              let expected = signature(secret: secret, messageID: messageID, timestamp: ts, body: body) else { return false }
        let e = Array(expected.utf8)
        return signatureHeader.split(separator: " ").contains { candidate in
            let c = Array(candidate.utf8)
            guard c.count == e.count else { return false }
            var diff: UInt8 = 0
            for i in 0..<c.count { diff |= c[i] ^ e[i] }
            return diff == 0
        }
    }

    // MARK: Retries

    /// Deliveries are retried for this long after they were created (or redelivered), then dead.
    public static let retryWindow: TimeInterval = 24 * 3600
    /// A rotated-out secret keeps signing for this long by default.
    public static let defaultRotationOverlap: TimeInterval = 24 * 3600

    /// The delay before attempt `failedAttempts + 1`: 30 s doubling per failure, capped at one hour,
    /// times `jitter` (drawn from 0.8…1.2 by the sender, so deliveries that failed together do
    /// not all come back at the same second). About 30 attempts fit in the 24-hour window.
    public static func backoff(failedAttempts n: Int, jitter: Double = 1) -> TimeInterval {
        let base = min(30 * pow(2, Double(max(0, n - 1))), 3600)
        return base * jitter
    }

    /// After attempt `n` failed at `failedAt`: when to try again, or nil when the next attempt would
    /// fall after the deadline (the delivery is dead). Every delivery gets at least one attempt,
    /// also one held past its deadline by a paused subscription.
    public static func nextAttempt(failedAttempts n: Int, failedAt: Date, deadline: Date, jitter: Double = 1) -> Date? {
        let next = failedAt.addingTimeInterval(backoff(failedAttempts: n, jitter: jitter))
        return next > deadline ? nil : next
    }

    /// From this many failed attempts in a row (any deliveries) the subscription itself backs off.
    public static let backoffAfterFailures = 3

    /// Until when no delivery of a subscription is tried after its `n`-th failure in a row at
    /// `failedAt` (nil below `backoffAfterFailures`: one failed request does not hold up the
    /// others): the delivery back-off of `n - 1` failures (60 s, 120 s, … up to 1 h, with jitter).
    /// Without it a receiver that is down would get every queued delivery, each waiting for the
    /// timeout, while other subscriptions' deliveries wait behind them.
    public static func backoffUntil(consecutiveFailures n: Int, failedAt: Date, jitter: Double = 1) -> Date? {
        n < backoffAfterFailures ? nil : failedAt.addingTimeInterval(backoff(failedAttempts: n - 1, jitter: jitter))
    }

    /// Auto-pause: a subscription whose last `pauseAfterFailures` attempts (any deliveries) all
    /// failed, over at least `pauseAfterSeconds` since the first of them. Both are needed: a burst
    /// of queued deliveries failing during a one-minute outage is not enough, nor is one slow retry
    /// an hour later. With the subscription's back-off the tenth failure comes about 3 hours
    /// after the first.
    public static let pauseAfterFailures = 10
    public static let pauseAfterSeconds: TimeInterval = 3600

    public static func shouldPause(consecutiveFailures: Int, failingSince: Date?, now: Date,
                                   afterFailures: Int = pauseAfterFailures, afterSeconds: TimeInterval = pauseAfterSeconds) -> Bool {
        guard consecutiveFailures >= afterFailures, let since = failingSince else { return false }
        return now.timeIntervalSince(since) >= afterSeconds
    }

    // MARK: Event types

    /// Every event type the service emits (grep `EventLog.append(` and `INSERT INTO events`), the
    /// vocabulary of `event_types`. A subscription lists names, `<prefix>.*` patterns of a known
    /// prefix, or `*` (everything).
    public static let knownEventTypes: [String] = [
        "account.created", "account.disabled",
        "assessment_campaign.created", "assessment_campaign.completed",
        "assessment_form.saved", "assessment_meeting.recorded",
        "assessment_request.created", "assessment_request.forwarded", "assessment_request.submitted",
        "assessment_request.sent_back", "assessment_request.confirmed", "assessment_request.closed", "assessment_request.cancelled",
        "change_notice.sent", "change_notice.acknowledged",
        "delegation.created", "delegation.revoked",
        "demo.loaded", "demo.exchanges_loaded", "demo.assessments_loaded",
        "escalation.created", "escalation.resolved", "escalation.acknowledged",
        "import.completed",
        "introduction.sent", "introduction.received", "introduction.assigned", "introduction.acknowledged",
        "introduction.returned", "introduction.withdrawn", "introduction.ended",
        "member.created", "member.updated",
        "organization.created", "organization.updated", "organization.moved", "organization.merged",
        "policy.updated",
        "reminder.due_soon", "reminder.overdue",
        "residence_meeting.recorded", "residence_meeting.attendance_recorded",
        "residence_report.sent", "residence_report.acknowledged",
        "token.created", "token.revoked",
        "webhook.created", "webhook.updated", "webhook.deleted", "webhook.secret_rotated", "webhook.auto_paused",
    ]

    /// nil when `pattern` is a known type, a `<known prefix>.*` pattern or `*`; else why not.
    public static func eventTypeProblem(_ pattern: String) -> String? {
        if pattern == "*" || knownEventTypes.contains(pattern) { return nil }
        if pattern.hasSuffix(".*") {
            let prefix = pattern.dropLast(1)
            return knownEventTypes.contains { $0.hasPrefix(prefix) } ? nil : "no event type starts with \(prefix)"
        }
        return "is not a known event type (see the EventType schema), a <prefix>.* pattern or *"
    }

    /// Does `type` match one of `patterns`? (The same rule as the SQL in WebhookDispatch.)
    public static func matches(_ type: String, _ patterns: [String]) -> Bool {
        patterns.contains { $0 == "*" || $0 == type || ($0.hasSuffix(".*") && type.hasPrefix($0.dropLast(1))) }
    }

    // MARK: Destinations

    /// The URL's problem for a subscription (nil when acceptable): http only (https is refused:
    /// the service has no TLS client of its own, see openapi.yaml), a host, no credentials, no
    /// fragment; literal loopback/private/link-local addresses and `localhost` unless private
    /// destinations are allowed. Names are resolved and checked again by the sender on every attempt.
    public static func urlProblem(_ url: String, allowPrivate: Bool) -> (code: String, message: String)? {
        guard url.count <= 2000, let c = URLComponents(string: url), let scheme = c.scheme?.lowercased() else {
            return ("format", "must be an absolute http:// URL")
        }
        if scheme == "https" {
            return ("unsupported_scheme", "https:// is not supported by this server's sender; use http:// (e.g. behind a TLS-originating egress proxy)")
        }
        guard scheme == "http", let host = c.host, !host.isEmpty else { return ("format", "must be an absolute http:// URL") }
        guard c.user == nil, c.password == nil, c.fragment == nil else { return ("format", "must not carry credentials or a fragment") }
        if let port = c.port, !(1...65535).contains(port) { return ("format", "has an invalid port") }
        if !allowPrivate {
            let h = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            if h == "localhost" || h.hasSuffix(".localhost") || isPrivateAddress(h) == true {
                return ("destination_not_allowed", "points at a loopback or private address (allowed only with --webhook-allow-private)")
            }
        }
        return nil
    }

    /// For an IP literal: true when loopback, private (RFC 1918, ULA), link-local, CGNAT,
    /// unspecified or multicast; false for a public address; nil when `host` is not an IP literal.
    public static func isPrivateAddress(_ host: String) -> Bool? {
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 {
            let a = UInt32(bigEndian: v4.s_addr)
            let b0 = a >> 24, b1 = (a >> 16) & 0xff
            return b0 == 0 || b0 == 10 || b0 == 127 || (b0 == 169 && b1 == 254) || (b0 == 172 && (16...31).contains(b1))
                || (b0 == 192 && b1 == 168) || (b0 == 100 && (64...127).contains(b1)) || b0 >= 224
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, host, &v6) == 1 {
            let bytes = withUnsafeBytes(of: &v6) { Array($0) }
            if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xff && bytes[11] == 0xff {
                return isPrivateAddress("\(bytes[12]).\(bytes[13]).\(bytes[14]).\(bytes[15])")  // IPv4-mapped
            }
            let zeroPrefix = bytes[0..<15].allSatisfy { $0 == 0 }
            return (zeroPrefix && (bytes[15] == 0 || bytes[15] == 1)) || (bytes[0] & 0xfe) == 0xfc
                || (bytes[0] == 0xfe && (bytes[1] & 0xc0) == 0x80) || bytes[0] == 0xff
        }
        return nil
    }
}
