import Crypto
import Foundation
import Hummingbird
import SwitchyardCore

/// A browser session of the web UI: the `switchyard_admin` cookie and the CSRF token derived from it.
///
/// The cookie value is `<issued seconds>.<random nonce>.<HMAC>`; only this gateway (or one with the same
/// admin token) can mint one, so a valid cookie proves that the browser once presented the token. The CSRF token is a second HMAC over the same nonce: every form carries it
/// and every POST must send it back, which a cross-site page cannot read.
struct UISession: Sendable, Equatable {
    /// Name of the cookie, HttpOnly and SameSite=Strict.
    static let cookieName = "switchyard_admin"
    /// Name of the hidden form field carrying the CSRF token.
    static let csrfField = "csrf"

    /// The cookie value as set.
    var cookieValue: String
    /// The token every form of this session posts back.
    var csrfToken: String
    /// True when minted for this request: the response must set the cookie.
    var isNew: Bool

    /// The `Set-Cookie` value for a new session; `secure` when the browser reached us over HTTPS, so the
    /// cookie is never sent over plain HTTP afterwards.
    func cookie(maxAge: Int, secure: Bool) -> Cookie {
        Cookie(
            name: Self.cookieName, value: cookieValue, maxAge: maxAge, path: "/", secure: secure, httpOnly: true,
            sameSite: .strict)
    }
}

/// Mints and checks UI sessions, keyed from the admin token: sessions survive a restart and die when the
/// token changes.
struct UISessionKeys: Sendable {
    /// How long a session cookie is honoured: a copied cookie does not outlive a working day.
    static let lifetime: Duration = .seconds(12 * 3600)

    private let key: SymmetricKey
    private let clock: any WallClock

    init(adminToken: String, clock: any WallClock) {
        key = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: Array(adminToken.utf8)),
            info: Array("switchyard ui session v1".utf8), outputByteCount: 32)
        self.clock = clock
    }

    var lifetimeSeconds: Int { Int(Self.lifetime.components.seconds) }

    /// A fresh session for a request that is already authorized.
    func mint() -> UISession {
        // The system generator: cryptographically secure on every platform Swift supports.
        let nonce = (0..<16).map { _ in UInt8.random(in: .min ... .max) }
        let body = "\(clock.now().milliseconds / 1000).\(Self.hex(nonce))"
        return UISession(cookieValue: "\(body).\(mac("session:" + body))", csrfToken: mac("csrf:" + body), isNew: true)
    }

    /// The session the request's cookie holds, when it was minted with this key and has not expired.
    func session(from request: Request) -> UISession? {
        // Several cookies of the same name can arrive (another path, an old one); any valid one will do.
        for header in request.headers[values: .cookie] {
            for pair in header.split(separator: ";") {
                let trimmed = pair.trimmingCharacters(in: .whitespaces)
                guard trimmed.hasPrefix(UISession.cookieName + "=") else { continue }
                if let session = session(cookieValue: String(trimmed.dropFirst(UISession.cookieName.count + 1))) {
                    return session
                }
            }
        }
        return nil
    }

    func session(cookieValue: String) -> UISession? {
        let parts = cookieValue.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let issued = Int64(parts[0]), let code = Self.bytes(hex: parts[2]) else { return nil }
        let body = "\(parts[0]).\(parts[1])"
        guard HMAC<SHA256>.isValidAuthenticationCode(code, authenticating: Array(("session:" + body).utf8), using: key)
        else { return nil }
        // Only a cookie we signed gets here, but the arithmetic stays total anyway.
        let (age, overflow) = (clock.now().milliseconds / 1000).subtractingReportingOverflow(issued)
        guard !overflow, age >= -60, age <= Self.lifetime.components.seconds else { return nil }  // a minute of skew
        return UISession(cookieValue: cookieValue, csrfToken: mac("csrf:" + body), isNew: false)
    }

    /// Whether `submitted` is this session's CSRF token, compared in constant time.
    func checkCSRF(_ submitted: String?, session: UISession) -> Bool {
        guard let submitted else { return false }
        return AdminAccess.constantTimeEqual(Array(submitted.utf8), Array(session.csrfToken.utf8))
    }

    private func mac(_ text: String) -> String {
        Self.hex(Array(HMAC<SHA256>.authenticationCode(for: Array(text.utf8), using: key)))
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func bytes(hex: Substring) -> [UInt8]? {
        let utf8 = Array(hex.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        func nibble(_ char: UInt8) -> UInt8? {
            switch char {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): char - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): char - UInt8(ascii: "a") + 10
            default: nil
            }
        }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2)
        for index in stride(from: 0, to: utf8.count, by: 2) {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
            out.append(high << 4 | low)
        }
        return out
    }
}
