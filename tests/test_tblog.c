/* test_tblog.c: CRC-32C and TFRecord framing against FORMATS.md's known answers, event file
 * naming, a round trip of scalars through writer and reader, and corruption detection. */
#include "smbrl/rng.h"
#include "smbrl/tblog.h"
#include "testlib.h"

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static void make_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/smbrl_tb_XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        exit(1);
    }
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[600];
    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            struct stat st;
            if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
                remove_tree(p);
            else
                unlink(p);
        }
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

/* Rewrites in place and trims, instead of truncating to zero first: on ext4 mounted
 * with discard, freeing and reallocating the block on each of thousands of rewrites
 * costs about a millisecond apiece. */
static void write_bytes(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    if (fd < 0 || (n && write(fd, p, n) != (ssize_t)n) || ftruncate(fd, (off_t)n) != 0 || close(fd) != 0) {
        perror(path);
        exit(1);
    }
}

static size_t parse_hex(const char *hex, unsigned char *out)
{
    size_t n = 0;
    unsigned v;
    int used;
    while (sscanf(hex, " %2x%n", &v, &used) == 1) {
        out[n++] = (unsigned char)v;
        hex += used;
    }
    return n;
}

/* FORMATS.md's two known-answer records. */
static const char kat_version[] =
    "18 00 00 00 00 00 00 00 a3 7f 4b 22 09 00 00 00 40 fc 54 d9 41 1a 0d 62 72 61 69 6e 2e 45 76 65 6e 74 3a "
    "32 ec ed 8f 9d";
static const char kat_scalar[] =
    "1a 00 00 00 00 00 00 00 12 9b d8 2d 09 00 00 40 40 fc 54 d9 41 10 64 2a 0d 0a 0b 0a 04 6c 6f 73 73 15 00 "
    "00 00 3f df 54 62 67";

static void test_crc(void)
{
    CHECK_EQ_INT(tblog_crc32c("123456789", 9), 0xE3069283u);
    CHECK_EQ_INT(tblog_crc32c_bitwise("123456789", 9), 0xE3069283u);
    CHECK_EQ_INT(tblog_crc32c("", 0), 0);
    /* RFC 3720 (iSCSI) B.4 vectors: 32 zero bytes and 32 0xFF bytes. */
    unsigned char z[32], ff[32];
    memset(z, 0, sizeof z);
    memset(ff, 0xff, sizeof ff);
    CHECK_EQ_INT(tblog_crc32c(z, 32), 0x8A9136AAu);
    CHECK_EQ_INT(tblog_crc32c(ff, 32), 0x62A8AB43u);
    /* Table version against the bitwise reference on seeded random data of all short lengths. */
    rng r;
    rng_seed(&r, 7);
    unsigned char buf[300];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)rng_u32(&r);
    for (size_t n = 0; n <= sizeof buf; n++)
        CHECK_EQ_INT(tblog_crc32c(buf, n), tblog_crc32c_bitwise(buf, n));
    /* Masking of the first known record's length field (0x18 as u64) gives a3 7f 4b 22. */
    unsigned char len[8] = {0x18};
    CHECK_EQ_INT(tblog_masked_crc32c(len, 8), 0x224B7FA3u);
    uint32_t c = tblog_crc32c(len, 8);
    CHECK_EQ_INT(tblog_masked_crc32c(len, 8), (uint32_t)(((c >> 15) | (c << 17)) + 0xA282EAD8u));
}

static void test_known_records(void)
{
    unsigned char want[128];
    size_t n1 = parse_hex(kat_version, want);
    size_t n2 = parse_hex(kat_scalar, want + n1);
    CHECK_EQ_INT(n1, 40);
    CHECK_EQ_INT(n2, 42);
    char path[400], err[512];
    snprintf(path, sizeof path, "%s/events.out.tfevents.kat", tmpdir);
    tblog *log = NULL;
    CHECK_EQ_INT(tblog_open_file(&log, path, 1700000000.0, err, sizeof err), 0);
    if (!log) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    CHECK(strcmp(tblog_path(log), path) == 0);
    CHECK_EQ_INT(tblog_scalar(log, "loss", 100, 0.5f, 1700000001.0, err, sizeof err), 0);
    CHECK_EQ_INT(tblog_close(log, err, sizeof err), 0);
    size_t n = 0;
    unsigned char *got = testlib_read_file(path, &n);
    CHECK_EQ_INT(n, n1 + n2);
    if (got && n == n1 + n2) {
        CHECK(memcmp(got, want, n1) == 0);
        CHECK(memcmp(got + n1, want + n1, n2) == 0);
    }
    free(got);
}

typedef struct collected {
    int n;
    int versions;
    int64_t first_record_of_version;
    double version_time;
    char tags[400][32];
    int64_t steps[400];
    float values[400];
    double times[400];
    int64_t records[400];
    int stop_after;
} collected;

static int collect(void *user, const tblog_event *ev)
{
    collected *c = user;
    if (ev->file_version) {
        CHECK(ev->tag == NULL);
        CHECK(strcmp(ev->file_version, TBLOG_FILE_VERSION) == 0);
        if (c->versions++ == 0) {
            c->first_record_of_version = ev->record;
            c->version_time = ev->wall_time;
        }
        return 0;
    }
    CHECK(ev->tag != NULL);
    if (c->n < 400) {
        snprintf(c->tags[c->n], sizeof c->tags[0], "%s", ev->tag);
        c->steps[c->n] = ev->step;
        c->values[c->n] = ev->value;
        c->times[c->n] = ev->wall_time;
        c->records[c->n] = ev->record;
    }
    c->n++;
    return (c->stop_after && c->n == c->stop_after) ? 5 : 0;
}

static void test_reads_known_records(void)
{
    char path[400], err[512];
    snprintf(path, sizeof path, "%s/events.out.tfevents.kat", tmpdir);
    /* Written from the hex, so the reader is checked independently of the writer. */
    unsigned char raw[128];
    size_t n = parse_hex(kat_version, raw);
    n += parse_hex(kat_scalar, raw + n);
    write_bytes(path, raw, n);
    collected *c = calloc(1, sizeof *c);
    int64_t nrec = -1;
    CHECK_EQ_INT(tblog_read_file(path, collect, c, &nrec, err, sizeof err), 0);
    CHECK_EQ_INT(nrec, 2);
    CHECK_EQ_INT(c->versions, 1);
    CHECK_EQ_INT(c->first_record_of_version, 0);
    CHECK(c->version_time == 1700000000.0);
    CHECK_EQ_INT(c->n, 1);
    CHECK(strcmp(c->tags[0], "loss") == 0);
    CHECK_EQ_INT(c->steps[0], 100);
    CHECK(c->values[0] == 0.5f);
    CHECK(c->times[0] == 1700000001.0);
    CHECK_EQ_INT(c->records[0], 1);
    free(c);
}

static int same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

static void test_round_trip(void)
{
    char dir[400], err[512];
    snprintf(dir, sizeof dir, "%s/run1", tmpdir); /* does not exist yet: tblog_open creates it */
    tblog *log = NULL;
    double before = tblog_now();
    int rc = tblog_open(&log, dir, err, sizeof err);
    CHECK_EQ_INT(rc, 0);
    if (rc) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    enum { N = 300 };
    static const char *tags[] = {"loss", "reward/episode", "epsilon", "q_mean", "fps"};
    float vals[N];
    int64_t steps[N];
    rng r;
    rng_seed(&r, 99);
    for (int i = 0; i < N; i++) {
        uint32_t u = rng_u32(&r);
        memcpy(&vals[i], &u, sizeof u);
        if (isnan(vals[i]))
            vals[i] = (float)rng_normal(&r);
        steps[i] = (int64_t)i * 1000;
    }
    /* Values with edge cases: zero must still be written (proto3 would drop it outside a oneof). */
    vals[0] = 0.0f;
    vals[1] = -0.0f;
    vals[2] = INFINITY;
    vals[3] = -INFINITY;
    vals[4] = 1e-45f;
    vals[5] = 3.4028235e38f;
    steps[6] = 0;
    steps[7] = -5;
    steps[8] = INT64_MAX;
    steps[9] = (int64_t)1 << 40;
    for (int i = 0; i < N; i++)
        CHECK_EQ_INT(tblog_scalar(log, tags[i % 5], steps[i], vals[i], 1700000000.0 + i * 0.25, err, sizeof err), 0);
    CHECK_EQ_INT(tblog_scalar(log, "nan", 1, NAN, 1.0, err, sizeof err), 0);
    CHECK(tblog_scalar(log, NULL, 1, 1.0f, 1.0, err, sizeof err) < 0);
    CHECK_EQ_INT(tblog_flush(log, err, sizeof err), 0);

    /* After a flush, the file on disk is complete and readable while the log is open. */
    char path[600];
    snprintf(path, sizeof path, "%s", tblog_path(log));
    collected *c = calloc(1, sizeof *c);
    int64_t nrec = 0;
    CHECK_EQ_INT(tblog_read_file(path, collect, c, &nrec, err, sizeof err), 0);
    CHECK_EQ_INT(nrec, N + 2);
    CHECK_EQ_INT(c->n, N + 1);
    CHECK_EQ_INT(tblog_close(log, err, sizeof err), 0);

    CHECK_EQ_INT(c->versions, 1);
    CHECK_EQ_INT(c->first_record_of_version, 0);
    CHECK(c->version_time >= floor(before) && c->version_time <= tblog_now() + 1.0);
    for (int i = 0; i < N && i < c->n; i++) {
        CHECK(strcmp(c->tags[i], tags[i % 5]) == 0);
        CHECK_EQ_INT(c->steps[i], steps[i]);
        CHECK(same_bits(c->values[i], vals[i]));
        CHECK(c->times[i] == 1700000000.0 + i * 0.25);
        CHECK_EQ_INT(c->records[i], i + 1);
    }
    CHECK(strcmp(c->tags[N], "nan") == 0 && isnan(c->values[N]));

    /* The callback can stop the reader; its value comes back. */
    memset(c, 0, sizeof *c);
    c->stop_after = 10;
    CHECK_EQ_INT(tblog_read_file(path, collect, c, &nrec, err, sizeof err), 5);
    CHECK_EQ_INT(c->n, 10);
    CHECK_EQ_INT(nrec, 11);
    free(c);

    /* The name TensorBoard looks for: events.out.tfevents.<10 digits>.<host>.<pid>. */
    const char *base = strrchr(path, '/') + 1;
    CHECK(strncmp(base, "events.out.tfevents.", 20) == 0);
    const char *t = base + 20;
    for (int i = 0; i < 10; i++)
        CHECK(t[i] >= '0' && t[i] <= '9');
    CHECK(t[10] == '.');
    long long secs = atoll(t);
    CHECK(secs >= (long long)before - 1 && secs <= (long long)tblog_now() + 1);
    char host[256] = "";
    gethostname(host, sizeof host);
    host[sizeof host - 1] = '\0';
    char tail[300];
    snprintf(tail, sizeof tail, ".%s.%ld", host, (long)getpid());
    CHECK(strcmp(t + 10, tail) == 0);

    /* Two logs in the same folder and second get two files. */
    tblog *a = NULL, *b = NULL;
    CHECK_EQ_INT(tblog_open(&a, dir, err, sizeof err), 0);
    CHECK_EQ_INT(tblog_open(&b, dir, err, sizeof err), 0);
    if (a && b) {
        CHECK(strcmp(tblog_path(a), tblog_path(b)) != 0);
        CHECK(strstr(tblog_path(b), "tfevents") != NULL);
        CHECK_EQ_INT(tblog_scalar(a, "x", 1, 1.0f, 1.0, err, sizeof err), 0);
        CHECK_EQ_INT(tblog_scalar(b, "y", 2, 2.0f, 2.0, err, sizeof err), 0);
    }
    CHECK_EQ_INT(tblog_close(a, err, sizeof err), 0);
    CHECK_EQ_INT(tblog_close(b, err, sizeof err), 0);
    CHECK_EQ_INT(tblog_close(NULL, err, sizeof err), 0);

    char bad[500];
    snprintf(bad, sizeof bad, "%s/no/such/dir", tmpdir);
    CHECK(tblog_open(&a, bad, err, sizeof err) < 0);
    CHECK(a == NULL);
    CHECK(strstr(err, bad) != NULL);
}

/* The reader must refuse each of these with `why` in a one-line message naming the file. */
static void expect_refused(const char *path, const unsigned char *p, size_t n, const char *why)
{
    char err[512] = "";
    write_bytes(path, p, n);
    int rc = tblog_read_file(path, NULL, NULL, NULL, err, sizeof err);
    CHECK(rc < 0);
    if (rc < 0) {
        CHECK(strstr(err, path) != NULL);
        CHECK(strchr(err, '\n') == NULL);
        if (why && !strstr(err, why)) {
            fprintf(stderr, "expected '%s' in: %s\n", why, err);
            testlib_failures++;
        }
    }
}

static void frame(unsigned char *out, const unsigned char *data, size_t n)
{
    for (int i = 0; i < 8; i++)
        out[i] = (unsigned char)((uint64_t)n >> (8 * i));
    uint32_t c = tblog_masked_crc32c(out, 8);
    for (int i = 0; i < 4; i++)
        out[8 + i] = (unsigned char)(c >> (8 * i));
    if (n)
        memcpy(out + 12, data, n);
    c = tblog_masked_crc32c(data, n);
    for (int i = 0; i < 4; i++)
        out[12 + n + i] = (unsigned char)(c >> (8 * i));
}

static void test_corruption(void)
{
    char good[400], bad[400], err[512];
    snprintf(good, sizeof good, "%s/events.out.tfevents.small", tmpdir);
    snprintf(bad, sizeof bad, "%s/events.out.tfevents.bad", tmpdir);
    tblog *log = NULL;
    CHECK_EQ_INT(tblog_open_file(&log, good, 1700000000.0, err, sizeof err), 0);
    CHECK_EQ_INT(tblog_scalar(log, "loss", 1, 0.25f, 1700000001.0, err, sizeof err), 0);
    CHECK_EQ_INT(tblog_scalar(log, "loss", 2, 0.125f, 1700000002.0, err, sizeof err), 0);
    CHECK_EQ_INT(tblog_close(log, err, sizeof err), 0);
    size_t n = 0;
    unsigned char *orig = testlib_read_file(good, &n);
    unsigned char *buf = malloc(n + 64);
    CHECK_EQ_INT(tblog_read_file(good, NULL, NULL, NULL, err, sizeof err), 0);

    /* Any single changed byte, anywhere, is caught by one of the two CRCs. */
    int missed = 0;
    static const unsigned char masks[] = {0x01, 0x10, 0x80, 0xff};
    for (size_t pos = 0; pos < n; pos++) {
        for (size_t m = 0; m < sizeof masks; m++) {
            memcpy(buf, orig, n);
            buf[pos] ^= masks[m];
            write_bytes(bad, buf, n);
            if (tblog_read_file(bad, NULL, NULL, NULL, err, sizeof err) >= 0)
                missed++;
            else
                CHECK(strstr(err, "CRC") || strstr(err, "truncated"));
        }
    }
    CHECK_EQ_INT(missed, 0);

    /* Truncation: every cut inside a record is refused; a cut at a record boundary reads clean. */
    size_t r1 = 40, r2 = r1 + 42; /* record sizes: 16 + 24, 16 + 26 (a "loss" scalar, one-byte step) */
    for (size_t len = 0; len < n; len++) {
        write_bytes(bad, orig, len);
        int64_t nrec = -1;
        int rc = tblog_read_file(bad, NULL, NULL, &nrec, err, sizeof err);
        if (len == 0 || len == r1 || len == r2) {
            CHECK_EQ_INT(rc, 0);
            CHECK_EQ_INT(nrec, len == 0 ? 0 : len == r1 ? 1 : 2);
        } else {
            CHECK(rc < 0);
            CHECK(strstr(err, "truncated") != NULL);
        }
    }

    /* Specific failures and their messages. */
    memcpy(buf, orig, n);
    buf[8] ^= 1;
    expect_refused(bad, buf, n, "length CRC");
    memcpy(buf, orig, n);
    buf[n - 1] ^= 1;
    expect_refused(bad, buf, n, "data CRC");
    memcpy(buf, orig, n);
    buf[r1 + 20] ^= 4;
    expect_refused(bad, buf, n, "record 1 at offset 40");
    /* A huge length with a valid length CRC: refused before any allocation of that size. */
    unsigned char hugerec[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
    uint32_t c = tblog_masked_crc32c(hugerec, 8);
    for (int i = 0; i < 4; i++)
        hugerec[8 + i] = (unsigned char)(c >> (8 * i));
    expect_refused(bad, hugerec, sizeof hugerec, "truncated");
    /* Valid framing around bytes that are not an Event. */
    static const unsigned char junk[] = {0xff, 0xff, 0xff, 0xff, 0xff};
    unsigned char framed[64];
    frame(framed, junk, sizeof junk);
    expect_refused(bad, framed, sizeof junk + 16, "not a valid Event");
    /* An empty record is a valid (empty) Event: verified and skipped. */
    frame(framed, NULL, 0);
    write_bytes(bad, framed, 16);
    int64_t nrec = 0;
    collected *col = calloc(1, sizeof *col);
    CHECK_EQ_INT(tblog_read_file(bad, collect, col, &nrec, err, sizeof err), 0);
    CHECK_EQ_INT(nrec, 1);
    CHECK_EQ_INT(col->n + col->versions, 0);
    free(col);

    snprintf(bad, sizeof bad, "%s/absent", tmpdir);
    CHECK(tblog_read_file(bad, NULL, NULL, NULL, err, sizeof err) < 0);
    CHECK(strstr(err, bad) != NULL);
    free(buf);
    free(orig);
}

int main(void)
{
    make_tmpdir();
    test_crc();
    test_known_records();
    test_reads_known_records();
    test_round_trip();
    test_corruption();
    remove_tree(tmpdir);
    return testlib_finish("test_tblog");
}
