import Foundation
import Postgres
import XCTest

/// A database of its own for each test class (created once per class on the shared test cluster).
enum TestDB {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var databases: [String: String] = [:]

    static func url(for key: String) throws -> String {
        try lock.withLock {
            if let url = databases[key] { return url }
            let url = try TestDatabase.createDatabase(prefix: key)
            databases[key] = url
            return url
        }
    }

    static func connect(_ key: String, statementTimeoutMilliseconds: Int = 5000) throws -> Connection {
        try Connection(url(for: key), statementTimeoutMilliseconds: statementTimeoutMilliseconds)
    }
}

func XCTAssertThrowsPostgres(
    _ kind: PostgresError.Kind, _ expression: @autoclosure () throws -> some Any,
    file: StaticString = #filePath, line: UInt = #line, _ check: (PostgresError) -> Void = { _ in }
) {
    do {
        _ = try expression()
        XCTFail("expected PostgresError.\(kind), nothing thrown", file: file, line: line)
    } catch let e as PostgresError {
        XCTAssertEqual(e.kind, kind, "\(e)", file: file, line: line)
        check(e)
    } catch {
        XCTFail("expected PostgresError.\(kind), got \(error)", file: file, line: line)
    }
}

/// Runs `body` on a new thread and waits for it (connections are thread-confined, so each thread
/// opens its own).
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) -> ThreadResult<T> {
    let box = ThreadResult<T>()
    let t = Thread {
        do { box.set(.success(try body())) } catch { box.set(.failure(error)) }
    }
    t.start()
    return box
}

final class ThreadResult<T: Sendable>: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var result: Result<T, Error>?
    func set(_ r: Result<T, Error>) { result = r; done.signal() }
    func wait(timeout: TimeInterval = 60) throws -> T {
        guard done.wait(timeout: .now() + timeout) == .success else { throw NSError(domain: "timeout", code: 1) }
        return try result!.get()
    }
}

@inline(__always) func monotonicSeconds() -> Double {
    Double(DispatchTime.now().uptimeNanoseconds) / 1e9
}
