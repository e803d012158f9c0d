import Foundation
import Hummingbird
import RenderEngine
import Synchronization

/// An error response in the spec's format: `{"error": …, "message": …?, "status": …}`.
public struct APIError: Error, Sendable {
    public let status: HTTPResponse.Status
    public let error: String
    public let message: String?
    public var headers: HTTPFields
    /// Refused while the client may still be sending: answer, then hang up instead of
    /// reading the rest of the body.
    public var closesConnection: Bool

    public init(_ status: HTTPResponse.Status, _ error: String, message: String? = nil, headers: HTTPFields = [:], closesConnection: Bool = false) {
        self.status = status
        self.error = error
        self.message = message
        self.headers = headers
        self.closesConnection = closesConnection || status == .contentTooLarge
    }

    static func invalidUUID(_ field: String) -> APIError {
        APIError(.badRequest, "Invalid UUID format for \(field)")
    }

    static let renderNotFound = APIError(.notFound, "Render not found")
    static let notFound = APIError(.notFound, "Not found")
    static let fileTooLarge = APIError(.contentTooLarge, "File too large (maximum 50MB)")

    /// The answer to a refusal of the intake.
    init(_ refusal: IntakeError) {
        let status: HTTPResponse.Status =
            switch refusal.kind {
            case .invalid: .badRequest
            case .notFound: .notFound
            case .expired: .gone
            case .keyReused: .unprocessableContent
            case .overloaded: .serviceUnavailable
            }
        self.init(status, refusal.error, message: refusal.message, headers: refusal.retryAfterSeconds.map { [.retryAfter: String($0)] } ?? [:])
    }

    func response() -> Response {
        var members: [(String, JSONValue)] = [("error", .string(error))]
        if let message { members.append(("message", .string(message))) }
        members.append(("status", .int(Int(status.code))))
        var response = JSONBody.response(.object(members), status: status)
        for field in headers { response.headers[field.name] = field.value }
        return response
    }
}

/// JSON responses.
enum JSONBody {
    static func response(_ value: JSONValue, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        response(buffer: value.buffer, status: status, headers: headers)
    }

    static func response(buffer: ByteBuffer, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: buffer))
    }
}

/// Turns every failure into the spec's error JSON: our `APIError`s and `IntakeError`s, Hummingbird's
/// `HTTPError`s (unknown route → 404, or 405 when the path exists with other methods), and
/// anything unexpected (→ 500, logged, never with internal details in the body).
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = RenderRequestContext
    let routes: RouteTable

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            guard error.closesConnection else { return error.response() }
            // The body may still be arriving: answer at once, let the client stop sending,
            // and hang up shortly after (an immediate close would reset the connection
            // before some clients read the answer). `Connection: close` tells the client not
            // to send its next request on this connection: the hang-up would cut it off.
            context.closeConnectionSoon()
            var response = error.response()
            response.headers[.connection] = "close"
            return response
        } catch let refusal as IntakeError {
            return APIError(refusal).response()
        } catch let error as HTTPError {
            // Hummingbird names unmatched requests' endpoint "NotFound".
            if error.status == .notFound, context.endpointPath == nil || context.endpointPath == "NotFound" {
                let allowed = routes.methods(for: request.uri.path)
                if !allowed.isEmpty {
                    return APIError(
                        .methodNotAllowed, "Method not allowed",
                        message: "\(request.method.rawValue) is not supported here; use \(allowed.joined(separator: ", "))",
                        headers: [.allow: allowed.joined(separator: ", ")]
                    ).response()
                }
                return APIError.notFound.response()
            }
            return APIError(error.status, error.body ?? error.status.reasonPhrase).response()
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            context.logger.error("Unhandled error", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            return APIError(.internalServerError, "Internal server error").response()
        }
    }
}

/// The routes the service registers, for 405 answers and access control. Filled through a
/// `RouteRegistry` while the router is built (after the middleware that reads it was added,
/// as Hummingbird applies middleware only to routes registered after it), read-only afterwards.
final class RouteTable: Sendable {
    struct Route: Sendable {
        let method: String
        let template: String
        let segments: [String]
        let access: RouteAccess
    }
    private let routes = Mutex<[Route]>([])

    fileprivate func add(_ method: HTTPRequest.Method, _ path: String, access: RouteAccess) {
        let route = Route(method: method.rawValue, template: path, segments: path.split(separator: "/").map(String.init), access: access)
        routes.withLock { $0.append(route) }
    }

    /// Every route registered, in order (the OpenAPI test compares them with the document).
    var all: [Route] { routes.withLock { $0 } }

    /// The access rule of the route Hummingbird matched (its `endpointPath`, the template as
    /// registered). Deny by default: an unmatched request, or a route registered without a
    /// rule, needs an API key.
    func access(endpoint: String?) -> RouteAccess {
        guard let endpoint else { return .apiKey }
        return routes.withLock { $0.first { $0.template == endpoint }?.access } ?? .apiKey
    }

    /// Methods registered for a path that matches one of the templates.
    func methods(for path: String) -> [String] {
        let parts = path.split(separator: "/").map(String.init)
        var found: [String] = []
        for route in routes.withLock({ $0 }) where Self.matches(route.segments, parts) && !found.contains(route.method) {
            found.append(route.method)
        }
        return found
    }

    private static func matches(_ template: [String], _ parts: [String]) -> Bool {
        if template.last == "**" { return parts.count >= template.count && zip(template.dropLast(), parts).allSatisfy(segmentMatches) }
        return template.count == parts.count && zip(template, parts).allSatisfy(segmentMatches)
    }

    private static func segmentMatches(_ pair: (String, String)) -> Bool {
        pair.0.hasPrefix("{") || pair.0 == "*" || pair.0 == pair.1
    }
}

/// Where controllers register their routes: one call adds the handler to the router and
/// records the route in the table, so the 405 answers, the access rules and the OpenAPI test
/// see exactly the routes that are served.
struct RouteRegistry<Context: RequestContext> {
    let router: Router<Context>
    let table: RouteTable

    /// `access` defaults to `.apiKey`: a route is open only when it says so.
    func on(
        _ method: HTTPRequest.Method, _ path: String, access: RouteAccess = .apiKey,
        use handler: @escaping @Sendable (Request, Context) async throws -> some ResponseGenerator
    ) {
        router.on(RouterPath(path), method: method, use: handler)
        table.add(method, path, access: access)
    }

    func get(_ path: String, access: RouteAccess = .apiKey, use handler: @escaping @Sendable (Request, Context) async throws -> some ResponseGenerator) {
        on(.get, path, access: access, use: handler)
    }

    func post(_ path: String, access: RouteAccess = .apiKey, use handler: @escaping @Sendable (Request, Context) async throws -> some ResponseGenerator) {
        on(.post, path, access: access, use: handler)
    }
}
