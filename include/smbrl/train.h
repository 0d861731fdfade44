/* train.h: parallel Double-DQN training (`smbrl train`): worker processes that act, learn
 * from their own replay memory and push every gradient into one shared model, and a
 * supervisor that restarts crashed workers, checkpoints, logs and stops cleanly.
 *
 * Shared model: parameters, Adam moments and global counters live in one anonymous
 * MAP_SHARED mapping made before fork(), guarded by a process-shared ROBUST mutex (a
 * worker killed while holding it does not wedge the others: the next locker gets
 * EOWNERDEAD and marks it consistent; the update it was making may be half applied,
 * which one Adam step of noise tolerates).
 *
 * A worker keeps a local online net and a target net. Every --learn-every of its own steps
 * once it has taken --burnin steps of its own since it (re)started (its memory is its own, so
 * burn-in fills that memory; a restarted or resumed worker burns in again) it computes one
 * gradient, applies it to its local copy with its own Adam, and applies the same gradient to
 * the shared model with the shared Adam moments under the lock. It copies the shared
 * parameters into its local copy every --sync-every of its steps, and its online net into its
 * target every --target-sync-every of its steps. Epsilon decays per worker, per action, as in
 * the tutorial; each worker's epsilon and RNG live in the shared slots so that restarts and
 * resumes continue them.
 *
 * Signals: train_run blocks SIGINT, SIGTERM and SIGCHLD in the calling process and waits on
 * them. The first SIGINT/SIGTERM stops the workers and writes a final checkpoint; it also
 * restores the default action, so a second one ends the process at once (every file write
 * is atomic, so nothing is left half written). Workers ignore SIGINT (a terminal's Ctrl-C
 * reaches the whole process group) and die with the supervisor (PR_SET_PDEATHSIG). */
#ifndef SMBRL_TRAIN_H
#define SMBRL_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "smbrl/env.h"
#include "smbrl/nn.h"

#define TRAIN_MAX_WORKERS 64
#define TRAIN_STATE_FORMAT "smbrl-train-state-1"

typedef struct train_args {
    char rom[1024];          /* ROM file or folder searched by SHA-1 */
    char task[64];           /* SuperMarioBros-1-1-v0 */
    char actions[32];        /* tutorial: [["right"], ["right", "A"]] as in the seed */
    char run_dir[1024];      /* checkpoints/<UTC timestamp> */
    char resume[1024];       /* run dir or state/model file to continue; "" for a new run */
    int num_processes;       /* 4 */
    int batch_size;          /* 64 */
    int render;              /* show worker 0's game (needs the render hooks) */
    int learn_every;         /* 3 */
    int frame_skip;          /* 4 */
    int threads_per_process; /* BLAS threads per worker, 1 */
    int dueling;             /* 0: MarioNet; 1: MarioNet with a dueling head */
    int64_t burnin;          /* 100000 of a worker's own steps */
    int64_t episodes;        /* 2000 in total over all workers (a resume counts earlier ones) */
    int64_t sync_every;      /* 1000: pull shared parameters */
    int64_t save_every;      /* 5000 global steps between checkpoints */
    int64_t target_sync_every; /* 10000 */
    int64_t memory_size;     /* 100000 transitions per worker */
    int64_t max_steps;       /* 0: no limit on global steps */
    int64_t record_every;    /* 0: off; else a greedy episode to <run_dir>/episode_<n>.gif every N episodes */
    double lr;               /* 0.00025 */
    double gamma;            /* 0.9 */
    double eps_decay;        /* 0.99999975 per action */
    double eps_min;          /* 0.1 */
    double log_every;        /* seconds between interval logs (TensorBoard, metrics), 10 */
    uint64_t seed;           /* 0 */
    /* Distributed (src/dist, README "## Distributed"); not saved in checkpoints: a resume
     * says again whether it runs under mpirun. */
    int distributed;         /* this process is one rank of `mpirun ... smbrl train --distributed` */
    int replica_check_every; /* compare the ranks' parameter checksums every N rounds, 10 */
} train_args;

void train_args_default(train_args *a);
/* All arguments as one JSON object (the checkpoints' "args"). */
int train_args_to_json(const train_args *a, char *out, size_t outlen);
/* Fields present in json overwrite a's; unknown keys are ignored (newer versions). */
int train_args_from_json(train_args *a, const char *json, char *err, size_t errlen);
/* Checks ranges; a one-line reason on error. */
int train_args_check(const train_args *a, char *err, size_t errlen);

/* The state file a --resume path stands for: a state_<step>.safetensors file itself, the
 * state beside a model_<step>.safetensors, or the latest state in a run directory. */
int train_resolve_state(const char *path, char *out, size_t outlen, char *err, size_t errlen);
/* Reads the arguments a state file was written with (for --resume before flags). */
int train_state_args(const char *state_path, train_args *a, char *err, size_t errlen);

/* What the supervisor reports about twice a second. */
typedef struct train_progress {
    int64_t episodes, episodes_total, steps, max_steps;
    int64_t flags, restarts, updates;
    double steps_per_s, updates_per_s; /* over the last few seconds */
    double epsilon;                    /* mean over the workers */
    double mean_return, mean_x;        /* last 100 episodes; NaN before the first */
    double elapsed, eta;               /* seconds; eta < 0 when unknown */
    int final;                         /* the last report */
} train_progress;

/* Seconds spent by all workers in each part of the loop, for benchmarks. */
typedef struct train_summary {
    int64_t steps, episodes, updates, pushes_per_worker[TRAIN_MAX_WORKERS];
    int64_t steps_run;             /* steps of this run (steps counts a resumed run's too) */
    int64_t restarts;
    double wall_s;                 /* this run: workers started to workers ended */
    double env_s, act_s, learn_s, sync_s, other_s; /* summed over workers */
    int stopped_by_signal;
    char last_checkpoint[1200];
} train_summary;

typedef struct train_hooks {
    void *user;
    /* Events (start, worker crash and restart, checkpoint, stop); also in <run_dir>/train.log. */
    void (*log)(void *user, const char *line);
    void (*progress)(void *user, const train_progress *p);
    /* --render, in worker 0's process: open once, then one frame per step. */
    int (*render_open)(void *user, char *err, size_t errlen);
    void (*render_frame)(void *user, const env *e);
    void (*render_close)(void *user);
} train_hooks;

/* The initial weights of a new run with this seed (PyTorch's default initialisation). */
void train_init_params(nn_model *m, uint64_t seed);

/* Validates everything (args, ROM, run directory, memory, resume file), then trains.
 * Returns 0 when training ended (episodes, max steps or a signal; see summary), negative
 * with a one-line reason otherwise. summary may be NULL. */
int train_run(const train_args *a, const train_hooks *h, train_summary *summary, char *err,
              size_t errlen);

#endif
