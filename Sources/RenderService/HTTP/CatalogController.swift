import Foundation
import Hummingbird
import RenderEngine

/// `GET /v1/size-presets` (the spec) and `GET /v1/styles` (the catalogue `style_id` refers to).
struct CatalogController<Context: RequestContext>: Sendable {
    func register(on routes: RouteRegistry<Context>) {
        routes.get("/v1/size-presets") { _, _ in JSONBody.response(buffer: RenderJSON.presetsBody) }
        routes.get("/v1/styles") { _, _ in JSONBody.response(buffer: RenderJSON.stylesBody) }
    }
}
