/* conv_direct.c: convolution without a patch matrix, for NHWC input without padding (conv.c
 * gives padded convolutions a copy of their input with the border written out).
 *
 * A patch of output pixel m is K runs ("segments") of K*C contiguous input floats, one per
 * kernel row, seg_stride = W*C apart. The kernels below read those runs in place, so no
 * patch matrix is written and no BLAS packs one: only the weights, a few thousand floats,
 * are repacked into 16-wide panels. Tiles: 6 pixels x 16 output channels for the forward
 * and the input gradient (12 accumulators), 6 (or 4) channels x 16 patch columns for the
 * weight gradient, or 16 channels x 6 patch columns when runs are not multiples of 16 (a
 * 4-channel first layer). Needs AVX2 + FMA; nn_direct_ok and nn_direct_cols_ok say when a
 * shape and the CPU qualify, and the im2row + sgemm path in conv.c serves everything else. */
#include <string.h>

#include "nn/nn_internal.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define NN_DIRECT 1
#endif

#define TILE 6

/* First input float of output pixel m's patch. */
static inline const float *patch_base(const float *inp, const nn_conv_shape *s, int m)
{
    const int ohw = s->OH * s->OW, b = m / ohw, r = m % ohw, oy = r / s->OW, ox = r % s->OW;
    return inp + (((size_t)b * s->H + (size_t)oy * s->S) * s->W + (size_t)ox * s->S) * s->C;
}

int nn_direct_ok(const nn_conv_shape *s)
{
#ifdef NN_DIRECT
    return s->nhwc_in && s->P == 0 && s->OC % 16 == 0 && (s->K * s->C) % 16 == 0 &&
           __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    (void)s;
    return 0;
#endif
}

#ifdef NN_DIRECT

/* out rows (R pixels, 16 channels; row stride ldo) = patches x panel (KKC x 16). */
__attribute__((target("avx2,fma"))) static void fwd_tile(float *out, size_t ldo, const float *const *a,
                                                         int R, const nn_conv_shape *s, const float *panel)
{
    const int L = s->K * s->C;
    const size_t seg = (size_t)s->W * s->C;
    if (R == TILE) {
        __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
        __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
        const float *wp = panel;
        for (int ky = 0; ky < s->K; ky++) {
            const size_t o = (size_t)ky * seg;
            const float *a0 = a[0] + o, *a1 = a[1] + o, *a2 = a[2] + o, *a3 = a[3] + o;
            const float *a4 = a[4] + o, *a5 = a[5] + o;
            for (int k = 0; k < L; k++, wp += 16) {
                __m256 w0 = _mm256_loadu_ps(wp), w1 = _mm256_loadu_ps(wp + 8), b;
                b = _mm256_broadcast_ss(a0 + k), c00 = _mm256_fmadd_ps(b, w0, c00), c01 = _mm256_fmadd_ps(b, w1, c01);
                b = _mm256_broadcast_ss(a1 + k), c10 = _mm256_fmadd_ps(b, w0, c10), c11 = _mm256_fmadd_ps(b, w1, c11);
                b = _mm256_broadcast_ss(a2 + k), c20 = _mm256_fmadd_ps(b, w0, c20), c21 = _mm256_fmadd_ps(b, w1, c21);
                b = _mm256_broadcast_ss(a3 + k), c30 = _mm256_fmadd_ps(b, w0, c30), c31 = _mm256_fmadd_ps(b, w1, c31);
                b = _mm256_broadcast_ss(a4 + k), c40 = _mm256_fmadd_ps(b, w0, c40), c41 = _mm256_fmadd_ps(b, w1, c41);
                b = _mm256_broadcast_ss(a5 + k), c50 = _mm256_fmadd_ps(b, w0, c50), c51 = _mm256_fmadd_ps(b, w1, c51);
            }
        }
        _mm256_storeu_ps(out, c00), _mm256_storeu_ps(out + 8, c01), out += ldo;
        _mm256_storeu_ps(out, c10), _mm256_storeu_ps(out + 8, c11), out += ldo;
        _mm256_storeu_ps(out, c20), _mm256_storeu_ps(out + 8, c21), out += ldo;
        _mm256_storeu_ps(out, c30), _mm256_storeu_ps(out + 8, c31), out += ldo;
        _mm256_storeu_ps(out, c40), _mm256_storeu_ps(out + 8, c41), out += ldo;
        _mm256_storeu_ps(out, c50), _mm256_storeu_ps(out + 8, c51);
        return;
    }
    for (int r = 0; r < R; r++, out += ldo) { /* the last few pixels of a slice */
        __m256 c0 = _mm256_setzero_ps(), c1 = c0;
        const float *wp = panel;
        for (int ky = 0; ky < s->K; ky++) {
            const float *ar = a[r] + (size_t)ky * seg;
            for (int k = 0; k < L; k++, wp += 16) {
                __m256 b = _mm256_broadcast_ss(ar + k);
                c0 = _mm256_fmadd_ps(b, _mm256_loadu_ps(wp), c0);
                c1 = _mm256_fmadd_ps(b, _mm256_loadu_ps(wp + 8), c1);
            }
        }
        _mm256_storeu_ps(out, c0), _mm256_storeu_ps(out + 8, c1);
    }
}

void nn_direct_pack_forward(float *pack, const float *wpat, const nn_conv_shape *s)
{
    const int OC = s->OC, KKC = s->K * s->K * s->C;
    /* OC/16 panels of (KKC x 16). */
    for (int n0 = 0; n0 < OC; n0 += 16)
        for (int k = 0; k < KKC; k++)
            for (int j = 0; j < 16; j++)
                pack[(size_t)n0 * KKC + (size_t)k * 16 + j] = wpat[(size_t)(n0 + j) * KKC + k];
}

void nn_direct_forward_packed(float *out, const float *inp, const float *pack, const nn_conv_shape *s)
{
    const int M = s->B * s->OH * s->OW, OC = s->OC, KKC = s->K * s->K * s->C;
    const float *a[TILE];
    for (int m = 0; m < M; m += TILE) {
        int R = M - m < TILE ? M - m : TILE;
        for (int r = 0; r < R; r++)
            a[r] = patch_base(inp, s, m + r);
        for (int n0 = 0; n0 < OC; n0 += 16)
            fwd_tile(out + (size_t)m * OC + n0, (size_t)OC, a, R, s, pack + (size_t)n0 * KKC);
    }
}

/* dwpat[o0..o0+R][kk..kk+16] += sum over the np pixels of a block of dout[m][o] * patch_m[kk..].
 * pb holds the block's patch bases; the block's patches stay in cache across all tiles.
 * R = 6 channels (12 accumulators) for most tiles, 4 for the rest (OC is a multiple of 16). */
#define DW_ACC(i)                                                                                \
    w = _mm256_broadcast_ss(dout + i), c##i##0 = _mm256_fmadd_ps(w, v0, c##i##0),                 \
    c##i##1 = _mm256_fmadd_ps(w, v1, c##i##1)
#define DW_LOAD(i) __m256 c##i##0 = _mm256_loadu_ps(dwpat + i * ldw), c##i##1 = _mm256_loadu_ps(dwpat + i * ldw + 8)
#define DW_STORE(i) _mm256_storeu_ps(dwpat + i * ldw, c##i##0), _mm256_storeu_ps(dwpat + i * ldw + 8, c##i##1)

__attribute__((target("avx2,fma"))) static void dw_tile6(float *dwpat, size_t ldw, const float *const *pb,
                                                         const float *dout, int np, int OC, size_t koff)
{
    DW_LOAD(0); DW_LOAD(1); DW_LOAD(2); DW_LOAD(3); DW_LOAD(4); DW_LOAD(5);
    for (int m = 0; m < np; m++, dout += OC) {
        const float *p = pb[m] + koff;
        __m256 v0 = _mm256_loadu_ps(p), v1 = _mm256_loadu_ps(p + 8), w;
        DW_ACC(0); DW_ACC(1); DW_ACC(2); DW_ACC(3); DW_ACC(4); DW_ACC(5);
    }
    DW_STORE(0); DW_STORE(1); DW_STORE(2); DW_STORE(3); DW_STORE(4); DW_STORE(5);
}

__attribute__((target("avx2,fma"))) static void dw_tile4(float *dwpat, size_t ldw, const float *const *pb,
                                                         const float *dout, int np, int OC, size_t koff)
{
    DW_LOAD(0); DW_LOAD(1); DW_LOAD(2); DW_LOAD(3);
    for (int m = 0; m < np; m++, dout += OC) {
        const float *p = pb[m] + koff;
        __m256 v0 = _mm256_loadu_ps(p), v1 = _mm256_loadu_ps(p + 8), w;
        DW_ACC(0); DW_ACC(1); DW_ACC(2); DW_ACC(3);
    }
    DW_STORE(0); DW_STORE(1); DW_STORE(2); DW_STORE(3);
}

#define DW_BLOCK 64

void nn_direct_dweight(float *dwpat, float *dbias, const float *dout, const float *inp, const nn_conv_shape *s)
{
    const int M = s->B * s->OH * s->OW, OC = s->OC, L = s->K * s->C, KKC = s->K * L;
    memset(dwpat, 0, sizeof(float) * (size_t)OC * KKC);
    const float *pb[DW_BLOCK];
    for (int m0 = 0; m0 < M; m0 += DW_BLOCK) {
        int np = M - m0 < DW_BLOCK ? M - m0 : DW_BLOCK;
        for (int i = 0; i < np; i++)
            pb[i] = patch_base(inp, s, m0 + i);
        for (int ky = 0; ky < s->K; ky++)
            for (int k = 0; k < L; k += 16) {
                size_t col = (size_t)ky * L + k, koff = (size_t)ky * s->W * s->C + k;
                /* OC (a multiple of 16) = 6q + r with r in {0, 2, 4}: r = 2 takes a 6 and makes
                 * two 4s, since a 2-channel tile has too few accumulators to hide FMA latency. */
                const int n6 = OC % 6 == 2 ? OC / 6 - 1 : OC / 6;
                int o0 = 0;
                for (; o0 < 6 * n6; o0 += 6)
                    dw_tile6(dwpat + (size_t)o0 * KKC + col, (size_t)KKC, pb, dout + (size_t)m0 * OC + o0,
                             np, OC, koff);
                for (; o0 < OC; o0 += 4)
                    dw_tile4(dwpat + (size_t)o0 * KKC + col, (size_t)KKC, pb, dout + (size_t)m0 * OC + o0,
                             np, OC, koff);
            }
        if (dbias) /* the block of dout is in cache now; a pass of its own would stream it again */
            nn_bias_grad(dbias, dout + (size_t)m0 * OC, (size_t)np, OC);
    }
}

/* Weight gradient for patches whose runs are not multiples of 16 floats (a first layer of 4
 * channels: runs of 12). Vectors run over output channels instead, 16 at a time, against 6
 * patch columns broadcast from the input in place (12 accumulators): any patch length, no
 * gathered copy, no zero columns. The result is transposed: dwt (K*K*C, OC). */
#define DWT_COLS 6

__attribute__((target("avx2,fma"))) static void dwt_tile(float *dwt, size_t ldt, const float *const *pb,
                                                         const size_t *off, const float *dout, int np, int OC)
{
#define DWT_LOAD(j) __m256 c##j##0 = _mm256_loadu_ps(dwt + j * ldt), c##j##1 = _mm256_loadu_ps(dwt + j * ldt + 8)
#define DWT_ACC(j)                                                                               \
    b = _mm256_broadcast_ss(p + o##j), c##j##0 = _mm256_fmadd_ps(b, d0, c##j##0),                 \
    c##j##1 = _mm256_fmadd_ps(b, d1, c##j##1)
#define DWT_STORE(j) _mm256_storeu_ps(dwt + j * ldt, c##j##0), _mm256_storeu_ps(dwt + j * ldt + 8, c##j##1)
    const size_t o0 = off[0], o1 = off[1], o2 = off[2], o3 = off[3], o4 = off[4], o5 = off[5];
    DWT_LOAD(0); DWT_LOAD(1); DWT_LOAD(2); DWT_LOAD(3); DWT_LOAD(4); DWT_LOAD(5);
    for (int m = 0; m < np; m++, dout += OC) {
        const float *p = pb[m];
        __m256 d0 = _mm256_loadu_ps(dout), d1 = _mm256_loadu_ps(dout + 8), b;
        DWT_ACC(0); DWT_ACC(1); DWT_ACC(2); DWT_ACC(3); DWT_ACC(4); DWT_ACC(5);
    }
    DWT_STORE(0); DWT_STORE(1); DWT_STORE(2); DWT_STORE(3); DWT_STORE(4); DWT_STORE(5);
}

/* The last columns of a patch (fewer than 6), one at a time. */
__attribute__((target("avx2,fma"))) static void dwt_col(float *dwt, const float *const *pb, size_t off,
                                                        const float *dout, int np, int OC)
{
    __m256 c0 = _mm256_loadu_ps(dwt), c1 = _mm256_loadu_ps(dwt + 8);
    for (int m = 0; m < np; m++, dout += OC) {
        __m256 b = _mm256_broadcast_ss(pb[m] + off);
        c0 = _mm256_fmadd_ps(b, _mm256_loadu_ps(dout), c0);
        c1 = _mm256_fmadd_ps(b, _mm256_loadu_ps(dout + 8), c1);
    }
    _mm256_storeu_ps(dwt, c0), _mm256_storeu_ps(dwt + 8, c1);
}

int nn_direct_cols_ok(const nn_conv_shape *s)
{
    return s->nhwc_in && s->P == 0 && s->OC % 16 == 0 && __builtin_cpu_supports("avx2") &&
           __builtin_cpu_supports("fma");
}

void nn_direct_dweight_cols(float *dwt, float *dbias, const float *dout, const float *inp, const nn_conv_shape *s)
{
    const int M = s->B * s->OH * s->OW, OC = s->OC, L = s->K * s->C, KKC = s->K * L;
    const size_t seg = (size_t)s->W * s->C;
    const float *pb[DW_BLOCK];
    memset(dwt, 0, sizeof(float) * (size_t)KKC * OC);
    for (int m0 = 0; m0 < M; m0 += DW_BLOCK) {
        int np = M - m0 < DW_BLOCK ? M - m0 : DW_BLOCK;
        for (int i = 0; i < np; i++)
            pb[i] = patch_base(inp, s, m0 + i);
        const float *d = dout + (size_t)m0 * OC;
        for (int o0 = 0; o0 < OC; o0 += 16) {
            int col = 0;
            for (; col + DWT_COLS <= KKC; col += DWT_COLS) {
                size_t off[DWT_COLS];
                for (int j = 0; j < DWT_COLS; j++)
                    off[j] = (size_t)((col + j) / L) * seg + (size_t)((col + j) % L);
                dwt_tile(dwt + (size_t)col * OC + o0, (size_t)OC, pb, off, d + o0, np, OC);
            }
            for (; col < KKC; col++)
                dwt_col(dwt + (size_t)col * OC + o0, pb, (size_t)(col / L) * seg + (size_t)(col % L), d + o0,
                        np, OC);
        }
        if (dbias)
            nn_bias_grad(dbias, d, (size_t)np, OC);
    }
}

/* dinp at the patches of R pixels, columns [kk, kk+16) of segment ky: += dout x panel (OC x 16). */
__attribute__((target("avx2,fma"))) static void dx_tile(float *const *x, const float *dout, int R,
                                                        const float *panel, int OC)
{
    __m256 c[TILE][2];
    for (int r = 0; r < R; r++)
        c[r][0] = c[r][1] = _mm256_setzero_ps();
    if (R == TILE) {
        __m256 c00 = c[0][0], c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
        __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
        const float *d0 = dout, *d1 = d0 + OC, *d2 = d1 + OC, *d3 = d2 + OC, *d4 = d3 + OC, *d5 = d4 + OC;
        for (int o = 0; o < OC; o++) {
            __m256 w0 = _mm256_loadu_ps(panel + (size_t)o * 16), w1 = _mm256_loadu_ps(panel + (size_t)o * 16 + 8), b;
            b = _mm256_broadcast_ss(d0 + o), c00 = _mm256_fmadd_ps(b, w0, c00), c01 = _mm256_fmadd_ps(b, w1, c01);
            b = _mm256_broadcast_ss(d1 + o), c10 = _mm256_fmadd_ps(b, w0, c10), c11 = _mm256_fmadd_ps(b, w1, c11);
            b = _mm256_broadcast_ss(d2 + o), c20 = _mm256_fmadd_ps(b, w0, c20), c21 = _mm256_fmadd_ps(b, w1, c21);
            b = _mm256_broadcast_ss(d3 + o), c30 = _mm256_fmadd_ps(b, w0, c30), c31 = _mm256_fmadd_ps(b, w1, c31);
            b = _mm256_broadcast_ss(d4 + o), c40 = _mm256_fmadd_ps(b, w0, c40), c41 = _mm256_fmadd_ps(b, w1, c41);
            b = _mm256_broadcast_ss(d5 + o), c50 = _mm256_fmadd_ps(b, w0, c50), c51 = _mm256_fmadd_ps(b, w1, c51);
        }
        c[0][0] = c00, c[0][1] = c01, c[1][0] = c10, c[1][1] = c11, c[2][0] = c20, c[2][1] = c21;
        c[3][0] = c30, c[3][1] = c31, c[4][0] = c40, c[4][1] = c41, c[5][0] = c50, c[5][1] = c51;
    } else {
        for (int r = 0; r < R; r++)
            for (int o = 0; o < OC; o++) {
                __m256 b = _mm256_broadcast_ss(dout + (size_t)r * OC + o);
                c[r][0] = _mm256_fmadd_ps(b, _mm256_loadu_ps(panel + (size_t)o * 16), c[r][0]);
                c[r][1] = _mm256_fmadd_ps(b, _mm256_loadu_ps(panel + (size_t)o * 16 + 8), c[r][1]);
            }
    }
    /* One pixel at a time: neighbouring patches overlap in the input. */
    for (int r = 0; r < R; r++) {
        _mm256_storeu_ps(x[r], _mm256_add_ps(_mm256_loadu_ps(x[r]), c[r][0]));
        _mm256_storeu_ps(x[r] + 8, _mm256_add_ps(_mm256_loadu_ps(x[r] + 8), c[r][1]));
    }
}

void nn_direct_pack_dinp(float *pack, const float *wpat, const nn_conv_shape *s)
{
    const int OC = s->OC, KKC = s->K * s->K * s->C;
    /* KKC/16 panels of (OC x 16). */
    for (int k0 = 0; k0 < KKC; k0 += 16)
        for (int o = 0; o < OC; o++)
            memcpy(pack + (size_t)k0 * OC + (size_t)o * 16, wpat + (size_t)o * KKC + k0, sizeof(float) * 16);
}

void nn_direct_dinp(float *dinp, const float *dout, const float *wpat, float *pack, const nn_conv_shape *s)
{
    nn_direct_pack_dinp(pack, wpat, s);
    nn_direct_dinp_packed(dinp, dout, pack, s);
}

void nn_direct_dinp_packed(float *dinp, const float *dout, const float *pack, const nn_conv_shape *s)
{
    const int M = s->B * s->OH * s->OW, OC = s->OC, L = s->K * s->C;
    memset(dinp, 0, sizeof(float) * (size_t)s->B * s->H * s->W * s->C);
    float *x[TILE], *base[TILE];
    const size_t seg = (size_t)s->W * s->C;
    for (int m = 0; m < M; m += TILE) {
        int R = M - m < TILE ? M - m : TILE;
        for (int r = 0; r < R; r++) /* divisions: once per tile, not per panel */
            base[r] = dinp + (patch_base(dinp, s, m + r) - dinp);
        for (int ky = 0; ky < s->K; ky++)
            for (int k = 0; k < L; k += 16) {
                for (int r = 0; r < R; r++)
                    x[r] = base[r] + (size_t)ky * seg + k;
                dx_tile(x, dout + (size_t)m * OC, R, pack + ((size_t)ky * L + k) * OC, OC);
            }
    }
}

#else
/* Never called: nn_direct_ok is 0 without x86-64 and a GCC-compatible compiler. */

int nn_direct_cols_ok(const nn_conv_shape *s)
{
    (void)s;
    return 0;
}
void nn_direct_dweight_cols(float *dwt, float *dbias, const float *dout, const float *inp, const nn_conv_shape *s)
{
    (void)dwt, (void)dbias, (void)dout, (void)inp, (void)s;
}

void nn_direct_dweight(float *dwpat, float *dbias, const float *dout, const float *inp, const nn_conv_shape *s)
{
    (void)dwpat, (void)dbias, (void)dout, (void)inp, (void)s;
}
void nn_direct_dinp(float *dinp, const float *dout, const float *wpat, float *pack, const nn_conv_shape *s)
{
    (void)dinp, (void)dout, (void)wpat, (void)pack, (void)s;
}
void nn_direct_pack_forward(float *pack, const float *wpat, const nn_conv_shape *s)
{
    (void)pack, (void)wpat, (void)s;
}
void nn_direct_forward_packed(float *out, const float *inp, const float *pack, const nn_conv_shape *s)
{
    (void)out, (void)inp, (void)pack, (void)s;
}
void nn_direct_pack_dinp(float *pack, const float *wpat, const nn_conv_shape *s)
{
    (void)pack, (void)wpat, (void)s;
}
void nn_direct_dinp_packed(float *dinp, const float *dout, const float *pack, const nn_conv_shape *s)
{
    (void)dinp, (void)dout, (void)pack, (void)s;
}

#endif
