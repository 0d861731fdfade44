/* supervisor.c: train_run, the main process of `smbrl train`: checks the setup, builds the
 * shared model (fresh or from a training state), forks the workers and watches them
 * (restarting any that dies), drains finished episodes into TensorBoard and metrics.jsonl,
 * writes checkpoints every --save-every global steps and at the end, and stops on the episode
 * budget, --max-steps or SIGINT/SIGTERM. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/error.h"
#include "smbrl/checkpoint.h"
#include "smbrl/metrics.h"
#include "smbrl/record.h"
#include "smbrl/replay.h"
#include "smbrl/tblog.h"
#include "train/train_internal.h"
#ifdef SMBRL_HAVE_MPI
#include "dist/train_dist.h"
#endif

#define RECENT 100

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct sup {
    const train_args *a;
    const train_hooks *h;
    env_base *base;
    env_base *rec_base;       /* --record-every on tiles: a rendering base for the GIFs */
    int obs_c, obs_h, obs_w;
    train_shared *sh;
    nn_model layout;          /* the network's table; its params are scratch for snapshots */
    nn_spec spec;
    FILE *logf;
    tblog *tb;
    metrics *mx;
    pid_t pids[TRAIN_MAX_WORKERS];
    double started[TRAIN_MAX_WORKERS];
    int quick_fails[TRAIN_MAX_WORKERS];
    int64_t restarts;
    double best_mean, elapsed0, t0;
    float recent_ret[RECENT], recent_x[RECENT];
    int64_t n_recent;         /* episodes seen; the window is the last min(n, 100) */
    int64_t episodes0;        /* finished before this run (resume) */
    int64_t ring_tail;
    float *snap_m, *snap_v;
    char model_name[32];
    /* --save-replay: the memories a resumed state carries, and whether the final checkpoint
     * takes the workers' memories along */
    char replay_dir[1100];
    int64_t replay_step;
    int replay_n, replay_used[TRAIN_MAX_WORKERS], replay_final;
    double rep_ent_sum, rep_entropy; /* PPO progress: entropy sum at the last change, its mean */
    int64_t rep_pushes;
    double ppo_last[5];              /* PPO interval logs: the sums at the last interval */
    char last_ckpt[1200];
    char err[512];
#ifdef SMBRL_HAVE_MPI
    train_dist *dist;         /* NULL unless --distributed (src/dist/train_dist.h) */
#endif
} sup;

/* Only rank 0 of a distributed run writes files (checkpoints, logs, TensorBoard). */
static int writer(const sup *s)
{
#ifdef SMBRL_HAVE_MPI
    return !s->dist || train_dist_writer(s->dist);
#else
    (void)s;
    return 1;
#endif
}

static void say(sup *s, const char *fmt, ...)
{
    char line[1024];
    int off = 0;
#ifdef SMBRL_HAVE_MPI
    if (s->dist) /* mpirun interleaves every rank's lines */
        off = snprintf(line, sizeof line, "[rank %d] ", train_dist_rank(s->dist));
#endif
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + off, sizeof line - (size_t)off, fmt, ap);
    va_end(ap);
    if (s->logf) {
        time_t t = time(NULL);
        struct tm tm;
        char ts[32];
        gmtime_r(&t, &tm);
        strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
        fprintf(s->logf, "%s %s\n", ts, line);
        fflush(s->logf);
    }
    if (s->h && s->h->log)
        s->h->log(s->h->user, line);
}

#ifdef SMBRL_HAVE_MPI
static void dist_say(void *user, const char *line) { say(user, "%s", line); }

/* After a failed round or the launcher's signal: the job is ending, so no checkpoint. */
static void kill_workers(sup *s)
{
    __atomic_store_n(&s->sh->stop, 1, __ATOMIC_RELAXED);
    for (int w = 0; w < s->a->num_processes; w++)
        if (s->pids[w] > 0)
            kill(s->pids[w], SIGKILL);
    while (waitpid(-1, NULL, 0) > 0)
        ;
}
#endif

/* ---- set-up checks ------------------------------------------------------------------ */

static int make_dirs(const char *path, char *err, size_t errlen)
{
    char buf[1100];
    if ((size_t)snprintf(buf, sizeof buf, "%s", path) >= sizeof buf)
        return smbrl_fail(err, errlen, "run directory %s: path too long", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == 0) {
            char c = *p;
            *p = 0;
            if (mkdir(buf, 0777) < 0 && errno != EEXIST)
                return smbrl_fail(err, errlen, "cannot create run directory %s: %s", buf, strerror(errno));
            *p = c;
            if (!c)
                break;
        }
    }
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
        return smbrl_fail(err, errlen, "run directory %s is not a directory", path);
    char probe[2400];
    snprintf(probe, sizeof probe, "%s/.smbrl-write-test.%ld", path, (long)getpid());
    int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0)
        return smbrl_fail(err, errlen, "run directory %s is not writable: %s", path, strerror(errno));
    close(fd);
    unlink(probe);
    return 0;
}

static int check_memory(const sup *s, size_t num_params, char *err, size_t errlen)
{
    const train_args *a = s->a;
    const double obs = (double)s->obs_c * s->obs_h * s->obs_w;
    if (train_is_ppo(a)) {
        /* per worker: the rollout (observations and 8 floats a sample), the model, its grads
         * and unused own moments, the activations of a minibatch (about 0.5 MB per pixel sample) */
        double tn = (double)a->ppo_steps * a->envs_per_process;
        double mb = tn / a->ppo_minibatches + a->envs_per_process;
        double need = (double)a->num_processes *
                      (tn * (obs + 40) + 5.0 * (double)num_params * 4 + mb * obs * 80);
        long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
        double have = pages > 0 && psize > 0 ? (double)pages * (double)psize : 0;
        if (have > 0 && need > have)
            return smbrl_fail(err, errlen,
                              "rollouts of %d steps x %d envs x %d workers need about %.1f GiB, more than "
                              "this machine's %.1f GiB of RAM (lower --ppo-steps or --envs-per-process)",
                              a->ppo_steps, a->envs_per_process, a->num_processes, need / 1073741824.0,
                              have / 1073741824.0);
        return 0;
    }
    replay_config rc = {.capacity = (size_t)a->memory_size, .stack = s->obs_c, .height = s->obs_h,
                        .width = s->obs_w, .num_streams = 1};
    /* above the replay's own size limit, estimate: a frame and a transition record each */
    double per = (double)replay_bytes_needed(&rc, NULL);
    if (per <= 0)
        per = (double)a->memory_size * ((double)s->obs_h * s->obs_w + 24);
    /* per worker: the memory, three copies of the model (online, target, Adam m and v), the
     * activations of a batch (about 0.5 MB per sample) */
    double need = (double)a->num_processes *
                  (per + 5.0 * (double)num_params * 4 + (double)a->batch_size * 2 * 600e3);
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    double have = pages > 0 && psize > 0 ? (double)pages * (double)psize : 0;
    if (have > 0 && need > have)
        return smbrl_fail(err, errlen,
                    "replay memories of %" PRId64 " transitions x %d workers need about %.1f GiB, "
                    "more than this machine's %.1f GiB of RAM (lower --memory-size or --num-processes)",
                    a->memory_size, a->num_processes, need / 1073741824.0, have / 1073741824.0);
    return 0;
}

/* ---- episodes and logs ---------------------------------------------------------------- */

static void window_means(const sup *s, double *ret, double *x)
{
    int n = s->n_recent < RECENT ? (int)s->n_recent : RECENT;
    if (!n) {
        *ret = *x = NAN;
        return;
    }
    double r = 0, xs = 0;
    for (int i = 0; i < n; i++) {
        r += s->recent_ret[i];
        xs += s->recent_x[i];
    }
    *ret = r / n;
    *x = xs / n;
}

static void drain(sup *s)
{
    train_episode batch[256];
    for (;;) {
        int n = 0;
        train_lock(s->sh);
        if (s->sh->ring_head - s->ring_tail > TRAIN_RING)
            s->ring_tail = s->sh->ring_head - TRAIN_RING; /* fell behind: the oldest are gone */
        while (n < 256 && s->ring_tail < s->sh->ring_head)
            batch[n++] = s->sh->ring[s->ring_tail++ % TRAIN_RING];
        train_unlock(s->sh);
        for (int i = 0; i < n; i++) {
            const train_episode *e = &batch[i];
            s->recent_ret[s->n_recent % RECENT] = e->ret;
            s->recent_x[s->n_recent % RECENT] = (float)e->x_pos;
            s->n_recent++;
            char why[256];
            if (s->tb && (tblog_scalar(s->tb, "episode/return", e->step, e->ret, e->wall_time, why, sizeof why) < 0 ||
                          tblog_scalar(s->tb, "episode/length", e->step, (float)e->length, e->wall_time, why, sizeof why) < 0 ||
                          tblog_scalar(s->tb, "episode/x_pos", e->step, (float)e->x_pos, e->wall_time, why, sizeof why) < 0 ||
                          tblog_scalar(s->tb, "episode/flag", e->step, (float)e->flag, e->wall_time, why, sizeof why) < 0))
                snprintf(s->err, sizeof s->err, "%s", why);
            static const char *const names[] = {"episode", "worker", "return", "length", "x_pos", "flag"};
            double v[] = {(double)e->index, e->worker, e->ret, e->length, e->x_pos, e->flag};
            if (s->mx && metrics_write(s->mx, e->step, e->wall_time, 6, names, v, why, sizeof why) < 0)
                snprintf(s->err, sizeof s->err, "%s", why);
        }
        if (n < 256)
            break;
    }
}

/* PPO: per-push means since the last call's sums (sums: the 5 ppo_sum totals now). */
static void ppo_sums(const sup *s, double sums[5], double *lr)
{
    for (int k = 0; k < 5; k++)
        sums[k] = 0;
    *lr = 0;
    for (int w = 0; w < s->a->num_processes; w++) {
        for (int k = 0; k < 5; k++)
            sums[k] += train_load_d(&s->sh->slot[w].ppo_sum[k]);
        double l = train_load_d(&s->sh->slot[w].lr);
        if (l > *lr)
            *lr = l;
    }
}

static double mean_epsilon(const sup *s)
{
    double e = 0;
    for (int w = 0; w < s->a->num_processes; w++)
        e += train_load_d(&s->sh->slot[w].epsilon);
    return e / s->a->num_processes;
}

static int64_t total_pushes(const sup *s, double *loss, double *q)
{
    int64_t p = 0;
    double l = 0, qq = 0;
    for (int w = 0; w < s->a->num_processes; w++) {
        p += __atomic_load_n(&s->sh->slot[w].pushes, __ATOMIC_RELAXED);
        l += train_load_d(&s->sh->slot[w].loss_sum);
        qq += train_load_d(&s->sh->slot[w].q_sum);
    }
    if (loss)
        *loss = l;
    if (q)
        *q = qq;
    return p;
}

/* ---- checkpoints ------------------------------------------------------------------------ */

/* --record-every: one greedy episode of the current shared model, played on an env of
 * the supervisor's own base (no worker's env is touched), to <run_dir>/episode_<n>.gif.
 * A failed recording is logged and training goes on. */
static void record_episode(sup *s, int64_t episodes)
{
    train_lock(s->sh);
    memcpy(s->layout.params, s->sh->params, sizeof(float) * s->layout.num_params);
    train_unlock(s->sh);
    char path[1200], why[256];
    snprintf(path, sizeof path, "%s/episode_%" PRId64 ".gif", s->a->run_dir, episodes);
    rec_options o;
    rec_options_default(&o);
    o.max_steps = 5000; /* bounds the pause of the supervisor loop */
    o.seed = s->a->seed + (uint64_t)episodes;
    o.sample = train_is_ppo(s->a); /* the policy as trained; its argmax may stand still */
    rec_episode ep;
    if (rec_record_episode_gif(s->rec_base ? s->rec_base : s->base, &s->layout, &o, path, &ep, why,
                               sizeof why) < 0)
        say(s, "recording after %" PRId64 " episodes failed: %s", episodes, why);
    else
        say(s, "recorded a %s episode after %" PRId64 " episodes to %s: return %.1f, x %d%s",
            o.sample ? "sampled" : "greedy", episodes, path, ep.ret, ep.x_pos_max, ep.flag ? ", flag" : "");
}

static int64_t file_step(const char *name, const char *prefix)
{
    size_t n = strlen(prefix);
    if (strncmp(name, prefix, n) || name[n] < '0' || name[n] > '9')
        return -1;
    char *end;
    long long v = strtoll(name + n, &end, 10);
    return strcmp(end, ".safetensors") ? -1 : (int64_t)v;
}

static int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

/* Keeps the CKPT_KEEP newest model_ and state_ files. */
static void rotate(sup *s, const char *prefix)
{
    int64_t steps[512];
    int n = 0;
    DIR *d = opendir(s->a->run_dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) && n < 512) {
        int64_t v = file_step(de->d_name, prefix);
        if (v >= 0)
            steps[n++] = v;
    }
    closedir(d);
    qsort(steps, (size_t)n, sizeof steps[0], cmp_i64);
    for (int i = 0; i + CKPT_KEEP < n; i++) {
        char p[1200];
        snprintf(p, sizeof p, "%s/%s%" PRId64 ".safetensors", s->a->run_dir, prefix, steps[i]);
        unlink(p);
    }
}

/* Names the workers' saved memories after the final state's step and removes older ones,
 * so a state and its memories always go together. */
static void keep_replays(sup *s, int64_t step, int *n_out)
{
    int n = 0;
    for (int w = 0; w < s->a->num_processes; w++) {
        char from[1200], to[1200];
        train_replay_path(from, sizeof from, s->a->run_dir, -1, w);
        train_replay_path(to, sizeof to, s->a->run_dir, step, w);
        if (!s->sh->slot[w].replay_saved || rename(from, to) < 0)
            break;
        n++;
    }
    if (n < s->a->num_processes) {
        say(s, "replay memories not kept: worker %d did not save its memory", n);
        n = 0;
    }
    DIR *d = opendir(s->a->run_dir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        long long st_;
        int w;
        char tail[8];
        if (sscanf(de->d_name, "replay_%lld_w%d%7s", &st_, &w, tail) == 3 && !strcmp(tail, ".bin") &&
            (st_ != step || n == 0)) {
            char p[1400];
            snprintf(p, sizeof p, "%s/%s", s->a->run_dir, de->d_name);
            unlink(p);
        }
    }
    if (d)
        closedir(d);
    if (n)
        say(s, "kept the replay memories of %d worker(s) with the state of step %" PRId64, n, step);
    *n_out = n;
}

static int checkpoint(sup *s, char *err, size_t errlen)
{
    train_state st;
    memset(&st, 0, sizeof st);
    st.params = s->layout.params;
    st.m = s->snap_m;
    st.v = s->snap_v;
    st.num_params = s->layout.num_params;
    train_shared *sh = s->sh;
    train_lock(sh);
    memcpy(st.params, sh->params, sizeof(float) * st.num_params);
    memcpy(st.m, sh->m, sizeof(float) * st.num_params);
    memcpy(st.v, sh->v, sizeof(float) * st.num_params);
    st.adam_step = sh->adam_step;
    st.step = __atomic_load_n(&sh->steps, __ATOMIC_RELAXED);
    st.episodes = sh->episodes;
    st.flags = sh->flags;
    st.n_workers = s->a->num_processes;
    memcpy(st.slot, sh->slot, sizeof(train_slot) * (size_t)st.n_workers);
    train_unlock(sh);
    drain(s);
    st.restarts = s->restarts;
    st.updates = total_pushes(s, NULL, NULL);
    st.elapsed = s->elapsed0 + (mono() - s->t0);
    int n = s->n_recent < RECENT ? (int)s->n_recent : RECENT;
    for (int i = 0; i < n; i++) { /* oldest first */
        int64_t k = s->n_recent - n + i;
        st.recent_ret[i] = s->recent_ret[k % RECENT];
        st.recent_x[i] = s->recent_x[k % RECENT];
    }
    st.n_recent = n;
    double eps = 0;
    for (int w = 0; w < st.n_workers; w++)
        eps += st.slot[w].epsilon;

    ckpt_info info;
    memset(&info, 0, sizeof info);
    snprintf(info.task, sizeof info.task, "%s", s->a->task);
    snprintf(info.actions, sizeof info.actions, "%s", s->a->actions);
    snprintf(info.model, sizeof info.model, "%s", s->model_name);
    snprintf(info.algo, sizeof info.algo, "%s", s->a->algo);
    snprintf(info.obs, sizeof info.obs, "%s", s->a->obs);
    snprintf(info.net, sizeof info.net, "%s", s->a->net);
    info.obs_shape[0] = s->obs_c, info.obs_shape[1] = s->obs_h, info.obs_shape[2] = s->obs_w;
    info.frame_skip = s->a->frame_skip;
    info.step = st.step;
    info.episode = st.episodes;
    info.epsilon = train_is_ppo(s->a) ? 0.0 : eps / st.n_workers;
    info.mean_return = NAN;
    if (train_args_to_json(s->a, info.args, sizeof info.args) < 0)
        return smbrl_fail(err, errlen, "the arguments do not fit in a checkpoint");
    char path[1200];
    ckpt_model_path(path, sizeof path, s->a->run_dir, st.step);
    if (ckpt_save(path, &s->layout, NULL, &info, err, errlen) < 0)
        return -1;
    snprintf(s->last_ckpt, sizeof s->last_ckpt, "%s", path);
    double mr, mx;
    window_means(s, &mr, &mx);
    if (n > 0 && mr > s->best_mean) {
        s->best_mean = mr;
        info.mean_return = mr;
        char best[1200];
        snprintf(best, sizeof best, "%s/best.safetensors", s->a->run_dir);
        if (ckpt_save(best, &s->layout, NULL, &info, err, errlen) < 0)
            return -1;
    }
    st.best_mean = s->best_mean;
    if (s->replay_final)
        keep_replays(s, st.step, &st.replay_workers);
    char spath[1200];
    snprintf(spath, sizeof spath, "%s/state_%" PRId64 ".safetensors", s->a->run_dir, st.step);
    if (train_state_save(spath, &st, s->a, &s->layout, err, errlen) < 0)
        return -1;
    rotate(s, "model_");
    rotate(s, "state_");
    say(s, "checkpoint: step %" PRId64 ", episode %" PRId64 ", %s", st.step, st.episodes, path);
    return 0;
}

/* ---- workers ------------------------------------------------------------------------------ */

static int spawn(sup *s, int w, char *err, size_t errlen)
{
    train_worker_ctx c = {.args = s->a, .hooks = s->h, .base = s->base, .sh = s->sh,
                          .spec = s->spec, .obs_c = s->obs_c, .obs_h = s->obs_h,
                          .obs_w = s->obs_w, .index = w,
                          .generation = (int)s->sh->slot[w].restarts, .supervisor = getpid(),
                          .run_dir = s->a->run_dir};
    char replay_path[1200];
    if (w < s->replay_n && !s->replay_used[w]) { /* only the first process of a resumed worker */
        train_replay_path(replay_path, sizeof replay_path, s->replay_dir, s->replay_step, w);
        s->replay_used[w] = 1;
        if (access(replay_path, R_OK) == 0) {
            c.replay_from = replay_path;
            say(s, "worker %d starts from the replay memory %s", w, replay_path);
        } else {
            say(s, "worker %d: replay memory %s is missing; it burns in again", w, replay_path);
        }
    }
    s->sh->slot[w].error[0] = 0;
    if (s->logf)
        fflush(s->logf);
    pid_t p = fork();
    if (p < 0)
        return smbrl_fail(err, errlen, "cannot start worker %d: %s", w, strerror(errno));
    if (p == 0)
        _exit(train_worker_main(&c));
    s->pids[w] = p;
    s->sh->slot[w].pid = p;
    s->started[w] = mono();
    return 0;
}

static void describe(int status, char *out, size_t n)
{
    if (WIFSIGNALED(status))
        snprintf(out, n, "was killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(out, n, "exited with status %d", WEXITSTATUS(status));
}

/* Reaps finished workers; restarts crashed ones unless stopping. */
static int reap(sup *s, int stopping, int *alive, char *err, size_t errlen)
{
    int status;
    pid_t p;
    while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
        int w = -1;
        for (int i = 0; i < s->a->num_processes; i++)
            if (s->pids[i] == p)
                w = i;
        if (w < 0)
            continue;
        s->pids[w] = 0;
        (*alive)--;
        int clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (clean)
            continue;
        char how[128];
        describe(status, how, sizeof how);
        const char *why = s->sh->slot[w].error;
        if (stopping || __atomic_load_n(&s->sh->stop, __ATOMIC_RELAXED)) {
            say(s, "worker %d (pid %d) %s while stopping%s%s", w, (int)p, how, why[0] ? ": " : "", why);
            continue;
        }
        if (mono() - s->started[w] < 5.0 && why[0]) {
            if (++s->quick_fails[w] >= 3)
                return smbrl_fail(err, errlen, "worker %d keeps failing: %s", w, why);
        } else {
            s->quick_fails[w] = 0;
        }
        s->sh->slot[w].restarts++;
        s->restarts++;
        say(s, "worker %d (pid %d) %s%s%s; restarting it from the shared model (restart %" PRId64 ")",
            w, (int)p, how, why[0] ? ": " : "", why, s->restarts);
        if (spawn(s, w, err, errlen) < 0)
            return -1;
        (*alive)++;
        say(s, "worker %d started (pid %d)", w, (int)s->pids[w]);
    }
    return 0;
}

/* ---- the run --------------------------------------------------------------------------------- */

/* The last 16 samples, stored at least `gap` seconds apart: a PPO worker steps for seconds
 * and then learns for up to a minute without a step, so its rates need a window of minutes. */
typedef struct rate_win {
    double t[16];
    int64_t steps[16], updates[16];
    int n;
    double gap;
} rate_win;

static void rate_push(rate_win *r, double t, int64_t steps, int64_t updates, double *sps, double *ups)
{
    if (r->n > 0 && t - r->t[r->n - 1] < r->gap) {
        double dt = t - r->t[0];
        *sps = dt > 0 ? (double)(steps - r->steps[0]) / dt : 0;
        *ups = dt > 0 ? (double)(updates - r->updates[0]) / dt : 0;
        return;
    }
    if (r->n == 16) {
        memmove(r->t, r->t + 1, sizeof r->t[0] * 15);
        memmove(r->steps, r->steps + 1, sizeof r->steps[0] * 15);
        memmove(r->updates, r->updates + 1, sizeof r->updates[0] * 15);
        r->n--;
    }
    r->t[r->n] = t;
    r->steps[r->n] = steps;
    r->updates[r->n] = updates;
    r->n++;
    double dt = r->t[r->n - 1] - r->t[0];
    *sps = dt > 0 ? (double)(r->steps[r->n - 1] - r->steps[0]) / dt : 0;
    *ups = dt > 0 ? (double)(r->updates[r->n - 1] - r->updates[0]) / dt : 0;
}

static void report(sup *s, rate_win *rw, int final)
{
    train_progress p;
    memset(&p, 0, sizeof p);
    p.steps = __atomic_load_n(&s->sh->steps, __ATOMIC_RELAXED);
    p.updates = total_pushes(s, NULL, NULL);
    train_lock(s->sh);
    p.episodes = s->sh->episodes;
    p.flags = s->sh->flags;
    train_unlock(s->sh);
    p.episodes_total = s->a->episodes;
    p.max_steps = s->a->max_steps;
    p.restarts = s->restarts;
    double now = mono();
    rw->gap = train_is_ppo(s->a) ? 8.0 : 0.0;
    rate_push(rw, now, p.steps, p.updates, &p.steps_per_s, &p.updates_per_s);
    p.epsilon = mean_epsilon(s);
    if (train_is_ppo(s->a)) {
        double sums[5], lr;
        ppo_sums(s, sums, &lr);
        if (p.updates > s->rep_pushes) {
            s->rep_entropy = (sums[2] - s->rep_ent_sum) / (double)(p.updates - s->rep_pushes);
            s->rep_ent_sum = sums[2];
            s->rep_pushes = p.updates;
        }
        p.ppo = 1;
        p.entropy = s->rep_entropy;
    }
    window_means(s, &p.mean_return, &p.mean_x);
    p.elapsed = s->elapsed0 + (now - s->t0);
    p.eta = -1;
    if (p.steps_per_s > 0 && p.max_steps > 0)
        p.eta = (double)(p.max_steps - p.steps) / p.steps_per_s;
    int64_t eps_run = p.episodes - s->episodes0;
    if (eps_run > 0 && now - s->t0 > 1) {
        double e = (now - s->t0) / (double)eps_run * (double)(p.episodes_total - p.episodes);
        if (p.eta < 0 || e < p.eta)
            p.eta = e;
    }
    p.final = final;
    if (s->h && s->h->progress)
        s->h->progress(s->h->user, &p);
}

/* PPO's interval figures: means per minibatch push since the last interval. */
static void ppo_interval_log(sup *s, int64_t pushes, int64_t dp, int64_t steps, double dt,
                             const int64_t *last_steps)
{
    (void)pushes;
    double sums[5], lr, v[11];
    ppo_sums(s, sums, &lr);
    for (int k = 0; k < 5; k++)
        v[k] = dp > 0 ? (sums[k] - s->ppo_last[k]) / (double)dp : NAN;
    memcpy(s->ppo_last, sums, sizeof sums);
    v[5] = lr > 0 ? lr : NAN;
    v[6] = dt > 0 ? (double)(steps - *last_steps) / dt : 0;
    v[7] = dt > 0 ? (double)dp / dt : 0;
    window_means(s, &v[8], &v[9]);
    train_lock(s->sh);
    v[10] = (double)s->sh->episodes;
    train_unlock(s->sh);
    static const char *const names[] = {"policy_loss", "value_loss", "entropy", "approx_kl",
                                        "clip_frac", "lr", "steps_per_s", "updates_per_s",
                                        "mean_return_100", "mean_x_100", "episodes"};
    static const char *const tags[] = {"train/policy_loss", "train/value_loss", "train/entropy",
                                       "train/approx_kl", "train/clip_frac", "train/lr",
                                       "train/steps_per_s", "train/updates_per_s",
                                       "train/mean_return_100", "train/mean_x_100", "train/episodes"};
    double wall = tblog_now();
    char why[256];
    for (int i = 0; i < 11; i++)
        if (isfinite(v[i]) && s->tb && tblog_scalar(s->tb, tags[i], steps, (float)v[i], wall, why, sizeof why) < 0)
            snprintf(s->err, sizeof s->err, "%s", why);
    if (s->tb)
        tblog_flush(s->tb, why, sizeof why);
    if (s->mx && metrics_write(s->mx, steps, wall, 11, names, v, why, sizeof why) < 0)
        snprintf(s->err, sizeof s->err, "%s", why);
}

static void interval_log(sup *s, int64_t *last_pushes, double *last_loss, double *last_q,
                         double *last_t, int64_t *last_steps)
{
    double loss, q, now = mono();
    int64_t pushes = total_pushes(s, &loss, &q);
    int64_t steps = __atomic_load_n(&s->sh->steps, __ATOMIC_RELAXED);
    double dt = now - *last_t;
    int64_t dp = pushes - *last_pushes;
    double v[8];
    if (train_is_ppo(s->a)) {
        ppo_interval_log(s, pushes, dp, steps, dt, last_steps);
        *last_pushes = pushes;
        *last_loss = loss;
        *last_q = q;
        *last_t = now;
        *last_steps = steps;
        return;
    }
    v[0] = dp > 0 ? (loss - *last_loss) / (double)dp : NAN;
    v[1] = dp > 0 ? (q - *last_q) / (double)dp : NAN;
    v[2] = mean_epsilon(s);
    v[3] = dt > 0 ? (double)(steps - *last_steps) / dt : 0;
    v[4] = dt > 0 ? (double)dp / dt : 0;
    window_means(s, &v[5], &v[6]);
    train_lock(s->sh);
    v[7] = (double)s->sh->episodes;
    train_unlock(s->sh);
    static const char *const names[] = {"loss", "q_mean", "epsilon", "steps_per_s",
                                        "updates_per_s", "mean_return_100", "mean_x_100", "episodes"};
    static const char *const tags[] = {"train/loss", "train/q_mean", "train/epsilon",
                                       "train/steps_per_s", "train/updates_per_s",
                                       "train/mean_return_100", "train/mean_x_100", "train/episodes"};
    double wall = tblog_now();
    char why[256];
    for (int i = 0; i < 8; i++)
        if (isfinite(v[i]) && s->tb && tblog_scalar(s->tb, tags[i], steps, (float)v[i], wall, why, sizeof why) < 0)
            snprintf(s->err, sizeof s->err, "%s", why);
    if (s->tb)
        tblog_flush(s->tb, why, sizeof why);
    if (s->mx && metrics_write(s->mx, steps, wall, 8, names, v, why, sizeof why) < 0)
        snprintf(s->err, sizeof s->err, "%s", why);
    *last_pushes = pushes;
    *last_loss = loss;
    *last_q = q;
    *last_t = now;
    *last_steps = steps;
}

static int setup(sup *s, train_state *st, char *err, size_t errlen)
{
    const train_args *a = s->a;
    if (train_args_check(a, err, errlen) < 0)
        return -1;
    if (!a->rom[0])
        return smbrl_fail(err, errlen, "no ROM: pass --rom FILE|DIR or set SMBRL_ROM / SMBRL_ROM_DIR");
    env_config ec;
    env_config_default(&ec);
    ec.task = a->task;
    ec.actions = a->actions;
    ec.frame_skip = a->frame_skip;
    ec.seed = a->seed;
    ec.obs = env_obs_kind_parse(a->obs);
    if (env_base_create(&s->base, &ec, a->rom, err, errlen) < 0)
        return -1;
    if (ec.obs != ENV_OBS_PIXELS && a->record_every > 0) {
        ec.obs = ENV_OBS_PIXELS; /* the recordings need pictures; tiles come from the RAM */
        if (env_base_create(&s->rec_base, &ec, a->rom, err, errlen) < 0)
            return -1;
    }
    env_obs_shape(s->base, &s->obs_c, &s->obs_h, &s->obs_w);
    const env_action_set *as = env_base_actions(s->base);
    if (train_net_spec(a->algo, a->obs, a->net, a->dueling, s->obs_c, s->obs_h, s->obs_w, as->n,
                       &s->spec, s->model_name, err, errlen) < 0)
        return -1;
    if (nn_model_init(&s->layout, &s->spec, err, errlen) < 0)
        return -1;
    size_t np = s->layout.num_params;
    if (check_memory(s, np, err, errlen) < 0)
        return -1;
    s->snap_m = malloc(sizeof(float) * np);
    s->snap_v = malloc(sizeof(float) * np);
    if (!s->snap_m || !s->snap_v)
        return smbrl_fail(err, errlen, "out of memory");
    if (a->resume[0]) {
        char spath[1100];
        if (train_resolve_state(a->resume, spath, sizeof spath, err, errlen) < 0)
            return -1;
        st->params = s->layout.params;
        st->m = s->snap_m;
        st->v = s->snap_v;
        if (train_state_load(spath, st, NULL, &s->layout, err, errlen) < 0)
            return -1;
        if (st->replay_workers > 0 && !train_is_ppo(a)) {
            const char *slash = strrchr(spath, '/');
            snprintf(s->replay_dir, sizeof s->replay_dir, "%.*s", slash ? (int)(slash - spath) : 1,
                     slash ? spath : ".");
            s->replay_step = st->step;
            s->replay_n = st->replay_workers;
        }
    }
    if (make_dirs(a->run_dir, err, errlen) < 0)
        return -1;
    return 0;
}

void train_init_params(nn_model *m, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed ^ 0x6D6F64656Cull);
    nn_model_init_params(m, &r);
}

int train_run(const train_args *args, const train_hooks *h, train_summary *summary, char *err,
              size_t errlen)
{
    train_args a = *args;
    train_args_resolve(&a);
    if (!a.run_dir[0]) {
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(a.run_dir, sizeof a.run_dir, "checkpoints/%Y%m%d-%H%M%S", &tm);
    }
    sup S;
    memset(&S, 0, sizeof S);
    sup *s = &S;
    s->a = &a;
    s->h = h;
    s->best_mean = -INFINITY;
    train_state *st = calloc(1, sizeof *st);
    int rc = -1, alive = 0, blocked = 0, stopping = 0, by_signal = 0;
    sigset_t set, old;
    int64_t steps_at_start = 0, pushes_at_start = 0, next_save = 0, l_pushes = 0, l_steps = 0;
    double last_report = 0, stop_since = 0, l_loss = 0, l_q = 0, l_t = 0;
    rate_win rw;
    memset(&rw, 0, sizeof rw);
    if (!st) {
        smbrl_fail(err, errlen, "out of memory");
        goto out;
    }
#ifdef SMBRL_HAVE_MPI
    if (a.distributed &&
        train_dist_open(&s->dist, &a, a.replica_check_every, dist_say, s, err, errlen) < 0)
        goto out;
#endif
    if (setup(s, st, err, errlen) < 0)
        goto out;
    if (train_shared_create(&s->sh, s->layout.num_params, err, errlen) < 0)
        goto out;
    train_shared *sh = s->sh;
    if (a.resume[0]) {
        memcpy(sh->params, st->params, sizeof(float) * sh->num_params);
        memcpy(sh->m, st->m, sizeof(float) * sh->num_params);
        memcpy(sh->v, st->v, sizeof(float) * sh->num_params);
        sh->adam_step = st->adam_step;
        sh->steps = st->step;
        sh->episodes = st->episodes;
        sh->flags = st->flags;
        s->restarts = st->restarts;
        s->elapsed0 = st->elapsed;
        s->best_mean = st->best_mean;
        for (int w = 0; w < a.num_processes && w < st->n_workers; w++)
            sh->slot[w] = st->slot[w];
        for (int w = st->n_workers; w < a.num_processes; w++) { /* more workers than before */
            sh->slot[w].epsilon = st->slot[0].epsilon;
            memcpy(sh->slot[w].rng, st->slot[0].rng, sizeof sh->slot[w].rng);
            sh->slot[w].rng[0] ^= (uint64_t)w * 0x9E3779B97F4A7C15ull;
            sh->slot[w].has_state = 1;
        }
        for (int i = 0; i < st->n_recent; i++) {
            s->recent_ret[i] = st->recent_ret[i];
            s->recent_x[i] = st->recent_x[i];
        }
        s->n_recent = st->n_recent;
    } else {
        train_init_params(&s->layout, a.seed);
        memcpy(sh->params, s->layout.params, sizeof(float) * sh->num_params);
    }
#ifdef SMBRL_HAVE_MPI
    if (s->dist && train_dist_start(s->dist, sh, err, errlen) < 0)
        goto out;
#endif
    s->episodes0 = sh->episodes;
    steps_at_start = sh->steps;
    for (int w = 0; w < a.num_processes; w++)
        pushes_at_start += sh->slot[w].pushes;

    char p[1200];
    if (writer(s)) {
        snprintf(p, sizeof p, "%s/train.log", a.run_dir);
        s->logf = fopen(p, "a");
        if (!s->logf) {
            smbrl_fail(err, errlen, "cannot open %s: %s", p, strerror(errno));
            goto out;
        }
        if (tblog_open(&s->tb, a.run_dir, err, errlen) < 0)
            goto out;
        snprintf(p, sizeof p, "%s/metrics.jsonl", a.run_dir);
        if (metrics_open(&s->mx, p, err, errlen) < 0)
            goto out;
    }

    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, &old);
    blocked = 1;
    s->t0 = mono();
    char envs[48] = "";
    if (train_is_ppo(&a))
        snprintf(envs, sizeof envs, ", %d env(s) each", a.envs_per_process);
    say(s, "%s training %s, actions %s, %s on %s with %s (%s), %d worker(s)%s, run directory %s, "
           "from step %" PRId64 ", episode %" PRId64 " of %" PRId64,
        a.resume[0] ? "resumed" : "started", a.task, a.actions, a.algo, a.obs, a.net, s->model_name,
        a.num_processes, envs, a.run_dir, sh->steps, sh->episodes, a.episodes);
    int done_already = sh->episodes >= a.episodes || (a.max_steps > 0 && sh->steps >= a.max_steps);
    for (int w = 0; w < a.num_processes && !done_already; w++) {
        if (spawn(s, w, err, errlen) < 0) {
            for (int k = 0; k < w; k++)
                kill(s->pids[k], SIGKILL);
            while (waitpid(-1, NULL, 0) > 0)
                ;
            goto out;
        }
        alive++;
        say(s, "worker %d started (pid %d)", w, (int)s->pids[w]);
    }

    next_save = (sh->steps / a.save_every + 1) * a.save_every;
    int64_t next_record = a.record_every > 0 ? (sh->episodes / a.record_every + 1) * a.record_every : INT64_MAX;
    l_pushes = total_pushes(s, &l_loss, &l_q);
    s->rep_pushes = l_pushes; /* a resumed run's pushes are counted, its entropy sums are not */
    l_steps = sh->steps;
    l_t = mono();
    while (alive > 0) {
        struct timespec to = {0, 100000000};
        siginfo_t si;
        int sig = sigtimedwait(&set, &si, &to);
#ifdef SMBRL_HAVE_MPI
        if (s->dist && sig > 0 && train_dist_launcher_signal(s->dist, sig, &si, err, errlen)) {
            say(s, "%s", err);
            kill_workers(s);
            goto out;
        }
#endif
        if ((sig == SIGINT || sig == SIGTERM) && !stopping) {
            stopping = by_signal = 1;
            __atomic_store_n(&sh->interrupted, 1, __ATOMIC_RELAXED);
            __atomic_store_n(&sh->stop, 1, __ATOMIC_RELAXED);
            /* a second signal ends the process at once: atomic writes keep files whole */
            sigset_t two;
            sigemptyset(&two);
            sigaddset(&two, SIGINT);
            sigaddset(&two, SIGTERM);
            signal(SIGINT, SIG_DFL);
            signal(SIGTERM, SIG_DFL);
            sigprocmask(SIG_UNBLOCK, &two, NULL);
            say(s, "%s: stopping the workers, then writing a final checkpoint (again to quit now)",
                sig == SIGINT ? "SIGINT" : "SIGTERM");
            stop_since = mono();
        }
        if (reap(s, stopping, &alive, err, errlen) < 0) {
            __atomic_store_n(&sh->stop, 1, __ATOMIC_RELAXED);
            for (int w = 0; w < a.num_processes; w++)
                if (s->pids[w] > 0)
                    kill(s->pids[w], SIGKILL);
            while (waitpid(-1, NULL, 0) > 0)
                ;
            goto out;
        }
        drain(s);
        if (s->err[0]) {
            smbrl_fail(err, errlen, "%s", s->err);
            stopping = 1;
            __atomic_store_n(&sh->stop, 1, __ATOMIC_RELAXED);
        }
        int64_t steps = __atomic_load_n(&sh->steps, __ATOMIC_RELAXED);
        train_lock(sh);
        int64_t eps_done = sh->episodes;
        train_unlock(sh);
        if (!stopping && (eps_done >= a.episodes || (a.max_steps > 0 && steps >= a.max_steps))) {
            stopping = 1;
            __atomic_store_n(&sh->stop, 1, __ATOMIC_RELAXED);
            stop_since = mono();
        }
        if (!stopping && eps_done >= next_record) {
            record_episode(s, eps_done);
            next_record = (eps_done / a.record_every + 1) * a.record_every;
        }
#ifdef SMBRL_HAVE_MPI
        int dist_stop = 0;
        if (s->dist && train_dist_poll(s->dist, stopping, &dist_stop, err, errlen) < 0) {
            say(s, "%s", err);
            kill_workers(s);
            goto out;
        }
        if (dist_stop && !stopping) { /* another rank reached the end or was stopped */
            stopping = 1;
            __atomic_store_n(&sh->stop, 1, __ATOMIC_RELAXED);
            stop_since = mono();
        }
#endif
        /* PPO workers finish their update at the end of a run, but a long one (pixels, full
         * size) is cut between minibatches before the kill below would come */
        if (stopping && mono() - stop_since > 20)
            __atomic_store_n(&sh->interrupted, 1, __ATOMIC_RELAXED);
        if (stopping && mono() - stop_since > 30) {
            for (int w = 0; w < a.num_processes; w++)
                if (s->pids[w] > 0)
                    kill(s->pids[w], SIGKILL);
        }
        if (!stopping && steps >= next_save && writer(s)) {
            if (checkpoint(s, err, errlen) < 0) {
                say(s, "checkpoint failed: %s", err);
                snprintf(s->err, sizeof s->err, "%s", err);
                __atomic_store_n(&sh->stop, 1, __ATOMIC_RELAXED);
                stopping = 1;
            }
            next_save = (steps / a.save_every + 1) * a.save_every;
        }
        double now = mono();
        if (now - l_t >= a.log_every)
            interval_log(s, &l_pushes, &l_loss, &l_q, &l_t, &l_steps);
        if (now - last_report >= 0.5) {
            report(s, &rw, 0);
            last_report = now;
        }
    }
    double t_end = mono(); /* speed figures leave out the final checkpoint */
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
#ifdef SMBRL_HAVE_MPI
    /* the last round: every rank's remaining updates and counts, replicas compared */
    if (s->dist && train_dist_finish(s->dist, err, errlen) < 0) {
        say(s, "%s", err);
        goto out;
    }
#endif
    drain(s);
    interval_log(s, &l_pushes, &l_loss, &l_q, &l_t, &l_steps);
    if (s->err[0]) {
        smbrl_fail(err, errlen, "%s", s->err);
        goto out;
    }
    s->replay_final = a.save_replay && !train_is_ppo(&a);
    if (writer(s) && checkpoint(s, err, errlen) < 0)
        goto out;
    for (int w = 0; w < a.num_processes; w++)
        if (sh->slot[w].replay_loaded > 0)
            say(s, "worker %d had started from %" PRId64 " transitions of replay memory", w,
                sh->slot[w].replay_loaded);
    report(s, &rw, 1);
    say(s, "%s at step %" PRId64 ", episode %" PRId64 "; last checkpoint %s",
        by_signal ? "stopped by signal" : "finished", sh->steps, sh->episodes, s->last_ckpt);
    if (summary) {
        memset(summary, 0, sizeof *summary);
        summary->steps = sh->steps;
        summary->steps_run = sh->steps - steps_at_start;
        summary->episodes = sh->episodes;
        summary->updates = total_pushes(s, NULL, NULL) - pushes_at_start;
        summary->restarts = s->restarts;
        summary->wall_s = t_end - s->t0;
        summary->stopped_by_signal = by_signal;
        for (int w = 0; w < a.num_processes; w++) {
            summary->pushes_per_worker[w] = sh->slot[w].pushes;
            summary->env_s += sh->slot[w].env_s;
            summary->act_s += sh->slot[w].act_s;
            summary->learn_s += sh->slot[w].learn_s;
            summary->sync_s += sh->slot[w].sync_s;
            summary->other_s += sh->slot[w].other_s;
        }
        memcpy(summary->last_checkpoint, s->last_ckpt, sizeof summary->last_checkpoint);
    }
    rc = 0;
out:
    if (s->tb) {
        char why[256];
        if (tblog_close(s->tb, why, sizeof why) < 0 && !rc) {
            smbrl_fail(err, errlen, "%s", why);
            rc = -1;
        }
    }
    if (s->mx) {
        char why[256];
        if (metrics_close(s->mx, why, sizeof why) < 0 && !rc) {
            smbrl_fail(err, errlen, "%s", why);
            rc = -1;
        }
    }
    if (s->logf)
        fclose(s->logf);
    if (blocked) {
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        sigprocmask(SIG_SETMASK, &old, NULL);
    }
    train_shared_free(s->sh);
    nn_model_free(&s->layout);
    free(s->snap_m);
    free(s->snap_v);
    env_base_free(s->base);
    env_base_free(s->rec_base);
    free(st);
#ifdef SMBRL_HAVE_MPI
    train_dist_close(s->dist); /* MPI_Finalize only after a clean finish */
#endif
    return rc;
}
