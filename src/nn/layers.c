/* layers.c: the input scaling, linear, ReLU, flatten and dueling layers, each a
 * forward/backward pair, and the BLAS thread setting. */
#include <cblas.h>
#include <string.h>

#include "smbrl/nn.h"
#include "nn/nn_internal.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define NN_HAVE_AVX_PATH 1
#endif

void nn_set_threads(int n) { openblas_set_num_threads(n < 1 ? 1 : n); }

const char *nn_blas_corename(void) { return openblas_get_corename(); }

void nn_input_u8_forward(float *out, const uint8_t *inp, size_t n)
{
    /* Division, not multiplication by 1/255, so values equal PyTorch's x / 255 bit for bit. */
    for (size_t i = 0; i < n; i++)
        out[i] = (float)inp[i] / 255.0f;
}

static void bias_act_scalar(float *out, const float *bias, size_t rows, int n, int relu)
{
    for (size_t r = 0; r < rows; r++, out += n)
        for (int j = 0; j < n; j++) {
            float v = out[j] + bias[j];
            out[j] = relu && !(v > 0.0f) ? 0.0f : v;
        }
}

#ifdef NN_HAVE_AVX_PATH
/* The -O2 build vectorizes no loop of unknown length; this pass touches every activation. */
__attribute__((target("avx"))) static void bias_act_avx(float *out, const float *bias, size_t rows,
                                                        int n, int relu)
{
    const __m256 zero = _mm256_setzero_ps();
    for (size_t r = 0; r < rows; r++, out += n)
        for (int j = 0; j < n; j += 8) {
            __m256 v = _mm256_add_ps(_mm256_loadu_ps(out + j), _mm256_loadu_ps(bias + j));
            if (relu) /* max(v, 0) returns 0 for v = -0 and for NaN, as torch.relu does for -0 */
                v = _mm256_max_ps(v, zero);
            _mm256_storeu_ps(out + j, v);
        }
}
#endif

void nn_bias_act(float *out, const float *bias, size_t rows, int n, int relu)
{
#ifdef NN_HAVE_AVX_PATH
    if (n % 8 == 0 && __builtin_cpu_supports("avx")) {
        bias_act_avx(out, bias, rows, n, relu);
        return;
    }
#endif
    bias_act_scalar(out, bias, rows, n, relu);
}

#ifdef NN_HAVE_AVX_PATH
/* 32 columns (four registers) per pass where n allows, else 8; the direct kernels call this
 * on blocks of dout that are in L1, and a pass per 32 columns costs nothing there. */
__attribute__((target("avx"))) static void bias_grad_avx(float *dbias, const float *dout, size_t rows, int n)
{
    int j = 0;
    for (; n % 32 == 0 && j < n; j += 32) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        const float *d = dout + j;
        for (size_t r = 0; r < rows; r++, d += n) {
            a0 = _mm256_add_ps(a0, _mm256_loadu_ps(d));
            a1 = _mm256_add_ps(a1, _mm256_loadu_ps(d + 8));
            a2 = _mm256_add_ps(a2, _mm256_loadu_ps(d + 16));
            a3 = _mm256_add_ps(a3, _mm256_loadu_ps(d + 24));
        }
        _mm256_storeu_ps(dbias + j, _mm256_add_ps(_mm256_loadu_ps(dbias + j), a0));
        _mm256_storeu_ps(dbias + j + 8, _mm256_add_ps(_mm256_loadu_ps(dbias + j + 8), a1));
        _mm256_storeu_ps(dbias + j + 16, _mm256_add_ps(_mm256_loadu_ps(dbias + j + 16), a2));
        _mm256_storeu_ps(dbias + j + 24, _mm256_add_ps(_mm256_loadu_ps(dbias + j + 24), a3));
    }
    for (; j < n; j += 8) {
        __m256 a = _mm256_setzero_ps();
        const float *d = dout + j;
        for (size_t r = 0; r < rows; r++, d += n)
            a = _mm256_add_ps(a, _mm256_loadu_ps(d));
        _mm256_storeu_ps(dbias + j, _mm256_add_ps(_mm256_loadu_ps(dbias + j), a));
    }
}
#endif

void nn_bias_grad(float *dbias, const float *dout, size_t rows, int n)
{
#ifdef NN_HAVE_AVX_PATH
    if (n % 8 == 0 && __builtin_cpu_supports("avx")) {
        bias_grad_avx(dbias, dout, rows, n);
        return;
    }
#endif
    for (size_t r = 0; r < rows; r++, dout += n)
        for (int j = 0; j < n; j++)
            dbias[j] += dout[j];
}

void nn_linear_forward(float *out, const float *inp, const float *weight, const float *bias, int B,
                       int IN, int OUT)
{
    nn_linear_forward_act(out, inp, weight, bias, B, IN, OUT, 0);
}

#ifdef NN_HAVE_AVX_PATH
static inline float hsum(__m256 v) __attribute__((target("avx")));
static inline float hsum(__m256 v)
{
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_shuffle_ps(x, x, 1));
    return _mm_cvtss_f32(x);
}

/* Inputs are read in k-blocks of this many floats: 8 rows of a block (16 KB) stay in L1
 * while every weight row streams past them; whole rows (fc1: 8 x 12.5 KB) would come from L2. */
#define LIN_KBLOCK 512
/* Weight rows prefetched ahead of the one being read: each row block is 2 KB at a 12.5 KB
 * stride (fc1), a pattern the hardware prefetchers pick up late. */
#define LIN_PREFETCH_ROWS 2

/* out (B,OUT) = inp weight^T for B <= 8 (acting): sgemm would repack the whole weight matrix
 * (fc1: 6 MB) on every call, more work than the product itself, and the product is bound by
 * reading the weights once. Rows past B repeat the last one, so the loop body is fixed; a
 * single row splits k over four chains for FMA latency. */
__attribute__((target("avx2,fma"))) static void linear_small(float *out, size_t ldo, const float *inp,
                                                             const float *weight, int B, int IN, int OUT)
{
    const size_t ahead = (size_t)LIN_PREFETCH_ROWS * IN;
    if (B == 1) {
        const float *x = inp;
        for (int j = 0; j < OUT; j++) {
            const float *w = weight + (size_t)j * IN;
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            int k = 0;
            for (; k + 32 <= IN; k += 32) {
                /* Past the last row this prefetches beyond the matrix: harmless, it never faults. */
                _mm_prefetch((const char *)(w + ahead + k), _MM_HINT_T0);
                _mm_prefetch((const char *)(w + ahead + k + 16), _MM_HINT_T0);
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + k), _mm256_loadu_ps(x + k), a0);
                a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + k + 8), _mm256_loadu_ps(x + k + 8), a1);
                a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + k + 16), _mm256_loadu_ps(x + k + 16), a2);
                a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + k + 24), _mm256_loadu_ps(x + k + 24), a3);
            }
            for (; k < IN; k += 8)
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + k), _mm256_loadu_ps(x + k), a0);
            out[j] = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
        }
        return;
    }
    const float *x[8];
    for (int b = 0; b < 8; b++)
        x[b] = inp + (size_t)(b < B ? b : B - 1) * IN;
    const float *x0 = x[0], *x1 = x[1], *x2 = x[2], *x3 = x[3], *x4 = x[4], *x5 = x[5], *x6 = x[6], *x7 = x[7];
    for (int k0 = 0; k0 < IN; k0 += LIN_KBLOCK) {
        const int k1 = IN - k0 < LIN_KBLOCK ? IN : k0 + LIN_KBLOCK;
        for (int j = 0; j < OUT; j++) {
            const float *w = weight + (size_t)j * IN;
            /* Named accumulators: -O2 does not unroll a loop over an array of them into registers. */
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
            for (int k = k0; k < k1; k += 8) {
                if (!(k & 15)) /* one prefetch per 64-byte line */
                    _mm_prefetch((const char *)(w + ahead + k), _MM_HINT_T0);
                __m256 wv = _mm256_loadu_ps(w + k);
                a0 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x0 + k), a0);
                a1 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x1 + k), a1);
                a2 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x2 + k), a2);
                a3 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x3 + k), a3);
                a4 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x4 + k), a4);
                a5 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x5 + k), a5);
                a6 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x6 + k), a6);
                a7 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x7 + k), a7);
            }
            const __m256 acc[8] = {a0, a1, a2, a3, a4, a5, a6, a7};
            for (int b = 0; b < B; b++) {
                float v = hsum(acc[b]);
                out[(size_t)b * ldo + j] = k0 ? out[(size_t)b * ldo + j] + v : v;
            }
        }
    }
}
#endif

void nn_linear_forward_act(float *out, const float *inp, const float *weight, const float *bias, int B,
                           int IN, int OUT, int relu)
{
#ifdef NN_HAVE_AVX_PATH
    if (B <= 8 && IN % 8 == 0 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        linear_small(out, (size_t)OUT, inp, weight, B, IN, OUT);
        nn_bias_act(out, bias, (size_t)B, OUT, relu);
        return;
    }
#endif
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, OUT, IN, 1.0f, inp, IN, weight, IN, 0.0f,
                out, OUT);
    nn_bias_act(out, bias, (size_t)B, OUT, relu);
}

void nn_linear_forward_cols(float *out, size_t ldo, const float *inp, const float *weight, const float *bias,
                            int B, int IN, int OUT, int relu)
{
#ifdef NN_HAVE_AVX_PATH
    if (B <= 8 && IN % 8 == 0 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        linear_small(out, ldo, inp, weight, B, IN, OUT);
    else
#endif
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, OUT, IN, 1.0f, inp, IN, weight, IN, 0.0f,
                    out, (int)ldo);
    for (int b = 0; b < B; b++)
        for (int j = 0; j < OUT; j++) {
            float v = out[(size_t)b * ldo + j] + bias[j];
            out[(size_t)b * ldo + j] = relu && !(v > 0.0f) ? 0.0f : v;
        }
}

void nn_linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                        const float *inp, const float *weight, int B, int IN, int OUT)
{
    for (int b = 0; b < B; b++)
        for (int o = 0; o < OUT; o++)
            dbias[o] += dout[(size_t)b * OUT + o];
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OUT, IN, B, 1.0f, dout, OUT, inp, IN, 1.0f,
                dweight, IN);
    if (dinp)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, IN, OUT, 1.0f, dout, OUT, weight, IN,
                    0.0f, dinp, IN);
}

void nn_relu_forward(float *out, const float *inp, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = inp[i] > 0.0f ? inp[i] : 0.0f;
}

#ifdef NN_HAVE_AVX_PATH
__attribute__((target("avx"))) static size_t relu_backward_avx(float *dinp, const float *dout,
                                                               const float *out, size_t n)
{
    const __m256 zero = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 mask = _mm256_cmp_ps(_mm256_loadu_ps(out + i), zero, _CMP_GT_OQ);
        _mm256_storeu_ps(dinp + i, _mm256_and_ps(mask, _mm256_loadu_ps(dout + i)));
    }
    return i;
}
#endif

void nn_relu_backward(float *dinp, const float *dout, const float *out, size_t n)
{
    size_t i = 0;
#ifdef NN_HAVE_AVX_PATH
    if (__builtin_cpu_supports("avx"))
        i = relu_backward_avx(dinp, dout, out, n);
#endif
    for (; i < n; i++)
        dinp[i] = out[i] > 0.0f ? dout[i] : 0.0f;
}

void nn_flatten_nhwc_forward(float *out, const float *inp, int B, int C, int H, int W)
{
    const size_t hw = (size_t)H * W;
    for (int b = 0; b < B; b++) {
        const float *src = inp + (size_t)b * hw * C;
        float *dst = out + (size_t)b * hw * C;
        for (size_t p = 0; p < hw; p++)
            for (int c = 0; c < C; c++)
                dst[(size_t)c * hw + p] = src[p * C + c];
    }
}

void nn_flatten_nhwc_backward(float *dinp, const float *dout, int B, int C, int H, int W)
{
    const size_t hw = (size_t)H * W;
    for (int b = 0; b < B; b++) {
        const float *src = dout + (size_t)b * hw * C;
        float *dst = dinp + (size_t)b * hw * C;
        for (size_t p = 0; p < hw; p++)
            for (int c = 0; c < C; c++)
                dst[p * C + c] = src[(size_t)c * hw + p];
    }
}

void nn_dueling_forward(float *q, const float *va, int B, int A)
{
    for (int b = 0; b < B; b++) {
        const float *adv = va + (size_t)b * (A + 1);
        float mean = 0.0f;
        for (int j = 0; j < A; j++)
            mean += adv[j];
        mean /= (float)A;
        for (int j = 0; j < A; j++)
            q[(size_t)b * A + j] = adv[A] + (adv[j] - mean);
    }
}

void nn_dueling_backward(float *dva, const float *dq, int B, int A)
{
    for (int b = 0; b < B; b++) {
        const float *g = dq + (size_t)b * A;
        float *d = dva + (size_t)b * (A + 1);
        float sum = 0.0f;
        for (int j = 0; j < A; j++)
            sum += g[j];
        for (int j = 0; j < A; j++)
            d[j] = g[j] - sum / (float)A;
        d[A] = sum;
    }
}
