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
 * (tests/obs_torch_compare.py measures it).
 *
 * In float, in this order: each output row is the sum over its input rows,
 * in order, of weight * gray (a multiply, then an add: never fused), each
 * output pixel the same sum over its columns of those rows, then (int)(s +
 * 0.5f). Three paths do exactly these operations and so give the same bytes:
 * the portable one, one with AVX rows, and an AVX2 one that looks the gray
 * levels up with byte shuffles inside the vertical pass and does the
 * horizontal pass for eight output rows at once. env_obs_tables.isa picks the
 * widest the CPU has; test_obs compares each with the portable one. */
#include <math.h>
#include <string.h>

#include "smbrl/env.h"

/* slots in each of the AVX2 path's rings of looked-up input rows */
#define OBS_RING 32

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

/* The taps with a nonzero weight, in order, padded to the most any output
 * has with weight-0 copies of its last tap: that changes no sum, as the sums
 * are of terms >= +0, to which adding w * g = +0 gives them back unchanged.
 * Returns the padded count. */
static int nonzero_taps(int n_out, const int16_t *start, const float (*w)[ENV_OBS_TAPS],
                        int16_t (*idx)[ENV_OBS_TAPS], float (*cw)[ENV_OBS_TAPS])
{
    int n[ENV_OBS_W > ENV_OBS_H ? ENV_OBS_W : ENV_OBS_H] = {0}, most = 0;
    for (int o = 0; o < n_out; o++) {
        for (int k = 0; k < ENV_OBS_TAPS; k++)
            if (w[o][k] > 0.0f) {
                idx[o][n[o]] = (int16_t)(start[o] + k);
                cw[o][n[o]++] = w[o][k];
            }
        most = n[o] > most ? n[o] : most;
    }
    for (int o = 0; o < n_out; o++)
        for (int k = n[o]; k < most; k++) {
            idx[o][k] = idx[o][n[o] - 1];
            cw[o][k] = 0.0f;
        }
    return most;
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
    for (int i = 0; i < 64; i++) {
        uint8_t b[4];
        memcpy(b, &t->gray[i], 4);
        for (int k = 0; k < 4; k++)
            t->gray_bytes[k][i >> 4][i & 15] = b[k];
    }
    t->resize = resize;
    if (resize == ENV_RESIZE_ANTIALIAS) {
        t->taps = ENV_OBS_TAPS;
        antialias_weights(NES_WIDTH, ENV_OBS_W, t->x0, t->wx);
        antialias_weights(NES_HEIGHT, ENV_OBS_H, t->y0, t->wy);
    } else {
        t->taps = 5; /* a 3.05-pixel box touches at most 5 pixels */
        area_weights(NES_WIDTH, ENV_OBS_W, t->taps, t->x0, t->wx);
        area_weights(NES_HEIGHT, ENV_OBS_H, t->taps, t->y0, t->wy);
    }
    t->vtaps = nonzero_taps(ENV_OBS_H, t->y0, t->wy, t->vy, t->vw);
    t->htaps = nonzero_taps(ENV_OBS_W, t->x0, t->wx, t->hx, t->hw);
    for (int oy = 0; oy < ENV_OBS_H; oy++)
        for (int k = 0; k < ENV_OBS_TAPS; k++)
            t->vring[oy][k] = (uint8_t)(t->vy[oy][k] % OBS_RING * 8);
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
    /* the most input rows that a group of eight output rows reads (see the
     * AVX2 path's vertical pass) */
    int span = 0;
    for (int oy = 0; oy < ENV_OBS_H; oy += 8) {
        int last = (oy + 8 < ENV_OBS_H ? oy + 8 : ENV_OBS_H) - 1;
        int n = t->vy[last][t->vtaps - 1] - t->vy[oy][0] + 1;
        span = n > span ? n : span;
    }
    t->isa = ENV_OBS_PORTABLE;
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx"))
        t->isa = ENV_OBS_AVX;
    if (__builtin_cpu_supports("avx2") && span <= OBS_RING)
        t->isa = ENV_OBS_AVX2;
#else
    (void)span;
#endif
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

/* ---- AVX2: the lookup fused into the vertical pass; eight output rows per
 * vector in the horizontal pass. The arithmetic is the portable path's, lane
 * for lane: each output row is w*g + w*g + ... over its input rows in order
 * (a multiply, then an add), each output pixel w*g + w*g + ... over its
 * columns in order, so the bytes are the same. */

/* cols[r >> 3][x][r & 7]: the vertical pass's output row r at input column x,
 * eight output rows side by side for the horizontal pass (rows 84-87 unused).
 * Padded: 8 KB apart, one column's eleven groups would share a set of the L1
 * cache. */
#define OBS_PAD 8
typedef float obs_cols[NES_WIDTH + OBS_PAD][8];
#define OBS_GROUPS ((ENV_OBS_H + 7) / 8)

/* byte plane k of gray[p & 63] for 32 pixels: a 16-entry shuffle per quarter
 * of the table, the quarter picked by index bits 4 and 5 */
__attribute__((target("avx2"), always_inline)) static inline __m256i gray_plane(const uint8_t (*tab)[16], __m256i nib,
                                                                              __m256i bit4, __m256i bit5)
{
    const __m128i *q = (const __m128i *)tab;
    __m256i s0 = _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(_mm_loadu_si128(q)), nib);
    __m256i s1 = _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(_mm_loadu_si128(q + 1)), nib);
    __m256i s2 = _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(_mm_loadu_si128(q + 2)), nib);
    __m256i s3 = _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(_mm_loadu_si128(q + 3)), nib);
    return _mm256_blendv_epi8(_mm256_blendv_epi8(s0, s1, bit4), _mm256_blendv_epi8(s2, s3, bit4), bit5);
}

/* gray[p & 63] for 32 pixels into dst[0..31]. Each byte of the floats is
 * looked up in its own table and the four are interleaved back: the result is
 * the table's float bits, with no arithmetic on the way. */
__attribute__((target("avx2"), always_inline)) static inline void gray32(const env_obs_tables *t, __m256i p,
                                                                       float *dst)
{
    /* dwords in the order 0,2,4,6,1,3,5,7, so that the in-lane unpacks below
     * give pixels 0-7, 8-15, 16-23, 24-31 */
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7));
    const __m256i nib = _mm256_and_si256(p, _mm256_set1_epi8(15));
    const __m256i bit4 = _mm256_slli_epi16(p, 3), bit5 = _mm256_slli_epi16(p, 2); /* to each byte's top bit */
    const __m256i b0 = gray_plane(t->gray_bytes[0], nib, bit4, bit5);
    const __m256i b1 = gray_plane(t->gray_bytes[1], nib, bit4, bit5);
    const __m256i b2 = gray_plane(t->gray_bytes[2], nib, bit4, bit5);
    const __m256i b3 = gray_plane(t->gray_bytes[3], nib, bit4, bit5);
    const __m256i lo01 = _mm256_unpacklo_epi8(b0, b1), hi01 = _mm256_unpackhi_epi8(b0, b1);
    const __m256i lo23 = _mm256_unpacklo_epi8(b2, b3), hi23 = _mm256_unpackhi_epi8(b2, b3);
    _mm256_store_si256((__m256i *)dst, _mm256_unpacklo_epi16(lo01, lo23));
    _mm256_store_si256((__m256i *)(dst + 8), _mm256_unpackhi_epi16(lo01, lo23));
    _mm256_store_si256((__m256i *)(dst + 16), _mm256_unpacklo_epi16(hi01, hi23));
    _mm256_store_si256((__m256i *)(dst + 24), _mm256_unpackhi_epi16(hi01, hi23));
}

/* Eight output rows' sums over 32 columns, rows[r][0..31], to cols[x..x+31]:
 * 4x4 transposes in each 128-bit lane, lane 0 for rows 0-3, lane 1 for 4-7. */
__attribute__((target("avx2"), always_inline)) static inline void rows_to_cols(const float (*rows)[32],
                                                                             float (*cols)[8])
{
#pragma GCC unroll 8
    for (int x = 0; x < 32; x += 4) {
        __m256 a0 = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_load_ps(rows[0] + x)), _mm_load_ps(rows[4] + x), 1);
        __m256 a1 = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_load_ps(rows[1] + x)), _mm_load_ps(rows[5] + x), 1);
        __m256 a2 = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_load_ps(rows[2] + x)), _mm_load_ps(rows[6] + x), 1);
        __m256 a3 = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_load_ps(rows[3] + x)), _mm_load_ps(rows[7] + x), 1);
        __m256 t0 = _mm256_unpacklo_ps(a0, a1), t1 = _mm256_unpackhi_ps(a0, a1);
        __m256 t2 = _mm256_unpacklo_ps(a2, a3), t3 = _mm256_unpackhi_ps(a2, a3);
        _mm256_store_ps(cols[x], _mm256_shuffle_ps(t0, t2, 0x44));
        _mm256_store_ps(cols[x + 1], _mm256_shuffle_ps(t0, t2, 0xEE));
        _mm256_store_ps(cols[x + 2], _mm256_shuffle_ps(t1, t3, 0x44));
        _mm256_store_ps(cols[x + 3], _mm256_shuffle_ps(t1, t3, 0xEE));
    }
}

/* One output row over a strip of 32 columns: o = w[0]*g[0] + w[1]*g[1] + ...,
 * g[k] = row[iy[k]] the gray values of its k-th input row (iy: the tables'
 * vring). The area filter's four taps are written out: compilers do not all
 * unroll a loop whose count is only known once inlined. */
__attribute__((target("avx2"), always_inline)) static inline void sum_rows4(const uint8_t *iy, const float *wy,
                                                                          const float *const *row, float *o)
{
    const float *s0 = row[iy[0]], *s1 = row[iy[1]], *s2 = row[iy[2]], *s3 = row[iy[3]];
    const __m256 w0 = _mm256_set1_ps(wy[0]), w1 = _mm256_set1_ps(wy[1]);
    const __m256 w2 = _mm256_set1_ps(wy[2]), w3 = _mm256_set1_ps(wy[3]);
#pragma GCC unroll 4
    for (int j = 0; j < 32; j += 8) {
        __m256 a = _mm256_mul_ps(w0, _mm256_load_ps(s0 + j));
        a = _mm256_add_ps(a, _mm256_mul_ps(w1, _mm256_load_ps(s1 + j)));
        a = _mm256_add_ps(a, _mm256_mul_ps(w2, _mm256_load_ps(s2 + j)));
        a = _mm256_add_ps(a, _mm256_mul_ps(w3, _mm256_load_ps(s3 + j)));
        _mm256_store_ps(o + j, a);
    }
}

__attribute__((target("avx2"), always_inline)) static inline void sum_rows(const uint8_t *iy, const float *wy, int taps,
                                                                         const float *const *row, float *o)
{
    const float *s = row[iy[0]];
    __m256 w = _mm256_set1_ps(wy[0]);
    __m256 a0 = _mm256_mul_ps(w, _mm256_load_ps(s)), a1 = _mm256_mul_ps(w, _mm256_load_ps(s + 8));
    __m256 a2 = _mm256_mul_ps(w, _mm256_load_ps(s + 16)), a3 = _mm256_mul_ps(w, _mm256_load_ps(s + 24));
    for (int k = 1; k < taps; k++) {
        s = row[iy[k]];
        w = _mm256_set1_ps(wy[k]);
        a0 = _mm256_add_ps(a0, _mm256_mul_ps(w, _mm256_load_ps(s)));
        a1 = _mm256_add_ps(a1, _mm256_mul_ps(w, _mm256_load_ps(s + 8)));
        a2 = _mm256_add_ps(a2, _mm256_mul_ps(w, _mm256_load_ps(s + 16)));
        a3 = _mm256_add_ps(a3, _mm256_mul_ps(w, _mm256_load_ps(s + 24)));
    }
    _mm256_store_ps(o, a0);
    _mm256_store_ps(o + 8, a1);
    _mm256_store_ps(o + 16, a2);
    _mm256_store_ps(o + 24, a3);
}

/* Input row y's 32 gray values at strip x (of eight), into *at: the strip of
 * the row above when its indices are the same, a copy of the strip to the left
 * when the same as that (a third of the rest, in game frames), else looked up;
 * the last two into a new slot of the strip's own ring. */
__attribute__((target("avx2"), always_inline)) static inline void strip_row(const env_obs_tables *t,
                                                                          const uint8_t *p, const uint8_t *q,
                                                                          int x, int above, float (*ring)[32],
                                                                          unsigned *used, const float **at,
                                                                          const float *above_at,
                                                                          const float *left_at, int maxpool)
{
    const __m256i v = _mm256_loadu_si256((const __m256i *)(p + 32 * x));
    const __m256i w = maxpool ? _mm256_loadu_si256((const __m256i *)(q + 32 * x)) : v;
#define OBS_SAME(u, from) \
    (_mm256_movemask_epi8(_mm256_cmpeq_epi8(u, _mm256_loadu_si256((const __m256i *)(from)))) == -1)
    if (above && OBS_SAME(v, p + 32 * x - NES_WIDTH) && (!maxpool || OBS_SAME(w, q + 32 * x - NES_WIDTH))) {
        *at = above_at;
        return;
    }
    float *slot = ring[(*used)++ % OBS_RING];
    *at = slot;
    if (x > 0 && OBS_SAME(v, p + 32 * x - 32) && (!maxpool || OBS_SAME(w, q + 32 * x - 32))) {
#pragma GCC unroll 4
        for (int i = 0; i < 32; i += 8)
            _mm256_store_ps(slot + i, _mm256_load_ps(left_at + i));
        return;
    }
#undef OBS_SAME
    gray32(t, v, slot);
    if (maxpool) {
        _Alignas(32) float h[32];
        gray32(t, w, h);
        for (int i = 0; i < 32; i += 8) /* equal only when the same value: either will do */
            _mm256_store_ps(slot + i, _mm256_max_ps(_mm256_load_ps(slot + i), _mm256_load_ps(h + i)));
    }
}

/* whether row p's 256 indices are those of the row above */
__attribute__((target("avx2"), always_inline)) static inline int row_repeats(const uint8_t *p)
{
    __m256i e = _mm256_set1_epi8(-1);
#pragma GCC unroll 8
    for (int x = 0; x < NES_WIDTH; x += 32)
        e = _mm256_and_si256(e, _mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *)(p + x)),
                                                  _mm256_loadu_si256((const __m256i *)(p + x - NES_WIDTH))));
    return _mm256_movemask_epi8(e) == -1;
}

/* The vertical pass, eight output rows at a time: first the input rows they
 * read, each in eight strips of 32 columns (strip_row), a row that repeats
 * the one above whole (over half of them in game frames) only by pointers;
 * then per strip the output rows, summed in registers from those rows and
 * turned to columns. A strip's slot is written again OBS_RING slots later in
 * that strip; the slots taken after the one a row reads are taken by rows
 * below it, so the slot outlives a group's span of input rows as long as that
 * is at most OBS_RING (env_obs_tables_init checks it; 29 at most for 240 ->
 * 84). taps: the tables' vtaps, a constant where the caller can make it one. */
__attribute__((target("avx2"), always_inline)) static inline void vertical_avx2_body(const env_obs_tables *t,
                                                                                   const uint8_t *pixels,
                                                                                   const uint8_t *prev,
                                                                                   obs_cols *cols, int maxpool,
                                                                                   int taps)
{
    _Alignas(32) float ring[8][OBS_RING][32];
    _Alignas(32) const float *at[OBS_RING][8]; /* input row y's strip x: at[y % OBS_RING][x] */
    unsigned used[8] = {0};
    for (int x = 0; x < 8; x++)
        at[OBS_RING - 1][x] = NULL; /* "above" row 0, never read */
    /* Output rows of the current group of eight, in one strip. The last group
     * has four: lanes 4-7 then carry stale sums, which nobody reads. */
    _Alignas(32) float rows[8][32];
    _Static_assert(NES_WIDTH == 8 * 32 && (OBS_RING & (OBS_RING - 1)) == 0, "eight strips; a ring of 2^k");
    int y = 0;
    for (int oy0 = 0; oy0 < ENV_OBS_H; oy0 += 8) {
        const int n = ENV_OBS_H - oy0 < 8 ? ENV_OBS_H - oy0 : 8;
        for (const int end = t->vy[oy0 + n - 1][taps - 1]; y <= end; y++) {
            const uint8_t *p = pixels + (size_t)y * NES_WIDTH, *q = maxpool ? prev + (size_t)y * NES_WIDTH : NULL;
            const int r = y % OBS_RING, r1 = (y - 1) & (OBS_RING - 1);
            /* over half the rows of a game frame repeat whole */
            if (y > 0 && row_repeats(p) && (!maxpool || row_repeats(q))) {
                _mm256_store_si256((__m256i *)at[r], _mm256_load_si256((const __m256i *)at[r1]));
                _mm256_store_si256((__m256i *)at[r] + 1, _mm256_load_si256((const __m256i *)at[r1] + 1));
                continue;
            }
#pragma GCC unroll 8
            for (int x = 0; x < 8; x++)
                strip_row(t, p, q, x, y > 0, ring[x], &used[x], &at[r][x], at[r1][x], x > 0 ? at[r][x - 1] : NULL,
                          maxpool);
        }
        for (int x = 0; x < 8; x++) {
            for (int i = 0; i < n; i++) {
                if (taps == 4)
                    sum_rows4(t->vring[oy0 + i], t->vw[oy0 + i], &at[0][x], rows[i]);
                else
                    sum_rows(t->vring[oy0 + i], t->vw[oy0 + i], taps, &at[0][x], rows[i]);
            }
            rows_to_cols((const float (*)[32])rows, cols[oy0 >> 3] + 32 * x);
        }
    }
}

/* the four kinds: area (four taps) or any, with or without the max */
__attribute__((target("avx2"))) static void vertical_area_avx2(const env_obs_tables *t, const uint8_t *pixels,
                                                              const uint8_t *prev, obs_cols *cols)
{
    if (prev)
        vertical_avx2_body(t, pixels, prev, cols, 1, 4);
    else
        vertical_avx2_body(t, pixels, NULL, cols, 0, 4);
}

__attribute__((target("avx2"))) static void vertical_any_avx2(const env_obs_tables *t, const uint8_t *pixels,
                                                             const uint8_t *prev, obs_cols *cols)
{
    if (prev)
        vertical_avx2_body(t, pixels, prev, cols, 1, t->vtaps);
    else
        vertical_avx2_body(t, pixels, NULL, cols, 0, t->vtaps);
}

static inline void store4(uint8_t *o, int32_t v)
{
    memcpy(o, &v, 4);
}

/* One output column, for all groups of eight rows: res[g][j] = (int)(w[0]*g[0]
 * + w[1]*g[1] + ... + 0.5f), g[k] the sums at input column ix[k]. As for the
 * rows, the area filter's four taps are written out. */
__attribute__((target("avx2"), always_inline)) static inline void sum_cols4(const int16_t *ix, const float *wx,
                                                                          const obs_cols *cols,
                                                                          int32_t (*res)[4][8], int j)
{
    const float *c0 = cols[0][ix[0]], *c1 = cols[0][ix[1]], *c2 = cols[0][ix[2]], *c3 = cols[0][ix[3]];
    const __m256 w0 = _mm256_set1_ps(wx[0]), w1 = _mm256_set1_ps(wx[1]);
    const __m256 w2 = _mm256_set1_ps(wx[2]), w3 = _mm256_set1_ps(wx[3]);
    const size_t group = (NES_WIDTH + OBS_PAD) * 8; /* floats from one group of rows to the next */
#pragma GCC unroll 16
    for (int g = 0; g < OBS_GROUPS; g++) {
        __m256 a = _mm256_mul_ps(w0, _mm256_load_ps(c0 + g * group));
        a = _mm256_add_ps(a, _mm256_mul_ps(w1, _mm256_load_ps(c1 + g * group)));
        a = _mm256_add_ps(a, _mm256_mul_ps(w2, _mm256_load_ps(c2 + g * group)));
        a = _mm256_add_ps(a, _mm256_mul_ps(w3, _mm256_load_ps(c3 + g * group)));
        /* (int)(s + 0.5f); the saturating packs bound it to 255 (s >= 0) */
        _mm256_store_si256((__m256i *)res[g][j], _mm256_cvttps_epi32(_mm256_add_ps(a, _mm256_set1_ps(0.5f))));
    }
}

__attribute__((target("avx2"), always_inline)) static inline void sum_cols(const int16_t *ix, const float *wx,
                                                                         int taps, const obs_cols *cols,
                                                                         int32_t (*res)[4][8], int j)
{
    for (int g = 0; g < OBS_GROUPS; g++) {
        __m256 a = _mm256_mul_ps(_mm256_set1_ps(wx[0]), _mm256_load_ps(cols[g][ix[0]]));
        for (int k = 1; k < taps; k++)
            a = _mm256_add_ps(a, _mm256_mul_ps(_mm256_set1_ps(wx[k]), _mm256_load_ps(cols[g][ix[k]])));
        _mm256_store_si256((__m256i *)res[g][j], _mm256_cvttps_epi32(_mm256_add_ps(a, _mm256_set1_ps(0.5f))));
    }
}

/* The horizontal pass: per output column, each weight is broadcast once and
 * serves all eleven groups of eight rows; every four columns, each group's
 * 4x8 block of results goes back to bytes in rows. taps: as for the vertical
 * pass, the tables' htaps. */
__attribute__((target("avx2"), always_inline)) static inline void horizontal_avx2_body(const env_obs_tables *t,
                                                                                     const obs_cols *cols,
                                                                                     uint8_t *out, int taps)
{
    /* per lane (rows 0-3, then 4-7): four columns of four rows' bytes -> four
     * rows of four columns' */
    const __m256i by_rows = _mm256_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15,
                                             0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    _Static_assert(ENV_OBS_W % 4 == 0 && ENV_OBS_H % 8 == 4, "four columns at a time; a last group of four rows");
    for (int ox0 = 0; ox0 < ENV_OBS_W; ox0 += 4) {
        _Alignas(32) int32_t res[OBS_GROUPS][4][8];
        for (int j = 0; j < 4; j++) {
            const int ox = ox0 + j;
            if (taps == 4)
                sum_cols4(t->hx[ox], t->hw[ox], cols, res, j);
            else
                sum_cols(t->hx[ox], t->hw[ox], taps, cols, res, j);
        }
        for (int g = 0; g < OBS_GROUPS; g++) {
            const __m256i *r = (const __m256i *)res[g];
            __m256i p01 = _mm256_packs_epi32(_mm256_load_si256(r), _mm256_load_si256(r + 1));
            __m256i p23 = _mm256_packs_epi32(_mm256_load_si256(r + 2), _mm256_load_si256(r + 3));
            /* dword i of lane l: row 4 l + i, columns ox0..ox0+3 */
            __m256i b = _mm256_shuffle_epi8(_mm256_packus_epi16(p01, p23), by_rows);
            uint8_t *o = out + (size_t)(8 * g) * ENV_OBS_W + ox0;
            __m128i lo = _mm256_castsi256_si128(b);
            store4(o, _mm_cvtsi128_si32(lo));
            store4(o + ENV_OBS_W, _mm_extract_epi32(lo, 1));
            store4(o + 2 * ENV_OBS_W, _mm_extract_epi32(lo, 2));
            store4(o + 3 * ENV_OBS_W, _mm_extract_epi32(lo, 3));
            if (g < OBS_GROUPS - 1) {
                __m128i hi = _mm256_extracti128_si256(b, 1);
                store4(o + 4 * ENV_OBS_W, _mm_cvtsi128_si32(hi));
                store4(o + 5 * ENV_OBS_W, _mm_extract_epi32(hi, 1));
                store4(o + 6 * ENV_OBS_W, _mm_extract_epi32(hi, 2));
                store4(o + 7 * ENV_OBS_W, _mm_extract_epi32(hi, 3));
            }
        }
    }
}

__attribute__((target("avx2"))) static void horizontal_avx2(const env_obs_tables *t, const obs_cols *cols,
                                                           uint8_t *out)
{
    if (t->htaps == 4)
        horizontal_avx2_body(t, cols, out, 4);
    else
        horizontal_avx2_body(t, cols, out, t->htaps);
}

/* The buffers are on the stack, as the portable path's are: cols here (93 KB)
 * and the vertical pass's rings (32 KB). */
__attribute__((target("avx2"))) static void process_avx2(const env_obs_tables *t, const uint8_t *pixels,
                                                        const uint8_t *prev, uint8_t *out)
{
    _Alignas(32) obs_cols cols[OBS_GROUPS];
    if (t->vtaps == 4)
        vertical_area_avx2(t, pixels, prev, cols);
    else
        vertical_any_avx2(t, pixels, prev, cols);
    horizontal_avx2(t, (const obs_cols *)cols, out);
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

/* The portable and AVX paths: each input row is looked up once and added into the (at most
 * three) output rows it feeds with contiguous, vectorisable loops; then 84 short
 * rows are filtered horizontally. */
static void process_rows(const env_obs_tables *t, const uint8_t *pixels, const uint8_t *prev, uint8_t *out)
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

void env_obs_process(const env_obs_tables *t, const uint8_t *pixels, const uint8_t *prev,
                     uint8_t *out)
{
#if defined(OBS_HAVE_AVX)
    if (t->isa >= ENV_OBS_AVX2) {
        process_avx2(t, pixels, prev, out);
        return;
    }
#endif
    process_rows(t, pixels, prev, out);
}

void env_obs_gray_full(const env_obs_tables *t, const uint8_t *pixels, uint8_t *out)
{
    for (size_t i = 0; i < (size_t)NES_WIDTH * NES_HEIGHT; i++) {
        float v = t->gray[pixels[i] & 63] + 0.5f;
        out[i] = v >= 255.0f ? 255 : (uint8_t)v;
    }
}
