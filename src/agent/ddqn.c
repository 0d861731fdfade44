/* ddqn.c: the Double-DQN agent: acting, the TD target, the loss and its gradient, the
 * optimizer step, target syncs and the tutorial's learn() schedule. */
#include "smbrl/agent.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ddqn_config_default(ddqn_config *c)
{
    memset(c, 0, sizeof *c);
    c->batch_size = 32;
    c->max_act_batch = 8;
    c->threads = 1;
    c->gamma = 0.9f;
    c->burnin = 10000;
    c->learn_every = 3;
    c->sync_every = 10000;
    c->eps_start = 1.0;
    c->eps_decay = 0.99999975;
    c->eps_min = 0.1;
    c->loss = DDQN_LOSS_HUBER;
    nn_adam_config_default(&c->adam);
    c->adam.lr = 0.00025f;
}

static int set_err(char *err, size_t errlen, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "ddqn: %s", msg);
    return -1;
}

ddqn *ddqn_create(const ddqn_config *cfg, const nn_spec *spec, rng *r, char *err, size_t errlen)
{
    if (cfg->batch_size < 1 || cfg->max_act_batch < 1 || cfg->learn_every < 1 || cfg->sync_every < 1) {
        set_err(err, errlen, "batch_size, max_act_batch, learn_every and sync_every must be >= 1");
        return NULL;
    }
    ddqn *a = calloc(1, sizeof *a);
    if (!a) {
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    a->cfg = *cfg;
    if (nn_model_init(&a->online, spec, err, errlen) || nn_model_init(&a->target, spec, err, errlen))
        goto fail;
    int max_batch = 2 * cfg->batch_size > cfg->max_act_batch ? 2 * cfg->batch_size : cfg->max_act_batch;
    if (nn_work_init(&a->work, &a->online, max_batch, cfg->threads, err, errlen))
        goto fail;
    nn_model_init_params(&a->online, r);
    nn_copy_params(&a->target, &a->online);
    a->actions = a->online.out_dim;
    a->obs_bytes = spec->in_c * spec->in_h * spec->in_w;
    a->epsilon = cfg->eps_start;
    const size_t B = (size_t)cfg->batch_size, A = (size_t)a->actions;
    a->adam_m = calloc(a->online.num_params, sizeof(float));
    a->adam_v = calloc(a->online.num_params, sizeof(float));
    a->q_estimate = calloc(B, sizeof(float));
    a->td_target = calloc(B, sizeof(float));
    a->best_next = calloc(B, sizeof(int32_t));
    a->obs_pair = malloc(2 * B * (size_t)a->obs_bytes);
    a->batch.actions = calloc(B, sizeof(int32_t));
    a->batch.rewards = calloc(B, sizeof(float));
    a->batch.dones = calloc(B, sizeof(float));
    a->dq = calloc(B * A, sizeof(float));
    a->dqa = calloc(B, sizeof(float));
    if (!a->adam_m || !a->adam_v || !a->q_estimate || !a->td_target || !a->best_next ||
        !a->obs_pair || !a->batch.actions || !a->batch.rewards || !a->batch.dones || !a->dq || !a->dqa) {
        set_err(err, errlen, "out of memory");
        goto fail;
    }
    a->batch.states = a->obs_pair;
    a->batch.next_states = a->obs_pair + B * (size_t)a->obs_bytes;
    return a;
fail:
    ddqn_free(a);
    return NULL;
}

void ddqn_free(ddqn *a)
{
    if (!a)
        return;
    nn_model_free(&a->online);
    nn_model_free(&a->target);
    nn_work_free(&a->work);
    free(a->adam_m), free(a->adam_v), free(a->q_estimate), free(a->td_target), free(a->best_next);
    free(a->obs_pair), free(a->batch.actions), free(a->batch.rewards), free(a->batch.dones);
    free(a->dq), free(a->dqa);
    free(a);
}

/* First index of the largest value, as torch.argmax. */
static int argmax(const float *q, int n)
{
    int best = 0;
    for (int j = 1; j < n; j++)
        if (q[j] > q[best])
            best = j;
    return best;
}

void ddqn_act_greedy(ddqn *a, const uint8_t *obs, int n, int32_t *actions)
{
    for (int done = 0; done < n;) {
        int chunk = n - done < a->work.max_batch ? n - done : a->work.max_batch;
        const float *q = nn_forward(&a->online, &a->work, obs + (size_t)done * a->obs_bytes, chunk);
        for (int b = 0; b < chunk; b++)
            actions[done + b] = argmax(q + (size_t)b * a->actions, a->actions);
        done += chunk;
    }
}

int ddqn_act(ddqn *a, rng *r, const uint8_t *obs)
{
    int action;
    if (rng_uniform(r) < a->epsilon) {
        action = (int)rng_below(r, (uint32_t)a->actions);
    } else {
        int32_t g;
        ddqn_act_greedy(a, obs, 1, &g);
        action = g;
    }
    a->epsilon *= a->cfg.eps_decay;
    if (a->epsilon < a->cfg.eps_min)
        a->epsilon = a->cfg.eps_min;
    a->step++;
    return action;
}

float ddqn_compute_grad(ddqn *a, const replay_batch *b, int n)
{
    const int A = a->actions;
    const size_t ob = (size_t)a->obs_bytes;
    if (n > a->cfg.batch_size)
        n = a->cfg.batch_size;
    if (n < 1) { /* an empty batch has no loss: a zero gradient, so a following step is harmless */
        nn_zero_grad(&a->online);
        return a->last_loss = 0.0f;
    }
    /* Q_online(s') picks the actions; Q_target(s') values them (Double DQN). */
    const float *q;
    int fused = b->next_states == b->states + (size_t)n * ob;
    if (fused) {
        /* s then s' in one forward: the first n rows of every activation are s's, which is
         * all the backward below reads. Done last, so nothing overwrites them. */
        q = nn_forward(&a->target, &a->work, b->next_states, n);
        float *qt = a->dq; /* park the target's Q values: dq is rewritten below */
        memcpy(qt, q, sizeof(float) * (size_t)n * A);
        q = nn_forward(&a->online, &a->work, b->states, 2 * n);
        for (int i = 0; i < n; i++) {
            a->best_next[i] = argmax(q + (size_t)(n + i) * A, A);
            a->td_target[i] = qt[(size_t)i * A + a->best_next[i]];
        }
    } else {
        q = nn_forward(&a->online, &a->work, b->next_states, n);
        for (int i = 0; i < n; i++)
            a->best_next[i] = argmax(q + (size_t)i * A, A);
        q = nn_forward(&a->target, &a->work, b->next_states, n);
        for (int i = 0; i < n; i++)
            a->td_target[i] = q[(size_t)i * A + a->best_next[i]];
        q = nn_forward(&a->online, &a->work, b->states, n);
    }
    double qsum = 0;
    for (int i = 0; i < n; i++) {
        a->td_target[i] = b->rewards[i] + (1.0f - b->dones[i]) * a->cfg.gamma * a->td_target[i];
        a->q_estimate[i] = q[(size_t)i * A + b->actions[i]];
        qsum += a->q_estimate[i];
    }
    float loss = a->cfg.loss == DDQN_LOSS_MSE
                     ? nn_mse_loss(a->dqa, a->q_estimate, a->td_target, n)
                     : nn_huber_loss(a->dqa, a->q_estimate, a->td_target, n, 1.0f);
    memset(a->dq, 0, sizeof(float) * (size_t)n * A);
    for (int i = 0; i < n; i++)
        a->dq[(size_t)i * A + b->actions[i]] = a->dqa[i];
    nn_zero_grad(&a->online);
    nn_backward_batch(&a->online, &a->work, a->dq, n);
    a->last_loss = loss;
    a->last_q_mean = (float)(qsum / n);
    return loss;
}

void ddqn_apply_grad(ddqn *a)
{
    nn_adam_step_threads(&a->cfg.adam, a->online.params, a->online.grads, a->adam_m, a->adam_v,
                         &a->adam_step, a->online.num_params, a->cfg.threads);
}

float ddqn_update(ddqn *a, const replay_batch *b, int n)
{
    float loss = ddqn_compute_grad(a, b, n);
    ddqn_apply_grad(a);
    return loss;
}

void ddqn_sync_target(ddqn *a) { nn_copy_params(&a->target, &a->online); }

int ddqn_learn(ddqn *a, replay *mem, rng *r, char *err, size_t errlen)
{
    if (a->step % a->cfg.sync_every == 0)
        ddqn_sync_target(a);
    if (a->step < a->cfg.burnin || a->step % a->cfg.learn_every != 0)
        return 0;
    if (replay_sample(mem, r, a->cfg.batch_size, &a->batch) < 0)
        return set_err(err, errlen, "the replay memory holds no transition to sample");
    ddqn_update(a, &a->batch, a->cfg.batch_size);
    return 1;
}
