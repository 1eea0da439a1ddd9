import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// A real HTTP server on a free loopback port that answers a programmed sequence — `[503, 503, 200]` —
/// and records every request. Destination tests send to it for real.
public final class ScriptedHTTPServer: Sendable {
    /// One programmed answer.
    public struct Reply: Sendable {
        public var status: Int
        public var headers: [(String, String)]
        public var body: String
        /// Never answer until the server stops (a hanging destination).
        public var hang: Bool
        /// Answer only after this long (a slow destination).
        public var delay: Duration?
        /// Send the status, the headers and `body`, then stall before the body ends, until the server
        /// stops or is reprogrammed (a destination that wedges mid-answer).
        public var stallBody: Bool
        /// After `body`, stream this many more bytes (`x`) in 64 KiB chunks (an oversized answer).
        public var extraBodyBytes: Int

        public init(
            _ status: Int, headers: [(String, String)] = [], body: String = "", hang: Bool = false, delay: Duration? = nil,
            stallBody: Bool = false, extraBodyBytes: Int = 0
        ) {
            self.status = status
            self.headers = headers
            self.body = body
            self.hang = hang
            self.delay = delay
            self.stallBody = stallBody
            self.extraBodyBytes = extraBodyBytes
        }

        public static let ok = Reply(200, body: "{}")
        public static let hangs = Reply(200, hang: true)
        /// 200 with its headers and the start of a body, then nothing.
        public static let stallsMidBody = Reply(200, body: #"{"accepted":"#, stallBody: true)
    }

    /// A request as received.
    public struct Recorded: Sendable {
        public var method: String
        public var path: String
        public var headers: [String: String]
        public var body: [UInt8]
        public var at: ContinuousClock.Instant

        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    struct State {
        var script: [Reply]
        var then: Reply
        var requests: [Recorded] = []
        var waiters: [(id: UUID, count: Int, continuation: CheckedContinuation<Void, Never>)] = []
    }

    let state: Locked<State>
    let releaseHangs: Locked<[CheckedContinuation<Void, Never>]>
    let stopped: Locked<Bool>
    let group: ServiceGroup
    let task: Task<Void, any Error>
    public let port: Int

    public var url: String { "http://127.0.0.1:\(port)" }

    /// Starts the server. `script` is answered in order, then `then` forever.
    public static func start(script: [Reply] = [], then: Reply = .ok) async throws -> ScriptedHTTPServer {
        let state = Locked(State(script: script, then: then))
        let releaseHangs = Locked<[CheckedContinuation<Void, Never>]>([])
        let stopped = Locked(false)
        let router = Router()
        // `**` matches any number of path segments: receivers are configured with path prefixes.
        for path in ["/", "**"] {
            for method in [HTTPRequest.Method.post, .put, .get] {
                router.on(RouterPath(path), method: method) { request, _ in
                    try await answer(request, state, releaseHangs, stopped)
                }
            }
        }
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        var logger = Logger(label: "scripted-server")
        logger.logLevel = .critical
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in portContinuation.yield(channel.localAddress?.port ?? 0) }, logger: logger)
        let group = ServiceGroup(services: [app], logger: logger)
        let task = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        let port = await iterator.next() ?? 0
        return ScriptedHTTPServer(state: state, releaseHangs: releaseHangs, stopped: stopped, group: group, task: task, port: port)
    }

    init(
        state: Locked<State>, releaseHangs: Locked<[CheckedContinuation<Void, Never>]>, stopped: Locked<Bool>,
        group: ServiceGroup, task: Task<Void, any Error>, port: Int
    ) {
        self.state = state
        self.releaseHangs = releaseHangs
        self.stopped = stopped
        self.group = group
        self.task = task
        self.port = port
    }

    static func answer(
        _ request: Request, _ state: Locked<State>, _ releaseHangs: Locked<[CheckedContinuation<Void, Never>]>,
        _ stopped: Locked<Bool>
    ) async throws -> Response {
        let body = try await request.body.collect(upTo: 100_000_000)
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName] = field.value }
        let recorded = Recorded(
            method: request.method.rawValue, path: request.uri.path, headers: headers,
            body: Array(body.readableBytesView), at: .now)
        let (reply, ready) = state.withLock { state -> (Reply, [CheckedContinuation<Void, Never>]) in
            state.requests.append(recorded)
            let reply = state.script.isEmpty ? state.then : state.script.removeFirst()
            let count = state.requests.count
            let ready = state.waiters.filter { $0.count <= count }.map(\.continuation)
            state.waiters.removeAll { $0.count <= count }
            return (reply, ready)
        }
        for waiter in ready { waiter.resume() }
        if let delay = reply.delay { try? await Task.sleep(for: delay) }  // cut short only by shutdown
        @Sendable func waitForRelease() async {
            await withCheckedContinuation { continuation in
                let now = stopped.withLock { $0 }
                if now {
                    continuation.resume()
                } else {
                    releaseHangs.withLock { $0.append(continuation) }
                }
            }
        }
        if reply.hang { await waitForRelease() }
        var fields = HTTPFields()
        for (name, value) in reply.headers {
            if let field = HTTPField.Name(name) { fields[field] = value }
        }
        fields[.contentType] = "application/json"
        guard reply.stallBody || reply.extraBodyBytes > 0 else {
            return Response(
                status: HTTPResponse.Status(code: reply.status), headers: fields,
                body: ResponseBody(byteBuffer: ByteBuffer(string: reply.body)))
        }
        // Streamed (chunked): the head goes out before the body is complete.
        let streamed = ResponseBody { writer in
            try await writer.write(ByteBuffer(string: reply.body))
            var remaining = reply.extraBodyBytes
            let chunk = ByteBuffer(repeating: UInt8(ascii: "x"), count: 65_536)
            while remaining > 0 {
                try await writer.write(chunk.getSlice(at: 0, length: min(remaining, chunk.readableBytes)) ?? chunk)
                remaining -= chunk.readableBytes
            }
            if reply.stallBody { await waitForRelease() }
            try await writer.finish(nil)
        }
        return Response(status: HTTPResponse.Status(code: reply.status), headers: fields, body: streamed)
    }

    /// Every request received so far, in order.
    public var requests: [Recorded] { state.withLock { $0.requests } }

    /// Waits until at least `count` requests arrived (or `timeout` passed) and returns them all.
    @discardableResult
    public func waitForRequests(_ count: Int, timeout: Duration = .seconds(30)) async -> [Recorded] {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: timeout) }  // a deadline, not a wait for work
            group.addTask {
                // Cancelled when the deadline comes first: the waiter is then removed and resumed.
                let id = UUID()
                await withTaskCancellationHandler {
                    await withCheckedContinuation { continuation in
                        let ready = self.state.withLock { state -> Bool in
                            if state.requests.count >= count || Task.isCancelled { return true }
                            state.waiters.append((id, count, continuation))
                            return false
                        }
                        if ready { continuation.resume() }
                    }
                } onCancel: {
                    let waiter = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
                        guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                        return state.waiters.remove(at: index).continuation
                    }
                    waiter?.resume()
                }
            }
            await group.next()
            group.cancelAll()
        }
        return requests
    }

    /// Replaces what the server answers from now on (e.g. fix a failing receiver).
    public func program(_ script: [Reply], then: Reply = .ok) {
        state.withLock {
            $0.script = script
            $0.then = then
        }
        // Requests hanging now are released with the new answer's status.
        let hanging = releaseHangs.withLock { list in
            defer { list = [] }
            return list
        }
        for continuation in hanging { continuation.resume() }
    }

    public func stop() async {
        stopped.withLock { $0 = true }
        let hanging = releaseHangs.withLock { list in
            defer { list = [] }
            return list
        }
        for continuation in hanging { continuation.resume() }
        // Resume waiters so no test hangs on a stopped server.
        let waiters = state.withLock { state in
            defer { state.waiters = [] }
            return state.waiters.map(\.continuation)
        }
        for waiter in waiters { waiter.resume() }
        await group.triggerGracefulShutdown()
        _ = try? await task.value  // the server's own shutdown error is not the test's concern
    }
}
