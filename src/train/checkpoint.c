/* checkpoint.c: the "smbrl-dqn-1" model checkpoint files (see checkpoint.h): resolving
 * a run directory to a file, metadata, loading weights into an nn_model, saving. */
#include "util/error.h"
#include "smbrl/checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "smbrl/env.h"
#include "smbrl/safetensors.h"
#include "smbrl/train.h"

void ckpt_model_path(char *out, size_t outlen, const char *dir, int64_t step)
{
    snprintf(out, outlen, "%s/model_%" PRId64 ".safetensors", dir, step);
}

/* Step of a "model_<digits>.safetensors" name, or -1. */
static int64_t model_step(const char *name)
{
    if (strncmp(name, "model_", 6))
        return -1;
    const char *p = name + 6;
    char *end;
    if (*p < '0' || *p > '9')
        return -1;
    errno = 0;
    long long v = strtoll(p, &end, 10);
    if (errno || strcmp(end, ".safetensors"))
        return -1;
    return (int64_t)v;
}

int ckpt_resolve(const char *path, int which, char *out, size_t outlen, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return smbrl_fail(err, errlen, "%s: %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        if ((size_t)snprintf(out, outlen, "%s", path) >= outlen)
            return smbrl_fail(err, errlen, "%s: path too long", path);
        return 0;
    }
    if (which == CKPT_BEST) {
        if ((size_t)snprintf(out, outlen, "%s/best.safetensors", path) >= outlen)
            return smbrl_fail(err, errlen, "%s: path too long", path);
        if (stat(out, &st) == 0 && S_ISREG(st.st_mode))
            return 0;
    }
    DIR *d = opendir(path);
    if (!d)
        return smbrl_fail(err, errlen, "%s: %s", path, strerror(errno));
    int64_t best = -1;
    struct dirent *de;
    while ((de = readdir(d))) {
        int64_t s = model_step(de->d_name);
        if (s > best)
            best = s;
    }
    closedir(d);
    if (best < 0)
        return smbrl_fail(err, errlen, "%s: no checkpoint (model_<step>.safetensors) in this directory", path);
    ckpt_model_path(out, outlen, path, best);
    return 0;
}

static int copy_meta(const st_file *f, const char *path, const char *key, char *dst, size_t n,
                     char *err, size_t errlen)
{
    const char *v = st_meta(f, key);
    if (!v)
        return smbrl_fail(err, errlen, "%s: not an smbrl checkpoint: metadata lacks \"%s\"", path, key);
    if (strlen(v) >= n)
        return smbrl_fail(err, errlen, "%s: metadata \"%s\" is too long", path, key);
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

static int meta_i64(const st_file *f, const char *path, const char *key, int64_t *out, char *err,
                    size_t errlen)
{
    const char *v = st_meta(f, key);
    char *end;
    if (!v)
        return smbrl_fail(err, errlen, "%s: not an smbrl checkpoint: metadata lacks \"%s\"", path, key);
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < 0)
        return smbrl_fail(err, errlen, "%s: metadata \"%s\" is not a count: \"%s\"", path, key, v);
    *out = (int64_t)x;
    return 0;
}

static int info_from(const st_file *f, const char *path, ckpt_info *info, char *err, size_t errlen)
{
    memset(info, 0, sizeof *info);
    const char *fmt = st_meta(f, "format");
    if (!fmt)
        return smbrl_fail(err, errlen, "%s: not an smbrl checkpoint (no \"format\" metadata)", path);
    if (strcmp(fmt, CKPT_FORMAT))
        return smbrl_fail(err, errlen, "%s: checkpoint format \"%s\", expected \"%s\"", path, fmt, CKPT_FORMAT);
    int64_t fs = 0;
    if (copy_meta(f, path, "task", info->task, sizeof info->task, err, errlen) < 0 ||
        copy_meta(f, path, "actions", info->actions, sizeof info->actions, err, errlen) < 0 ||
        copy_meta(f, path, "model", info->model, sizeof info->model, err, errlen) < 0 ||
        copy_meta(f, path, "args", info->args, sizeof info->args, err, errlen) < 0 ||
        meta_i64(f, path, "frame_skip", &fs, err, errlen) < 0 ||
        meta_i64(f, path, "step", &info->step, err, errlen) < 0 ||
        meta_i64(f, path, "episode", &info->episode, err, errlen) < 0)
        return -1;
    if (fs < 1 || fs > 1000)
        return smbrl_fail(err, errlen, "%s: frame_skip %" PRId64 " out of range", path, fs);
    info->frame_skip = (int)fs;
    const char *e = st_meta(f, "epsilon");
    char *end;
    if (!e)
        return smbrl_fail(err, errlen, "%s: not an smbrl checkpoint: metadata lacks \"epsilon\"", path);
    info->epsilon = strtod(e, &end);
    if (end == e || *end || !(info->epsilon >= 0.0 && info->epsilon <= 1.0))
        return smbrl_fail(err, errlen, "%s: metadata \"epsilon\" is not in [0, 1]: \"%s\"", path, e);
    info->mean_return = NAN;
    const char *mr = st_meta(f, "mean_return_100");
    if (mr)
        info->mean_return = strtod(mr, NULL);
    /* files from before PPO and tiles: DQN on pixels */
    const char *al = st_meta(f, "algo"), *ob = st_meta(f, "obs"), *ne = st_meta(f, "net"),
               *sh = st_meta(f, "obs_shape");
    snprintf(info->algo, sizeof info->algo, "%s", al ? al : "dqn");
    snprintf(info->obs, sizeof info->obs, "%s", ob ? ob : "pixels");
    snprintf(info->net, sizeof info->net, "%s", ne ? ne : !strcmp(info->model, "mlp") ? "mlp" : "nature");
    info->obs_shape[0] = ENV_STACK, info->obs_shape[1] = ENV_OBS_H, info->obs_shape[2] = ENV_OBS_W;
    if (sh && (sscanf(sh, "%d,%d,%d", &info->obs_shape[0], &info->obs_shape[1], &info->obs_shape[2]) != 3 ||
               info->obs_shape[0] < 1 || info->obs_shape[1] < 1 || info->obs_shape[2] < 1 ||
               info->obs_shape[0] > 64 || info->obs_shape[1] > 1024 || info->obs_shape[2] > 1024))
        return smbrl_fail(err, errlen, "%s: metadata \"obs_shape\" is not three sizes: \"%s\"", path, sh);
    if (strcmp(info->algo, "dqn") && strcmp(info->algo, "ppo"))
        return smbrl_fail(err, errlen, "%s: unknown algo \"%s\"", path, info->algo);
    if (strcmp(info->obs, "pixels") && strcmp(info->obs, "tiles"))
        return smbrl_fail(err, errlen, "%s: unknown obs \"%s\"", path, info->obs);
    return 0;
}

int ckpt_read_info(const char *path, ckpt_info *info, char *err, size_t errlen)
{
    st_file *f;
    if (st_open(&f, path, err, errlen) < 0)
        return -1;
    int rc = info_from(f, path, info, err, errlen);
    st_close(f);
    return rc;
}

int ckpt_spec(const ckpt_info *info, nn_spec *spec, char *err, size_t errlen)
{
    const env_action_set *as = env_action_set_find(info->actions);
    if (!as)
        return smbrl_fail(err, errlen, "unknown action set \"%s\" in checkpoint", info->actions);
    static const char *const known[] = {"marionet", "marionet-dueling", "mlp", "ppo-uvipen",
                                        "ppo-nature", "ppo-mlp"};
    int k = -1;
    for (int i = 0; i < 6; i++)
        if (!strcmp(info->model, known[i]))
            k = i;
    if (k < 0)
        return smbrl_fail(err, errlen, "unknown model \"%s\" in checkpoint", info->model);
    const char *algo = info->algo[0] ? info->algo : "dqn", *obs = info->obs[0] ? info->obs : "pixels";
    const char *net = info->net[0] ? info->net : k == 2 ? "mlp" : "nature";
    int c = info->obs_shape[0] ? info->obs_shape[0] : ENV_STACK;
    int h = info->obs_shape[1] ? info->obs_shape[1] : ENV_OBS_H;
    int w = info->obs_shape[2] ? info->obs_shape[2] : ENV_OBS_W;
    char name[32];
    if (train_net_spec(algo, obs, net, k == 1, c, h, w, as->n, spec, name, err, errlen) < 0)
        return -1;
    if (strcmp(name, info->model))
        return smbrl_fail(err, errlen, "checkpoint model \"%s\" does not match algo %s, net %s", info->model,
                          algo, net);
    return 0;
}

int ckpt_load(const char *path, nn_model *m, ckpt_info *info_out, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    char file[4096];
    if (ckpt_resolve(path, CKPT_BEST, file, sizeof file, err, errlen) < 0)
        return -1;
    ckpt_info local;
    ckpt_info *info = info_out ? info_out : &local;
    st_file *f;
    if (st_open(&f, file, err, errlen) < 0)
        return -1;
    nn_spec spec;
    if (info_from(f, file, info, err, errlen) < 0 || ckpt_spec(info, &spec, err, errlen) < 0 ||
        nn_model_init(m, &spec, err, errlen) < 0) {
        st_close(f);
        memset(m, 0, sizeof *m);
        return -1;
    }
    for (int t = 0; t < m->num_tensors; t++) {
        const nn_param_info *p = &m->param_table[t];
        char name[64];
        snprintf(name, sizeof name, CKPT_PREFIX "%s", p->name);
        const char *use = st_find(f, name) ? name : p->name; /* unprefixed names load too */
        int64_t shape[4];
        for (int d = 0; d < p->ndim; d++)
            shape[d] = p->shape[d];
        if (st_read(f, use, ST_F32, p->ndim, shape, m->params + p->offset, p->count * sizeof(float),
                    err, errlen) < 0) {
            char why[300];
            snprintf(why, sizeof why, "%s", err);
            smbrl_fail(err, errlen, "%s: tensor %s: %s", file, name, why);
            goto bad;
        }
        for (size_t i = 0; i < p->count; i++)
            if (!isfinite(m->params[p->offset + i])) {
                smbrl_fail(err, errlen, "%s: tensor %s holds a non-finite value", file, name);
                goto bad;
            }
    }
    st_close(f);
    return 0;
bad:
    st_close(f);
    nn_model_free(m);
    memset(m, 0, sizeof *m);
    return -1;
}

int ckpt_save(const char *path, const nn_model *m, const float *params, const ckpt_info *info,
              char *err, size_t errlen)
{
    if (!params)
        params = m->params;
    st_tensor_desc td[NN_MAX_TENSORS];
    char names[NN_MAX_TENSORS][64];
    int64_t shapes[NN_MAX_TENSORS][4];
    for (int t = 0; t < m->num_tensors; t++) {
        const nn_param_info *p = &m->param_table[t];
        snprintf(names[t], sizeof names[t], CKPT_PREFIX "%s", p->name);
        for (int d = 0; d < p->ndim; d++)
            shapes[t][d] = p->shape[d];
        td[t].name = names[t];
        td[t].dtype = ST_F32;
        td[t].ndim = p->ndim;
        td[t].shape = shapes[t];
        td[t].data = params + p->offset;
    }
    char fs[24], step[24], ep[24], eps[40], mr[40], shape[48];
    snprintf(shape, sizeof shape, "%d,%d,%d", info->obs_shape[0] ? info->obs_shape[0] : ENV_STACK,
             info->obs_shape[1] ? info->obs_shape[1] : ENV_OBS_H,
             info->obs_shape[2] ? info->obs_shape[2] : ENV_OBS_W);
    const char *net = info->net[0] ? info->net : !strcmp(info->model, "mlp") || !strcmp(info->model, "ppo-mlp")
                                                     ? "mlp"
                                                 : !strcmp(info->model, "ppo-uvipen") ? "uvipen"
                                                                                       : "nature";
    snprintf(fs, sizeof fs, "%d", info->frame_skip);
    snprintf(step, sizeof step, "%" PRId64, info->step);
    snprintf(ep, sizeof ep, "%" PRId64, info->episode);
    snprintf(eps, sizeof eps, "%.17g", info->epsilon);
    st_kv kv[14] = {
        {"format", CKPT_FORMAT}, {"task", info->task},   {"actions", info->actions},
        {"frame_skip", fs},      {"model", info->model}, {"step", step},
        {"episode", ep},         {"epsilon", eps},       {"args", info->args[0] ? info->args : "{}"},
        {"algo", info->algo[0] ? info->algo : "dqn"},    {"obs", info->obs[0] ? info->obs : "pixels"},
        {"net", net},            {"obs_shape", shape},
    };
    size_t n = 13;
    if (isfinite(info->mean_return)) {
        snprintf(mr, sizeof mr, "%.9g", info->mean_return);
        kv[n].key = "mean_return_100";
        kv[n++].value = mr;
    }
    return st_write(path, td, (size_t)m->num_tensors, kv, n, err, errlen);
}
