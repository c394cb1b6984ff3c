import HTTP

// Placeholder so the application compiles while this area is being written; replaced by its owner.
enum MemberRoutes {
    static func register(on router: Router<AppContext>) {}
}
