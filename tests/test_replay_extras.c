/* test_replay_extras.c: n-step returns and proportional prioritized replay. */
#include "test_replay_common.h"

static replay *make(size_t cap, int stack, int S, const replay_options *o)
{
    replay_config c = {cap, stack, 4, 5, S};
    char err[256] = "";
    replay *m = replay_create_ex(&c, o, err, sizeof err);
    if (!m)
        fprintf(stderr, "replay_create_ex: %s\n", err);
    CHECK(m != NULL);
    return m;
}

/* Steps whose n-step transition the memory should hold by now: n steps
 * followed in the same episode, or the episode ended within n steps. */
static int expected_emitted(const rdriver *d, int nstep, int *emitted)
{
    int count = 0;
    for (int id = 0; id < d->nlog; id++) {
        float ret;
        int done, next_t;
        emitted[id] = rexpect(d, id, nstep, 0.5, &ret, &done, &next_t);
        count += emitted[id];
    }
    return count;
}

static void test_nstep(int nstep)
{
    replay_options o = {.n_step = nstep, .gamma = 0.5f};
    replay *m = make(5000, 4, 3, &o);
    if (!m)
        return;
    rdriver d;
    rdriver_init(&d, m, 3, 4, 4, 5, 81 + (uint64_t)nstep);
    d.min_len = 1;
    d.max_len = 9;
    d.abandon_pct = 4; /* abandoned episodes drop their last n-1 steps */
    rdriver_run_random(&d, 3000);
    int *emitted = calloc((size_t)d.nlog, sizeof *emitted);
    int *hits = calloc((size_t)d.nlog, sizeof *hits);
    int want = expected_emitted(&d, nstep, emitted);
    CHECK_EQ_INT(replay_size(m), want);
    CHECK(want < d.nlog || nstep == 1);
    rng r;
    rng_seed(&r, 82);
    CHECK_EQ_INT(rcheck_many(&d, &r, 20 * want, nstep, 0.5, hits), 0);
    int missing = 0;
    for (int id = 0; id < d.nlog; id++)
        missing += emitted[id] && !hits[id];
    CHECK_EQ_INT(missing, 0);
    free(emitted);
    free(hits);

    /* Past the capacity many times over, content stays right. */
    rdriver_run_random(&d, 40000);
    /* Episodes average 5 steps, so a sixth of the ring holds reset frames, and
     * abandoned episodes leave frames without transitions. */
    printf("n_step %d: %zu transitions live in a memory of 5000\n", nstep, replay_size(m));
    CHECK(replay_size(m) <= 5000 && replay_size(m) > 3500);
    CHECK_EQ_INT(rcheck_many(&d, &r, 20000, nstep, 0.5, NULL), 0);
    rdriver_free(&d);
    replay_free(m);
}

/* Probability mass check helper: fraction of `draws` samples whose id satisfies pred. */
static void test_prioritized(void)
{
    const int cap = 100;
    replay_options o = {.alpha = 1.0f, .priority_eps = 1e-6f};
    replay *m = make((size_t)cap, 2, 1, &o);
    if (!m)
        return;
    rdriver d;
    rdriver_init(&d, m, 1, 2, 4, 5, 91);
    d.min_len = d.max_len = 100000;
    rdriver_run_rounds(&d, cap);
    CHECK_EQ_INT(replay_size(m), cap);

    enum { B = 100 };
    int32_t act[B];
    float w[B];
    uint64_t idx[B];
    replay_batch b = {NULL, NULL, act, NULL, NULL};
    rng r;
    rng_seed(&r, 92);

    /* Fresh transitions share the initial priority: weights are all 1. */
    uint64_t pos_of[100];
    int seen = 0;
    for (int i = 0; i < cap; i++)
        pos_of[i] = UINT64_MAX;
    for (int k = 0; k < 50; k++) {
        CHECK_EQ_INT(replay_sample_ex(m, &r, B, 0.4f, &b, idx, w), 0);
        for (int i = 0; i < B; i++) {
            CHECK(fabsf(w[i] - 1.0f) < 1e-6f);
            CHECK(act[i] >= 0 && act[i] < cap);
            if (act[i] >= 0 && act[i] < cap && pos_of[act[i]] == UINT64_MAX) {
                pos_of[act[i]] = idx[i];
                seen++;
            }
        }
    }
    CHECK_EQ_INT(seen, cap);
    if (seen != cap)
        goto out;

    /* Every tenth transition gets 10x the priority: it holds 100 of 190 units of mass. */
    uint64_t all[100];
    float td[100];
    for (int i = 0; i < cap; i++) {
        all[i] = pos_of[i];
        td[i] = i % 10 == 0 ? 10.0f : 1.0f;
    }
    CHECK_EQ_INT(replay_update_priorities(m, cap, all, td), cap);
    int high = 0, n = 0;
    for (int k = 0; k < 1000; k++) {
        replay_sample_ex(m, &r, B, 1.0f, &b, idx, w);
        for (int i = 0; i < B; i++, n++) {
            int hi = act[i] % 10 == 0;
            high += hi;
            /* beta = 1: weight proportional to 1/p, normalized so the largest
             * (a low-priority draw, present in every batch of 100) is 1. */
            CHECK(fabsf(w[i] - (hi ? 0.1f : 1.0f)) < 1e-4f);
            CHECK(idx[i] == pos_of[act[i]]);
        }
    }
    double frac = (double)high / n;
    printf("prioritized: high-priority fraction %.4f (expected %.4f)\n", frac, 100.0 / 190.0);
    CHECK(fabs(frac - 100.0 / 190.0) < 0.01);

    /* 50 more steps drop the 50 oldest; new ones enter at the largest priority
     * so far (10): 500 of 50 + 45 + 500 units of mass. */
    rdriver_run_rounds(&d, 50);
    CHECK_EQ_INT(replay_size(m), cap);
    int fresh = 0, old = 0;
    n = 0;
    for (int k = 0; k < 1000; k++) {
        replay_sample_ex(m, &r, B, 0.0f, &b, idx, NULL);
        for (int i = 0; i < B; i++, n++) {
            CHECK(act[i] >= 50);
            old += act[i] < 50;
            fresh += act[i] >= cap;
        }
    }
    CHECK_EQ_INT(old, 0);
    frac = (double)fresh / n;
    printf("prioritized: new-transition fraction %.4f (expected %.4f)\n", frac, 500.0 / 595.0);
    CHECK(fabs(frac - 500.0 / 595.0) < 0.01);

    /* Indices of dropped transitions and non-finite errors are skipped. */
    float one[2] = {5.0f, NAN};
    uint64_t gone[2] = {pos_of[0], pos_of[60]};
    CHECK_EQ_INT(replay_update_priorities(m, 2, gone, one), 0);

    /* Uniform memories ignore priority updates and give unit weights. */
    replay *u = make(10, 2, 1, NULL);
    if (u) {
        rdriver du;
        rdriver_init(&du, u, 1, 2, 4, 5, 93);
        rdriver_run_rounds(&du, 10);
        CHECK_EQ_INT(replay_sample_ex(u, &r, B, 0.5f, &b, idx, w), 0);
        for (int i = 0; i < B; i++)
            CHECK(w[i] == 1.0f && idx[i] < 10);
        CHECK_EQ_INT(replay_update_priorities(u, B, idx, w), 0);
        rdriver_free(&du);
        replay_free(u);
    }
out:
    rdriver_free(&d);
    replay_free(m);
}

/* Prioritized sampling while short episodes make the frame ring drop
 * transitions before the capacity does: a dropped transition must leave the
 * sum-tree, or stale slots would be drawn. */
static void test_prioritized_window(void)
{
    replay_options o = {.n_step = 2, .gamma = 0.5f, .alpha = 0.6f};
    replay *m = make(300, 3, 4, &o);
    if (!m)
        return;
    rdriver d;
    rdriver_init(&d, m, 4, 3, 4, 5, 95);
    d.min_len = 1;
    d.max_len = 4;
    enum { B = 64 };
    rbatch rb;
    rbatch_init(&rb, B, 3, d.fb);
    uint64_t idx[B];
    float w[B], td[B];
    uint8_t scratch[20];
    rng r;
    rng_seed(&r, 96);
    int bad = 0;
    for (int round = 0; round < 40; round++) {
        rdriver_run_rounds(&d, 40); /* round-robin, so emission order lags step order by < 8 */
        CHECK(replay_size(m) < 300); /* the frames, not the capacity, are the limit here */
        for (int k = 0; k < 10; k++) {
            CHECK_EQ_INT(replay_sample_ex(m, &r, B, 0.5f, &rb.b, idx, w), 0);
            for (int i = 0; i < B; i++) {
                /* Everything drawn is among the newest size + streams * n steps. */
                if (rcheck_sample(&d, &rb.b, i, 2, 0.5, scratch) < 0 ||
                    rb.b.actions[i] < d.nlog - (int)replay_size(m) - 8)
                    bad++;
                td[i] = (float)(rb.b.actions[i] % 5);
            }
            replay_update_priorities(m, B, idx, td);
        }
    }
    CHECK_EQ_INT(bad, 0);
    rbatch_free(&rb);
    rdriver_free(&d);
    replay_free(m);
}

int main(void)
{
    test_nstep(1);
    test_nstep(3);
    test_nstep(5);
    test_prioritized();
    test_prioritized_window();
    return testlib_finish("test_replay_extras");
}
