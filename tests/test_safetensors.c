/* test_safetensors.c: safetensors writer/reader against FORMATS.md's known-answer vector,
 * round trips, and malformed files (truncation at every byte, header corruption). */
#include "smbrl/rng.h"
#include "smbrl/safetensors.h"
#include "testlib.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static void make_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/smbrl_st_XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        exit(1);
    }
}

static void remove_tmpdir(void)
{
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    char p[512];
    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
            unlink(p);
        }
    }
    if (d)
        closedir(d);
    rmdir(tmpdir);
}

static int count_dir_entries(void)
{
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)))
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (d)
        closedir(d);
    return n;
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

/* An error must be one line that names the file. */
static void check_err_line(const char *err, const char *path)
{
    CHECK(strlen(err) > 0);
    CHECK(strstr(err, path) != NULL);
    CHECK(strchr(err, '\n') == NULL);
}

static const char kat_json[] = "{\"test\":{\"dtype\":\"I32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}";

static void test_known_answer_read(void)
{
    /* FORMATS.md: 3C 00.. then the 60-byte JSON, then 16 zero bytes (no padding). */
    unsigned char buf[8 + 60 + 16] = {0x3C};
    CHECK_EQ_INT(strlen(kat_json), 60);
    memcpy(buf + 8, kat_json, 60);
    char path[300], err[512];
    snprintf(path, sizeof path, "%s/kat.safetensors", tmpdir);
    write_bytes(path, buf, sizeof buf);
    st_file *f = NULL;
    int rc = st_open(&f, path, err, sizeof err);
    CHECK_EQ_INT(rc, 0);
    if (rc != 0) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    CHECK_EQ_INT(st_count(f), 1);
    CHECK_EQ_INT(st_meta_count(f), 0);
    const st_tensor *t = st_find(f, "test");
    CHECK(t != NULL);
    if (t) {
        CHECK_EQ_INT(t->dtype, ST_I32);
        CHECK_EQ_INT(t->ndim, 2);
        CHECK_EQ_INT(t->shape[0], 2);
        CHECK_EQ_INT(t->shape[1], 2);
        CHECK_EQ_INT(t->numel, 4);
        CHECK_EQ_INT(t->nbytes, 16);
        CHECK_EQ_INT(t->offset, 0);
    }
    int32_t out[4] = {1, 1, 1, 1};
    int64_t shape[2] = {2, 2};
    CHECK_EQ_INT(st_read(f, "test", ST_I32, 2, shape, out, sizeof out, err, sizeof err), 0);
    CHECK(out[0] == 0 && out[1] == 0 && out[2] == 0 && out[3] == 0);
    CHECK(st_find(f, "nope") == NULL);
    st_close(f);
}

static void test_known_answer_write(void)
{
    /* The same tensor through our writer: the reference pads 60 bytes of JSON to 64 with spaces. */
    int32_t zeros[4] = {0, 0, 0, 0};
    int64_t shape[2] = {2, 2};
    st_tensor_desc d = {"test", ST_I32, 2, shape, zeros};
    char path[300], err[512];
    snprintf(path, sizeof path, "%s/kat_w.safetensors", tmpdir);
    CHECK_EQ_INT(st_write(path, &d, 1, NULL, 0, err, sizeof err), 0);
    size_t n = 0;
    unsigned char *p = testlib_read_file(path, &n);
    unsigned char want[8 + 64 + 16] = {0x40};
    memcpy(want + 8, kat_json, 60);
    memcpy(want + 68, "    ", 4);
    CHECK(p != NULL);
    CHECK_EQ_INT(n, sizeof want);
    if (p && n == sizeof want)
        CHECK(memcmp(p, want, n) == 0);
    free(p);
    unlink(path);
}

static void test_round_trip(void)
{
    float w[3][4];
    for (int i = 0; i < 12; i++)
        w[i / 4][i % 4] = (float)i * 0.25f - 1.0f;
    uint8_t bytes[5] = {1, 2, 3, 250, 255};
    int64_t big[2] = {INT64_MIN, INT64_MAX};
    double scalar = 3.141592653589793;
    uint16_t bf[3] = {0x3f80, 0xc000, 0x7fc0};
    int64_t s_w[2] = {3, 4}, s_b[1] = {5}, s_big[1] = {2}, s_empty[2] = {0, 3}, s_bf[1] = {3};
    st_tensor_desc t[] = {
        {"layer.0.weight", ST_F32, 2, s_w, w},
        {"odd_bytes", ST_U8, 1, s_b, bytes},
        {"big", ST_I64, 1, s_big, big},
        {"scalar", ST_F64, 0, NULL, &scalar},
        {"empty", ST_F32, 2, s_empty, NULL},
        {"bf16", ST_BF16, 1, s_bf, bf},
    };
    st_kv meta[] = {
        {"step", "123456"},
        {"args", "--lr 1e-4 \"quoted\" back\\slash\nnewline\ttab"},
        {"unicode", "Mario \xc3\xa9\xe2\x82\xac\xf0\x9f\x8d\x84"},
        {"empty", ""},
    };
    size_t nt = sizeof t / sizeof t[0], nm = sizeof meta / sizeof meta[0];
    char path[300], err[512];
    snprintf(path, sizeof path, "%s/rt.safetensors", tmpdir);
    int rc = st_write(path, t, nt, meta, nm, err, sizeof err);
    CHECK_EQ_INT(rc, 0);
    if (rc) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    /* The temporary file is gone: only rt.safetensors is left. */
    CHECK_EQ_INT(count_dir_entries(), 2); /* kat.safetensors + rt.safetensors */

    size_t n = 0;
    unsigned char *raw = testlib_read_file(path, &n);
    CHECK(raw != NULL && n >= 16);
    if (!raw || n < 16) {
        free(raw);
        return;
    }
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++)
        hlen |= (uint64_t)raw[i] << (8 * i);
    CHECK_EQ_INT(hlen % 8, 0);
    CHECK(raw[8] == '{');
    size_t jend = 8 + (size_t)hlen;
    while (jend > 8 && raw[jend - 1] == ' ')
        jend--;
    CHECK(raw[jend - 1] == '}');
    CHECK((8 + hlen) - jend < 8);
    /* Data in the order given, back to back. */
    size_t total = sizeof w + sizeof bytes + sizeof big + sizeof scalar + sizeof bf;
    CHECK_EQ_INT(n, 8 + hlen + total);
    const unsigned char *data = raw + 8 + hlen;
    CHECK(memcmp(data, w, sizeof w) == 0);
    CHECK(memcmp(data + 48, bytes, 5) == 0);
    CHECK(memcmp(data + 53, big, 16) == 0);
    CHECK(memcmp(data + 69, &scalar, 8) == 0);
    CHECK(memcmp(data + 77, bf, 6) == 0);
    free(raw);

    st_file *f = NULL;
    rc = st_open(&f, path, err, sizeof err);
    CHECK_EQ_INT(rc, 0);
    if (rc) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    CHECK_EQ_INT(st_count(f), nt);
    uint64_t off = 0;
    for (size_t i = 0; i < nt; i++) {
        const st_tensor *g = st_tensor_at(f, i);
        CHECK(strcmp(g->name, t[i].name) == 0);
        CHECK(st_find(f, t[i].name) == g);
        CHECK_EQ_INT(g->dtype, t[i].dtype);
        CHECK_EQ_INT(g->ndim, t[i].ndim);
        uint64_t numel = 1;
        for (int k = 0; k < g->ndim; k++) {
            CHECK_EQ_INT(g->shape[k], t[i].shape[k]);
            numel *= (uint64_t)t[i].shape[k];
        }
        CHECK_EQ_INT(g->numel, numel);
        CHECK_EQ_INT(g->nbytes, numel * st_dtype_size(t[i].dtype));
        CHECK_EQ_INT(g->offset, off);
        if (g->nbytes)
            CHECK(memcmp(g->data, t[i].data, g->nbytes) == 0);
        off += g->nbytes;
    }
    CHECK(st_tensor_at(f, nt) == NULL);
    CHECK_EQ_INT(st_meta_count(f), nm);
    for (size_t i = 0; i < nm; i++) {
        const char *v = st_meta(f, meta[i].key), *k2 = NULL, *v2 = NULL;
        CHECK(v && strcmp(v, meta[i].value) == 0);
        CHECK_EQ_INT(st_meta_at(f, i, &k2, &v2), 0);
        CHECK(k2 && strcmp(k2, meta[i].key) == 0 && v2 == v);
    }
    CHECK(st_meta(f, "missing") == NULL);
    CHECK(st_meta_at(f, nm, &(const char *){NULL}, &(const char *){NULL}) == -1);

    float back[3][4];
    CHECK_EQ_INT(st_read(f, "layer.0.weight", ST_F32, 2, s_w, back, sizeof back, err, sizeof err), 0);
    CHECK(memcmp(back, w, sizeof w) == 0);
    /* Each mismatch is refused with a reason naming the file and the tensor. */
    int64_t wrong[2] = {4, 3};
    CHECK(st_read(f, "layer.0.weight", ST_F32, 2, wrong, back, sizeof back, err, sizeof err) < 0);
    check_err_line(err, path);
    CHECK(strstr(err, "[3,4]") && strstr(err, "[4,3]"));
    CHECK(st_read(f, "layer.0.weight", ST_I32, 2, s_w, back, sizeof back, err, sizeof err) < 0);
    CHECK(strstr(err, "F32") && strstr(err, "I32"));
    CHECK(st_read(f, "layer.0.weight", ST_F32, 1, s_w, back, sizeof back, err, sizeof err) < 0);
    CHECK(st_read(f, "layer.0.weight", ST_F32, 2, s_w, back, sizeof back - 4, err, sizeof err) < 0);
    CHECK(st_read(f, "missing", ST_F32, 2, s_w, back, sizeof back, err, sizeof err) < 0);
    CHECK(strstr(err, "missing") != NULL);
    st_close(f);

    /* Writing again replaces the file atomically; still no temporaries left. */
    CHECK_EQ_INT(st_write(path, t, 1, NULL, 0, err, sizeof err), 0);
    CHECK_EQ_INT(st_open(&f, path, err, sizeof err), 0);
    if (f) {
        CHECK_EQ_INT(st_count(f), 1);
        CHECK_EQ_INT(st_meta_count(f), 0);
        st_close(f);
    }
    CHECK_EQ_INT(count_dir_entries(), 2);
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0444) == 0444);

    /* Zero tensors: a header of "{}" padded to 8. */
    CHECK_EQ_INT(st_write(path, NULL, 0, NULL, 0, err, sizeof err), 0);
    raw = testlib_read_file(path, &n);
    CHECK_EQ_INT(n, 16);
    if (raw && n == 16)
        CHECK(memcmp(raw, "\x08\0\0\0\0\0\0\0{}      ", 16) == 0);
    free(raw);
    CHECK_EQ_INT(st_open(&f, path, err, sizeof err), 0);
    if (f) {
        CHECK_EQ_INT(st_count(f), 0);
        st_close(f);
    }
    unlink(path);
}

static void test_write_errors(void)
{
    char path[300], err[512];
    snprintf(path, sizeof path, "%s/bad.safetensors", tmpdir);
    float x[2] = {1, 2};
    int64_t s2[1] = {2}, sneg[1] = {-1};
    st_tensor_desc dup[2] = {{"a", ST_F32, 1, s2, x}, {"a", ST_F32, 1, s2, x}};
    CHECK(st_write(path, dup, 2, NULL, 0, err, sizeof err) < 0);
    check_err_line(err, path);
    CHECK(strstr(err, "duplicate") != NULL);
    st_tensor_desc reserved = {"__metadata__", ST_F32, 1, s2, x};
    CHECK(st_write(path, &reserved, 1, NULL, 0, err, sizeof err) < 0);
    st_tensor_desc baddtype = {"a", ST_DTYPE_COUNT, 1, s2, x};
    CHECK(st_write(path, &baddtype, 1, NULL, 0, err, sizeof err) < 0);
    st_tensor_desc negdim = {"a", ST_F32, 1, sneg, x};
    CHECK(st_write(path, &negdim, 1, NULL, 0, err, sizeof err) < 0);
    st_tensor_desc nodata = {"a", ST_F32, 1, s2, NULL};
    CHECK(st_write(path, &nodata, 1, NULL, 0, err, sizeof err) < 0);
    st_tensor_desc badutf = {"a\xff", ST_F32, 1, s2, x};
    CHECK(st_write(path, &badutf, 1, NULL, 0, err, sizeof err) < 0);
    st_kv dupmeta[2] = {{"k", "1"}, {"k", "2"}};
    CHECK(st_write(path, dup, 1, dupmeta, 2, err, sizeof err) < 0);
    st_kv nullmeta = {"k", NULL};
    CHECK(st_write(path, dup, 1, &nullmeta, 1, err, sizeof err) < 0);
    struct stat sb;
    CHECK(stat(path, &sb) != 0); /* nothing was written */

    char nodir[400];
    snprintf(nodir, sizeof nodir, "%s/no/such/dir/x.safetensors", tmpdir);
    CHECK(st_write(nodir, dup, 1, NULL, 0, err, sizeof err) < 0);
    check_err_line(err, nodir);

    /* A failed write leaves the previous file intact. */
    CHECK_EQ_INT(st_write(path, dup, 1, NULL, 0, err, sizeof err), 0);
    CHECK(st_write(path, dup, 2, NULL, 0, err, sizeof err) < 0);
    st_file *f = NULL;
    CHECK_EQ_INT(st_open(&f, path, err, sizeof err), 0);
    if (f) {
        CHECK_EQ_INT(st_count(f), 1);
        st_close(f);
    }
    unlink(path);
}

/* Builds a file from header text (padded to 8 unless raw) and data_len bytes of data,
 * expects st_open to refuse it with `why` in the message. */
static void expect_bad(const char *json, size_t data_len, const char *why)
{
    char path[300], err[512];
    snprintf(path, sizeof path, "%s/hand.safetensors", tmpdir);
    size_t jl = strlen(json);
    size_t n = 8 + jl + data_len;
    unsigned char *buf = calloc(1, n);
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)((uint64_t)jl >> (8 * i));
    memcpy(buf + 8, json, jl);
    write_bytes(path, buf, n);
    free(buf);
    st_file *f = NULL;
    int rc = st_open(&f, path, err, sizeof err);
    CHECK(rc < 0);
    CHECK(f == NULL);
    if (rc < 0) {
        check_err_line(err, path);
        if (!strstr(err, why)) {
            fprintf(stderr, "expected '%s' in: %s\n", why, err);
            testlib_failures++;
        }
    } else {
        fprintf(stderr, "accepted a bad file: %s\n", json);
        st_close(f);
    }
    unlink(path);
}

static void expect_good(const char *json, size_t data_len, size_t n_tensors)
{
    char path[300], err[512];
    snprintf(path, sizeof path, "%s/hand.safetensors", tmpdir);
    size_t jl = strlen(json);
    size_t n = 8 + jl + data_len;
    unsigned char *buf = calloc(1, n);
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)((uint64_t)jl >> (8 * i));
    memcpy(buf + 8, json, jl);
    write_bytes(path, buf, n);
    free(buf);
    st_file *f = NULL;
    int rc = st_open(&f, path, err, sizeof err);
    CHECK_EQ_INT(rc, 0);
    if (rc == 0) {
        CHECK_EQ_INT(st_count(f), n_tensors);
        st_close(f);
    } else {
        fprintf(stderr, "refused a good file: %s\n", err);
    }
    unlink(path);
}

static void test_hand_made(void)
{
    /* Accepted: offsets listed out of order, zero-size tensors sharing an offset, padding. */
    expect_good("{\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[4,6]},"
                "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                6, 2);
    expect_good("{\"e1\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
                "\"e2\":{\"dtype\":\"I64\",\"shape\":[3,0],\"data_offsets\":[0,0]},"
                "\"a\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[0,1]}}   ",
                1, 3);
    expect_good("{\"__metadata__\":{\"k\":\"v\"}}", 0, 0);

    const char *t1 = "\"a\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]}";
    char buf[512];
    expect_bad("[1,2]", 0, "start with");
    expect_bad("{\"a\":1}", 0, "not a JSON object");
    expect_bad("{\"a\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]", 8, "not valid JSON");
    expect_bad("{\"a\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]}}x", 8, "not valid JSON");
    expect_bad(" {}", 0, "start with");
    expect_bad("{\"a\xc0\xaf\":1}", 0, "UTF-8");
    expect_bad("{\"a\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "unknown dtype");
    expect_bad("{\"a\":{\"dtype\":7,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "dtype");
    expect_bad("{\"a\":{\"dtype\":\"I32\",\"data_offsets\":[0,8]}}", 8, "shape");
    expect_bad("{\"a\":{\"dtype\":\"I32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "shape[0]");
    expect_bad("{\"a\":{\"dtype\":\"I32\",\"shape\":[1.5],\"data_offsets\":[0,8]}}", 8, "shape[0]");
    expect_bad("{\"a\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, "data_offsets");
    expect_bad("{\"a\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8,9]}}", 8, "data_offsets");
    expect_bad("{\"a\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "< begin");
    expect_bad("{\"a\":{\"dtype\":\"I32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "need 12 bytes");
    expect_bad("{\"a\":{\"dtype\":\"I32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,8]}}", 8,
               "overflow");
    snprintf(buf, sizeof buf, "{%s}", t1);
    expect_bad(buf, 9, "data area holds 9");
    expect_bad(buf, 7, "data area holds 7");
    snprintf(buf, sizeof buf, "{%s,\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[9,11]}}", t1);
    expect_bad(buf, 11, "gap");
    snprintf(buf, sizeof buf, "{%s,\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[7,9]}}", t1);
    expect_bad(buf, 9, "overlap");
    snprintf(buf, sizeof buf, "{\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]}}");
    expect_bad(buf, 4, "gap");
    snprintf(buf, sizeof buf, "{%s,%s}", t1, t1);
    expect_bad(buf, 8, "appears twice");
    snprintf(buf, sizeof buf, "{%s,\"__metadata__\":{\"k\":1}}", t1);
    expect_bad(buf, 8, "not a string");
    snprintf(buf, sizeof buf, "{%s,\"__metadata__\":[\"k\"]}", t1);
    expect_bad(buf, 8, "__metadata__");
    snprintf(buf, sizeof buf, "{%s,\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", t1);
    expect_bad(buf, 8, "appears twice");

    /* Header length fields that are impossible. */
    char path[300], err[512];
    snprintf(path, sizeof path, "%s/len.safetensors", tmpdir);
    unsigned char small[16] = {0x00, 0xE2, 0xF5, 0x05, 0, 0, 0, 0, '{', '}'}; /* 100,000,256 */
    write_bytes(path, small, sizeof small);
    st_file *f = NULL;
    CHECK(st_open(&f, path, err, sizeof err) < 0);
    check_err_line(err, path);
    CHECK(strstr(err, "exceeds") != NULL);
    unsigned char huge[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    write_bytes(path, huge, sizeof huge);
    CHECK(st_open(&f, path, err, sizeof err) < 0);
    CHECK(strstr(err, "exceeds") != NULL);
    unsigned char past[16] = {9, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
    write_bytes(path, past, sizeof past);
    CHECK(st_open(&f, path, err, sizeof err) < 0);
    CHECK(strstr(err, "past the end") != NULL);
    write_bytes(path, past, 5);
    CHECK(st_open(&f, path, err, sizeof err) < 0);
    CHECK(strstr(err, "too short") != NULL);
    unlink(path);
    snprintf(path, sizeof path, "%s/absent.safetensors", tmpdir);
    CHECK(st_open(&f, path, err, sizeof err) < 0);
    check_err_line(err, path);
    CHECK(st_open(&f, tmpdir, err, sizeof err) < 0); /* a folder */
    check_err_line(err, tmpdir);
}

/* A small valid file, for corruption tests. */
static unsigned char *small_file(const char *path, size_t *n)
{
    float a[3] = {1.0f, 2.0f, 3.0f};
    uint8_t b[3] = {7, 8, 9};
    int64_t sa[1] = {3}, sb[2] = {1, 3};
    st_tensor_desc t[2] = {{"a", ST_F32, 1, sa, a}, {"b", ST_U8, 2, sb, b}};
    st_kv m = {"step", "42"};
    char err[512];
    if (st_write(path, t, 2, &m, 1, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    return testlib_read_file(path, n);
}

/* What a successfully opened (possibly corrupted) file must still guarantee. */
static void check_invariants(const st_file *f, size_t file_size)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < st_count(f); i++) {
        const st_tensor *t = st_tensor_at(f, i);
        CHECK(t->nbytes == t->numel * st_dtype_size(t->dtype));
        CHECK(t->offset + t->nbytes <= file_size);
        sum += t->nbytes;
        if (t->nbytes) {
            volatile unsigned char x = ((const unsigned char *)t->data)[t->nbytes - 1];
            (void)x;
        }
    }
    CHECK(sum < file_size);
}

static void test_truncation(void)
{
    char path[300], cut[300], err[512];
    snprintf(path, sizeof path, "%s/small.safetensors", tmpdir);
    snprintf(cut, sizeof cut, "%s/cut.safetensors", tmpdir);
    size_t n = 0;
    unsigned char *good = small_file(path, &n);
    st_file *f = NULL;
    CHECK_EQ_INT(st_open(&f, path, err, sizeof err), 0);
    st_close(f);
    int refused = 0;
    for (size_t len = 0; len < n; len++) {
        write_bytes(cut, good, len);
        f = NULL;
        int rc = st_open(&f, cut, err, sizeof err);
        if (rc < 0) {
            refused++;
            check_err_line(err, cut);
        } else {
            st_close(f);
        }
    }
    /* No prefix of a valid file is itself valid: the data area always comes up short. */
    CHECK_EQ_INT(refused, n);
    /* One extra byte at the end is refused too. */
    unsigned char *longer = malloc(n + 1);
    memcpy(longer, good, n);
    longer[n] = 0;
    write_bytes(cut, longer, n + 1);
    CHECK(st_open(&f, cut, err, sizeof err) < 0);
    free(longer);
    free(good);
    unlink(cut);
    unlink(path);
}

static void test_header_corruption(void)
{
    char path[300], bad[300], err[512];
    snprintf(path, sizeof path, "%s/small.safetensors", tmpdir);
    snprintf(bad, sizeof bad, "%s/flip.safetensors", tmpdir);
    size_t n = 0;
    unsigned char *good = small_file(path, &n);
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++)
        hlen |= (uint64_t)good[i] << (8 * i);
    unsigned char *buf = malloc(n);
    static const unsigned char masks[] = {0x01, 0x02, 0x08, 0x20, 0x80, 0xff};
    int refused = 0, total = 0;
    for (size_t pos = 0; pos < 8 + hlen; pos++) {
        for (size_t m = 0; m < sizeof masks; m++) {
            memcpy(buf, good, n);
            buf[pos] ^= masks[m];
            write_bytes(bad, buf, n);
            st_file *f = NULL;
            total++;
            if (st_open(&f, bad, err, sizeof err) < 0) {
                refused++;
                check_err_line(err, bad);
            } else {
                check_invariants(f, n);
                st_close(f);
            }
        }
    }
    /* Flips inside names, metadata values and padding can leave a valid file;
     * flips in the length, the structure or the numbers cannot. */
    CHECK(refused > total / 2);
    printf("header flips: %d of %d refused\n", refused, total);

    /* Seeded random multi-byte mutations anywhere in the file. */
    rng r;
    rng_seed(&r, 12345);
    for (int iter = 0; iter < 3000; iter++) {
        memcpy(buf, good, n);
        int k = 1 + (int)rng_below(&r, 4);
        for (int j = 0; j < k; j++)
            buf[rng_below(&r, (uint32_t)(8 + hlen))] = (unsigned char)rng_u32(&r);
        size_t len = rng_below(&r, 4) == 0 ? rng_below(&r, (uint32_t)n + 1) : n;
        write_bytes(bad, buf, len);
        st_file *f = NULL;
        if (st_open(&f, bad, err, sizeof err) < 0) {
            check_err_line(err, bad);
        } else {
            check_invariants(f, len);
            st_close(f);
        }
    }
    free(buf);
    free(good);
    unlink(bad);
    unlink(path);
}

static void test_dtypes(void)
{
    static const char *names[] = {"BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16",
                                  "BF16", "I32", "U32", "F32", "I64", "U64", "F64"};
    static const size_t sizes[] = {1, 1, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 8, 8, 8};
    CHECK_EQ_INT(sizeof names / sizeof names[0], ST_DTYPE_COUNT);
    for (int i = 0; i < ST_DTYPE_COUNT; i++) {
        st_dtype d;
        CHECK(st_dtype_parse(names[i], &d) == 0 && d == (st_dtype)i);
        CHECK(strcmp(st_dtype_name((st_dtype)i), names[i]) == 0);
        CHECK_EQ_INT(st_dtype_size((st_dtype)i), sizes[i]);
    }
    st_dtype d;
    CHECK(st_dtype_parse("f32", &d) < 0);
    CHECK(st_dtype_name(ST_DTYPE_COUNT) == NULL);
    CHECK_EQ_INT(st_dtype_size(ST_DTYPE_COUNT), 0);
}

/* The fixture tests/safetensors_xcheck.py reads with Python's own json and struct:
 * an independent reader of our output (Debian has no safetensors package). */
static int write_fixture(const char *path)
{
    float a[2][3];
    for (int i = 0; i < 6; i++)
        a[i / 3][i % 3] = (float)i * 0.5f - 1.0f;
    int64_t b[3] = {-1, 0, (int64_t)1 << 40};
    uint8_t c[5] = {0, 1, 2, 3, 255};
    double d = 3.141592653589793;
    int64_t sa[2] = {2, 3}, sb[1] = {3}, sc[1] = {5}, se[2] = {0, 4};
    st_tensor_desc t[] = {{"a", ST_F32, 2, sa, a}, {"b", ST_I64, 1, sb, b}, {"c", ST_U8, 1, sc, c},
                          {"d", ST_F64, 0, NULL, &d}, {"e", ST_F32, 2, se, NULL}};
    st_kv meta[] = {{"step", "42"}, {"note", "caf\xc3\xa9 \"q\"\n"}};
    char err[512];
    if (st_write(path, t, 5, meta, 2, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--fixture") == 0)
        return write_fixture(argv[2]);
    make_tmpdir();
    test_dtypes();
    test_known_answer_read();
    test_known_answer_write();
    test_round_trip();
    test_write_errors();
    test_hand_made();
    test_truncation();
    test_header_corruption();
    remove_tmpdir();
    return testlib_finish("test_safetensors");
}
