import CVips
import CVipsShim
import Foundation

/// libvips, initialised once per process.
///
/// libvips keeps global state (type system, thread pool, error buffer), so it is started
/// lazily on first use by any engine call and never shut down: a render server lives as
/// long as the process.
enum Vips {
    private static let started: Result<Void, RenderError> = {
        if aso_vips_start(CommandLine.arguments.first ?? "aso-render", 0) != 0 {
            return .failure(RenderError(.internalFailure, "libvips failed to start", detail: takeErrorText()))
        }
        return .success(())
    }()

    static func start() throws(RenderError) {
        try started.get()
    }

    /// Threads libvips may use for one pipeline (libvips' default: the core count, or
    /// `VIPS_CONCURRENCY` from the environment).
    static func setConcurrency(_ threads: Int) {
        if threads > 0 { vips_concurrency_set(Int32(threads)) }
    }

    /// Takes libvips' process-wide error text and clears it. The text from concurrent
    /// operations can interleave, so callers choose the error *kind* from what failed and
    /// attach this text only as detail.
    static func takeErrorText() -> String {
        guard let text = aso_error_take() else { return "" }
        defer { g_free(text) }
        return String(cString: text).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// An owned reference to a `VipsImage` (a GObject): unreffed when the Swift value goes away.
final class VipsImageRef: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<VipsImage>
    /// Memory the image reads from without copying (images made from Swift buffers).
    private let backing: AnyObject?

    init(taking pointer: UnsafeMutablePointer<VipsImage>, backing: AnyObject? = nil) {
        self.pointer = pointer
        self.backing = backing
    }

    deinit {
        g_object_unref(UnsafeMutableRawPointer(pointer))
    }

    var width: Int { Int(vips_image_get_width(pointer)) }
    var height: Int { Int(vips_image_get_height(pointer)) }
    var bands: Int { Int(vips_image_get_bands(pointer)) }
    var format: VipsBandFormat { vips_image_get_format(pointer) }
    var interpretation: VipsInterpretation { vips_image_get_interpretation(pointer) }
    var hasAlpha: Bool { vips_image_hasalpha(pointer) != 0 }

    /// Runs a libvips call that produces a new image; on failure turns libvips' error text
    /// into a typed error.
    static func make(
        _ failure: RenderError.Code, _ message: @autoclosure () -> String,
        _ body: (UnsafeMutablePointer<UnsafeMutablePointer<VipsImage>?>) -> Int32
    ) throws(RenderError) -> VipsImageRef {
        var out: UnsafeMutablePointer<VipsImage>?
        let status = body(&out)
        guard status == 0, let image = out else {
            if let out { g_object_unref(UnsafeMutableRawPointer(out)) }
            throw RenderError(failure, message(), detail: Vips.takeErrorText())
        }
        return VipsImageRef(taking: image)
    }

    /// Pixels as a contiguous interleaved buffer (computes the whole pipeline).
    func materialise() throws(RenderError) -> Data {
        var size = 0
        guard let bytes = aso_write_to_memory(pointer, &size) else {
            throw RenderError(.corruptImage, "The image could not be decoded", detail: Vips.takeErrorText())
        }
        return Data(bytesNoCopy: bytes, count: size, deallocator: .custom { pointer, _ in g_free(pointer) })
    }
}
