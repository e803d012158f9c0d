import CVips
import CVipsShim
import Foundation

/// Collects a box-filtered copy of the master while it streams to disk, so the preview is
/// made from exactly the printed pixels without decoding a 233 MB TIFF again.
///
/// The box factor keeps the collected image at most 2400 px on its long side (twice the
/// preview), and the final resize to 1200 px is Lanczos3, as libvips' own thumbnailer does.
final class PreviewTap {
    let tee: OpaquePointer

    init(canvas: PixelSize) throws(RenderError) {
        let factor = max(1, Int((Double(canvas.longSide) / 2400).rounded(.up)))
        guard let tee = aso_preview_tee_new(Int32(canvas.width), Int32(canvas.height), Int32(factor)) else {
            throw RenderError(.internalFailure, "Out of memory for the preview")
        }
        self.tee = tee
    }

    deinit { aso_preview_tee_free(tee) }

    /// The collected image, or nil when libvips did not deliver every master pixel exactly once
    /// (then the caller reads the master back instead).
    func image(canvas: PixelSize) throws(RenderError) -> VipsImageRef? {
        guard aso_preview_tee_pixels(tee) == UInt64(canvas.width * canvas.height) else { return nil }
        let width = Int(aso_preview_tee_width(tee)), height = Int(aso_preview_tee_height(tee))
        let buffer = ByteBuffer(count: width * height * 3)
        aso_preview_tee_average(tee, buffer.pointer)
        guard let image = aso_image_from_memory(buffer.pointer, buffer.count, Int32(width), Int32(height), 3, Int32(VIPS_FORMAT_UCHAR.rawValue)) else {
            throw RenderError(.internalFailure, "The preview could not be assembled", detail: Vips.takeErrorText())
        }
        return VipsImageRef(taking: image, backing: buffer)
    }
}

/// Owned bytes that a libvips image reads without copying.
final class ByteBuffer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<UInt8>
    let count: Int
    init(count: Int) {
        self.count = count
        pointer = .allocate(capacity: count)
        pointer.initialize(repeating: 0, count: count)
    }
    deinit { pointer.deallocate() }
}
