/* conv.c: 2-D convolution, the fast im2row + sgemm path and the direct-loop reference beside it.
 *
 * The fast path writes one row of K*K*C input values per output pixel (B*OH*OW rows), so
 * the whole batch is a single GEMM with the weights and its result is NHWC, the layout
 * the next convolution reads. Row order within a patch follows the input layout: (c,ky,kx)
 * for NCHW input, which is PyTorch's weight order, and (ky,kx,c) for NHWC input, where a
 * kernel row is K*C contiguous floats; the weights are then permuted into a scratch copy
 * (tens of thousands of floats, negligible next to the GEMM). */
#include <cblas.h>
#include <string.h>

#include "smbrl/nn.h"

void nn_conv_shape_init(nn_conv_shape *s, int B, int C, int H, int W, int OC, int K, int S, int P,
                        int nhwc_in)
{
    s->B = B, s->C = C, s->H = H, s->W = W;
    s->OC = OC, s->K = K, s->S = S, s->P = P;
    s->OH = (H + 2 * P - K) / S + 1;
    s->OW = (W + 2 * P - K) / S + 1;
    s->nhwc_in = nhwc_in;
}

size_t nn_conv_rows_floats(const nn_conv_shape *s)
{
    return (size_t)s->B * s->OH * s->OW * s->K * s->K * s->C;
}

size_t nn_conv_wperm_floats(const nn_conv_shape *s) { return (size_t)s->OC * s->K * s->K * s->C; }

/* Index of input element (b,c,y,x) in either layout. */
static inline size_t in_index(const nn_conv_shape *s, int b, int c, int y, int x)
{
    if (s->nhwc_in)
        return (((size_t)b * s->H + y) * s->W + x) * s->C + c;
    return (((size_t)b * s->C + c) * s->H + y) * s->W + x;
}

/* rows (B*OH*OW, K*K*C) from inp. */
static void im2row(float *rows, const float *inp, const nn_conv_shape *s)
{
    const int C = s->C, H = s->H, W = s->W, K = s->K, S = s->S, P = s->P;
    const size_t kkc = (size_t)K * K * C;
    float *p = rows;
    for (int b = 0; b < s->B; b++)
        for (int oy = 0; oy < s->OH; oy++)
            for (int ox = 0; ox < s->OW; ox++, p += kkc) {
                int y0 = oy * S - P, x0 = ox * S - P;
                int inside = y0 >= 0 && x0 >= 0 && y0 + K <= H && x0 + K <= W;
                if (s->nhwc_in) {
                    for (int ky = 0; ky < K; ky++) {
                        float *dst = p + (size_t)ky * K * C;
                        int y = y0 + ky;
                        if (inside) {
                            memcpy(dst, inp + in_index(s, b, 0, y, x0), sizeof(float) * K * C);
                            continue;
                        }
                        for (int kx = 0; kx < K; kx++) {
                            int x = x0 + kx;
                            if (y < 0 || y >= H || x < 0 || x >= W)
                                memset(dst + (size_t)kx * C, 0, sizeof(float) * C);
                            else
                                memcpy(dst + (size_t)kx * C, inp + in_index(s, b, 0, y, x), sizeof(float) * C);
                        }
                    }
                } else {
                    for (int c = 0; c < C; c++)
                        for (int ky = 0; ky < K; ky++) {
                            float *dst = p + ((size_t)c * K + ky) * K;
                            int y = y0 + ky;
                            if (inside) {
                                /* K is small (8 or less): a call to memcpy costs more than the copy. */
                                const float *src = inp + in_index(s, b, c, y, x0);
                                for (int kx = 0; kx < K; kx++)
                                    dst[kx] = src[kx];
                                continue;
                            }
                            for (int kx = 0; kx < K; kx++) {
                                int x = x0 + kx;
                                dst[kx] = (y < 0 || y >= H || x < 0 || x >= W) ? 0.0f
                                                                                : inp[in_index(s, b, c, y, x)];
                            }
                        }
                }
            }
}

/* rows from uint8 NCHW observations, each value v read as table[v] = v / 255. */
static void im2row_u8(float *rows, const uint8_t *inp, const float *table, const nn_conv_shape *s)
{
    const int C = s->C, H = s->H, W = s->W, K = s->K, S = s->S, P = s->P;
    float *p = rows;
    for (int b = 0; b < s->B; b++)
        for (int oy = 0; oy < s->OH; oy++)
            for (int ox = 0; ox < s->OW; ox++)
                for (int c = 0; c < C; c++)
                    for (int ky = 0; ky < K; ky++, p += K) {
                        int y = oy * S - P + ky, x0 = ox * S - P;
                        const uint8_t *src = inp + (((size_t)b * C + c) * H + y) * W;
                        if (y < 0 || y >= H) {
                            memset(p, 0, sizeof(float) * K);
                            continue;
                        }
                        for (int kx = 0; kx < K; kx++) {
                            int x = x0 + kx;
                            p[kx] = x < 0 || x >= W ? 0.0f : table[src[x]];
                        }
                    }
}

/* dinp = sum of drows scattered back to where im2row read them. */
static void row2im(float *dinp, const float *drows, const nn_conv_shape *s)
{
    const int C = s->C, H = s->H, W = s->W, K = s->K, S = s->S, P = s->P;
    const size_t kkc = (size_t)K * K * C;
    memset(dinp, 0, sizeof(float) * (size_t)s->B * C * H * W);
    const float *p = drows;
    for (int b = 0; b < s->B; b++)
        for (int oy = 0; oy < s->OH; oy++)
            for (int ox = 0; ox < s->OW; ox++, p += kkc) {
                int y0 = oy * S - P, x0 = ox * S - P;
                if (s->nhwc_in) {
                    for (int ky = 0; ky < K; ky++) {
                        int y = y0 + ky;
                        if (y < 0 || y >= H)
                            continue;
                        for (int kx = 0; kx < K; kx++) {
                            int x = x0 + kx;
                            if (x < 0 || x >= W)
                                continue;
                            float *d = dinp + in_index(s, b, 0, y, x);
                            const float *src = p + ((size_t)ky * K + kx) * C;
                            for (int c = 0; c < C; c++)
                                d[c] += src[c];
                        }
                    }
                } else {
                    for (int c = 0; c < C; c++)
                        for (int ky = 0; ky < K; ky++) {
                            int y = y0 + ky;
                            if (y < 0 || y >= H)
                                continue;
                            const float *src = p + ((size_t)c * K + ky) * K;
                            float *d = dinp + in_index(s, b, c, y, 0);
                            for (int kx = 0; kx < K; kx++) {
                                int x = x0 + kx;
                                if (x >= 0 && x < W)
                                    d[x] += src[kx];
                            }
                        }
                }
            }
}

/* wperm (OC,K,K,C) from weight (OC,C,K,K). */
static void permute_weight(float *wperm, const float *weight, const nn_conv_shape *s)
{
    const int C = s->C, KK = s->K * s->K;
    for (int o = 0; o < s->OC; o++)
        for (int c = 0; c < C; c++)
            for (int k = 0; k < KK; k++)
                wperm[((size_t)o * KK + k) * C + c] = weight[((size_t)o * C + c) * KK + k];
}

void nn_conv2d_forward(float *out, float *rows, float *wperm, const float *inp, const float *weight,
                       const float *bias, const nn_conv_shape *s)
{
    const int M = s->B * s->OH * s->OW, OC = s->OC, KKC = s->K * s->K * s->C;
    im2row(rows, inp, s);
    const float *w = weight;
    if (s->nhwc_in) {
        permute_weight(wperm, weight, s);
        w = wperm;
    }
    for (int m = 0; m < M; m++)
        memcpy(out + (size_t)m * OC, bias, sizeof(float) * OC);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, OC, KKC, 1.0f, rows, KKC, w, KKC, 1.0f,
                out, OC);
}

void nn_conv2d_forward_u8(float *out, float *rows, const uint8_t *inp, const float *weight,
                          const float *bias, const nn_conv_shape *s)
{
    const int M = s->B * s->OH * s->OW, OC = s->OC, KKC = s->K * s->K * s->C;
    float table[256];
    for (int v = 0; v < 256; v++)
        table[v] = (float)v / 255.0f;
    im2row_u8(rows, inp, table, s);
    for (int m = 0; m < M; m++)
        memcpy(out + (size_t)m * OC, bias, sizeof(float) * OC);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, OC, KKC, 1.0f, rows, KKC, weight, KKC, 1.0f,
                out, OC);
}

void nn_conv2d_backward(float *dinp, float *dweight, float *dbias, float *drows, float *wperm,
                        float *dwperm, const float *dout, const float *rows, const float *weight,
                        const nn_conv_shape *s)
{
    const int M = s->B * s->OH * s->OW, OC = s->OC, KKC = s->K * s->K * s->C;
    for (int m = 0; m < M; m++) {
        const float *d = dout + (size_t)m * OC;
        for (int o = 0; o < OC; o++)
            dbias[o] += d[o];
    }
    if (!s->nhwc_in) {
        /* Patch order is the weight order: accumulate straight into dweight. */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, KKC, M, 1.0f, dout, OC, rows, KKC,
                    1.0f, dweight, KKC);
    } else {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, KKC, M, 1.0f, dout, OC, rows, KKC,
                    0.0f, dwperm, KKC);
        const int C = s->C, KK = s->K * s->K;
        for (int o = 0; o < OC; o++)
            for (int c = 0; c < C; c++)
                for (int k = 0; k < KK; k++)
                    dweight[((size_t)o * C + c) * KK + k] += dwperm[((size_t)o * KK + k) * C + c];
    }
    if (!dinp)
        return;
    const float *w = weight;
    if (s->nhwc_in) {
        permute_weight(wperm, weight, s);
        w = wperm;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, KKC, OC, 1.0f, dout, OC, w, KKC, 0.0f,
                drows, KKC);
    row2im(dinp, drows, s);
}

/* ---- reference: direct loops, double accumulation ---------------------------------- */

void nn_conv2d_forward_ref(float *out, const float *inp, const float *weight, const float *bias,
                           const nn_conv_shape *s)
{
    const int C = s->C, K = s->K;
    for (int b = 0; b < s->B; b++)
        for (int oy = 0; oy < s->OH; oy++)
            for (int ox = 0; ox < s->OW; ox++)
                for (int o = 0; o < s->OC; o++) {
                    double acc = bias[o];
                    for (int c = 0; c < C; c++)
                        for (int ky = 0; ky < K; ky++)
                            for (int kx = 0; kx < K; kx++) {
                                int y = oy * s->S - s->P + ky, x = ox * s->S - s->P + kx;
                                if (y < 0 || y >= s->H || x < 0 || x >= s->W)
                                    continue;
                                acc += (double)weight[(((size_t)o * C + c) * K + ky) * K + kx] *
                                       inp[in_index(s, b, c, y, x)];
                            }
                    out[(((size_t)b * s->OH + oy) * s->OW + ox) * s->OC + o] = (float)acc;
                }
}

void nn_conv2d_backward_ref(float *dinp, float *dweight, float *dbias, const float *dout,
                            const float *inp, const float *weight, const nn_conv_shape *s)
{
    const int C = s->C, K = s->K;
    if (dinp)
        memset(dinp, 0, sizeof(float) * (size_t)s->B * C * s->H * s->W);
    for (int o = 0; o < s->OC; o++) {
        double db = 0;
        for (int b = 0; b < s->B; b++)
            for (int p = 0; p < s->OH * s->OW; p++)
                db += dout[((size_t)b * s->OH * s->OW + p) * s->OC + o];
        dbias[o] += (float)db;
        for (int c = 0; c < C; c++)
            for (int ky = 0; ky < K; ky++)
                for (int kx = 0; kx < K; kx++) {
                    double dw = 0;
                    for (int b = 0; b < s->B; b++)
                        for (int oy = 0; oy < s->OH; oy++)
                            for (int ox = 0; ox < s->OW; ox++) {
                                int y = oy * s->S - s->P + ky, x = ox * s->S - s->P + kx;
                                if (y < 0 || y >= s->H || x < 0 || x >= s->W)
                                    continue;
                                double g = dout[(((size_t)b * s->OH + oy) * s->OW + ox) * s->OC + o];
                                dw += g * inp[in_index(s, b, c, y, x)];
                                if (dinp)
                                    dinp[in_index(s, b, c, y, x)] +=
                                        (float)(g * weight[(((size_t)o * C + c) * K + ky) * K + kx]);
                            }
                    dweight[(((size_t)o * C + c) * K + ky) * K + kx] += (float)dw;
                }
    }
}
