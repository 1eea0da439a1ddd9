import Metrics
import NIOCore
import NIOHTTP1
import SwitchyardConfig

/// Holds every client of an HTTP/1.1 connection to `server.timeouts` (SPEC §2, "Hostile input"), so a
/// slow or silent client (slowloris) cannot keep a connection, and the memory behind it, forever:
///
/// - **head**: from the connection's start, or from the first byte after a keep-alive wait, to the end
///   of the request head. Past it the client gets `408 request_timeout` and the connection is closed;
///   a connection that never sent a byte is closed quietly (a browser's unused preconnect is not an
///   error, and an unsolicited `408` could be read as the answer to its next request).
/// - **body**: from the end of the head to the end of the body. Past it the request's body stream
///   fails (so the route never mistakes a cut-off body for a whole one), the client gets `408` when no
///   response has started, and the connection is closed.
/// - **idle**: a keep-alive connection waiting for its next request is closed quietly.
///
/// While the gateway works on a request no deadline runs: that time is the gateway's, not the client's;
/// but a response the client does not read (the write buffer stays full) closes the connection after
/// the idle timeout, so a slow reader cannot hold it either.
/// It also answers a request head the HTTP parser refuses — `431 header_too_large` past NIO's 80 KB
/// limit, `400 bad_request` otherwise — with a JSON body instead of dropping the connection.
///
/// Sits right after NIO's HTTP/1 decoder (NIO's part types); ``RequestBytesObserver`` at the front of the
/// pipeline tells it when raw bytes arrive, since a partial head produces no part.
final class RequestDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// Where the connection stands, which decides the deadline that runs.
    enum Phase: Equatable {
        /// Waiting for a request head: the head deadline runs. `bytesArrived`: part of it came.
        case awaitingHead(bytesArrived: Bool)
        /// Head read, body not finished: the body deadline runs.
        case readingBody
        /// Request read, response not finished: no deadline unless the client stops reading.
        case responding
        /// Keep-alive wait between requests: the idle deadline runs.
        case idle
        /// Closed, or answered by a limit and closing: input is dropped.
        case closing
    }

    /// How long a client that already got its answer may keep the connection half-open to read it, so
    /// closing with its unread input does not reset the answer away.
    static let linger = TimeAmount.seconds(2)

    let head: TimeAmount
    let body: TimeAmount
    let idle: TimeAmount
    let counters: HTTPLimitCounters
    private(set) var phase: Phase = .awaitingHead(bytesArrived: false)
    private var started = false
    /// Requests whose head was read and whose response has not ended.
    private var unansweredRequests = 0
    /// A head was read and its `.end` not yet.
    private var readingRequest = false
    /// A final (non-1xx) response head was written for the current request.
    private var responseStarted = false
    /// Bytes of a pipelined next request came while a response was pending.
    private var nextHeadStarted = false
    /// This handler answered the connection itself; the route's late writes are refused.
    private var answeredByLimit = false
    /// When the running deadline expires; nil when none runs.
    private var deadline: NIODeadline?
    /// The one timer of the connection and when it fires. Moving the deadline later leaves it be (when
    /// it fires it looks at the deadline and waits again); only an earlier deadline reschedules it. A
    /// request re-arms three times, which would otherwise be three timers made and cancelled.
    private var timer: Scheduled<Void>?
    private var timerFiresAt: NIODeadline = .distantFuture
    private var lingerEnd: Scheduled<Void>?
    /// Full closes asked for by later handlers while lingering; completed by the final close.
    private var heldCloses: [EventLoopPromise<Void>] = []
    private var context: ChannelHandlerContext?

    init(timeouts: ServerTimeouts, counters: HTTPLimitCounters) {
        head = TimeAmount(timeouts.head)
        body = TimeAmount(timeouts.body)
        idle = TimeAmount(timeouts.idle)
        self.counters = counters
    }

    // MARK: Connection lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { start(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        disarm()
        cancelTimer()
        lingerEnd?.cancel()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        phase = .closing
        disarm()
        cancelTimer()
        lingerEnd?.cancel()
        lingerEnd = nil
        for promise in heldCloses { promise.succeed() }
        heldCloses = []
        context.fireChannelInactive()
    }

    private func start(_ context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        phase = .awaitingHead(bytesArrived: false)
        arm(head, context)
    }

    /// Called by ``RequestBytesObserver`` for every read from the socket; false when the bytes are to be
    /// dropped because the connection is closing.
    func bytesArrived() -> Bool {
        switch phase {
        case .closing:
            return false
        case .idle:
            phase = .awaitingHead(bytesArrived: true)
            if let context { arm(head, context) }
        case .awaitingHead(bytesArrived: false):
            phase = .awaitingHead(bytesArrived: true)
        case .responding:
            nextHeadStarted = true
        case .awaitingHead(bytesArrived: true), .readingBody:
            break
        }
        return true
    }

    // MARK: Requests in, responses out

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard phase != .closing else { return }
        switch unwrapInboundIn(data) {
        case .head:
            readingRequest = true
            unansweredRequests += 1
            nextHeadStarted = false
            phase = .readingBody
            arm(body, context)
        case .body:
            break
        case .end:
            readingRequest = false
            settle(context)
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard !answeredByLimit else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        switch unwrapOutboundIn(data) {
        case .head(let head):
            if head.status.code >= 200 { responseStarted = true }
            context.write(data, promise: promise)
        case .body:
            context.write(data, promise: promise)
        case .end:
            responseStarted = false
            unansweredRequests = max(0, unansweredRequests - 1)
            context.write(data, promise: promise)
            settle(context)
        }
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        // While lingering, a full close from the route's side waits for the linger to end.
        if lingerEnd != nil, mode == .all {
            if let promise { heldCloses.append(promise) }
            return
        }
        context.close(mode: mode, promise: promise)
    }

    /// After a request was read or a response ended: which deadline runs next.
    private func settle(_ context: ChannelHandlerContext) {
        guard phase != .closing, !readingRequest else { return }  // a body still coming keeps its deadline
        if unansweredRequests > 0 {
            phase = .responding
            disarm()
            armWhileUnread(context)
        } else if nextHeadStarted {
            nextHeadStarted = false
            phase = .awaitingHead(bytesArrived: true)
            arm(head, context)
        } else {
            phase = .idle
            arm(idle, context)
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if phase == .responding { armWhileUnread(context) }
        context.fireChannelWritabilityChanged()
    }

    /// While responding: the idle deadline runs only as long as the client leaves the response unread.
    private func armWhileUnread(_ context: ChannelHandlerContext) {
        if context.channel.isWritable {
            disarm()
        } else if deadline == nil {
            arm(idle, context)
        }
    }

    // MARK: Deadlines

    private func arm(_ timeout: TimeAmount, _ context: ChannelHandlerContext) {
        let at = NIODeadline.now() + timeout
        deadline = at
        if timer == nil || at < timerFiresAt { schedule(at: at, context) }
    }

    private func disarm() {
        deadline = nil
    }

    private func schedule(at: NIODeadline, _ context: ChannelHandlerContext) {
        timer?.cancel()
        timerFiresAt = at
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: at) { [self] in
            timer = nil
            guard let deadline else { return }
            if deadline <= .now() {
                self.deadline = nil
                expired(context)
            } else {
                schedule(at: deadline, context)
            }
        }
    }

    private func cancelTimer() {
        timer?.cancel()
        timer = nil
    }

    private func expired(_ context: ChannelHandlerContext) {
        switch phase {
        case .awaitingHead(bytesArrived: true):
            counters.headTimeout.increment()
            answer(
                .requestTimeout, code: "request_timeout",
                message: "the request head did not arrive within server.timeouts.head; send it in one go", context)
        case .awaitingHead(bytesArrived: false), .idle:
            // Between pipelined requests with earlier responses still unread (the next request waits in
            // the socket while writes are blocked), it is the slow reader that is closed.
            if !context.channel.isWritable { counters.responseUnread.increment() }
            phase = .closing
            context.close(promise: nil)
        case .readingBody:
            counters.bodyTimeout.increment()
            // Fail the body stream first: the route sees an error, never a body cut short.
            context.fireErrorCaught(RequestTimeoutError())
            if unansweredRequests > 0, !responseStarted {
                answer(
                    .requestTimeout, code: "request_timeout",
                    message: "the request body did not arrive within server.timeouts.body; send it in one go", context)
            } else {
                phase = .closing
                context.close(promise: nil)
            }
        case .responding:
            guard !context.channel.isWritable else { return }
            counters.responseUnread.increment()
            phase = .closing
            context.close(promise: nil)
        case .closing:
            break
        }
    }

    // MARK: Answers of our own

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A refused head between requests is answered here; inside a request the error goes on to the
        // route, whose body read fails with it.
        if let parserError = error as? HTTPParserError, unansweredRequests == 0, !readingRequest, phase != .closing {
            if case .headerOverflow = parserError {
                counters.headerTooLarge.increment()
                answer(
                    .requestHeaderFieldsTooLarge, code: "header_too_large",
                    message: "the request head is larger than 80 KB; send fewer or shorter headers and a shorter URL",
                    context)
            } else {
                counters.badRequest.increment()
                answer(.badRequest, code: "bad_request", message: "the request is not valid HTTP/1.1", context)
            }
            return
        }
        context.fireErrorCaught(error)
    }

    /// Writes a JSON error with `Connection: close`, then closes: the output at once (the client reads
    /// the answer and end of stream), the input after ``linger`` (or when the client closes first).
    private func answer(_ status: HTTPResponseStatus, code: String, message: String, _ context: ChannelHandlerContext) {
        phase = .closing
        disarm()
        // `code` and `message` are fixed ASCII without quotes or backslashes, so no escaping is needed.
        let json = #"{"success":false,"error":"\#(code)","message":"\#(message)"}"#
        let headers = HTTPHeaders([
            ("Content-Type", "application/json"), ("Content-Length", String(json.utf8.count)), ("Connection", "close"),
        ])
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: json)))), promise: nil)
        answeredByLimit = true
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            context.close(mode: .output, promise: nil)
        }
        lingerEnd = context.eventLoop.assumeIsolated().scheduleTask(in: Self.linger) { [self] in
            lingerEnd = nil
            let held = heldCloses
            heldCloses = []
            let closed = context.eventLoop.makePromise(of: Void.self)
            closed.futureResult.whenComplete { result in
                for promise in held { promise.completeWith(result) }
            }
            context.close(mode: .all, promise: closed)
        }
    }
}

@available(*, unavailable)
extension RequestDeadlineHandler: Sendable {}

/// Why a request's body stream failed: the client did not finish it within `server.timeouts.body`.
struct RequestTimeoutError: Error, CustomStringConvertible {
    var description: String { "the request body did not arrive within server.timeouts.body" }
}

/// The first handler of a connection: tells ``RequestDeadlineHandler`` when bytes arrive (a head cut in
/// pieces yields no HTTP part until it is whole) and drops them once the connection is closing.
final class RequestBytesObserver: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    let deadlines: RequestDeadlineHandler

    init(deadlines: RequestDeadlineHandler) {
        self.deadlines = deadlines
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard deadlines.bytesArrived() else { return }
        context.fireChannelRead(data)
    }
}

@available(*, unavailable)
extension RequestBytesObserver: Sendable {}
