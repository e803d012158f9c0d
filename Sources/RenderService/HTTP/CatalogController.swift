import Foundation
import Hummingbird
import RenderEngine

/// `GET /v1/size-presets` (the spec) and `GET /v1/styles` (the catalogue `style_id` refers to).
struct CatalogController<Context: RequestContext>: Sendable {
    func register(on router: Router<Context>, routes: RouteTable) {
        router.get("/v1/size-presets") { _, _ in JSONBody.response(buffer: RenderJSON.presetsBody) }
        router.get("/v1/styles") { _, _ in JSONBody.response(buffer: RenderJSON.stylesBody) }
        routes.add(.get, "/v1/size-presets")
        routes.add(.get, "/v1/styles")
    }
}
