/* model.c: model descriptions (layer lists), their parameter tables and buffers, PyTorch's
 * default initialisation, and the forward/backward passes that walk the layer list.
 * Invariant: param_table lists every tensor in buffer order, without gaps, so params,
 * grads and optimizer moments share one layout. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smbrl/nn.h"
#include "nn/nn_internal.h"

void nn_spec_init(nn_spec *s, int in_c, int in_h, int in_w)
{
    memset(s, 0, sizeof *s);
    s->in_c = in_c, s->in_h = in_h, s->in_w = in_w;
    nn_spec_add(s, NN_INPUT_U8, 0, 0, 0, 0);
}

int nn_spec_add(nn_spec *s, nn_kind kind, int out, int kernel, int stride, int pad)
{
    if (s->num_layers >= NN_MAX_LAYERS)
        return -1;
    s->layers[s->num_layers++] = (nn_layer_spec){kind, out, kernel, stride, pad};
    return 0;
}

void nn_spec_nature_trunk(nn_spec *s, int in_c, int in_h, int in_w)
{
    nn_spec_init(s, in_c, in_h, in_w);
    nn_spec_add(s, NN_CONV2D, 32, 8, 4, 0);
    nn_spec_add(s, NN_RELU, 0, 0, 0, 0);
    nn_spec_add(s, NN_CONV2D, 64, 4, 2, 0);
    nn_spec_add(s, NN_RELU, 0, 0, 0, 0);
    nn_spec_add(s, NN_CONV2D, 64, 3, 1, 0);
    nn_spec_add(s, NN_RELU, 0, 0, 0, 0);
    nn_spec_add(s, NN_FLATTEN, 0, 0, 0, 0);
    nn_spec_add(s, NN_LINEAR, 512, 0, 0, 0);
    nn_spec_add(s, NN_RELU, 0, 0, 0, 0);
}

void nn_spec_marionet(nn_spec *s, int in_c, int in_h, int in_w, int actions, int dueling)
{
    nn_spec_nature_trunk(s, in_c, in_h, in_w);
    nn_spec_add(s, dueling ? NN_DUELING : NN_LINEAR, actions, 0, 0, 0);
}

void nn_spec_mlp(nn_spec *s, int in_features, const int *hidden, int num_hidden, int actions)
{
    nn_spec_init(s, in_features, 1, 1);
    nn_spec_add(s, NN_FLATTEN, 0, 0, 0, 0);
    for (int i = 0; i < num_hidden; i++) {
        nn_spec_add(s, NN_LINEAR, hidden[i], 0, 0, 0);
        nn_spec_add(s, NN_RELU, 0, 0, 0, 0);
    }
    nn_spec_add(s, NN_LINEAR, actions, 0, 0, 0);
}

void nn_spec_ppo(nn_spec *s, int in_c, int in_h, int in_w, int actions)
{
    nn_spec_init(s, in_c, in_h, in_w);
    for (int i = 0; i < 4; i++) {
        nn_spec_add(s, NN_CONV2D, 32, 3, 2, 1);
        nn_spec_add(s, NN_RELU, 0, 0, 0, 0);
    }
    nn_spec_add(s, NN_FLATTEN, 0, 0, 0, 0);
    nn_spec_add(s, NN_POLICY_VALUE, actions, 0, 0, 0);
}

static int fail(char *err, size_t errlen, int layer, const char *why)
{
    if (err && errlen)
        snprintf(err, errlen, "nn: layer %d: %s", layer, why);
    return -1;
}

static void add_tensor(nn_model *m, int layer, const char *what, int ndim, const int *shape)
{
    nn_param_info *t = &m->param_table[m->num_tensors++];
    snprintf(t->name, sizeof t->name, "%d.%s", layer - 1, what);
    t->ndim = ndim;
    t->count = 1;
    for (int d = 0; d < 4; d++) {
        t->shape[d] = d < ndim ? shape[d] : 0;
        if (d < ndim)
            t->count *= (size_t)shape[d];
    }
    t->offset = m->num_params;
    m->num_params += t->count;
}

int nn_model_init(nn_model *m, const nn_spec *spec, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    m->spec = *spec;
    if (spec->num_layers < 2 || spec->layers[0].kind != NN_INPUT_U8)
        return fail(err, errlen, 0, "a model starts with an input layer and has at least one more");
    if (spec->in_c < 1 || spec->in_h < 1 || spec->in_w < 1)
        return fail(err, errlen, 0, "input shape must be positive");
    int c = spec->in_c, h = spec->in_h, w = spec->in_w, layout = NN_LAYOUT_NCHW;
    for (int i = 0; i < spec->num_layers; i++) {
        nn_layer *L = &m->layers[i];
        const nn_layer_spec *ls = &spec->layers[i];
        L->spec = *ls;
        L->in_c = c, L->in_h = h, L->in_w = w, L->in_layout = layout;
        switch (ls->kind) {
        case NN_INPUT_U8:
            if (i != 0)
                return fail(err, errlen, i, "the input layer must come first");
            break;
        case NN_CONV2D: {
            if (layout == NN_LAYOUT_FLAT)
                return fail(err, errlen, i, "conv2d needs an image input, not a flat one");
            if (ls->out < 1 || ls->kernel < 1 || ls->stride < 1 || ls->pad < 0)
                return fail(err, errlen, i, "conv2d needs positive channels, kernel, stride");
            if (h + 2 * ls->pad < ls->kernel || w + 2 * ls->pad < ls->kernel)
                return fail(err, errlen, i, "conv2d kernel larger than its padded input");
            int shape[4] = {ls->out, c, ls->kernel, ls->kernel};
            L->weight_offset = m->num_params;
            add_tensor(m, i, "weight", 4, shape);
            L->bias_offset = m->num_params;
            add_tensor(m, i, "bias", 1, &ls->out);
            h = (h + 2 * ls->pad - ls->kernel) / ls->stride + 1;
            w = (w + 2 * ls->pad - ls->kernel) / ls->stride + 1;
            c = ls->out;
            layout = NN_LAYOUT_NHWC;
            break;
        }
        case NN_RELU:
            if (i == 1)
                return fail(err, errlen, i, "relu right after the input does nothing");
            break;
        case NN_FLATTEN:
            c = c * h * w, h = w = 1;
            layout = NN_LAYOUT_FLAT;
            break;
        case NN_LINEAR:
        case NN_DUELING:
        case NN_POLICY_VALUE: {
            if (layout != NN_LAYOUT_FLAT)
                return fail(err, errlen, i, "linear layers and heads need a flatten before them");
            if (ls->out < 1)
                return fail(err, errlen, i, "needs a positive output size");
            int outs = ls->kind == NN_LINEAR ? ls->out : ls->out + 1;
            int shape[2] = {outs, c};
            L->weight_offset = m->num_params;
            add_tensor(m, i, "weight", 2, shape);
            L->bias_offset = m->num_params;
            add_tensor(m, i, "bias", 1, &outs);
            c = ls->kind == NN_DUELING ? ls->out : outs;
            break;
        }
        default:
            return fail(err, errlen, i, "unknown layer kind");
        }
        L->out_c = c, L->out_h = h, L->out_w = w, L->out_layout = layout;
        L->in_numel = (size_t)L->in_c * L->in_h * L->in_w;
        L->out_numel = (size_t)c * h * w;
        if (m->num_tensors > NN_MAX_TENSORS - 2 && i + 1 < spec->num_layers)
            return fail(err, errlen, i, "too many parameter tensors");
    }
    const nn_layer *last = &m->layers[spec->num_layers - 1];
    if (last->out_layout != NN_LAYOUT_FLAT)
        return fail(err, errlen, spec->num_layers - 1, "the model must end flat (add flatten)");
    m->out_dim = (int)last->out_numel;
    size_t n = m->num_params ? m->num_params : 1;
    m->params = calloc(n, sizeof(float));
    m->grads = calloc(n, sizeof(float));
    if (!m->params || !m->grads) {
        nn_model_free(m);
        return fail(err, errlen, 0, "out of memory for parameters");
    }
    return 0;
}

void nn_model_free(nn_model *m)
{
    free(m->params);
    free(m->grads);
    m->params = m->grads = NULL;
}

void nn_model_init_params(nn_model *m, rng *r)
{
    /* kaiming_uniform_(a=sqrt(5)) gives gain sqrt(2/6) and bound gain*sqrt(3/fan_in) =
     * 1/sqrt(fan_in); the bias bound is 1/sqrt(fan_in) too. Weight then bias per layer. */
    for (int t = 0; t < m->num_tensors; t++) {
        const nn_param_info *pi = &m->param_table[t];
        const nn_param_info *wi = pi->ndim == 1 ? pi - 1 : pi; /* a bias follows its weight */
        size_t fan_in = wi->count / (size_t)wi->shape[0];
        float bound = (float)(1.0 / sqrt((double)fan_in));
        float *p = m->params + pi->offset;
        for (size_t i = 0; i < pi->count; i++)
            p[i] = (2.0f * rng_uniform_f(r) - 1.0f) * bound;
    }
}

void nn_zero_grad(nn_model *m) { memset(m->grads, 0, sizeof(float) * m->num_params); }

void nn_copy_params(nn_model *dst, const nn_model *src)
{
    memcpy(dst->params, src->params, sizeof(float) * src->num_params);
}

int nn_find_param(const nn_model *m, const char *name)
{
    for (int t = 0; t < m->num_tensors; t++)
        if (!strcmp(m->param_table[t].name, name))
            return t;
    return -1;
}

static void conv_shape_of(nn_conv_shape *s, const nn_layer *L, int B)
{
    nn_conv_shape_init(s, B, L->in_c, L->in_h, L->in_w, L->spec.out, L->spec.kernel, L->spec.stride,
                       L->spec.pad, L->in_layout == NN_LAYOUT_NHWC);
}

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

int nn_work_init(nn_work *w, const nn_model *m, int max_batch, int threads, char *err, size_t errlen)
{
    memset(w, 0, sizeof *w);
    if (max_batch < 1)
        return fail(err, errlen, 0, "max_batch must be at least 1");
    if (threads < 1 || threads > NN_MAX_THREADS)
        return fail(err, errlen, 0, "threads must be 1..NN_MAX_THREADS");
    const size_t B = (size_t)max_batch;
    size_t acts[NN_MAX_LAYERS] = {0}, rows[NN_MAX_LAYERS] = {0};
    size_t total = 0, grad = 0, drows = 0, wperm = 0, scratch = 0;
    for (int i = 0; i < m->spec.num_layers; i++) {
        const nn_layer *L = &m->layers[i];
        /* ReLU works in place on its input's buffer; nothing downstream needs the input. The
         * input layer's floats are only stored when no convolution reads the bytes directly. */
        if (L->spec.kind != NN_RELU && !(i == 0 && m->layers[1].spec.kind == NN_CONV2D))
            acts[i] = B * L->out_numel;
        grad = max_sz(grad, max_sz(L->in_numel, L->out_numel + 1));
        if (L->spec.kind == NN_CONV2D) {
            nn_conv_shape s;
            conv_shape_of(&s, L, 1);
            int uses_rows = nn_conv_uses_rows(&s, i == 1);
            rows[i] = uses_rows ? B * nn_conv_rows_floats(&s) : 0;
            if (i > 1 && uses_rows)
                drows = max_sz(drows, nn_conv_rows_floats(&s));
            else if (i == 1)
                scratch = nn_conv_u8_scratch_floats(&s);
            wperm = max_sz(wperm, nn_conv_wperm_floats(&s));
        } else if (L->spec.kind == NN_DUELING) {
            rows[i] = B * (L->out_numel + 1); /* advantages + value, then their gradient */
        }
        total += acts[i] + rows[i];
    }
    total += 2 * B * grad + B * drows + B * scratch + 2 * wperm * (size_t)threads;
    total += (size_t)(threads - 1) * m->num_params;
    w->block = malloc(sizeof(float) * total);
    if (!w->block)
        return fail(err, errlen, 0, "out of memory for activations");
    float *p = w->block;
    for (int i = 0; i < m->spec.num_layers; i++) {
        w->acts[i] = m->layers[i].spec.kind == NN_RELU ? w->acts[i - 1] : acts[i] ? p : NULL;
        p += acts[i];
        w->rows[i] = rows[i] ? p : NULL;
        p += rows[i];
    }
    w->grad_stride = grad, w->drows_stride = drows, w->scratch_stride = scratch;
    w->wperm_floats = wperm;
    w->grad_a = p, p += B * grad;
    w->grad_b = p, p += B * grad;
    w->drows = p, p += B * drows;
    w->scratch = p, p += B * scratch;
    w->wperm = p, p += wperm * (size_t)threads;
    w->dwperm = p, p += wperm * (size_t)threads;
    w->thread_grads = p;
    w->max_batch = max_batch;
    w->threads = threads;
    return 0;
}

void nn_work_free(nn_work *w)
{
    free(w->block);
    memset(w, 0, sizeof *w);
}

/* Forward of samples [b0, b0 + nb) of the batch; thread t uses scratch slot t. */
static void forward_range(const nn_model *m, nn_work *w, const uint8_t *obs, int b0, int nb, int t,
                          int from, int to)
{
    const float *x = from > 0 ? w->acts[from - 1] + (size_t)b0 * m->layers[from].in_numel : NULL;
    float *wperm = w->wperm + (size_t)t * w->wperm_floats;
    for (int i = from; i < to; i++) {
        const nn_layer *L = &m->layers[i];
        float *y = w->acts[i] ? w->acts[i] + (size_t)b0 * L->out_numel : NULL;
        const float *W = m->params + L->weight_offset, *bias = m->params + L->bias_offset;
        size_t n = (size_t)nb * L->out_numel;
        const uint8_t *o = obs + (size_t)b0 * L->in_numel;
        /* A ReLU after a conv or linear layer runs in that layer's epilogue, in place. */
        int relu_next = i + 1 < m->spec.num_layers && m->layers[i + 1].spec.kind == NN_RELU;
        switch (L->spec.kind) {
        case NN_INPUT_U8:
            /* A convolution right after the input scales the bytes while building patches. */
            if (y)
                nn_input_u8_forward(y, o, n);
            break;
        case NN_CONV2D: {
            nn_conv_shape s;
            conv_shape_of(&s, L, nb);
            float *rows = w->rows[i] ? w->rows[i] + (size_t)b0 * nn_conv_rows_floats(&s) / (size_t)nb : NULL;
            if (i == 1)
                nn_conv2d_forward_u8_act(y, rows, w->scratch + (size_t)b0 * w->scratch_stride, wperm,
                                         obs + (size_t)b0 * m->layers[0].in_numel, W, bias, &s, relu_next);
            else
                nn_conv2d_forward_act(y, rows, wperm, x, W, bias, &s, relu_next);
            break;
        }
        case NN_RELU:
            if (m->layers[i - 1].spec.kind != NN_CONV2D && m->layers[i - 1].spec.kind != NN_LINEAR)
                nn_relu_forward(y, x, n);
            break;
        case NN_FLATTEN:
            if (L->in_layout == NN_LAYOUT_NHWC)
                nn_flatten_nhwc_forward(y, x, nb, L->in_c, L->in_h, L->in_w);
            else
                memcpy(y, x, sizeof(float) * n);
            break;
        case NN_LINEAR:
            nn_linear_forward_act(y, x, W, bias, nb, L->in_c, L->out_c, relu_next);
            break;
        case NN_POLICY_VALUE:
            nn_linear_forward(y, x, W, bias, nb, L->in_c, L->out_c);
            break;
        case NN_DUELING: {
            float *va = w->rows[i] + (size_t)b0 * (L->out_numel + 1);
            nn_linear_forward(va, x, W, bias, nb, L->in_c, L->out_c + 1);
            nn_dueling_forward(y, va, nb, L->out_c);
            break;
        }
        }
        x = y;
    }
}

/* Backward of samples [b0, b0 + nb); parameter gradients accumulate into grads. */
static void backward_range(const nn_model *m, nn_work *w, float *grads, const float *dout, int b0,
                           int nb, int t)
{
    const float *g = dout;
    float *ga = w->grad_a + (size_t)b0 * w->grad_stride, *gb = w->grad_b + (size_t)b0 * w->grad_stride;
    float *drows = w->drows_stride ? w->drows + (size_t)b0 * w->drows_stride : NULL;
    float *wperm = w->wperm + (size_t)t * w->wperm_floats, *dwperm = w->dwperm + (size_t)t * w->wperm_floats;
    int relu_done = 0; /* the conv above already applied this ReLU's backward */
    for (int i = m->spec.num_layers - 1; i >= 1; i--) {
        const nn_layer *L = &m->layers[i];
        float *dst = g == ga ? gb : ga;
        if (L->spec.kind == NN_RELU && relu_done) {
            relu_done = 0;
            continue;
        }
        int want_dinp = i > 1; /* layer 0 is the input: observations need no gradient */
        const float *W = m->params + L->weight_offset;
        float *dW = grads + L->weight_offset, *db = grads + L->bias_offset;
        const float *x = w->acts[i - 1] ? w->acts[i - 1] + (size_t)b0 * L->in_numel : NULL;
        switch (L->spec.kind) {
        case NN_INPUT_U8:
            return;
        case NN_CONV2D: {
            nn_conv_shape s;
            conv_shape_of(&s, L, nb);
            const float *rows = w->rows[i] ? w->rows[i] + (size_t)b0 * nn_conv_rows_floats(&s) / (size_t)nb : NULL;
            if (i == 1)
                nn_conv2d_backward_u8(dW, db, dwperm, g, rows, w->scratch + (size_t)b0 * w->scratch_stride, &s);
            else {
                /* x is the ReLU's output too: it works in place. */
                relu_done = m->layers[i - 1].spec.kind == NN_RELU;
                nn_conv2d_backward_act(dst, dW, db, drows, wperm, dwperm, g, rows, x, W, &s, relu_done);
            }
            break;
        }
        case NN_RELU:
            nn_relu_backward(dst, g, w->acts[i] + (size_t)b0 * L->out_numel, (size_t)nb * L->out_numel);
            break;
        case NN_FLATTEN:
            if (L->in_layout == NN_LAYOUT_NHWC)
                nn_flatten_nhwc_backward(dst, g, nb, L->in_c, L->in_h, L->in_w);
            else
                memcpy(dst, g, sizeof(float) * (size_t)nb * L->out_numel);
            break;
        case NN_LINEAR:
        case NN_POLICY_VALUE:
            nn_linear_backward(want_dinp ? dst : NULL, dW, db, g, x, W, nb, L->in_c, L->out_c);
            break;
        case NN_DUELING: {
            float *dva = w->rows[i] + (size_t)b0 * (L->out_numel + 1);
            nn_dueling_backward(dva, g, nb, L->out_c);
            nn_linear_backward(want_dinp ? dst : NULL, dW, db, dva, x, W, nb, L->in_c, L->out_c + 1);
            break;
        }
        }
        g = dst;
    }
}

typedef struct nn_job {
    const nn_model *m;
    nn_work *w;
    const uint8_t *obs; /* forward */
    const float *dout;  /* backward */
    float *grads;
    int b0, nb, t;
    int from, to;       /* forward: layers [from, to) */
    int j0, j1;         /* features of layer `from`, when a small batch splits a linear layer */
    pthread_t tid;
} nn_job;

static void *forward_job(void *arg)
{
    nn_job *j = arg;
    forward_range(j->m, j->w, j->obs, j->b0, j->nb, j->t, j->from, j->to);
    return NULL;
}

/* Features [j0, j1) of linear layer `from` for the whole batch (b0 = 0, nb = B). */
static void *features_job(void *arg)
{
    nn_job *j = arg;
    const nn_layer *L = &j->m->layers[j->from];
    const float *W = j->m->params + L->weight_offset, *bias = j->m->params + L->bias_offset;
    int relu = j->from + 1 < j->m->spec.num_layers && j->m->layers[j->from + 1].spec.kind == NN_RELU;
    nn_linear_forward_cols(j->w->acts[j->from] + j->j0, (size_t)L->out_c, j->w->acts[j->from - 1],
                           W + (size_t)j->j0 * L->in_c, bias + j->j0, j->nb, L->in_c, j->j1 - j->j0, relu);
    return NULL;
}

/* Runs fn on jobs[1..T) in new threads and jobs[0] on the caller's; a thread that cannot be
 * started runs on the caller's thread instead. */
static void run_jobs(void *(*fn)(void *), nn_job *jobs, int T)
{
    int started[NN_MAX_THREADS] = {0};
    for (int t = 1; t < T; t++)
        started[t] = pthread_create(&jobs[t].tid, NULL, fn, &jobs[t]) == 0;
    fn(&jobs[0]);
    for (int t = 1; t < T; t++) {
        if (started[t])
            pthread_join(jobs[t].tid, NULL);
        else
            fn(&jobs[t]);
    }
}

static void *backward_job(void *arg)
{
    nn_job *j = arg;
    memset(j->grads, 0, sizeof(float) * j->m->num_params);
    backward_range(j->m, j->w, j->grads, j->dout, j->b0, j->nb, j->t);
    return NULL;
}

/* Splits B samples over the work's threads (at least one sample each); runs slice 0 on the
 * caller's thread. Falls back to fewer threads when one cannot be started. */
static int split(nn_work *w, int B, nn_job *jobs)
{
    int T = w->threads < B ? w->threads : B;
    for (int t = 0; t < T; t++) {
        jobs[t].b0 = (int)((long)B * t / T);
        jobs[t].nb = (int)((long)B * (t + 1) / T) - jobs[t].b0;
        jobs[t].t = t;
    }
    return T;
}

/* Below this batch a thread's slice is a few samples, and every slice would read all of a
 * linear layer's weights (fc1: 6 MB): threads then split linear layers by features instead. */
#define NN_SMALL_BATCH 8

const float *nn_forward(const nn_model *m, nn_work *w, const uint8_t *obs, int B)
{
    if (B < 1 || B > w->max_batch)
        return NULL;
    w->batch = B;
    const int nl = m->spec.num_layers;
    nn_job jobs[NN_MAX_THREADS];
    int T = split(w, B, jobs);
    int first_linear = nl;
    if (T > 1 && B <= NN_SMALL_BATCH)
        for (int i = 1; i < nl && first_linear == nl; i++)
            if (m->layers[i].spec.kind == NN_LINEAR)
                first_linear = i;
    for (int t = 0; t < T; t++)
        jobs[t].m = m, jobs[t].w = w, jobs[t].obs = obs, jobs[t].from = 0, jobs[t].to = first_linear;
    run_jobs(forward_job, jobs, T);
    T = w->threads;
    for (int i = first_linear; i < nl; i++) {
        const nn_layer *L = &m->layers[i];
        if (L->spec.kind != NN_LINEAR || L->out_c < 16 * T) {
            forward_range(m, w, obs, 0, B, 0, i, i + 1);
            continue;
        }
        for (int t = 0; t < T; t++) {
            jobs[t] = (nn_job){.m = m, .w = w, .nb = B, .from = i};
            jobs[t].j0 = L->out_c * t / T;
            jobs[t].j1 = L->out_c * (t + 1) / T;
        }
        run_jobs(features_job, jobs, T);
    }
    return w->acts[nl - 1];
}

void nn_backward(nn_model *m, nn_work *w, const float *dout) { nn_backward_batch(m, w, dout, w->batch); }

void nn_backward_batch(nn_model *m, nn_work *w, const float *dout, int B)
{
    if (B < 1 || B > w->batch)
        return;
    nn_job jobs[NN_MAX_THREADS];
    int T = split(w, B, jobs), started[NN_MAX_THREADS] = {0};
    for (int t = 1; t < T; t++) {
        jobs[t].m = m, jobs[t].w = w;
        jobs[t].dout = dout + (size_t)jobs[t].b0 * m->out_dim;
        jobs[t].grads = w->thread_grads + (size_t)(t - 1) * m->num_params;
        started[t] = pthread_create(&jobs[t].tid, NULL, backward_job, &jobs[t]) == 0;
        if (!started[t])
            backward_job(&jobs[t]);
    }
    backward_range(m, w, m->grads, dout, jobs[0].b0, jobs[0].nb, 0);
    for (int t = 1; t < T; t++) {
        if (started[t])
            pthread_join(jobs[t].tid, NULL);
        const float *g = jobs[t].grads;
        for (size_t i = 0; i < m->num_params; i++)
            m->grads[i] += g[i];
    }
}
