import Branchlink
import Foundation
import XCTest

/// The pure webhook rules: Standard Webhooks signing (the spec's test vector), the retry schedule,
/// auto-pause, event-type patterns, destinations.
final class WebhookRulesTests: XCTestCase {
    /// The test vector of the Standard Webhooks reference libraries.
    func testSignatureMatchesTheStandardWebhooksVector() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        let body = Array(#"{"test": 2432232314}"#.utf8)
        XCTAssertEqual(WebhookRules.signature(secret: secret, messageID: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1614265330, body: body),
                       "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        let now = Date(timeIntervalSince1970: 1614265330 + 10)
        XCTAssertTrue(WebhookRules.verify(secret: secret, messageID: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: "1614265330",
                                          signatureHeader: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", body: body, now: now))
        // Tampered body, other id, stale or future timestamp, other secret: all rejected.
        XCTAssertFalse(WebhookRules.verify(secret: secret, messageID: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: "1614265330",
                                           signatureHeader: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", body: body + [32], now: now))
        XCTAssertFalse(WebhookRules.verify(secret: secret, messageID: "msg_other", timestamp: "1614265330",
                                           signatureHeader: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", body: body, now: now))
        XCTAssertFalse(WebhookRules.verify(secret: secret, messageID: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: "1614265330",
                                           signatureHeader: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", body: body,
                                           now: now.addingTimeInterval(301)))
        XCTAssertFalse(WebhookRules.verify(secret: secret, messageID: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: "1614265330",
                                           signatureHeader: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", body: body,
                                           now: now.addingTimeInterval(-400)))
        XCTAssertFalse(WebhookRules.verify(secret: WebhookRules.newSecret(), messageID: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: "1614265330",
                                           signatureHeader: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", body: body, now: now))
    }

    func testSecretsAndTwoSignaturesDuringRotation() {
        let a = WebhookRules.newSecret(), b = WebhookRules.newSecret()
        XCTAssertTrue(a.hasPrefix("whsec_"))
        XCTAssertEqual(WebhookRules.key(ofSecret: a)?.count, 32)
        XCTAssertNotEqual(a, b)
        let body = Array("{}".utf8), ts = Int(Date().timeIntervalSince1970)
        let header = WebhookRules.signatureHeader(secrets: [b, a], messageID: "msg_1", timestamp: ts, body: body)
        XCTAssertEqual(header.split(separator: " ").count, 2)
        XCTAssertTrue(header.split(separator: " ").allSatisfy { $0.hasPrefix("v1,") })
        XCTAssertTrue(WebhookRules.verify(secret: a, messageID: "msg_1", timestamp: String(ts), signatureHeader: header, body: body))
        XCTAssertTrue(WebhookRules.verify(secret: b, messageID: "msg_1", timestamp: String(ts), signatureHeader: header, body: body))
        let onlyNew = WebhookRules.signatureHeader(secrets: [b], messageID: "msg_1", timestamp: ts, body: body)
        XCTAssertFalse(WebhookRules.verify(secret: a, messageID: "msg_1", timestamp: String(ts), signatureHeader: onlyNew, body: body))
    }

    func testBackoffScheduleAndDeadLetter() {
        let table: [(Int, TimeInterval)] = [(1, 30), (2, 60), (3, 120), (4, 240), (5, 480), (6, 960), (7, 1920), (8, 3600), (9, 3600), (30, 3600)]
        for (n, expected) in table {
            XCTAssertEqual(WebhookRules.backoff(failedAttempts: n), expected, "after \(n) failures")
        }
        XCTAssertEqual(WebhookRules.backoff(failedAttempts: 3, jitter: 0.8), 96)
        XCTAssertEqual(WebhookRules.backoff(failedAttempts: 3, jitter: 1.2), 144, accuracy: 1e-9)
        // Over a 24-hour window the schedule makes about 30 attempts, then the delivery is dead.
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        let deadline = t0.addingTimeInterval(WebhookRules.retryWindow)
        var at = t0, attempts = 1
        while let next = WebhookRules.nextAttempt(failedAttempts: attempts, failedAt: at, deadline: deadline) {
            at = next
            attempts += 1
        }
        XCTAssertEqual(attempts, 30)
        XCTAssertLessThanOrEqual(at, deadline)
        XCTAssertGreaterThan(at.addingTimeInterval(3600), deadline)
        // A delivery held past its deadline (paused subscription) is dead after its one attempt.
        XCTAssertNil(WebhookRules.nextAttempt(failedAttempts: 1, failedAt: deadline.addingTimeInterval(10), deadline: deadline))
    }

    func testSubscriptionBacksOffFromTheThirdFailureInARow() {
        let t = Date(timeIntervalSince1970: 1_800_000_000)
        let table: [(Int, Double, TimeInterval?)] = [(0, 1, nil), (1, 1, nil), (2, 1, nil), (3, 1, 60), (4, 1, 120), (5, 1, 240),
                                                      (9, 1, 3600), (40, 1, 3600), (3, 0.8, 48), (3, 1.2, 72)]
        for (n, jitter, expected) in table {
            XCTAssertEqual(WebhookRules.backoffUntil(consecutiveFailures: n, failedAt: t, jitter: jitter).map { $0.timeIntervalSince(t) }
                               .map { ($0 * 1000).rounded() / 1000 }, expected, "\(n) failures")
        }
    }

    func testAutoPauseNeedsManyFailuresOverAnHour() {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let table: [(Int, TimeInterval?, Bool)] = [
            (0, nil, false), (9, 7200, false), (10, 3599, false), (10, 3600, true), (500, 60, false), (25, 86_400, true), (25, nil, false),
        ]
        for (failures, age, expected) in table {
            XCTAssertEqual(WebhookRules.shouldPause(consecutiveFailures: failures, failingSince: age.map { now.addingTimeInterval(-$0) }, now: now),
                           expected, "\(failures) failures over \(age ?? -1) s")
        }
    }

    func testEventTypesAndPatterns() {
        for ok in ["*", "introduction.sent", "introduction.*", "assessment_request.*", "webhook.auto_paused"] {
            XCTAssertNil(WebhookRules.eventTypeProblem(ok), ok)
        }
        for bad in ["", "introduction", "introduction.sen", "nothing.*", "*.sent", "introduction.**"] {
            XCTAssertNotNil(WebhookRules.eventTypeProblem(bad), bad)
        }
        XCTAssertTrue(WebhookRules.matches("introduction.sent", ["introduction.*"]))
        XCTAssertTrue(WebhookRules.matches("change_notice.sent", ["*"]))
        XCTAssertFalse(WebhookRules.matches("change_notice.sent", ["introduction.*", "change_notice.acknowledged"]))
    }

    /// Every literal event type the sources append is one a subscription can name: a new event
    /// type must be added to `WebhookRules.knownEventTypes` (and the WebhookEventType enum of
    /// openapi.yaml).
    func testEveryEmittedEventTypeIsKnown() throws {
        let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources/Branchlink")
        let files = try XCTUnwrap(FileManager.default.enumerator(atPath: sources.path)).compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") }
        XCTAssertGreaterThan(files.count, 20)
        let pattern = try NSRegularExpression(pattern: #"EventLog\.append\(db, type: "([a-z_]+\.[a-z_]+)""#)
        var emitted: Set<String> = []
        for file in files {
            let text = try String(contentsOfFile: sources.appendingPathComponent(file).path, encoding: .utf8)
            for m in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                emitted.insert(String(text[Range(m.range(at: 1), in: text)!]))
            }
        }
        XCTAssertGreaterThan(emitted.count, 15)
        XCTAssertEqual(emitted.subtracting(WebhookRules.knownEventTypes), [], "add these to WebhookRules.knownEventTypes")
        let openapi = try String(contentsOfFile: sources.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("openapi.yaml").path, encoding: .utf8)
        for t in WebhookRules.knownEventTypes { XCTAssertTrue(["[\(t),", " \(t),", " \(t)]"].contains { openapi.contains($0) }, "\(t) in openapi's WebhookEventType") }
    }

    func testDestinations() {
        XCTAssertNil(WebhookRules.urlProblem("http://hooks.example.org/in?x=1", allowPrivate: false))
        XCTAssertEqual(WebhookRules.urlProblem("https://hooks.example.org/in", allowPrivate: false)?.code, "unsupported_scheme")
        for bad in ["ftp://x/", "hooks.example.org", "http://", "http://u:p@hooks.example.org/", "http://h/#f"] {
            XCTAssertEqual(WebhookRules.urlProblem(bad, allowPrivate: true)?.code, "format", bad)
        }
        for host in ["127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
                     "[::1]", "[fd00::1]", "[fe80::1]", "[::ffff:127.0.0.1]", "localhost", "api.localhost"] {
            XCTAssertEqual(WebhookRules.urlProblem("http://\(host):8080/x", allowPrivate: false)?.code, "destination_not_allowed", host)
            XCTAssertNil(WebhookRules.urlProblem("http://\(host):8080/x", allowPrivate: true), host)
        }
        for host in ["8.8.8.8", "172.32.0.1", "192.169.0.1", "[2001:db8::1]"] {
            XCTAssertNil(WebhookRules.urlProblem("http://\(host)/x", allowPrivate: false), host)
        }
    }
}
