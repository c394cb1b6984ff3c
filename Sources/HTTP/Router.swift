/// Routes by method and path pattern (`/v1/items/{id}`). Static segments win over parameters.
/// Built once at start-up, then read concurrently by every loop and worker (immutable after `freeze`).
///
/// `Context` is the per-handler-thread state the application provides (e.g. the worker's database
/// connection); routes marked `onLoop` take no context and run on the event loop (health, cheap reads).
public final class Router<Context>: @unchecked Sendable {
    public typealias Handler = @Sendable (Request, Context) throws -> Response
    public typealias LoopHandler = @Sendable (Request) -> Response

    public enum Action: Sendable {
        case worker(Handler)
        case loop(LoopHandler)
    }

    public struct Route: Sendable {
        public let method: String
        public let pattern: String
        /// Body limit for this route; nil means `HTTPLimits.maxBodyBytes`.
        public let maxBodyBytes: Int?
        public let action: Action
    }

    public enum Match: Sendable {
        case found(Route, parameters: [String: String])
        case methodNotAllowed(allow: [String])
        case notFound
    }

    private final class Node {
        var statics: [String: Node] = [:]
        var param: (name: String, node: Node)?
        var routes: [String: Route] = [:]
    }

    private let root = Node()
    private var middleware: [any Middleware<Context>] = []
    private var frozen = false

    public init() {}

    /// Middleware wraps every worker route added after it, outermost first.
    public func use(_ m: any Middleware<Context>) {
        precondition(!frozen, "router is frozen")
        middleware.append(m)
    }

    public func add(_ method: String, _ pattern: String, maxBodyBytes: Int? = nil, _ handler: @escaping Handler) {
        let chain = middleware
        let wrapped: Handler = chain.reversed().reduce(handler) { next, m in
            { req, ctx in try m.handle(req, context: ctx, next: next) }
        }
        insert(Route(method: method, pattern: pattern, maxBodyBytes: maxBodyBytes, action: .worker(wrapped)))
    }

    /// A route answered on the event loop: it must be cheap and never block.
    public func addOnLoop(_ method: String, _ pattern: String, _ handler: @escaping LoopHandler) {
        insert(Route(method: method, pattern: pattern, maxBodyBytes: nil, action: .loop(handler)))
    }

    public func get(_ pattern: String, _ h: @escaping Handler) { add("GET", pattern, h) }
    public func post(_ pattern: String, maxBodyBytes: Int? = nil, _ h: @escaping Handler) { add("POST", pattern, maxBodyBytes: maxBodyBytes, h) }
    public func put(_ pattern: String, maxBodyBytes: Int? = nil, _ h: @escaping Handler) { add("PUT", pattern, maxBodyBytes: maxBodyBytes, h) }
    public func patch(_ pattern: String, _ h: @escaping Handler) { add("PATCH", pattern, h) }
    public func delete(_ pattern: String, _ h: @escaping Handler) { add("DELETE", pattern, h) }

    /// Every registered route, for documentation checks (e.g. "every route is in openapi.yaml").
    public var routes: [Route] {
        var out: [Route] = []
        func walk(_ n: Node) {
            out.append(contentsOf: n.routes.values)
            n.statics.values.forEach(walk)
            if let p = n.param { walk(p.node) }
        }
        walk(root)
        return out.sorted { ($0.pattern, $0.method) < ($1.pattern, $1.method) }
    }

    func freeze() { frozen = true }

    private func insert(_ route: Route) {
        precondition(!frozen, "router is frozen")
        precondition(route.pattern.hasPrefix("/"), "route pattern must start with /")
        var node = root
        for seg in route.pattern.split(separator: "/", omittingEmptySubsequences: true) {
            if seg.hasPrefix("{") && seg.hasSuffix("}") {
                let name = String(seg.dropFirst().dropLast())
                if let p = node.param {
                    precondition(p.name == name, "conflicting parameter names at \(route.pattern)")
                    node = p.node
                } else {
                    let n = Node()
                    node.param = (name, n)
                    node = n
                }
            } else {
                let key = String(seg)
                if let n = node.statics[key] { node = n } else {
                    let n = Node()
                    node.statics[key] = n
                    node = n
                }
            }
        }
        precondition(node.routes[route.method] == nil, "duplicate route \(route.method) \(route.pattern)")
        node.routes[route.method] = route
    }

    /// Matches a raw (still percent-encoded) path. HEAD falls back to GET.
    public func match(method: String, path: String) -> Match {
        var node = root
        var params: [String: String] = [:]
        var utf8 = path.utf8[...]
        while let first = utf8.first, first == UInt8(ascii: "/") {
            utf8 = utf8.dropFirst()
            guard let end = utf8.firstIndex(of: UInt8(ascii: "/")) ?? (utf8.isEmpty ? nil : utf8.endIndex) else {
                break  // trailing slash: "/a/" matches "/a"
            }
            let seg = Substring(utf8[utf8.startIndex..<end])
            utf8 = utf8[end...]
            if let n = node.statics[String(seg)] {
                node = n
            } else if let p = node.param, let value = PercentDecoding.decode(seg), !value.isEmpty {
                params[p.name] = value
                node = p.node
            } else {
                return .notFound
            }
        }
        if node.routes.isEmpty { return .notFound }
        if let r = node.routes[method] { return .found(r, parameters: params) }
        if method == "HEAD", let r = node.routes["GET"] { return .found(r, parameters: params) }
        var allow = Set(node.routes.keys)
        if allow.contains("GET") { allow.insert("HEAD") }
        allow.insert("OPTIONS")
        return .methodNotAllowed(allow: allow.sorted())
    }
}

/// Wraps worker handlers (auth, idempotency, problem mapping…); composes like Hummingbird's.
public protocol Middleware<Context>: Sendable {
    associatedtype Context
    func handle(_ request: Request, context: Context,
                next: (Request, Context) throws -> Response) throws -> Response
}
