/* vecenv.c: owns batched stepping: n envs on one shared base writing into one
 * contiguous [n,4,84,84] (or [n,4,13,16] tile) observation slab plus reward/done/info arrays, with
 * auto-reset, optionally spread over a persistent pthread pool.
 *
 * Env i always gets the same seed and the same slot, and envs share nothing
 * mutable, so results do not depend on the batch size or the thread count.
 * Worker t owns the contiguous range [t*n/T, (t+1)*n/T) (the caller is worker
 * 0) and runs it first; then it takes envs not yet claimed from the others'
 * ranges, from their ends, so that a worker whose envs had short steps helps
 * one whose had long ones (a death's hidden frames, a reset). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env_internal.h"

enum { JOB_NONE = 0, JOB_STEP, JOB_RESET };

struct vecenv;

typedef struct worker {
    struct vecenv *v;
    int index;
    int rc;
    char err[160];
    pthread_t tid;
} worker;

struct vecenv {
    env_base *base;
    int n, threads;
    size_t obs_size; /* per env */
    env **envs;
    uint8_t *obs;
    float *rewards;
    uint8_t *dones;
    env_info *infos;
    worker *workers;
    /* pool: a job is published by bumping gen; workers report through pending */
    pthread_mutex_t mu;
    pthread_cond_t start, finished;
    int gen, pending, stop, job, started_threads;
    const int *actions;
    _Atomic unsigned char *claimed; /* per env: taken by a worker in this job */
};

/* Seeds of env i differ by a large odd constant; rng_seed mixes them through splitmix64. */
static uint64_t env_seed(uint64_t seed, int i) { return seed + 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1); }

/* Runs the job on env i unless another worker has claimed it. */
static void run_env(vecenv *v, worker *w, int i)
{
    if (atomic_exchange_explicit(&v->claimed[i], 1, memory_order_acq_rel))
        return;
    uint8_t *obs = v->obs + (size_t)i * v->obs_size;
    int rc;
    if (v->job == JOB_RESET) {
        rc = env_reset(v->envs[i], obs, &v->infos[i]);
        v->rewards[i] = 0.0f;
        v->dones[i] = 0;
    } else {
        int d = 0;
        rc = env_step(v->envs[i], v->actions[i], obs, &v->rewards[i], &d, &v->infos[i], w->err,
                      sizeof w->err);
        v->dones[i] = (uint8_t)d;
        if (rc == 0 && d)
            rc = env_reset(v->envs[i], obs, NULL); /* infos[i] keeps the ended episode's */
    }
    if (rc < 0 && w->rc == 0) {
        w->rc = rc;
        if (v->job == JOB_RESET)
            snprintf(w->err, sizeof w->err, "env %d: reset failed", i);
    }
}

static void run_range(vecenv *v, worker *w)
{
    w->rc = 0;
    int lo = (int)((long long)w->index * v->n / v->threads);
    int hi = (int)((long long)(w->index + 1) * v->n / v->threads);
    for (int i = lo; i < hi; i++)
        run_env(v, w, i);
    for (int k = 1; k < v->threads; k++) {
        int t = (w->index + k) % v->threads;
        int tlo = (int)((long long)t * v->n / v->threads), thi = (int)((long long)(t + 1) * v->n / v->threads);
        for (int i = thi - 1; i >= tlo; i--)
            run_env(v, w, i);
    }
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    vecenv *v = w->v;
    int seen = 0;
    for (;;) {
        pthread_mutex_lock(&v->mu);
        while (v->gen == seen && !v->stop)
            pthread_cond_wait(&v->start, &v->mu);
        if (v->stop) {
            pthread_mutex_unlock(&v->mu);
            return NULL;
        }
        seen = v->gen;
        pthread_mutex_unlock(&v->mu);
        run_range(v, w);
        pthread_mutex_lock(&v->mu);
        if (--v->pending == 0)
            pthread_cond_signal(&v->finished);
        pthread_mutex_unlock(&v->mu);
    }
}

static int run_job(vecenv *v, int job, char *err, size_t errlen)
{
    v->job = job;
    for (int i = 0; i < v->n; i++) /* published to the pool by the mutex below */
        atomic_store_explicit(&v->claimed[i], 0, memory_order_relaxed);
    if (v->threads > 1) {
        pthread_mutex_lock(&v->mu);
        v->pending = v->threads - 1;
        v->gen++;
        pthread_cond_broadcast(&v->start);
        pthread_mutex_unlock(&v->mu);
    }
    run_range(v, &v->workers[0]);
    if (v->threads > 1) {
        pthread_mutex_lock(&v->mu);
        while (v->pending > 0)
            pthread_cond_wait(&v->finished, &v->mu);
        pthread_mutex_unlock(&v->mu);
    }
    for (int t = 0; t < v->threads; t++)
        if (v->workers[t].rc < 0) {
            snprintf(err, errlen, "%s", v->workers[t].err);
            return v->workers[t].rc;
        }
    return 0;
}

void vecenv_free(vecenv *v)
{
    if (!v)
        return;
    if (v->started_threads > 0) {
        pthread_mutex_lock(&v->mu);
        v->stop = 1;
        pthread_cond_broadcast(&v->start);
        pthread_mutex_unlock(&v->mu);
        for (int t = 1; t <= v->started_threads; t++)
            pthread_join(v->workers[t].tid, NULL);
    }
    if (v->envs)
        for (int i = 0; i < v->n; i++)
            env_free(v->envs[i]);
    free(v->envs);
    free(v->obs);
    free(v->rewards);
    free(v->dones);
    free(v->infos);
    free((void *)v->claimed);
    free(v->workers);
    pthread_mutex_destroy(&v->mu);
    pthread_cond_destroy(&v->start);
    pthread_cond_destroy(&v->finished);
    env_base_free(v->base);
    free(v);
}

int vecenv_create(vecenv **out, const env_config *cfg, const char *rom_path, int n, int threads,
                  char *err, size_t errlen)
{
    *out = NULL;
    if (n < 1 || threads < 1) {
        snprintf(err, errlen, "need at least one env and one thread (got %d, %d)", n, threads);
        return -1;
    }
    if (threads > n)
        threads = n;
    vecenv *v = calloc(1, sizeof *v);
    if (!v) {
        snprintf(err, errlen, "out of memory");
        return -3;
    }
    pthread_mutex_init(&v->mu, NULL);
    pthread_cond_init(&v->start, NULL);
    pthread_cond_init(&v->finished, NULL);
    v->n = n;
    v->threads = threads;
    int rc = env_base_create(&v->base, cfg, rom_path, err, errlen);
    if (rc < 0) {
        vecenv_free(v);
        return rc;
    }
    v->obs_size = env_obs_size(v->base);
    v->envs = calloc((size_t)n, sizeof *v->envs);
    v->obs = calloc((size_t)n, v->obs_size);
    v->rewards = calloc((size_t)n, sizeof *v->rewards);
    v->dones = calloc((size_t)n, 1);
    v->infos = calloc((size_t)n, sizeof *v->infos);
    v->workers = calloc((size_t)threads, sizeof *v->workers);
    v->claimed = calloc((size_t)n, sizeof *v->claimed);
    if (!v->envs || !v->obs || !v->rewards || !v->dones || !v->infos || !v->workers || !v->claimed) {
        snprintf(err, errlen, "out of memory");
        vecenv_free(v);
        return -3;
    }
    uint64_t seed = cfg ? cfg->seed : 0;
    for (int i = 0; i < n; i++) {
        rc = env_create_on(&v->envs[i], v->base, env_seed(seed, i), err, errlen);
        if (rc < 0) {
            vecenv_free(v);
            return rc;
        }
    }
    for (int t = 0; t < threads; t++) {
        v->workers[t].v = v;
        v->workers[t].index = t;
    }
    for (int t = 1; t < threads; t++) {
        if (pthread_create(&v->workers[t].tid, NULL, worker_main, &v->workers[t]) != 0) {
            snprintf(err, errlen, "cannot start worker thread %d", t);
            vecenv_free(v);
            return -1;
        }
        v->started_threads = t;
    }
    *out = v;
    return 0;
}

int vecenv_num(const vecenv *v) { return v->n; }
int vecenv_num_actions(const vecenv *v) { return v->base->actions->n; }
uint8_t *vecenv_obs(vecenv *v) { return v->obs; }
size_t vecenv_obs_size(const vecenv *v) { return v->obs_size; }
const float *vecenv_rewards(const vecenv *v) { return v->rewards; }
const uint8_t *vecenv_dones(const vecenv *v) { return v->dones; }
const env_info *vecenv_infos(const vecenv *v) { return v->infos; }
env *vecenv_env(vecenv *v, int i) { return v->envs[i]; }

int vecenv_reset(vecenv *v, char *err, size_t errlen) { return run_job(v, JOB_RESET, err, errlen); }

int vecenv_step(vecenv *v, const int *actions, char *err, size_t errlen)
{
    int na = v->base->actions->n;
    for (int i = 0; i < v->n; i++)
        if (actions[i] < 0 || actions[i] >= na) {
            snprintf(err, errlen, "env %d: action %d is out of range 0..%d", i, actions[i], na - 1);
            return -1;
        }
    v->actions = actions;
    return run_job(v, JOB_STEP, err, errlen);
}
