import Foundation
import Synchronization

/// Starts child processes one at a time.
///
/// Foundation's `Process.run()` on Linux is not safe to call from several threads at once: a full parallel test
/// run crashed inside it twice (a `memcpy` in `Process.run`, two suites starting children at the same moment).
/// Launching takes a millisecond; the children still run side by side.
public enum ProcessLaunch {
    static let lock = Mutex(())

    public static func run(_ process: Process) throws {
        try lock.withLock { _ in try process.run() }
    }
}
