// A thin C layer between Swift and libvips.
//
// It exists for two reasons only:
//  1. Swift cannot call C variadic functions (every libvips operation takes a NULL-terminated
//     list of optional arguments) or function-like macros (VIPS_INIT, VIPS_REGION_ADDR).
//     Each `aso_` wrapper below fixes the optional arguments one call site needs.
//  2. The print resampler is a libvips image with its own generate function, so that the
//     print-resolution stage streams strip by strip into the TIFF writer on libvips' threads
//     (a 24x36 in master is 78 Mpx; it must never sit in memory whole).
#ifndef ASO_VIPS_H
#define ASO_VIPS_H

#include <stdint.h>
#include <stddef.h>
#include <vips/vips.h>

#ifdef __cplusplus
extern "C" {
#endif

// ---- process-wide setup and errors -------------------------------------------------------

/// Initialise libvips once per process: thread count for one pipeline, operation cache off
/// (a server must not grow with every distinct request), untrusted loaders blocked.
int aso_vips_start(const char *argv0, int concurrency);

/// Copy and clear libvips' error buffer. Free the result with g_free. Never NULL.
char *aso_error_take(void);

/// Peak and current resident memory tracked by libvips' own allocator, in bytes.
size_t aso_vips_tracked_mem_highwater(void);

// ---- loading -----------------------------------------------------------------------------

/// Open a file lazily (header only; pixels decode on demand). fail_on: VipsFailOn.
VipsImage *aso_open_header(const char *path, int fail_on);

/// EXIF orientation 1...8 (1 when absent).
int aso_orientation(VipsImage *image);

/// 1 when an ICC profile is attached.
int aso_has_icc(VipsImage *image);

/// The loader libvips chose ("jpegload", ...), or "" when unknown. Static storage.
const char *aso_loader(VipsImage *image);

/// Decode, auto-orient, colour-manage to sRGB (embedded profile, CMYK and 16-bit included)
/// and resize/crop to width x height in one libvips thumbnail call (shrink-on-load for JPEG).
/// crop: 0 = fit inside the box, 2 = cover and crop by attention (which makes libvips hold the
/// whole resized image in memory; a centred crop is cheaper as `aso_extract` on a fitted one).
/// icc: 1 when the file embeds a profile, which is then converted to sRGB. Without one the
/// data is taken as sRGB (or generic CMYK); passing a profile transform anyway would tint
/// greyscale photos.
int aso_thumbnail(const char *path, VipsImage **out, int width, int height, int crop, int fail_on,
                  int icc);

/// A rectangle of an image (lazy).
int aso_extract(VipsImage *in, VipsImage **out, int left, int top, int width, int height);

/// Whatever came out of decoding becomes 8-bit, 3-band sRGB: alpha flattened onto white,
/// greyscale expanded, 16-bit scaled down.
int aso_to_srgb8(VipsImage *in, VipsImage **out);

/// Wrap caller-owned memory as an image (no copy). format: VipsBandFormat.
VipsImage *aso_image_from_memory(const void *data, size_t size, int width, int height, int bands,
                                 int format);

/// Materialise an image into a new malloc'd buffer (free with g_free).
void *aso_write_to_memory(VipsImage *in, size_t *size);

/// Plain resizes for previews and working images (Lanczos3 when reducing).
int aso_resize(VipsImage *in, VipsImage **out, double hscale, double vscale);

/// Resize an image in memory to exactly width x height (aspect not preserved; callers pass
/// the aspect they want).
int aso_thumbnail_image_exact(VipsImage *in, VipsImage **out, int width, int height);

// ---- saving ------------------------------------------------------------------------------

/// The print master: TIFF, LZW + horizontal predictor, xres/yres in pixels/mm written as
/// pixels per inch, the ICC profile `profile` embedded ("srgb", "cmyk" for libvips' built-in
/// ones, or a file path), nothing else from the source. CMYK images are written separated.
int aso_save_print_tiff(VipsImage *in, const char *path, double dpi, const char *profile);

// ---- output colour -----------------------------------------------------------------------

/// 8-bit sRGB into the output profile (a built-in name or an ICC file), lazily, with
/// intent VipsIntent and optional black point compensation; 8 bits per band out.
int aso_icc_export(VipsImage *in, VipsImage **out, const char *profile, int intent, int bpc);

/// The sRGB rendering of an image in `profile` (its soft proof): relative colorimetric,
/// paper white shown as screen white, the profile's own black kept (no compensation).
int aso_icc_proof(VipsImage *in, VipsImage **out, const char *profile);

/// The preview: progressive, optimised JPEG with the sRGB profile and no other metadata.
int aso_save_preview_jpeg(VipsImage *in, const char *path, int quality);

/// PNG and JPEG writers for contact sheets, tests and fixtures (metadata kept as given).
int aso_save_png(VipsImage *in, const char *path);
int aso_save_jpeg(VipsImage *in, const char *path, int quality, int interlace, int strip);
int aso_save_as(VipsImage *in, const char *path);

/// Text rendered as an 8-bit mask (255 = ink), for contact-sheet labels.
int aso_text_mask(VipsImage **out, const char *text, int height_px);

/// Drop every metadata item (EXIF, XMP, IPTC, orientation, ICC, ...) from an image in place.
void aso_strip_metadata(VipsImage *image);

/// Returns the heap's free pages to the system (glibc malloc_trim): a render frees hundreds of
/// MB that glibc would otherwise keep, so a long-running worker would sit at its peak.
void aso_release_memory(void);

// ---- the print resampler -----------------------------------------------------------------

/// Accumulates a box-filtered copy of the master while libvips streams it to disk, so the
/// preview is made from exactly the pixels that are printed without decoding the master again.
typedef struct aso_preview_tee aso_preview_tee;

aso_preview_tee *aso_preview_tee_new(int width, int height, int factor);
void aso_preview_tee_free(aso_preview_tee *tee);
/// Pixels seen so far; equals width*height of the master when every pixel was tapped once.
uint64_t aso_preview_tee_pixels(const aso_preview_tee *tee);
int aso_preview_tee_width(const aso_preview_tee *tee);
int aso_preview_tee_height(const aso_preview_tee *tee);
/// Box-averaged 8-bit RGB, width*height*3 bytes, into `out`.
void aso_preview_tee_average(const aso_preview_tee *tee, uint8_t *out);

/// Finishing hook run on every print-resolution row: `in` holds `width` pixels of `in_bands`
/// interleaved float values (the working image after upsampling); write `width` RGB bytes.
/// x and y are canvas coordinates in print pixels. Called concurrently from libvips threads.
typedef void (*aso_media_fn)(void *context, const float *in, int in_bands, uint8_t *out, int x,
                             int y, int width);

typedef struct {
    int canvas_width, canvas_height;   // print pixels
    int content_left, content_top;     // where the upsampled image goes (contain leaves margins)
    int content_width, content_height;
    double sharpen;                    // separable unsharp amount folded into the kernel, 0 = off
    double xres;                       // pixels per mm written into the image header
    aso_media_fn media;                // NULL: round and clamp the first three bands
    void *media_context;
    aso_preview_tee *tee;              // optional
    // Crop marks: the trim box on the canvas and the slug they are drawn in (0 = none).
    int trim_left, trim_top, trim_width, trim_height;
    int mark_slug;                     // width of the white band outside the bleed
    int mark_gap;                      // white between the bleed's edge and a mark
    int mark_thickness;                // line width in print pixels
} aso_print_params;

/// Lanczos3 upsampling of `in` (uchar or float, 1-8 bands) to the content rectangle of a white
/// canvas, with optional print sharpening, finishing hook and crop marks. Output: 8-bit sRGB,
/// 3 bands.
int aso_print_resample(VipsImage *in, VipsImage **out, const aso_print_params *params);

#ifdef __cplusplus
}
#endif

#endif
