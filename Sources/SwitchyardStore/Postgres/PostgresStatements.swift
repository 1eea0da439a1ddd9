import NIOCore
import PostgresNIO
import SwitchyardCore

/// The statements on the hot paths — every group commit, every delivery round — as named prepared
/// statements: PostgresNIO prepares each once per connection and afterwards only binds and executes.
enum PostgresStatements {
    /// The first statement of an append (`PostgresSchema.appendBeginFunction`): identity locks, the
    /// transaction id and a block of sequences, the dedupe claims and the identity facts, in one round trip.
    struct BeginAppend: PostgresPreparedStatement {
        static let sql = "SELECT * FROM switchyard_append_begin($1, $2, $3, $4, $5, $6, $7)"
        typealias Row = (String, String?, String?, Int64?, Int64?, String?)

        var userIds: [String]
        var anonymousIds: [String]
        /// Sequences to reserve: one per event of the batch (duplicates and suppressed ones leave gaps).
        var count: Int32
        var sources: [String]
        var messageIds: [String]
        var receivedAt: [Int64]
        var windowMilliseconds: Int64

        func makeBindings() -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 7)
            bindings.append(userIds)
            bindings.append(anonymousIds)
            bindings.append(count)
            bindings.append(sources)
            bindings.append(messageIds)
            bindings.append(receivedAt)
            bindings.append(windowMilliseconds)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

    /// Inserts events with their sequences, in one statement.
    struct InsertEvents: PostgresPreparedStatement {
        static let sql = """
            INSERT INTO events (\(PostgresSchema.eventColumns))
            SELECT * FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                $8::text[], $9::text[], $10::int8[], $11::int8[], $12::bytea[], $13::text[], $14::text[], $15::text[])
            """
        typealias Row = ()

        var rows: [(sequence: Int64, event: NewEvent, resolvedUserId: String?)]

        func makeBindings() -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 15)
            bindings.append(rows.map(\.sequence))
            bindings.append(rows.map(\.event.source))
            bindings.append(rows.map(\.event.messageId))
            bindings.append(rows.map(\.event.type.rawValue))
            bindings.append(NullableArray(rows.map(\.event.userId)))
            bindings.append(NullableArray(rows.map(\.event.anonymousId)))
            bindings.append(NullableArray(rows.map(\.event.eventName)))
            bindings.append(NullableArray(rows.map(\.event.previousId)))
            bindings.append(NullableArray(rows.map(\.event.groupId)))
            bindings.append(rows.map(\.event.timestamp.milliseconds))
            bindings.append(rows.map(\.event.receivedAt.milliseconds))
            bindings.append(rows.map { ByteBuffer(bytes: $0.event.body) })
            bindings.append(NullableArray(rows.map(\.resolvedUserId)))
            bindings.append(NullableArray([String?](repeating: nil, count: rows.count)))  // merged_anonymous_id: by merges
            bindings.append(NullableArray(rows.map(\.resolvedUserId)))  // stored_user_id: never changes
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row {}
    }

    /// The log after a position: what every delivery round reads. Only the rows below the horizon: the page
    /// is cut at the first row whose transaction may still be running or whose predecessors may still
    /// commit (they are a prefix of the page, as sequence order is transaction-id order).
    struct EventsAfter: PostgresPreparedStatement {
        static let sql = """
            SELECT \(PostgresSchema.eventColumns), \(PostgresSchema.anonymousIdUnlinked("events"))
            FROM (SELECT * FROM events WHERE seq > $1 ORDER BY seq LIMIT $2) events
            WHERE \(PostgresSchema.visibleBelowHorizon("events")) ORDER BY seq
            """
        typealias Row = StoredEvent

        var sequence: Int64
        var limit: Int64

        func makeBindings() -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 2)
            bindings.append(sequence)
            bindings.append(limit)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row {
            let cells = PostgresRandomAccessRow(row)
            var stored = try PostgresEventStore.storedEvent(cells)
            stored.anonymousIdUnlinked = try cells[PostgresSchema.eventColumnCount].decode(Bool.self)
            return stored
        }
    }
}

extension PostgresConnection {
    /// Runs a prepared statement and collects its rows.
    func rows<Statement: PostgresPreparedStatement>(_ statement: Statement, _ logger: Logger) async throws -> [Statement.Row] {
        var rows: [Statement.Row] = []
        for try await row in try await execute(statement, logger: logger) { rows.append(row) }
        return rows
    }
}
