import Synchronization

/// Request metrics in Prometheus text format 0.0.4, kept without a metrics library: a few counters
/// and fixed-bucket histograms behind one mutex (updated once per request by the loops).
public final class HTTPMetrics: Sendable {
    static let latencyBuckets: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    struct Histogram {
        var counts = [UInt64](repeating: 0, count: HTTPMetrics.latencyBuckets.count)
        var sum = 0.0
        var total: UInt64 = 0
        mutating func observe(_ seconds: Double) {
            for (i, b) in HTTPMetrics.latencyBuckets.enumerated() where seconds <= b { counts[i] += 1 }
            sum += seconds
            total += 1
        }
    }

    struct Key: Hashable { let route: String; let method: String; let status: Int }

    struct State {
        var requests: [Key: UInt64] = [:]
        var latency: [String: Histogram] = [:]
        var queueWait = Histogram()
        var rejectedConnections: UInt64 = 0
        var timeouts: [String: UInt64] = [:]
    }

    private let state = Mutex(State())
    let inFlight = Atomic<Int>(0)
    let openConnections = Atomic<Int>(0)

    public init() {}

    func recordRequest(route: String, method: String, status: Int, seconds: Double) {
        state.withLock {
            $0.requests[Key(route: route, method: method, status: status), default: 0] += 1
            $0.latency[route, default: Histogram()].observe(seconds)
        }
    }

    func recordQueueWait(seconds: Double) { state.withLock { $0.queueWait.observe(seconds) } }
    func recordRejectedConnection() { state.withLock { $0.rejectedConnections += 1 } }
    func recordTimeout(_ kind: String) { state.withLock { $0.timeouts[kind, default: 0] += 1 } }

    /// Renders the exposition text; `queueDepth` and `extra` come from the server and the application.
    func render(queueDepth: Int, extra: String) -> String {
        let s = state.withLock { $0 }
        var out = "# HELP http_requests_total Requests answered, by route pattern, method and status.\n"
        out += "# TYPE http_requests_total counter\n"
        for (k, v) in s.requests.sorted(by: { ($0.key.route, $0.key.method, $0.key.status) < ($1.key.route, $1.key.method, $1.key.status) }) {
            out += "http_requests_total{route=\(label(k.route)),method=\(label(k.method)),status=\"\(k.status)\"} \(v)\n"
        }
        out += "# HELP http_request_duration_seconds Time from complete request head to response queued.\n"
        out += "# TYPE http_request_duration_seconds histogram\n"
        for (route, h) in s.latency.sorted(by: { $0.key < $1.key }) {
            out += histogram("http_request_duration_seconds", h, labels: "route=\(label(route)),")
        }
        out += "# HELP http_requests_in_flight Requests handed to handler threads and not yet answered.\n"
        out += "# TYPE http_requests_in_flight gauge\nhttp_requests_in_flight \(inFlight.load(ordering: .relaxed))\n"
        out += "# HELP http_queue_depth Jobs waiting for a handler thread.\n"
        out += "# TYPE http_queue_depth gauge\nhttp_queue_depth \(queueDepth)\n"
        out += "# HELP http_queue_wait_seconds Time jobs waited for a handler thread.\n"
        out += "# TYPE http_queue_wait_seconds histogram\n"
        out += histogram("http_queue_wait_seconds", s.queueWait, labels: "")
        out += "# HELP http_connections_open Open client connections.\n"
        out += "# TYPE http_connections_open gauge\nhttp_connections_open \(openConnections.load(ordering: .relaxed))\n"
        out += "# HELP http_connections_rejected_total Connections refused over the connection cap or descriptor limit.\n"
        out += "# TYPE http_connections_rejected_total counter\nhttp_connections_rejected_total \(s.rejectedConnections)\n"
        out += "# HELP http_timeouts_total Connections closed by a timeout, by kind.\n"
        out += "# TYPE http_timeouts_total counter\n"
        for (k, v) in s.timeouts.sorted(by: { $0.key < $1.key }) { out += "http_timeouts_total{kind=\(label(k))} \(v)\n" }
        out += extra
        return out
    }

    private func histogram(_ name: String, _ h: Histogram, labels: String) -> String {
        var out = ""
        for (i, b) in HTTPMetrics.latencyBuckets.enumerated() {
            out += "\(name)_bucket{\(labels)le=\"\(b)\"} \(h.counts[i])\n"
        }
        out += "\(name)_bucket{\(labels)le=\"+Inf\"} \(h.total)\n"
        let l = labels.isEmpty ? "" : "{\(labels.dropLast())}"
        out += "\(name)_sum\(l) \(h.sum)\n\(name)_count\(l) \(h.total)\n"
        return out
    }

    private func label(_ v: String) -> String {
        "\"" + v.replacingOccurrences("\\", "\\\\").replacingOccurrences("\"", "\\\"").replacingOccurrences("\n", "\\n") + "\""
    }
}

extension String {
    func replacingOccurrences(_ a: Character, _ b: String) -> String {
        guard contains(a) else { return self }
        var out = ""
        for c in self { if c == a { out += b } else { out.append(c) } }
        return out
    }
}
