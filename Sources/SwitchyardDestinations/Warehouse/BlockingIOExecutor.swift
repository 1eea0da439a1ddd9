import Dispatch

/// A serial executor on its own dispatch queue, for an actor whose methods block on file I/O (`write`,
/// `fsync`, `rename`): a slow disk then holds this queue's thread, never one of the few threads of Swift's
/// cooperative pool that ingest and the other destinations run on.
final class BlockingIOExecutor: SerialExecutor {
    let queue: DispatchQueue

    init(label: String) {
        queue = DispatchQueue(label: label)
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedSerialExecutor()
        queue.async { job.runSynchronously(on: executor) }
    }
}
