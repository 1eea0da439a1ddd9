import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SwitchyardCore

/// `GET /analytics.js` (SPEC §6): the browser client, `Assets/analytics.js`, with the gateway's version
/// written into it.
///
/// The script is read from the resource bundle once, when the gateway is built, and served from memory
/// with a strong `ETag` (the SHA-256 of the bytes served), `Cache-Control: public, max-age=300` and `304`
/// for a matching `If-None-Match`. It needs no authentication: it holds nothing secret, and the write key
/// is given by the page that loads it. `HEAD` is answered by Hummingbird from the `GET` route.
struct AnalyticsScriptController: Sendable {
    /// Replaced with `SwitchyardVersion.current` wherever it appears in the asset.
    static let versionPlaceholder = "__SWITCHYARD_VERSION__"
    static let contentType = "application/javascript; charset=utf-8"
    /// Short enough that a new gateway version reaches browsers within minutes; revalidation is cheap (304).
    static let cacheControl = "public, max-age=300"

    /// The bytes served.
    let script: ByteBuffer
    /// The quoted strong entity tag: `"` + lowercase hex SHA-256 of `script` + `"`.
    let etag: String

    /// Loads the bundled script. Throws when the resource bundle lacks it, which means the executable was
    /// copied without the `switchyard_SwitchyardServer.resources` folder SwiftPM builds beside it.
    init() throws {
        guard let url = Bundle.module.url(forResource: "analytics", withExtension: "js", subdirectory: "Assets"),
            let data = try? Data(contentsOf: url)  // the error is reported below, with what to do about it
        else {
            throw GatewayStartError(
                "Assets/analytics.js is missing from the resource bundle; keep the "
                    + "switchyard_SwitchyardServer.resources folder next to the switchyard executable")
        }
        self.init(source: String(decoding: data, as: UTF8.self))
    }

    /// Serves `source` with the version substituted (for tests and for the bundled file alike).
    init(source: String, version: String = SwitchyardVersion.current) {
        let bytes = Array(source.replacingOccurrences(of: Self.versionPlaceholder, with: version).utf8)
        script = ByteBuffer(bytes: bytes)
        etag = "\"" + Self.hex(SHA256.hash(data: bytes)) + "\""
    }

    func addRoutes(to router: Router<GatewayRequestContext>) {
        router.get("/analytics.js") { request, _ in
            response(for: request)
        }
    }

    func response(for request: Request) -> Response {
        var headers: HTTPFields = [.eTag: etag, .cacheControl: Self.cacheControl]
        if let condition = request.headers[.ifNoneMatch], Self.matches(condition, etag: etag) {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentType] = Self.contentType
        headers[.xContentTypeOptions] = "nosniff"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: script))
    }

    /// RFC 9110 §13.1.2: `If-None-Match` is `*` or a comma-separated list of entity tags, compared weakly
    /// (a `W/` prefix is ignored). HTTPFields joins repeated header lines with commas, so one value suffices.
    static func matches(_ condition: String, etag: String) -> Bool {
        for candidate in condition.split(separator: ",") {
            var tag = candidate.trimmingCharacters(in: .whitespaces)
            if tag == "*" { return true }
            if tag.hasPrefix("W/") { tag.removeFirst(2) }
            if tag == etag { return true }
        }
        return false
    }

    static func hex(_ digest: SHA256.Digest) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(SHA256.Digest.byteCount * 2)
        for byte in digest {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
