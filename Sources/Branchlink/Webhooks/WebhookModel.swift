import Foundation
import Postgres

/// A webhook subscription as the API shows it. The secret is part of the body only when it was
/// just generated (create, rotate-secret): `secret` is set on those responses alone.
struct WebhookSubscription: Encodable {
    var id: UUID
    var orgId: UUID
    var url: String
    var eventTypes: [String]
    var description: String?
    var status: String
    var pausedReason: String?
    var pausedAt: Date?
    var previousSecretExpiresAt: Date?
    var consecutiveFailures: Int
    var failingSince: Date?
    var backoffUntil: Date?
    var createdAt: Date
    var updatedAt: Date
    var version: Int
    var orgPath: String
    var orgKind: String
    /// Only in the responses of create and rotate-secret.
    var secret: String?

    enum CodingKeys: String, CodingKey {
        case id, orgId, url, eventTypes, description, status, pausedReason, pausedAt, previousSecretExpiresAt
        case consecutiveFailures, failingSince, backoffUntil, createdAt, updatedAt, version, secret
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id.lower, forKey: .id)
        try c.encode(orgId.lower, forKey: .orgId)
        try c.encode(url, forKey: .url)
        try c.encode(eventTypes, forKey: .eventTypes)
        try c.encode(description, forKey: .description)
        try c.encode(status, forKey: .status)
        try c.encode(pausedReason, forKey: .pausedReason)
        try c.encode(pausedAt, forKey: .pausedAt)
        try c.encode(previousSecretExpiresAt, forKey: .previousSecretExpiresAt)
        try c.encode(consecutiveFailures, forKey: .consecutiveFailures)
        try c.encode(failingSince, forKey: .failingSince)
        try c.encode(backoffUntil, forKey: .backoffUntil)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(updatedAt, forKey: .updatedAt)
        try c.encode(version, forKey: .version)
        if let secret { try c.encode(secret, forKey: .secret) }
    }

    static let columns = """
        w.id, w.org_id, w.url, w.event_types, w.description, w.status, w.paused_reason, w.paused_at, w.previous_secret_expires_at,
        w.consecutive_failures, w.failing_since, w.created_at, w.updated_at, w.version, o.path::text, o.kind, w.backoff_until
        """
    static let from = "webhook_subscriptions w JOIN organizations o ON o.id = w.org_id"

    init(row: Row) throws {
        id = try row.decode(UUID.self, 0)
        orgId = try row.decode(UUID.self, 1)
        url = try row.decode(String.self, 2)
        eventTypes = try row.decode([String].self, 3)
        description = try row.decode(String?.self, 4)
        status = try row.decode(String.self, 5)
        pausedReason = try row.decode(String?.self, 6)
        pausedAt = try row.decode(Date?.self, 7)
        previousSecretExpiresAt = try row.decode(Date?.self, 8)
        consecutiveFailures = try row.decode(Int.self, 9)
        failingSince = try row.decode(Date?.self, 10)
        createdAt = try row.decode(Date.self, 11)
        updatedAt = try row.decode(Date.self, 12)
        version = try row.decode(Int.self, 13)
        orgPath = try row.decode(String.self, 14)
        orgKind = try row.decode(String.self, 15)
        backoffUntil = try row.decode(Date?.self, 16)
    }

    static let csvHeader = ["id", "org_id", "url", "event_types", "description", "status", "paused_reason", "paused_at",
                            "consecutive_failures", "failing_since", "created_at", "updated_at", "version"]

    var csvRow: [String?] {
        [id.lower, orgId.lower, url, eventTypes.joined(separator: " "), description, status, pausedReason, pausedAt.map(Timestamp.rfc3339),
         String(consecutiveFailures), failingSince.map(Timestamp.rfc3339), Timestamp.rfc3339(createdAt), Timestamp.rfc3339(updatedAt),
         String(version)]
    }
}

/// One event for one subscription, with its outcome so far.
struct WebhookDelivery: Encodable {
    var id: UUID
    var subscriptionId: UUID
    var eventSequence: Int
    var eventType: String
    var messageId: String
    var status: String
    var attemptCount: Int
    var nextAttemptAt: Date?
    var deadlineAt: Date
    var lastAttemptAt: Date?
    var lastResponseStatus: Int?
    var lastError: String?
    var deliveredAt: Date?
    var createdAt: Date
    var updatedAt: Date
    var version: Int
    /// Only on GET of one delivery.
    var attempts: [WebhookAttempt]?

    enum CodingKeys: String, CodingKey {
        case id, subscriptionId, event, messageId, status, attemptCount, nextAttemptAt, deadlineAt, lastAttemptAt
        case lastResponseStatus, lastError, deliveredAt, createdAt, updatedAt, version, attempts, lastResponse
    }
    enum EventKeys: String, CodingKey { case sequence, type }
    enum ResponseKeys: String, CodingKey { case status, bodyExcerpt, at, attemptId }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id.lower, forKey: .id)
        try c.encode(subscriptionId.lower, forKey: .subscriptionId)
        var e = c.nestedContainer(keyedBy: EventKeys.self, forKey: .event)
        try e.encode(eventSequence, forKey: .sequence)
        try e.encode(eventType, forKey: .type)
        try c.encode(messageId, forKey: .messageId)
        try c.encode(status, forKey: .status)
        try c.encode(attemptCount, forKey: .attemptCount)
        try c.encode(status == "pending" || status == "retrying" ? nextAttemptAt : nil, forKey: .nextAttemptAt)
        try c.encode(deadlineAt, forKey: .deadlineAt)
        try c.encode(lastAttemptAt, forKey: .lastAttemptAt)
        try c.encode(lastResponseStatus, forKey: .lastResponseStatus)
        try c.encode(lastError, forKey: .lastError)
        try c.encode(deliveredAt, forKey: .deliveredAt)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(updatedAt, forKey: .updatedAt)
        try c.encode(version, forKey: .version)
        if let attempts {
            try c.encode(attempts, forKey: .attempts)
            // The last attempt that got a response (or null): what the receiver answered.
            if let last = attempts.last(where: { $0.responseStatus != nil }) {
                var r = c.nestedContainer(keyedBy: ResponseKeys.self, forKey: .lastResponse)
                try r.encode(last.responseStatus, forKey: .status)
                try r.encode(last.responseExcerpt, forKey: .bodyExcerpt)
                try r.encode(last.finishedAt, forKey: .at)
                try r.encode(last.id.lower, forKey: .attemptId)
            } else {
                try c.encodeNil(forKey: .lastResponse)
            }
        }
    }

    static let columns = """
        d.id, d.subscription_id, d.event_sequence, d.event_type, d.message_id, d.status, d.attempt_count, d.next_attempt_at,
        d.deadline_at, d.last_attempt_at, d.last_response_status, d.last_error, d.delivered_at, d.created_at, d.updated_at, d.version
        """

    init(row: Row) throws {
        id = try row.decode(UUID.self, 0)
        subscriptionId = try row.decode(UUID.self, 1)
        eventSequence = try row.decode(Int.self, 2)
        eventType = try row.decode(String.self, 3)
        messageId = try row.decode(String.self, 4)
        status = try row.decode(String.self, 5)
        attemptCount = try row.decode(Int.self, 6)
        nextAttemptAt = try row.decode(Date?.self, 7)
        deadlineAt = try row.decode(Date.self, 8)
        lastAttemptAt = try row.decode(Date?.self, 9)
        lastResponseStatus = try row.decode(Int?.self, 10)
        lastError = try row.decode(String?.self, 11)
        deliveredAt = try row.decode(Date?.self, 12)
        createdAt = try row.decode(Date.self, 13)
        updatedAt = try row.decode(Date.self, 14)
        version = try row.decode(Int.self, 15)
    }

    static let csvHeader = ["id", "subscription_id", "event_sequence", "event_type", "message_id", "status", "attempt_count",
                            "next_attempt_at", "deadline_at", "last_attempt_at", "last_response_status", "last_error", "delivered_at",
                            "created_at", "updated_at"]

    var csvRow: [String?] {
        [id.lower, subscriptionId.lower, String(eventSequence), eventType, messageId, status, String(attemptCount),
         nextAttemptAt.map(Timestamp.rfc3339), Timestamp.rfc3339(deadlineAt), lastAttemptAt.map(Timestamp.rfc3339),
         lastResponseStatus.map(String.init), lastError, deliveredAt.map(Timestamp.rfc3339), Timestamp.rfc3339(createdAt),
         Timestamp.rfc3339(updatedAt)]
    }
}

struct WebhookAttempt: Encodable {
    var id: UUID
    var number: Int
    var startedAt: Date
    var finishedAt: Date?
    var responseStatus: Int?
    var responseExcerpt: String?
    var error: String?
    var durationMs: Int?

    func encode(to encoder: any Encoder) throws {
        enum K: String, CodingKey { case id, number, startedAt, finishedAt, responseStatus, responseExcerpt, error, durationMs }
        var c = encoder.container(keyedBy: K.self)
        try c.encode(id.lower, forKey: .id)
        try c.encode(number, forKey: .number)
        try c.encode(startedAt, forKey: .startedAt)
        try c.encode(finishedAt, forKey: .finishedAt)
        try c.encode(responseStatus, forKey: .responseStatus)
        try c.encode(responseExcerpt, forKey: .responseExcerpt)
        try c.encode(error, forKey: .error)
        try c.encode(durationMs, forKey: .durationMs)
    }

    init(row: Row) throws {
        id = try row.decode(UUID.self, 0)
        number = try row.decode(Int.self, 1)
        startedAt = try row.decode(Date.self, 2)
        finishedAt = try row.decode(Date?.self, 3)
        responseStatus = try row.decode(Int?.self, 4)
        responseExcerpt = try row.decode(String?.self, 5)
        error = try row.decode(String?.self, 6)
        durationMs = try row.decode(Int?.self, 7)
    }
}
