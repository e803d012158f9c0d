// Fixed-argument wrappers around variadic libvips calls. See include/aso_vips.h for why.
#include "aso_vips.h"

#include <malloc.h>
#include <stdio.h>
#include <string.h>

/// libvips reports per-tile trouble ("error in tile 0 x 688", "not enough data") as GLib
/// warnings on stderr, many per bad file. The failing call's error text already reaches the
/// caller through aso_error_take, so the warnings are dropped rather than mixed into the
/// service's JSON log lines.
static void aso_drop_log(const gchar *domain, GLogLevelFlags level, const gchar *message,
                         gpointer data) {
    (void)domain;
    (void)level;
    (void)message;
    (void)data;
}

int aso_vips_start(const char *argv0, int concurrency) {
    if (VIPS_INIT(argv0)) return -1;
    g_log_set_handler("VIPS", G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO,
                      aso_drop_log, NULL);
    if (concurrency > 0) vips_concurrency_set(concurrency);
    // Each render reads a different file: caching operations only grows the process.
    vips_cache_set_max(0);
    vips_cache_set_max_mem(0);
    vips_cache_set_max_files(0);
    // Loaders that parse untrusted formats with large attack surfaces (ImageMagick, PDF, SVG)
    // are never needed: uploads are sniffed and limited to photo formats before libvips sees them.
    vips_block_untrusted_set(TRUE);
    return 0;
}

char *aso_error_take(void) {
    char *text = vips_error_buffer_copy();
    return text ? text : g_strdup("");
}

size_t aso_vips_tracked_mem_highwater(void) { return vips_tracked_get_mem_highwater(); }

VipsImage *aso_open_header(const char *path, int fail_on) {
    return vips_image_new_from_file(path, "access", VIPS_ACCESS_SEQUENTIAL, "fail_on",
                                    (VipsFailOn)fail_on, NULL);
}

int aso_orientation(VipsImage *image) {
    int orientation = 1;
    if (vips_image_get_typeof(image, VIPS_META_ORIENTATION) &&
        vips_image_get_int(image, VIPS_META_ORIENTATION, &orientation) == 0 && orientation >= 1 &&
        orientation <= 8)
        return orientation;
    return 1;
}

int aso_has_icc(VipsImage *image) {
    return vips_image_get_typeof(image, VIPS_META_ICC_NAME) != 0;
}

const char *aso_loader(VipsImage *image) {
    const char *loader = NULL;
    if (vips_image_get_typeof(image, VIPS_META_LOADER) &&
        vips_image_get_string(image, VIPS_META_LOADER, &loader) == 0 && loader)
        return loader;
    return "";
}

int aso_thumbnail(const char *path, VipsImage **out, int width, int height, int crop, int fail_on,
                  int icc) {
    VipsInteresting interesting = crop == 2 ? VIPS_INTERESTING_ATTENTION : VIPS_INTERESTING_NONE;
    return vips_thumbnail(path, out, width, "height", height, "crop", interesting, "size",
                          VIPS_SIZE_BOTH, "export_profile", icc ? "srgb" : NULL, "intent",
                          VIPS_INTENT_RELATIVE, "fail_on", (VipsFailOn)fail_on, NULL);
}

int aso_extract(VipsImage *in, VipsImage **out, int left, int top, int width, int height) {
    return vips_extract_area(in, out, left, top, width, height, NULL);
}

int aso_to_srgb8(VipsImage *in, VipsImage **out) {
    VipsObject *scope = VIPS_OBJECT(vips_image_new());
    VipsImage **t = (VipsImage **)vips_object_local_array(scope, 4);
    VipsImage *x = in;
    int result = -1;

    // Colourspace first: it scales 16-bit data (and its alpha) down to 8 bits.
    if (vips_image_get_interpretation(x) != VIPS_INTERPRETATION_sRGB ||
        vips_image_get_format(x) != VIPS_FORMAT_UCHAR) {
        if (vips_colourspace(x, &t[0], VIPS_INTERPRETATION_sRGB, NULL)) goto done;
        x = t[0];
    }
    if (vips_image_hasalpha(x)) {
        double white[3] = {255.0, 255.0, 255.0};
        VipsArrayDouble *background = vips_array_double_new(white, 3);
        int failed = vips_flatten(x, &t[1], "background", background, "max_alpha", 255.0, NULL);
        vips_area_unref(VIPS_AREA(background));
        if (failed) goto done;
        x = t[1];
    }
    if (vips_image_get_format(x) != VIPS_FORMAT_UCHAR) {
        if (vips_cast(x, &t[2], VIPS_FORMAT_UCHAR, "shift", FALSE, NULL)) goto done;
        x = t[2];
    }
    if (vips_image_get_bands(x) > 3) {
        if (vips_extract_band(x, &t[3], 0, "n", 3, NULL)) goto done;
        x = t[3];
    }
    g_object_ref(x);
    *out = x;
    result = 0;
done:
    g_object_unref(scope);
    return result;
}

VipsImage *aso_image_from_memory(const void *data, size_t size, int width, int height, int bands,
                                 int format) {
    VipsImage *image =
        vips_image_new_from_memory(data, size, width, height, bands, (VipsBandFormat)format);
    if (image) {
        image->Type = bands >= 3 ? VIPS_INTERPRETATION_sRGB : VIPS_INTERPRETATION_B_W;
    }
    return image;
}

void *aso_write_to_memory(VipsImage *in, size_t *size) { return vips_image_write_to_memory(in, size); }

int aso_resize(VipsImage *in, VipsImage **out, double hscale, double vscale) {
    return vips_resize(in, out, hscale, "vscale", vscale, "kernel", VIPS_KERNEL_LANCZOS3, NULL);
}

int aso_thumbnail_image_exact(VipsImage *in, VipsImage **out, int width, int height) {
    return vips_thumbnail_image(in, out, width, "height", height, "size", VIPS_SIZE_FORCE, NULL);
}

int aso_text_mask(VipsImage **out, const char *text, int height_px) {
    // pango sizes fonts in points at the given DPI; 72 DPI makes points pixels.
    char font[64];
    snprintf(font, sizeof(font), "sans %d", height_px);
    return vips_text(out, text, "font", font, "dpi", 72, NULL);
}

void aso_strip_metadata(VipsImage *image) {
    gchar **fields = vips_image_get_fields(image);
    for (int i = 0; fields[i]; i++) {
        // Built-in header fields (width, bands, ...) cannot be removed; vips_image_remove
        // simply refuses them.
        vips_image_remove(image, fields[i]);
    }
    g_strfreev(fields);
}

int aso_save_print_tiff(VipsImage *in, const char *path, double dpi, const char *profile) {
    double pixels_per_mm = dpi / 25.4;
    return vips_tiffsave(in, path, "compression", VIPS_FOREIGN_TIFF_COMPRESSION_LZW, "predictor",
                         VIPS_FOREIGN_TIFF_PREDICTOR_HORIZONTAL, "xres", pixels_per_mm, "yres",
                         pixels_per_mm, "resunit", VIPS_FOREIGN_TIFF_RESUNIT_INCH, "profile",
                         profile, NULL);
}

int aso_icc_export(VipsImage *in, VipsImage **out, const char *profile, int intent, int bpc) {
    return vips_icc_transform(in, out, profile, "input_profile", "srgb", "embedded", FALSE,
                              "intent", (VipsIntent)intent, "black_point_compensation",
                              bpc ? TRUE : FALSE, "depth", 8, NULL);
}

int aso_icc_proof(VipsImage *in, VipsImage **out, const char *profile) {
    return vips_icc_transform(in, out, "srgb", "input_profile", profile, "embedded", FALSE,
                              "intent", VIPS_INTENT_RELATIVE, "depth", 8, NULL);
}

int aso_save_preview_jpeg(VipsImage *in, const char *path, int quality) {
    // libvips 8.14 writes a minimal EXIF block (orientation, resolution) into every JPEG; say
    // 72 DPI, the screen convention, rather than its default of 25.4.
    VipsImage *tagged;
    if (vips_copy(in, &tagged, "xres", 72.0 / 25.4, "yres", 72.0 / 25.4, NULL)) return -1;
    int result = vips_jpegsave(tagged, path, "Q", quality, "interlace", TRUE, "optimize_coding",
                               TRUE, "profile", "srgb", NULL);
    g_object_unref(tagged);
    return result;
}

int aso_save_png(VipsImage *in, const char *path) {
    return vips_pngsave(in, path, "compression", 6, NULL);
}

int aso_save_jpeg(VipsImage *in, const char *path, int quality, int interlace, int strip) {
    return vips_jpegsave(in, path, "Q", quality, "interlace", interlace ? TRUE : FALSE, "strip",
                         strip ? TRUE : FALSE, NULL);
}

int aso_save_as(VipsImage *in, const char *path) { return vips_image_write_to_file(in, path, NULL); }

void aso_release_memory(void) { malloc_trim(0); }
