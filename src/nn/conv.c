/* conv.c: 2-D convolution: the layer functions, the padded-copy and im2row + sgemm paths,
 * the first layer's space-to-depth path, and the direct-loop reference beside them. The
 * direct kernels that most layers use on x86-64 live in conv_direct.c; this file decides
 * which path runs (nn_conv_path names it).
 *
 * The im2row path writes one row of K*K*C input values per output pixel (B*OH*OW rows), so
 * the whole batch is a single GEMM with the weights and its result is NHWC, the layout
 * the next convolution reads. Row order within a patch follows the input layout: (c,ky,kx)
 * for NCHW input, which is PyTorch's weight order, and (ky,kx,c) for NHWC input, where a
 * kernel row is K*C contiguous floats; the weights are then permuted into a scratch copy
 * (tens of thousands of floats, negligible next to the GEMM). */
#include <cblas.h>
#include <string.h>

#include "smbrl/nn.h"
#include "nn/nn_internal.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define NN_HAVE_AVX2_S2D 1
#endif

void nn_conv_shape_init(nn_conv_shape *s, int B, int C, int H, int W, int OC, int K, int S, int P,
                        int nhwc_in)
{
    s->B = B, s->C = C, s->H = H, s->W = W;
    s->OC = OC, s->K = K, s->S = S, s->P = P;
    s->OH = (H + 2 * P - K) / S + 1;
    s->OW = (W + 2 * P - K) / S + 1;
    s->nhwc_in = nhwc_in;
}

/* A padded NHWC convolution runs the direct kernels on a copy of its input with the zero
 * border written out: (H+2P, W+2P) per sample, a few percent more than the input, where a
 * patch matrix would be K*K/(S*S) times the output. Same output size, P = 0. */
static void padded_shape(nn_conv_shape *t, const nn_conv_shape *s, int B)
{
    nn_conv_shape_init(t, B, s->C, s->H + 2 * s->P, s->W + 2 * s->P, s->OC, s->K, s->S, 0, 1);
}

static int use_padded_direct(const nn_conv_shape *s)
{
    if (!s->nhwc_in || s->P == 0)
        return 0;
    nn_conv_shape t;
    padded_shape(&t, s, s->B);
    return nn_direct_ok(&t);
}

size_t nn_conv_rows_floats(const nn_conv_shape *s)
{
    if (use_padded_direct(s))
        return (size_t)s->B * (s->H + 2 * s->P) * (s->W + 2 * s->P) * s->C;
    return (size_t)s->B * s->OH * s->OW * s->K * s->K * s->C;
}

/* Two weight-sized halves: the permuted weights and, for the direct kernels, their panels
 * (or the weight gradient in patch order). */
size_t nn_conv_wperm_floats(const nn_conv_shape *s) { return 2 * (size_t)s->OC * s->K * s->K * s->C; }

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
                        if (y < 0 || y >= H) {
                            memset(p, 0, sizeof(float) * K);
                            continue;
                        }
                        /* Only now: with y < 0 the row address would lie before inp. */
                        const uint8_t *src = inp + (((size_t)b * C + c) * H + y) * W;
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

/* The direct forward's panels (nn_direct_pack_forward of the permuted weights) straight from
 * weight (OC,C,K,K) in one pass: acting repacks on every call. */
static void pack_forward_torch(float *pack, const float *weight, const nn_conv_shape *s)
{
    const int C = s->C, KK = s->K * s->K;
    const size_t KKC = (size_t)KK * C;
    for (int n0 = 0; n0 < s->OC; n0 += 16)
        for (int kk = 0; kk < KK; kk++)
            for (int c = 0; c < C; c++) {
                float *dst = pack + (size_t)n0 * KKC + ((size_t)kk * C + c) * 16;
                const float *src = weight + ((size_t)n0 * C + c) * KK + kk;
                for (int j = 0; j < 16; j++)
                    dst[j] = src[(size_t)j * KKC];
            }
}

/* dst (H+2P, W+2P, C) = one NHWC sample src (H, W, C) inside a zero border. */
static void pad_sample(float *dst, const float *src, const nn_conv_shape *s)
{
    const size_t C = (size_t)s->C, P = (size_t)s->P, W = (size_t)s->W, WP = W + 2 * P;
    memset(dst, 0, sizeof(float) * P * WP * C);
    dst += P * WP * C;
    for (int y = 0; y < s->H; y++, dst += WP * C, src += W * C) {
        memset(dst, 0, sizeof(float) * P * C);
        memcpy(dst + P * C, src, sizeof(float) * W * C);
        memset(dst + (P + W) * C, 0, sizeof(float) * P * C);
    }
    memset(dst, 0, sizeof(float) * P * WP * C);
}

/* dst (H, W, C) = the inside of one padded sample src (H+2P, W+2P, C): the gradient that fell
 * on the border belongs to no input. With relu_out (the sample's input, a ReLU's output),
 * that ReLU's backward on the way. */
static void crop_sample(float *dst, const float *src, const float *relu_out, const nn_conv_shape *s)
{
    const size_t C = (size_t)s->C, P = (size_t)s->P, W = (size_t)s->W, WP = W + 2 * P;
    src += (P * WP + P) * C;
    for (int y = 0; y < s->H; y++, dst += W * C, src += WP * C) {
        if (relu_out) {
            nn_relu_backward(dst, src, relu_out, W * C);
            relu_out += W * C;
        } else {
            memcpy(dst, src, sizeof(float) * W * C);
        }
    }
}

/* Sample by sample, so that the padded copy is still in cache when the kernel reads it;
 * rows keeps every sample's copy for the weight gradient. */
static void padded_forward(float *out, float *rows, float *wperm, const float *inp, const float *weight,
                           const float *bias, const nn_conv_shape *s, int relu)
{
    nn_conv_shape t;
    padded_shape(&t, s, 1);
    const size_t in1 = (size_t)s->H * s->W * s->C, pad1 = (size_t)t.H * t.W * t.C;
    const size_t out1 = (size_t)s->OH * s->OW * s->OC;
    pack_forward_torch(wperm, weight, s);
    for (int b = 0; b < s->B; b++) {
        pad_sample(rows + b * pad1, inp + b * in1, s);
        nn_direct_forward_packed(out + b * out1, rows + b * pad1, wperm, &t);
        nn_bias_act(out + b * out1, bias, (size_t)s->OH * s->OW, s->OC, relu);
    }
}

void nn_conv2d_forward(float *out, float *rows, float *wperm, const float *inp, const float *weight,
                       const float *bias, const nn_conv_shape *s)
{
    nn_conv2d_forward_act(out, rows, wperm, inp, weight, bias, s, 0);
}

void nn_conv2d_forward_act(float *out, float *rows, float *wperm, const float *inp, const float *weight,
                           const float *bias, const nn_conv_shape *s, int relu)
{
    const int M = s->B * s->OH * s->OW, OC = s->OC, KKC = s->K * s->K * s->C;
    if (use_padded_direct(s)) {
        padded_forward(out, rows, wperm, inp, weight, bias, s, relu);
        return;
    }
    if (nn_direct_ok(s)) {
        pack_forward_torch(wperm, weight, s);
        nn_direct_forward_packed(out, inp, wperm, s);
        nn_bias_act(out, bias, (size_t)M, OC, relu);
        return;
    }
    im2row(rows, inp, s);
    const float *w = weight;
    if (s->nhwc_in) {
        permute_weight(wperm, weight, s);
        w = wperm;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, OC, KKC, 1.0f, rows, KKC, w, KKC, 0.0f,
                out, OC);
    nn_bias_act(out, bias, (size_t)M, OC, relu);
}

/* A stride-S convolution whose kernel is a multiple of S, without padding, is a stride-1
 * convolution with kernel KS = K/S on the "space-to-depth" input: cells of S x S input
 * pixels, C*S*S values each, stored NHWC; a patch is then KS runs of KS*C*S*S contiguous
 * floats (MarioNet's first layer: 2 runs of 128). The cell grid has (OH-1+KS, OW-1+KS)
 * cells, so sides that are not multiples of S leave their last pixels out. */
static int use_s2d(const nn_conv_shape *s)
{
    return !s->nhwc_in && s->S > 1 && s->P == 0 && s->K % s->S == 0;
}

/* The stride-1 convolution over the space-to-depth input. */
static void s2d_shape(nn_conv_shape *t, const nn_conv_shape *s)
{
    const int KS = (s->K + s->S - 1) / s->S;
    nn_conv_shape_init(t, s->B, s->C * s->S * s->S, s->OH - 1 + KS, s->OW - 1 + KS, s->OC, KS, 1, 0, 1);
}

/* A first layer whose kernel S does not divide, or that pads: the bytes
 * become a float NHWC copy with the zero border written out (u8_nhwc_shape), on which the
 * forward kernel reads runs of K*C floats as they are (PPO: 12) and the weight gradient
 * vectorises over output channels: no zero weights. */
static void u8_nhwc_shape(nn_conv_shape *t, const nn_conv_shape *s, int B)
{
    nn_conv_shape_init(t, B, s->C, s->H + 2 * s->P, s->W + 2 * s->P, s->OC, s->K, s->S, 0, 1);
}

static int use_u8_nhwc(const nn_conv_shape *s)
{
    if (s->nhwc_in || use_s2d(s))
        return 0;
    nn_conv_shape t;
    u8_nhwc_shape(&t, s, s->B);
    return nn_direct_cols_ok(&t);
}

size_t nn_conv_u8_scratch_floats(const nn_conv_shape *s)
{
    nn_conv_shape t;
    if (use_u8_nhwc(s)) {
        u8_nhwc_shape(&t, s, s->B);
        return (size_t)s->B * t.H * t.W * t.C;
    }
    if (!use_s2d(s))
        return 0;
    s2d_shape(&t, s);
    return (size_t)s->B * t.H * t.W * t.C;
}

#ifdef NN_HAVE_AVX2_S2D
/* 4 channels (stacked frames), 8 pixels at a time: one row of 8 bytes per channel, divided
 * by 255 in 8 lanes (the table's correctly rounded division), then interleaved into 8
 * pixels of 4 floats. Returns the pixels done; the caller does the rest. */
__attribute__((target("avx2"))) static int u8_row_to_nhwc4(float *row, const uint8_t *in, size_t plane, int W)
{
    const __m256 k255 = _mm256_set1_ps(255.0f);
    int x = 0;
    for (; x + 8 <= W; x += 8, row += 32) {
        __m256 v[4];
        for (int c = 0; c < 4; c++) {
            long long bytes;
            memcpy(&bytes, in + c * plane + x, 8);
            v[c] = _mm256_div_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128(bytes))), k255);
        }
        __m256 t0 = _mm256_unpacklo_ps(v[0], v[1]), t1 = _mm256_unpackhi_ps(v[0], v[1]);
        __m256 t2 = _mm256_unpacklo_ps(v[2], v[3]), t3 = _mm256_unpackhi_ps(v[2], v[3]);
        __m256 p04 = _mm256_shuffle_ps(t0, t2, 0x44), p15 = _mm256_shuffle_ps(t0, t2, 0xEE);
        __m256 p26 = _mm256_shuffle_ps(t1, t3, 0x44), p37 = _mm256_shuffle_ps(t1, t3, 0xEE);
        _mm256_storeu_ps(row, _mm256_permute2f128_ps(p04, p15, 0x20));
        _mm256_storeu_ps(row + 8, _mm256_permute2f128_ps(p26, p37, 0x20));
        _mm256_storeu_ps(row + 16, _mm256_permute2f128_ps(p04, p15, 0x31));
        _mm256_storeu_ps(row + 24, _mm256_permute2f128_ps(p26, p37, 0x31));
    }
    return x;
}
#endif

/* dst (H+2P, W+2P, C) floats from one uint8 NCHW sample, each byte v read as table[v]. */
static void u8_to_padded_nhwc(float *dst, const uint8_t *src, const float *table, const nn_conv_shape *s)
{
    const int C = s->C, H = s->H, W = s->W, P = s->P;
    const size_t WP = (size_t)W + 2 * P, plane = (size_t)H * W;
    memset(dst, 0, sizeof(float) * P * WP * C);
    memset(dst + (P + (size_t)H) * WP * C, 0, sizeof(float) * P * WP * C);
    for (int y = 0; y < H; y++) {
        float *row = dst + (y + (size_t)P) * WP * C;
        memset(row, 0, sizeof(float) * P * C);
        memset(row + (P + (size_t)W) * C, 0, sizeof(float) * P * C);
        row += (size_t)P * C;
        const uint8_t *in = src + (size_t)y * W;
        int x = 0;
#ifdef NN_HAVE_AVX2_S2D
        if (C == 4 && __builtin_cpu_supports("avx2"))
            x = u8_row_to_nhwc4(row, in, plane, W);
#endif
        for (row += (size_t)x * C; x < W; x++, row += C)
            for (int c = 0; c < C; c++)
                row[c] = table[in[c * plane + x]];
    }
}

/* s2d (B, H/S, W/S, C*S*S) from uint8 NCHW, each byte v read as table[v]. */
#ifdef NN_HAVE_AVX2_S2D
/* Stride 4 (MarioNet): two cells of 4 bytes at a time, divided by 255 in 8 lanes (the same
 * correctly rounded division as the table). */
__attribute__((target("avx2"))) static void space_to_depth_u8_s4(float *s2d, const uint8_t *inp,
                                                                 const nn_conv_shape *s)
{
    const int C = s->C, H = s->H, W = s->W, HS = H / 4, WS = W / 4, D = C * 16;
    const __m256 k255 = _mm256_set1_ps(255.0f);
    for (int b = 0; b < s->B; b++)
        for (int c = 0; c < C; c++)
            for (int y = 0; y < H; y++) {
                const uint8_t *src = inp + (((size_t)b * C + c) * H + y) * W;
                float *dst = s2d + ((size_t)b * HS + y / 4) * WS * D + (size_t)(c * 4 + y % 4) * 4;
                int xs = 0;
                for (; xs + 2 <= WS; xs += 2, src += 8, dst += 2 * D) {
                    long long bytes;
                    memcpy(&bytes, src, 8);
                    __m256 v = _mm256_div_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128(bytes))), k255);
                    _mm_storeu_ps(dst, _mm256_castps256_ps128(v));
                    _mm_storeu_ps(dst + D, _mm256_extractf128_ps(v, 1));
                }
                for (; xs < WS; xs++, src += 4, dst += D)
                    for (int dx = 0; dx < 4; dx++)
                        dst[dx] = (float)src[dx] / 255.0f;
            }
}
#endif

/* s2d (t->B, t->H, t->W, C*S*S) as s2d_shape describes it, each byte v read as table[v]. */
static void space_to_depth_u8(float *s2d, const uint8_t *inp, const float *table, const nn_conv_shape *s,
                              const nn_conv_shape *t)
{
    const int C = s->C, H = s->H, W = s->W, S = s->S, HS = t->H, WS = t->W, D = t->C;
#ifdef NN_HAVE_AVX2_S2D
    if (S == 4 && H == 4 * HS && W == 4 * WS && __builtin_cpu_supports("avx2")) {
        nn_conv_shape whole = *s;
        whole.B = t->B;
        space_to_depth_u8_s4(s2d, inp, &whole);
        return;
    }
#endif
    /* Without padding every cell lies inside the image: (OH-1)*S + K <= H. */
    for (int b = 0; b < t->B; b++)
        for (int c = 0; c < C; c++)
            for (int y = 0; y < HS * S; y++) {
                const uint8_t *src = inp + (((size_t)b * C + c) * H + y) * W;
                float *dst = s2d + ((size_t)b * HS + y / S) * WS * D + (size_t)(c * S + y % S) * S;
                for (int xs = 0; xs < WS; xs++, src += S, dst += D)
                    for (int dx = 0; dx < S; dx++)
                        dst[dx] = table[src[dx]];
            }
}

int nn_conv_uses_rows(const nn_conv_shape *s, int u8_input)
{
    if (u8_input && use_u8_nhwc(s))
        return 0;
    if (u8_input && use_s2d(s)) {
        nn_conv_shape t;
        s2d_shape(&t, s);
        return !nn_direct_ok(&t);
    }
    return u8_input || !nn_direct_ok(s);
}

const char *nn_conv_path(const nn_conv_shape *s, int u8_input)
{
    nn_conv_shape t;
    if (u8_input) {
        if (use_u8_nhwc(s))
            return "padded NHWC direct";
        if (!use_s2d(s))
            return "im2row";
        s2d_shape(&t, s);
        return nn_direct_ok(&t) ? "space-to-depth direct" : "space-to-depth im2row";
    }
    if (use_padded_direct(s))
        return "padded direct";
    return nn_direct_ok(s) ? "direct" : "im2row";
}

/* Weight element (c, ky, kx) sits at ((ky/S)*KS + kx/S)*C*S*S + (c*S + ky%S)*S + kx%S in
 * space-to-depth patch order. The loops run over quotients and remainders instead of
 * dividing: the forward repacks on every call. pt is the (OC,C,K,K) index of the run of
 * S elements at patch offset pp, for o, c, qy, dy, qx. */
#define S2D_LOOP(s, BODY)                                                                       \
    do {                                                                                        \
        const int S_ = (s)->S, KS_ = (s)->K / S_, C_ = (s)->C, K_ = (s)->K, D_ = C_ * S_ * S_;  \
        const size_t KKC_ = (size_t)K_ * K_ * C_;                                               \
        for (int o = 0; o < (s)->OC; o++)                                                       \
            for (int c = 0; c < C_; c++)                                                        \
                for (int qy = 0; qy < KS_; qy++)                                                \
                    for (int dy = 0; dy < S_; dy++)                                             \
                        for (int qx = 0; qx < KS_; qx++) {                                      \
                            size_t pt = (((size_t)o * C_ + c) * K_ + qy * S_ + dy) * K_ + qx * S_; \
                            size_t pp = o * KKC_ + ((size_t)qy * KS_ + qx) * D_ + (size_t)(c * S_ + dy) * S_; \
                            for (int dx = 0; dx < S_; dx++)                                     \
                                BODY;                                                           \
                        }                                                                       \
    } while (0)

static void s2d_pack_weights(float *wpat, const float *weight, const nn_conv_shape *s)
{
    S2D_LOOP(s, wpat[pp + dx] = weight[pt + dx]);
}

static void s2d_add_weight_grads(float *dweight, const float *dwpat, const nn_conv_shape *s)
{
    S2D_LOOP(s, dweight[pt + dx] += dwpat[pp + dx]);
}

void nn_conv2d_forward_u8(float *out, float *rows, float *scratch, float *wperm, const uint8_t *inp,
                          const float *weight, const float *bias, const nn_conv_shape *s)
{
    nn_conv2d_forward_u8_act(out, rows, scratch, wperm, inp, weight, bias, s, 0);
}

void nn_conv2d_forward_u8_act(float *out, float *rows, float *scratch, float *wperm, const uint8_t *inp,
                              const float *weight, const float *bias, const nn_conv_shape *s, int relu)
{
    const int M = s->B * s->OH * s->OW, OC = s->OC, KKC = s->K * s->K * s->C;
    float table[256];
    for (int v = 0; v < 256; v++)
        table[v] = (float)v / 255.0f;
    if (use_u8_nhwc(s)) {
        nn_conv_shape t1, s1 = *s;
        u8_nhwc_shape(&t1, s, 1);
        s1.B = 1;
        const size_t in1 = (size_t)s->C * s->H * s->W, cells1 = (size_t)t1.H * t1.W * t1.C;
        const size_t out1 = (size_t)s->OH * s->OW * OC;
        pack_forward_torch(wperm, weight, s);
        for (int b = 0; b < s->B; b++) { /* sample by sample, in cache */
            u8_to_padded_nhwc(scratch + b * cells1, inp + b * in1, table, &s1);
            nn_direct_forward_packed(out + b * out1, scratch + b * cells1, wperm, &t1);
            nn_bias_act(out + b * out1, bias, (size_t)s->OH * s->OW, OC, relu);
        }
        return;
    }
    if (!use_s2d(s)) {
        im2row_u8(rows, inp, table, s);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, OC, KKC, 1.0f, rows, KKC, weight, KKC,
                    0.0f, out, OC);
        nn_bias_act(out, bias, (size_t)M, OC, relu);
        return;
    }
    nn_conv_shape t;
    s2d_shape(&t, s);
    const int KKCt = t.K * t.K * t.C;
    s2d_pack_weights(wperm, weight, s);
    if (nn_direct_ok(&t)) {
        /* Sample by sample: the kernel reads each cell grid while it is still in cache. */
        nn_conv_shape t1 = t, s1 = *s;
        t1.B = s1.B = 1;
        const size_t in1 = (size_t)s->C * s->H * s->W, cells1 = (size_t)t.H * t.W * t.C;
        const size_t out1 = (size_t)s->OH * s->OW * OC;
        float *pack = wperm + (size_t)OC * KKCt;
        nn_direct_pack_forward(pack, wperm, &t1);
        for (int b = 0; b < s->B; b++) {
            space_to_depth_u8(scratch + b * cells1, inp + b * in1, table, &s1, &t1);
            nn_direct_forward_packed(out + b * out1, scratch + b * cells1, pack, &t1);
            nn_bias_act(out + b * out1, bias, (size_t)s->OH * s->OW, OC, relu);
        }
        return;
    }
    space_to_depth_u8(scratch, inp, table, s, &t);
    im2row(rows, scratch, &t);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, OC, KKCt, 1.0f, rows, KKCt, wperm, KKCt, 0.0f,
                out, OC);
    nn_bias_act(out, bias, (size_t)M, OC, relu);
}

void nn_conv2d_backward_u8(float *dweight, float *dbias, float *dwperm, const float *dout,
                           const float *rows, const float *scratch, const nn_conv_shape *s)
{
    const int M = s->B * s->OH * s->OW, OC = s->OC, KKC = s->K * s->K * s->C;
    nn_conv_shape t;
    if (use_u8_nhwc(s)) {
        u8_nhwc_shape(&t, s, s->B);
        nn_direct_dweight_cols(dwperm, dbias, dout, scratch, &t);
        const int C = s->C, KK = s->K * s->K;
        for (int o = 0; o < OC; o++)
            for (int c = 0; c < C; c++)
                for (int k = 0; k < KK; k++)
                    dweight[((size_t)o * C + c) * KK + k] += dwperm[((size_t)k * C + c) * OC + o];
        return;
    }
    s2d_shape(&t, s);
    if (use_s2d(s) && nn_direct_ok(&t)) {
        nn_direct_dweight(dwperm, dbias, dout, scratch, &t);
        s2d_add_weight_grads(dweight, dwperm, s);
        return;
    }
    nn_bias_grad(dbias, dout, (size_t)M, OC);
    if (!use_s2d(s)) {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, KKC, M, 1.0f, dout, OC, rows, KKC,
                    1.0f, dweight, KKC);
        return;
    }
    /* The im2row patches of the space-to-depth input: no zero weights, K*K*C columns. */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, KKC, M, 1.0f, dout, OC, rows, KKC, 0.0f,
                dwperm, KKC);
    s2d_add_weight_grads(dweight, dwperm, s);
}

void nn_conv2d_backward(float *dinp, float *dweight, float *dbias, float *drows, float *wperm,
                        float *dwperm, const float *dout, const float *rows, const float *inp,
                        const float *weight, const nn_conv_shape *s)
{
    nn_conv2d_backward_act(dinp, dweight, dbias, drows, wperm, dwperm, dout, rows, inp, weight, s, 0);
}

void nn_conv2d_backward_act(float *dinp, float *dweight, float *dbias, float *drows, float *wperm,
                            float *dwperm, const float *dout, const float *rows, const float *inp,
                            const float *weight, const nn_conv_shape *s, int relu_in)
{
    const int M = s->B * s->OH * s->OW, OC = s->OC, KKC = s->K * s->K * s->C;
    const size_t ni = (size_t)s->B * s->C * s->H * s->W;
    const int padded = use_padded_direct(s), direct = padded || nn_direct_ok(s);
    nn_conv_shape t;
    padded_shape(&t, s, s->B);
    if (padded)
        nn_direct_dweight(dwperm, dbias, dout, rows, &t);
    else if (direct)
        nn_direct_dweight(dwperm, dbias, dout, inp, s);
    else
        nn_bias_grad(dbias, dout, (size_t)M, OC);
    if (!s->nhwc_in) {
        /* Patch order is the weight order: accumulate straight into dweight. */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, KKC, M, 1.0f, dout, OC, rows, KKC,
                    1.0f, dweight, KKC);
    } else {
        if (!direct)
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
    if (padded) {
        /* Each sample's gradient lands in one padded scratch sample, border included, and
         * its inside is copied out while still in cache. */
        t.B = 1;
        const size_t in1 = (size_t)s->H * s->W * s->C, out1 = (size_t)s->OH * s->OW * OC;
        float *pack = wperm + (size_t)OC * KKC;
        nn_direct_pack_dinp(pack, wperm, &t);
        for (int b = 0; b < s->B; b++) {
            nn_direct_dinp_packed(drows, dout + b * out1, pack, &t);
            crop_sample(dinp + b * in1, drows, relu_in ? inp + b * in1 : NULL, s);
        }
        return;
    }
    if (direct) {
        nn_direct_dinp(dinp, dout, wperm, wperm + (size_t)OC * KKC, s);
    } else {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, KKC, OC, 1.0f, dout, OC, w, KKC, 0.0f,
                    drows, KKC);
        row2im(dinp, drows, s);
    }
    if (relu_in)
        nn_relu_backward(dinp, dinp, inp, ni);
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
