/* obs.c: owns the pixel side of the observation pipeline: palette index to
 * grayscale, optional max of two frames, and the area-averaging resize of the
 * full 256x240 frame to 84x84 uint8.
 *
 * What this computes, exactly: gray(i) = 0.2989 R + 0.587 G + 0.114 B of
 * nes_palette_rgb[i] (torchvision's Grayscale weights), in float. Output pixel
 * (oy, ox) is the mean of the gray image over the rectangle
 * [ox*256/84, (ox+1)*256/84) x [oy*240/84, (oy+1)*240/84), each input pixel
 * weighted by its overlap with it (a box filter: OpenCV's INTER_AREA and
 * PyTorch's adaptive average pooling with fractional edges), rounded to nearest.
 * The tutorial instead uses torchvision Resize(antialias=True), a triangle filter
 * of half-width scale: smoother, and in float without rounding. That filter is
 * here too (ENV_RESIZE_ANTIALIAS, rounded to uint8 at the end). How the two
 * compare on real frames is in bench/RESULTS.md's Environment section
 * (tests/obs_torch_compare.py measures it). */
#include <math.h>
#include <string.h>

#include "smbrl/env.h"

/* Box averaging n_in -> n_out: output o gathers `taps` inputs from start[o]. */
static void area_weights(int n_in, int n_out, int taps, int16_t *start, float (*w)[ENV_OBS_TAPS])
{
    double s = (double)n_in / n_out;
    for (int o = 0; o < n_out; o++) {
        double lo = o * s, hi = (o + 1) * s;
        int i0 = (int)floor(lo);
        if (i0 > n_in - taps)
            i0 = n_in - taps;
        start[o] = (int16_t)i0;
        for (int k = 0; k < ENV_OBS_TAPS; k++) {
            double a = i0 + k, b = a + 1;
            double ov = (b < hi ? b : hi) - (a > lo ? a : lo);
            w[o][k] = k < taps && ov > 0 ? (float)(ov / s) : 0.0f;
        }
    }
}

/* Antialiased bilinear n_in -> n_out as PyTorch (and PIL) compute it for
 * align_corners=False: centre (o + 0.5) * scale, support scale, triangle weights
 * at the input pixel centres, window cut at the image edges and renormalised. */
static void antialias_weights(int n_in, int n_out, int16_t *start, float (*w)[ENV_OBS_TAPS])
{
    double scale = (double)n_in / n_out, support = scale, inv = 1.0 / scale;
    for (int o = 0; o < n_out; o++) {
        double centre = scale * (o + 0.5);
        int lo = (int)(centre - support + 0.5), hi = (int)(centre + support + 0.5);
        if (lo < 0)
            lo = 0;
        if (hi > n_in)
            hi = n_in;
        int i0 = lo > n_in - ENV_OBS_TAPS ? n_in - ENV_OBS_TAPS : lo;
        double tw[ENV_OBS_TAPS] = {0}, total = 0.0;
        for (int i = lo; i < hi; i++) {
            double x = (i - centre + 0.5) * inv;
            double f = 1.0 - fabs(x);
            tw[i - i0] = f > 0.0 ? f : 0.0;
            total += tw[i - i0];
        }
        start[o] = (int16_t)i0;
        for (int k = 0; k < ENV_OBS_TAPS; k++)
            w[o][k] = (float)(tw[k] / total);
    }
}

void env_obs_tables_init(env_obs_tables *t, int resize)
{
    memset(t, 0, sizeof *t);
    for (int i = 0; i < 64; i++)
        t->gray[i] = 0.2989f * nes_palette_rgb[i][0] + 0.587f * nes_palette_rgb[i][1] +
                     0.114f * nes_palette_rgb[i][2];
    for (int a = 0; a < 64; a++)
        for (int b = 0; b < 64; b++) {
            t->gray2[a << 6 | b][0] = t->gray[a];
            t->gray2[a << 6 | b][1] = t->gray[b];
        }
    t->resize = resize;
    t->isa = ENV_OBS_PORTABLE;
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx"))
        t->isa = ENV_OBS_AVX;
#endif
    if (resize == ENV_RESIZE_ANTIALIAS) {
        t->taps = ENV_OBS_TAPS;
        antialias_weights(NES_WIDTH, ENV_OBS_W, t->x0, t->wx);
        antialias_weights(NES_HEIGHT, ENV_OBS_H, t->y0, t->wy);
    } else {
        t->taps = 5; /* a 3.05-pixel box touches at most 5 pixels */
        area_weights(NES_WIDTH, ENV_OBS_W, t->taps, t->x0, t->wx);
        area_weights(NES_HEIGHT, ENV_OBS_H, t->taps, t->y0, t->wy);
    }
    /* the same vertical weights seen from the input side */
    for (int y = 0; y < NES_HEIGHT; y++)
        t->ry[y] = -1;
    for (int oy = 0; oy < ENV_OBS_H; oy++)
        for (int k = 0; k < ENV_OBS_TAPS; k++) {
            int y = t->y0[oy] + k;
            float w = t->wy[oy][k];
            if (w <= 0.0f)
                continue;
            if (t->ry[y] < 0)
                t->ry[y] = (int16_t)oy;
            if (oy - t->ry[y] < 3) /* always so for 240 -> 84: windows are under 3 strides */
                t->rw[y][oy - t->ry[y]] = w;
        }
    for (int y = 0; y < NES_HEIGHT; y++)
        if (t->ry[y] < 0) /* a row no output uses: add it nowhere, with weight 0 */
            t->ry[y] = 0;
}

/* The reference form: gather 5x5 input pixels per output pixel. Kept beside the
 * fast path below, which test_obs compares it with. */
void env_obs_process_ref(const env_obs_tables *t, const uint8_t *pixels, const uint8_t *prev,
                         uint8_t *out)
{
    for (int oy = 0; oy < ENV_OBS_H; oy++)
        for (int ox = 0; ox < ENV_OBS_W; ox++) {
            float s = 0.0f;
            for (int ky = 0; ky < t->taps; ky++) {
                size_t row = (size_t)(t->y0[oy] + ky) * NES_WIDTH;
                float h = 0.0f;
                for (int kx = 0; kx < t->taps; kx++) {
                    size_t i = row + (size_t)(t->x0[ox] + kx);
                    float g = t->gray[pixels[i] & 63];
                    if (prev && t->gray[prev[i] & 63] > g)
                        g = t->gray[prev[i] & 63];
                    h += t->wx[ox][kx] * g;
                }
                s += t->wy[oy][ky] * h;
            }
            s += 0.5f;
            out[oy * ENV_OBS_W + ox] = s >= 255.0f ? 255 : s <= 0.0f ? 0 : (uint8_t)s;
        }
}

#if defined(__SSE2__)
#include <emmintrin.h>

_Static_assert(ENV_OBS_W % 4 == 0 && ENV_OBS_H % 4 == 0, "horizontal_sse2 works in blocks of four rows and columns");

/* The horizontal pass of env_obs_process for four output rows at a time: the
 * rows are transposed in 4x4 blocks so that one SSE lane holds one row, and each
 * lane then computes w[0]*g[0] + w[1]*g[1] + ... in the scalar loop's order, so
 * the result is the same to the bit. */
static void horizontal_sse2(const env_obs_tables *t, float (*v)[NES_WIDTH], uint8_t *out)
{
    float col[NES_WIDTH][4];
    __m128i res[ENV_OBS_W + 12]; /* per output column the four rows' values; padded to whole groups of 16 */
    const __m128 half = _mm_set1_ps(0.5f);
    for (int ox = ENV_OBS_W; ox < ENV_OBS_W + 12; ox++)
        res[ox] = _mm_setzero_si128();
    for (int oy = 0; oy < ENV_OBS_H; oy += 4) {
        for (int x = 0; x < NES_WIDTH; x += 4) {
            __m128 r0 = _mm_loadu_ps(v[oy] + x), r1 = _mm_loadu_ps(v[oy + 1] + x);
            __m128 r2 = _mm_loadu_ps(v[oy + 2] + x), r3 = _mm_loadu_ps(v[oy + 3] + x);
            _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
            _mm_storeu_ps(col[x], r0);
            _mm_storeu_ps(col[x + 1], r1);
            _mm_storeu_ps(col[x + 2], r2);
            _mm_storeu_ps(col[x + 3], r3);
        }
        for (int ox = 0; ox < ENV_OBS_W; ox++) {
            const float (*gx)[4] = col + t->x0[ox];
            const float *w = t->wx[ox];
            __m128 acc = _mm_mul_ps(_mm_set1_ps(w[0]), _mm_loadu_ps(gx[0]));
            if (t->taps == 5) {
                acc = _mm_add_ps(acc, _mm_mul_ps(_mm_set1_ps(w[1]), _mm_loadu_ps(gx[1])));
                acc = _mm_add_ps(acc, _mm_mul_ps(_mm_set1_ps(w[2]), _mm_loadu_ps(gx[2])));
                acc = _mm_add_ps(acc, _mm_mul_ps(_mm_set1_ps(w[3]), _mm_loadu_ps(gx[3])));
                acc = _mm_add_ps(acc, _mm_mul_ps(_mm_set1_ps(w[4]), _mm_loadu_ps(gx[4])));
            } else {
                for (int k = 1; k < t->taps; k++)
                    acc = _mm_add_ps(acc, _mm_mul_ps(_mm_set1_ps(w[k]), _mm_loadu_ps(gx[k])));
            }
            /* (int)(s + 0.5f); the saturating packs below bound it to 255 (s >= 0) */
            res[ox] = _mm_cvttps_epi32(_mm_add_ps(acc, half));
        }
        /* Back to rows: 4x4 transposes give each row four columns per vector,
         * and two saturating packs make 16 columns of bytes. */
        for (int ox = 0; ox < ENV_OBS_W; ox += 16) {
            __m128 q[4][4];
            for (int g = 0; g < 4; g++) {
                q[g][0] = _mm_castsi128_ps(res[ox + 4 * g]);
                q[g][1] = _mm_castsi128_ps(res[ox + 4 * g + 1]);
                q[g][2] = _mm_castsi128_ps(res[ox + 4 * g + 2]);
                q[g][3] = _mm_castsi128_ps(res[ox + 4 * g + 3]);
                _MM_TRANSPOSE4_PS(q[g][0], q[g][1], q[g][2], q[g][3]);
            }
            for (int r = 0; r < 4; r++) {
                __m128i lo = _mm_packs_epi32(_mm_castps_si128(q[0][r]), _mm_castps_si128(q[1][r]));
                __m128i hi = _mm_packs_epi32(_mm_castps_si128(q[2][r]), _mm_castps_si128(q[3][r]));
                __m128i bytes = _mm_packus_epi16(lo, hi);
                uint8_t *o = out + (size_t)(oy + r) * ENV_OBS_W + ox;
                if (ox + 16 <= ENV_OBS_W) {
                    _mm_storeu_si128((__m128i *)o, bytes);
                } else {
                    uint8_t tail[16];
                    _mm_storeu_si128((__m128i *)tail, bytes);
                    memcpy(o, tail, (size_t)(ENV_OBS_W - ox));
                }
            }
        }
    }
}
#endif

/* row_scale and row_axpy with eight floats per AVX vector: each lane does what
 * the scalar loop does (a multiply, then an add, never fused), so the results
 * are the same to the bit. */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define OBS_HAVE_AVX 1

__attribute__((target("avx"))) static void row_scale_avx(float *restrict acc, const float *restrict g, float w)
{
    const __m256 vw = _mm256_set1_ps(w);
    for (int x = 0; x < NES_WIDTH; x += 8)
        _mm256_storeu_ps(acc + x, _mm256_mul_ps(vw, _mm256_loadu_ps(g + x)));
}

__attribute__((target("avx"))) static void row_axpy_avx(float *restrict acc, const float *restrict g, float w)
{
    const __m256 vw = _mm256_set1_ps(w);
    for (int x = 0; x < NES_WIDTH; x += 8)
        _mm256_storeu_ps(acc + x, _mm256_add_ps(_mm256_loadu_ps(acc + x), _mm256_mul_ps(vw, _mm256_loadu_ps(g + x))));
}

#endif

/* acc += w * g over a row. restrict: the compiler may then vectorise at -O2
 * (no run-time overlap check needed). */
static void row_axpy(float *restrict acc, const float *restrict g, float w)
{
    for (int x = 0; x < NES_WIDTH; x++)
        acc[x] += w * g[x];
}

/* acc = w * g: an output row's first term (0 + w*g is w*g exactly), so the
 * accumulators need no clearing. */
static void row_scale(float *restrict acc, const float *restrict g, float w)
{
    for (int x = 0; x < NES_WIDTH; x++)
        acc[x] = w * g[x];
}

/* acc = w * g (first) or acc += w * g with the widest unit isa allows. */
static inline void row_add_any(int isa, int first, float *restrict acc, const float *restrict g, float w)
{
#if defined(OBS_HAVE_AVX)
    if (isa >= ENV_OBS_AVX) {
        (first ? row_scale_avx : row_axpy_avx)(acc, g, w);
        return;
    }
#endif
    (void)isa;
    (first ? row_scale : row_axpy)(acc, g, w);
}

/* Fast path: each input row is looked up once and added into the (at most
 * three) output rows it feeds with contiguous, vectorisable loops; then 84 short
 * rows are filtered horizontally. */
void env_obs_process(const env_obs_tables *t, const uint8_t *pixels, const uint8_t *prev,
                     uint8_t *out)
{
    float v[ENV_OBS_H + 2][NES_WIDTH]; /* two spare rows for the last input rows' targets */
    float g[NES_WIDTH];
    int started = -1; /* output rows 0..started have had their first term */
    const int isa = t->isa;
    for (int y = 0; y < NES_HEIGHT; y++) {
        const uint8_t *p = pixels + (size_t)y * NES_WIDTH;
        const uint8_t *q = prev ? prev + (size_t)y * NES_WIDTH : NULL;
        /* Nearly half the rows of a frame repeat the row above (sky, ground):
         * for those, g already holds the gray values. */
        int repeat = y > 0 && !memcmp(p, p - NES_WIDTH, NES_WIDTH) && (!q || !memcmp(q, q - NES_WIDTH, NES_WIDTH));
        if (!repeat && q) {
            for (int x = 0; x < NES_WIDTH; x++) {
                float a = t->gray[p[x] & 63], b = t->gray[q[x] & 63];
                g[x] = a > b ? a : b;
            }
        } else if (!repeat) {
            for (int x = 0; x < NES_WIDTH; x += 2)
                memcpy(g + x, t->gray2[(p[x] & 63) << 6 | (p[x + 1] & 63)], 2 * sizeof(float));
        }
        for (int k = 0; k < 3; k++) {
            const float w = t->rw[y][k];
            if (w == 0.0f)
                continue;
            int oy = t->ry[y] + k;
            if (oy > started) {
                /* Input rows reach output rows in order: this is oy's first term.
                 * A row that no input feeds (none here) is all zero, as before. */
                for (int r = started + 1; r < oy; r++)
                    memset(v[r], 0, sizeof v[r]);
                row_add_any(isa, 1, v[oy], g, w);
                started = oy;
            } else {
                row_add_any(isa, 0, v[oy], g, w);
            }
        }
    }
    for (int r = started + 1; r < ENV_OBS_H; r++)
        memset(v[r], 0, sizeof v[r]);
#if defined(__SSE2__)
    horizontal_sse2(t, v, out);
#else
    for (int oy = 0; oy < ENV_OBS_H; oy++) {
        uint8_t *o = out + (size_t)oy * ENV_OBS_W;
        for (int ox = 0; ox < ENV_OBS_W; ox++) {
            const float *gx = v[oy] + t->x0[ox], *w = t->wx[ox];
            float s;
            if (t->taps == 5)
                s = w[0] * gx[0] + w[1] * gx[1] + w[2] * gx[2] + w[3] * gx[3] + w[4] * gx[4];
            else
                s = w[0] * gx[0] + w[1] * gx[1] + w[2] * gx[2] + w[3] * gx[3] + w[4] * gx[4] +
                    w[5] * gx[5] + w[6] * gx[6] + w[7] * gx[7];
            /* gray levels are within [0, 252], so only the top needs a bound */
            int iv = (int)(s + 0.5f);
            o[ox] = (uint8_t)(iv > 255 ? 255 : iv);
        }
    }
#endif
}

void env_obs_gray_full(const env_obs_tables *t, const uint8_t *pixels, uint8_t *out)
{
    for (size_t i = 0; i < (size_t)NES_WIDTH * NES_HEIGHT; i++) {
        float v = t->gray[pixels[i] & 63] + 0.5f;
        out[i] = v >= 255.0f ? 255 : (uint8_t)v;
    }
}
