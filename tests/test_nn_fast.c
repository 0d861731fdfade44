/* test_nn_fast.c: the fast kernels against double-precision references on odd shapes.
 * Convolutions (padded direct kernels, space-to-depth with padding and zero-padded kernels):
 * padding on all sides, strides 1 to 4, sizes that leave partial pixel tiles, and scratch
 * buffers filled with NaN first, so that a border the fast path forgets to write shows.
 * The small-batch linear layer (acting): every batch size up to 8, input sizes below, at
 * and across its 512-float blocks, and an output of a few features into wider rows. */
#include <math.h>

#include "nn/nn_internal.h"
#include "smbrl/nn.h"
#include "testlib.h"

static void fill(rng *r, float *x, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * rng_uniform_f(r);
}

/* Max error relative to want's largest magnitude (NaN counts as infinite); prints it. */
static int compare(const char *what, const float *got, const float *want, size_t n, double tol)
{
    double maxref = 0, maxerr = 0;
    for (size_t i = 0; i < n; i++)
        maxref = fmax(maxref, fabs(want[i]));
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]);
        maxerr = isnan(e) ? INFINITY : fmax(maxerr, e);
    }
    double rel = maxref > 0 ? maxerr / maxref : maxerr;
    printf("  %-16s n=%-7zu max rel err %.3g%s\n", what, n, rel, rel <= tol ? "" : "  <-- FAIL");
    return rel <= tol;
}

static float *nans(size_t n)
{
    float *p = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++)
        p[i] = NAN;
    return p;
}

static int fast_cpu(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

/* The path a shape takes must be the one expected on this CPU: a shape that silently falls
 * back to im2row would pass the comparisons below without testing the fast kernels. */
static void check_path(const nn_conv_shape *s, int u8, const char *want)
{
    const char *got = nn_conv_path(s, u8);
    printf("  path: %s\n", got);
    if (fast_cpu() && strcmp(got, want)) {
        fprintf(stderr, "  expected path %s\n", want);
        CHECK(0);
    }
}

/* Float NHWC input: forward with and without the ReLU epilogue, then the backward. */
static void test_float(rng *r, int B, int C, int H, int W, int OC, int K, int S, int P, const char *path)
{
    nn_conv_shape s;
    nn_conv_shape_init(&s, B, C, H, W, OC, K, S, P, 1);
    printf("NHWC conv B%d C%d %dx%d OC%d K%d S%d P%d -> %dx%d\n", B, C, H, W, OC, K, S, P, s.OH, s.OW);
    check_path(&s, 0, path);
    size_t ni = (size_t)B * C * H * W, nw = (size_t)OC * C * K * K, no = (size_t)B * s.OH * s.OW * OC;
    size_t nr = nn_conv_rows_floats(&s), np = nn_conv_wperm_floats(&s);
    float *inp = malloc(sizeof(float) * ni), *w = malloc(sizeof(float) * nw), *b = malloc(sizeof(float) * OC);
    float *dout = malloc(sizeof(float) * no), *out = nans(no), *ref = malloc(sizeof(float) * no);
    float *rows = nans(nr), *drows = nans(nr), *wperm = nans(np), *dwperm = nans(np);
    float *di = nans(ni), *di_r = malloc(sizeof(float) * ni);
    float *dw = malloc(sizeof(float) * nw), *dw_r = malloc(sizeof(float) * nw);
    float *db = malloc(sizeof(float) * OC), *db_r = malloc(sizeof(float) * OC);
    fill(r, inp, ni, -1, 1), fill(r, w, nw, -0.5f, 0.5f), fill(r, b, OC, -0.5f, 0.5f);
    fill(r, dout, no, -1, 1);

    nn_conv2d_forward_ref(ref, inp, w, b, &s);
    nn_conv2d_forward(out, rows, wperm, inp, w, b, &s);
    CHECK(compare("forward", out, ref, no, 1e-5));
    for (size_t i = 0; i < no; i++)
        ref[i] = ref[i] > 0 ? ref[i] : 0.0f;
    nn_conv2d_forward_act(out, rows, wperm, inp, w, b, &s, 1);
    CHECK(compare("forward + relu", out, ref, no, 1e-5));

    /* Gradients accumulate into the weights: start both from the same non-zero values. */
    fill(r, dw, nw, -1, 1), fill(r, db, OC, -1, 1);
    memcpy(dw_r, dw, sizeof(float) * nw), memcpy(db_r, db, sizeof(float) * OC);
    nn_conv2d_backward(di, dw, db, drows, wperm, dwperm, dout, rows, inp, w, &s);
    nn_conv2d_backward_ref(di_r, dw_r, db_r, dout, inp, w, &s);
    CHECK(compare("dinp", di, di_r, ni, 1e-5));
    CHECK(compare("dweight", dw, dw_r, nw, 1e-5));
    CHECK(compare("dbias", db, db_r, OC, 1e-5));

    /* Input from a ReLU: its backward (zero where the input is not positive) comes fused. */
    for (size_t i = 0; i < ni; i++) {
        if (i % 3 == 0)
            inp[i] = 0.0f; /* ReLU outputs are often exactly 0 */
        di[i] = NAN;
    }
    nn_conv2d_forward(out, rows, wperm, inp, w, b, &s);
    nn_conv2d_backward_act(di, dw, db, drows, wperm, dwperm, dout, rows, inp, w, &s, 1);
    nn_conv2d_backward_ref(di_r, dw_r, db_r, dout, inp, w, &s);
    for (size_t i = 0; i < ni; i++)
        di_r[i] = inp[i] > 0 ? di_r[i] : 0.0f;
    CHECK(compare("dinp after relu", di, di_r, ni, 1e-5));
    CHECK(compare("dweight again", dw, dw_r, nw, 1e-5));

    free(inp), free(w), free(b), free(dout), free(out), free(ref), free(rows), free(drows);
    free(wperm), free(dwperm), free(di), free(di_r), free(dw), free(dw_r), free(db), free(db_r);
}

/* uint8 NCHW input (a first layer): forward, weight and bias gradients. */
static void test_u8(rng *r, int B, int C, int H, int W, int OC, int K, int S, int P, const char *path)
{
    nn_conv_shape s;
    nn_conv_shape_init(&s, B, C, H, W, OC, K, S, P, 0);
    printf("uint8 conv B%d C%d %dx%d OC%d K%d S%d P%d -> %dx%d\n", B, C, H, W, OC, K, S, P, s.OH, s.OW);
    check_path(&s, 1, path);
    size_t ni = (size_t)B * C * H * W, nw = (size_t)OC * C * K * K, no = (size_t)B * s.OH * s.OW * OC;
    size_t np = nn_conv_wperm_floats(&s);
    uint8_t *u8 = malloc(ni);
    float *inp = malloc(sizeof(float) * ni), *w = malloc(sizeof(float) * nw), *b = malloc(sizeof(float) * OC);
    float *dout = malloc(sizeof(float) * no), *out = nans(no), *ref = malloc(sizeof(float) * no);
    float *rows = nans(nn_conv_rows_floats(&s)), *scratch = nans(nn_conv_u8_scratch_floats(&s));
    float *wperm = nans(np), *dwperm = nans(np);
    float *dw = malloc(sizeof(float) * nw), *dw_r = malloc(sizeof(float) * nw);
    float *db = malloc(sizeof(float) * OC), *db_r = malloc(sizeof(float) * OC);
    for (size_t i = 0; i < ni; i++) {
        u8[i] = (uint8_t)rng_below(r, 256);
        inp[i] = (float)u8[i] / 255.0f;
    }
    fill(r, w, nw, -0.5f, 0.5f), fill(r, b, OC, -0.5f, 0.5f), fill(r, dout, no, -1, 1);

    nn_conv2d_forward_ref(ref, inp, w, b, &s);
    nn_conv2d_forward_u8(out, rows, scratch, wperm, u8, w, b, &s);
    CHECK(compare("forward", out, ref, no, 1e-5));
    for (size_t i = 0; i < no; i++)
        ref[i] = ref[i] > 0 ? ref[i] : 0.0f;
    nn_conv2d_forward_u8_act(out, rows, scratch, wperm, u8, w, b, &s, 1);
    CHECK(compare("forward + relu", out, ref, no, 1e-5));

    fill(r, dw, nw, -1, 1), fill(r, db, OC, -1, 1);
    memcpy(dw_r, dw, sizeof(float) * nw), memcpy(db_r, db, sizeof(float) * OC);
    nn_conv2d_backward_u8(dw, db, dwperm, dout, rows, scratch, &s);
    nn_conv2d_backward_ref(NULL, dw_r, db_r, dout, inp, w, &s);
    CHECK(compare("dweight", dw, dw_r, nw, 1e-5));
    CHECK(compare("dbias", db, db_r, OC, 1e-5));

    free(u8), free(inp), free(w), free(b), free(dout), free(out), free(ref), free(rows), free(scratch);
    free(wperm), free(dwperm), free(dw), free(dw_r), free(db), free(db_r);
}

/* out (B, ldo) columns [0, OUT) through nn_linear_forward_cols, and (B, OUT) through the
 * public forward with its ReLU epilogue, against a double loop. */
static void test_linear(rng *r, int B, int IN, int OUT)
{
    const size_t ldo = (size_t)OUT + 3;
    float *x = malloc(sizeof(float) * (size_t)B * IN), *w = malloc(sizeof(float) * (size_t)OUT * IN);
    float *b = malloc(sizeof(float) * OUT), *out = nans((size_t)B * ldo);
    float *ref = malloc(sizeof(float) * (size_t)B * ldo), *got = nans((size_t)B * OUT);
    fill(r, x, (size_t)B * IN, -1, 1), fill(r, w, (size_t)OUT * IN, -0.1f, 0.1f), fill(r, b, OUT, -0.5f, 0.5f);
    for (int i = 0; i < B; i++)
        for (int j = 0; j < OUT; j++) {
            double acc = b[j];
            for (int k = 0; k < IN; k++)
                acc += (double)x[(size_t)i * IN + k] * w[(size_t)j * IN + k];
            ref[(size_t)i * ldo + j] = (float)acc;
        }
    char what[64];
    printf("linear B%d IN%d OUT%d\n", B, IN, OUT);
    nn_linear_forward_cols(out, ldo, x, w, b, B, IN, OUT, 0);
    int ok = 1;
    for (int i = 0; i < B; i++) {
        snprintf(what, sizeof what, "cols, row %d", i);
        ok &= compare(what, out + (size_t)i * ldo, ref + (size_t)i * ldo, (size_t)OUT, 1e-5);
        ok &= isnan(out[(size_t)i * ldo + OUT]); /* the row's padding is left alone */
    }
    CHECK(ok);
    for (int i = 0; i < B; i++)
        for (int j = 0; j < OUT; j++) {
            float v = ref[(size_t)i * ldo + j];
            ref[(size_t)i * OUT + j] = v > 0 ? v : 0.0f; /* rows move down in place: i*OUT <= i*ldo */
        }
    nn_linear_forward_act(got, x, w, b, B, IN, OUT, 1);
    CHECK(compare("forward + relu", got, ref, (size_t)B * OUT, 1e-5));
    free(x), free(w), free(b), free(out), free(ref), free(got);
}

int main(void)
{
    rng r;
    rng_seed(&r, 7);
    /* Padded NHWC: odd sides, output pixel counts that are not multiples of the 6-pixel tile,
     * strides 1 to 3, padding 1 and 2, a 1x1 kernel whose border outputs see only padding. */
    test_float(&r, 2, 16, 9, 11, 16, 3, 2, 1, "padded direct");
    test_float(&r, 3, 32, 7, 5, 32, 3, 1, 1, "padded direct");
    test_float(&r, 1, 16, 10, 9, 48, 5, 2, 2, "padded direct");
    test_float(&r, 2, 32, 11, 11, 32, 3, 2, 1, "padded direct"); /* the PPO trunk's last layers */
    test_float(&r, 2, 16, 6, 13, 16, 1, 1, 1, "padded direct");
    test_float(&r, 1, 32, 8, 8, 16, 4, 3, 2, "padded direct");
    test_float(&r, 2, 48, 5, 7, 32, 2, 2, 1, "padded direct");
    /* Shapes the kernels cannot take keep the im2row path; unpadded ones the plain kernels. */
    test_float(&r, 2, 3, 9, 8, 16, 3, 2, 1, "im2row");
    test_float(&r, 2, 16, 9, 7, 24, 3, 2, 1, "im2row");
    test_float(&r, 2, 32, 9, 7, 32, 3, 2, 0, "direct");

    /* uint8 first layers. Float NHWC copies with their border: the PPO trunk's 3x3/2 pad 1
     * (runs of 12 floats, patches of 36: six 6-column tiles), odd sides, padding 2 with
     * stride 4 (25 columns: a last column on its own), stride 1, stride 3, 7x7/2.
     * Space-to-depth: kernels that are multiples of the stride without padding (sides that
     * are not, and MarioNet's own shape). im2row when no kernel fits. */
    test_u8(&r, 2, 4, 84, 84, 32, 3, 2, 1, "padded NHWC direct");
    test_u8(&r, 3, 4, 17, 15, 16, 3, 2, 1, "padded NHWC direct");
    test_u8(&r, 2, 1, 13, 11, 16, 5, 4, 2, "padded NHWC direct");
    test_u8(&r, 2, 4, 12, 12, 16, 2, 2, 1, "padded NHWC direct");
    test_u8(&r, 2, 3, 10, 9, 16, 3, 1, 1, "padded NHWC direct");
    test_u8(&r, 1, 2, 9, 10, 32, 3, 3, 1, "padded NHWC direct");
    test_u8(&r, 2, 4, 20, 23, 32, 8, 4, 0, "space-to-depth direct");
    test_u8(&r, 2, 4, 84, 84, 32, 8, 4, 0, "space-to-depth direct");
    test_u8(&r, 2, 4, 23, 21, 16, 7, 2, 1, "padded NHWC direct");
    test_u8(&r, 2, 4, 19, 17, 48, 3, 2, 0, "padded NHWC direct");
    test_u8(&r, 1, 2, 9, 10, 5, 3, 3, 1, "im2row");

    const int ins[] = {8, 200, 512, 520, 1032, 3136};
    for (int B = 1; B <= 8; B++)
        for (size_t i = 0; i < sizeof ins / sizeof ins[0]; i++)
            test_linear(&r, B, ins[i], B % 2 ? 7 : 33);
    return testlib_finish("test_nn_fast");
}
