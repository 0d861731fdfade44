/* metrics.c: the JSON Lines metrics log (one cJSON object per line, flushed per line). */
#include "util/error.h"
#include "smbrl/metrics.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct metrics {
    FILE *fp;
    char *path;
    int failed;
    char first_err[256];
};

int metrics_open(metrics **out, const char *path, char *err, size_t errlen)
{
    *out = NULL;
    metrics *m = calloc(1, sizeof *m);
    if (!m || !(m->path = strdup(path))) {
        free(m);
        return smbrl_fail(err, errlen, "%s: out of memory", path);
    }
    m->fp = fopen(path, "a");
    if (!m->fp) {
        smbrl_fail(err, errlen, "%s: cannot open for appending: %s", path, strerror(errno));
        free(m->path);
        free(m);
        return -1;
    }
    *out = m;
    return 0;
}

/* Shortest of %.15g..%.17g that reads back as the same double: exact, yet 0.1 stays "0.1".
 * (cJSON's own printer accepts a 15-digit form within a relative epsilon, which is not
 * always the same double.) JSON has no NaN or infinity: those become null. */
static void format_double(char *buf, size_t len, double v)
{
    if (!isfinite(v)) {
        snprintf(buf, len, "null");
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

/* Plain names keep the log easy to read from shell tools and every JSON library. */
static int name_ok(const char *s)
{
    if (!s || !*s)
        return 0;
    for (; *s; s++)
        if (*s < 0x20 || *s > 0x7E)
            return 0;
    return 1;
}

int metrics_write(metrics *m, int64_t step, double wall_time, int n_fields, const char *const names[],
                  const double values[], char *err, size_t errlen)
{
    if (m->failed)
        return smbrl_fail(err, errlen, "%s", m->first_err);
    if (n_fields < 0 || (n_fields > 0 && (!names || !values)))
        return smbrl_fail(err, errlen, "%s: bad field list", m->path);
    for (int i = 0; i < n_fields; i++) {
        if (!name_ok(names[i]))
            return smbrl_fail(err, errlen, "%s: field %d needs a non-empty printable ASCII name", m->path, i);
        if (strcmp(names[i], "step") == 0 || strcmp(names[i], "wall_time") == 0)
            return smbrl_fail(err, errlen, "%s: field name '%s' is reserved", m->path, names[i]);
        for (int j = 0; j < i; j++)
            if (strcmp(names[i], names[j]) == 0)
                return smbrl_fail(err, errlen, "%s: field '%s' given twice", m->path, names[i]);
    }
    cJSON *o = cJSON_CreateObject();
    /* Raw text keeps a 64-bit step exact; cJSON numbers are doubles. */
    char stepbuf[24];
    snprintf(stepbuf, sizeof stepbuf, "%" PRId64, step);
    char numbuf[32];
    format_double(numbuf, sizeof numbuf, wall_time);
    int ok = o && cJSON_AddRawToObject(o, "step", stepbuf) && cJSON_AddRawToObject(o, "wall_time", numbuf);
    for (int i = 0; ok && i < n_fields; i++) {
        format_double(numbuf, sizeof numbuf, values[i]);
        ok = cJSON_AddRawToObject(o, names[i], numbuf) != NULL;
    }
    char *line = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!line)
        return smbrl_fail(err, errlen, "%s: out of memory", m->path);
    size_t n = strlen(line);
    /* One fwrite per line, newline included, so lines never interleave within a buffer. */
    line[n] = '\n';
    int bad = fwrite(line, 1, n + 1, m->fp) != n + 1 || fflush(m->fp) != 0;
    cJSON_free(line);
    if (bad) {
        m->failed = 1;
        smbrl_fail(m->first_err, sizeof m->first_err, "%s: write failed: %s", m->path, strerror(errno));
        return smbrl_fail(err, errlen, "%s", m->first_err);
    }
    return 0;
}

int metrics_close(metrics *m, char *err, size_t errlen)
{
    if (!m)
        return 0;
    int rc = m->failed ? smbrl_fail(err, errlen, "%s", m->first_err) : 0;
    if (fclose(m->fp) != 0 && rc == 0)
        rc = smbrl_fail(err, errlen, "%s: close failed: %s", m->path, strerror(errno));
    free(m->path);
    free(m);
    return rc;
}
