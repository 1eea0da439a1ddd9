import Foundation

/// What a finished child process left: its exit status and everything it wrote.
public struct ProcessOutcome: Sendable {
    public var status: Int32
    public var output: String
    public var errors: String
}

/// Runs a program to its end, for tests that check what a real tool (the gateway's CLI, Python's `json`,
/// DuckDB, systemd-analyze) makes of our output.
public enum ProcessRun {
    /// Runs `executable` with `arguments`, writes `input` to its standard input (then closes it), and waits.
    /// Standard input and standard error are served from threads of their own, so a child that writes a lot
    /// to one pipe while we wait on another cannot deadlock.
    public static func run(
        _ executable: URL, _ arguments: [String], in directory: URL? = nil, input: Data? = nil
    ) throws -> ProcessOutcome {
        let stdin = try ChildPipe()
        let stdout = try ChildPipe()
        let stderr = try ChildPipe()
        let process = try ChildProcess(
            executable.path, arguments, directory: directory?.path, stdin: .descriptor(stdin.readEnd),
            stdout: .descriptor(stdout.writeEnd), stderr: .descriptor(stderr.writeEnd))
        stdin.closeRead()
        stdout.closeWrite()
        stderr.closeWrite()
        Thread.detachNewThread {
            if let input { ChildPipe.writeAll(stdin.writeEnd, Array(input)) }
            stdin.closeWrite()
        }
        let errors = Locked<[UInt8]>([])
        let errorsRead = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            let bytes = ChildPipe.readAll(stderr.readEnd)
            errors.withLock { $0 = bytes }
            errorsRead.signal()
        }
        let output = ChildPipe.readAll(stdout.readEnd)
        errorsRead.wait()
        return ProcessOutcome(
            status: process.terminationStatus, output: String(decoding: output, as: UTF8.self),
            errors: String(decoding: errors.withLock { $0 }, as: UTF8.self))
    }

    /// Runs a program found on `PATH` (`python3`, `systemd-analyze`).
    public static func run(_ program: String, _ arguments: [String], input: Data? = nil) throws -> ProcessOutcome {
        try run(URL(fileURLWithPath: "/usr/bin/env"), [program] + arguments, input: input)
    }
}
