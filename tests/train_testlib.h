/* train_testlib.h: what the `smbrl train` integration tests share beyond running the
 * program: reading a run's state files, and checking that a bad setup fails as it should.
 * Header-only, like testlib.h. */
#ifndef SMBRL_TRAIN_TESTLIB_H
#define SMBRL_TRAIN_TESTLIB_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proc_testlib.h"
#include "smbrl/safetensors.h"
#include "smbrl/train.h"
#include "testlib.h"

/* worker.counts of a state file into cnt (steps, pushes, restarts per worker) and, when
 * adam_step is not NULL, the shared Adam step; the worker count, or -1. */
static inline int state_counts(const char *path, int64_t cnt[][3], int maxw, int64_t *adam_step)
{
    st_file *f;
    char err[512];
    if (st_open(&f, path, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    const st_tensor *t = st_find(f, "worker.counts");
    int w = t && t->ndim == 2 && t->shape[1] == 3 && t->shape[0] <= maxw ? (int)t->shape[0] : -1;
    if (w > 0)
        memcpy(cnt, t->data, (size_t)t->nbytes);
    if (adam_step) {
        const char *as = st_meta(f, "adam_step");
        *adam_step = as ? strtoll(as, NULL, 10) : -1;
    }
    st_close(f);
    return w;
}

/* The newest state file of a run directory into out; its step, or -1. */
static inline int64_t latest_state(const char *dir, char *out, size_t n)
{
    char err[512];
    if (train_resolve_state(dir, out, n, err, sizeof err) < 0)
        return -1;
    const char *b = strrchr(out, '/');
    return strtoll(b + 7, NULL, 10);
}

/* smbrl with args must exit with code, print msg in one stderr line, and start no worker. */
static inline void expect_train_fail(const char *bin, const char *work, const char *tag,
                                     const char *const *args, int code, const char *msg)
{
    int rc = proc_finish(proc_start(bin, work, tag, args));
    char e[1200], o[1200];
    snprintf(e, sizeof e, "%s/%s.err", work, tag);
    snprintf(o, sizeof o, "%s/%s.out", work, tag);
    if (rc != code || !testlib_file_has(e, msg)) {
        char *s = testlib_read_file(e, NULL);
        fprintf(stderr, "%s: exit %d (want %d), stderr: %s (want '%s')\n", tag, rc, code, s ? s : "", msg);
        free(s);
        testlib_failures++;
    }
    CHECK(!testlib_file_has(o, "worker 0 started"));
    char *s = testlib_read_file(e, NULL);
    int lines = 0;
    for (const char *c = s; c && *c; c++)
        lines += *c == '\n';
    CHECK_EQ_INT(lines, 1);
    free(s);
}

#endif
