/* test_replay_common.h: the replay tests' reference model: a driver that plays
 * interleaved episodes into a replay memory while logging every step, frames
 * whose bytes encode (stream, episode, t), and a checker that rebuilds each
 * sampled transition from the log and compares every gathered byte. */
#ifndef SMBRL_TEST_REPLAY_COMMON_H
#define SMBRL_TEST_REPLAY_COMMON_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smbrl/replay.h"
#include "smbrl/rng.h"
#include "testlib.h"

/* One replay_add call. t is the episode index of the newest frame of s (0 = reset frame). */
typedef struct rstep {
    int stream, episode, t;
    float reward;
    int done;
    int succ; /* id of the same episode's next step, -1 if none (yet) */
} rstep;

typedef struct rstream {
    int active, episode, t, length, last; /* last: id of the latest step in this episode, -1 none */
} rstream;

typedef struct rdriver {
    replay *m;
    int S, stack, h, w;
    size_t fb;
    rstep *log;
    int nlog, caplog;
    rstream st[64];
    int next_episode;
    int min_len, max_len; /* episode lengths drawn uniformly in [min_len, max_len] */
    int abandon_pct;      /* chance (%) that a step starts a new episode without done */
    rng r;                /* drives the scenario, never the memory's sampling */
    uint8_t *frame;
} rdriver;

static inline void rframe_fill(uint8_t *buf, size_t fb, int s, int e, int t)
{
    uint32_t x = (uint32_t)s * 1000003u + (uint32_t)e * 7919u + (uint32_t)t * 31u + 17u;
    for (size_t i = 0; i < fb; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (uint8_t)(x >> 16);
    }
    /* The identity in clear, for the failure messages. */
    if (fb >= 5) {
        buf[0] = (uint8_t)s;
        buf[1] = (uint8_t)e;
        buf[2] = (uint8_t)(e >> 8);
        buf[3] = (uint8_t)t;
        buf[4] = (uint8_t)(t >> 8);
    }
}

static inline float rstep_reward(int id) { return (float)((id * 7) % 11) - 5.0f; }

static inline void rdriver_init(rdriver *d, replay *m, int S, int stack, int h, int w, uint64_t seed)
{
    memset(d, 0, sizeof *d);
    d->m = m;
    d->S = S;
    d->stack = stack;
    d->h = h;
    d->w = w;
    d->fb = (size_t)h * (size_t)w;
    d->min_len = 1;
    d->max_len = 12;
    rng_seed(&d->r, seed);
    d->frame = malloc(d->fb);
    for (int s = 0; s < S; s++)
        d->st[s].last = -1;
}

static inline void rdriver_free(rdriver *d)
{
    free(d->log);
    free(d->frame);
}

static inline void rdriver_begin(rdriver *d, int s)
{
    rstream *st = &d->st[s];
    st->active = 1;
    st->episode = d->next_episode++;
    st->t = 0;
    st->last = -1;
    st->length = d->min_len + (int)rng_below(&d->r, (uint32_t)(d->max_len - d->min_len + 1));
    rframe_fill(d->frame, d->fb, s, st->episode, 0);
    replay_begin_episode(d->m, s, d->frame);
}

/* One step of stream s (starting its episode first if needed). Returns the step id. */
static inline int rdriver_step(rdriver *d, int s)
{
    rstream *st = &d->st[s];
    if (!st->active || (d->abandon_pct && (int)rng_below(&d->r, 100) < d->abandon_pct))
        rdriver_begin(d, s);
    if (d->nlog == d->caplog) {
        d->caplog = d->caplog ? 2 * d->caplog : 1024;
        d->log = realloc(d->log, (size_t)d->caplog * sizeof *d->log);
    }
    int id = d->nlog++;
    rstep *e = &d->log[id];
    e->stream = s;
    e->episode = st->episode;
    e->t = st->t;
    e->reward = rstep_reward(id);
    e->done = st->t + 1 == st->length;
    e->succ = -1;
    if (st->last >= 0)
        d->log[st->last].succ = id;
    st->last = id;
    st->t++;
    rframe_fill(d->frame, d->fb, s, st->episode, st->t);
    replay_add(d->m, s, id, e->reward, e->done, d->frame);
    if (e->done)
        st->active = 0;
    return id;
}

/* n steps, each from a stream chosen uniformly (idle spells and bursts included). */
static inline void rdriver_run_random(rdriver *d, int n)
{
    for (int i = 0; i < n; i++)
        rdriver_step(d, (int)rng_below(&d->r, (uint32_t)d->S));
}

/* n rounds of every stream stepping once, as a vecenv does. */
static inline void rdriver_run_rounds(rdriver *d, int n)
{
    for (int i = 0; i < n; i++)
        for (int s = 0; s < d->S; s++)
            rdriver_step(d, s);
}

/* Expected transition for a sample whose action is step id `id`, for n-step
 * returns. Returns 0 when such a transition cannot exist (not emitted). */
static inline int rexpect(const rdriver *d, int id, int nstep, double gamma, float *ret, int *done,
                          int *next_t)
{
    double r = 0.0, disc = 1.0;
    int k = 0, cur = id;
    for (;;) {
        const rstep *e = &d->log[cur];
        r += disc * e->reward;
        disc *= gamma;
        k++;
        if (e->done || k == nstep) {
            *done = e->done;
            break;
        }
        if (e->succ < 0)
            return 0; /* episode abandoned or not finished: not emitted */
        cur = e->succ;
    }
    *ret = (float)r;
    *next_t = d->log[id].t + k;
    return 1;
}

/* Checks sample i of a batch against the log: every byte of both stacks, the
 * action's step, reward and done. Returns the step id, or -1 on a mismatch. */
static inline int rcheck_sample(const rdriver *d, const replay_batch *b, int i, int nstep, double gamma,
                                uint8_t *scratch)
{
    int id = b->actions[i];
    if (id < 0 || id >= d->nlog) {
        fprintf(stderr, "sample %d: action %d is no logged step\n", i, id);
        return -1;
    }
    const rstep *e = &d->log[id];
    float ret;
    int done, next_t;
    if (!rexpect(d, id, nstep, gamma, &ret, &done, &next_t)) {
        fprintf(stderr, "sample %d: step %d should not have been stored\n", i, id);
        return -1;
    }
    if (fabsf(b->rewards[i] - ret) > 1e-5f * (1.0f + fabsf(ret)) || b->dones[i] != (float)done) {
        fprintf(stderr, "sample %d (step %d): reward %g done %g, expected %g %d\n", i, id,
                (double)b->rewards[i], (double)b->dones[i], (double)ret, done);
        return -1;
    }
    size_t obs = (size_t)d->stack * d->fb;
    for (int which = 0; which < 2; which++) {
        const uint8_t *got = (which ? b->next_states : b->states) + (size_t)i * obs;
        int newest = which ? next_t : e->t;
        for (int c = 0; c < d->stack; c++) {
            int t = newest - (d->stack - 1 - c);
            if (t < 0)
                t = 0;
            rframe_fill(scratch, d->fb, e->stream, e->episode, t);
            if (memcmp(got + (size_t)c * d->fb, scratch, d->fb) != 0) {
                const uint8_t *g = got + (size_t)c * d->fb;
                fprintf(stderr,
                        "sample %d (step %d, stream %d ep %d t %d): %s channel %d holds "
                        "(stream %d ep %d t %d), expected t %d\n",
                        i, id, e->stream, e->episode, e->t, which ? "next_state" : "state", c, g[0],
                        g[1] | g[2] << 8, g[3] | g[4] << 8, t);
                return -1;
            }
        }
    }
    return id;
}

typedef struct rbatch {
    replay_batch b;
    int n;
} rbatch;

static inline void rbatch_init(rbatch *rb, int n, int stack, size_t fb)
{
    rb->n = n;
    size_t obs = (size_t)stack * fb;
    rb->b.states = malloc((size_t)n * obs);
    rb->b.next_states = malloc((size_t)n * obs);
    rb->b.actions = malloc((size_t)n * sizeof(int32_t));
    rb->b.rewards = malloc((size_t)n * sizeof(float));
    rb->b.dones = malloc((size_t)n * sizeof(float));
}

static inline void rbatch_free(rbatch *rb)
{
    free(rb->b.states);
    free(rb->b.next_states);
    free(rb->b.actions);
    free(rb->b.rewards);
    free(rb->b.dones);
}

static inline int rbatch_equal(const rbatch *a, const rbatch *b, int stack, size_t fb)
{
    size_t obs = (size_t)a->n * (size_t)stack * fb;
    return !memcmp(a->b.states, b->b.states, obs) && !memcmp(a->b.next_states, b->b.next_states, obs) &&
           !memcmp(a->b.actions, b->b.actions, (size_t)a->n * sizeof(int32_t)) &&
           !memcmp(a->b.rewards, b->b.rewards, (size_t)a->n * sizeof(float)) &&
           !memcmp(a->b.dones, b->b.dones, (size_t)a->n * sizeof(float));
}

/* Draws `draws` samples in batches and checks every one; counts hits per step
 * id into hits (size d->nlog) when not NULL. Returns the number of mismatches. */
static inline int rcheck_many(const rdriver *d, rng *r, int draws, int nstep, double gamma, int *hits)
{
    rbatch rb;
    int bs = 64, bad = 0;
    rbatch_init(&rb, bs, d->stack, d->fb);
    uint8_t *scratch = malloc(d->fb);
    for (int done = 0; done < draws; done += bs) {
        if (replay_sample(d->m, r, bs, &rb.b) != 0) {
            fprintf(stderr, "replay_sample failed with %zu stored\n", replay_size(d->m));
            bad++;
            break;
        }
        for (int i = 0; i < bs; i++) {
            int id = rcheck_sample(d, &rb.b, i, nstep, gamma, scratch);
            if (id < 0) {
                if (++bad > 5)
                    goto out;
            } else if (hits) {
                hits[id]++;
            }
        }
    }
out:
    free(scratch);
    rbatch_free(&rb);
    return bad;
}

#endif
