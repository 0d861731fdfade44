/* test_metrics.c: the JSON Lines metrics log: exact values back through a JSON parser,
 * one flushed line per write, appending on reopen, refused field lists. */
#include "smbrl/metrics.h"
#include "smbrl/rng.h"
#include "testlib.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <unistd.h>

static int count_lines(const char *s)
{
    int n = 0;
    for (; s && *s; s++)
        n += *s == '\n';
    return n;
}

/* The i-th line (0-based) parsed as JSON, or NULL. */
static cJSON *line_json(const char *text, int i)
{
    const char *p = text;
    while (i-- > 0 && p)
        p = (p = strchr(p, '\n')) ? p + 1 : NULL;
    if (!p)
        return NULL;
    const char *e = strchr(p, '\n');
    if (!e)
        return NULL;
    char *one = strndup(p, (size_t)(e - p));
    cJSON *j = cJSON_Parse(one);
    free(one);
    return j;
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(it) ? it->valuedouble : -12345.0;
}

int main(void)
{
    char dir[] = "/tmp/smbrl_metrics_XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char path[128], err[512];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);

    metrics *m = NULL;
    CHECK_EQ_INT(metrics_open(&m, path, err, sizeof err), 0);
    if (!m) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    const char *names[] = {"loss", "reward", "epsilon", "tiny", "nan", "inf"};
    double v1[] = {0.1, -250.5, 1.0, 4.9406564584124654e-324, NAN, INFINITY};
    CHECK_EQ_INT(metrics_write(m, 1000, 1700000000.123456789, 6, names, v1, err, sizeof err), 0);
    /* Flushed per line: the line is on disk while the log is still open. */
    char *text = testlib_read_file(path, NULL);
    CHECK_EQ_INT(count_lines(text), 1);
    free(text);
    double v2[] = {1.0 / 3.0, 12345678.901234567};
    CHECK_EQ_INT(metrics_write(m, INT64_MAX, 1700000001.5, 2, names, v2, err, sizeof err), 0);
    CHECK_EQ_INT(metrics_write(m, -1, 0.0, 0, NULL, NULL, err, sizeof err), 0);

    /* Refused field lists, each with a reason naming the file; nothing is written. */
    const char *dup[] = {"a", "a"}, *reserved[] = {"step"}, *reserved2[] = {"wall_time"},
               *empty[] = {""}, *ctrl[] = {"a\nb"}, *nul[] = {NULL};
    double two[] = {1, 2};
    CHECK(metrics_write(m, 1, 1, 2, dup, two, err, sizeof err) < 0);
    CHECK(strstr(err, path) != NULL && strstr(err, "twice") != NULL);
    CHECK(metrics_write(m, 1, 1, 1, reserved, two, err, sizeof err) < 0);
    CHECK(metrics_write(m, 1, 1, 1, reserved2, two, err, sizeof err) < 0);
    CHECK(metrics_write(m, 1, 1, 1, empty, two, err, sizeof err) < 0);
    CHECK(metrics_write(m, 1, 1, 1, ctrl, two, err, sizeof err) < 0);
    CHECK(metrics_write(m, 1, 1, 1, nul, two, err, sizeof err) < 0);
    CHECK(metrics_write(m, 1, 1, -1, names, two, err, sizeof err) < 0);
    CHECK_EQ_INT(metrics_close(m, err, sizeof err), 0);
    CHECK_EQ_INT(metrics_close(NULL, err, sizeof err), 0);

    /* Reopening appends. */
    CHECK_EQ_INT(metrics_open(&m, path, err, sizeof err), 0);
    if (m) {
        double v3[] = {2.0};
        CHECK_EQ_INT(metrics_write(m, 3000, 1700000002.0, 1, names, v3, err, sizeof err), 0);
        CHECK_EQ_INT(metrics_close(m, err, sizeof err), 0);
    }

    text = testlib_read_file(path, NULL);
    CHECK(text != NULL);
    CHECK_EQ_INT(count_lines(text), 4);
    /* A 64-bit step is written exactly, not as a rounded double. */
    CHECK(text && strstr(text, "{\"step\":9223372036854775807,") != NULL);
    CHECK(text && strncmp(text, "{\"step\":1000,\"wall_time\":", 25) == 0);
    /* Shortest exact form: 0.1 stays 0.1; non-finite values are null. */
    CHECK(text && strstr(text, "\"loss\":0.1,\"reward\":-250.5,\"epsilon\":1,") != NULL);
    CHECK(text && strstr(text, "\"nan\":null,\"inf\":null}\n") != NULL);

    cJSON *j = line_json(text, 0);
    CHECK(j != NULL);
    if (j) {
        CHECK(num(j, "step") == 1000.0);
        CHECK(num(j, "wall_time") == 1700000000.123456789);
        CHECK(num(j, "loss") == 0.1);
        CHECK(num(j, "reward") == -250.5);
        CHECK(num(j, "epsilon") == 1.0);
        CHECK(num(j, "tiny") == 4.9406564584124654e-324);
        CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "nan")));
        CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "inf")));
        /* Fields in the order given. */
        const cJSON *it = j->child;
        const char *order[] = {"step", "wall_time", "loss", "reward", "epsilon", "tiny", "nan", "inf"};
        for (int i = 0; i < 8; i++, it = it ? it->next : NULL)
            CHECK(it && strcmp(it->string, order[i]) == 0);
        cJSON_Delete(j);
    }
    j = line_json(text, 1);
    CHECK(j != NULL);
    if (j) {
        CHECK(num(j, "loss") == 1.0 / 3.0);
        CHECK(num(j, "reward") == 12345678.901234567);
        CHECK(num(j, "wall_time") == 1700000001.5);
        CHECK_EQ_INT(cJSON_GetArraySize(j), 4);
        cJSON_Delete(j);
    }
    j = line_json(text, 2);
    CHECK(j && num(j, "step") == -1.0 && cJSON_GetArraySize(j) == 2);
    cJSON_Delete(j);
    j = line_json(text, 3);
    CHECK(j && num(j, "step") == 3000.0 && num(j, "loss") == 2.0);
    cJSON_Delete(j);
    free(text);

    /* Seeded random doubles of all magnitudes come back as the same double. */
    snprintf(path, sizeof path, "%s/random.jsonl", dir);
    CHECK_EQ_INT(metrics_open(&m, path, err, sizeof err), 0);
    enum { NR = 500 };
    double rv[NR];
    const char *rn[] = {"x"};
    rng r;
    rng_seed(&r, 2024);
    for (int i = 0; i < NR; i++) {
        rv[i] = rng_normal(&r) * pow(10.0, (double)((int)rng_below(&r, 41) - 20));
        CHECK_EQ_INT(metrics_write(m, i, 0.5, 1, rn, &rv[i], err, sizeof err), 0);
    }
    CHECK_EQ_INT(metrics_close(m, err, sizeof err), 0);
    text = testlib_read_file(path, NULL);
    int inexact = 0;
    for (int i = 0; i < NR; i++) {
        j = line_json(text, i);
        /* cJSON reads numbers with strtod, so this compares the written text exactly. */
        if (!j || num(j, "x") != rv[i])
            inexact++;
        cJSON_Delete(j);
    }
    CHECK_EQ_INT(inexact, 0);
    free(text);
    unlink(path);
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);

    char bad[160];
    snprintf(bad, sizeof bad, "%s/missing/metrics.jsonl", dir);
    CHECK(metrics_open(&m, bad, err, sizeof err) < 0);
    CHECK(m == NULL && strstr(err, bad) != NULL);

    unlink(path);
    rmdir(dir);
    return testlib_finish("test_metrics");
}
