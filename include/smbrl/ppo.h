/* ppo.h: the PPO-clip learner core: rollout buffer, sampling actions from a policy + value
 * network, GAE(lambda) advantages, the clipped surrogate loss with value and entropy terms,
 * and the update over shuffled minibatches, which can also run split in two (gradient here,
 * optimizer step on a shared model there) for the parallel trainer. Also uvipen's reward
 * shaping as a pure function.
 *
 * Letters in shape comments: T steps per rollout, N environments, A actions, B minibatch,
 * O observation bytes.
 *
 * Defaults follow uvipen/Super-mario-bros-PPO-pytorch's train.py: Adam lr 1e-4, gamma 0.9,
 * tau (GAE lambda) 1.0, beta (entropy) 0.01, epsilon (clip) 0.2, 512 local steps x 8
 * processes, 10 epochs, its "batch_size" 16 being the number of minibatches (4096 / 16 =
 * 256 samples each), clip_grad_norm_ 0.5, critic loss smooth_l1 (Huber, beta 1) of the
 * returns against the values with weight 1, advantages not normalised, constant lr.
 *
 * One difference from that script, on purpose: its GAE carries the running sum across an
 * episode end (gae = gae * gamma * tau + delta, only the bootstrap value is masked by done),
 * so the next episode's advantages leak into the last steps of the previous one. Here the
 * sum restarts at every done, as in the GAE paper and baselines.
 *
 * Dones: dones[t][n] = 1 when the step taken at t ended the episode; obs[t+1][n] is then the
 * first observation of the next one, and no value is bootstrapped across it. A time limit is
 * treated as a terminal, as uvipen does. */
#ifndef SMBRL_PPO_H
#define SMBRL_PPO_H

#include <stddef.h>
#include <stdint.h>

#include "smbrl/nn.h"
#include "smbrl/rng.h"

enum { PPO_VALUE_HUBER = 0, PPO_VALUE_MSE = 1 };
enum { PPO_LR_CONSTANT = 0, PPO_LR_LINEAR = 1 };

typedef struct ppo_config {
    int steps;             /* T, steps per environment per rollout; 512 */
    int envs;              /* N; 8 */
    int epochs;            /* passes over the rollout per update; 10 */
    int minibatches;       /* minibatches per epoch (uvipen's batch_size); 16 */
    int threads;           /* threads each batch is split over (nn_work_init); 1 */
    float gamma;           /* 0.9 */
    float lambda;          /* GAE lambda (uvipen's tau); 1.0 */
    float clip;            /* surrogate clip epsilon; 0.2 */
    float ent_coef;        /* entropy bonus weight (uvipen's beta); 0.01 */
    float vf_coef;         /* value loss weight; 1.0 */
    int value_loss;        /* PPO_VALUE_HUBER (smooth_l1, beta 1) or PPO_VALUE_MSE (0.5 d^2) */
    float value_clip;      /* > 0: loss max(L(v), L(v_old + clamp(v - v_old, +-value_clip))); 0 off */
    int norm_adv;          /* 1: advantages normalised per minibatch (mean 0, unbiased std 1) */
    int lr_schedule;       /* PPO_LR_CONSTANT or PPO_LR_LINEAR (to 0 at total_updates) */
    int64_t total_updates; /* updates the linear schedule spans; ignored when constant */
    nn_adam_config adam;   /* lr 1e-4, max_grad_norm 0.5, PyTorch's other defaults */
} ppo_config;

void ppo_config_default(ppo_config *c);

/* uvipen's CustomReward: (reward + score_delta / 40 + (flag ? 50 : death ? -50 : 0)) / 10.
 * reward is the environment's own (gym-super-mario-bros: x progress, clock, death penalty);
 * death means the episode ended without the flag (uvipen applies -50 at any such end). It is
 * linear, so one call on the sums over a frame skip equals uvipen's per-frame application.
 * Its extra penalties for wrong paths in 4-4 and 7-4 are not included. */
float ppo_shape_reward(float reward, float score_delta, int flag, int death);

/* One rollout of T steps from N environments, step-major: element (t, n) is at t * N + n. */
typedef struct ppo_rollout {
    int T, N, obs_size;
    uint8_t *obs;        /* (T,N,O) the observation each action was chosen from */
    int32_t *actions;    /* (T,N) */
    float *logp;         /* (T,N) log pi_old(a|s) at sampling time */
    float *values;       /* (T,N) V_old(s) */
    float *rewards;      /* (T,N) */
    float *dones;        /* (T,N) 1 when step t ended the episode */
    float *last_values;  /* (N) V(s_T), the bootstrap after the last step */
    float *advantages;   /* (T,N) filled by ppo_compute_advantages */
    float *returns;      /* (T,N) advantages + values: the value targets */
} ppo_rollout;

int ppo_rollout_init(ppo_rollout *ro, int T, int N, int obs_size, char *err, size_t errlen);
void ppo_rollout_free(ppo_rollout *ro);

/* GAE(lambda) over (T,N) arrays: delta = r_t + gamma V_{t+1} (1 - d_t) - V_t,
 * A_t = delta + gamma lambda (1 - d_t) A_{t+1}, with V_T = last_values; ret = A + V.
 * adv and ret (T,N) are written. */
void ppo_gae(float *adv, float *ret, const float *rewards, const float *values, const float *dones,
             const float *last_values, int T, int N, float gamma, float lambda);

/* A minibatch: B samples gathered from a rollout (or given directly, as the tests do). */
typedef struct ppo_batch {
    const uint8_t *obs;      /* (B,O) */
    const int32_t *actions;  /* (B) */
    const float *logp;       /* (B) old log-probabilities */
    const float *values;     /* (B) old values (value clipping) */
    const float *advantages; /* (B) before any normalisation */
    const float *returns;    /* (B) value targets */
} ppo_batch;

/* Means over the samples of one minibatch, or over all minibatches of an update. */
typedef struct ppo_stats {
    float policy_loss;   /* -mean min(r A, clip(r) A) */
    float value_loss;    /* before vf_coef */
    float entropy;       /* mean entropy of pi(.|s) */
    float approx_kl;     /* mean (r - 1) - log r, an unbiased estimate of KL(old || new) */
    float clip_frac;     /* fraction of samples with |r - 1| > clip */
    float loss;          /* policy_loss + vf_coef value_loss - ent_coef entropy */
} ppo_stats;

typedef struct ppo {
    ppo_config cfg;
    nn_model model;          /* ends in NN_POLICY_VALUE: (B, A+1) logits then the value */
    nn_work work;
    float *adam_m, *adam_v;  /* Adam moments, model.params' layout */
    int64_t adam_step;
    int64_t updates;         /* ppo_update calls so far (drives the lr schedule) */
    nn_adam_config adam;     /* cfg.adam with the scheduled lr; what ppo_apply_grad uses */
    int actions, obs_size, max_batch;
    /* Scratch for one minibatch (max_batch entries each). */
    float *dout;             /* (B, A+1) */
    int32_t *perm;           /* (T*N) shuffled sample order */
    uint8_t *mb_obs;
    int32_t *mb_actions;
    float *mb_logp, *mb_values, *mb_adv, *mb_ret;
} ppo;

/* The model gets PyTorch's default initialisation from r. spec must end in NN_POLICY_VALUE;
 * its input size is the observation size. */
ppo *ppo_create(const ppo_config *cfg, const nn_spec *spec, rng *r, char *err, size_t errlen);
void ppo_free(ppo *p);

/* An MLP actor-critic over uint8 feature vectors: flatten, (linear, ReLU) per hidden size,
 * then the policy + value head. */
void ppo_spec_mlp(nn_spec *s, int in_features, const int *hidden, int num_hidden, int actions);

/* Samples one action per observation from softmax(logits): obs (n,O); actions, logp,
 * values (n) written (logp and values may be NULL). n may exceed the work batch. */
void ppo_act(ppo *p, rng *r, const uint8_t *obs, int n, int32_t *actions, float *logp, float *values);
/* The most probable action per observation, for evaluation. */
void ppo_act_greedy(ppo *p, const uint8_t *obs, int n, int32_t *actions);
/* State values of n observations into values (n): the rollout's bootstrap (last_values). */
void ppo_value(ppo *p, const uint8_t *obs, int n, float *values);

/* ppo_gae on the rollout with the agent's gamma and lambda. */
void ppo_compute_advantages(const ppo *p, ppo_rollout *ro);

/* Copies samples idx[0..n) (indices t * N + n into the rollout) into p's minibatch scratch
 * and points b at it; n <= p->max_batch (more are cut to it, as in ppo_compute_grad). */
void ppo_gather(ppo *p, const ppo_rollout *ro, const int32_t *idx, int n, ppo_batch *b);

/* The learning step, first half: zeroes model.grads and fills them with the gradient of the
 * loss on b (n <= max_batch samples; n < 1 leaves them zero and returns 0); returns the loss,
 * stats (if not NULL) filled. Runs its own forward, so acting in between is harmless. */
float ppo_compute_grad(ppo *p, const ppo_batch *b, int n, ppo_stats *stats);
/* Second half: one Adam step (clipping by adam.max_grad_norm) of the agent's own model with
 * the scheduled lr in p->adam. A worker updating a shared model calls
 * nn_adam_step(&p->adam, shared_params, p->model.grads, shared_m, shared_v, &shared_step,
 * p->model.num_params) instead. */
void ppo_apply_grad(ppo *p);
/* The lr for update number `update` (0-based) under cfg's schedule. */
float ppo_scheduled_lr(const ppo_config *c, int64_t update);

/* One PPO update on a rollout whose advantages are computed: sets p->adam.lr from the
 * schedule, then epochs x minibatches of compute_grad + apply_grad over a fresh shuffle
 * (from r) per epoch, minibatch j taking shuffled samples [j TN/M, (j+1) TN/M) as uvipen.
 * stats (if not NULL) gets the means over all minibatches. Returns 0, or negative with a
 * message when the rollout does not fit the agent. */
int ppo_update(ppo *p, const ppo_rollout *ro, rng *r, ppo_stats *stats, char *err, size_t errlen);

#endif
