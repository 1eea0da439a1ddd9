import Synchronization

/// A mutex in a class, so tests can share it with escaping closures and child tasks.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    init(_ value: Value) { mutex = Mutex(value) }

    func withLock<T: Sendable>(_ body: (inout sending Value) throws -> sending T) rethrows -> T {
        try mutex.withLock(body)
    }

    var value: Value { mutex.withLock { $0 } }
}
