/* train.h: parallel training (`smbrl train`) of Double-DQN or PPO agents: worker processes
 * that act, compute gradients from their own experience and push every gradient into one
 * shared model, and a supervisor that restarts crashed workers, checkpoints, logs and stops
 * cleanly.
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
 * PPO (--algo ppo) runs on the same machinery: a worker owns --envs-per-process envs and a
 * local actor-critic; it collects a rollout of --ppo-steps steps per env with its local copy,
 * computes GAE, then for --ppo-epochs x --ppo-minibatches computes each minibatch gradient
 * locally, applies it to the shared model (Adam with the shared moments, under the lock) and
 * copies the shared parameters back. With one worker this is synchronous PPO exactly; with
 * several, a worker's rollout is at most one rollout behind the shared policy. The DQN-only
 * arguments (burnin, learn_every, sync_every, target_sync_every, memory_size, batch_size,
 * exploration, dueling) are ignored by PPO runs.
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
#define TRAIN_MAX_ENVS 256 /* envs per PPO worker */
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
    int save_replay;         /* DQN: the final checkpoint keeps each worker's replay memory
                                (replay_<step>_w<i>.bin beside the state); resume loads them */
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
    /* Algorithm, observation, network (strings as on the command line, saved in checkpoints) */
    char algo[8];            /* "dqn" (default) or "ppo" */
    char obs[8];             /* "pixels" (default) or "tiles" */
    char net[16];            /* "" = the default for algo and obs: pixels: dqn "nature", ppo
                                "uvipen"; tiles: "mlp" (train_args_resolve fills it in) */
    char reward[8];          /* "gym" (the env's reward) or "uvipen" (ppo_shape_reward of it) */
    char lr_schedule[12];    /* PPO: "constant" or "linear" (to 0 at --max-steps) */
    /* PPO (uvipen's defaults, ppo_config_default) */
    int envs_per_process;    /* 0 = max(1, 8 / num_processes) (train_args_resolve) */
    int ppo_steps;           /* 512 steps per env per rollout */
    int ppo_epochs;          /* 10 */
    int ppo_minibatches;     /* 16 */
    int norm_adv;            /* 0 */
    double gae_lambda;       /* 1.0 */
    double clip;             /* 0.2 */
    double ent_coef;         /* 0.01 */
    double vf_coef;          /* 1.0 */
    double value_clip;       /* 0: off */
    double max_grad_norm;    /* 0.5 */
    /* Distributed (src/dist, README "## Distributed"); not saved in checkpoints: a resume
     * says again whether it runs under mpirun. */
    int distributed;         /* this process is one rank of `mpirun ... smbrl train --distributed` */
    int replica_check_every; /* compare the ranks' parameter checksums every N rounds, 10 */
} train_args;

void train_args_default(train_args *a);
/* Fills the defaults that depend on other arguments: net, envs_per_process. */
void train_args_resolve(train_args *a);
/* 1 for --algo ppo. */
int train_is_ppo(const train_args *a);
/* The network of an algo/obs/net triple (net "" = the default) for observations
 * (in_c,in_h,in_w) and `actions` actions; model_name (32 bytes, may be NULL) gets the
 * checkpoints' "model" name: DQN "marionet", "marionet-dueling" or "mlp"; PPO "ppo-uvipen",
 * "ppo-nature" or "ppo-mlp". mlp: flatten, 256, ReLU, 256, ReLU, head. */
int train_net_spec(const char *algo, const char *obs, const char *net, int dueling, int in_c,
                   int in_h, int in_w, int actions, nn_spec *spec, char *model_name, char *err,
                   size_t errlen);

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
    double epsilon;                    /* mean over the workers (DQN) */
    int ppo;                           /* a PPO run: entropy instead of epsilon */
    double entropy;                    /* PPO: mean policy entropy of the last interval */
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
