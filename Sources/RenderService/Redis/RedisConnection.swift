import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// Where and how to reach Redis.
public struct RedisConfiguration: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var database: Int
    /// An ACL user (Redis 6+) beside the password; `default` when unset.
    public var username: String?
    public var password: String?
    /// TLS (`REDIS_TLS`); nil: plain TCP.
    public var tls: RedisTLS?
    /// Longest wait for one command's answer; the connection is closed when it passes (its
    /// stream of answers can no longer be trusted).
    public var commandTimeout: Duration
    /// Longest wait for the TCP connection, and again for the TLS handshake.
    public var connectTimeout: Duration

    public init(
        host: String = "localhost", port: Int = 6379, database: Int = 0, password: String? = nil, tls: RedisTLS? = nil,
        commandTimeout: Duration = .seconds(5), connectTimeout: Duration = .seconds(3)
    ) {
        self.host = host
        self.port = port
        self.database = database
        self.password = password
        self.tls = tls
        self.commandTimeout = commandTimeout
        self.connectTimeout = connectTimeout
    }
}

/// TLS to Redis (a `tls-port`, or a managed Redis with in-transit encryption). The server's
/// certificate chain and name are always verified, as `rediss://` does in redis-py.
public struct RedisTLS: Sendable, Equatable {
    /// PEM file of the CA(s) to trust (`REDIS_TLS_CA_CERT`); the system's roots when nil.
    public var caCertificate: String?
    /// PEM client certificate and its key (`REDIS_TLS_CERT`, `REDIS_TLS_KEY`), for a server
    /// that asks for one (`tls-auth-clients yes`, Redis's default).
    public var certificate: String?
    public var privateKey: String?
    /// The name the server's certificate must carry (`REDIS_TLS_SERVER_NAME`), also sent as
    /// SNI; `host` when nil. An IP address as `host` is checked against the certificate's IP
    /// addresses.
    public var serverName: String?

    public init(caCertificate: String? = nil, certificate: String? = nil, privateKey: String? = nil, serverName: String? = nil) {
        self.caCertificate = caCertificate
        self.certificate = certificate
        self.privateKey = privateKey
        self.serverName = serverName
    }

    func makeContext() throws -> NIOSSLContext {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .fullVerification
        do {
            if let caCertificate { tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caCertificate)) }
            if let certificate, let privateKey {
                tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: privateKey, format: .pem))
            }
            return try NIOSSLContext(configuration: tls)
        } catch {
            throw RedisError("cannot load the TLS files (\(settings)): \(error)")
        }
    }

    /// The settings in force, by variable name, for error messages (file names only).
    var settings: String {
        var parts = ["REDIS_TLS=true"]
        if let caCertificate { parts.append("REDIS_TLS_CA_CERT=\(caCertificate)") }
        if let certificate { parts.append("REDIS_TLS_CERT=\(certificate)") }
        if let serverName { parts.append("REDIS_TLS_SERVER_NAME=\(serverName)") }
        return parts.joined(separator: ", ")
    }
}

public struct RedisError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// One TCP connection speaking RESP. Commands are pipelined: each is written at once and its
/// answer matched in order.
final class RedisConnection: Sendable {
    let channel: any Channel
    private let timeout: Duration
    /// The error that broke the connection (a TLS alert, a reset), for commands written after.
    private let failure: NIOLockedValueBox<(any Error)?>

    private init(channel: any Channel, timeout: Duration, failure: NIOLockedValueBox<(any Error)?>) {
        self.channel = channel
        self.timeout = timeout
        self.failure = failure
    }

    static func connect(
        _ configuration: RedisConfiguration, tls: NIOSSLContext? = nil,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> RedisConnection {
        let eventLoop = group.next()
        let handshake = tls.map { _ in eventLoop.makePromise(of: Void.self) }
        let failure = NIOLockedValueBox<(any Error)?>(nil)
        // An IP address is matched against the certificate's IP entries and sent as no SNI.
        let serverName = configuration.tls?.serverName ?? ((try? SocketAddress(ipAddress: configuration.host, port: 0)) == nil ? configuration.host : nil)
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(.nanoseconds(configuration.connectTimeout.nanoseconds))
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls, let handshake {
                        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: serverName))
                        try channel.pipeline.syncOperations.addHandler(TLSHandshakeHandler(handshake))
                    }
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RESPDecoder()))
                    try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(RESPCommandEncoder()))
                    try channel.pipeline.syncOperations.addHandler(RESPRequestHandler(failure: failure))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: configuration.host, port: configuration.port).get()
        } catch {
            handshake?.fail(error)  // a promise must not be left pending
            throw error
        }
        let connection = RedisConnection(channel: channel, timeout: configuration.commandTimeout, failure: failure)
        if let handshake, let settings = configuration.tls?.settings {
            let timer = eventLoop.scheduleTask(in: .nanoseconds(configuration.connectTimeout.nanoseconds)) {
                handshake.fail(RedisError("no TLS handshake within \(configuration.connectTimeout)"))
            }
            handshake.futureResult.whenComplete { _ in timer.cancel() }
            do {
                try await handshake.futureResult.get()
            } catch {
                connection.close()
                // A plain port answers a ClientHello in plain text, or waits for a line end.
                let text = "\(error)"
                let hint =
                    text.contains("WRONG_VERSION_NUMBER") || text.contains("no TLS handshake")
                    ? " (is this port Redis's tls-port?)"
                    : error is NIOSSLExtraError && text.contains("failedToValidateHostname")
                        ? " (the certificate does not carry \(serverName ?? configuration.host): set REDIS_TLS_SERVER_NAME to a name it does)" : ""
                throw RedisError("TLS with Redis failed (\(settings)): \(text)\(hint)")
            }
        }
        do {
            // The first answer proves the connection speaks RESP; a server that requires a
            // client certificate refuses the connection only now (TLS 1.3).
            if let password = configuration.password, !password.isEmpty {
                try await connection.checked(["AUTH"] + (configuration.username.map { [$0] } ?? []) + [password])
            } else {
                try await connection.checked(["PING"])
            }
            if configuration.database != 0 {
                try await connection.checked(["SELECT", String(configuration.database)])
            }
        } catch {
            connection.close()
            throw Self.explain(error, configuration)
        }
        return connection
    }

    /// Says what a failure of the first commands means: a TLS alert names the TLS settings,
    /// and a plain connection that the server drops or answers in gibberish hints at TLS.
    private static func explain(_ error: any Error, _ configuration: RedisConfiguration) -> any Error {
        let transport = error is IOError || error is ChannelError || error is RESPError || (error as? RedisError)?.description == "connection closed"
        if let tls = configuration.tls, transport || error is NIOSSLError || error is BoringSSLError {
            // TLS 1.3 finishes the client's handshake before the server checks its certificate.
            let text = "\(error)"
            let hint =
                text.contains("CERTIFICATE_REQUIRED")
                ? " (the server requires a client certificate: set REDIS_TLS_CERT and REDIS_TLS_KEY)"
                : transport && tls.certificate == nil
                    ? " (the server closed the connection after the handshake: if it requires a client certificate, set REDIS_TLS_CERT and REDIS_TLS_KEY)"
                    : ""
            return RedisError("TLS with Redis failed (\(tls.settings)): \(text)\(hint)")
        }
        if configuration.tls == nil, transport {
            return RedisError("\(error) before Redis answered: if this port serves TLS, set REDIS_TLS=true")
        }
        return error
    }

    var isActive: Bool { channel.isActive }

    /// Sends one command and waits for its answer (a Redis error reply is returned, not thrown).
    func send(_ arguments: [String]) async throws -> RESPValue {
        try await send(arguments.map { ByteBuffer(string: $0) })
    }

    func send(_ arguments: [ByteBuffer]) async throws -> RESPValue {
        let promise = channel.eventLoop.makePromise(of: RESPValue.self)
        let channel = self.channel
        let timer = channel.eventLoop.scheduleTask(in: .nanoseconds(timeout.nanoseconds)) {
            promise.fail(RedisError("command timed out"))
            channel.close(promise: nil)
        }
        promise.futureResult.whenComplete { _ in timer.cancel() }
        // A write to a connection already closed never reaches the handler: answer at once,
        // with what closed it, rather than at the timeout.
        let written = channel.eventLoop.makePromise(of: Void.self)
        let failure = self.failure
        written.futureResult.whenFailure { error in promise.fail(failure.withLockedValue { $0 } ?? error) }
        channel.writeAndFlush(RESPRequest(arguments: arguments, promise: promise), promise: written)
        return try await promise.futureResult.get()
    }

    /// Sends a command whose only acceptable answer is not an error.
    @discardableResult
    func checked(_ arguments: [String]) async throws -> RESPValue {
        let value = try await send(arguments)
        if case .error(let message) = value {
            // The first word of an AUTH failure is enough; never echo arguments (passwords).
            throw RedisError("\(arguments.first ?? "command") failed: \(message)")
        }
        return value
    }

    func close() {
        channel.close(promise: nil)
    }
}

struct RESPRequest {
    let arguments: [ByteBuffer]
    let promise: EventLoopPromise<RESPValue>
}

/// Completes `promise` when the TLS handshake is done, or fails it with the reason it is not.
final class TLSHandshakeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    private let promise: EventLoopPromise<Void>

    init(_ promise: EventLoopPromise<Void>) { self.promise = promise }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent, case .handshakeCompleted = event { promise.succeed(()) }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(error)
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(RedisError("connection closed"))
        context.fireChannelInactive()
    }
}

/// Matches answers to requests in order; fails every waiting request when the connection goes.
final class RESPRequestHandler: ChannelDuplexHandler {
    typealias InboundIn = RESPValue
    typealias OutboundIn = RESPRequest
    typealias OutboundOut = [ByteBuffer]

    private var waiting = CircularBuffer<EventLoopPromise<RESPValue>>()
    private let failure: NIOLockedValueBox<(any Error)?>

    init(failure: NIOLockedValueBox<(any Error)?> = NIOLockedValueBox(nil)) {
        self.failure = failure
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        waiting.append(request.promise)
        context.write(wrapOutboundOut(request.arguments), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let value = unwrapInboundIn(data)
        guard let promise = waiting.popFirst() else {
            // An answer nobody asked for: the stream is out of step.
            context.close(promise: nil)
            return
        }
        promise.succeed(value)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failure.withLockedValue { if $0 == nil { $0 = error } }
        failAll(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(RedisError("connection closed"))
        context.fireChannelInactive()
    }

    private func failAll(_ error: any Error) {
        while let promise = waiting.popFirst() { promise.fail(error) }
    }
}

/// A Redis client that keeps one connection and replaces it when it breaks, with exponential
/// backoff between connection attempts so a Redis restart does not become a connect storm.
public actor RedisClient {
    public let configuration: RedisConfiguration
    private var connection: RedisConnection?
    private var connecting: Task<RedisConnection, any Error>?
    private var failures = 0
    private var retryAfter: ContinuousClock.Instant?
    /// Made on the first connection (it reads the TLS files) and kept.
    private var tlsContext: NIOSSLContext?

    public init(configuration: RedisConfiguration) {
        self.configuration = configuration
    }

    /// Sends a command; a Redis error reply comes back as `.error`, transport failures throw.
    public func send(_ arguments: [String]) async throws -> RESPValue {
        let connection = try await current()
        do {
            return try await connection.send(arguments)
        } catch {
            drop(connection)
            throw error
        }
    }

    /// Like `send`, but an error reply throws.
    @discardableResult
    public func command(_ arguments: String...) async throws -> RESPValue {
        try await checked(arguments)
    }

    @discardableResult
    public func checked(_ arguments: [String]) async throws -> RESPValue {
        let value = try await send(arguments)
        if case .error(let message) = value { throw RedisError("\(arguments.first ?? "command") failed: \(message)") }
        return value
    }

    public func close() {
        connection?.close()
        connection = nil
    }

    private func drop(_ broken: RedisConnection) {
        if connection === broken { connection = nil }
        broken.close()
    }

    private func current() async throws -> RedisConnection {
        if let connection, connection.isActive { return connection }
        connection = nil
        if let connecting { return try await connecting.value }
        if let retryAfter, ContinuousClock.now < retryAfter {
            throw RedisError("Redis at \(configuration.host):\(configuration.port) is unavailable (retrying)")
        }
        let configuration = self.configuration
        if let tls = configuration.tls, tlsContext == nil {
            // Unreadable TLS files fail like a refused connection: with backoff, not a retry
            // on every command.
            do {
                tlsContext = try tls.makeContext()
            } catch {
                failures += 1
                retryAfter = ContinuousClock.now + .milliseconds(Int(min(5.0, 0.1 * pow(2, Double(failures - 1))) * 1000))
                throw RedisError("cannot connect to Redis at \(configuration.host):\(configuration.port): \(error)")
            }
        }
        let context = tlsContext
        let task = Task { try await RedisConnection.connect(configuration, tls: context) }
        connecting = task
        defer { connecting = nil }
        do {
            let fresh = try await task.value
            connection = fresh
            failures = 0
            retryAfter = nil
            return fresh
        } catch {
            failures += 1
            let backoff = min(5.0, 0.1 * pow(2, Double(failures - 1)))
            retryAfter = ContinuousClock.now + .milliseconds(Int(backoff * 1000))
            throw RedisError("cannot connect to Redis at \(configuration.host):\(configuration.port): \(error)")
        }
    }
}
