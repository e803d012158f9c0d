import Foundation
import HTTPTypes
import Hummingbird

/// Counts and times every request under its route template (`/v1/renders/{id}`, never a raw
/// id, so the number of series stays bounded). Outermost, so it sees the final status.
struct MetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServiceMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        let response = try await next(request, context)
        let endpoint = context.endpointPath ?? "unmatched"
        metrics.request(method: request.method.rawValue, endpoint: endpoint, status: Int(response.status.code), duration: ContinuousClock.now - started)
        return response
    }
}

/// CORS for browser clients on configured origins (`CORS_ALLOWED_ORIGINS`, none by default).
struct CORSMiddleware<Context: RequestContext>: RouterMiddleware {
    let allowedOrigins: Set<String>
    static var allowedMethods: String { "GET, POST, HEAD, OPTIONS" }
    static var allowedHeaders: String { "Accept, Authorization, Content-Type, Idempotency-Key, If-None-Match, Prefer, Range" }
    static var exposedHeaders: String {
        "Content-Disposition, Content-Length, Content-Range, ETag, Location, Preference-Applied, Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset"
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let origin = request.headers[.origin] else { return try await next(request, context) }
        let allowed = allowedOrigins.contains(origin) || allowedOrigins.contains("*")
        if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            var headers: HTTPFields = [.vary: "Origin"]
            if allowed {
                headers[.accessControlAllowOrigin] = origin
                headers[.accessControlAllowMethods] = Self.allowedMethods
                headers[.accessControlAllowHeaders] = Self.allowedHeaders
                headers[.accessControlMaxAge] = "600"
            }
            return Response(status: .noContent, headers: headers)
        }
        var response = try await next(request, context)
        if allowed {
            response.headers[.accessControlAllowOrigin] = origin
            response.headers[.accessControlExposeHeaders] = Self.exposedHeaders
            response.headers.append(HTTPField(name: .vary, value: "Origin"))
        }
        return response
    }
}
