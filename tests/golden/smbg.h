/* smbg.h: reader for the .smbg golden fixtures written by make_golden.py (format described
 * there), plus the comparison the golden tests print. Test-only code. */
#ifndef SMBRL_TESTS_SMBG_H
#define SMBRL_TESTS_SMBG_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct smbg_tensor {
    char name[64];
    int dtype; /* 0 f32, 1 int8 x scale, 2 u8, 3 i32 */
    int ndim;
    uint32_t dims[4];
    size_t count;
    float *f;    /* dtypes 0 and 1, decoded to float */
    uint8_t *u8; /* dtype 2 */
    int32_t *i32;/* dtype 3 */
} smbg_tensor;

typedef struct smbg {
    int count;
    smbg_tensor *t;
} smbg;

static uint32_t smbg_crc32(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return ~c;
}

static uint32_t smbg_u32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

static float smbg_f32(const uint8_t *p)
{
    uint32_t u = smbg_u32(p);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Loads $SMBRL_SOURCE_DIR/tests/golden/<file>; returns 0 or prints why and returns -1. */
static int smbg_load(smbg *g, const char *file)
{
    const char *dir = getenv("SMBRL_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/golden/%s", dir && *dir ? dir : ".", file);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s (set SMBRL_SOURCE_DIR to the source tree)\n", path);
        return -1;
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)len);
    if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len || len < 16) {
        fprintf(stderr, "%s: read failed\n", path);
        fclose(f);
        free(buf);
        return -1;
    }
    fclose(f);
    if (memcmp(buf, "SMBG", 4) || smbg_u32(buf + 4) != 1 ||
        smbg_crc32(buf, (size_t)len - 4) != smbg_u32(buf + len - 4)) {
        fprintf(stderr, "%s: bad magic, version or checksum\n", path);
        free(buf);
        return -1;
    }
    g->count = (int)smbg_u32(buf + 8);
    g->t = calloc((size_t)g->count, sizeof *g->t);
    const uint8_t *p = buf + 12;
    for (int i = 0; i < g->count; i++) {
        smbg_tensor *t = &g->t[i];
        unsigned nl = p[0] | p[1] << 8;
        memcpy(t->name, p + 2, nl < 63 ? nl : 63);
        p += 2 + nl;
        t->dtype = p[0], t->ndim = p[1];
        p += 2;
        t->count = 1;
        for (int d = 0; d < t->ndim; d++, p += 4)
            t->count *= (t->dims[d] = smbg_u32(p));
        float scale = 1.0f;
        if (t->dtype == 1)
            scale = smbg_f32(p), p += 4;
        if (t->dtype <= 1) {
            t->f = malloc(sizeof(float) * t->count);
            for (size_t k = 0; k < t->count; k++)
                t->f[k] = t->dtype == 0 ? smbg_f32(p + 4 * k) : (float)(int8_t)p[k] * scale;
            p += t->count * (t->dtype == 0 ? 4 : 1);
        } else if (t->dtype == 2) {
            t->u8 = malloc(t->count);
            memcpy(t->u8, p, t->count);
            p += t->count;
        } else {
            t->i32 = malloc(sizeof(int32_t) * t->count);
            for (size_t k = 0; k < t->count; k++)
                t->i32[k] = (int32_t)smbg_u32(p + 4 * k);
            p += 4 * t->count;
        }
    }
    free(buf);
    return 0;
}

static void smbg_free(smbg *g)
{
    for (int i = 0; i < g->count; i++) {
        free(g->t[i].f);
        free(g->t[i].u8);
        free(g->t[i].i32);
    }
    free(g->t);
}

/* The tensor called `name`; aborts the test when missing (a fixture/test mismatch). */
static const smbg_tensor *smbg_get(const smbg *g, const char *name)
{
    for (int i = 0; i < g->count; i++)
        if (!strcmp(g->t[i].name, name))
            return &g->t[i];
    fprintf(stderr, "fixture has no tensor '%s'\n", name);
    abort();
}

/* Max error of got against want, relative to want's largest magnitude (so that elements near
 * zero are judged at the tensor's scale); prints it and returns 1 when within tol. */
static int smbg_compare(const char *what, const float *got, const float *want, size_t n, double tol)
{
    double maxref = 0, maxerr = 0;
    size_t worst = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(want[i]) > maxref)
            maxref = fabs(want[i]);
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]);
        if (isnan(e))
            e = INFINITY;
        if (e > maxerr)
            maxerr = e, worst = i;
    }
    double rel = maxref > 0 ? maxerr / maxref : maxerr;
    int ok = rel <= tol;
    printf("  %-36s n=%-8zu max rel err %.3g%s\n", what, n, rel, ok ? "" : "  <-- FAIL");
    if (!ok)
        printf("    worst at %zu: got %.9g want %.9g\n", worst, got[worst], want[worst]);
    return ok;
}

#endif
