import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Where and how to reach Redis.
public struct RedisConfiguration: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var database: Int
    /// An ACL user (Redis 6+) beside the password; `default` when unset.
    public var username: String?
    public var password: String?
    /// Longest wait for one command's answer; the connection is closed when it passes (its
    /// stream of answers can no longer be trusted).
    public var commandTimeout: Duration
    public var connectTimeout: Duration

    public init(host: String = "localhost", port: Int = 6379, database: Int = 0, password: String? = nil,
                commandTimeout: Duration = .seconds(5), connectTimeout: Duration = .seconds(3)) {
        self.host = host
        self.port = port
        self.database = database
        self.password = password
        self.commandTimeout = commandTimeout
        self.connectTimeout = connectTimeout
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

    private init(channel: any Channel, timeout: Duration) {
        self.channel = channel
        self.timeout = timeout
    }

    static func connect(_ configuration: RedisConfiguration, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> RedisConnection {
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(.nanoseconds(configuration.connectTimeout.nanoseconds))
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RESPDecoder()))
                    try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(RESPCommandEncoder()))
                    try channel.pipeline.syncOperations.addHandler(RESPRequestHandler())
                }
            }
            .connect(host: configuration.host, port: configuration.port)
            .get()
        let connection = RedisConnection(channel: channel, timeout: configuration.commandTimeout)
        do {
            if let password = configuration.password, !password.isEmpty {
                try await connection.checked(["AUTH"] + (configuration.username.map { [$0] } ?? []) + [password])
            }
            if configuration.database != 0 {
                try await connection.checked(["SELECT", String(configuration.database)])
            }
        } catch {
            connection.close()
            throw error
        }
        return connection
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
        channel.writeAndFlush(RESPRequest(arguments: arguments, promise: promise), promise: nil)
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

/// Matches answers to requests in order; fails every waiting request when the connection goes.
final class RESPRequestHandler: ChannelDuplexHandler {
    typealias InboundIn = RESPValue
    typealias OutboundIn = RESPRequest
    typealias OutboundOut = [ByteBuffer]

    private var waiting = CircularBuffer<EventLoopPromise<RESPValue>>()

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
        let task = Task { try await RedisConnection.connect(configuration) }
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
