/* replay.h: experience replay memory that stores each observation frame once.
 *
 * An agent observes stacks of the last `stack` frames (uint8, H x W each). A
 * transition (s, a, r, s', done) shares all but one frame with its neighbours,
 * so the memory keeps a ring of single frames and a ring of transitions that
 * point into it; a sampled stack is gathered from indices, never stored.
 * A stack never mixes frames of two episodes: frames before an episode's first
 * frame are filled with that first frame, as FrameStack does on reset.
 *
 * Several environments (a worker's vecenv) write interleaved transitions; each
 * stream keeps its own episode chain. Capacity counts transitions over all streams.
 * Sampling is uniform over stored transitions, from a caller-owned rng. */
#ifndef SMBRL_REPLAY_H
#define SMBRL_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "smbrl/rng.h"

typedef struct replay replay;

typedef struct replay_config {
    size_t capacity;  /* transitions kept (oldest dropped first); default 100000 */
    int stack;        /* frames per observation; default 4 */
    int height, width;/* frame size; default 84 x 84 */
    int num_streams;  /* environments writing into this memory; default 1 */
} replay_config;

/* A sampled batch, written into caller memory:
 * states, next_states: (B, stack, H, W) uint8; actions (B); rewards (B); dones (B) as 0/1 floats. */
typedef struct replay_batch {
    uint8_t *states;
    uint8_t *next_states;
    int32_t *actions;
    float *rewards;
    float *dones;
} replay_batch;

replay *replay_create(const replay_config *cfg, char *err, size_t errlen);
void replay_free(replay *m);

/* Stream `stream` starts an episode whose first observation's newest frame is `frame`. */
void replay_begin_episode(replay *m, int stream, const uint8_t *frame);
/* Stream `stream` took `action` from its current observation, got `reward`, and
 * observed `next_frame` (the newest frame of s'). done ends the episode; the
 * caller then calls replay_begin_episode with the reset frame. */
void replay_add(replay *m, int stream, int32_t action, float reward, int done, const uint8_t *next_frame);

size_t replay_size(const replay *m);
/* Fills `batch` with `n` transitions drawn uniformly. Returns a negative value
 * when the memory holds no transition. */
int replay_sample(const replay *m, rng *r, int n, replay_batch *batch);
/* Bytes of heap the memory holds (for the per-transition budget check). */
size_t replay_memory_bytes(const replay *m);

/* Save / load the whole memory to a file (magic, version, config, data, checksum).
 * Loading checks that the file's config matches `m`'s. Writes are atomic. */
int replay_save(const replay *m, const char *path, char *err, size_t errlen);
int replay_load(replay *m, const char *path, char *err, size_t errlen);

/* ---- Additions: options, n-step returns, prioritized replay, sizing. ----
 * replay_config fields left 0 take their defaults. The options below are a
 * separate struct so that replay_config keeps its layout; a zeroed
 * replay_options (or NULL) is plain one-step uniform replay.
 *
 * Storage: one frame slot per stored frame. An episode stores its reset frame
 * plus one frame per step, so the ring holds capacity + frame_reserve frames
 * plus a few per stream; when episodes are so short that their reset frames do
 * not fit in the reserve, the oldest transitions are dropped early and
 * replay_size() stays a little under capacity. States are channel-first with
 * channel stack-1 the newest frame. */
typedef struct replay_options {
    int n_step;           /* 0 or 1: one-step; n > 1 (at most 16) stores
                           * (s_t, a_t, sum_{i<n} gamma^i r_{t+i}, s_{t+n}, done);
                           * near an episode's end the return is cut at the
                           * terminal step and done is 1. Non-terminal samples
                           * always bootstrap with gamma^n. An episode abandoned
                           * by replay_begin_episode without done drops its
                           * last n-1 unfinished steps. */
    float gamma;          /* discount of the n-step return, in [0, 1]; read only when n_step > 1 */
    float alpha;          /* 0: uniform sampling; > 0: proportional prioritized replay,
                           * P(i) = p_i^alpha / sum_j p_j^alpha */
    float priority_eps;   /* p_i = |TD error| + eps; 0 -> 1e-6 */
    size_t frame_reserve; /* frame slots beyond capacity for reset frames; 0 -> capacity / 256 */
} replay_options;

replay *replay_create_ex(const replay_config *cfg, const replay_options *opt, char *err, size_t errlen);
/* Heap bytes replay_create_ex would hold for this config (0 when it is invalid). */
size_t replay_bytes_needed(const replay_config *cfg, const replay_options *opt);
/* replay_sample plus, when not NULL, each draw's index (for
 * replay_update_priorities) and importance weight (N * P(i))^-beta divided by
 * the batch's largest weight; with uniform sampling every weight is 1.
 * Any field of `batch` may be NULL to skip it. */
int replay_sample_ex(const replay *m, rng *r, int n, float beta, replay_batch *batch,
                     uint64_t *indices, float *weights);
/* Sets priority |td_abs[i]| + eps for the sampled indices. Indices of
 * transitions dropped since they were sampled, and non-finite values, are
 * skipped. Returns how many priorities were set (0 when prioritization is off). */
int replay_update_priorities(replay *m, int n, const uint64_t *indices, const float *td_abs);

#endif
