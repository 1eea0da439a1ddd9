import Foundation
import SwitchyardCore
import SwitchyardDelivery
import SwitchyardStore

/// One destination as the UI shows it: the fields of `GET /api/destinations`.
struct DestinationRowView: Sendable {
    var name: String
    var href: String
    var type: String
    var state: String
    var active: Bool
    var delivered: Int64
    var failed: Int64
    var retrying: Int
    var held: Int
    var deadLettered: Int
    var lagEvents: Int64
    var lagSeconds: String
    var lastError: String?
    var enableHref: String

    init(_ status: DestinationStatus) {
        name = status.name
        href = UIPath.destination(status.name)
        type = status.type
        state = status.state.rawValue
        active = status.state == .active
        delivered = status.delivered
        failed = status.failed
        retrying = status.retrying
        held = status.held
        deadLettered = status.deadLettered
        lagEvents = status.lagEvents
        lagSeconds = String(format: "%.1f", status.lagSeconds)
        lastError = status.lastError
        enableHref = UIPath.destination(status.name) + "/enable"
    }
}

/// `/destinations`: every configured destination with its counters.
struct DestinationsPageView: Sendable {
    var chrome: UIChrome
    var destinations: [DestinationRowView]
}

/// `/destinations/{name}`: one destination, its dead letters and the replay buttons.
struct DestinationPageView: Sendable {
    /// One dead letter.
    struct Letter: Sendable {
        var id: Int64
        var failedAt: String
        var messageId: String
        var eventType: String
        var eventName: String?
        var attempts: Int
        var lastStatus: String
        var lastError: String
        /// The stored message, as the destination was sent it.
        var payload: String
    }

    var chrome: UIChrome
    var destination: DestinationRowView
    var letters: [Letter]
    var hasLetters: Bool
    var replayHref: String
    /// Said after a replay or a re-enable.
    var notice: String?
    var pager: UIPager

    init(
        chrome: UIChrome, status: DestinationStatus, letters: [DeadLetter], after: Int64, next: Int64?,
        notice: String?
    ) {
        self.chrome = chrome
        destination = DestinationRowView(status)
        self.letters = letters.map { letter in
            let event = letter.event.event
            return Letter(
                id: letter.id, failedAt: letter.failedAt.iso8601, messageId: event.messageId,
                eventType: event.type.rawValue, eventName: event.eventName, attempts: letter.attempts,
                lastStatus: letter.lastStatus.map(String.init) ?? "none", lastError: letter.lastError,
                payload: String(decoding: event.body, as: UTF8.self))
        }
        hasLetters = !letters.isEmpty
        replayHref = UIPath.destination(status.name) + "/replay"
        self.notice = notice
        let here = UIPath.destination(status.name)
        pager = UIPager(
            newestHref: after == 0 ? nil : here,
            olderHref: next.map { UIPath.with(here, query: [("cursor", String($0))]) })
    }
}
