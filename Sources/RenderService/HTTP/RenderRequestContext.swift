import Hummingbird
import NIOCore

/// The request context of every route: Hummingbird's basics plus the connection's channel,
/// so an upload refused half-way (413) can close its connection instead of reading the rest.
public struct RenderRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel
    /// The owner id of the request's API key (`AccessControlMiddleware`), nil when keys are off.
    public var apiKeyOwner: String?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// After a refusal while the client is still sending: let the response go out, give a
    /// well-behaved client a moment to stop, then close. Without this the server would drain
    /// whatever the client keeps sending (a declared 10 GB body included).
    func closeConnectionSoon() {
        let channel = self.channel
        channel.eventLoop.scheduleTask(in: .seconds(2)) { channel.close(promise: nil) }
    }
}
