/* replay.c: the replay memory: a ring of single frames, a ring of transitions
 * that point into it, per-stream episode chains, n-step folding, an optional
 * sum-tree of priorities, and the memory's file format.
 *
 * Invariants
 * - Frame number q (counting every frame ever stored) lives in slot q % F.
 *   prev[slot] is the slot of the same stream's previous frame in the same
 *   episode, or the slot itself for an episode's first frame, so walking prev
 *   j times yields frame t-j, or the first frame repeated (FrameStack padding).
 * - A transition is (next: slot of the newest frame of s', hops: prev steps
 *   from next to the newest frame of s, action, reward, done). Its oldest
 *   frame is prev^(hops + stack - 1)(next). Frames are overwritten oldest
 *   first, so a transition loses a frame first through its oldest one:
 *   last_user[slot] remembers the newest transition whose oldest frame is that
 *   slot, and overwriting the slot drops every transition up to that one.
 *   No live transition ever points at an overwritten frame.
 * - The frames a stream's next transitions will reach back to (its last
 *   n + stack - 1 frames) are never overwritten: each call checks one stream
 *   round-robin and copies its chain forward when it has grown old (a stream
 *   that sits idle while others write). The ring's slack of 3 W + lmax + 2
 *   frames, W = streams * (lmax + 1), is what that bound needs (see
 *   check_stream).
 * - Transition positions count every transition ever emitted; live ones are
 *   [start, end), at slot position % capacity. last_user holds positions
 *   modulo 2^32, which stays unambiguous because capacity <= 2^26 and no frame
 *   outlives (n_step + 1) * F emissions. */
#include "smbrl/replay.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REPLAY_MAX_CAPACITY ((size_t)1 << 26)
#define REPLAY_MAX_STACK 32
#define REPLAY_MAX_NSTEP 16
#define REPLAY_MAX_STREAMS 4096
#define REPLAY_MAX_SIDE 4096
#define REPLAY_DONE 0x80u
#define REPLAY_HOPS 0x7fu

typedef struct replay_stream {
    uint32_t head;  /* slot of the newest frame of the current episode */
    uint32_t chain; /* frames in the current episode, capped at lmax */
    uint32_t active;/* 1 between begin_episode and the done step */
    uint32_t npend; /* steps waiting for their n-step return (< n_step) */
} replay_stream;

struct replay {
    replay_config cfg;   /* resolved: no zero fields */
    replay_options opt;  /* resolved */
    size_t frame_bytes;  /* H * W */
    uint32_t cap;        /* C: transitions */
    uint32_t nframes;    /* F: frame slots */
    uint32_t lmax;       /* n_step + stack - 1: frames a stream's chain must keep */
    uint32_t refresh_age;/* copy a stream's chain forward when older than this */
    uint32_t cursor;     /* next stream check_stream looks at */
    uint64_t written;    /* frames ever stored */
    uint64_t start, end; /* live transitions are positions [start, end) */
    uint8_t *frames;     /* (F, H, W) */
    uint32_t *prev;      /* (F) */
    uint32_t *last_user; /* (F) position mod 2^32 */
    uint32_t *next;      /* (C) */
    int32_t *action;     /* (C) */
    float *reward;       /* (C) */
    uint8_t *flags;      /* (C) REPLAY_DONE | hops */
    replay_stream *streams; /* (S) */
    int32_t *pend_action;   /* (S, n_step) oldest first */
    float *pend_reward;     /* (S, n_step) */
    double *tree;        /* (2 P) sum-tree of p^alpha, leaves at P + slot; NULL when uniform */
    uint32_t leaves;     /* P: power of two >= C */
    double max_pa;       /* largest p^alpha given so far: new transitions get it */
    size_t heap_bytes;
};

static void set_err(char *err, size_t errlen, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", msg);
}

/* ---- configuration and sizing ---- */

typedef struct replay_layout {
    replay_config cfg;
    replay_options opt;
    size_t frame_bytes;
    uint32_t nframes, lmax, refresh_age, leaves;
    size_t bytes;
} replay_layout;

static int resolve(const replay_config *cfg_in, const replay_options *opt_in, replay_layout *L,
                   char *err, size_t errlen)
{
    replay_config c = cfg_in ? *cfg_in : (replay_config){0};
    replay_options o = opt_in ? *opt_in : (replay_options){0};
    if (!c.capacity)
        c.capacity = 100000;
    if (!c.stack)
        c.stack = 4;
    if (!c.height)
        c.height = 84;
    if (!c.width)
        c.width = 84;
    if (!c.num_streams)
        c.num_streams = 1;
    if (!o.n_step)
        o.n_step = 1;
    if (o.n_step == 1)
        o.gamma = 1.0f; /* unused; fixed so that files and comparisons do not see noise */
    if (o.priority_eps == 0.0f)
        o.priority_eps = 1e-6f;
    if (!o.frame_reserve)
        o.frame_reserve = c.capacity / 256;

    char msg[160];
    msg[0] = 0;
    if (c.capacity > REPLAY_MAX_CAPACITY)
        snprintf(msg, sizeof msg, "replay: capacity %zu exceeds %zu", c.capacity, REPLAY_MAX_CAPACITY);
    else if (c.stack < 1 || c.stack > REPLAY_MAX_STACK)
        snprintf(msg, sizeof msg, "replay: stack %d is outside 1..%d", c.stack, REPLAY_MAX_STACK);
    else if (c.height < 1 || c.height > REPLAY_MAX_SIDE || c.width < 1 || c.width > REPLAY_MAX_SIDE)
        snprintf(msg, sizeof msg, "replay: frame size %dx%d is outside 1..%d", c.height, c.width,
                 REPLAY_MAX_SIDE);
    else if (c.num_streams < 1 || c.num_streams > REPLAY_MAX_STREAMS)
        snprintf(msg, sizeof msg, "replay: num_streams %d is outside 1..%d", c.num_streams,
                 REPLAY_MAX_STREAMS);
    else if (o.n_step < 1 || o.n_step > REPLAY_MAX_NSTEP)
        snprintf(msg, sizeof msg, "replay: n_step %d is outside 1..%d", o.n_step, REPLAY_MAX_NSTEP);
    else if (!(o.gamma >= 0.0f && o.gamma <= 1.0f))
        snprintf(msg, sizeof msg, "replay: gamma %g is outside [0, 1]", (double)o.gamma);
    else if (!(o.alpha >= 0.0f && o.alpha <= 10.0f))
        snprintf(msg, sizeof msg, "replay: alpha %g is outside [0, 10]", (double)o.alpha);
    else if (!(o.priority_eps > 0.0f && isfinite(o.priority_eps)))
        snprintf(msg, sizeof msg, "replay: priority_eps %g must be positive", (double)o.priority_eps);
    else if (o.frame_reserve > REPLAY_MAX_CAPACITY)
        snprintf(msg, sizeof msg, "replay: frame_reserve %zu exceeds %zu", o.frame_reserve,
                 REPLAY_MAX_CAPACITY);
    if (msg[0]) {
        set_err(err, errlen, msg);
        return -1;
    }

    L->cfg = c;
    L->opt = o;
    L->frame_bytes = (size_t)c.height * (size_t)c.width;
    L->lmax = (uint32_t)(o.n_step + c.stack - 1);
    uint64_t w = (uint64_t)c.num_streams * (L->lmax + 1);
    L->refresh_age = (uint32_t)(2 * w);
    uint64_t f = (uint64_t)c.capacity + o.frame_reserve + 3 * w + L->lmax + 2;
    L->nframes = (uint32_t)f; /* < 2^28 by the limits above */
    L->leaves = 0;
    if (o.alpha > 0.0f) {
        L->leaves = 1;
        while (L->leaves < c.capacity)
            L->leaves <<= 1;
    }
    size_t F = L->nframes, C = c.capacity, S = (size_t)c.num_streams, N = (size_t)o.n_step;
    if (L->frame_bytes > (SIZE_MAX / 2) / F) {
        set_err(err, errlen, "replay: frame ring size overflows size_t");
        return -1;
    }
    L->bytes = sizeof(replay) + F * L->frame_bytes + F * 2 * sizeof(uint32_t) +
               C * (sizeof(uint32_t) + sizeof(int32_t) + sizeof(float) + sizeof(uint8_t)) +
               S * sizeof(replay_stream) + S * N * (sizeof(int32_t) + sizeof(float)) +
               (size_t)L->leaves * 2 * sizeof(double);
    return 0;
}

size_t replay_bytes_needed(const replay_config *cfg, const replay_options *opt)
{
    replay_layout L;
    return resolve(cfg, opt, &L, NULL, 0) ? 0 : L.bytes;
}

static void reset_state(replay *m)
{
    m->cursor = 0;
    m->written = 0;
    m->start = m->end = 0;
    m->max_pa = 1.0;
    memset(m->streams, 0, (size_t)m->cfg.num_streams * sizeof(replay_stream));
    if (m->tree)
        memset(m->tree, 0, (size_t)m->leaves * 2 * sizeof(double));
}

replay *replay_create_ex(const replay_config *cfg, const replay_options *opt, char *err, size_t errlen)
{
    replay_layout L;
    if (resolve(cfg, opt, &L, err, errlen))
        return NULL;
    replay *m = calloc(1, sizeof *m);
    if (!m) {
        set_err(err, errlen, "replay: out of memory");
        return NULL;
    }
    m->cfg = L.cfg;
    m->opt = L.opt;
    m->frame_bytes = L.frame_bytes;
    m->cap = (uint32_t)L.cfg.capacity;
    m->nframes = L.nframes;
    m->lmax = L.lmax;
    m->refresh_age = L.refresh_age;
    m->leaves = L.leaves;
    m->heap_bytes = L.bytes;
    size_t F = m->nframes, C = m->cap, S = (size_t)m->cfg.num_streams, N = (size_t)m->opt.n_step;
    /* Frames stay untouched until written: a fresh memory costs no resident pages. */
    m->frames = malloc(F * m->frame_bytes);
    m->prev = malloc(F * sizeof *m->prev);
    m->last_user = malloc(F * sizeof *m->last_user);
    m->next = calloc(C, sizeof *m->next);
    m->action = calloc(C, sizeof *m->action);
    m->reward = calloc(C, sizeof *m->reward);
    m->flags = calloc(C, sizeof *m->flags);
    m->streams = calloc(S, sizeof *m->streams);
    m->pend_action = calloc(S * N, sizeof *m->pend_action);
    m->pend_reward = calloc(S * N, sizeof *m->pend_reward);
    if (m->leaves)
        m->tree = calloc((size_t)m->leaves * 2, sizeof *m->tree);
    if (!m->frames || !m->prev || !m->last_user || !m->next || !m->action || !m->reward ||
        !m->flags || !m->streams || !m->pend_action || !m->pend_reward || (m->leaves && !m->tree)) {
        replay_free(m);
        set_err(err, errlen, "replay: out of memory for the frame ring");
        return NULL;
    }
    reset_state(m);
    return m;
}

replay *replay_create(const replay_config *cfg, char *err, size_t errlen)
{
    return replay_create_ex(cfg, NULL, err, errlen);
}

void replay_free(replay *m)
{
    if (!m)
        return;
    free(m->frames);
    free(m->prev);
    free(m->last_user);
    free(m->next);
    free(m->action);
    free(m->reward);
    free(m->flags);
    free(m->streams);
    free(m->pend_action);
    free(m->pend_reward);
    free(m->tree);
    free(m);
}

size_t replay_size(const replay *m) { return (size_t)(m->end - m->start); }

size_t replay_memory_bytes(const replay *m) { return m->heap_bytes; }

/* ---- sum-tree ---- */

static void tree_set(replay *m, uint32_t slot, double v)
{
    /* Parents are recomputed from both children, never adjusted by a delta, so
     * rounding cannot accumulate and a parent > 0 always has a child > 0. */
    uint32_t i = m->leaves + slot;
    m->tree[i] = v;
    for (i >>= 1; i; i >>= 1)
        m->tree[i] = m->tree[2 * i] + m->tree[2 * i + 1];
}

static uint32_t tree_find(const replay *m, double u)
{
    const double *t = m->tree;
    uint32_t i = 1;
    while (i < m->leaves) {
        double left = t[2 * i], right = t[2 * i + 1];
        if ((u < left || right <= 0.0) && left > 0.0) {
            i = 2 * i;
        } else {
            u -= left;
            i = 2 * i + 1;
        }
    }
    return i - m->leaves;
}

/* ---- frames and transitions ---- */

static inline uint8_t *frame_at(const replay *m, uint32_t slot)
{
    return m->frames + (size_t)slot * m->frame_bytes;
}

static inline uint32_t walk(const replay *m, uint32_t slot, uint32_t hops)
{
    while (hops--)
        slot = m->prev[slot];
    return slot;
}

/* Frames stored since `slot` was written (0 for the newest). Valid while the frame is present. */
static inline uint32_t frame_age(const replay *m, uint32_t slot)
{
    uint32_t newest = (uint32_t)((m->written - 1) % m->nframes);
    return newest >= slot ? newest - slot : newest + m->nframes - slot;
}

static void drop_oldest(replay *m)
{
    if (m->tree)
        tree_set(m, (uint32_t)(m->start % m->cap), 0.0);
    m->start++;
}

static uint32_t put_frame(replay *m, const uint8_t *src, int first, uint32_t prev)
{
    uint32_t slot = (uint32_t)(m->written % m->nframes);
    if (m->written >= m->nframes) {
        uint32_t off = m->last_user[slot] - (uint32_t)m->start;
        if (off < (uint32_t)(m->end - m->start)) {
            uint64_t through = m->start + off;
            while (m->start <= through)
                drop_oldest(m);
        }
    }
    memcpy(frame_at(m, slot), src, m->frame_bytes);
    m->prev[slot] = first ? slot : prev;
    m->last_user[slot] = (uint32_t)m->start - 1u; /* a position already gone: no user */
    m->written++;
    return slot;
}

static void emit(replay *m, uint32_t next, uint32_t hops, int32_t action, float reward, int done)
{
    if (m->end - m->start == m->cap)
        drop_oldest(m);
    uint32_t slot = (uint32_t)(m->end % m->cap);
    m->next[slot] = next;
    m->action[slot] = action;
    m->reward[slot] = reward;
    m->flags[slot] = (uint8_t)(hops | (done ? REPLAY_DONE : 0u));
    m->last_user[walk(m, next, hops + (uint32_t)m->cfg.stack - 1)] = (uint32_t)m->end;
    if (m->tree)
        tree_set(m, slot, m->max_pa);
    m->end++;
}

/* Copies the frames a stream still needs to the front of the ring when they
 * have grown old. Why the slack suffices: after a check, a stream's oldest
 * needed frame is at most refresh_age = 2 W old; the next check of the same
 * stream comes S calls later, and each call stores at most 1 + lmax frames
 * (its own plus one refresh), so the age grows by at most W before the check
 * and by lmax during the copy. F >= 3 W + lmax + 2 keeps it off the slot being
 * overwritten. Streams written round-robin never age past 2 W: a chain spans
 * lmax - 1 of its own steps, and a round stores at most 2 S frames (a step and
 * a reset frame per stream). */
static void check_stream(replay *m)
{
    replay_stream *st = &m->streams[m->cursor];
    m->cursor = (m->cursor + 1) % (uint32_t)m->cfg.num_streams;
    if (!st->active)
        return;
    uint32_t chain[REPLAY_MAX_NSTEP + REPLAY_MAX_STACK];
    uint32_t cnt = st->chain;
    chain[cnt - 1] = st->head;
    for (uint32_t i = cnt - 1; i > 0; i--)
        chain[i - 1] = m->prev[chain[i]];
    if (frame_age(m, chain[0]) <= m->refresh_age)
        return;
    uint32_t slot = 0;
    for (uint32_t i = 0; i < cnt; i++) {
        assert(frame_age(m, chain[i]) + 1 < m->nframes);
        /* The oldest copy links to itself: either it is the episode's first
         * frame, or no stack walk reaches past it (it is lmax frames back). */
        slot = put_frame(m, frame_at(m, chain[i]), i == 0, slot);
    }
    st->head = slot;
}

void replay_begin_episode(replay *m, int stream, const uint8_t *frame)
{
    assert(stream >= 0 && stream < m->cfg.num_streams);
    if (stream < 0 || stream >= m->cfg.num_streams)
        return;
    check_stream(m);
    replay_stream *st = &m->streams[stream];
    st->head = put_frame(m, frame, 1, 0);
    st->chain = 1;
    st->active = 1;
    st->npend = 0;
}

void replay_add(replay *m, int stream, int32_t action, float reward, int done, const uint8_t *next_frame)
{
    assert(stream >= 0 && stream < m->cfg.num_streams);
    if (stream < 0 || stream >= m->cfg.num_streams)
        return;
    assert(m->streams[stream].active && "replay_add before replay_begin_episode");
    if (!m->streams[stream].active)
        return;
    check_stream(m);
    replay_stream *st = &m->streams[stream];
    uint32_t slot = put_frame(m, next_frame, 0, st->head);
    st->head = slot;
    if (st->chain < m->lmax)
        st->chain++;

    uint32_t n = (uint32_t)m->opt.n_step;
    int32_t *pa = m->pend_action + (size_t)stream * n;
    float *pr = m->pend_reward + (size_t)stream * n;
    pa[st->npend] = action;
    pr[st->npend] = reward;
    st->npend++;
    double g = m->opt.gamma;
    if (done) {
        for (uint32_t i = 0; i < st->npend; i++) {
            double ret = 0.0, disc = 1.0;
            for (uint32_t j = i; j < st->npend; j++, disc *= g)
                ret += disc * pr[j];
            emit(m, slot, st->npend - i, pa[i], (float)ret, 1);
        }
        st->npend = 0;
        st->active = 0;
    } else if (st->npend == n) {
        double ret = 0.0, disc = 1.0;
        for (uint32_t j = 0; j < n; j++, disc *= g)
            ret += disc * pr[j];
        emit(m, slot, n, pa[0], (float)ret, 0);
        memmove(pa, pa + 1, (n - 1) * sizeof *pa);
        memmove(pr, pr + 1, (n - 1) * sizeof *pr);
        st->npend--;
    }
}

/* ---- sampling ---- */

/* Writes the stack ending at `slot` as (stack, H, W), newest frame last. */
static void gather_stack(const replay *m, uint32_t slot, uint8_t *dst)
{
    size_t fb = m->frame_bytes;
    for (int j = m->cfg.stack - 1; j >= 0; j--) {
        memcpy(dst + (size_t)j * fb, frame_at(m, slot), fb);
        slot = m->prev[slot];
    }
}

int replay_sample_ex(const replay *m, rng *r, int n, float beta, replay_batch *batch,
                     uint64_t *indices, float *weights)
{
    uint64_t size = m->end - m->start;
    if (size == 0 || n <= 0)
        return -1;
    size_t obs_bytes = (size_t)m->cfg.stack * m->frame_bytes;
    double total = m->tree ? m->tree[1] : 0.0;
    float wmax = 0.0f;
    for (int i = 0; i < n; i++) {
        uint64_t pos;
        uint32_t slot;
        if (m->tree && total > 0.0) {
            slot = tree_find(m, rng_uniform(r) * total);
            uint32_t first = (uint32_t)(m->start % m->cap);
            pos = m->start + (slot >= first ? slot - first : slot + m->cap - first);
            if (weights) {
                double p = m->tree[m->leaves + slot] / total;
                weights[i] = (float)pow((double)size * p, -(double)beta);
                if (weights[i] > wmax)
                    wmax = weights[i];
            }
        } else {
            pos = m->start + rng_below(r, (uint32_t)size);
            slot = (uint32_t)(pos % m->cap);
            if (weights)
                weights[i] = 1.0f;
        }
        uint32_t next = m->next[slot];
        uint32_t hops = m->flags[slot] & REPLAY_HOPS;
        if (batch) {
            uint8_t *s = batch->states ? batch->states + (size_t)i * obs_bytes : NULL;
            uint8_t *ns = batch->next_states ? batch->next_states + (size_t)i * obs_bytes : NULL;
            if (s)
                gather_stack(m, walk(m, next, hops), s);
            if (ns && s && hops < (uint32_t)m->cfg.stack) {
                /* Next-state channel c is prev^(stack-1-c)(next), state channel
                 * c + hops the same walk: copy those from the state just
                 * gathered (in cache) and only the newest hops frames from the ring. */
                size_t fb = m->frame_bytes, shared = (size_t)m->cfg.stack - hops;
                memcpy(ns, s + hops * fb, shared * fb);
                uint32_t y = next;
                for (size_t c = (size_t)m->cfg.stack; c-- > shared;) {
                    memcpy(ns + c * fb, frame_at(m, y), fb);
                    y = m->prev[y];
                }
            } else if (ns) {
                gather_stack(m, next, ns);
            }
            if (batch->actions)
                batch->actions[i] = m->action[slot];
            if (batch->rewards)
                batch->rewards[i] = m->reward[slot];
            if (batch->dones)
                batch->dones[i] = (m->flags[slot] & REPLAY_DONE) ? 1.0f : 0.0f;
        }
        if (indices)
            indices[i] = pos;
    }
    if (weights && wmax > 0.0f)
        for (int i = 0; i < n; i++)
            weights[i] /= wmax;
    return 0;
}

int replay_sample(const replay *m, rng *r, int n, replay_batch *batch)
{
    return replay_sample_ex(m, r, n, 0.0f, batch, NULL, NULL);
}

int replay_update_priorities(replay *m, int n, const uint64_t *indices, const float *td_abs)
{
    if (!m->tree)
        return 0;
    int set = 0;
    for (int i = 0; i < n; i++) {
        uint64_t pos = indices[i];
        float td = td_abs[i];
        if (pos < m->start || pos >= m->end || !isfinite(td))
            continue;
        double pa = pow(fabs((double)td) + m->opt.priority_eps, m->opt.alpha);
        if (!(pa > 0.0) || !isfinite(pa))
            continue;
        if (pa > m->max_pa)
            m->max_pa = pa;
        tree_set(m, (uint32_t)(pos % m->cap), pa);
        set++;
    }
    return set;
}

/* ---- file format ----
 * Little-endian, version 1:
 *   "SMBRLRPL" u32 version u32 0x01020304 (byte order check)
 *   config:  u64 capacity, i32 stack, height, width, num_streams, n_step,
 *            f32 gamma, alpha, priority_eps, u64 frame_reserve, u32 frame slots
 *   state:   u64 written, start, end, u32 cursor, f64 max_pa
 *   streams: S x (u32 head, chain, active, npend), then pending (S, n) i32 actions, f32 rewards
 *   arrays:  u32 prev[F], last_user[F]; u32 next[C], i32 action[C], f32 reward[C], u8 flags[C];
 *            f64 priority[C] when alpha > 0
 *   frames:  the min(written, F) slots stored so far, H x W bytes each
 *   u32 CRC-32 (IEEE, as zlib) of every byte before it.
 * The host must be little-endian (checked through the marker) since arrays are written as they are in memory. */

#define REPLAY_MAGIC "SMBRLRPL"
#define REPLAY_VERSION 1u
#define REPLAY_BOM 0x01020304u

typedef struct crc32_table {
    uint32_t t[8][256];
} crc32_table;

static void crc32_init(crc32_table *c)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t v = i;
        for (int k = 0; k < 8; k++)
            v = (v >> 1) ^ (0xEDB88320u & (0u - (v & 1u)));
        c->t[0][i] = v;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int k = 1; k < 8; k++)
            c->t[k][i] = (c->t[k - 1][i] >> 8) ^ c->t[0][c->t[k - 1][i] & 0xff];
}

/* Slicing-by-8: the frames are most of a file of hundreds of megabytes. crc is the running
 * value before the final inversion (start from 0xFFFFFFFF, finish with ~). */
static uint32_t crc32_update(const crc32_table *c, uint32_t crc, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len >= 8) {
        uint32_t a = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        crc = c->t[7][a & 0xff] ^ c->t[6][(a >> 8) & 0xff] ^ c->t[5][(a >> 16) & 0xff] ^ c->t[4][a >> 24] ^
              c->t[3][p[4]] ^ c->t[2][p[5]] ^ c->t[1][p[6]] ^ c->t[0][p[7]];
        p += 8;
        len -= 8;
    }
    while (len--)
        crc = (crc >> 8) ^ c->t[0][(crc ^ *p++) & 0xff];
    return crc;
}

typedef struct replay_header {
    char magic[8];
    uint32_t version, bom;
    uint64_t capacity;
    int32_t stack, height, width, num_streams, n_step;
    float gamma, alpha, priority_eps;
    uint64_t frame_reserve;
    uint32_t nframes;
    uint64_t written, start, end;
    uint32_t cursor;
    double max_pa;
} replay_header;

/* Header fields in file order, so that struct padding never reaches the file. */
#define HEADER_FIELDS(X)                                                                          \
    X(magic) X(version) X(bom) X(capacity) X(stack) X(height) X(width) X(num_streams) X(n_step) \
    X(gamma) X(alpha) X(priority_eps) X(frame_reserve) X(nframes) X(written) X(start) X(end)    \
    X(cursor) X(max_pa)

typedef struct replay_writer {
    FILE *f;
    crc32_table *crc_tab;
    uint32_t crc;
    int failed;
} replay_writer;

static void wr(replay_writer *w, const void *p, size_t len)
{
    if (w->failed || !len)
        return;
    w->crc = crc32_update(w->crc_tab, w->crc, p, len);
    if (fwrite(p, 1, len, w->f) != len)
        w->failed = 1;
}

static int host_is_little_endian(void)
{
    uint32_t v = REPLAY_BOM;
    uint8_t b[4];
    memcpy(b, &v, 4);
    return b[0] == 0x04;
}

static void make_header(const replay *m, replay_header *h)
{
    memset(h, 0, sizeof *h);
    memcpy(h->magic, REPLAY_MAGIC, 8);
    h->version = REPLAY_VERSION;
    h->bom = REPLAY_BOM;
    h->capacity = m->cfg.capacity;
    h->stack = m->cfg.stack;
    h->height = m->cfg.height;
    h->width = m->cfg.width;
    h->num_streams = m->cfg.num_streams;
    h->n_step = m->opt.n_step;
    h->gamma = m->opt.gamma;
    h->alpha = m->opt.alpha;
    h->priority_eps = m->opt.priority_eps;
    h->frame_reserve = m->opt.frame_reserve;
    h->nframes = m->nframes;
    h->written = m->written;
    h->start = m->start;
    h->end = m->end;
    h->cursor = m->cursor;
    h->max_pa = m->max_pa;
}

static size_t header_bytes(void)
{
    replay_header h;
    size_t n = 0;
#define X(f) n += sizeof h.f;
    HEADER_FIELDS(X)
#undef X
    return n;
}

/* Bytes between the header and the frames. */
static size_t arrays_bytes(const replay *m)
{
    size_t S = (size_t)m->cfg.num_streams, N = (size_t)m->opt.n_step, F = m->nframes, C = m->cap;
    return S * 4 * sizeof(uint32_t) + S * N * (sizeof(int32_t) + sizeof(float)) + F * 2 * sizeof(uint32_t) +
           C * (sizeof(uint32_t) + sizeof(int32_t) + sizeof(float) + sizeof(uint8_t)) +
           (m->tree ? C * sizeof(double) : 0);
}

int replay_save(const replay *m, const char *path, char *err, size_t errlen)
{
    char msg[512];
    if (!host_is_little_endian()) {
        set_err(err, errlen, "replay: saving needs a little-endian host");
        return -1;
    }
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= sizeof tmp) {
        set_err(err, errlen, "replay: path too long");
        return -1;
    }
    crc32_table *tab = malloc(sizeof *tab);
    if (!tab) {
        set_err(err, errlen, "replay: out of memory");
        return -1;
    }
    crc32_init(tab);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        snprintf(msg, sizeof msg, "replay: cannot create %.300s: %s", tmp, strerror(errno));
        set_err(err, errlen, msg);
        free(tab);
        return -1;
    }
    replay_writer w = {f, tab, 0xFFFFFFFFu, 0};
    replay_header h;
    make_header(m, &h);
#define X(fl) wr(&w, &h.fl, sizeof h.fl);
    HEADER_FIELDS(X)
#undef X
    size_t S = (size_t)m->cfg.num_streams, N = (size_t)m->opt.n_step, F = m->nframes, C = m->cap;
    for (size_t s = 0; s < S; s++) {
        const replay_stream *st = &m->streams[s];
        uint32_t v[4] = {st->head, st->chain, st->active, st->npend};
        wr(&w, v, sizeof v);
    }
    wr(&w, m->pend_action, S * N * sizeof *m->pend_action);
    wr(&w, m->pend_reward, S * N * sizeof *m->pend_reward);
    wr(&w, m->prev, F * sizeof *m->prev);
    wr(&w, m->last_user, F * sizeof *m->last_user);
    wr(&w, m->next, C * sizeof *m->next);
    wr(&w, m->action, C * sizeof *m->action);
    wr(&w, m->reward, C * sizeof *m->reward);
    wr(&w, m->flags, C * sizeof *m->flags);
    if (m->tree)
        wr(&w, m->tree + m->leaves, C * sizeof *m->tree);
    uint64_t nvalid = m->written < F ? m->written : F;
    wr(&w, m->frames, (size_t)nvalid * m->frame_bytes);
    uint32_t crc = ~w.crc;
    wr(&w, &crc, sizeof crc);
    free(tab);
    int bad = w.failed || fflush(f) != 0 || fsync(fileno(f)) != 0;
    int eno = errno;
    if (fclose(f) != 0 && !bad) {
        bad = 1;
        eno = errno;
    }
    if (bad) {
        snprintf(msg, sizeof msg, "replay: writing %.300s failed: %s", tmp, strerror(eno));
        set_err(err, errlen, msg);
        remove(tmp);
        return -1;
    }
    if (rename(tmp, path) != 0) {
        snprintf(msg, sizeof msg, "replay: cannot rename %.200s to %.200s: %s", tmp, path, strerror(errno));
        set_err(err, errlen, msg);
        remove(tmp);
        return -1;
    }
    /* The rename is durable only once the directory is synced; a failure here
     * leaves a complete file either way, so it is not reported. */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = 0;
    else
        snprintf(dir, sizeof dir, ".");
    int dfd = open(dir, O_RDONLY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

typedef struct replay_reader {
    FILE *f;
    const crc32_table *crc_tab;
    uint32_t crc;
} replay_reader;

static int rd(replay_reader *r, void *p, size_t len)
{
    if (!len)
        return 0;
    if (fread(p, 1, len, r->f) != len)
        return -1;
    r->crc = crc32_update(r->crc_tab, r->crc, p, len);
    return 0;
}

/* Loaded arrays, checked before any of them replaces the memory's own. */
typedef struct replay_loaded {
    replay_stream *streams;
    int32_t *pend_action;
    float *pend_reward;
    uint32_t *prev, *last_user, *next;
    int32_t *action;
    float *reward;
    uint8_t *flags;
    double *prio;
} replay_loaded;

static void loaded_free(replay_loaded *l)
{
    free(l->streams);
    free(l->pend_action);
    free(l->pend_reward);
    free(l->prev);
    free(l->last_user);
    free(l->next);
    free(l->action);
    free(l->reward);
    free(l->flags);
    free(l->prio);
}

#define CFG_MISMATCH(name, filev, memv, fmt)                                                       \
    if ((filev) != (memv)) {                                                                      \
        snprintf(msg, sizeof msg, "replay: %s: config mismatch: file has " name " " fmt           \
                 ", this memory has " fmt, path, filev, memv);                                   \
        goto fail;                                                                                \
    }

/* Checks that a loaded state is one this code could have produced as far as
 * memory safety goes: every index in range, so sampling and adding cannot
 * read or write outside the arrays whatever the file held. */
static const char *check_loaded(const replay *m, const replay_header *h, const replay_loaded *l)
{
    uint64_t F = m->nframes, C = m->cap;
    uint64_t nvalid = h->written < F ? h->written : F;
    if (h->start > h->end || h->end - h->start > C)
        return "transition range is inconsistent";
    if (h->cursor >= (uint32_t)m->cfg.num_streams)
        return "stream cursor out of range";
    if (!(h->max_pa > 0.0) || !isfinite(h->max_pa))
        return "maximum priority is not a positive number";
    if (h->end > h->start && nvalid == 0)
        return "transitions without frames";
    for (uint64_t i = 0; i < nvalid; i++)
        if (l->prev[i] >= nvalid)
            return "frame link out of range";
    for (int s = 0; s < m->cfg.num_streams; s++) {
        const replay_stream *st = &l->streams[s];
        if (st->active > 1 || st->npend >= (uint32_t)m->opt.n_step)
            return "stream state out of range";
        if (st->active && (st->head >= nvalid || st->chain < 1 || st->chain > m->lmax))
            return "stream chain out of range";
        if (!st->active && st->npend)
            return "pending steps in a finished episode";
    }
    for (uint64_t pos = h->start; pos < h->end; pos++) {
        uint32_t slot = (uint32_t)(pos % C);
        uint32_t hops = l->flags[slot] & REPLAY_HOPS;
        if (l->next[slot] >= nvalid || hops < 1 || hops > (uint32_t)m->opt.n_step)
            return "transition out of range";
    }
    if (l->prio) {
        for (uint64_t slot = 0; slot < C; slot++) {
            double p = l->prio[slot];
            uint64_t first = h->start % C;
            uint64_t off = slot >= first ? slot - first : slot + C - first;
            int live = off < h->end - h->start;
            if (!isfinite(p) || p < 0.0 || (live && p <= 0.0) || (!live && p != 0.0))
                return "priority out of range";
        }
    }
    return NULL;
}

int replay_load(replay *m, const char *path, char *err, size_t errlen)
{
    char msg[512];
    replay_loaded l = {0};
    FILE *f = NULL;
    crc32_table *tab = NULL;
    uint8_t *scratch = NULL;
    int cleared = 0;

    if (!host_is_little_endian()) {
        snprintf(msg, sizeof msg, "replay: loading needs a little-endian host");
        goto fail;
    }
    f = fopen(path, "rb");
    if (!f) {
        snprintf(msg, sizeof msg, "replay: cannot open %s: %s", path, strerror(errno));
        goto fail;
    }
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) {
        snprintf(msg, sizeof msg, "replay: cannot stat %s: %s", path, strerror(errno));
        goto fail;
    }
    tab = malloc(sizeof *tab);
    if (!tab) {
        snprintf(msg, sizeof msg, "replay: out of memory");
        goto fail;
    }
    crc32_init(tab);
    replay_reader r = {f, tab, 0xFFFFFFFFu};
    replay_header h;
    memset(&h, 0, sizeof h);
    size_t hb = header_bytes();
    if ((uint64_t)sb.st_size < hb) {
        snprintf(msg, sizeof msg, "replay: %s is truncated (%lld bytes, shorter than the header)", path,
                 (long long)sb.st_size);
        goto fail;
    }
    int rc = 0;
#define X(fl) rc |= rd(&r, &h.fl, sizeof h.fl);
    HEADER_FIELDS(X)
#undef X
    if (rc) {
        snprintf(msg, sizeof msg, "replay: %s: read error in the header", path);
        goto fail;
    }
    if (memcmp(h.magic, REPLAY_MAGIC, 8) != 0) {
        snprintf(msg, sizeof msg, "replay: %s is not a replay memory file (bad magic)", path);
        goto fail;
    }
    if (h.version != REPLAY_VERSION) {
        snprintf(msg, sizeof msg, "replay: %s has format version %u, this build reads version %u", path,
                 h.version, REPLAY_VERSION);
        goto fail;
    }
    if (h.bom != REPLAY_BOM) {
        snprintf(msg, sizeof msg, "replay: %s was written with another byte order", path);
        goto fail;
    }
    CFG_MISMATCH("capacity", (unsigned long long)h.capacity, (unsigned long long)m->cfg.capacity, "%llu")
    CFG_MISMATCH("stack", h.stack, m->cfg.stack, "%d")
    CFG_MISMATCH("height", h.height, m->cfg.height, "%d")
    CFG_MISMATCH("width", h.width, m->cfg.width, "%d")
    CFG_MISMATCH("num_streams", h.num_streams, m->cfg.num_streams, "%d")
    CFG_MISMATCH("n_step", h.n_step, m->opt.n_step, "%d")
    CFG_MISMATCH("gamma", (double)h.gamma, (double)m->opt.gamma, "%g")
    CFG_MISMATCH("alpha", (double)h.alpha, (double)m->opt.alpha, "%g")
    CFG_MISMATCH("priority_eps", (double)h.priority_eps, (double)m->opt.priority_eps, "%g")
    CFG_MISMATCH("frame_reserve", (unsigned long long)h.frame_reserve,
                 (unsigned long long)m->opt.frame_reserve, "%llu")
    CFG_MISMATCH("frame slots", (unsigned)h.nframes, (unsigned)m->nframes, "%u")

    size_t S = (size_t)m->cfg.num_streams, N = (size_t)m->opt.n_step, F = m->nframes, C = m->cap;
    uint64_t nvalid = h.written < F ? h.written : F;
    uint64_t frames_off = hb + arrays_bytes(m);
    uint64_t want = frames_off + nvalid * m->frame_bytes + sizeof(uint32_t);
    if ((uint64_t)sb.st_size != want) {
        snprintf(msg, sizeof msg, "replay: %s is %s (%lld bytes, expected %llu)", path,
                 (uint64_t)sb.st_size < want ? "truncated" : "longer than its header says",
                 (long long)sb.st_size, (unsigned long long)want);
        goto fail;
    }

    l.streams = calloc(S, sizeof *l.streams);
    l.pend_action = calloc(S * N, sizeof *l.pend_action);
    l.pend_reward = calloc(S * N, sizeof *l.pend_reward);
    l.prev = malloc(F * sizeof *l.prev);
    l.last_user = malloc(F * sizeof *l.last_user);
    l.next = malloc(C * sizeof *l.next);
    l.action = malloc(C * sizeof *l.action);
    l.reward = malloc(C * sizeof *l.reward);
    l.flags = malloc(C * sizeof *l.flags);
    if (m->tree)
        l.prio = malloc(C * sizeof *l.prio);
    size_t chunk = (size_t)1 << 20;
    scratch = malloc(chunk);
    if (!l.streams || !l.pend_action || !l.pend_reward || !l.prev || !l.last_user || !l.next ||
        !l.action || !l.reward || !l.flags || (m->tree && !l.prio) || !scratch) {
        snprintf(msg, sizeof msg, "replay: out of memory loading %s", path);
        goto fail;
    }
    for (size_t s = 0; s < S; s++) {
        uint32_t v[4];
        rc |= rd(&r, v, sizeof v);
        l.streams[s] = (replay_stream){v[0], v[1], v[2], v[3]};
    }
    rc |= rd(&r, l.pend_action, S * N * sizeof *l.pend_action);
    rc |= rd(&r, l.pend_reward, S * N * sizeof *l.pend_reward);
    rc |= rd(&r, l.prev, F * sizeof *l.prev);
    rc |= rd(&r, l.last_user, F * sizeof *l.last_user);
    rc |= rd(&r, l.next, C * sizeof *l.next);
    rc |= rd(&r, l.action, C * sizeof *l.action);
    rc |= rd(&r, l.reward, C * sizeof *l.reward);
    rc |= rd(&r, l.flags, C * sizeof *l.flags);
    if (l.prio)
        rc |= rd(&r, l.prio, C * sizeof *l.prio);
    /* First pass over the frames only checks them, so that a bad file leaves the memory as it was. */
    for (uint64_t left = nvalid * m->frame_bytes; left && !rc;) {
        size_t k = left < chunk ? (size_t)left : chunk;
        rc |= rd(&r, scratch, k);
        left -= k;
    }
    uint32_t stored = 0;
    if (!rc && fread(&stored, 1, sizeof stored, f) != sizeof stored)
        rc = -1;
    if (rc) {
        snprintf(msg, sizeof msg, "replay: %s: read error (file changed while loading?)", path);
        goto fail;
    }
    if (stored != ~r.crc) {
        snprintf(msg, sizeof msg, "replay: %s: checksum mismatch (stored %08x, computed %08x): file is corrupted",
                 path, stored, ~r.crc);
        goto fail;
    }
    const char *why = check_loaded(m, &h, &l);
    if (why) {
        snprintf(msg, sizeof msg, "replay: %s: %s", path, why);
        goto fail;
    }

    /* Second pass: the frames straight into the ring. */
    if (fseek(f, (long)frames_off, SEEK_SET) != 0 ||
        fread(m->frames, 1, (size_t)nvalid * m->frame_bytes, f) != (size_t)nvalid * m->frame_bytes) {
        reset_state(m);
        cleared = 1;
        snprintf(msg, sizeof msg, "replay: %s: read error in the second pass (file changed while loading?)",
                 path);
        goto fail;
    }
    memcpy(m->streams, l.streams, S * sizeof *l.streams);
    memcpy(m->pend_action, l.pend_action, S * N * sizeof *l.pend_action);
    memcpy(m->pend_reward, l.pend_reward, S * N * sizeof *l.pend_reward);
    memcpy(m->prev, l.prev, F * sizeof *l.prev);
    memcpy(m->last_user, l.last_user, F * sizeof *l.last_user);
    memcpy(m->next, l.next, C * sizeof *l.next);
    memcpy(m->action, l.action, C * sizeof *l.action);
    memcpy(m->reward, l.reward, C * sizeof *l.reward);
    memcpy(m->flags, l.flags, C * sizeof *l.flags);
    m->written = h.written;
    m->start = h.start;
    m->end = h.end;
    m->cursor = h.cursor;
    m->max_pa = h.max_pa;
    if (m->tree) {
        memset(m->tree, 0, (size_t)m->leaves * 2 * sizeof *m->tree);
        memcpy(m->tree + m->leaves, l.prio, C * sizeof *l.prio);
        for (uint32_t i = m->leaves - 1; i >= 1; i--)
            m->tree[i] = m->tree[2 * i] + m->tree[2 * i + 1];
    }
    fclose(f);
    free(tab);
    free(scratch);
    loaded_free(&l);
    return 0;

fail:
    if (cleared) {
        size_t len = strlen(msg);
        snprintf(msg + len, sizeof msg - len, "; memory cleared");
    }
    set_err(err, errlen, msg);
    if (f)
        fclose(f);
    free(tab);
    free(scratch);
    loaded_free(&l);
    return -1;
}
