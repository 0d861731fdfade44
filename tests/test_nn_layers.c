/* test_nn_layers.c: each layer's backward against central finite differences, the fast conv
 * against its direct-loop reference, whole models along random directions, PyTorch's init
 * bounds, the parameter table, and the optimizers against PyTorch (tests/golden/optim.smbg). */
#include <math.h>

#include "golden/smbg.h"
#include "nn/nn_internal.h"
#include "smbrl/nn.h"
#include "testlib.h"

static void fill(rng *r, float *x, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * rng_uniform_f(r);
}

/* A layer as a function of one of its input buffers: writes the scalar sum(out * R). */
typedef double (*objective)(void *ctx);

static double dot(const float *a, const float *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

/* Compares analytic d(objective)/d(x[i]) with central differences at up to `samples` positions;
 * returns the max error relative to the largest analytic gradient. */
static double fd_check(objective f, void *ctx, float *x, const float *grad, size_t n, float h,
                       int samples, rng *r)
{
    double maxg = 0, maxerr = 0;
    for (size_t i = 0; i < n; i++)
        maxg = fmax(maxg, fabs(grad[i]));
    for (int k = 0; k < samples; k++) {
        size_t i = (size_t)samples >= n ? (size_t)k % n : rng_below(r, (uint32_t)n);
        float keep = x[i];
        x[i] = keep + h;
        double up = f(ctx);
        x[i] = keep - h;
        double down = f(ctx);
        x[i] = keep;
        double num = (up - down) / (2.0 * h);
        maxerr = fmax(maxerr, fabs(num - grad[i]));
    }
    return maxg > 0 ? maxerr / maxg : maxerr;
}

#define FD_TOL 2e-3

/* ---- conv ----------------------------------------------------------------------------- */

typedef struct conv_ctx {
    nn_conv_shape s;
    float *inp, *w, *b, *out, *R, *rows, *wperm;
    int use_ref;
} conv_ctx;

static double conv_obj(void *p)
{
    conv_ctx *c = p;
    if (c->use_ref)
        nn_conv2d_forward_ref(c->out, c->inp, c->w, c->b, &c->s);
    else
        nn_conv2d_forward(c->out, c->rows, c->wperm, c->inp, c->w, c->b, &c->s);
    return dot(c->out, c->R, (size_t)c->s.B * c->s.OH * c->s.OW * c->s.OC);
}

static void test_conv(rng *r, int B, int C, int H, int W, int OC, int K, int S, int P, int nhwc)
{
    conv_ctx c;
    nn_conv_shape_init(&c.s, B, C, H, W, OC, K, S, P, nhwc);
    size_t ni = (size_t)B * C * H * W, nw = (size_t)OC * C * K * K, no = (size_t)B * c.s.OH * c.s.OW * OC;
    size_t nr = nn_conv_rows_floats(&c.s), np = nn_conv_wperm_floats(&c.s);
    c.inp = malloc(sizeof(float) * ni), c.w = malloc(sizeof(float) * nw), c.b = malloc(sizeof(float) * OC);
    c.out = malloc(sizeof(float) * no), c.R = malloc(sizeof(float) * no);
    c.rows = malloc(sizeof(float) * nr), c.wperm = malloc(sizeof(float) * np);
    float *out_ref = malloc(sizeof(float) * no), *drows = malloc(sizeof(float) * nr);
    float *dwperm = malloc(sizeof(float) * np);
    float *di = malloc(sizeof(float) * ni), *dw = calloc(nw, sizeof(float)), *db = calloc(OC, sizeof(float));
    float *di_r = malloc(sizeof(float) * ni), *dw_r = calloc(nw, sizeof(float)), *db_r = calloc(OC, sizeof(float));
    fill(r, c.inp, ni, -1, 1), fill(r, c.w, nw, -0.5f, 0.5f), fill(r, c.b, OC, -0.5f, 0.5f);
    fill(r, c.R, no, -1, 1);

    char what[96];
    snprintf(what, sizeof what, "conv B%d C%d %dx%d OC%d K%d S%d P%d %s (%s)", B, C, H, W, OC, K, S, P,
             nhwc ? "NHWC" : "NCHW", nn_direct_ok(&c.s) ? "direct kernels" : "im2row + sgemm");
    printf("%s\n", what);
    c.use_ref = 1;
    conv_obj(&c);
    memcpy(out_ref, c.out, sizeof(float) * no);
    c.use_ref = 0;
    conv_obj(&c);
    CHECK(smbg_compare("fast vs reference forward", c.out, out_ref, no, 1e-5));

    /* Backward accumulates: start the weight gradients from a known non-zero value. */
    for (size_t i = 0; i < nw; i++)
        dw[i] = dw_r[i] = 1.0f;
    for (int o = 0; o < OC; o++)
        db[o] = db_r[o] = 1.0f;
    nn_conv2d_backward(di, dw, db, drows, c.wperm, dwperm, c.R, c.rows, c.inp, c.w, &c.s);
    nn_conv2d_backward_ref(di_r, dw_r, db_r, c.R, c.inp, c.w, &c.s);
    CHECK(smbg_compare("fast vs reference dinp", di, di_r, ni, 1e-5));
    CHECK(smbg_compare("fast vs reference dweight", dw, dw_r, nw, 1e-5));
    CHECK(smbg_compare("fast vs reference dbias", db, db_r, OC, 1e-5));
    for (size_t i = 0; i < nw; i++)
        dw[i] -= 1.0f;
    for (int o = 0; o < OC; o++)
        db[o] -= 1.0f;

    double e;
    e = fd_check(conv_obj, &c, c.inp, di, ni, 1e-2f, 200, r);
    printf("  finite differences: dinp %.2g", e);
    CHECK(e < FD_TOL);
    e = fd_check(conv_obj, &c, c.w, dw, nw, 1e-2f, 200, r);
    printf(", dweight %.2g", e);
    CHECK(e < FD_TOL);
    e = fd_check(conv_obj, &c, c.b, db, OC, 1e-2f, 200, r);
    printf(", dbias %.2g\n", e);
    CHECK(e < FD_TOL);

    /* dinp = NULL (first layer) must leave the weight gradients the same. */
    float *dw2 = calloc(nw, sizeof(float)), *db2 = calloc(OC, sizeof(float));
    nn_conv2d_forward(c.out, c.rows, c.wperm, c.inp, c.w, c.b, &c.s);
    nn_conv2d_backward(NULL, dw2, db2, NULL, c.wperm, dwperm, c.R, c.rows, c.inp, c.w, &c.s);
    CHECK(smbg_compare("dweight without dinp", dw2, dw, nw, 1e-6));
    free(dw2), free(db2);

    free(c.inp), free(c.w), free(c.b), free(c.out), free(c.R), free(c.rows), free(c.wperm);
    free(out_ref), free(drows), free(dwperm), free(di), free(dw), free(db), free(di_r), free(dw_r), free(db_r);
}

/* The first-layer path (uint8 input, space-to-depth when it applies) against the reference. */
static void test_conv_u8(rng *r, int B, int C, int H, int W, int OC, int K, int S, int P)
{
    nn_conv_shape s;
    nn_conv_shape_init(&s, B, C, H, W, OC, K, S, P, 0);
    size_t ni = (size_t)B * C * H * W, nw = (size_t)OC * C * K * K, no = (size_t)B * s.OH * s.OW * OC;
    uint8_t *u8 = malloc(ni);
    float *inp = malloc(sizeof(float) * ni), *w = malloc(sizeof(float) * nw), *b = malloc(sizeof(float) * OC);
    float *out = malloc(sizeof(float) * no), *ref = malloc(sizeof(float) * no), *R = malloc(sizeof(float) * no);
    float *rows = malloc(sizeof(float) * nn_conv_rows_floats(&s));
    float *scratch = malloc(sizeof(float) * (nn_conv_u8_scratch_floats(&s) + 1));
    float *wp = malloc(sizeof(float) * nn_conv_wperm_floats(&s)), *dwp = malloc(sizeof(float) * nn_conv_wperm_floats(&s));
    float *dw = calloc(nw, sizeof(float)), *db = calloc(OC, sizeof(float));
    float *dw_r = calloc(nw, sizeof(float)), *db_r = calloc(OC, sizeof(float));
    for (size_t i = 0; i < ni; i++) {
        u8[i] = (uint8_t)rng_below(r, 256);
        inp[i] = (float)u8[i] / 255.0f;
    }
    fill(r, w, nw, -0.5f, 0.5f), fill(r, b, OC, -0.5f, 0.5f), fill(r, R, no, -1, 1);
    printf("uint8 conv B%d C%d %dx%d OC%d K%d S%d P%d (%s)\n", B, C, H, W, OC, K, S, P,
           nn_conv_u8_scratch_floats(&s) ? "space-to-depth" : "direct patches");
    nn_conv2d_forward_u8(out, rows, scratch, wp, u8, w, b, &s);
    nn_conv2d_forward_ref(ref, inp, w, b, &s);
    CHECK(smbg_compare("forward vs reference", out, ref, no, 1e-5));
    nn_conv2d_backward_u8(dw, db, dwp, R, rows, scratch, &s);
    nn_conv2d_backward_ref(NULL, dw_r, db_r, R, inp, w, &s);
    CHECK(smbg_compare("dweight vs reference", dw, dw_r, nw, 1e-5));
    CHECK(smbg_compare("dbias vs reference", db, db_r, OC, 1e-5));
    free(u8), free(inp), free(w), free(b), free(out), free(ref), free(R), free(rows), free(scratch);
    free(wp), free(dwp), free(dw), free(db), free(dw_r), free(db_r);
}

/* ---- linear, relu, flatten, dueling, losses -------------------------------------------- */

typedef struct simple_ctx {
    int kind; /* 0 linear, 1 relu, 2 flatten, 3 dueling, 4 huber, 5 mse */
    int B, IN, OUT, C, H, W;
    float *inp, *w, *b, *out, *R, *target;
} simple_ctx;

static double simple_obj(void *p)
{
    simple_ctx *c = p;
    switch (c->kind) {
    case 0:
        nn_linear_forward(c->out, c->inp, c->w, c->b, c->B, c->IN, c->OUT);
        return dot(c->out, c->R, (size_t)c->B * c->OUT);
    case 1:
        nn_relu_forward(c->out, c->inp, (size_t)c->B * c->IN);
        return dot(c->out, c->R, (size_t)c->B * c->IN);
    case 2:
        nn_flatten_nhwc_forward(c->out, c->inp, c->B, c->C, c->H, c->W);
        return dot(c->out, c->R, (size_t)c->B * c->C * c->H * c->W);
    case 3:
        nn_dueling_forward(c->out, c->inp, c->B, c->OUT);
        return dot(c->out, c->R, (size_t)c->B * c->OUT);
    case 4:
        return nn_huber_loss(NULL, c->inp, c->target, c->B, 1.0f);
    default:
        return nn_mse_loss(NULL, c->inp, c->target, c->B);
    }
}

static void test_simple_layers(rng *r)
{
    enum { B = 3, IN = 7, OUT = 5, C = 3, H = 2, W = 4 };
    simple_ctx c = {0, B, IN, OUT, C, H, W, NULL, NULL, NULL, NULL, NULL, NULL};
    float inp[B * 32], w[OUT * IN], b[OUT], out[B * 32], R[B * 32], target[B * 32];
    float di[B * 32], dw[OUT * IN], db[OUT];
    c.inp = inp, c.w = w, c.b = b, c.out = out, c.R = R, c.target = target;
    fill(r, inp, B * 32, -1, 1), fill(r, w, OUT * IN, -1, 1), fill(r, b, OUT, -1, 1), fill(r, R, B * 32, -1, 1);

    /* Linear: accumulating weight gradients, overwritten input gradient. */
    for (int i = 0; i < OUT * IN; i++)
        dw[i] = 0.0f;
    for (int i = 0; i < OUT; i++)
        db[i] = 0.0f;
    nn_linear_backward(di, dw, db, R, inp, w, B, IN, OUT);
    double e1 = fd_check(simple_obj, &c, inp, di, B * IN, 1e-2f, B * IN, r);
    double e2 = fd_check(simple_obj, &c, w, dw, OUT * IN, 1e-2f, OUT * IN, r);
    double e3 = fd_check(simple_obj, &c, b, db, OUT, 1e-2f, OUT, r);
    printf("linear: finite differences dinp %.2g dweight %.2g dbias %.2g\n", e1, e2, e3);
    CHECK(e1 < FD_TOL && e2 < FD_TOL && e3 < FD_TOL);
    float dw_once = dw[3];
    nn_linear_backward(NULL, dw, db, R, inp, w, B, IN, OUT);
    CHECK(fabsf(dw[3] - 2.0f * dw_once) <= 1e-5f * fabsf(dw_once) + 1e-7f);

    /* ReLU: inputs kept away from the kink, where the derivative is not defined. */
    c.kind = 1;
    for (int i = 0; i < B * IN; i++)
        if (fabsf(inp[i]) < 0.05f)
            inp[i] = 0.3f;
    nn_relu_forward(out, inp, B * IN);
    nn_relu_backward(di, R, out, B * IN);
    double e = fd_check(simple_obj, &c, inp, di, B * IN, 1e-3f, B * IN, r);
    printf("relu: %.2g\n", e);
    CHECK(e < FD_TOL);

    c.kind = 2;
    nn_flatten_nhwc_backward(di, R, B, C, H, W);
    e = fd_check(simple_obj, &c, inp, di, B * C * H * W, 1e-2f, B * C * H * W, r);
    printf("flatten: %.2g\n", e);
    CHECK(e < FD_TOL);
    /* The flattened order is PyTorch's (c, y, x): element (b=1, y=1, x=2, c=2). */
    nn_flatten_nhwc_forward(out, inp, B, C, H, W);
    CHECK(out[1 * C * H * W + 2 * H * W + 1 * W + 2] == inp[1 * H * W * C + (1 * W + 2) * C + 2]);

    c.kind = 3;
    nn_dueling_backward(di, R, B, OUT);
    e = fd_check(simple_obj, &c, inp, di, B * (OUT + 1), 1e-2f, B * (OUT + 1), r);
    printf("dueling: %.2g\n", e);
    CHECK(e < FD_TOL);
    nn_dueling_forward(out, inp, B, OUT);
    float mean = 0;
    for (int j = 0; j < OUT; j++)
        mean += inp[j];
    CHECK(fabsf(out[2] - (inp[OUT] + inp[2] - mean / OUT)) < 1e-6f);

    /* Huber: differences on both sides of beta, none at it. */
    c.kind = 4;
    static const float diffs[B] = {0.4f, -2.5f, 1.7f};
    for (int i = 0; i < B; i++)
        target[i] = inp[i] - diffs[i];
    float l = nn_huber_loss(di, inp, target, B, 1.0f);
    CHECK(fabs(l - (0.5 * 0.4 * 0.4 + (2.5 - 0.5) + (1.7 - 0.5)) / 3.0) < 1e-5);
    e = fd_check(simple_obj, &c, inp, di, B, 1e-2f, B, r);
    printf("huber: %.2g\n", e);
    CHECK(e < FD_TOL);
    c.kind = 5;
    l = nn_mse_loss(di, inp, target, B);
    CHECK(fabs(l - (0.16 + 6.25 + 2.89) / 3.0) < 1e-5);
    e = fd_check(simple_obj, &c, inp, di, B, 1e-2f, B, r);
    printf("mse: %.2g\n", e);
    CHECK(e < FD_TOL);
}

/* ---- whole models ---------------------------------------------------------------------- */

typedef struct model_ctx {
    nn_model *m;
    nn_work *w;
    const uint8_t *obs;
    const float *R;
    int B;
} model_ctx;

static double model_obj(model_ctx *c)
{
    const float *y = nn_forward(c->m, c->w, c->obs, c->B);
    return dot(y, c->R, (size_t)c->B * c->m->out_dim);
}

/* Per parameter tensor, the directional derivative along the tensor's own gradient g (scaled
 * to unit RMS per element): (L(p + h d) - L(p - h d)) / 2h against g . d. Along g the true
 * derivative is as large as it gets, so a gradient that points elsewhere (wrong index, sign,
 * layout) falls well short. Float rounding (small h) and ReLU kinks (large h) leave about 1e-2
 * here, hence the loose bound; the per-layer checks above and the PyTorch golden test are the
 * tight ones, this one checks how the layer list wires them together. */
/* The same forward and backward split over threads: same outputs, same gradients. */
static void test_threads(rng *r, const nn_spec *spec, int B, int threads)
{
    nn_model m;
    nn_work w1, wt;
    char err[128];
    CHECK(nn_model_init(&m, spec, err, sizeof err) == 0);
    CHECK(nn_work_init(&w1, &m, B, 1, err, sizeof err) == 0);
    CHECK(nn_work_init(&wt, &m, B, threads, err, sizeof err) == 0);
    nn_model_init_params(&m, r);
    size_t nobs = (size_t)B * spec->in_c * spec->in_h * spec->in_w, n = m.num_params;
    uint8_t *obs = malloc(nobs);
    for (size_t i = 0; i < nobs; i++)
        obs[i] = (uint8_t)rng_below(r, 256);
    float *R = malloc(sizeof(float) * B * m.out_dim), *g1 = malloc(sizeof(float) * n);
    fill(r, R, (size_t)B * m.out_dim, -1, 1);
    const float *y1 = nn_forward(&m, &w1, obs, B);
    nn_zero_grad(&m);
    nn_backward_batch(&m, &w1, R, B - 1);
    memcpy(g1, m.grads, sizeof(float) * n);
    const float *yt = nn_forward(&m, &wt, obs, B);
    nn_zero_grad(&m);
    nn_backward_batch(&m, &wt, R, B - 1);
    printf("%d threads against 1, batch %d:\n", threads, B);
    CHECK(smbg_compare("forward", yt, y1, (size_t)B * m.out_dim, 1e-6));
    CHECK(smbg_compare("gradients (first B-1 samples)", m.grads, g1, n, 1e-5));
    free(obs), free(R), free(g1);
    nn_work_free(&w1);
    nn_work_free(&wt);
    nn_model_free(&m);
}

static void test_model(rng *r, const char *what, const nn_spec *spec, int B)
{
    nn_model m;
    nn_work w;
    char err[128];
    int rc = nn_model_init(&m, spec, err, sizeof err);
    CHECK(rc == 0);
    if (rc) {
        printf("%s\n", err);
        return;
    }
    CHECK(nn_work_init(&w, &m, B, 1, err, sizeof err) == 0);
    nn_model_init_params(&m, r);
    size_t nobs = (size_t)B * spec->in_c * spec->in_h * spec->in_w;
    uint8_t *obs = malloc(nobs);
    for (size_t i = 0; i < nobs; i++)
        obs[i] = (uint8_t)rng_below(r, 256);
    float *R = malloc(sizeof(float) * B * m.out_dim);
    fill(r, R, (size_t)B * m.out_dim, -1, 1);
    model_ctx c = {&m, &w, obs, R, B};
    model_obj(&c);
    nn_zero_grad(&m);
    nn_backward(&m, &w, R);
    float *p0 = malloc(sizeof(float) * m.num_params), *d = malloc(sizeof(float) * m.num_params);
    memcpy(p0, m.params, sizeof(float) * m.num_params);
    double worst = 0;
    const char *worst_name = "";
    for (int t = 0; t < m.num_tensors; t++) {
        const nn_param_info *pi = &m.param_table[t];
        float *p = m.params + pi->offset;
        const float *g = m.grads + pi->offset;
        double gn = sqrt(dot(g, g, pi->count) / (double)pi->count);
        for (size_t i = 0; i < pi->count; i++)
            d[i] = gn > 0 ? (float)(g[i] / gn) : 0.0f;
        const float h = 1e-5f;
        for (size_t i = 0; i < pi->count; i++)
            p[i] = p0[pi->offset + i] + h * d[i];
        double up = model_obj(&c);
        for (size_t i = 0; i < pi->count; i++)
            p[i] = p0[pi->offset + i] - h * d[i];
        double down = model_obj(&c);
        memcpy(p, p0 + pi->offset, sizeof(float) * pi->count);
        double num = (up - down) / (2.0 * h), ana = dot(g, d, pi->count);
        double e = gn > 0 ? fabs(num - ana) / ana : 1.0;
        if (getenv("NN_VERBOSE")) printf("    %s num %.9g ana %.9g up %.9g\n", pi->name, num, ana, up);
        if (e > worst)
            worst = e, worst_name = pi->name;
    }
    printf("%s: %zu params, per-tensor directional derivative: worst rel err %.2g (%s)\n", what,
           m.num_params, worst, worst_name);
    CHECK(worst < 5e-2);
    free(p0), free(d), free(obs), free(R);
    nn_work_free(&w);
    nn_model_free(&m);
}

static void test_init_and_table(rng *r)
{
    nn_spec spec;
    nn_spec_marionet(&spec, 4, 84, 84, 7, 1);
    nn_model m, m2;
    char err[128];
    CHECK(nn_model_init(&m, &spec, err, sizeof err) == 0);
    CHECK(nn_model_init(&m2, &spec, err, sizeof err) == 0);
    nn_model_init_params(&m, r);
    size_t off = 0;
    for (int t = 0; t < m.num_tensors; t++) {
        const nn_param_info *pi = &m.param_table[t];
        CHECK_EQ_INT(pi->offset, off); /* no gaps: grads and moments share the layout */
        off += pi->count;
        const nn_param_info *wi = pi->ndim == 1 ? pi - 1 : pi;
        double bound = 1.0 / sqrt((double)(wi->count / (size_t)wi->shape[0])), sq = 0, mx = 0;
        for (size_t i = 0; i < pi->count; i++) {
            double v = m.params[pi->offset + i];
            sq += v * v;
            mx = fmax(mx, fabs(v));
        }
        CHECK(mx <= bound);
        /* U(-b, b) has variance b^2 / 3; tensors with thousands of values land close to it. */
        if (pi->count > 1000)
            CHECK(fabs(sq / pi->count / (bound * bound / 3.0) - 1.0) < 0.05);
    }
    CHECK_EQ_INT(off, m.num_params);
    CHECK_EQ_INT(m.num_params, 8192 + 32 + 32768 + 64 + 36864 + 64 + 3136 * 512 + 512 + 512 * 8 + 8);
    CHECK_EQ_INT(m.out_dim, 7);
    CHECK(nn_find_param(&m, "9.weight") == 8);
    CHECK(nn_find_param(&m, "9.bias") == 9);
    CHECK(nn_find_param(&m, "3.weight") == -1);
    nn_copy_params(&m2, &m);
    CHECK(!memcmp(m2.params, m.params, sizeof(float) * m.num_params));
    nn_model_free(&m);
    nn_model_free(&m2);

    /* Bad descriptions are refused with a reason. */
    nn_spec bad;
    nn_spec_init(&bad, 4, 8, 8);
    nn_spec_add(&bad, NN_LINEAR, 3, 0, 0, 0);
    err[0] = 0;
    CHECK(nn_model_init(&m, &bad, err, sizeof err) < 0);
    CHECK(strstr(err, "flatten") != NULL);
}

static void test_optim(void)
{
    smbg g;
    if (smbg_load(&g, "optim.smbg")) {
        CHECK(0);
        return;
    }
    const smbg_tensor *p0 = smbg_get(&g, "params"), *gr = smbg_get(&g, "grads");
    size_t n = p0->count;
    float p[16], m[16] = {0}, v[16] = {0}, gk[16];
    int64_t step = 0;
    nn_adam_config ac = {0.01f, 0.8f, 0.99f, 1e-8f, 0.01f, 0.5f};
    memcpy(p, p0->f, sizeof(float) * n);
    for (int k = 0; k < 3; k++) {
        memcpy(gk, gr->f + k * n, sizeof(float) * n);
        nn_adam_step(&ac, p, gk, m, v, &step, n);
    }
    printf("optimizers against torch.optim:\n");
    CHECK(smbg_compare("adam (weight decay, clipping)", p, smbg_get(&g, "adam_clip")->f, n, 1e-5));
    nn_rmsprop_config rc = {0.01f, 0.95f, 1e-6f, 0.0f};
    memcpy(p, p0->f, sizeof(float) * n);
    memset(v, 0, sizeof v);
    for (int k = 0; k < 3; k++) {
        memcpy(gk, gr->f + k * n, sizeof(float) * n);
        nn_rmsprop_step(&rc, p, gk, v, n);
    }
    CHECK(smbg_compare("rmsprop", p, smbg_get(&g, "rmsprop")->f, n, 1e-5));
    /* Adam split over threads: the same numbers, bit for bit (each element is independent). */
    enum { NA = 1003 };
    float pa[NA], pb[NA], ga[NA], gb[NA], ma[NA] = {0}, va[NA] = {0}, mb[NA] = {0}, vb[NA] = {0};
    for (int i = 0; i < NA; i++)
        pa[i] = pb[i] = (float)(i % 17) * 0.1f - 0.8f, ga[i] = gb[i] = (float)(i % 13) * 0.05f - 0.3f;
    int64_t sa = 0, sb = 0;
    nn_adam_config dc;
    nn_adam_config_default(&dc);
    for (int k = 0; k < 2; k++) {
        nn_adam_step(&dc, pa, ga, ma, va, &sa, NA);
        nn_adam_step_threads(&dc, pb, gb, mb, vb, &sb, NA, 3);
    }
    CHECK(!memcmp(pa, pb, sizeof pa) && !memcmp(ma, mb, sizeof ma) && !memcmp(va, vb, sizeof va));
    CHECK_EQ_INT(sb, 2);
    float cg[2] = {3.0f, 4.0f};
    CHECK(fabsf(nn_clip_grad_norm(cg, 2, 1.0f) - 5.0f) < 1e-6f);
    CHECK(fabsf(cg[0] - 0.6f) < 1e-5f && fabsf(cg[1] - 0.8f) < 1e-5f);
    smbg_free(&g);
}

int main(void)
{
    rng r;
    rng_seed(&r, 42);
    test_conv(&r, 2, 4, 20, 20, 8, 8, 4, 0, 0);  /* MarioNet's first conv, smaller */
    test_conv(&r, 2, 5, 9, 9, 6, 4, 2, 0, 1);
    test_conv(&r, 3, 3, 7, 7, 4, 3, 1, 0, 1);
    test_conv(&r, 2, 3, 9, 8, 5, 3, 2, 1, 0);   /* padding, as the PPO trunk */
    test_conv(&r, 2, 4, 8, 9, 5, 3, 2, 1, 1);
    /* Shapes the direct kernels take: NHWC, no padding, channels in multiples of 16, pixel
     * counts that leave a partial tile of 6. */
    test_conv(&r, 2, 16, 9, 9, 16, 3, 1, 0, 1);
    test_conv(&r, 3, 32, 10, 10, 32, 4, 2, 0, 1);
    test_conv(&r, 1, 64, 9, 9, 64, 3, 1, 0, 1);
    test_conv_u8(&r, 2, 4, 84, 84, 32, 8, 4, 0); /* MarioNet's first layer */
    test_conv_u8(&r, 3, 2, 12, 16, 5, 6, 2, 0);
    test_conv_u8(&r, 2, 3, 9, 8, 5, 3, 2, 1);
    test_simple_layers(&r);

    nn_spec spec;
    nn_spec_init(&spec, 4, 36, 36);
    nn_spec_add(&spec, NN_CONV2D, 8, 8, 4, 0);
    nn_spec_add(&spec, NN_RELU, 0, 0, 0, 0);
    nn_spec_add(&spec, NN_CONV2D, 16, 4, 2, 0);
    nn_spec_add(&spec, NN_RELU, 0, 0, 0, 0);
    nn_spec_add(&spec, NN_CONV2D, 16, 3, 1, 0);
    nn_spec_add(&spec, NN_RELU, 0, 0, 0, 0);
    nn_spec_add(&spec, NN_FLATTEN, 0, 0, 0, 0);
    nn_spec_add(&spec, NN_LINEAR, 32, 0, 0, 0);
    nn_spec_add(&spec, NN_RELU, 0, 0, 0, 0);
    nn_spec_add(&spec, NN_DUELING, 5, 0, 0, 0);
    test_model(&r, "small Nature-DQN + dueling", &spec, 3);
    test_threads(&r, &spec, 7, 3);
    nn_spec_ppo(&spec, 4, 24, 24, 6);
    test_model(&r, "PPO trunk + policy/value", &spec, 2);
    int hidden[2] = {16, 16};
    nn_spec_mlp(&spec, 10, hidden, 2, 3);
    test_model(&r, "MLP", &spec, 4);
    test_threads(&r, &spec, 5, 2);
    /* Small batches split wide linear layers by features across threads (AVX and sgemm paths). */
    int wide[2] = {64, 48};
    nn_spec_mlp(&spec, 24, wide, 2, 5);
    test_threads(&r, &spec, 3, 2);
    int odd[1] = {40};
    nn_spec_mlp(&spec, 13, odd, 1, 3);
    test_threads(&r, &spec, 2, 2);

    test_init_and_table(&r);
    test_optim();
    return testlib_finish("test_nn_layers");
}
