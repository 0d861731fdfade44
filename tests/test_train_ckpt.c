/* test_train_ckpt.c: model checkpoints (checkpoint.h): save/load round trip, run-directory
 * resolution (best, latest), and clear errors for truncated, corrupt and foreign files. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "smbrl/checkpoint.h"
#include "smbrl/safetensors.h"
#include "testlib.h"

static void fill_info(ckpt_info *in, int64_t step)
{
    memset(in, 0, sizeof *in);
    snprintf(in->task, sizeof in->task, "SuperMarioBros-1-1-v0");
    snprintf(in->actions, sizeof in->actions, "tutorial");
    snprintf(in->model, sizeof in->model, "marionet");
    in->frame_skip = 4;
    in->step = step;
    in->episode = 7;
    in->epsilon = 0.123456789012345678;
    in->mean_return = NAN;
    snprintf(in->args, sizeof in->args, "{\"lr\":0.00025}");
}

static long file_size(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

static void copy_prefix(const char *src, const char *dst, long n)
{
    FILE *a = fopen(src, "rb"), *b = fopen(dst, "wb");
    CHECK(a && b);
    if (!a || !b)
        return;
    for (long i = 0; i < n; i++) {
        int c = fgetc(a);
        if (c == EOF)
            break;
        fputc(c, b);
    }
    fclose(a);
    fclose(b);
}

int main(void)
{
    char dir[] = "/tmp/smbrl_ckpt_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char err[512], path[4096], got[4096];

    nn_spec spec;
    nn_spec_marionet(&spec, 4, 84, 84, 2, 0);
    nn_model m;
    CHECK(nn_model_init(&m, &spec, err, sizeof err) == 0);
    rng r;
    rng_seed(&r, 42);
    nn_model_init_params(&m, &r);

    /* an empty directory has no checkpoint */
    CHECK(ckpt_resolve(dir, CKPT_BEST, got, sizeof got, err, sizeof err) < 0);
    CHECK(strstr(err, "no checkpoint") != NULL);

    ckpt_info in, out;
    fill_info(&in, 100);
    ckpt_model_path(path, sizeof path, dir, 100);
    CHECK(ckpt_save(path, &m, NULL, &in, err, sizeof err) == 0);
    fill_info(&in, 2000);
    ckpt_model_path(path, sizeof path, dir, 2000);
    CHECK(ckpt_save(path, &m, NULL, &in, err, sizeof err) == 0);
    fill_info(&in, 300);
    ckpt_model_path(path, sizeof path, dir, 300);
    CHECK(ckpt_save(path, &m, NULL, &in, err, sizeof err) == 0);

    /* latest is the largest step, numerically (2000 > 300) */
    CHECK(ckpt_resolve(dir, CKPT_LATEST, got, sizeof got, err, sizeof err) == 0);
    CHECK(strstr(got, "model_2000.safetensors") != NULL);
    /* best falls back to latest until best.safetensors exists */
    CHECK(ckpt_resolve(dir, CKPT_BEST, got, sizeof got, err, sizeof err) == 0);
    CHECK(strstr(got, "model_2000.safetensors") != NULL);

    /* tensor names follow the tutorial's nn.Sequential under "online." */
    st_file *sf;
    CHECK(st_open(&sf, got, err, sizeof err) == 0);
    CHECK(st_find(sf, "online.0.weight") && st_find(sf, "online.9.bias"));
    const st_tensor *w0 = st_find(sf, "online.0.weight");
    CHECK(w0 && w0->ndim == 4 && w0->shape[0] == 32 && w0->shape[1] == 4 && w0->shape[2] == 8);
    CHECK(!strcmp(st_meta(sf, "format"), "smbrl-dqn-1"));
    st_close(sf);

    nn_model l;
    CHECK(ckpt_load(dir, &l, &out, err, sizeof err) == 0);
    CHECK(l.num_params == m.num_params);
    CHECK(l.params && !memcmp(l.params, m.params, sizeof(float) * m.num_params));
    CHECK(out.step == 2000 && out.episode == 7 && out.frame_skip == 4);
    CHECK(out.epsilon == in.epsilon); /* %.17g round-trips a double exactly */
    CHECK(!strcmp(out.actions, "tutorial") && !strcmp(out.task, "SuperMarioBros-1-1-v0"));
    CHECK(!strcmp(out.args, "{\"lr\":0.00025}"));
    CHECK(isnan(out.mean_return));
    nn_model_free(&l);

    /* best.safetensors wins for a directory; it carries the mean return */
    fill_info(&in, 300);
    in.mean_return = 812.5;
    m.params[0] = 0.5f;
    snprintf(path, sizeof path, "%s/best.safetensors", dir);
    CHECK(ckpt_save(path, &m, NULL, &in, err, sizeof err) == 0);
    CHECK(ckpt_load(dir, &l, &out, err, sizeof err) == 0);
    CHECK(out.step == 300 && out.mean_return == 812.5 && l.params[0] == 0.5f);
    nn_model_free(&l);

    /* truncated at every kind of place: header length, header, data */
    char bad[4096];
    snprintf(bad, sizeof bad, "%s/cut.safetensors", dir);
    long full = file_size(path);
    long cuts[] = {0, 5, 100, full / 2, full - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        copy_prefix(path, bad, cuts[i]);
        err[0] = 0;
        CHECK(ckpt_load(bad, &l, &out, err, sizeof err) < 0);
        CHECK(strstr(err, "cut.safetensors") != NULL);
        CHECK(l.params == NULL);
    }
    /* a valid safetensors file that is not a checkpoint */
    float x = 1;
    int64_t shp[1] = {1};
    st_tensor_desc td = {"x", ST_F32, 1, shp, &x};
    CHECK(st_write(bad, &td, 1, NULL, 0, err, sizeof err) == 0);
    CHECK(ckpt_load(bad, &l, &out, err, sizeof err) < 0);
    CHECK(strstr(err, "not an smbrl checkpoint") != NULL);
    /* right metadata, wrong tensors */
    st_kv kv[] = {{"format", "smbrl-dqn-1"}, {"task", "t"}, {"actions", "tutorial"},
                  {"frame_skip", "4"}, {"model", "marionet"}, {"step", "1"},
                  {"episode", "0"}, {"epsilon", "1"}, {"args", "{}"}};
    CHECK(st_write(bad, &td, 1, kv, 9, err, sizeof err) == 0);
    CHECK(ckpt_load(bad, &l, &out, err, sizeof err) < 0);
    CHECK(strstr(err, "online.0.weight") != NULL);
    /* bad metadata values */
    kv[7].value = "1.5";
    CHECK(st_write(bad, &td, 1, kv, 9, err, sizeof err) == 0);
    CHECK(ckpt_load(bad, &l, &out, err, sizeof err) < 0);
    CHECK(strstr(err, "epsilon") != NULL);
    kv[7].value = "1";
    kv[2].value = "sideways";
    CHECK(st_write(bad, &td, 1, kv, 9, err, sizeof err) == 0);
    CHECK(ckpt_load(bad, &l, &out, err, sizeof err) < 0);
    CHECK(strstr(err, "sideways") != NULL);
    /* a flipped byte in the JSON header */
    copy_prefix(path, bad, full);
    FILE *f = fopen(bad, "r+b");
    CHECK(f != NULL);
    if (f) {
        fseek(f, 9, SEEK_SET);
        fputc('#', f);
        fclose(f);
    }
    CHECK(ckpt_load(bad, &l, &out, err, sizeof err) < 0);
    /* a NaN weight is refused */
    m.params[5] = NAN;
    CHECK(ckpt_save(bad, &m, NULL, &in, err, sizeof err) == 0);
    CHECK(ckpt_load(bad, &l, &out, err, sizeof err) < 0);
    CHECK(strstr(err, "non-finite") != NULL);
    /* missing file */
    CHECK(ckpt_load("/nonexistent/model_1.safetensors", &l, &out, err, sizeof err) < 0);
    CHECK(strstr(err, "/nonexistent") != NULL);

    nn_model_free(&m);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return testlib_finish("test_train_ckpt");
}
