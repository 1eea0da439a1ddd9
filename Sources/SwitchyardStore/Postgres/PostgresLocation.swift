import Foundation
import NIOSSL
import PostgresNIO

/// Where the database is, read from a libpq-style URL: `postgres://user:password@host:port/database?sslmode=…`.
///
/// `sslmode`: `disable`, `prefer` (the default, as libpq: TLS when the server offers it), `require`
/// (TLS, certificate not checked, as libpq) or `verify-full` / `verify-ca` (TLS with the certificate and the
/// host name checked, both). `sslrootcert=PATH` names the PEM file of the authorities to trust instead of
/// the system's (a private CA, a cloud provider's bundle).
struct PostgresLocation: CustomStringConvertible {
    enum TLSMode: String {
        case disable, prefer, require
        case verifyFull = "verify-full"
    }

    var host: String
    var port: Int
    var username: String
    var password: String?
    var database: String?
    var tls: TLSMode
    /// `sslrootcert`: the authorities `verify-full` trusts; nil for the system's.
    var rootCertificates: String?

    init(url: String) throws(StoreError) {
        guard let components = URLComponents(string: url), let host = components.host, !host.isEmpty,
            ["postgres", "postgresql"].contains(components.scheme ?? "")
        else {
            throw StoreError(.unavailable, "storage.postgres is not a postgres://user:password@host:port/database URL")
        }
        self.host = host
        port = components.port ?? 5432
        username = components.user ?? "postgres"
        password = components.password
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        database = path.isEmpty ? nil : path
        let query = components.queryItems ?? []
        switch query.first(where: { $0.name == "sslmode" })?.value ?? "prefer" {
        case "disable": tls = .disable
        case "allow", "prefer": tls = .prefer
        case "require": tls = .require
        case "verify-ca", "verify-full": tls = .verifyFull
        case let mode:
            throw StoreError(.unavailable, "storage.postgres: sslmode=\(mode) is not one of disable, prefer, require, verify-full")
        }
        if let path = query.first(where: { $0.name == "sslrootcert" })?.value, path != "system" {
            guard FileManager.default.isReadableFile(atPath: path) else {
                throw StoreError(.unavailable, "storage.postgres: sslrootcert=\(path) is not a file this process can read")
            }
            rootCertificates = path
        }
    }

    /// `host:port/database`, for messages: never the password.
    var description: String { "\(host):\(port)/\(database ?? "")" }

    var tlsConfiguration: TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        if tls != .verifyFull { configuration.certificateVerification = .none }
        if let rootCertificates { configuration.trustRoots = .file(rootCertificates) }
        return configuration
    }

    func clientConfiguration(maxConnections: Int) -> PostgresClient.Configuration {
        let clientTLS: PostgresClient.Configuration.TLS =
            switch tls {
            case .disable: .disable
            case .prefer: .prefer(tlsConfiguration)
            case .require, .verifyFull: .require(tlsConfiguration)
            }
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: clientTLS)
        configuration.options.maximumConnections = maxConnections
        configuration.options.minimumConnections = 1
        configuration.options.connectTimeout = .seconds(5)
        return configuration
    }

    func connectionConfiguration() throws -> PostgresConnection.Configuration {
        let connectionTLS: PostgresConnection.Configuration.TLS =
            switch tls {
            case .disable: .disable
            case .prefer: .prefer(try NIOSSLContext(configuration: tlsConfiguration))
            case .require, .verifyFull: .require(try NIOSSLContext(configuration: tlsConfiguration))
            }
        var configuration = PostgresConnection.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: connectionTLS)
        configuration.options.connectTimeout = .seconds(5)
        return configuration
    }
}
