/* train_internal.h: the shared-memory layout of a training run and what the supervisor,
 * the workers and the state files say to each other. Not a public API. */
#ifndef SMBRL_TRAIN_INTERNAL_H
#define SMBRL_TRAIN_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "smbrl/env.h"
#include "smbrl/nn.h"
#include "smbrl/rng.h"
#include "smbrl/train.h"

/* Finished episodes the workers publish and the supervisor drains (a ring: the supervisor
 * reads every 0.1 s, so it never falls this far behind in practice; if it did, the oldest
 * records would only be missing from the logs, the counters stay exact). */
#define TRAIN_RING 4096

typedef struct train_episode {
    int64_t step;      /* global step at the episode's end */
    int64_t index;     /* 1-based episode number over the run */
    double wall_time;
    int32_t worker, length, x_pos, flag;
    float ret;
} train_episode;

/* One per worker index; written by that worker only (except at start-up and restart),
 * read by the supervisor with relaxed atomics (figures for logs, not control). */
typedef struct train_slot {
    int64_t steps;        /* this index's steps over all its restarts (and resumes) */
    int64_t pushes;       /* gradients pushed into the shared model */
    int64_t restarts;
    double epsilon;
    uint64_t rng[4];
    int has_state;        /* epsilon and rng hold a worker's state (else: fresh start) */
    int32_t pid;
    double loss_sum, q_sum; /* over pushes, for interval means */
    /* PPO, summed over pushes (minibatches): policy loss, value loss, entropy, approx KL,
     * clip fraction; and the lr of the last push */
    double ppo_sum[5];
    double lr;
    double env_s, act_s, learn_s, sync_s, other_s;
    char error[256];      /* why the worker's last process failed, if it could say */
    int replay_saved;     /* --save-replay: this worker wrote its memory at its clean end */
    int64_t replay_loaded; /* transitions its process loaded from a resumed run's memory */
} train_slot;

typedef struct train_shared {
    pthread_mutex_t lock; /* robust, process-shared: guards params, m, v, adam_step, episodes, ring */
    int64_t steps;        /* global agent steps (atomic) */
    int64_t episodes;     /* finished episodes (under lock) */
    int64_t flags;        /* episodes that reached the flag (under lock) */
    int64_t adam_step;
    int64_t lock_recoveries;
    int stop;             /* set by the supervisor (atomic) */
    int interrupted;      /* SIGINT/SIGTERM (atomic): PPO cuts its update short */
    int64_t ring_head;    /* episodes written into ring (under lock) */
    train_episode ring[TRAIN_RING];
    train_slot slot[TRAIN_MAX_WORKERS];
    size_t num_params;
    float *params, *m, *v; /* point into this mapping, after the struct */
} train_shared;

/* Relaxed atomic access to shared doubles (figures one process writes, another reads). */
static inline double train_load_d(const double *p)
{
    double v;
    __atomic_load(p, &v, __ATOMIC_RELAXED);
    return v;
}
static inline void train_store_d(double *p, double v) { __atomic_store(p, &v, __ATOMIC_RELAXED); }

int train_shared_create(train_shared **out, size_t num_params, char *err, size_t errlen);
void train_shared_free(train_shared *s);
/* Locks; recovers the mutex when its owner died. */
void train_lock(train_shared *s);
void train_unlock(train_shared *s);

/* What a worker process needs: all of it inherited over fork(). */
typedef struct train_worker_ctx {
    const train_args *args;
    const train_hooks *hooks;
    const env_base *base;
    train_shared *sh;
    nn_spec spec;
    int obs_c, obs_h, obs_w;  /* observation shape of the base's envs */
    int index;
    int generation;       /* restarts of this index, for seeding */
    const char *run_dir;
    const char *replay_from; /* a replay memory file to start from (resume), or NULL */
    pid_t supervisor;
} train_worker_ctx;

/* Runs a worker to the end (stop flag, episodes, max steps) and returns the exit status
 * for _exit: 0 after a clean stop, 1 on an error. */
int train_worker_main(const train_worker_ctx *c);
/* The PPO worker (worker_ppo.c); train_worker_main runs it for --algo ppo. */
int train_worker_ppo_main(const train_worker_ctx *c);

/* Shared by both workers (worker.c). */
int train_stopping(const train_shared *sh, const train_args *a);
/* Publishes a finished episode (ret: the env's own return); returns 0 when the run's
 * episode budget was already used up (the episode does not count and the worker stops). */
int train_publish(train_shared *sh, const train_args *a, int w, double ret, int len,
                  const env_info *in);
/* The worker's seed for its RNG and envs: from --seed, the index and the restart count. */
uint64_t train_worker_seed(const train_worker_ctx *c);
/* Process set-up every worker does first: die with the supervisor, leave Ctrl-C to it,
 * BLAS threads. Returns -1 when the supervisor is already gone. */
int train_worker_enter(const train_worker_ctx *c);
double train_now(void);

/* The reward a worker learns from (--reward): the env's, or uvipen's shaping of it.
 * score_delta: the score change over the step; flag: the flag was reached. */
float train_reward(const train_args *a, float reward, int score_delta, int done, int flag);

/* Training state (state_<step>.safetensors): everything --resume needs. */
typedef struct train_state {
    int64_t step, episodes, flags, adam_step, restarts, updates;
    double elapsed;         /* training seconds before this run */
    double best_mean;       /* best mean return of the last 100 episodes (-inf before any) */
    int n_workers;
    train_slot slot[TRAIN_MAX_WORKERS]; /* steps, pushes, restarts, epsilon, rng */
    int replay_workers;     /* replay_<step>_w<i>.bin files for workers 0..n-1 go with it */
    int n_recent;           /* last (up to 100) episodes, oldest first */
    float recent_ret[100], recent_x[100];
    float *params, *m, *v;  /* num_params each */
    size_t num_params;
} train_state;

/* <run_dir>/replay_<step>_w<index>.bin (step < 0: replay_w<index>.bin, a worker's own). */
void train_replay_path(char *out, size_t n, const char *dir, int64_t step, int index);

int train_state_save(const char *path, const train_state *st, const train_args *a,
                     const nn_model *layout, char *err, size_t errlen);
/* Loads into st; params, m, v must point at layout->num_params floats each. */
int train_state_load(const char *path, train_state *st, train_args *a, const nn_model *layout,
                     char *err, size_t errlen);

#endif
