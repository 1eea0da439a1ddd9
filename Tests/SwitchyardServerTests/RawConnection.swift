import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A bare TCP connection to a gateway on loopback, for what HTTP clients never do: send a head a byte
/// at a time, stop halfway through a body, sit idle, send 100 KB of headers.
///
/// Non-blocking: waits poll every 20 ms with `Task.sleep`, so a test never blocks a thread of the
/// cooperative pool the gateway under test also runs on.
final class RawConnection {
    private let descriptor: Int32
    /// Every byte received so far.
    private(set) var received: [UInt8] = []
    /// The gateway closed (or reset) the connection.
    private(set) var closedByPeer = false
    let opened = ContinuousClock.now

    /// Connects to 127.0.0.1:`port`; `receiveBuffer` shrinks the socket's receive buffer (set before
    /// connecting, so the TCP window stays small) for a client that reads slowly.
    init(port: Int, receiveBuffer: Int32? = nil) throws {
        #if canImport(Glibc)
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        descriptor = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard descriptor >= 0 else { throw RawConnectionError("socket() failed: errno \(errno)") }
        if var size = receiveBuffer {
            setsockopt(descriptor, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            close(descriptor)
            throw RawConnectionError("connect() to 127.0.0.1:\(port) failed: errno \(errno)")
        }
        #if canImport(Darwin)
        var one: Int32 = 1
        setsockopt(descriptor, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size))
        #endif
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
    }

    deinit { close(descriptor) }

    var elapsed: Duration { ContinuousClock.now - opened }

    /// Sends all of `text`, waiting while the socket's buffer is full; false when the gateway has closed.
    @discardableResult
    func send(_ text: String) async throws -> Bool {
        let bytes = Array(text.utf8)
        var offset = 0
        let deadline = ContinuousClock.now + .seconds(30)
        while offset < bytes.count {
            #if canImport(Glibc)
            let sent = bytes[offset...].withUnsafeBytes {
                Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            #else
            let sent = bytes[offset...].withUnsafeBytes { Darwin.send(descriptor, $0.baseAddress, $0.count, 0) }
            #endif
            if sent > 0 {
                offset += sent
            } else if errno == EAGAIN || errno == EWOULDBLOCK {
                guard ContinuousClock.now < deadline else { throw RawConnectionError("send stalled for 30 s") }
                try await Task.sleep(for: .milliseconds(20))
            } else {
                return false
            }
        }
        return true
    }

    /// Reads whatever has arrived, without waiting.
    func poll() {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while !closedByPeer {
            let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                received += chunk[..<count]
            } else if count == 0 {
                closedByPeer = true
            } else if errno == EAGAIN || errno == EWOULDBLOCK {
                return
            } else {
                closedByPeer = true  // reset
            }
        }
    }

    /// Polls until the gateway closes the connection or `limit` (from now) passes; true when it closed.
    func waitForClose(upTo limit: Duration) async throws -> Bool {
        try await wait(upTo: limit) { $0.closedByPeer }
    }

    /// Polls until `condition` holds or `limit` (from now) passes; the condition's last answer.
    func wait(upTo limit: Duration, until condition: (RawConnection) -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + limit
        while true {
            poll()
            if condition(self) { return true }
            if ContinuousClock.now >= deadline { return false }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// The responses received so far, parsed; a trailing incomplete one is left out.
    var responses: [RawResponse] { RawResponse.parseAll(received) }
}

struct RawConnectionError: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) { self.description = description }
}

/// One HTTP/1.1 response as received on a ``RawConnection``.
struct RawResponse {
    var status: Int
    /// Header names lowercased.
    var headers: [String: String]
    var body: [UInt8]

    var text: String { String(decoding: body, as: UTF8.self) }

    /// Every complete response in `bytes`, each framed by its `Content-Length`.
    static func parseAll(_ bytes: [UInt8]) -> [RawResponse] {
        var responses: [RawResponse] = []
        var rest = bytes[...]
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        while let headEnd = rest.firstRange(of: separator) {
            let head = String(decoding: rest[..<headEnd.lowerBound], as: UTF8.self)
            var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
            guard !lines.isEmpty else { break }
            let statusLine = lines.removeFirst().split(separator: " ")
            guard statusLine.count >= 2, let status = Int(statusLine[1]) else { break }
            var headers: [String: String] = [:]
            for line in lines {
                guard let colon = line.firstIndex(of: ":") else { continue }
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            let length = headers["content-length"].flatMap { Int($0) } ?? 0
            let bodyStart = headEnd.upperBound
            guard rest.distance(from: bodyStart, to: rest.endIndex) >= length else { break }
            let bodyEnd = rest.index(bodyStart, offsetBy: length)
            responses.append(RawResponse(status: status, headers: headers, body: Array(rest[bodyStart..<bodyEnd])))
            rest = rest[bodyEnd...]
        }
        return responses
    }
}
