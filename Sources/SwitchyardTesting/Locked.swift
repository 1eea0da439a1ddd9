import Synchronization

/// A mutex in a class, so tests can share state with escaping closures and child tasks.
public final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    public init(_ value: Value) { mutex = Mutex(value) }

    public func withLock<T: Sendable>(_ body: (inout sending Value) throws -> sending T) rethrows -> T {
        try mutex.withLock(body)
    }

    public var value: Value { mutex.withLock { $0 } }
}
