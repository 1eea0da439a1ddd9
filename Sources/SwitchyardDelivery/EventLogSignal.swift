import Synchronization

/// Tells delivery workers that the log grew, so an idle worker wakes as soon as an event is committed
/// instead of polling. Group commit calls `advance(to:)` after each commit.
public final class EventLogSignal: Sendable {
    struct State {
        var head: Int64 = 0
        var nextWaiter = 0
        var waiters: [Int: (after: Int64, continuation: CheckedContinuation<Void, Never>)] = [:]
    }

    let state = Mutex(State())

    public init() {}

    /// The highest committed sequence this signal has heard of.
    public var head: Int64 { state.withLock { $0.head } }

    public func advance(to head: Int64) {
        let ready: [CheckedContinuation<Void, Never>] = state.withLock { state in
            guard head > state.head else { return [] }
            state.head = head
            let due = state.waiters.filter { $0.value.after < head }
            for key in due.keys { state.waiters[key] = nil }
            return due.map(\.value.continuation)
        }
        for continuation in ready { continuation.resume() }
    }

    /// Returns once the head passes `sequence`, after `timeout`, or on cancellation — whichever is first.
    public func wait(beyond sequence: Int64, timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: timeout) }  // cancelled when the signal comes first
            group.addTask { await self.waitForHead(beyond: sequence) }
            await group.next()
            group.cancelAll()
        }
    }

    func waitForHead(beyond sequence: Int64) async {
        let id = state.withLock { state -> Int in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.head > sequence || Task.isCancelled { return true }
                    state.waiters[id] = (sequence, continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let continuation = state.withLock { $0.waiters.removeValue(forKey: id)?.continuation }
            continuation?.resume()
        }
    }
}
