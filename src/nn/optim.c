/* optim.c: Adam and RMSprop on flat parameter buffers, step for step as torch.optim
 * computes them, plus gradient-norm clipping. */
#include <math.h>

#include "smbrl/nn.h"

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

void nn_adam_step(const nn_adam_config *c, float *params, float *grads, float *m, float *v,
                  int64_t *step, size_t n)
{
    if (c->max_grad_norm > 0.0f)
        nn_clip_grad_norm(grads, n, c->max_grad_norm);
    int64_t t = ++*step;
    /* torch computes the bias corrections in double (Python floats) and then works in float. */
    double bc1 = 1.0 - pow((double)c->beta1, (double)t);
    double bc2 = 1.0 - pow((double)c->beta2, (double)t);
    float step_size = (float)(c->lr / bc1);
    float bc2_sqrt = (float)sqrt(bc2);
    const float b1 = c->beta1, b2 = c->beta2, wd = c->weight_decay, eps = c->eps;
    for (size_t i = 0; i < n; i++) {
        float g = grads[i];
        if (wd != 0.0f)
            g += wd * params[i];
        m[i] = m[i] * b1 + (1.0f - b1) * g;
        v[i] = v[i] * b2 + (1.0f - b2) * g * g;
        float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        params[i] -= step_size * (m[i] / denom);
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
