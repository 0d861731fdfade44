/* state.c: training arguments (defaults, checks, JSON for checkpoints) and the training
 * state file state_<step>.safetensors that --resume reads: the shared model's parameters
 * and Adam moments, the counters, each worker's epsilon and RNG, the recent episodes. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/error.h"
#include "smbrl/checkpoint.h"
#include "smbrl/safetensors.h"
#include "train/train_internal.h"

void train_args_default(train_args *a)
{
    memset(a, 0, sizeof *a);
    snprintf(a->task, sizeof a->task, "SuperMarioBros-1-1-v0");
    snprintf(a->actions, sizeof a->actions, "tutorial");
    a->num_processes = 4;
    a->batch_size = 64;
    a->learn_every = 3;
    a->frame_skip = 4;
    a->threads_per_process = 1;
    a->burnin = 100000;
    a->episodes = 2000;
    a->sync_every = 1000;
    a->save_every = 5000;
    a->target_sync_every = 10000;
    a->memory_size = 100000;
    a->lr = 0.00025;
    a->gamma = 0.9;
    a->eps_decay = 0.99999975;
    a->eps_min = 0.1;
    a->log_every = 10;
    a->replica_check_every = 10;
    snprintf(a->algo, sizeof a->algo, "dqn");
    snprintf(a->obs, sizeof a->obs, "pixels");
    snprintf(a->reward, sizeof a->reward, "gym");
    snprintf(a->lr_schedule, sizeof a->lr_schedule, "constant");
    a->ppo_steps = 512;
    a->ppo_epochs = 10;
    a->ppo_minibatches = 16;
    a->gae_lambda = 1.0;
    a->clip = 0.2;
    a->ent_coef = 0.01;
    a->vf_coef = 1.0;
    a->max_grad_norm = 0.5;
}

int train_args_check(const train_args *a, char *err, size_t errlen)
{
    if (a->num_processes < 1 || a->num_processes > TRAIN_MAX_WORKERS)
        return smbrl_fail(err, errlen, "--num-processes must be between 1 and %d", TRAIN_MAX_WORKERS);
    if (a->batch_size < 1 || a->batch_size > 4096)
        return smbrl_fail(err, errlen, "--batch-size must be between 1 and 4096");
    if (a->learn_every < 1)
        return smbrl_fail(err, errlen, "--learn-every must be at least 1");
    if (a->frame_skip < 1 || a->frame_skip > 100)
        return smbrl_fail(err, errlen, "--frame-skip must be between 1 and 100");
    if (a->threads_per_process < 1 || a->threads_per_process > 64)
        return smbrl_fail(err, errlen, "--threads-per-process must be between 1 and 64");
    if (a->burnin < 0)
        return smbrl_fail(err, errlen, "--burnin must not be negative");
    if (a->episodes < 1)
        return smbrl_fail(err, errlen, "--episodes must be at least 1");
    if (a->sync_every < 1 || a->save_every < 1 || a->target_sync_every < 1)
        return smbrl_fail(err, errlen, "--sync-every, --save-every and --target-sync-every must be at least 1");
    if (a->memory_size < a->batch_size)
        return smbrl_fail(err, errlen, "--memory-size must be at least --batch-size");
    if (a->record_every < 0)
        return smbrl_fail(err, errlen, "--record-every must not be negative");
    if (a->max_steps < 0)
        return smbrl_fail(err, errlen, "--max-steps must not be negative");
    if (!(a->lr > 0 && a->lr < 1))
        return smbrl_fail(err, errlen, "--lr must be in (0, 1)");
    if (!(a->gamma >= 0 && a->gamma <= 1))
        return smbrl_fail(err, errlen, "--gamma must be in [0, 1]");
    if (!(a->eps_decay > 0 && a->eps_decay <= 1))
        return smbrl_fail(err, errlen, "--exploration-decay must be in (0, 1]");
    if (!(a->eps_min >= 0 && a->eps_min <= 1))
        return smbrl_fail(err, errlen, "--exploration-min must be in [0, 1]");
    if (!(a->log_every > 0))
        return smbrl_fail(err, errlen, "--log-every must be positive");
    if (strcmp(a->algo, "dqn") && strcmp(a->algo, "ppo"))
        return smbrl_fail(err, errlen, "--algo must be dqn or ppo, got '%s'", a->algo);
    if (strcmp(a->obs, "pixels") && strcmp(a->obs, "tiles"))
        return smbrl_fail(err, errlen, "--obs must be pixels or tiles, got '%s'", a->obs);
    if (a->net[0]) {
        nn_spec sp;
        char why[200];
        if (train_net_spec(a->algo, a->obs, a->net, a->dueling, 4, 84, 84, 2, &sp, NULL, why, sizeof why) < 0)
            return smbrl_fail(err, errlen, "%s", why);
    }
    if (strcmp(a->reward, "gym") && strcmp(a->reward, "uvipen"))
        return smbrl_fail(err, errlen, "--reward must be gym or uvipen, got '%s'", a->reward);
    if (strcmp(a->lr_schedule, "constant") && strcmp(a->lr_schedule, "linear"))
        return smbrl_fail(err, errlen, "--lr-schedule must be constant or linear, got '%s'", a->lr_schedule);
    if (train_is_ppo(a)) {
        if (a->envs_per_process < 0 || a->envs_per_process > TRAIN_MAX_ENVS)
            return smbrl_fail(err, errlen, "--envs-per-process must be between 1 and %d", TRAIN_MAX_ENVS);
        if (a->ppo_steps < 1 || a->ppo_epochs < 1 || a->ppo_minibatches < 1)
            return smbrl_fail(err, errlen, "--ppo-steps, --ppo-epochs and --ppo-minibatches must be at least 1");
        train_args r = *a;
        train_args_resolve(&r);
        const int envs = r.envs_per_process;
        if ((int64_t)a->ppo_minibatches > (int64_t)a->ppo_steps * envs)
            return smbrl_fail(err, errlen, "--ppo-minibatches must be at most --ppo-steps x --envs-per-process");
        if (!strcmp(a->lr_schedule, "linear") && a->max_steps <= 0)
            return smbrl_fail(err, errlen, "--lr-schedule linear needs --max-steps (the lr reaches 0 there)");
        if (a->distributed)
            return smbrl_fail(err, errlen, "--distributed trains DQN only; --algo ppo runs on one machine");
    }
    if (a->norm_adv != 0 && a->norm_adv != 1)
        return smbrl_fail(err, errlen, "--norm-adv must be 0 or 1");
    if (!(a->gae_lambda >= 0 && a->gae_lambda <= 1))
        return smbrl_fail(err, errlen, "--gae-lambda must be in [0, 1]");
    if (!(a->clip > 0 && a->clip < 10) || !(a->ent_coef >= 0) || !(a->vf_coef >= 0) ||
        !(a->value_clip >= 0) || !(a->max_grad_norm >= 0))
        return smbrl_fail(err, errlen, "--clip must be in (0, 10); --ent-coef, --vf-coef, --value-clip and "
                                       "--max-grad-norm must not be negative");
    if (!env_action_set_find(a->actions))
        return smbrl_fail(err, errlen, "unknown action set '%s' (right, simple, complex, tutorial, nes)",
                    a->actions);
    return 0;
}

int train_args_to_json(const train_args *a, char *out, size_t outlen)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return -1;
    char seed[24];
    snprintf(seed, sizeof seed, "%" PRIu64, a->seed);
    cJSON_AddStringToObject(o, "rom", a->rom);
    cJSON_AddStringToObject(o, "task", a->task);
    cJSON_AddStringToObject(o, "actions", a->actions);
    cJSON_AddStringToObject(o, "run_dir", a->run_dir);
    cJSON_AddNumberToObject(o, "num_processes", a->num_processes);
    cJSON_AddNumberToObject(o, "batch_size", a->batch_size);
    cJSON_AddNumberToObject(o, "render", a->render);
    cJSON_AddNumberToObject(o, "learn_every", a->learn_every);
    cJSON_AddNumberToObject(o, "frame_skip", a->frame_skip);
    cJSON_AddNumberToObject(o, "threads_per_process", a->threads_per_process);
    cJSON_AddNumberToObject(o, "dueling", a->dueling);
    cJSON_AddNumberToObject(o, "save_replay", a->save_replay);
    cJSON_AddNumberToObject(o, "burnin", (double)a->burnin);
    cJSON_AddNumberToObject(o, "episodes", (double)a->episodes);
    cJSON_AddNumberToObject(o, "sync_every", (double)a->sync_every);
    cJSON_AddNumberToObject(o, "save_every", (double)a->save_every);
    cJSON_AddNumberToObject(o, "target_sync_every", (double)a->target_sync_every);
    cJSON_AddNumberToObject(o, "memory_size", (double)a->memory_size);
    cJSON_AddNumberToObject(o, "max_steps", (double)a->max_steps);
    cJSON_AddNumberToObject(o, "record_every", (double)a->record_every);
    cJSON_AddNumberToObject(o, "lr", a->lr);
    cJSON_AddNumberToObject(o, "gamma", a->gamma);
    cJSON_AddNumberToObject(o, "exploration_decay", a->eps_decay);
    cJSON_AddNumberToObject(o, "exploration_min", a->eps_min);
    cJSON_AddNumberToObject(o, "log_every", a->log_every);
    cJSON_AddStringToObject(o, "seed", seed);
    cJSON_AddStringToObject(o, "algo", a->algo);
    cJSON_AddStringToObject(o, "obs", a->obs);
    cJSON_AddStringToObject(o, "net", a->net);
    cJSON_AddStringToObject(o, "reward", a->reward);
    cJSON_AddStringToObject(o, "lr_schedule", a->lr_schedule);
    cJSON_AddNumberToObject(o, "envs_per_process", a->envs_per_process);
    cJSON_AddNumberToObject(o, "ppo_steps", a->ppo_steps);
    cJSON_AddNumberToObject(o, "ppo_epochs", a->ppo_epochs);
    cJSON_AddNumberToObject(o, "ppo_minibatches", a->ppo_minibatches);
    cJSON_AddNumberToObject(o, "norm_adv", a->norm_adv);
    cJSON_AddNumberToObject(o, "gae_lambda", a->gae_lambda);
    cJSON_AddNumberToObject(o, "clip", a->clip);
    cJSON_AddNumberToObject(o, "ent_coef", a->ent_coef);
    cJSON_AddNumberToObject(o, "vf_coef", a->vf_coef);
    cJSON_AddNumberToObject(o, "value_clip", a->value_clip);
    cJSON_AddNumberToObject(o, "max_grad_norm", a->max_grad_norm);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s)
        return -1;
    int rc = strlen(s) < outlen ? 0 : -1;
    if (!rc)
        memcpy(out, s, strlen(s) + 1);
    cJSON_free(s);
    return rc;
}

static void get_str(const cJSON *o, const char *k, char *dst, size_t n)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (cJSON_IsString(v) && strlen(v->valuestring) < n)
        memcpy(dst, v->valuestring, strlen(v->valuestring) + 1);
}

static void get_num(const cJSON *o, const char *k, double *dst)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (cJSON_IsNumber(v))
        *dst = v->valuedouble;
}

static void get_int(const cJSON *o, const char *k, int *dst)
{
    double d = *dst;
    get_num(o, k, &d);
    *dst = (int)d;
}

static void get_i64(const cJSON *o, const char *k, int64_t *dst)
{
    double d = (double)*dst;
    get_num(o, k, &d);
    *dst = (int64_t)d;
}

int train_args_from_json(train_args *a, const char *json, char *err, size_t errlen)
{
    cJSON *o = cJSON_Parse(json);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return smbrl_fail(err, errlen, "the saved arguments are not a JSON object");
    }
    get_str(o, "rom", a->rom, sizeof a->rom);
    get_str(o, "task", a->task, sizeof a->task);
    get_str(o, "actions", a->actions, sizeof a->actions);
    get_str(o, "run_dir", a->run_dir, sizeof a->run_dir);
    get_int(o, "num_processes", &a->num_processes);
    get_int(o, "batch_size", &a->batch_size);
    get_int(o, "render", &a->render);
    get_int(o, "learn_every", &a->learn_every);
    get_int(o, "frame_skip", &a->frame_skip);
    get_int(o, "threads_per_process", &a->threads_per_process);
    get_int(o, "dueling", &a->dueling);
    get_int(o, "save_replay", &a->save_replay);
    get_i64(o, "burnin", &a->burnin);
    get_i64(o, "episodes", &a->episodes);
    get_i64(o, "sync_every", &a->sync_every);
    get_i64(o, "save_every", &a->save_every);
    get_i64(o, "target_sync_every", &a->target_sync_every);
    get_i64(o, "memory_size", &a->memory_size);
    get_i64(o, "max_steps", &a->max_steps);
    get_i64(o, "record_every", &a->record_every);
    get_num(o, "lr", &a->lr);
    get_num(o, "gamma", &a->gamma);
    get_num(o, "exploration_decay", &a->eps_decay);
    get_num(o, "exploration_min", &a->eps_min);
    get_num(o, "log_every", &a->log_every);
    get_str(o, "algo", a->algo, sizeof a->algo);
    get_str(o, "obs", a->obs, sizeof a->obs);
    get_str(o, "net", a->net, sizeof a->net);
    get_str(o, "reward", a->reward, sizeof a->reward);
    get_str(o, "lr_schedule", a->lr_schedule, sizeof a->lr_schedule);
    get_int(o, "envs_per_process", &a->envs_per_process);
    get_int(o, "ppo_steps", &a->ppo_steps);
    get_int(o, "ppo_epochs", &a->ppo_epochs);
    get_int(o, "ppo_minibatches", &a->ppo_minibatches);
    get_int(o, "norm_adv", &a->norm_adv);
    get_num(o, "gae_lambda", &a->gae_lambda);
    get_num(o, "clip", &a->clip);
    get_num(o, "ent_coef", &a->ent_coef);
    get_num(o, "vf_coef", &a->vf_coef);
    get_num(o, "value_clip", &a->value_clip);
    get_num(o, "max_grad_norm", &a->max_grad_norm);
    char seed[24] = "";
    get_str(o, "seed", seed, sizeof seed);
    if (seed[0])
        a->seed = strtoull(seed, NULL, 10);
    cJSON_Delete(o);
    return 0;
}

/* ---- state files ------------------------------------------------------------------ */

void train_replay_path(char *out, size_t n, const char *dir, int64_t step, int index)
{
    if (step < 0)
        snprintf(out, n, "%s/replay_w%d.bin", dir, index);
    else
        snprintf(out, n, "%s/replay_%" PRId64 "_w%d.bin", dir, step, index);
}

static int64_t state_step(const char *name)
{
    if (strncmp(name, "state_", 6) || name[6] < '0' || name[6] > '9')
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(name + 6, &end, 10);
    if (errno || strcmp(end, ".safetensors"))
        return -1;
    return (int64_t)v;
}

int train_resolve_state(const char *path, char *out, size_t outlen, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return smbrl_fail(err, errlen, "--resume %s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d)
            return smbrl_fail(err, errlen, "--resume %s: %s", path, strerror(errno));
        int64_t best = -1;
        struct dirent *de;
        while ((de = readdir(d))) {
            int64_t s = state_step(de->d_name);
            if (s > best)
                best = s;
        }
        closedir(d);
        if (best < 0)
            return smbrl_fail(err, errlen, "--resume %s: no state_<step>.safetensors in this directory", path);
        snprintf(out, outlen, "%s/state_%" PRId64 ".safetensors", path, best);
        return 0;
    }
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    long long step;
    char tail[32];
    if (sscanf(base, "model_%lld%31s", &step, tail) == 2 && !strcmp(tail, ".safetensors")) {
        int dl = (int)(base - path);
        snprintf(out, outlen, "%.*sstate_%lld.safetensors", dl, path, step);
        if (stat(out, &st) < 0)
            return smbrl_fail(err, errlen, "--resume %s: its training state %s is missing", path, out);
        return 0;
    }
    if ((size_t)snprintf(out, outlen, "%s", path) >= outlen)
        return smbrl_fail(err, errlen, "--resume %s: path too long", path);
    return 0;
}

int train_state_args(const char *state_path, train_args *a, char *err, size_t errlen)
{
    st_file *f;
    if (st_open(&f, state_path, err, errlen) < 0)
        return -1;
    const char *fmt = st_meta(f, "format"), *args = st_meta(f, "args");
    int rc = 0;
    if (!fmt || strcmp(fmt, TRAIN_STATE_FORMAT) || !args)
        rc = smbrl_fail(err, errlen, "%s: not an smbrl training state (format %s expected)", state_path,
                  TRAIN_STATE_FORMAT);
    else if (train_args_from_json(a, args, err, errlen) < 0)
        rc = -1;
    st_close(f);
    return rc;
}

int train_state_save(const char *path, const train_state *st, const train_args *a,
                     const nn_model *layout, char *err, size_t errlen)
{
    int W = st->n_workers;
    double eps[TRAIN_MAX_WORKERS];
    uint64_t rngs[TRAIN_MAX_WORKERS][4];
    int64_t cnt[TRAIN_MAX_WORKERS][3];
    uint8_t has[TRAIN_MAX_WORKERS];
    for (int w = 0; w < W; w++) {
        eps[w] = st->slot[w].epsilon;
        memcpy(rngs[w], st->slot[w].rng, sizeof rngs[w]);
        cnt[w][0] = st->slot[w].steps;
        cnt[w][1] = st->slot[w].pushes;
        cnt[w][2] = st->slot[w].restarts;
        has[w] = (uint8_t)(st->slot[w].has_state != 0);
    }
    int64_t np = (int64_t)st->num_params, w1 = W, sh_rng[2] = {W, 4}, sh_cnt[2] = {W, 3},
            nr = st->n_recent;
    st_tensor_desc td[] = {
        {"params", ST_F32, 1, &np, st->params},
        {"adam.m", ST_F32, 1, &np, st->m},
        {"adam.v", ST_F32, 1, &np, st->v},
        {"worker.epsilon", ST_F64, 1, &w1, eps},
        {"worker.rng", ST_U64, 2, sh_rng, rngs},
        {"worker.counts", ST_I64, 2, sh_cnt, cnt},
        {"worker.has_state", ST_U8, 1, &w1, has},
        {"recent.return", ST_F32, 1, &nr, st->recent_ret},
        {"recent.x_pos", ST_F32, 1, &nr, st->recent_x},
    };
    char args[CKPT_ARGS_MAX], v[9][40];
    if (train_args_to_json(a, args, sizeof args) < 0)
        return smbrl_fail(err, errlen, "the arguments do not fit in a checkpoint");
    snprintf(v[0], sizeof v[0], "%" PRId64, st->step);
    snprintf(v[1], sizeof v[1], "%" PRId64, st->episodes);
    snprintf(v[2], sizeof v[2], "%" PRId64, st->flags);
    snprintf(v[3], sizeof v[3], "%" PRId64, st->adam_step);
    snprintf(v[4], sizeof v[4], "%" PRId64, st->restarts);
    snprintf(v[5], sizeof v[5], "%.17g", st->elapsed);
    snprintf(v[6], sizeof v[6], "%.17g", st->best_mean);
    snprintf(v[7], sizeof v[7], "%" PRId64, st->updates);
    st_kv kv[] = {{"format", TRAIN_STATE_FORMAT}, {"step", v[0]},    {"episode", v[1]},
                  {"flags", v[2]},                {"adam_step", v[3]}, {"restarts", v[4]},
                  {"elapsed", v[5]},              {"best_mean", v[6]}, {"updates", v[7]},
                  {"args", args}, {"replay_workers", v[8]}};
    snprintf(v[8], sizeof v[8], "%d", st->replay_workers);
    (void)layout;
    /* replay_workers only when replay files go with this state: older readers never see it */
    size_t nkv = sizeof kv / sizeof kv[0] - (st->replay_workers > 0 ? 0 : 1);
    return st_write(path, td, sizeof td / sizeof td[0], kv, nkv, err, errlen);
}

static int meta_num(const st_file *f, const char *path, const char *key, double *out, char *err,
                    size_t errlen)
{
    const char *s = st_meta(f, key);
    char *end;
    if (!s)
        return smbrl_fail(err, errlen, "%s: training state lacks \"%s\"", path, key);
    *out = strtod(s, &end);
    if (end == s || *end)
        return smbrl_fail(err, errlen, "%s: training state \"%s\" is not a number: \"%s\"", path, key, s);
    return 0;
}

static int meta_int(const st_file *f, const char *path, const char *key, int64_t *out, char *err,
                    size_t errlen)
{
    const char *s = st_meta(f, key);
    char *end;
    if (!s)
        return smbrl_fail(err, errlen, "%s: training state lacks \"%s\"", path, key);
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || end == s || *end || x < 0)
        return smbrl_fail(err, errlen, "%s: training state \"%s\" is not a count: \"%s\"", path, key, s);
    *out = (int64_t)x;
    return 0;
}

int train_state_load(const char *path, train_state *st, train_args *a, const nn_model *layout,
                     char *err, size_t errlen)
{
    st_file *f;
    if (st_open(&f, path, err, errlen) < 0)
        return -1;
    int rc = -1;
    const char *fmt = st_meta(f, "format"), *args = st_meta(f, "args");
    if (!fmt || strcmp(fmt, TRAIN_STATE_FORMAT) || !args) {
        smbrl_fail(err, errlen, "%s: not an smbrl training state (format %s expected)", path, TRAIN_STATE_FORMAT);
        goto out;
    }
    if (a && train_args_from_json(a, args, err, errlen) < 0)
        goto out;
    if (meta_int(f, path, "step", &st->step, err, errlen) < 0 ||
        meta_int(f, path, "episode", &st->episodes, err, errlen) < 0 ||
        meta_int(f, path, "flags", &st->flags, err, errlen) < 0 ||
        meta_int(f, path, "adam_step", &st->adam_step, err, errlen) < 0 ||
        meta_int(f, path, "restarts", &st->restarts, err, errlen) < 0 ||
        meta_int(f, path, "updates", &st->updates, err, errlen) < 0 ||
        meta_num(f, path, "elapsed", &st->elapsed, err, errlen) < 0 ||
        meta_num(f, path, "best_mean", &st->best_mean, err, errlen) < 0)
        goto out;
    int64_t np = (int64_t)layout->num_params;
    st->num_params = layout->num_params;
    const char *names[3] = {"params", "adam.m", "adam.v"};
    float *dst[3] = {st->params, st->m, st->v};
    for (int i = 0; i < 3; i++) {
        char why[400];
        if (st_read(f, names[i], ST_F32, 1, &np, dst[i], sizeof(float) * layout->num_params, why,
                    sizeof why) < 0) {
            smbrl_fail(err, errlen, "%s: does not match this model: %s", path, why);
            goto out;
        }
        for (size_t k = 0; k < layout->num_params; k++)
            if (!isfinite(dst[i][k])) {
                smbrl_fail(err, errlen, "%s: tensor %s holds a non-finite value", path, names[i]);
                goto out;
            }
    }
    const st_tensor *te = st_find(f, "worker.epsilon");
    if (!te || te->ndim != 1 || te->shape[0] < 1 || te->shape[0] > TRAIN_MAX_WORKERS) {
        smbrl_fail(err, errlen, "%s: training state lacks a valid worker.epsilon", path);
        goto out;
    }
    int W = (int)te->shape[0];
    int64_t w1 = W, sh_rng[2] = {W, 4}, sh_cnt[2] = {W, 3};
    double eps[TRAIN_MAX_WORKERS];
    uint64_t rngs[TRAIN_MAX_WORKERS][4];
    int64_t cnt[TRAIN_MAX_WORKERS][3];
    uint8_t has[TRAIN_MAX_WORKERS];
    if (st_read(f, "worker.epsilon", ST_F64, 1, &w1, eps, sizeof(double) * (size_t)W, err, errlen) < 0 ||
        st_read(f, "worker.rng", ST_U64, 2, sh_rng, rngs, sizeof(uint64_t) * 4 * (size_t)W, err, errlen) < 0 ||
        st_read(f, "worker.counts", ST_I64, 2, sh_cnt, cnt, sizeof(int64_t) * 3 * (size_t)W, err, errlen) < 0 ||
        st_read(f, "worker.has_state", ST_U8, 1, &w1, has, (size_t)W, err, errlen) < 0)
        goto out;
    st->n_workers = W;
    for (int w = 0; w < W; w++) {
        if (!(eps[w] >= 0 && eps[w] <= 1)) {
            smbrl_fail(err, errlen, "%s: worker %d epsilon %g is not in [0, 1]", path, w, eps[w]);
            goto out;
        }
        memset(&st->slot[w], 0, sizeof st->slot[w]);
        st->slot[w].epsilon = eps[w];
        memcpy(st->slot[w].rng, rngs[w], sizeof rngs[w]);
        st->slot[w].steps = cnt[w][0];
        st->slot[w].pushes = cnt[w][1];
        st->slot[w].restarts = cnt[w][2];
        st->slot[w].has_state = has[w];
    }
    const st_tensor *tr = st_find(f, "recent.return");
    int64_t nr = tr && tr->ndim == 1 && tr->shape[0] >= 0 && tr->shape[0] <= 100 ? tr->shape[0] : -1;
    if (nr < 0 ||
        st_read(f, "recent.return", ST_F32, 1, &nr, st->recent_ret, sizeof(float) * (size_t)nr, err, errlen) < 0 ||
        st_read(f, "recent.x_pos", ST_F32, 1, &nr, st->recent_x, sizeof(float) * (size_t)nr, err, errlen) < 0) {
        if (nr < 0)
            smbrl_fail(err, errlen, "%s: training state lacks recent.return", path);
        goto out;
    }
    st->n_recent = (int)nr;
    const char *rw = st_meta(f, "replay_workers");
    st->replay_workers = rw ? atoi(rw) : 0;
    if (st->replay_workers < 0 || st->replay_workers > TRAIN_MAX_WORKERS)
        st->replay_workers = 0;
    rc = 0;
out:
    st_close(f);
    return rc;
}
