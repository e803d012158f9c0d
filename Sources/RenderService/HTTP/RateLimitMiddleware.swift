import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// The spec's rate limits on `/v1` (`RATE_LIMIT_PER_HOUR`, off by default): every `/v1`
/// response carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`
/// (Unix time at which the bucket is full again), errors and 404s included; over the limit the
/// answer is `429 {"error": "Rate limit exceeded", "status": 429}` with `Retry-After`.
///
/// A request counts against its API key's bucket (the owner id, when keys are on and the
/// request presents a valid one) or else its client address (`TRUSTED_PROXIES` decides
/// whether `X-Forwarded-For` is believed). Uploads (`POST /v1/renders`, `POST /v1/assets`)
/// also count against the lower upload limit; the headers then report whichever bucket is
/// closer to refusing. A refused request is charged to no bucket, so a client that waits
/// `Retry-After` gets through.
///
/// Outside the error middleware, so the headers reach every answer it makes.
struct RateLimitMiddleware: RouterMiddleware {
    typealias Context = RenderRequestContext
    let limiter: any RateLimiter
    let settings: RateLimitSettings
    let keys: APIKeys
    let metrics: ServiceMetrics
    let addresses: ClientAddressResolver

    init(limiter: any RateLimiter, settings: RateLimitSettings, keys: APIKeys, metrics: ServiceMetrics) {
        self.limiter = limiter
        self.settings = settings
        self.keys = keys
        self.metrics = metrics
        addresses = ClientAddressResolver(trustedProxies: settings.trustedProxies)
    }

    static let uploadRoutes: Set<String> = ["/v1/renders", "/v1/assets"]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard Self.isAPI(request, endpoint: context.endpointPath) else { return try await next(request, context) }
        let upload = request.method == .post && context.endpointPath.map(Self.uploadRoutes.contains) == true
        let client = self.client(of: request, context: context)
        let decision: RateLimitDecision
        do {
            decision = try await limiter.acquire(client: client, limits: settings.limits(upload: upload))
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            // Only when even the local stand-in failed: serve the request unlimited.
            context.logger.error("Rate limiter failed; request served without a limit", metadata: ["error": "\(error)"])
            return try await next(request, context)
        }
        let now = Date()
        if !decision.allowed {
            let binding = decision.binding
            metrics.rateLimited(limit: binding.name)
            context.logger.debug("Rate limit exceeded", metadata: ["client": "\(client)", "limit": "\(binding.name)"])
            var response = APIError(.tooManyRequests, "Rate limit exceeded").response()
            Self.setHeaders(&response, binding, now: now)
            response.headers[.retryAfter] = String(max(1, binding.retryAfter.wholeSecondsRoundedUp))
            return response
        }
        var response = try await next(request, context)
        Self.setHeaders(&response, decision.binding, now: now)
        return response
    }

    static func setHeaders(_ response: inout Response, _ state: RateLimitState, now: Date) {
        response.headers[.rateLimitLimit] = String(state.limit)
        response.headers[.rateLimitRemaining] = String(state.remaining)
        let reset = now.timeIntervalSince1970 + state.resetAfter.seconds
        response.headers[.rateLimitReset] = String(Int(reset.rounded(.up)))
    }

    /// The owner id of a valid API key, else the client's address (`ip:…`).
    func client(of request: Request, context: Context) -> String {
        if keys.isEnabled, let presented = AccessControlMiddleware.bearer(request), let owner = keys.owner(of: presented) {
            return owner
        }
        let peer = context.channel.remoteAddress?.ipAddress.flatMap(IPAddress.init)
        let forwarded = request.headers[values: .xForwardedFor]
        return addresses.client(peer: peer, forwardedFor: forwarded)?.rateLimitClient ?? "ip:unknown"
    }

    /// Whether a request is one of the API's: decided from the route it reached, as access
    /// control is; a request that reached none (a 404) by its path without empty or dot
    /// segments, so `//v1//nowhere` is counted like `/v1/nowhere`.
    static func isAPI(_ request: Request, endpoint: String?) -> Bool {
        if let endpoint, endpoint != "NotFound" { return endpoint == "/v1" || endpoint.hasPrefix("/v1/") }
        let path = request.uri.path.removingPercentEncoding ?? request.uri.path
        return path.split(separator: "/").first { $0 != "." } == "v1"
    }
}

extension HTTPField.Name {
    static let rateLimitLimit = Self("X-RateLimit-Limit")!
    static let rateLimitRemaining = Self("X-RateLimit-Remaining")!
    static let rateLimitReset = Self("X-RateLimit-Reset")!
    static let xForwardedFor = Self("X-Forwarded-For")!
}
