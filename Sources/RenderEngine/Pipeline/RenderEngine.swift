import CVips
import CVipsShim
import Foundation

/// Turns a photo into a print master (300 DPI TIFF) and a preview (JPEG), offline.
///
/// No HTTP, database or queue knowledge: the service and the CLI both drive this.
/// `render` is CPU-bound blocking work; callers run it on a dedicated thread, never on the
/// Swift cooperative pool or an event loop.
public struct RenderEngine: Sendable {
    public let limits: InputLimits

    /// - Parameter threads: libvips threads per render (nil: libvips' default, the core count).
    public init(limits: InputLimits = InputLimits(), threads: Int? = nil) throws(RenderError) {
        try Vips.start()
        if let threads { Vips.setConcurrency(threads) }
        self.limits = limits
    }

    /// Header-only look at an upload: format, size, orientation, colour; enforces the limits.
    public func probe(path: String) throws(RenderError) -> ImageProbe {
        try ImageProbe.read(path: path, limits: limits)
    }

    /// Renders `job`. Outputs appear atomically (written under a temporary name, then renamed):
    /// a failed or canceled render leaves nothing behind at `masterPath` or `previewPath`.
    public func render(_ job: RenderJob) throws(RenderError) -> RenderOutcome {
        defer { aso_release_memory() }
        let clock = ContinuousClock()
        let started = clock.now
        var timings: [String: Double] = [:]
        func lap(_ stage: String, since: ContinuousClock.Instant) {
            timings[stage] = milliseconds(clock.now - since)
        }
        func checkpoint() throws(RenderError) {
            if job.isCanceled() { throw RenderError(.canceled, "The render was canceled") }
        }

        try checkpoint()
        let probe = try probe(path: job.input)
        let parameters = try job.style.info.resolve(job.parameters)
        let options = try job.print.validated()
        let dpi = job.preset.dpi
        try Self.requireProfile(options.outputProfile)
        let layout = PrintLayout(
            source: PixelSize(width: probe.orientedWidth, height: probe.orientedHeight), preset: job.preset,
            orientation: job.orientation, fit: job.fit, maxWorkingShortSide: job.style.workingShortSide,
            bleed: options.bleedPixels(dpi: dpi), slug: options.slugPixels(dpi: dpi))

        // Decode, orient, colour-manage and crop to the working size (lazy for `photo`).
        lap("probe", since: started)
        var stageStart = clock.now
        let (working, cropOffset) = try decode(job.input, layout: layout, fit: job.fit, probe: probe)
        lap("decode", since: stageStart)
        var printInput = working
        var finish: (any PrintFinish)?
        var seed: UInt64?
        var styleKeepAlive: AnyObject?
        if job.style.workingShortSide != nil {
            let pixels = try working.materialise()
            lap("decode", since: stageStart)
            try checkpoint()

            stageStart = clock.now
            let renderSeed = job.seed ?? Self.seed(of: pixels)
            seed = renderSeed
            let planes = pixels.withUnsafeBytes { bytes in
                PlanarImage(interleavedBytes: bytes, width: working.width, height: working.height, channels: 3)
            }
            let overview = try job.style.overviewLongSide.map { side throws(RenderError) in
                try self.overview(job.input, longSide: side, probe: probe)
            }
            let context = StyleContext(
                seed: renderSeed, parameters: parameters, layout: layout, dpi: job.preset.dpi,
                workingAnchor: cropOffset.map { (Float($0.x), Float($0.y)) }, overview: overview)
            let styled = try job.style.abstract(planes, context: context)
            let buffer = styled.planes.interleaved()
            guard
                let image = aso_image_from_memory(
                    buffer.pointer, buffer.byteCount, Int32(buffer.width), Int32(buffer.height), Int32(buffer.channels),
                    Int32(VIPS_FORMAT_FLOAT.rawValue))
            else {
                throw RenderError(.internalFailure, "The styled image could not be handed to libvips", detail: Vips.takeErrorText())
            }
            printInput = VipsImageRef(taking: image, backing: buffer)
            finish = styled.finish ?? UnitRGBFinish()
            styleKeepAlive = buffer
            lap("style", since: stageStart)
            try checkpoint()
        }

        // Print resolution: upsample, finish, stream into the TIFF; tap the preview on the way.
        stageStart = clock.now
        let canvas = layout.canvas
        let previewTap = try PreviewTap(canvas: canvas)
        let finishBox = finish.map(FinishBox.init)
        var params = aso_print_params(
            canvas_width: Int32(canvas.width), canvas_height: Int32(canvas.height),
            content_left: Int32(layout.contentOrigin.x), content_top: Int32(layout.contentOrigin.y),
            content_width: Int32(layout.content.width), content_height: Int32(layout.content.height),
            sharpen: job.style.workingShortSide == nil ? Self.printSharpening(upsampling: layout.upsampling) : 0,
            xres: Double(job.preset.dpi) / 25.4,
            media: finishBox == nil ? nil : finishTrampoline,
            media_context: finishBox.map { Unmanaged.passUnretained($0).toOpaque() },
            tee: previewTap.tee,
            trim_left: Int32(layout.trimOrigin.x), trim_top: Int32(layout.trimOrigin.y),
            trim_width: Int32(layout.trim.width), trim_height: Int32(layout.trim.height),
            mark_slug: Int32(options.slugPixels(dpi: dpi)), mark_gap: Int32(dpi / 16), mark_thickness: Int32(max(1, dpi / 150)))
        let resampled = try VipsImageRef.make(.internalFailure, "The print stage could not be set up") { out in
            aso_print_resample(printInput.pointer, out, &params)
        }
        // Output colour streams too: lcms converts each strip on its way to the TIFF writer.
        let printed = try Self.export(resampled, options)
        let master = try AtomicFile.write(to: job.masterPath) { (temporary: String) throws(RenderError) in
            if aso_save_print_tiff(printed.pointer, temporary, Double(dpi), options.outputProfile.vipsProfile) != 0 {
                let detail = Vips.takeErrorText()
                throw self.classifyPrintFailure(input: job.input, format: probe.format, detail: detail)
            }
        }
        // The C callback and libvips hold raw pointers into these until the TIFF is written.
        withExtendedLifetime((printed, resampled, finishBox, styleKeepAlive)) {}
        lap("print", since: stageStart)
        try checkpoint()

        stageStart = clock.now
        let preview = Self.previewSize(canvas, longSide: job.previewLongSide)
        let previewBytes = try AtomicFile.write(to: job.previewPath) { (temporary: String) throws(RenderError) in
            // The tap holds the sRGB print before conversion; a master read back is already in
            // the output profile and only needs showing in sRGB.
            let image: VipsImageRef, converted: Bool
            if let collected = try previewTap.image(canvas: canvas) {
                (image, converted) = (collected, false)
            } else {
                (image, converted) = (try self.decodeMaster(job.masterPath), options.outputProfile != .srgb)
            }
            let sized = try VipsImageRef.make(.internalFailure, "The preview could not be resized") {
                aso_thumbnail_image_exact(image.pointer, $0, Int32(preview.width), Int32(preview.height))
            }
            let proofed = try Self.softProof(sized, options, alreadyConverted: converted)
            let shown = layout.canvas == layout.trim ? proofed : try Self.outlineTrim(proofed, layout: layout)
            if aso_save_preview_jpeg(shown.pointer, temporary, 85) != 0 {
                throw RenderError(.io, "The preview could not be written", detail: Vips.takeErrorText())
            }
        }
        lap("preview", since: stageStart)
        lap("total", since: started)

        var warnings: [String] = []
        if layout.effectiveDPI < lowResolutionWarningDPI {
            let inches = "\(Self.inches(Double(layout.trim.width) / Double(dpi)))x\(Self.inches(Double(layout.trim.height) / Double(dpi)))"
            warnings.append(
                "Low resolution: the photo gives \(Int(layout.effectiveDPI.rounded())) DPI at \(inches) in; prints look soft below \(Int(lowResolutionWarningDPI)) DPI"
            )
        }
        return RenderOutcome(
            width: canvas.width, height: canvas.height, dpi: dpi,
            trimWidthInches: Double(layout.trim.width) / Double(dpi), trimHeightInches: Double(layout.trim.height) / Double(dpi),
            print: options,
            effectiveDPI: (layout.effectiveDPI * 10).rounded() / 10, warnings: warnings,
            orientation: layout.isLandscape ? "landscape" : "portrait", style: job.style.info.slug,
            preset: job.preset.name, seed: seed, source: probe, working: layout.working, preview: preview,
            masterBytes: master, previewBytes: previewBytes, timingsMs: timings,
            peakMemoryBytes: MemoryUsage.peakResidentBytes())
    }

    /// A missing Adobe RGB profile is an installation fault, said before any pixel is decoded.
    static func requireProfile(_ profile: OutputProfile) throws(RenderError) {
        if profile == .adobeRGB, !FileManager.default.isReadableFile(atPath: OutputProfile.adobeRGBPath) {
            throw RenderError(
                .internalFailure, "The Adobe RGB output profile is not installed",
                detail: "\(OutputProfile.adobeRGBPath) is missing: install Debian's icc-profiles-free (scripts/install-deps.sh)")
        }
    }

    /// The print pixels (8-bit sRGB) in the output profile; sRGB passes through untouched, so
    /// the default master is byte for byte what it was before output profiles existed.
    static func export(_ image: VipsImageRef, _ options: PrintOptions) throws(RenderError) -> VipsImageRef {
        guard options.outputProfile != .srgb else { return image }
        let intent = options.renderingIntent == .perceptual ? VIPS_INTENT_PERCEPTUAL : VIPS_INTENT_RELATIVE
        return try VipsImageRef.make(.internalFailure, "The print could not be converted to \(options.outputProfile.rawValue)") {
            aso_icc_export(image.pointer, $0, options.outputProfile.vipsProfile, Int32(intent.rawValue), options.renderingIntent == .relative ? 1 : 0)
        }
    }

    /// The preview of a CMYK or Adobe RGB master: its pixels converted exactly as the master's
    /// were, then shown in sRGB, so the customer sees what the press will print.
    static func softProof(_ image: VipsImageRef, _ options: PrintOptions, alreadyConverted: Bool) throws(RenderError) -> VipsImageRef {
        guard options.outputProfile != .srgb else { return image }
        let exported = alreadyConverted ? image : try export(image, options)
        return try VipsImageRef.make(.internalFailure, "The preview could not be soft-proofed") {
            aso_icc_proof(exported.pointer, $0, options.outputProfile.vipsProfile)
        }
    }

    /// Draws the trim box on the preview as a dashed black-and-white line (visible on any
    /// picture), so a customer sees what the guillotine keeps of the bleed.
    static func outlineTrim(_ image: VipsImageRef, layout: PrintLayout) throws(RenderError) -> VipsImageRef {
        let width = image.width, height = image.height
        let pixels = try image.materialise()
        let buffer = ByteBuffer(count: pixels.count)
        pixels.copyBytes(to: buffer.pointer, count: pixels.count)
        let sx = Double(width) / Double(layout.canvas.width), sy = Double(height) / Double(layout.canvas.height)
        let left = Int((Double(layout.trimOrigin.x) * sx).rounded()), top = Int((Double(layout.trimOrigin.y) * sy).rounded())
        let right = min(width - 1, Int((Double(layout.trimOrigin.x + layout.trim.width) * sx).rounded()))
        let bottom = min(height - 1, Int((Double(layout.trimOrigin.y + layout.trim.height) * sy).rounded()))
        func plot(_ x: Int, _ y: Int, along: Int) {
            let value: UInt8 = (along / 6) % 2 == 0 ? 0 : 255
            let offset = (y * width + x) * 3
            buffer.pointer[offset] = value
            buffer.pointer[offset + 1] = value
            buffer.pointer[offset + 2] = value
        }
        for x in left...right {
            plot(x, top, along: x)
            plot(x, bottom, along: x)
        }
        for y in top...bottom {
            plot(left, y, along: y)
            plot(right, y, along: y)
        }
        guard let outlined = aso_image_from_memory(buffer.pointer, buffer.count, Int32(width), Int32(height), 3, Int32(VIPS_FORMAT_UCHAR.rawValue)) else {
            throw RenderError(.internalFailure, "The preview could not be assembled", detail: Vips.takeErrorText())
        }
        return VipsImageRef(taking: outlined, backing: buffer)
    }

    /// Unsharp amount folded into the upsampling kernel when enlarging, where interpolation
    /// softens most. A photo printed at (or reduced to) its own resolution has just been
    /// through libvips' Lanczos3 reduction and is left as it is.
    static func printSharpening(upsampling: Double) -> Double {
        upsampling > 1.01 ? 0.16 : 0
    }

    static func previewSize(_ canvas: PixelSize, longSide: Int = 1200) -> PixelSize {
        let long = Double(max(1, longSide))
        if canvas.width >= canvas.height {
            return PixelSize(width: Int(long), height: max(1, Int((long * Double(canvas.height) / Double(canvas.width)).rounded())))
        }
        return PixelSize(width: max(1, Int((long * Double(canvas.width) / Double(canvas.height)).rounded())), height: Int(long))
    }

    /// Decodes the photo to the working size: oriented, sRGB, 8-bit, cropped or fitted.
    /// Lazy and sequential except for an attention crop, which has to see the whole photo.
    /// - Returns: the working image, and for a cover crop the exact pixel offset of the crop
    ///   in the fitted photo (styles anchor their textures to the photo with it).
    private func decode(_ path: String, layout: PrintLayout, fit: FitPolicy, probe: ImageProbe) throws(RenderError) -> (VipsImageRef, (x: Int, y: Int)?) {
        let source = PixelSize(width: probe.orientedWidth, height: probe.orientedHeight)
        let format = probe.format
        let icc: Int32 = probe.hasICCProfile ? 1 : 0
        let work = layout.working
        let unbounded = Int32(10_000_000)
        let failOn = Int32(VIPS_FAIL_ON_ERROR.rawValue)
        let message = "The \(format.displayName) file could not be decoded"
        let decoded: VipsImageRef
        var offset: (x: Int, y: Int)?
        switch fit {
        case .contain:
            decoded = try VipsImageRef.make(.corruptImage, message) {
                aso_thumbnail(path, $0, Int32(work.width), Int32(work.height), 0, failOn, icc)
            }
        case .coverAttention:
            decoded = try VipsImageRef.make(.corruptImage, message) {
                aso_thumbnail(path, $0, Int32(work.width), Int32(work.height), 2, failOn, icc)
            }
        case .cover:
            // Fit the limiting side exactly, let the other overhang, then crop the centre.
            let widthLimits = Double(work.width) / Double(source.width) >= Double(work.height) / Double(source.height)
            let fitted = try VipsImageRef.make(.corruptImage, message) {
                aso_thumbnail(path, $0, widthLimits ? Int32(work.width) : unbounded, widthLimits ? unbounded : Int32(work.height), 0, failOn, icc)
            }
            let width = min(work.width, fitted.width), height = min(work.height, fitted.height)
            let left = (fitted.width - width) / 2
            let top = fitted.height > height ? try faceKeepingTop(path, probe: probe, height: fitted.height, cropHeight: height) : 0
            offset = (left, top)
            decoded = try VipsImageRef.make(.internalFailure, "The photo could not be cropped") {
                aso_extract(fitted.pointer, $0, Int32(left), Int32(top), Int32(width), Int32(height))
            }
        }
        let converted = try VipsImageRef.make(.corruptImage, "The \(format.displayName) file's colours could not be converted to sRGB") {
            aso_to_srgb8(decoded.pointer, $0)
        }
        return (converted, offset)
    }

    /// The top of a vertical cover crop: centred, or moved up to keep a face (`CropPlacement`),
    /// judged on a 160 px overview (shrink-on-load: a few milliseconds).
    private func faceKeepingTop(_ path: String, probe: ImageProbe, height: Int, cropHeight: Int) throws(RenderError) -> Int {
        let small = try overview(path, longSide: 160, probe: probe)
        let skin = Sketch.skinLikelihood(small)
        let rows = (0..<small.height).map { y in
            let row = skin.row(y)
            return (0..<small.width).reduce(Float(0)) { $0 + row[$1] } / Float(small.width)
        }
        return CropPlacement.top(height: height, cropHeight: cropHeight, skinRows: rows)
    }

    /// The whole photo, oriented and in sRGB, fitted inside `longSide` (shrink-on-load keeps it cheap).
    private func overview(_ path: String, longSide: Int, probe: ImageProbe) throws(RenderError) -> PlanarImage {
        let message = "The \(probe.format.displayName) file could not be decoded"
        let icc: Int32 = probe.hasICCProfile ? 1 : 0
        let small = try VipsImageRef.make(.corruptImage, message) {
            aso_thumbnail(path, $0, Int32(longSide), Int32(longSide), 0, Int32(VIPS_FAIL_ON_ERROR.rawValue), icc)
        }
        let converted = try VipsImageRef.make(.corruptImage, message) { aso_to_srgb8(small.pointer, $0) }
        let pixels = try converted.materialise()
        return pixels.withUnsafeBytes { bytes in
            PlanarImage(interleavedBytes: bytes, width: converted.width, height: converted.height, channels: 3)
        }
    }

    private func decodeMaster(_ path: String) throws(RenderError) -> VipsImageRef {
        guard let image = aso_open_header(path, Int32(VIPS_FAIL_ON_ERROR.rawValue)) else {
            throw RenderError(.internalFailure, "The print master could not be read back", detail: Vips.takeErrorText())
        }
        return VipsImageRef(taking: image)
    }

    /// The TIFF writer pulls pixels through the whole lazy pipeline, so a truncated photo only
    /// shows up here. Decide from what fails on a fresh decode, not from libvips' message text.
    private func classifyPrintFailure(input: String, format: ImageFormat, detail: String) -> RenderError {
        do {
            try ImageProbe.verifyDecodes(path: input, format: format)
        } catch {
            return error
        }
        return RenderError(.io, "The print master could not be written", detail: detail)
    }

    /// FNV-1a over the working pixels, folded 8 bytes at a time: equal pixels, equal seed.
    static func seed(of pixels: Data) -> UInt64 {
        pixels.withUnsafeBytes { raw -> UInt64 in
            var hash: UInt64 = 0xCBF2_9CE4_8422_2325
            let words = raw.count / 8
            for i in 0..<words {
                hash = (hash ^ raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)) &* 0x100_0000_01B3
            }
            for i in (words * 8)..<raw.count {
                hash = (hash ^ UInt64(raw[i])) &* 0x100_0000_01B3
            }
            return hash
        }
    }

    private static func inches(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value)
    }
}

/// A duration in milliseconds, to a tenth: the one conversion used for timings, logs and
/// the queue's millisecond arguments.
public func milliseconds(_ duration: Duration) -> Double {
    let (seconds, attoseconds) = duration.components
    return ((Double(seconds) * 1000 + Double(attoseconds) / 1e15) * 10).rounded() / 10
}

/// The default finish for styles whose planes are sRGB in 0...1.
struct UnitRGBFinish: PrintFinish {
    func finish(row input: UnsafePointer<Float>, bands: Int, output: UnsafeMutablePointer<UInt8>, x: Int, y: Int, count: Int) {
        for i in 0..<count {
            let p = input + i * bands
            output[3 * i] = byte(p[0])
            output[3 * i + 1] = byte(p[min(1, bands - 1)])
            output[3 * i + 2] = byte(p[min(2, bands - 1)])
        }
    }
}

/// Holds a style's finish for the C resampler's callback.
private final class FinishBox: @unchecked Sendable {
    let finish: any PrintFinish
    init(_ finish: any PrintFinish) { self.finish = finish }
}

/// libvips calls this from its worker threads for every print row.
private let finishTrampoline: aso_media_fn = { context, input, bands, output, x, y, width in
    guard let context, let input, let output else { return }
    let box = Unmanaged<FinishBox>.fromOpaque(context).takeUnretainedValue()
    box.finish.finish(row: input, bands: Int(bands), output: output, x: Int(x), y: Int(y), count: Int(width))
}
