/* testlib.h: tiny assertion helpers shared by the test programs.
 * A test returns 0 on pass, 1 on failure and 77 (CTest's SKIP_RETURN_CODE) when
 * the data it needs (a ROM) is missing; it always prints why it skipped. */
#ifndef SMBRL_TESTLIB_H
#define SMBRL_TESTLIB_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int testlib_failures;

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            testlib_failures++;                                                  \
        }                                                                        \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                       \
    do {                                                                         \
        long long ta_ = (long long)(a), tb_ = (long long)(b);                    \
        if (ta_ != tb_) {                                                        \
            fprintf(stderr, "%s:%d: CHECK_EQ failed: %s = %lld, %s = %lld\n",    \
                    __FILE__, __LINE__, #a, ta_, #b, tb_);                       \
            testlib_failures++;                                                  \
        }                                                                        \
    } while (0)

#define TEST_SKIP(...)                                                           \
    do {                                                                         \
        printf("SKIP: ");                                                        \
        printf(__VA_ARGS__);                                                     \
        printf("\n");                                                            \
        exit(77);                                                                \
    } while (0)

/* Path of a file inside $var, or skip the test with a reason when $var is unset. */
static inline const char *testlib_data_path(const char *var, const char *rel, char *buf, size_t len)
{
    const char *dir = getenv(var);
    if (!dir || !*dir)
        TEST_SKIP("%s is not set; cannot find %s", var, rel);
    snprintf(buf, len, "%s/%s", dir, rel);
    FILE *f = fopen(buf, "rb");
    if (!f)
        TEST_SKIP("%s not found under %s", rel, var);
    fclose(f);
    return buf;
}

/* The whole file, NUL-terminated, in malloc'd memory; its length in *len when len is
 * not NULL. NULL when the file cannot be opened or read. */
static inline void *testlib_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = 0;
        if (len)
            *len = (size_t)n;
    }
    return buf;
}

static inline int testlib_finish(const char *name)
{
    if (testlib_failures) {
        fprintf(stderr, "%s: %d check(s) failed\n", name, testlib_failures);
        return 1;
    }
    printf("%s: ok\n", name);
    return 0;
}

#endif
