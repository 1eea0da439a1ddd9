import Foundation
import HTTPTypes
import Hummingbird
import Mustache
import NIOCore
import SwitchyardCore

/// Renders the UI's mustache templates (SwiftPM resources in `Templates/`) into HTML responses, and holds
/// the stylesheet served as `/ui.css`.
///
/// Templates use only `{{ }}`, which HTML-escapes, so nothing a client sent can become markup. Every page
/// inherits `layout.mustache`.
struct UIRenderer: Sendable {
    private let library: MustacheLibrary
    /// The bytes of `/ui.css`.
    let stylesheet: ByteBuffer

    /// Loads every `*.mustache` file of `directory` and `ui.css`.
    init(directory: URL) throws {
        var library = MustacheLibrary()
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        for file in files where file.hasSuffix(".mustache") {
            let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            do {
                try library.register(text, named: String(file.dropLast(".mustache".count)))
            } catch {
                throw GatewayStartError("UI template \(file) does not parse: \(error)")
            }
        }
        self.library = library
        stylesheet = ByteBuffer(bytes: try Data(contentsOf: directory.appendingPathComponent("ui.css")))
    }

    /// The templates shipped with the gateway.
    static func bundled() throws -> UIRenderer {
        guard let directory = Bundle.module.url(forResource: "Templates", withExtension: nil) else {
            throw GatewayStartError("the UI templates are missing from the switchyard_SwitchyardServer resource bundle")
        }
        return try UIRenderer(directory: directory)
    }

    /// `view` rendered with the template `name` as an HTML page.
    /// - Parameter scripts: the page runs the gateway's own scripts (the Live page): the policy then allows
    ///   scripts and connections to 'self', still nothing from elsewhere and nothing inline.
    func page(
        _ name: String, _ view: Any, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:], scripts: Bool = false
    ) -> Response {
        guard let html = library.render(view, withTemplate: name) else {
            fatalError("internal inconsistency: no UI template named \(name)")
        }
        var headers = headers
        headers[.contentType] = "text/html; charset=utf-8"
        for (name, value) in Self.securityHeaders { headers[name] = value }
        if scripts { headers[.contentSecurityPolicy] = Self.scriptPolicy }
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
    }

    /// A `303 See Other` to `location`: a form POST answers with the page to look at next, so reloading
    /// that page never posts again.
    static func redirect(to location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location, .cacheControl: "no-store"])
    }

    /// Pages show personal data and carry CSRF tokens: never cached, never framed, no scripts at all, and
    /// no referrer that could leak a `?token=` or an id to another site.
    static let scriptPolicy =
        "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; "
        + "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    static let securityHeaders: [(HTTPField.Name, String)] = [
        (.cacheControl, "no-store"),
        (
            .contentSecurityPolicy,
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        ),
        (.xContentTypeOptions, "nosniff"),
        (HTTPField.Name("Referrer-Policy")!, "no-referrer"),  // a valid token; HTTPTypes has no constant for it
    ]
}

/// What every page's layout shows: the title, which navigation entry is current, the CSRF token for
/// its forms, and the version in the footer.
struct UIChrome: Sendable {
    var title: String
    var onActivity = false
    var onDestinations = false
    var onLive = false
    var csrf: String
    var version = SwitchyardVersion.current
}
