/* agent.h: the Double-DQN agent of the PyTorch Mario tutorial: an online and a target
 * Q-network, epsilon-greedy acting, and the learning step, which can also run split in two
 * (gradient here, optimizer step on a shared model there) for the parallel trainer.
 *
 * TD target:  r + gamma * (1 - done) * Q_target(s', argmax_a Q_online(s', a))
 * loss:       Huber (SmoothL1, beta 1, mean) or MSE between Q_online(s, a) and the target. */
#ifndef SMBRL_AGENT_H
#define SMBRL_AGENT_H

#include <stddef.h>
#include <stdint.h>

#include "smbrl/nn.h"
#include "smbrl/replay.h"
#include "smbrl/rng.h"

enum { DDQN_LOSS_HUBER = 0, DDQN_LOSS_MSE = 1 };

typedef struct ddqn_config {
    int batch_size;      /* 32 in the tutorial */
    int max_act_batch;   /* largest batch ddqn_act_greedy evaluates in one forward; 8 */
    int threads;         /* threads each batch is split over (nn_work_init); 1 */
    float gamma;         /* 0.9 */
    int64_t burnin;      /* steps before learning starts; 10000 */
    int learn_every;     /* steps between updates; 3 */
    int64_t sync_every;  /* steps between target syncs; 10000 */
    double eps_start;    /* 1.0 */
    double eps_decay;    /* multiplied in after every action; 0.99999975 */
    double eps_min;      /* 0.1 */
    int loss;            /* DDQN_LOSS_HUBER */
    nn_adam_config adam; /* lr 0.00025, PyTorch's other defaults, no clipping */
} ddqn_config;

void ddqn_config_default(ddqn_config *c);

typedef struct ddqn {
    ddqn_config cfg;
    nn_model online, target;
    nn_work work;        /* shared by online and target: their forwards never interleave */
    float *adam_m, *adam_v; /* Adam moments, online.params' layout */
    int64_t adam_step;
    int64_t step;        /* actions taken (the tutorial's curr_step) */
    double epsilon;
    int actions, obs_bytes;
    /* The last learning step, for logs and tests (batch_size entries each). */
    float last_loss, last_q_mean;
    float *q_estimate;   /* Q_online(s, a) */
    float *td_target;
    int32_t *best_next;  /* argmax_a Q_online(s', a) */
    /* Scratch: states and next_states are adjacent, so one forward of 2B covers both. */
    uint8_t *obs_pair;
    replay_batch batch;
    float *dq, *dqa;
} ddqn;

/* The online net gets PyTorch's default initialisation from r; the target is a copy.
 * spec's output size is the number of actions. */
ddqn *ddqn_create(const ddqn_config *cfg, const nn_spec *spec, rng *r, char *err, size_t errlen);
void ddqn_free(ddqn *a);

/* Epsilon-greedy action for one observation (the tutorial's act()): random with probability
 * epsilon, else argmax Q_online; then epsilon decays (floored) and step advances. */
int ddqn_act(ddqn *a, rng *r, const uint8_t *obs);
/* Greedy actions for n observations (n, C, H, W), for evaluation; no epsilon, no step. */
void ddqn_act_greedy(ddqn *a, const uint8_t *obs, int n, int32_t *actions);

/* The learning step, first half: zeroes online.grads and fills them with the gradient of the
 * loss on `b` (n <= batch_size transitions); returns the loss. When b->next_states directly
 * follows b->states in memory, s and s' share one forward through the online net. */
float ddqn_compute_grad(ddqn *a, const replay_batch *b, int n);
/* Second half: one Adam step of the agent's own online net from online.grads. A worker
 * updating a shared model calls nn_adam_step(&cfg.adam, shared_params, a->online.grads,
 * shared_m, shared_v, &shared_step, a->online.num_params) instead. */
void ddqn_apply_grad(ddqn *a);
/* Both halves. */
float ddqn_update(ddqn *a, const replay_batch *b, int n);
void ddqn_sync_target(ddqn *a);

/* The tutorial's learn(), called once after each action: syncs the target every sync_every
 * steps, and from burnin on, every learn_every steps, samples batch_size transitions from
 * mem and updates. Returns 1 after an update, 0 when none was due, negative when the
 * memory could not give a batch (message in err). */
int ddqn_learn(ddqn *a, replay *mem, rng *r, char *err, size_t errlen);

#endif
