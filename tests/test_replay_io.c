/* test_replay_io.c: replay memory save/load: a round trip continues exactly
 * where it stopped, and damaged or mismatched files are refused with a reason
 * while the memory stays as it was. */
#include <stdio.h>
#include <unistd.h>

#include "test_replay_common.h"

enum { CAP = 300, S = 3, STACK = 4, H = 6, W = 5 };

static replay *make(size_t cap, const replay_options *o)
{
    replay_config c = {cap, STACK, H, W, S};
    char err[256] = "";
    replay *m = replay_create_ex(&c, o, err, sizeof err);
    if (!m)
        fprintf(stderr, "replay_create_ex: %s\n", err);
    CHECK(m != NULL);
    return m;
}

/* Draws a batch with a fixed seed from each memory and compares all fields. */
static int same_samples(const replay *a, const replay *b, uint64_t seed)
{
    rbatch x, y;
    rbatch_init(&x, 64, STACK, (size_t)H * W);
    rbatch_init(&y, 64, STACK, (size_t)H * W);
    rng r;
    rng_seed(&r, seed);
    int ra = replay_sample(a, &r, 64, &x.b);
    rng_seed(&r, seed);
    int rb = replay_sample(b, &r, 64, &y.b);
    int eq = ra == 0 && rb == 0 && rbatch_equal(&x, &y, STACK, (size_t)H * W);
    rbatch_free(&x);
    rbatch_free(&y);
    return eq && replay_size(a) == replay_size(b);
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)n + 1);
    *len = fread(buf, 1, (size_t)n, f);
    fclose(f);
    return buf;
}

static void spit(const char *path, const uint8_t *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f)
        return;
    CHECK_EQ_INT(fwrite(buf, 1, len, f), len);
    fclose(f);
}

/* Plain bitwise CRC-32 (IEEE), independent of the library's table version. */
static uint32_t crc32_ref(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return ~c;
}

static void fix_crc(uint8_t *buf, size_t len)
{
    uint32_t c = crc32_ref(buf, len - 4);
    memcpy(buf + len - 4, &c, 4);
}

/* Loading `bytes` must fail with a message containing `want`, leaving `m` equal to `ref`. */
static void expect_refused(replay *m, const replay *ref, const char *path, const uint8_t *bytes, size_t len,
                           const char *want)
{
    if (bytes)
        spit(path, bytes, len);
    char err[512] = "";
    int rc = replay_load(m, path, err, sizeof err);
    CHECK(rc < 0);
    if (!strstr(err, want)) {
        fprintf(stderr, "load error \"%s\" does not mention \"%s\"\n", err, want);
        testlib_failures++;
    }
    CHECK(same_samples(m, ref, 7));
}

static void test_round_trip(const char *dir, const replay_options *o, int nstep)
{
    char path[512], bad[512], err[512] = "";
    snprintf(path, sizeof path, "%s/mem.rpl", dir);
    snprintf(bad, sizeof bad, "%s/bad.rpl", dir);

    replay *a = make(CAP, o), *b = make(CAP, o);
    if (!a || !b)
        return;
    rdriver da, db;
    rdriver_init(&da, a, S, STACK, H, W, 61);
    da.abandon_pct = 2;
    rdriver_run_random(&da, 2 * CAP + 37); /* wrapped, episodes in flight */
    CHECK_EQ_INT(replay_save(a, path, err, sizeof err), 0);
    if (err[0])
        fprintf(stderr, "save: %s\n", err);
    CHECK(access(path, F_OK) == 0);

    /* The stored checksum is standard CRC-32 of everything before it. */
    size_t len = 0;
    uint8_t *file = slurp(path, &len);
    CHECK(file != NULL && len > 100);
    if (!file)
        return;
    uint32_t stored;
    memcpy(&stored, file + len - 4, 4);
    CHECK_EQ_INT(stored, crc32_ref(file, len - 4));

    CHECK_EQ_INT(replay_load(b, path, err, sizeof err), 0);
    CHECK_EQ_INT(replay_size(a), replay_size(b));
    CHECK(same_samples(a, b, 1));
    CHECK(same_samples(a, b, 2));

    /* Resume: the same further steps into both give the same memory. The
     * driver's scenario state is copied so that both continue the same episodes. */
    db = da;
    db.m = b;
    db.log = malloc((size_t)da.caplog * sizeof *da.log);
    memcpy(db.log, da.log, (size_t)da.nlog * sizeof *da.log);
    db.frame = malloc(da.fb);
    rdriver_run_random(&da, CAP / 2);
    rdriver_run_random(&db, CAP / 2);
    CHECK(same_samples(a, b, 3));
    rng r;
    rng_seed(&r, 4);
    CHECK_EQ_INT(rcheck_many(&db, &r, 2000, nstep, 0.5, NULL), 0);

    /* Save again so the corruptions below start from b's current state. */
    CHECK_EQ_INT(replay_save(b, path, err, sizeof err), 0);
    free(file);
    file = slurp(path, &len);
    uint8_t *copy = malloc(len);

    memcpy(copy, file, len);
    copy[0] ^= 0x20;
    expect_refused(b, a, bad, copy, len, "bad magic");

    memcpy(copy, file, len);
    copy[8] = 99; /* version */
    fix_crc(copy, len);
    expect_refused(b, a, bad, copy, len, "version 99");

    expect_refused(b, a, bad, file, len - 1000, "truncated");
    expect_refused(b, a, bad, file, len - 1, "truncated");
    expect_refused(b, a, bad, file, 10, "truncated");
    expect_refused(b, a, bad, file, 0, "truncated");

    memcpy(copy, file, len);
    copy[len - 2000] ^= 1; /* a frame byte */
    expect_refused(b, a, bad, copy, len, "checksum mismatch");

    memcpy(copy, file, len);
    copy[len / 2] ^= 0x80; /* metadata */
    expect_refused(b, a, bad, copy, len, "checksum mismatch");

    memcpy(copy, file, len);
    copy[len - 1] ^= 0xff; /* the checksum itself */
    expect_refused(b, a, bad, copy, len, "checksum mismatch");

    uint8_t *longer = malloc(len + 3);
    memcpy(longer, file, len);
    memset(longer + len, 0, 3);
    expect_refused(b, a, bad, longer, len + 3, "longer than");
    free(longer);

    /* A well-formed file whose content is impossible: the first stream's head
     * slot far out of the ring. The header is 104 bytes; streams follow. */
    memcpy(copy, file, len);
    uint32_t huge = 0x7fffffffu;
    memcpy(copy + 104, &huge, 4);
    fix_crc(copy, len);
    expect_refused(b, a, bad, copy, len, "out of range");

    /* A transition's frame link out of range. */
    memcpy(copy, file, len);
    size_t prev_off = 104 + (size_t)S * 16 + (size_t)S * (size_t)nstep * 8;
    memcpy(copy + prev_off, &huge, 4);
    fix_crc(copy, len);
    expect_refused(b, a, bad, copy, len, "out of range");

    snprintf(bad, sizeof bad, "%s/missing.rpl", dir);
    expect_refused(b, a, bad, NULL, 0, "cannot open");

    /* Another configuration refuses the file. */
    replay *c = make(CAP + 1, o);
    if (c) {
        CHECK(replay_load(c, path, err, sizeof err) < 0);
        CHECK(strstr(err, "config mismatch") != NULL && strstr(err, "capacity") != NULL);
        CHECK_EQ_INT(replay_size(c), 0);
        replay_free(c);
    }
    replay_options other = o ? *o : (replay_options){0};
    other.n_step = nstep == 1 ? 2 : 1;
    other.gamma = 0.9f;
    c = make(CAP, &other);
    if (c) {
        CHECK(replay_load(c, path, err, sizeof err) < 0);
        CHECK(strstr(err, "config mismatch") != NULL);
        replay_free(c);
    }

    /* Saving into a directory that does not exist reports it. */
    snprintf(bad, sizeof bad, "%s/no/such/dir/mem.rpl", dir);
    CHECK(replay_save(b, bad, err, sizeof err) < 0);
    CHECK(strstr(err, "cannot create") != NULL);

    free(copy);
    free(file);
    rdriver_free(&da);
    rdriver_free(&db);
    replay_free(a);
    replay_free(b);
}

/* An empty memory and one that never wrapped round-trip too. */
static void test_small_states(const char *dir)
{
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/small.rpl", dir);
    replay *a = make(50, NULL), *b = make(50, NULL);
    if (!a || !b)
        return;
    CHECK_EQ_INT(replay_save(a, path, err, sizeof err), 0);
    CHECK_EQ_INT(replay_load(b, path, err, sizeof err), 0);
    CHECK_EQ_INT(replay_size(b), 0);
    rdriver d;
    rdriver_init(&d, a, S, STACK, H, W, 71);
    rdriver_run_rounds(&d, 5);
    CHECK_EQ_INT(replay_save(a, path, err, sizeof err), 0);
    CHECK_EQ_INT(replay_load(b, path, err, sizeof err), 0);
    CHECK(same_samples(a, b, 9));
    rdriver_free(&d);
    replay_free(a);
    replay_free(b);
}

int main(void)
{
    char dir[] = "/tmp/smbrl_test_replay_XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_round_trip(dir, NULL, 1);
    replay_options ns = {.n_step = 3, .gamma = 0.5f};
    test_round_trip(dir, &ns, 3);
    replay_options per = {.n_step = 2, .gamma = 0.5f, .alpha = 0.6f};
    test_round_trip(dir, &per, 2);
    test_small_states(dir);

    /* Nothing but the files the test named is left behind (no temp files). */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls %s | grep -c tmp", dir);
    FILE *p = popen(cmd, "r");
    int leftovers = -1;
    if (p) {
        if (fscanf(p, "%d", &leftovers) != 1)
            leftovers = -1;
        pclose(p);
    }
    CHECK_EQ_INT(leftovers, 0);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return testlib_finish("test_replay_io");
}
