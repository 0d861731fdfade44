/* worker.c: one DQN training worker process: its env, its replay memory, a local online and
 * target net; acts epsilon-greedily, learns every --learn-every of its steps after its
 * burn-in, pushes each gradient into the shared model, pulls the shared parameters every
 * --sync-every steps, publishes finished episodes. See train.h for the scheme. Also what
 * the PPO worker (worker_ppo.c) shares with it: process set-up, seeds, publishing. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "smbrl/agent.h"
#include "smbrl/replay.h"
#include "train/train_internal.h"

double train_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int train_stopping(const train_shared *sh, const train_args *a)
{
    if (__atomic_load_n(&sh->stop, __ATOMIC_RELAXED))
        return 1;
    return a->max_steps > 0 && __atomic_load_n(&sh->steps, __ATOMIC_RELAXED) >= a->max_steps;
}

static void pull(train_shared *sh, ddqn *ag)
{
    train_lock(sh);
    memcpy(ag->online.params, sh->params, sizeof(float) * sh->num_params);
    train_unlock(sh);
}

static void add_time(double *acc, double dt) { train_store_d(acc, *acc + dt); }

int train_publish(train_shared *sh, const train_args *a, int w, double ret, int len,
                  const env_info *in)
{
    int counted = 0;
    train_lock(sh);
    if (sh->episodes < a->episodes) {
        counted = 1;
        sh->episodes++;
        if (in->flag_get)
            sh->flags++;
        train_episode *e = &sh->ring[sh->ring_head % TRAIN_RING];
        e->step = __atomic_load_n(&sh->steps, __ATOMIC_RELAXED);
        e->index = sh->episodes;
        e->wall_time = wall_now();
        e->worker = w;
        e->length = len;
        e->x_pos = in->x_pos;
        e->flag = in->flag_get;
        e->ret = (float)ret;
        sh->ring_head++;
    }
    train_unlock(sh);
    return counted;
}

int train_worker_enter(const train_worker_ctx *c)
{
    /* Die with the supervisor; a terminal's Ctrl-C is the supervisor's to handle. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != c->supervisor)
        return -1;
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    nn_set_threads(c->args->threads_per_process);
    return 0;
}

uint64_t train_worker_seed(const train_worker_ctx *c)
{
    return c->args->seed * 0x9E3779B97F4A7C15ull + (uint64_t)c->index * 1000003u +
           (uint64_t)c->generation * 7919u + 1;
}

int train_worker_main(const train_worker_ctx *c)
{
    if (train_is_ppo(c->args))
        return train_worker_ppo_main(c);
    const train_args *a = c->args;
    train_shared *sh = c->sh;
    train_slot *slot = &sh->slot[c->index];
    if (train_worker_enter(c) < 0)
        return 1;

    char err[256] = "";
    uint64_t seed = train_worker_seed(c);
    rng r;
    rng_seed(&r, seed);
    env *e = NULL;
    ddqn *ag = NULL;
    replay *mem = NULL;
    int rc = 1, rendering = 0;
    uint8_t *obs = NULL;
    if (env_create_on(&e, c->base, seed, err, sizeof err) < 0)
        goto out;
    ddqn_config dc;
    ddqn_config_default(&dc);
    dc.batch_size = a->batch_size;
    dc.max_act_batch = 1;
    dc.threads = 1;
    dc.gamma = (float)a->gamma;
    dc.burnin = a->burnin;
    dc.learn_every = a->learn_every;
    dc.sync_every = a->target_sync_every;
    dc.eps_decay = a->eps_decay;
    dc.eps_min = a->eps_min;
    dc.adam.lr = (float)a->lr;
    ag = ddqn_create(&dc, &c->spec, &r, err, sizeof err);
    if (!ag)
        goto out;
    replay_config rc_cfg = {.capacity = (size_t)a->memory_size, .stack = c->obs_c,
                            .height = c->obs_h, .width = c->obs_w, .num_streams = 1};
    const size_t frame = (size_t)c->obs_h * (size_t)c->obs_w, last = (size_t)(c->obs_c - 1) * frame;
    mem = replay_create(&rc_cfg, err, sizeof err);
    if (!mem)
        goto out;
    if (slot->has_state) {
        ag->epsilon = slot->epsilon;
        memcpy(r.s, slot->rng, sizeof r.s);
    } else {
        slot->epsilon = ag->epsilon;
    }
    int64_t own = 0; /* steps since this process started: burn-in and schedules */
    if (c->replay_from) {
        /* a resumed memory: its transitions count towards this process's burn-in */
        if (replay_load(mem, c->replay_from, err, sizeof err) < 0)
            goto out;
        own = (int64_t)replay_size(mem);
        __atomic_store_n(&slot->replay_loaded, own, __ATOMIC_RELAXED);
    }
    pull(sh, ag);
    ddqn_sync_target(ag);
    if (a->render && c->index == 0 && c->hooks && c->hooks->render_open)
        rendering = c->hooks->render_open(c->hooks->user, err, sizeof err) == 0;

    obs = malloc((size_t)c->obs_c * frame);
    if (!obs) {
        snprintf(err, sizeof err, "out of memory");
        goto out;
    }
    env_info info;
    if (env_reset(e, obs, &info) < 0)
        goto out;
    int score = info.score;
    replay_begin_episode(mem, 0, obs + last);
    double ret = 0;
    int len = 0;
    const int64_t own0 = own;
    double t_prev = train_now();
    while (!train_stopping(sh, a)) {
        double t0 = train_now();
        int act = ddqn_act(ag, &r, obs);
        double t1 = train_now();
        float rew;
        int done;
        if (env_step(e, act, obs, &rew, &done, &info, err, sizeof err) < 0)
            goto out;
        double t2 = train_now();
        ret += rew;
        rew = train_reward(a, rew, info.score - score, done, info.flag_get);
        score = info.score;
        replay_add(mem, 0, act, rew, done, obs + last);
        len++;
        own++;
        __atomic_add_fetch(&sh->steps, 1, __ATOMIC_RELAXED);
        __atomic_store_n(&slot->steps, slot->steps + 1, __ATOMIC_RELAXED);
        if ((own - own0) % a->target_sync_every == 0)
            ddqn_sync_target(ag);
        if (own >= a->burnin && own % a->learn_every == 0 &&
            replay_size(mem) >= (size_t)a->batch_size) {
            replay_sample(mem, &r, a->batch_size, &ag->batch);
            ddqn_compute_grad(ag, &ag->batch, a->batch_size);
            ddqn_apply_grad(ag);
            train_lock(sh);
            nn_adam_step(&dc.adam, sh->params, ag->online.grads, sh->m, sh->v, &sh->adam_step,
                         sh->num_params);
            train_unlock(sh);
            __atomic_store_n(&slot->pushes, slot->pushes + 1, __ATOMIC_RELAXED);
            train_store_d(&slot->loss_sum, slot->loss_sum + ag->last_loss);
            train_store_d(&slot->q_sum, slot->q_sum + ag->last_q_mean);
        }
        double t3 = train_now();
        if ((own - own0) % a->sync_every == 0)
            pull(sh, ag);
        double t4 = train_now();
        /* epsilon and rng after every step, so a restart or checkpoint continues them */
        memcpy(slot->rng, r.s, sizeof r.s);
        train_store_d(&slot->epsilon, ag->epsilon);
        slot->has_state = 1;
        if (rendering)
            c->hooks->render_frame(c->hooks->user, e);
        if (done) {
            if (!train_publish(sh, a, c->index, ret, len, &info))
                break;
            ret = 0;
            len = 0;
            if (env_reset(e, obs, &info) < 0)
                goto out;
            score = info.score;
            replay_begin_episode(mem, 0, obs + last);
        }
        double t5 = train_now();
        add_time(&slot->act_s, t1 - t0);
        add_time(&slot->env_s, t2 - t1);
        add_time(&slot->learn_s, t3 - t2);
        add_time(&slot->sync_s, t4 - t3);
        add_time(&slot->other_s, (t5 - t4) + (t0 - t_prev));
        t_prev = t5;
    }
    if (a->save_replay) {
        char path[1200];
        train_replay_path(path, sizeof path, c->run_dir, -1, c->index);
        if (replay_save(mem, path, err, sizeof err) < 0)
            goto out;
        slot->replay_saved = 1;
    }
    rc = 0;
out:
    if (rc)
        snprintf(slot->error, sizeof slot->error, "%s", err);
    if (rendering && c->hooks->render_close)
        c->hooks->render_close(c->hooks->user);
    free(obs);
    replay_free(mem);
    ddqn_free(ag);
    env_free(e);
    return rc;
}
