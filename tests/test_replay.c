/* test_replay.c: replay memory stacks across episode boundaries, interleaved
 * streams, ring wrap-around, idle streams, memory budget, uniform and
 * deterministic sampling. */
#include "test_replay_common.h"

static replay *make(size_t cap, int stack, int h, int w, int S, const replay_options *o)
{
    replay_config c = {cap, stack, h, w, S};
    char err[256] = "";
    replay *m = replay_create_ex(&c, o, err, sizeof err);
    if (!m)
        fprintf(stderr, "replay_create_ex: %s\n", err);
    CHECK(m != NULL);
    return m;
}

static void test_config(void)
{
    char err[256];
    replay_config zero = {0};
    replay *m = replay_create(&zero, err, sizeof err);
    CHECK(m != NULL);
    if (m) {
        CHECK_EQ_INT(replay_size(m), 0);
        rng r;
        rng_seed(&r, 1);
        replay_batch b = {0};
        CHECK(replay_sample(m, &r, 4, &b) < 0); /* empty */
        CHECK_EQ_INT(replay_memory_bytes(m), replay_bytes_needed(&zero, NULL));
        replay_free(m);
    }
    replay_config bad[] = {
        {100, 0 - 1, 84, 84, 1}, {100, 4, -3, 84, 1}, {100, 4, 84, 84, -1},
        {(size_t)1 << 30, 4, 84, 84, 1}, {100, 64, 84, 84, 1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        CHECK(replay_create(&bad[i], err, sizeof err) == NULL);
        CHECK(strncmp(err, "replay: ", 8) == 0);
        CHECK_EQ_INT(replay_bytes_needed(&bad[i], NULL), 0);
    }
    replay_config ok = {100, 4, 8, 8, 1};
    replay_options bo[] = {{.n_step = 17}, {.n_step = 3, .gamma = 1.5f}, {.alpha = -1.0f},
                           {.priority_eps = -1.0f}};
    for (size_t i = 0; i < sizeof bo / sizeof bo[0]; i++) {
        err[0] = 0;
        CHECK(replay_create_ex(&ok, &bo[i], err, sizeof err) == NULL);
        CHECK(err[0] != 0);
    }
}

/* One stream, 84x84 frames, episodes of 1..12 steps (many shorter than the
 * stack): every sampled byte of every stack matches the log. */
static void test_boundaries(void)
{
    replay *m = make(600, 4, 84, 84, 1, NULL);
    if (!m)
        return;
    rdriver d;
    rdriver_init(&d, m, 1, 4, 84, 84, 11);
    rdriver_run_rounds(&d, 500);
    CHECK_EQ_INT(replay_size(m), 500);
    rng r;
    rng_seed(&r, 5);
    int *hits = calloc((size_t)d.nlog, sizeof *hits);
    CHECK_EQ_INT(rcheck_many(&d, &r, 20 * 500, 1, 1.0, hits), 0);
    int missing = 0;
    for (int i = 0; i < d.nlog; i++)
        missing += hits[i] == 0;
    CHECK_EQ_INT(missing, 0);
    free(hits);
    rdriver_free(&d);
    replay_free(m);
}

/* Checks that the live window is exactly the newest replay_size() steps (one-step
 * transitions are stored in add order) and that all of them sample correctly. */
static void check_window(const rdriver *d, uint64_t seed)
{
    size_t size = replay_size(d->m);
    int lo = d->nlog - (int)size;
    int *hits = calloc((size_t)d->nlog, sizeof *hits);
    rng r;
    rng_seed(&r, seed);
    CHECK_EQ_INT(rcheck_many(d, &r, 20 * (int)size, 1, 1.0, hits), 0);
    int outside = 0, missing = 0;
    for (int i = 0; i < d->nlog; i++) {
        if (i < lo)
            outside += hits[i];
        else
            missing += hits[i] == 0;
    }
    CHECK_EQ_INT(outside, 0);
    CHECK_EQ_INT(missing, 0);
    free(hits);
}

/* Many times around the ring: interleaved round-robin streams, short episodes. */
static void test_wraparound(void)
{
    const size_t cap = 250;
    replay *m = make(cap, 4, 5, 7, 4, NULL);
    if (!m)
        return;
    rdriver d;
    rdriver_init(&d, m, 4, 4, 5, 7, 21);
    d.abandon_pct = 3;
    for (int round = 0; round < 12; round++) {
        rdriver_run_rounds(&d, 250); /* 1000 steps: 4 x capacity */
        size_t size = replay_size(m);
        CHECK(size <= cap);
        /* Episodes average 6.5 steps, so reset frames take about 1/7 of the ring. */
        CHECK(size >= cap * 3 / 4);
        check_window(&d, 100 + (uint64_t)round);
    }
    rdriver_free(&d);
    replay_free(m);

    /* With room for the reset frames the memory holds exactly its capacity. */
    replay_options o = {.frame_reserve = 100};
    m = make(cap, 4, 5, 7, 4, &o);
    if (!m)
        return;
    rdriver_init(&d, m, 4, 4, 5, 7, 22);
    d.min_len = 20;
    d.max_len = 40;
    for (int round = 0; round < 5; round++) {
        rdriver_run_rounds(&d, 1000);
        CHECK_EQ_INT(replay_size(m), cap);
        check_window(&d, 200 + (uint64_t)round);
    }
    rdriver_free(&d);
    replay_free(m);
}

/* Streams chosen at random: bursts of one stream, long idle spells of another,
 * abandoned episodes. */
static void test_random_streams(void)
{
    replay *m = make(300, 3, 4, 6, 5, NULL);
    if (!m)
        return;
    rdriver d;
    rdriver_init(&d, m, 5, 3, 4, 6, 31);
    d.abandon_pct = 5;
    d.max_len = 30;
    for (int round = 0; round < 10; round++) {
        rdriver_run_random(&d, 1000);
        CHECK(replay_size(m) <= 300);
        CHECK(replay_size(m) >= 200);
        check_window(&d, 300 + (uint64_t)round);
    }
    rdriver_free(&d);
    replay_free(m);
}

/* A stream that stays idle while the others write the ring over many times
 * must still find its earlier frames when it resumes. */
static void test_idle_stream(void)
{
    replay *m = make(40, 4, 3, 5, 3, NULL);
    if (!m)
        return;
    rdriver d;
    rdriver_init(&d, m, 3, 4, 3, 5, 41);
    d.min_len = d.max_len = 1000;
    for (int i = 0; i < 2; i++)
        rdriver_step(&d, 2);
    for (int i = 0; i < 2000; i++)
        rdriver_step(&d, i % 2);
    int first = d.nlog;
    for (int i = 0; i < 6; i++)
        rdriver_step(&d, 2);
    check_window(&d, 400);
    /* The resumed stream's steps are the newest six, and their states reach
     * back to frames written before the idle spell. */
    rbatch rb;
    rbatch_init(&rb, 64, 4, d.fb);
    rng r;
    rng_seed(&r, 401);
    uint8_t scratch[15];
    int seen = 0;
    for (int k = 0; k < 50; k++) {
        replay_sample(m, &r, 64, &rb.b);
        for (int i = 0; i < 64; i++)
            if (rb.b.actions[i] >= first) {
                CHECK(rcheck_sample(&d, &rb.b, i, 1, 1.0, scratch) >= 0);
                seen++;
            }
    }
    CHECK(seen > 0);
    rbatch_free(&rb);
    rdriver_free(&d);
    replay_free(m);
}

static void test_budget(void)
{
    int streams[] = {1, 8};
    for (int k = 0; k < 2; k++) {
        replay_config c = {100000, 4, 84, 84, streams[k]};
        char err[256];
        replay *m = replay_create(&c, err, sizeof err);
        CHECK(m != NULL);
        if (!m)
            continue;
        double per = (double)replay_memory_bytes(m) / 100000.0;
        printf("capacity 100000, %d stream(s): %.1f bytes per transition (frame 7056)\n", streams[k], per);
        CHECK(per <= 7056.0 + 64.0);
        CHECK(per >= 7056.0); /* the count includes the frames */
        CHECK_EQ_INT(replay_memory_bytes(m), replay_bytes_needed(&c, NULL));
        replay_free(m);
    }
}

/* Chi-square of per-transition counts: 400 transitions, 200,000 draws. */
static void test_uniform(void)
{
    const int cap = 400;
    replay *m = make((size_t)cap, 2, 2, 3, 1, NULL);
    if (!m)
        return;
    rdriver d;
    rdriver_init(&d, m, 1, 2, 2, 3, 51);
    d.min_len = 50;
    d.max_len = 80;
    rdriver_run_rounds(&d, 3 * cap + 17);
    CHECK_EQ_INT(replay_size(m), cap);
    int lo = d.nlog - cap;
    rng r;
    rng_seed(&r, 52);
    const int bs = 100, draws = 200000;
    int *count = calloc((size_t)cap, sizeof *count);
    int32_t act[100];
    replay_batch b = {NULL, NULL, act, NULL, NULL};
    for (int k = 0; k < draws / bs; k++) {
        CHECK_EQ_INT(replay_sample(m, &r, bs, &b), 0);
        for (int i = 0; i < bs; i++) {
            int j = act[i] - lo;
            CHECK(j >= 0 && j < cap);
            if (j >= 0 && j < cap)
                count[j]++;
        }
    }
    double e = (double)draws / cap, chi2 = 0.0;
    for (int j = 0; j < cap; j++)
        chi2 += (count[j] - e) * (count[j] - e) / e;
    /* 399 degrees of freedom: mean 399, sd 28.2; 6 sd above. */
    printf("uniformity: chi-square %.1f over 399 degrees of freedom\n", chi2);
    CHECK(chi2 < 399.0 + 6.0 * 28.2);
    CHECK(chi2 > 399.0 - 6.0 * 28.2);
    free(count);

    /* Same seed, same batch; another seed, another batch. */
    rbatch a, b2, c;
    rbatch_init(&a, 32, 2, d.fb);
    rbatch_init(&b2, 32, 2, d.fb);
    rbatch_init(&c, 32, 2, d.fb);
    rng_seed(&r, 99);
    replay_sample(m, &r, 32, &a.b);
    rng_seed(&r, 99);
    replay_sample(m, &r, 32, &b2.b);
    rng_seed(&r, 100);
    replay_sample(m, &r, 32, &c.b);
    CHECK(rbatch_equal(&a, &b2, 2, d.fb));
    CHECK(!rbatch_equal(&a, &c, 2, d.fb));
    rbatch_free(&a);
    rbatch_free(&b2);
    rbatch_free(&c);
    rdriver_free(&d);
    replay_free(m);
}

int main(void)
{
    test_config();
    test_boundaries();
    test_wraparound();
    test_random_streams();
    test_idle_stream();
    test_budget();
    test_uniform();
    return testlib_finish("test_replay");
}
