import Foundation
import RenderEngine

/// The render form's fields, checked: shared by the intake (`POST /v1/renders`' form fields)
/// and the style preview (query parameters), so both accept and refuse exactly the same values.
enum RenderForm {
    /// Every field of a render request beside the photo (`file`); any other is refused.
    static let fields: Set<String> = [
        "asset_id", "style_id", "size_preset_id", "orientation", "fit", "style_params", "seed",
        "width_inches", "height_inches", "width_mm", "height_mm", "bleed_inches", "crop_marks", "output_profile", "rendering_intent",
        "webhook_url",
    ]

    static func lookupStyle(_ value: String?) throws -> any RenderStyle {
        guard let value, !value.isEmpty else { throw IntakeError.invalid("style_id is required", message: "GET /v1/styles lists the styles") }
        guard let id = UUID(uuidString: value) else { throw IntakeError.invalidUUID("style_id") }
        guard let style = StyleCatalog.find(id: id) else {
            throw IntakeError.invalid("Unknown style_id", message: "No style has id \(id.lowercased); GET /v1/styles lists them")
        }
        return style
    }

    /// The paper: a preset (`size_preset_id`), or a custom size in inches or millimetres;
    /// exactly one of the three.
    static func paper(_ fields: [String: String]) throws -> (SizePreset, CustomSize?) {
        func given(_ name: String) -> Bool { !(fields[name] ?? "").isEmpty }
        let units = [("inches", "width_inches", "height_inches"), ("mm", "width_mm", "height_mm")].filter { given($0.1) || given($0.2) }
        if given("size_preset_id") || units.isEmpty {
            guard units.isEmpty else {
                throw IntakeError.invalid(
                    "Conflicting size",
                    message: "Give size_preset_id or a custom size (width_inches and height_inches, or width_mm and height_mm), not both")
            }
            return (try lookupPreset(fields["size_preset_id"]), nil)
        }
        guard units.count == 1, let (unit, widthName, heightName) = units.first else {
            throw IntakeError.invalid("Conflicting size", message: "Give the custom size in inches or in millimetres, not both")
        }
        guard given(widthName), given(heightName) else {
            throw IntakeError.invalid("Incomplete custom size", message: "\(widthName) and \(heightName) go together")
        }
        let custom = CustomSize(
            width: try decimal(fields[widthName], name: widthName), height: try decimal(fields[heightName], name: heightName),
            millimetres: unit == "mm")
        do {
            return (try custom.preset(), custom)
        } catch {
            throw IntakeError.invalid("Invalid custom size", message: error.message)
        }
    }

    /// Bleed, crop marks, output profile and rendering intent; absent or empty fields keep the
    /// spec's print.
    static func printOptions(_ fields: [String: String]) throws -> PrintOptions {
        var options = PrintOptions(
            cropMarks: try option(fields["crop_marks"], name: "crop_marks", default: Switch.false) == .true,
            outputProfile: try option(fields["output_profile"], name: "output_profile", default: OutputProfile.srgb),
            renderingIntent: try option(fields["rendering_intent"], name: "rendering_intent", default: RenderingIntent.perceptual))
        if let bleed = fields["bleed_inches"], !bleed.isEmpty {
            options.bleedInches = try decimal(bleed, name: "bleed_inches")
        }
        do {
            return try options.validated()
        } catch {
            throw IntakeError.invalid("Invalid bleed_inches", message: error.message)
        }
    }

    /// A form field's decimal number, written plainly: up to 4 digits without a leading zero and
    /// up to 3 decimals (0.001 in is finer than any trim). The OpenAPI patterns say the same, so
    /// what the document allows and what the API accepts are one set.
    static func decimal(_ value: String?, name: String) throws -> Double {
        guard let value, value.wholeMatch(of: /(0|[1-9][0-9]{0,3})(\.[0-9]{1,3})?/) != nil, let number = Double(value) else {
            throw IntakeError.invalid("Invalid \(name)", message: "\(name) must be a plain decimal number with at most 3 decimals, e.g. 8.5")
        }
        return number
    }

    static func lookupPreset(_ value: String?) throws -> SizePreset {
        guard let value, !value.isEmpty else {
            throw IntakeError.invalid(
                "size_preset_id is required",
                message: "GET /v1/size-presets lists the presets; or give a custom size as width_inches and height_inches (or width_mm and height_mm)")
        }
        guard let id = UUID(uuidString: value) else { throw IntakeError.invalidUUID("size_preset_id") }
        guard let preset = SizePreset.find(id: id) else {
            throw IntakeError.invalid("Unknown size_preset_id", message: "No size preset has id \(id.lowercased); GET /v1/size-presets lists them")
        }
        return preset
    }

    static func option<T: RawRepresentable & CaseIterable>(_ value: String?, name: String, default fallback: T) throws -> T where T.RawValue == String {
        guard let value, !value.isEmpty else { return fallback }
        guard let parsed = T(rawValue: value.lowercased()) else {
            throw IntakeError.invalid("Invalid \(name)", message: "\(name) must be one of: \(T.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return parsed
    }

    static func styleParameters(_ value: String?, style: any RenderStyle) throws -> [String: Double] {
        var supplied: [String: Double] = [:]
        if let value, !value.trimmingCharacters(in: .whitespaces).isEmpty {
            do {
                supplied = try JSONDecoder().decode([String: Double].self, from: Data(value.utf8))
            } catch DecodingError.typeMismatch(_, let context) where !context.codingPath.isEmpty {
                throw IntakeError.invalid("Invalid style_params", message: "Parameter '\(context.codingPath[0].stringValue)' must be a number")
            } catch {
                throw IntakeError.invalid("Invalid style_params", message: "style_params must be a JSON object of numbers, e.g. {\"paper_texture\": 0.8}")
            }
        }
        do {
            _ = try style.info.resolve(supplied)
        } catch {
            throw IntakeError.invalid("Invalid style_params", message: error.message)
        }
        return supplied
    }

    /// `webhook_url`, or the API key's default (`WEBHOOK_KEYS`): an http(s) URL whose host
    /// resolves only to public addresses (unless `WEBHOOK_ALLOW_PRIVATE`), with a secret to sign
    /// its deliveries. An empty field means none, even where the key has a default.
    static func webhookURL(_ value: String?, owner: String?, settings: WebhookSettings) async throws -> String? {
        if let value, value.isEmpty { return nil }
        guard let text = value ?? settings.defaultURL(owner: owner) else { return nil }
        let url: URL
        do { url = try WebhookURL.parse(text) } catch { throw IntakeError.invalid("Invalid webhook_url", message: error.message) }
        guard settings.secret(owner: owner) != nil else {
            throw IntakeError.invalid("Webhooks are not configured", message: "This deployment has no webhook secret (WEBHOOK_SECRET) to sign deliveries with")
        }
        do {
            _ = try await WebhookAddress.resolve(host: url.host ?? "", allowPrivate: settings.allowPrivate)
        } catch {
            throw IntakeError.invalid("Invalid webhook_url", message: error.message)
        }
        return text
    }

    static func seedValue(_ value: String?) throws -> UInt64? {
        guard let value, !value.isEmpty else { return nil }
        // At most 19 digits: the OpenAPI pattern can say exactly that.
        guard value.utf8.count <= 19, value.utf8.allSatisfy({ (0x30...0x39).contains($0) }), let seed = UInt64(value) else {
            throw IntakeError.invalid("Invalid seed", message: "seed must be a whole number between 0 and 9999999999999999999")
        }
        return seed
    }
}

/// `crop_marks=true|false` as a form field.
enum Switch: String, CaseIterable {
    case `true`, `false`
}
