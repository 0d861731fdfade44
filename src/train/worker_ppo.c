/* worker_ppo.c: one PPO training worker process: --envs-per-process envs, a local
 * actor-critic; collects a rollout with the local copy, computes GAE, then pushes every
 * minibatch gradient into the shared model and pulls the shared parameters after each push.
 * See train.h for the scheme. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smbrl/ppo.h"
#include "train/train_internal.h"

static void add_time(double *acc, double dt) { train_store_d(acc, *acc + dt); }

/* One minibatch gradient into the shared model, then the shared parameters back into the
 * local copy: with one worker, the local model follows exactly the optimizer's steps. */
static void push_pull(train_shared *sh, ppo *p)
{
    train_lock(sh);
    nn_adam_step(&p->adam, sh->params, p->model.grads, sh->m, sh->v, &sh->adam_step,
                 sh->num_params);
    memcpy(p->model.params, sh->params, sizeof(float) * sh->num_params);
    train_unlock(sh);
}

int train_worker_ppo_main(const train_worker_ctx *c)
{
    const train_args *a = c->args;
    train_shared *sh = c->sh;
    train_slot *slot = &sh->slot[c->index];
    if (train_worker_enter(c) < 0)
        return 1;

    char err[256] = "";
    const uint64_t seed = train_worker_seed(c);
    const int N = a->envs_per_process, T = a->ppo_steps;
    const size_t O = (size_t)c->obs_c * (size_t)c->obs_h * (size_t)c->obs_w;
    rng r;
    rng_seed(&r, seed);
    env *envs[TRAIN_MAX_ENVS];
    memset(envs, 0, sizeof envs);
    ppo *p = NULL;
    ppo_rollout ro;
    memset(&ro, 0, sizeof ro);
    uint8_t *cur = NULL;
    int32_t *actions = NULL;
    double *ret = NULL;
    int *len = NULL, *score = NULL;
    int rc = 1, rendering = 0;

    ppo_config pc;
    ppo_config_default(&pc);
    pc.steps = T;
    pc.envs = N;
    pc.epochs = a->ppo_epochs;
    pc.minibatches = a->ppo_minibatches;
    pc.gamma = (float)a->gamma;
    pc.lambda = (float)a->gae_lambda;
    pc.clip = (float)a->clip;
    pc.ent_coef = (float)a->ent_coef;
    pc.vf_coef = (float)a->vf_coef;
    pc.value_clip = (float)a->value_clip;
    pc.norm_adv = a->norm_adv;
    pc.adam.lr = (float)a->lr;
    pc.adam.max_grad_norm = (float)a->max_grad_norm;
    /* The linear schedule runs over the updates the whole run makes: one per rollout of
     * T x N global steps, whichever worker makes it. */
    if (!strcmp(a->lr_schedule, "linear")) {
        pc.lr_schedule = PPO_LR_LINEAR;
        int64_t per = (int64_t)T * N;
        pc.total_updates = a->max_steps > 0 ? (a->max_steps + per - 1) / per : 1;
    }
    p = ppo_create(&pc, &c->spec, &r, err, sizeof err);
    if (!p)
        goto out;
    if ((size_t)p->obs_size != O) {
        snprintf(err, sizeof err, "the network takes %d bytes, the env gives %zu", p->obs_size, O);
        goto out;
    }
    if (ppo_rollout_init(&ro, T, N, (int)O, err, sizeof err) < 0)
        goto out;
    cur = malloc((size_t)N * O);
    actions = calloc((size_t)N, sizeof *actions);
    ret = calloc((size_t)N, sizeof *ret);
    len = calloc((size_t)N, sizeof *len);
    score = calloc((size_t)N, sizeof *score);
    if (!cur || !actions || !ret || !len || !score) {
        snprintf(err, sizeof err, "out of memory");
        goto out;
    }
    if (slot->has_state)
        memcpy(r.s, slot->rng, sizeof r.s);
    slot->epsilon = 0; /* no epsilon in PPO; the state file keeps the field */
    for (int n = 0; n < N; n++) {
        env_info info;
        if (env_create_on(&envs[n], c->base, seed * 131u + (uint64_t)n, err, sizeof err) < 0 ||
            env_reset(envs[n], cur + (size_t)n * O, &info) < 0)
            goto out;
        score[n] = info.score;
    }
    train_lock(sh);
    memcpy(p->model.params, sh->params, sizeof(float) * sh->num_params);
    train_unlock(sh);
    if (a->render && c->index == 0 && c->hooks && c->hooks->render_open)
        rendering = c->hooks->render_open(c->hooks->user, err, sizeof err) == 0;

    const int64_t per_update = (int64_t)pc.epochs * pc.minibatches;
    const int64_t TN = (int64_t)T * N;
    int finished = 0;
    while (!finished && !train_stopping(sh, a)) {
        /* ---- rollout ---- */
        int t;
        for (t = 0; t < T; t++) {
            /* checked before a step, so a rollout that ends exactly at --max-steps is learned from */
            if (finished || (t > 0 && train_stopping(sh, a)))
                break;
            double t0 = train_now();
            uint8_t *o = ro.obs + (size_t)t * N * O;
            memcpy(o, cur, (size_t)N * O);
            ppo_act(p, &r, o, N, actions, ro.logp + (size_t)t * N, ro.values + (size_t)t * N);
            double t1 = train_now();
            for (int n = 0; n < N; n++) {
                float rew;
                int done;
                env_info info;
                if (env_step(envs[n], actions[n], cur + (size_t)n * O, &rew, &done, &info, err,
                             sizeof err) < 0)
                    goto out;
                ro.actions[(size_t)t * N + n] = actions[n];
                ret[n] += rew;
                len[n]++;
                ro.rewards[(size_t)t * N + n] = train_reward(a, rew, info.score - score[n], done, info.flag_get);
                ro.dones[(size_t)t * N + n] = (float)done;
                score[n] = info.score;
                if (rendering && n == 0)
                    c->hooks->render_frame(c->hooks->user, envs[0]);
                if (done) {
                    if (!train_publish(sh, a, c->index, ret[n], len[n], &info))
                        finished = 1;
                    ret[n] = 0;
                    len[n] = 0;
                    if (env_reset(envs[n], cur + (size_t)n * O, &info) < 0)
                        goto out;
                    score[n] = info.score;
                }
            }
            __atomic_add_fetch(&sh->steps, (int64_t)N, __ATOMIC_RELAXED);
            __atomic_store_n(&slot->steps, slot->steps + N, __ATOMIC_RELAXED);
            memcpy(slot->rng, r.s, sizeof r.s);
            slot->has_state = 1;
            double t2 = train_now();
            add_time(&slot->act_s, t1 - t0);
            add_time(&slot->env_s, t2 - t1);
        }
        if (t < T)
            break; /* a cut rollout is not learned from: the run is over */

        /* ---- update ---- */
        double t3 = train_now();
        ppo_value(p, cur, N, ro.last_values);
        ppo_compute_advantages(p, &ro);
        /* the global update number: rollouts learned from so far over all workers */
        p->adam.lr = ppo_scheduled_lr(&pc, __atomic_load_n(&sh->adam_step, __ATOMIC_RELAXED) / per_update);
        train_store_d(&slot->lr, p->adam.lr);
        double sync = 0;
        for (int e = 0; e < pc.epochs && !__atomic_load_n(&sh->interrupted, __ATOMIC_RELAXED); e++) {
            for (int64_t i = 0; i < TN; i++)
                p->perm[i] = (int32_t)i;
            for (int64_t i = TN - 1; i > 0; i--) {
                const int64_t j = rng_below(&r, (uint32_t)(i + 1));
                const int32_t tmp = p->perm[i];
                p->perm[i] = p->perm[j], p->perm[j] = tmp;
            }
            /* Ctrl-C does not wait for the rest of a long update (the end of the run does) */
            for (int64_t j = 0; j < pc.minibatches && !__atomic_load_n(&sh->interrupted, __ATOMIC_RELAXED); j++) {
                const int64_t from = j * TN / pc.minibatches, to = (j + 1) * TN / pc.minibatches;
                ppo_batch b;
                ppo_stats st;
                ppo_gather(p, &ro, p->perm + from, (int)(to - from), &b);
                ppo_compute_grad(p, &b, (int)(to - from), &st);
                double s0 = train_now();
                push_pull(sh, p);
                sync += train_now() - s0;
                __atomic_store_n(&slot->pushes, slot->pushes + 1, __ATOMIC_RELAXED);
                const float v[5] = {st.policy_loss, st.value_loss, st.entropy, st.approx_kl, st.clip_frac};
                for (int k = 0; k < 5; k++)
                    train_store_d(&slot->ppo_sum[k], slot->ppo_sum[k] + v[k]);
                train_store_d(&slot->loss_sum, slot->loss_sum + st.loss);
            }
        }
        p->updates++;
        memcpy(slot->rng, r.s, sizeof r.s);
        double t4 = train_now();
        add_time(&slot->learn_s, t4 - t3 - sync);
        add_time(&slot->sync_s, sync);
    }
    rc = 0;
out:
    if (rc)
        snprintf(slot->error, sizeof slot->error, "%s", err);
    if (rendering && c->hooks->render_close)
        c->hooks->render_close(c->hooks->user);
    for (int n = 0; n < TRAIN_MAX_ENVS; n++)
        env_free(envs[n]);
    free(cur), free(actions), free(ret), free(len), free(score);
    ppo_rollout_free(&ro);
    ppo_free(p);
    return rc;
}
