// The print-resolution stage: Lanczos3 upsampling with folded-in print sharpening, the style's
// finishing hook, white paper margins, and a preview tap, as one streaming libvips image.
//
// libvips' own vips_resize() ignores its kernel when enlarging (it falls back to bicubic
// affine), and enlarging is the normal case for large prints, so the resampler is ours.
// Separable, vertical pass first: libvips asks the TIFF writer's strips full width, so the
// vertical pass over the (narrower) source columns comes before the horizontal one.
#include "aso_vips.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LANCZOS_LOBES 3
#define MAX_TAPS 16
#define MAX_BANDS 8

// ---- preview tee -------------------------------------------------------------------------

struct aso_preview_tee {
    int width, height;  // accumulator cells
    int factor;         // master pixels per cell side
    int master_width, master_height;
    uint32_t *sums;     // width * height * 3
    uint64_t pixels;    // master pixels seen (atomic)
};

aso_preview_tee *aso_preview_tee_new(int width, int height, int factor) {
    if (factor < 1) factor = 1;
    aso_preview_tee *tee = calloc(1, sizeof(*tee));
    if (!tee) return NULL;
    tee->factor = factor;
    tee->master_width = width;
    tee->master_height = height;
    tee->width = (width + factor - 1) / factor;
    tee->height = (height + factor - 1) / factor;
    tee->sums = calloc((size_t)tee->width * tee->height * 3, sizeof(uint32_t));
    if (!tee->sums) {
        free(tee);
        return NULL;
    }
    return tee;
}

void aso_preview_tee_free(aso_preview_tee *tee) {
    if (!tee) return;
    free(tee->sums);
    free(tee);
}

uint64_t aso_preview_tee_pixels(const aso_preview_tee *tee) {
    return __atomic_load_n(&tee->pixels, __ATOMIC_SEQ_CST);
}
int aso_preview_tee_width(const aso_preview_tee *tee) { return tee->width; }
int aso_preview_tee_height(const aso_preview_tee *tee) { return tee->height; }

void aso_preview_tee_average(const aso_preview_tee *tee, uint8_t *out) {
    const int f = tee->factor;
    for (int cy = 0; cy < tee->height; cy++) {
        int rows = tee->master_height - cy * f;
        if (rows > f) rows = f;
        for (int cx = 0; cx < tee->width; cx++) {
            int cols = tee->master_width - cx * f;
            if (cols > f) cols = f;
            const uint32_t count = (uint32_t)(rows * cols);
            const uint32_t *s = tee->sums + ((size_t)cy * tee->width + cx) * 3;
            uint8_t *o = out + ((size_t)cy * tee->width + cx) * 3;
            for (int b = 0; b < 3; b++) o[b] = (uint8_t)((s[b] + count / 2) / count);
        }
    }
}

/// Adds a block of finished rows to the shared sums: local sums first, so there is one atomic
/// add per cell and band rather than per pixel.
static void tee_accumulate(aso_preview_tee *tee, const uint8_t *rows, size_t stride, int left,
                           int top, int width, int height, uint32_t *scratch) {
    const int f = tee->factor;
    const int cx0 = left / f, cx1 = (left + width - 1) / f;
    const int cy0 = top / f, cy1 = (top + height - 1) / f;
    const int cells_x = cx1 - cx0 + 1;
    memset(scratch, 0, sizeof(uint32_t) * 3 * cells_x);
    int current_cy = cy0;
    for (int y = 0; y < height; y++) {
        const int cy = (top + y) / f;
        if (cy != current_cy) {
            uint32_t *dst = tee->sums + ((size_t)current_cy * tee->width + cx0) * 3;
            for (int i = 0; i < cells_x * 3; i++)
                if (scratch[i]) __atomic_fetch_add(&dst[i], scratch[i], __ATOMIC_RELAXED);
            memset(scratch, 0, sizeof(uint32_t) * 3 * cells_x);
            current_cy = cy;
        }
        const uint8_t *p = rows + stride * y;
        uint32_t *s = scratch;
        int phase = left % f;  // position of x within its cell
        for (int x = 0; x < width; x++) {
            s[0] += p[3 * x];
            s[1] += p[3 * x + 1];
            s[2] += p[3 * x + 2];
            if (++phase == f) {
                phase = 0;
                s += 3;
            }
        }
    }
    uint32_t *dst = tee->sums + ((size_t)current_cy * tee->width + cx0) * 3;
    for (int i = 0; i < cells_x * 3; i++)
        if (scratch[i]) __atomic_fetch_add(&dst[i], scratch[i], __ATOMIC_RELAXED);
    (void)cy1;
    __atomic_fetch_add(&tee->pixels, (uint64_t)width * height, __ATOMIC_RELAXED);
}

// ---- kernel tables -----------------------------------------------------------------------

typedef struct {
    int taps;       // per output position
    int *start;     // first source index, already clamped so start + taps <= source size
    float *weights; // taps per output position
} axis_table;

static double lanczos3(double x) {
    x = fabs(x);
    if (x < 1e-9) return 1.0;
    if (x >= LANCZOS_LOBES) return 0.0;
    const double px = M_PI * x;
    return LANCZOS_LOBES * sin(px) * sin(px / LANCZOS_LOBES) / (px * px);
}

/// Output position o maps to source o' = (o + 0.5) * in / out - 0.5 (pixel centres aligned).
/// Raw Lanczos3 taps are convolved with the sharpening stencil [-a, 1 + 2a, -a] (in source
/// pixels), then taps falling outside the source are folded onto the edge pixel.
static int axis_table_build(axis_table *t, int in_size, int out_size, double sharpen) {
    const int raw_taps = 2 * LANCZOS_LOBES;          // upsampling: support is 6 source pixels
    const int full_taps = raw_taps + 2;              // + sharpening stencil
    const int taps = full_taps < in_size ? full_taps : in_size;
    const double scale = (double)in_size / out_size;
    int *start = malloc(sizeof(int) * out_size);
    float *weights = malloc(sizeof(float) * out_size * taps);
    if (!start || !weights) {
        free(start);
        free(weights);
        return -1;
    }
    // Widest run of non-zero weights over all positions: at exact integer ratios (a print at
    // the photo's own resolution) most Lanczos taps are zero and need not be computed at all.
    int used_lo = taps, used_hi = -1;
    for (int o = 0; o < out_size; o++) {
        const double src = (o + 0.5) * scale - 0.5;
        const int first = (int)floor(src) - (LANCZOS_LOBES - 1);
        double raw[MAX_TAPS] = {0};
        double sum = 0;
        for (int k = 0; k < raw_taps; k++) {
            raw[k] = lanczos3(src - (first + k));
            if (fabs(raw[k]) < 1e-9) raw[k] = 0;
            sum += raw[k];
        }
        for (int k = 0; k < raw_taps; k++) raw[k] /= sum;
        // Convolve with the sharpening stencil; full[j] covers source index first - 1 + j.
        double full[MAX_TAPS] = {0};
        for (int k = 0; k < raw_taps; k++) {
            if (raw[k] == 0) continue;
            full[k] += -sharpen * raw[k];
            full[k + 1] += (1.0 + 2.0 * sharpen) * raw[k];
            full[k + 2] += -sharpen * raw[k];
        }
        int s0 = first - 1;
        if (s0 < 0) s0 = 0;
        if (s0 > in_size - taps) s0 = in_size - taps;
        float *w = weights + (size_t)o * taps;
        for (int k = 0; k < taps; k++) w[k] = 0.0f;
        for (int j = 0; j < full_taps; j++) {
            if (full[j] == 0) continue;
            int index = first - 1 + j;
            if (index < 0) index = 0;
            if (index > in_size - 1) index = in_size - 1;
            w[index - s0] += (float)full[j];
        }
        start[o] = s0;
        for (int k = 0; k < taps; k++) {
            if (w[k] != 0.0f) {
                if (k < used_lo) used_lo = k;
                if (k > used_hi) used_hi = k;
            }
        }
    }
    if (used_hi < used_lo) used_lo = used_hi = 0;
    const int kept = used_hi - used_lo + 1;
    t->taps = kept;
    t->start = start;
    t->weights = malloc(sizeof(float) * out_size * kept);
    if (!t->weights) {
        free(weights);
        return -1;
    }
    for (int o = 0; o < out_size; o++) {
        start[o] += used_lo;
        memcpy(t->weights + (size_t)o * kept, weights + (size_t)o * taps + used_lo, sizeof(float) * kept);
    }
    free(weights);
    return 0;
}

static int axis_table_is_identity(const axis_table *t, int in_size, int out_size) {
    if (in_size != out_size || t->taps != 1) return 0;
    for (int o = 0; o < out_size; o++)
        if (t->start[o] != o || fabsf(t->weights[o] - 1.0f) > 1e-6f) return 0;
    return 1;
}

static void axis_table_free(axis_table *t) {
    free(t->start);
    free(t->weights);
}

// ---- the image ---------------------------------------------------------------------------

typedef struct {
    aso_print_params p;
    VipsImage *in;
    int bands;
    VipsBandFormat format;
    axis_table x, y;  // content-local output position -> source
    int identity;     // 1:1 copy of 8-bit RGB (no scaling, no sharpening, no finish)
} resampler;

typedef struct {
    VipsRegion *ir;
    float *columns;   // vertical pass result for one output row: source columns x bands
    float *row;       // horizontal pass result: output width x bands
    uint32_t *tee_scratch;
} sequence;

static void resampler_free(VipsImage *image, resampler *r) {
    (void)image;
    axis_table_free(&r->x);
    axis_table_free(&r->y);
    g_object_unref(r->in);
    free(r);
}

static void *resample_start(VipsImage *out, void *a, void *b) {
    resampler *r = (resampler *)b;
    (void)a;
    sequence *seq = calloc(1, sizeof(*seq));
    if (!seq) return NULL;
    seq->ir = vips_region_new(r->in);
    seq->columns = malloc(sizeof(float) * (size_t)r->in->Xsize * r->bands);
    seq->row = malloc(sizeof(float) * (size_t)out->Xsize * r->bands);
    seq->tee_scratch = malloc(sizeof(uint32_t) * 3 * ((size_t)out->Xsize + 2));
    if (!seq->ir || !seq->columns || !seq->row || !seq->tee_scratch) {
        if (seq->ir) g_object_unref(seq->ir);
        free(seq->columns);
        free(seq->row);
        free(seq->tee_scratch);
        free(seq);
        return NULL;
    }
    return seq;
}

static int resample_stop(void *vseq, void *a, void *b) {
    sequence *seq = (sequence *)vseq;
    (void)a;
    (void)b;
    g_object_unref(seq->ir);
    free(seq->columns);
    free(seq->row);
    free(seq->tee_scratch);
    free(seq);
    return 0;
}

static inline uint8_t to_byte(float v) {
    if (!(v > 0.0f)) return 0;  // also catches NaN
    if (v >= 255.0f) return 255;
    return (uint8_t)(v + 0.5f);
}

/// Vertical pass for output content row cy over source columns [x0, x1).
static void vertical_pass(const resampler *r, VipsRegion *ir, int cy, int x0, int x1, float *dst) {
    const int taps = r->y.taps;
    const int sy = r->y.start[cy];
    const float *w = r->y.weights + (size_t)cy * taps;
    const int bands = r->bands;
    const int n = (x1 - x0) * bands;
    for (int i = 0; i < n; i++) dst[i] = 0.0f;
    for (int k = 0; k < taps; k++) {
        const float wk = w[k];
        if (wk == 0.0f) continue;
        if (r->format == VIPS_FORMAT_UCHAR) {
            const uint8_t *src = (const uint8_t *)VIPS_REGION_ADDR(ir, x0, sy + k);
            for (int i = 0; i < n; i++) dst[i] += wk * (float)src[i];
        } else {
            const float *src = (const float *)VIPS_REGION_ADDR(ir, x0, sy + k);
            for (int i = 0; i < n; i++) dst[i] += wk * src[i];
        }
    }
}

/// Horizontal pass for content columns [c0, c1) reading source columns from `columns`
/// (which starts at source column x0).
static void horizontal_pass(const resampler *r, const float *columns, int x0, int c0, int c1,
                            float *dst) {
    const int taps = r->x.taps;
    const int bands = r->bands;
    if (bands == 3) {
        for (int c = c0; c < c1; c++) {
            const float *w = r->x.weights + (size_t)c * taps;
            const float *src = columns + (size_t)(r->x.start[c] - x0) * 3;
            float a0 = 0, a1 = 0, a2 = 0;
            for (int k = 0; k < taps; k++) {
                const float wk = w[k];
                a0 += wk * src[3 * k];
                a1 += wk * src[3 * k + 1];
                a2 += wk * src[3 * k + 2];
            }
            float *o = dst + (size_t)(c - c0) * 3;
            o[0] = a0;
            o[1] = a1;
            o[2] = a2;
        }
        return;
    }
    for (int c = c0; c < c1; c++) {
        const float *w = r->x.weights + (size_t)c * taps;
        const float *src = columns + (size_t)(r->x.start[c] - x0) * bands;
        float acc[MAX_BANDS] = {0};
        for (int k = 0; k < taps; k++) {
            const float wk = w[k];
            for (int b = 0; b < bands; b++) acc[b] += wk * src[k * bands + b];
        }
        float *o = dst + (size_t)(c - c0) * bands;
        for (int b = 0; b < bands; b++) o[b] = acc[b];
    }
}

/// Crop marks on one canvas row: short lines on the trim lines' extension, in the slug outside
/// the bleed (never touching the picture), as on a press sheet.
static void paint_marks(const aso_print_params *p, uint8_t *out, int left, int width, int y) {
    const int canvas_w = p->canvas_width, canvas_h = p->canvas_height;
    const int reach = p->mark_slug - p->mark_gap;  // mark length
    const int half = p->mark_thickness / 2;
    const int xs[2] = {p->trim_left, p->trim_left + p->trim_width};
    const int ys[2] = {p->trim_top, p->trim_top + p->trim_height};
    const int right = left + width;
    // Vertical marks above and below the sheet's bleed.
    if (y < reach || y >= canvas_h - reach) {
        for (int i = 0; i < 2; i++) {
            for (int x = xs[i] - half; x < xs[i] - half + p->mark_thickness; x++)
                if (x >= left && x < right) memset(out + (size_t)(x - left) * 3, 0, 3);
        }
    }
    // Horizontal marks left and right of it.
    for (int i = 0; i < 2; i++) {
        if (y < ys[i] - half || y >= ys[i] - half + p->mark_thickness) continue;
        const int spans[2][2] = {{0, reach}, {canvas_w - reach, canvas_w}};
        for (int s = 0; s < 2; s++) {
            const int a = VIPS_MAX(spans[s][0], left), b = VIPS_MIN(spans[s][1], right);
            if (b > a) memset(out + (size_t)(a - left) * 3, 0, (size_t)(b - a) * 3);
        }
    }
}

static int resample_generate(VipsRegion *or, void *vseq, void *a, void *b, gboolean *stop) {
    sequence *seq = (sequence *)vseq;
    resampler *r = (resampler *)b;
    (void)a;
    (void)stop;
    const VipsRect *rect = &or->valid;
    const aso_print_params *p = &r->p;

    // Content columns this region covers.
    const int c0 = VIPS_MAX(rect->left, p->content_left) - p->content_left;
    const int c1 = VIPS_MIN(rect->left + rect->width, p->content_left + p->content_width) -
                   p->content_left;
    const int has_columns = c1 > c0;

    // Source area needed for the content rows and columns of this region.
    const int r0 = VIPS_MAX(rect->top, p->content_top) - p->content_top;
    const int r1 = VIPS_MIN(rect->top + rect->height, p->content_top + p->content_height) -
                   p->content_top;
    int x0 = 0, x1 = 0;
    if (has_columns && r1 > r0) {
        x0 = r->x.start[c0];
        x1 = r->x.start[c1 - 1] + r->x.taps;
        const int y0 = r->y.start[r0];
        const int y1 = r->y.start[r1 - 1] + r->y.taps;
        VipsRect need = {x0, y0, x1 - x0, y1 - y0};
        if (vips_region_prepare(seq->ir, &need)) return -1;
    }

    for (int y = rect->top; y < rect->top + rect->height; y++) {
        uint8_t *out = (uint8_t *)VIPS_REGION_ADDR(or, rect->left, y);
        const int cy = y - p->content_top;
        if (cy < 0 || cy >= p->content_height || !has_columns) {
            memset(out, 255, (size_t)rect->width * 3);
            continue;
        }
        // Paper margins left and right of the content.
        const int lead = (p->content_left + c0) - rect->left;
        const int content_pixels = c1 - c0;
        const int trail = rect->width - lead - content_pixels;
        if (lead > 0) memset(out, 255, (size_t)lead * 3);
        if (trail > 0) memset(out + (size_t)(lead + content_pixels) * 3, 255, (size_t)trail * 3);

        uint8_t *content_out = out + (size_t)lead * 3;
        if (r->identity) {
            // Print at the working size with nothing to do per pixel: copy the bytes.
            memcpy(content_out, VIPS_REGION_ADDR(seq->ir, r->x.start[c0], r->y.start[cy]),
                   (size_t)content_pixels * 3);
            continue;
        }
        vertical_pass(r, seq->ir, cy, x0, x1, seq->columns);
        horizontal_pass(r, seq->columns, x0, c0, c1, seq->row);
        if (p->media) {
            p->media(p->media_context, seq->row, r->bands, content_out, p->content_left + c0, y,
                     content_pixels);
        } else {
            const int bands = r->bands;
            for (int i = 0; i < content_pixels; i++) {
                const float *v = seq->row + (size_t)i * bands;
                content_out[3 * i] = to_byte(v[0]);
                content_out[3 * i + 1] = to_byte(v[bands > 1 ? 1 : 0]);
                content_out[3 * i + 2] = to_byte(v[bands > 2 ? 2 : 0]);
            }
        }
    }

    if (p->mark_slug > 0) {
        for (int y = rect->top; y < rect->top + rect->height; y++)
            paint_marks(p, (uint8_t *)VIPS_REGION_ADDR(or, rect->left, y), rect->left, rect->width, y);
    }
    if (p->tee) {
        tee_accumulate(p->tee, (const uint8_t *)VIPS_REGION_ADDR(or, rect->left, rect->top),
                       VIPS_REGION_LSKIP(or), rect->left, rect->top, rect->width, rect->height,
                       seq->tee_scratch);
    }
    return 0;
}

int aso_print_resample(VipsImage *in, VipsImage **out, const aso_print_params *params) {
    const VipsBandFormat format = vips_image_get_format(in);
    const int bands = vips_image_get_bands(in);
    if (format != VIPS_FORMAT_UCHAR && format != VIPS_FORMAT_FLOAT) {
        vips_error("aso_print_resample", "%s", "input must be uchar or float");
        return -1;
    }
    if (bands < 1 || bands > MAX_BANDS) {
        vips_error("aso_print_resample", "%s", "input must have 1 to 8 bands");
        return -1;
    }
    if (params->content_width < 1 || params->content_height < 1 ||
        params->content_left < 0 || params->content_top < 0 ||
        params->content_left + params->content_width > params->canvas_width ||
        params->content_top + params->content_height > params->canvas_height) {
        vips_error("aso_print_resample", "%s", "content rectangle outside the canvas");
        return -1;
    }
    if (params->tee && params->tee->factor * params->tee->width < params->canvas_width) {
        vips_error("aso_print_resample", "%s", "preview tee smaller than the canvas");
        return -1;
    }

    resampler *r = calloc(1, sizeof(*r));
    if (!r) return -1;
    r->p = *params;
    r->in = in;
    r->bands = bands;
    r->format = format;
    g_object_ref(in);
    if (axis_table_build(&r->x, in->Xsize, params->content_width, params->sharpen) ||
        axis_table_build(&r->y, in->Ysize, params->content_height, params->sharpen)) {
        vips_error("aso_print_resample", "%s", "out of memory");
        resampler_free(NULL, r);
        return -1;
    }

    r->identity = format == VIPS_FORMAT_UCHAR && bands == 3 && !params->media &&
                  axis_table_is_identity(&r->x, in->Xsize, params->content_width) &&
                  axis_table_is_identity(&r->y, in->Ysize, params->content_height);

    VipsImage *image = vips_image_new();
    if (vips_image_pipelinev(image, VIPS_DEMAND_STYLE_THINSTRIP, in, NULL)) {
        g_object_unref(image);
        resampler_free(NULL, r);
        return -1;
    }
    // Nothing from the source travels to the print: no EXIF, GPS, XMP, orientation or profile.
    aso_strip_metadata(image);
    vips_image_init_fields(image, params->canvas_width, params->canvas_height, 3,
                           VIPS_FORMAT_UCHAR, VIPS_CODING_NONE, VIPS_INTERPRETATION_sRGB,
                           params->xres, params->xres);
    g_signal_connect(image, "close", G_CALLBACK(resampler_free), r);
    if (vips_image_generate(image, resample_start, resample_generate, resample_stop, in, r)) {
        g_object_unref(image);
        return -1;
    }
    *out = image;
    return 0;
}
