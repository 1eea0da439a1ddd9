/// The default reading of an HTTP answer (SPEC §4, house style §2), which adapters override where their
/// vendor documents otherwise:
///
/// | status | outcome |
/// |---|---|
/// | 2xx | delivered |
/// | 408, 429, 5xx except 501 | retry (honouring `Retry-After`) |
/// | 413 | split the batch |
/// | 410 | disable the destination |
/// | 3xx | dead letter (redirects are never followed) |
/// | other 4xx, 501 | dead letter |
public enum HTTPClassification {
    public static func outcome(status: Int, retryAfter: Duration?, body: String = "") -> DeliveryOutcome {
        let detail = body.isEmpty ? "" : ": \(body.prefix(200))"
        switch status {
        case 200..<300: return .delivered
        case 408, 429: return .retry(after: retryAfter, reason: "HTTP \(status)\(detail)", status: status)
        case 501: return .deadLetterAll(reason: "HTTP 501 not implemented\(detail)", status: status)
        case 500..<600: return .retry(after: retryAfter, reason: "HTTP \(status)\(detail)", status: status)
        case 413: return .split
        case 410: return .disable(reason: "HTTP 410: the endpoint is gone\(detail)", status: status)
        case 300..<400: return .deadLetterAll(reason: "HTTP \(status): redirects are not followed\(detail)", status: status)
        default: return .deadLetterAll(reason: "HTTP \(status)\(detail)", status: status)
        }
    }

    /// Parses `Retry-After` given as delay-seconds (HTTP-dates are rare from APIs and read as absent).
    public static func retryAfter(_ header: String?) -> Duration? {
        guard let header, let seconds = Double(header.trimmingCharacters(in: " ")), seconds >= 0 else { return nil }
        return .milliseconds(Int64(seconds * 1000))
    }
}

extension String {
    func trimmingCharacters(in character: Character) -> String {
        var text = Substring(self)
        while text.first == character { text.removeFirst() }
        while text.last == character { text.removeLast() }
        return String(text)
    }
}
