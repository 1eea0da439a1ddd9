import PostgresNIO
import Synchronization

/// An operation racing the wait for its connection (`PostgresEventStore.leased`): the first outcome
/// counts — the operation's, or its abandonment while it still waits for a connection or after the
/// connection it holds has closed. (The driver can leave a query sent as the server shuts down waiting
/// forever; the caller — a delivery worker, the group commit — must get its answer.)
final class ConnectionRace<T: Sendable>: Sendable {
    enum Abandoned: Error {
        case noConnection
        case connectionLost
    }

    enum Check {
        case running
        case ended
        /// Settled as `Abandoned`: cancel the operation.
        case abandoned
    }

    private struct State {
        var connection: PostgresConnection?
        var outcome: Result<T, any Error>?
        var waiter: CheckedContinuation<Result<T, any Error>, Never>?
    }
    private let state = Mutex(State())

    /// Notes the operation's connection; throws when the caller was already told it timed out, so nothing
    /// is done (committed) behind that answer.
    func markLeased(_ connection: PostgresConnection) throws {
        let abandoned = state.withLock { state in
            state.connection = connection
            return state.outcome != nil
        }
        if abandoned { throw CancellationError() }
    }

    func settle(_ outcome: Result<T, any Error>) {
        let waiter = state.withLock { state -> CheckedContinuation<Result<T, any Error>, Never>? in
            guard state.outcome == nil else { return nil }
            state.outcome = outcome
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: outcome)
    }

    /// Abandons the operation when it has waited out its wait without a connection, or when the connection
    /// it holds has closed under it.
    func check(waitedOut: Bool) -> Check {
        let (result, waiter, outcome) = state.withLock {
            state -> (Check, CheckedContinuation<Result<T, any Error>, Never>?, Result<T, any Error>?) in
            guard state.outcome == nil else { return (.ended, nil, nil) }
            let reason: Abandoned
            if let connection = state.connection {
                guard connection.isClosed else { return (.running, nil, nil) }
                reason = .connectionLost
            } else {
                guard waitedOut else { return (.running, nil, nil) }
                reason = .noConnection
            }
            let outcome = Result<T, any Error>.failure(reason)
            state.outcome = outcome
            defer { state.waiter = nil }
            return (.abandoned, state.waiter, outcome)
        }
        if let waiter, let outcome { waiter.resume(returning: outcome) }
        return result
    }

    func outcome() async -> Result<T, any Error> {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Result<T, any Error>? in
                if let outcome = state.outcome { return outcome }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}
