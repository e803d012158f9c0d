import Foundation
import Hummingbird
import RenderEngine

/// `GET /v1/size-presets` (the spec) and `GET /v1/styles` (the catalogue `style_id` refers to).
struct CatalogController<Context: RequestContext>: Sendable {
    func register(on router: Router<Context>, routes: RouteTable) {
        router.get("/v1/size-presets") { _, _ in JSONBody.response(SizePreset.all.map(RenderJSON.presetObject)) }
        router.get("/v1/styles") { _, _ in JSONBody.response(StyleCatalog.all.map { RenderJSON.styleObject($0.info) }) }
        routes.add(.get, "/v1/size-presets")
        routes.add(.get, "/v1/styles")
    }
}
