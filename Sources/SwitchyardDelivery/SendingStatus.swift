import Synchronization

/// What the status API shows of a destination's sending (`failed`, `retrying`, `last_error`), kept by
/// the ``BatchSettler``s of its worker.
final class SendingStatus: Sendable {
    struct Snapshot: Sendable, Equatable {
        /// Failed attempts since the gateway started.
        var failed: Int64 = 0
        /// Events waiting for a retry now.
        var retrying = 0
        var lastError: String?
    }

    let state = Mutex(Snapshot())

    var snapshot: Snapshot { state.withLock { $0 } }

    func record(error: String) {
        state.withLock { $0.lastError = error }
    }

    func attemptFailed(reason: String) {
        state.withLock {
            $0.failed += 1
            $0.lastError = reason
        }
    }

    func retrying(_ delta: Int) {
        state.withLock { $0.retrying += delta }
    }
}
