/* ppo.c: the PPO-clip agent: rollout buffers, categorical sampling from policy logits, GAE,
 * the clipped surrogate / value / entropy loss and its gradient with respect to the network
 * output, the lr schedule and the epochs x minibatches update. */
#include "smbrl/ppo.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Per-sample log-probabilities live on the stack; SMB's largest action set has 12. */
#define PPO_MAX_ACTIONS 256

void ppo_config_default(ppo_config *c)
{
    memset(c, 0, sizeof *c);
    c->steps = 512;
    c->envs = 8;
    c->epochs = 10;
    c->minibatches = 16;
    c->threads = 1;
    c->gamma = 0.9f;
    c->lambda = 1.0f;
    c->clip = 0.2f;
    c->ent_coef = 0.01f;
    c->vf_coef = 1.0f;
    c->value_loss = PPO_VALUE_HUBER;
    c->value_clip = 0.0f;
    c->norm_adv = 0;
    c->lr_schedule = PPO_LR_CONSTANT;
    c->total_updates = 0;
    nn_adam_config_default(&c->adam);
    c->adam.lr = 1e-4f;
    c->adam.max_grad_norm = 0.5f;
}

float ppo_shape_reward(float reward, float score_delta, int flag, int death)
{
    float r = reward + score_delta / 40.0f;
    if (flag)
        r += 50.0f;
    else if (death)
        r -= 50.0f;
    return r / 10.0f;
}

static int set_err(char *err, size_t errlen, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "ppo: %s", msg);
    return -1;
}

int ppo_rollout_init(ppo_rollout *ro, int T, int N, int obs_size, char *err, size_t errlen)
{
    memset(ro, 0, sizeof *ro);
    if (T < 1 || N < 1 || obs_size < 1)
        return set_err(err, errlen, "rollout steps, envs and observation size must be >= 1");
    const size_t tn = (size_t)T * (size_t)N;
    ro->T = T, ro->N = N, ro->obs_size = obs_size;
    ro->obs = malloc(tn * (size_t)obs_size);
    ro->actions = calloc(tn, sizeof(int32_t));
    ro->logp = calloc(tn, sizeof(float));
    ro->values = calloc(tn, sizeof(float));
    ro->rewards = calloc(tn, sizeof(float));
    ro->dones = calloc(tn, sizeof(float));
    ro->last_values = calloc((size_t)N, sizeof(float));
    ro->advantages = calloc(tn, sizeof(float));
    ro->returns = calloc(tn, sizeof(float));
    if (!ro->obs || !ro->actions || !ro->logp || !ro->values || !ro->rewards || !ro->dones ||
        !ro->last_values || !ro->advantages || !ro->returns) {
        ppo_rollout_free(ro);
        return set_err(err, errlen, "out of memory for the rollout");
    }
    return 0;
}

void ppo_rollout_free(ppo_rollout *ro)
{
    free(ro->obs), free(ro->actions), free(ro->logp), free(ro->values), free(ro->rewards);
    free(ro->dones), free(ro->last_values), free(ro->advantages), free(ro->returns);
    memset(ro, 0, sizeof *ro);
}

void ppo_gae(float *adv, float *ret, const float *rewards, const float *values, const float *dones,
             const float *last_values, int T, int N, float gamma, float lambda)
{
    for (int n = 0; n < N; n++) {
        double next_value = last_values[n], gae = 0.0;
        for (int t = T - 1; t >= 0; t--) {
            const size_t i = (size_t)t * N + n;
            const double live = 1.0 - dones[i];
            const double delta = rewards[i] + gamma * next_value * live - values[i];
            gae = delta + (double)gamma * lambda * live * gae;
            adv[i] = (float)gae;
            ret[i] = (float)(gae + values[i]);
            next_value = values[i];
        }
    }
}

void ppo_compute_advantages(const ppo *p, ppo_rollout *ro)
{
    ppo_gae(ro->advantages, ro->returns, ro->rewards, ro->values, ro->dones, ro->last_values, ro->T,
            ro->N, p->cfg.gamma, p->cfg.lambda);
}

void ppo_spec_mlp(nn_spec *s, int in_features, const int *hidden, int num_hidden, int actions)
{
    nn_spec_init(s, in_features, 1, 1);
    nn_spec_add(s, NN_FLATTEN, 0, 0, 0, 0);
    for (int i = 0; i < num_hidden; i++) {
        nn_spec_add(s, NN_LINEAR, hidden[i], 0, 0, 0);
        nn_spec_add(s, NN_RELU, 0, 0, 0, 0);
    }
    nn_spec_add(s, NN_POLICY_VALUE, actions, 0, 0, 0);
}

ppo *ppo_create(const ppo_config *cfg, const nn_spec *spec, rng *r, char *err, size_t errlen)
{
    if (cfg->steps < 1 || cfg->envs < 1 || cfg->epochs < 1 || cfg->minibatches < 1 ||
        cfg->minibatches > cfg->steps * cfg->envs) {
        set_err(err, errlen, "steps, envs, epochs must be >= 1 and 1 <= minibatches <= steps * envs");
        return NULL;
    }
    if (cfg->lr_schedule == PPO_LR_LINEAR && cfg->total_updates < 1) {
        set_err(err, errlen, "a linear lr schedule needs total_updates >= 1");
        return NULL;
    }
    if (spec->num_layers < 2 || spec->layers[spec->num_layers - 1].kind != NN_POLICY_VALUE) {
        set_err(err, errlen, "the model must end in a policy + value head (NN_POLICY_VALUE)");
        return NULL;
    }
    ppo *p = calloc(1, sizeof *p);
    if (!p) {
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    p->cfg = *cfg;
    p->adam = cfg->adam;
    p->adam.lr = ppo_scheduled_lr(cfg, 0);
    if (nn_model_init(&p->model, spec, err, errlen))
        goto fail;
    const size_t tn = (size_t)cfg->steps * (size_t)cfg->envs;
    const int mb = (int)((tn + (size_t)cfg->minibatches - 1) / (size_t)cfg->minibatches);
    p->max_batch = mb > cfg->envs ? mb : cfg->envs;
    if (nn_work_init(&p->work, &p->model, p->max_batch, cfg->threads, err, errlen))
        goto fail;
    nn_model_init_params(&p->model, r);
    p->actions = p->model.out_dim - 1;
    if (p->actions > PPO_MAX_ACTIONS) {
        set_err(err, errlen, "more actions than PPO_MAX_ACTIONS (256)");
        goto fail;
    }
    p->obs_size = spec->in_c * spec->in_h * spec->in_w;
    const size_t B = (size_t)p->max_batch;
    p->adam_m = calloc(p->model.num_params, sizeof(float));
    p->adam_v = calloc(p->model.num_params, sizeof(float));
    p->dout = calloc(B * (size_t)(p->actions + 1), sizeof(float));
    p->perm = calloc(tn, sizeof(int32_t));
    p->mb_obs = malloc(B * (size_t)p->obs_size);
    p->mb_actions = calloc(B, sizeof(int32_t));
    p->mb_logp = calloc(B, sizeof(float));
    p->mb_values = calloc(B, sizeof(float));
    p->mb_adv = calloc(B, sizeof(float));
    p->mb_ret = calloc(B, sizeof(float));
    if (!p->adam_m || !p->adam_v || !p->dout || !p->perm || !p->mb_obs || !p->mb_actions ||
        !p->mb_logp || !p->mb_values || !p->mb_adv || !p->mb_ret) {
        set_err(err, errlen, "out of memory");
        goto fail;
    }
    return p;
fail:
    ppo_free(p);
    return NULL;
}

void ppo_free(ppo *p)
{
    if (!p)
        return;
    nn_model_free(&p->model);
    nn_work_free(&p->work);
    free(p->adam_m), free(p->adam_v), free(p->dout), free(p->perm), free(p->mb_obs);
    free(p->mb_actions), free(p->mb_logp), free(p->mb_values), free(p->mb_adv), free(p->mb_ret);
    free(p);
}

/* logp (A) = log_softmax(z (A)), in double: the probabilities, the entropy and the ratio
 * all come from it, and exp(new - old) amplifies rounding. */
static void log_softmax(double *logp, const float *z, int A)
{
    double m = z[0];
    for (int j = 1; j < A; j++)
        if (z[j] > m)
            m = z[j];
    double s = 0.0;
    for (int j = 0; j < A; j++)
        s += exp((double)z[j] - m);
    const double lse = m + log(s);
    for (int j = 0; j < A; j++)
        logp[j] = (double)z[j] - lse;
}

void ppo_act(ppo *p, rng *r, const uint8_t *obs, int n, int32_t *actions, float *logp, float *values)
{
    const int A = p->actions;
    double lp[PPO_MAX_ACTIONS];
    for (int done = 0; done < n;) {
        const int chunk = n - done < p->work.max_batch ? n - done : p->work.max_batch;
        const float *out = nn_forward(&p->model, &p->work, obs + (size_t)done * p->obs_size, chunk);
        for (int b = 0; b < chunk; b++) {
            const float *o = out + (size_t)b * (A + 1);
            log_softmax(lp, o, A);
            /* Inverse CDF; the last action takes any rounding shortfall of the sum. */
            const double u = rng_uniform(r);
            double c = 0.0;
            int a = A - 1;
            for (int j = 0; j < A - 1; j++) {
                c += exp(lp[j]);
                if (u < c) {
                    a = j;
                    break;
                }
            }
            actions[done + b] = a;
            if (logp)
                logp[done + b] = (float)lp[a];
            if (values)
                values[done + b] = o[A];
        }
        done += chunk;
    }
}

void ppo_act_greedy(ppo *p, const uint8_t *obs, int n, int32_t *actions)
{
    const int A = p->actions;
    for (int done = 0; done < n;) {
        const int chunk = n - done < p->work.max_batch ? n - done : p->work.max_batch;
        const float *out = nn_forward(&p->model, &p->work, obs + (size_t)done * p->obs_size, chunk);
        for (int b = 0; b < chunk; b++) {
            const float *z = out + (size_t)b * (A + 1);
            int best = 0;
            for (int j = 1; j < A; j++)
                if (z[j] > z[best])
                    best = j;
            actions[done + b] = best;
        }
        done += chunk;
    }
}

void ppo_value(ppo *p, const uint8_t *obs, int n, float *values)
{
    const int A = p->actions;
    for (int done = 0; done < n;) {
        const int chunk = n - done < p->work.max_batch ? n - done : p->work.max_batch;
        const float *out = nn_forward(&p->model, &p->work, obs + (size_t)done * p->obs_size, chunk);
        for (int b = 0; b < chunk; b++)
            values[done + b] = out[(size_t)b * (A + 1) + A];
        done += chunk;
    }
}

/* Value loss of prediction error d and its derivative. */
static double value_loss(int kind, double d, double *dd)
{
    if (kind == PPO_VALUE_MSE) {
        *dd = d;
        return 0.5 * d * d;
    }
    if (fabs(d) < 1.0) {
        *dd = d;
        return 0.5 * d * d;
    }
    *dd = d > 0 ? 1.0 : -1.0;
    return fabs(d) - 0.5;
}

float ppo_compute_grad(ppo *p, const ppo_batch *b, int n, ppo_stats *stats)
{
    const ppo_config *c = &p->cfg;
    const int A = p->actions, W = A + 1;
    if (n > p->max_batch)
        n = p->max_batch;
    nn_zero_grad(&p->model);
    if (n < 1) {
        if (stats)
            memset(stats, 0, sizeof *stats);
        return 0.0f;
    }
    const float *out = nn_forward(&p->model, &p->work, b->obs, n);

    /* Advantage normalisation over this minibatch, as baselines: unbiased std plus 1e-8. */
    double adv_mean = 0.0, adv_scale = 1.0;
    if (c->norm_adv && n > 1) {
        double s = 0.0, ss = 0.0;
        for (int i = 0; i < n; i++)
            s += b->advantages[i];
        adv_mean = s / n;
        for (int i = 0; i < n; i++)
            ss += (b->advantages[i] - adv_mean) * (b->advantages[i] - adv_mean);
        adv_scale = 1.0 / (sqrt(ss / (n - 1)) + 1e-8);
    }

    const double inv_n = 1.0 / n, lo = 1.0 - c->clip, hi = 1.0 + c->clip;
    double sum_pl = 0, sum_vl = 0, sum_ent = 0, sum_kl = 0, sum_clip = 0;
    double lp[PPO_MAX_ACTIONS];
    for (int i = 0; i < n; i++) {
        const float *o = out + (size_t)i * W;
        float *g = p->dout + (size_t)i * W;
        log_softmax(lp, o, A);
        double ent = 0.0;
        for (int j = 0; j < A; j++)
            ent -= exp(lp[j]) * lp[j];
        const int a = b->actions[i];
        const double logratio = lp[a] - b->logp[i], ratio = exp(logratio);
        const double adv = (b->advantages[i] - adv_mean) * adv_scale;
        const double rc = ratio < lo ? lo : ratio > hi ? hi : ratio;
        const double s1 = ratio * adv, s2 = rc * adv;
        /* d(-min(s1, s2))/d logp_a. The clamped term carries a gradient only inside
         * [lo, hi], where it equals s1; on a tie torch's minimum splits the gradient. */
        const double in_range = ratio >= lo && ratio <= hi;
        const double d1 = -adv * ratio, d2 = -adv * ratio * in_range;
        const double dlogp = s1 < s2 ? d1 : s2 < s1 ? d2 : 0.5 * (d1 + d2);
        sum_pl += -(s1 < s2 ? s1 : s2);
        sum_ent += ent;
        sum_kl += (ratio - 1.0) - logratio;
        sum_clip += fabs(ratio - 1.0) > c->clip;
        /* d logp_a / dz_j = [j == a] - p_j;  d(-H)/dz_j = p_j (logp_j + H). */
        for (int j = 0; j < A; j++) {
            const double pj = exp(lp[j]);
            const double dz = dlogp * ((j == a) - pj) + c->ent_coef * pj * (lp[j] + ent);
            g[j] = (float)(dz * inv_n);
        }

        const double v = o[A], ret = b->returns[i];
        double dv1, vl = value_loss(c->value_loss, v - ret, &dv1), dv = dv1;
        if (c->value_clip > 0.0f) {
            const double dvold = v - b->values[i];
            const double vc = b->values[i] + (dvold < -c->value_clip ? -c->value_clip
                                               : dvold > c->value_clip ? c->value_clip : dvold);
            double dv2;
            const double vl2 = value_loss(c->value_loss, vc - ret, &dv2);
            dv2 *= fabs(dvold) <= c->value_clip; /* the clamp passes gradient inside only */
            dv = vl > vl2 ? dv1 : vl2 > vl ? dv2 : 0.5 * (dv1 + dv2);
            vl = vl > vl2 ? vl : vl2;
        }
        sum_vl += vl;
        g[A] = (float)(c->vf_coef * dv * inv_n);
    }
    nn_backward(&p->model, &p->work, p->dout);

    ppo_stats st;
    st.policy_loss = (float)(sum_pl * inv_n);
    st.value_loss = (float)(sum_vl * inv_n);
    st.entropy = (float)(sum_ent * inv_n);
    st.approx_kl = (float)(sum_kl * inv_n);
    st.clip_frac = (float)(sum_clip * inv_n);
    st.loss = (float)((sum_pl + c->vf_coef * sum_vl - c->ent_coef * sum_ent) * inv_n);
    if (stats)
        *stats = st;
    return st.loss;
}

void ppo_apply_grad(ppo *p)
{
    nn_adam_step(&p->adam, p->model.params, p->model.grads, p->adam_m, p->adam_v, &p->adam_step,
                 p->model.num_params);
}

float ppo_scheduled_lr(const ppo_config *c, int64_t update)
{
    if (c->lr_schedule != PPO_LR_LINEAR || c->total_updates < 1)
        return c->adam.lr;
    double frac = 1.0 - (double)update / (double)c->total_updates;
    return (float)(c->adam.lr * (frac > 0.0 ? frac : 0.0));
}

void ppo_gather(ppo *p, const ppo_rollout *ro, const int32_t *idx, int n, ppo_batch *b)
{
    const size_t O = (size_t)p->obs_size;
    if (n > p->max_batch)
        n = p->max_batch;
    for (int i = 0; i < n; i++) {
        const size_t k = (size_t)idx[i];
        memcpy(p->mb_obs + (size_t)i * O, ro->obs + k * O, O);
        p->mb_actions[i] = ro->actions[k];
        p->mb_logp[i] = ro->logp[k];
        p->mb_values[i] = ro->values[k];
        p->mb_adv[i] = ro->advantages[k];
        p->mb_ret[i] = ro->returns[k];
    }
    b->obs = p->mb_obs, b->actions = p->mb_actions, b->logp = p->mb_logp;
    b->values = p->mb_values, b->advantages = p->mb_adv, b->returns = p->mb_ret;
}

int ppo_update(ppo *p, const ppo_rollout *ro, rng *r, ppo_stats *stats, char *err, size_t errlen)
{
    const int64_t tn = (int64_t)ro->T * ro->N, M = p->cfg.minibatches;
    if (ro->obs_size != p->obs_size)
        return set_err(err, errlen, "rollout observation size differs from the model's input");
    if (tn > (int64_t)p->cfg.steps * p->cfg.envs || tn < M)
        return set_err(err, errlen, "rollout larger than the configured steps x envs, or smaller than minibatches");
    p->adam.lr = ppo_scheduled_lr(&p->cfg, p->updates);
    double acc[6] = {0};
    int count = 0;
    for (int e = 0; e < p->cfg.epochs; e++) {
        for (int64_t i = 0; i < tn; i++)
            p->perm[i] = (int32_t)i;
        for (int64_t i = tn - 1; i > 0; i--) {
            const int64_t j = rng_below(r, (uint32_t)(i + 1));
            const int32_t t = p->perm[i];
            p->perm[i] = p->perm[j], p->perm[j] = t;
        }
        for (int64_t j = 0; j < M; j++) {
            const int64_t from = j * tn / M, to = (j + 1) * tn / M;
            ppo_batch b;
            ppo_stats st;
            ppo_gather(p, ro, p->perm + from, (int)(to - from), &b);
            ppo_compute_grad(p, &b, (int)(to - from), &st);
            ppo_apply_grad(p);
            acc[0] += st.policy_loss, acc[1] += st.value_loss, acc[2] += st.entropy;
            acc[3] += st.approx_kl, acc[4] += st.clip_frac, acc[5] += st.loss;
            count++;
        }
    }
    p->updates++;
    if (stats) {
        stats->policy_loss = (float)(acc[0] / count);
        stats->value_loss = (float)(acc[1] / count);
        stats->entropy = (float)(acc[2] / count);
        stats->approx_kl = (float)(acc[3] / count);
        stats->clip_frac = (float)(acc[4] / count);
        stats->loss = (float)(acc[5] / count);
    }
    return 0;
}
