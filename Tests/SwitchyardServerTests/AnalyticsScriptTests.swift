import AsyncHTTPClient
import Foundation
import NIOHTTP1
import SwitchyardCore
import Testing

/// `GET /analytics.js` over real HTTP; what the script does in a browser is tested in Tests/browser.
@Suite("The browser client script")
struct AnalyticsScriptTests {
    @Test func servesTheScriptWithItsVersionAndCachingHeaders() async throws {
        try await TestGateway.with { (gateway) async throws in
            let response = try await gateway.send("/analytics.js", method: .GET, auth: nil)
            #expect(response.status == 200)
            #expect(response.headers["Content-Type"].first == "application/javascript; charset=utf-8")
            #expect(response.headers["Cache-Control"].first == "public, max-age=300")
            let etag = try #require(response.headers["ETag"].first)
            #expect(etag.count == 66 && etag.hasPrefix("\"") && etag.hasSuffix("\""))
            #expect(etag.dropFirst().dropLast().allSatisfy { "0123456789abcdef".contains($0) })
            #expect(response.text.contains("var VERSION = '\(SwitchyardVersion.current)';"))
            #expect(!response.text.contains("__SWITCHYARD_VERSION__"))
        }
    }

    @Test(arguments: [
        ("{etag}", 304), ("W/{etag}", 304), ("\"other\", {etag}", 304), ("*", 304), ("\"other\"", 200),
    ])
    func answersNotModifiedForAMatchingIfNoneMatch(condition: String, status: Int) async throws {
        try await TestGateway.with { (gateway) async throws in
            let first = try await gateway.send("/analytics.js", method: .GET, auth: nil)
            let etag = try #require(first.headers["ETag"].first)
            let header = condition.replacingOccurrences(of: "{etag}", with: etag)
            let response = try await gateway.send(
                "/analytics.js", method: .GET, headers: [("If-None-Match", header)], auth: nil)
            #expect(response.status == status)
            #expect(response.headers["ETag"].first == etag)
            #expect(response.headers["Cache-Control"].first == "public, max-age=300")
            #expect(response.body.isEmpty == (status == 304))
        }
    }

    @Test func needsNoAdminTokenOrWriteKey() async throws {
        try await TestGateway.with { (gateway) async throws in
            let response = try await gateway.send("/analytics.js", method: .GET, auth: nil)
            #expect(response.status == 200)
        }
    }
}
