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

#endif
