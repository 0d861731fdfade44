/* optim.c: Adam and RMSprop on flat parameter buffers, step for step as torch.optim
 * computes them, plus gradient-norm clipping. */
#include <math.h>
#include <pthread.h>

#include "smbrl/nn.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define NN_HAVE_AVX_PATH 1
#endif

float nn_clip_grad_norm(float *grads, size_t n, float max_norm)
{
    double ss = 0.0;
    for (size_t i = 0; i < n; i++)
        ss += (double)grads[i] * grads[i];
    float norm = (float)sqrt(ss);
    float coef = max_norm / (norm + 1e-6f);
    if (coef < 1.0f)
        for (size_t i = 0; i < n; i++)
            grads[i] *= coef;
    return norm;
}

void nn_adam_config_default(nn_adam_config *c)
{
    c->lr = 0.001f;
    c->beta1 = 0.9f;
    c->beta2 = 0.999f;
    c->eps = 1e-8f;
    c->weight_decay = 0.0f;
    c->max_grad_norm = 0.0f;
}

/* The per-element Adam update, operation by operation as torch's single-tensor Adam. */
static void adam_scalar(float *params, const float *grads, float *m, float *v, size_t from, size_t n,
                        float b1, float b2, float wd, float eps, float step_size, float bc2_sqrt)
{
    for (size_t i = from; i < n; i++) {
        float g = grads[i];
        if (wd != 0.0f)
            g += wd * params[i];
        m[i] = m[i] * b1 + (1.0f - b1) * g;
        v[i] = v[i] * b2 + (1.0f - b2) * g * g;
        float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        params[i] -= step_size * (m[i] / denom);
    }
}

#ifdef NN_HAVE_AVX_PATH
/* The same operations, 8 lanes at a time, no FMA (so each lane rounds as the scalar code):
 * the -O2 build does not vectorize sqrtf (errno), and Adam touches every parameter. */
__attribute__((target("avx"))) static size_t adam_avx(float *params, const float *grads, float *m,
                                                      float *v, size_t n, float b1, float b2, float wd,
                                                      float eps, float step_size, float bc2_sqrt)
{
    const __m256 vb1 = _mm256_set1_ps(b1), vb2 = _mm256_set1_ps(b2), vwd = _mm256_set1_ps(wd);
    const __m256 c1 = _mm256_set1_ps(1.0f - b1), c2 = _mm256_set1_ps(1.0f - b2);
    const __m256 veps = _mm256_set1_ps(eps), vss = _mm256_set1_ps(step_size);
    const __m256 vbc = _mm256_set1_ps(bc2_sqrt);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 p = _mm256_loadu_ps(params + i), g = _mm256_loadu_ps(grads + i);
        if (wd != 0.0f)
            g = _mm256_add_ps(g, _mm256_mul_ps(vwd, p));
        __m256 mi = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(m + i), vb1), _mm256_mul_ps(c1, g));
        __m256 gg = _mm256_mul_ps(_mm256_mul_ps(c2, g), g);
        __m256 vi = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(v + i), vb2), gg);
        __m256 denom = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vi), vbc), veps);
        p = _mm256_sub_ps(p, _mm256_mul_ps(vss, _mm256_div_ps(mi, denom)));
        _mm256_storeu_ps(m + i, mi);
        _mm256_storeu_ps(v + i, vi);
        _mm256_storeu_ps(params + i, p);
    }
    return i;
}
#endif

typedef struct adam_job {
    float *params, *grads, *m, *v;
    size_t n;
    float b1, b2, wd, eps, step_size, bc2_sqrt;
    pthread_t tid;
} adam_job;

static void *adam_run(void *arg)
{
    adam_job *j = arg;
    size_t done = 0;
#ifdef NN_HAVE_AVX_PATH
    if (__builtin_cpu_supports("avx"))
        done = adam_avx(j->params, j->grads, j->m, j->v, j->n, j->b1, j->b2, j->wd, j->eps, j->step_size,
                        j->bc2_sqrt);
#endif
    adam_scalar(j->params, j->grads, j->m, j->v, done, j->n, j->b1, j->b2, j->wd, j->eps, j->step_size,
                j->bc2_sqrt);
    return NULL;
}

void nn_adam_step(const nn_adam_config *c, float *params, float *grads, float *m, float *v,
                  int64_t *step, size_t n)
{
    nn_adam_step_threads(c, params, grads, m, v, step, n, 1);
}

void nn_adam_step_threads(const nn_adam_config *c, float *params, float *grads, float *m, float *v,
                          int64_t *step, size_t n, int threads)
{
    if (c->max_grad_norm > 0.0f)
        nn_clip_grad_norm(grads, n, c->max_grad_norm);
    int64_t t = ++*step;
    /* torch computes the bias corrections in double (Python floats) and then works in float. */
    double bc1 = 1.0 - pow((double)c->beta1, (double)t);
    double bc2 = 1.0 - pow((double)c->beta2, (double)t);
    float step_size = (float)(c->lr / bc1);
    float bc2_sqrt = (float)sqrt(bc2);
    if (threads < 1)
        threads = 1;
    if (threads > NN_MAX_THREADS)
        threads = NN_MAX_THREADS;
    adam_job jobs[NN_MAX_THREADS];
    int started[NN_MAX_THREADS] = {0};
    for (int k = 0; k < threads; k++) {
        /* Slices start on multiples of 8 floats so each thread's vector loop lines up. */
        size_t lo = n * (size_t)k / (size_t)threads & ~(size_t)7;
        size_t hi = k + 1 == threads ? n : n * (size_t)(k + 1) / (size_t)threads & ~(size_t)7;
        jobs[k] = (adam_job){params + lo, grads + lo, m + lo, v + lo, hi - lo, c->beta1, c->beta2,
                             c->weight_decay, c->eps, step_size, bc2_sqrt, 0};
        if (k > 0)
            started[k] = pthread_create(&jobs[k].tid, NULL, adam_run, &jobs[k]) == 0;
    }
    adam_run(&jobs[0]);
    for (int k = 1; k < threads; k++) {
        if (started[k])
            pthread_join(jobs[k].tid, NULL);
        else
            adam_run(&jobs[k]);
    }
}

void nn_rmsprop_config_default(nn_rmsprop_config *c)
{
    c->lr = 0.01f;
    c->alpha = 0.99f;
    c->eps = 1e-8f;
    c->max_grad_norm = 0.0f;
}

void nn_rmsprop_step(const nn_rmsprop_config *c, float *params, float *grads, float *sq, size_t n)
{
    if (c->max_grad_norm > 0.0f)
        nn_clip_grad_norm(grads, n, c->max_grad_norm);
    const float a = c->alpha, lr = c->lr, eps = c->eps;
    for (size_t i = 0; i < n; i++) {
        float g = grads[i];
        sq[i] = sq[i] * a + (1.0f - a) * g * g;
        params[i] -= lr * g / (sqrtf(sq[i]) + eps);
    }
}
