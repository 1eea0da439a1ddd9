import GRDB
import GRDBSQLite

/// Runs a prepared statement with values bound straight through SQLite's C API.
///
/// The append path runs two statements per event inside the group commit, the one writer everything
/// waits for; GRDB's `StatementArguments` box every value into an array of existentials first, which
/// measured as a large share of each event's time. Binding directly keeps those two statements cheap.
/// Values are copied by SQLite (`SQLITE_TRANSIENT`), so nothing outlives the call.
struct RawBinding: ~Copyable {
    let handle: OpaquePointer
    let db: Database
    var index: Int32 = 1

    init(_ statement: Statement, in db: Database) {
        handle = statement.sqliteStatement
        self.db = db
        sqlite3_reset(handle)
    }

    static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    mutating func text(_ value: String?) {
        defer { index += 1 }
        guard var value else {
            sqlite3_bind_null(handle, index)
            return
        }
        value.withUTF8 { utf8 in
            // A Swift string's UTF-8 is not NUL-terminated here, so pass its length.
            _ = sqlite3_bind_text(handle, index, UnsafeRawPointer(utf8.baseAddress)?.assumingMemoryBound(to: CChar.self), Int32(utf8.count), Self.transient)
        }
    }

    mutating func integer(_ value: Int64?) {
        defer { index += 1 }
        guard let value else {
            sqlite3_bind_null(handle, index)
            return
        }
        sqlite3_bind_int64(handle, index, value)
    }

    mutating func blob(_ bytes: [UInt8]) {
        defer { index += 1 }
        bytes.withUnsafeBytes { raw in
            // An empty body still binds an empty blob, never NULL (the column is NOT NULL).
            _ = sqlite3_bind_blob(handle, index, raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(raw.count), Self.transient)
        }
    }

    /// Steps the statement to completion and resets it.
    consuming func run() throws {
        let code = sqlite3_step(handle)
        defer { sqlite3_reset(handle) }
        guard code == SQLITE_DONE || code == SQLITE_ROW else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
        }
    }
}
