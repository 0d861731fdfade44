/* train_ppo_it.c: integration tests of `smbrl train --algo ppo` and `--obs tiles` with real
 * processes and files (registered by tests/train_ppo.cmake, one CTest test per case):
 *   pixels  a short 2-worker PPO run on pixels (uvipen's trunk): checkpoints load and say
 *           ppo/pixels, the shared model moved, both workers pushed whole updates (epochs x
 *           minibatches each) and adam_step counts every push, the workers pulled after each
 *           push (a local copy that never pulls sees ratio 1: approx KL and clip fraction stay 0),
 *           TensorBoard reads record by record with the PPO scalars, `smbrl eval` plays it
 *   tiles   the same on tiles (MLP), `smbrl eval --record` of the tiles model, and a DQN run on
 *           tiles whose checkpoint evaluates too
 *   resume  SIGINT mid-run of PPO on tiles: final checkpoint, exit 0; --resume (without
 *           repeating --algo) restores parameters, Adam moments, RNGs and counters exactly,
 *           then the step count and the Adam steps go on, still PPO
 *   errors  PPO set-up errors are one line and exit 2 (--distributed, bad names, linear lr
 *           without --max-steps, DQN-only nets)
 *   sync    with one worker the trainer is synchronous PPO exactly: one rollout and update
 *           of train_run (fork, shared model, push and pull per minibatch) gives bit for bit
 *           the parameters of ppo_update on the same rollout, replayed here in process
 *   replay  DQN --save-replay: the final checkpoint keeps each worker's replay memory with the
 *           state; --resume loads them, so a resumed run shorter than the burn-in learns at
 *           once, while the same resume without the memory files burns in and does not
 * usage: train_ppo_it CASE SMBRL WORKDIR [ROM_DIR]. ROMs from $SMBRL_ROM_DIR (skips without). */
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "smbrl/checkpoint.h"
#include "smbrl/ppo.h"
#include "smbrl/safetensors.h"
#include "smbrl/tblog.h"
#include "smbrl/train.h"
#include "proc_testlib.h"
#include "train_testlib.h"
#include "testlib.h"
#include "train/train_internal.h"

static const char *smbrl_bin, *work, *roms;

/* Starts smbrl with args (NULL-terminated), output in <work>/<tag>.out/.err. */
static pid_t start(const char *tag, const char *const *args) { return proc_start(smbrl_bin, work, tag, args); }

static int run(const char *tag, const char *const *args) { return proc_finish(start(tag, args)); }

/* What the events file holds: counts of tags and the largest approx KL / clip fraction. */
typedef struct ev_sum {
    int version, episodes, policy_loss, value_loss, entropy, kl, clip, lr, loss;
    float max_kl, max_clip, lr_value;
} ev_sum;

static int ev_count(void *user, const tblog_event *ev)
{
    ev_sum *c = user;
    if (ev->file_version)
        c->version++;
    if (!ev->tag)
        return 0;
    if (!strcmp(ev->tag, "episode/return"))
        c->episodes++;
    else if (!strcmp(ev->tag, "train/policy_loss"))
        c->policy_loss++;
    else if (!strcmp(ev->tag, "train/value_loss"))
        c->value_loss++;
    else if (!strcmp(ev->tag, "train/entropy"))
        c->entropy++;
    else if (!strcmp(ev->tag, "train/loss"))
        c->loss++;
    else if (!strcmp(ev->tag, "train/lr")) {
        c->lr++;
        c->lr_value = ev->value;
    } else if (!strcmp(ev->tag, "train/approx_kl")) {
        c->kl++;
        if (ev->value > c->max_kl)
            c->max_kl = ev->value;
    } else if (!strcmp(ev->tag, "train/clip_frac")) {
        c->clip++;
        if (ev->value > c->max_clip)
            c->max_clip = ev->value;
    }
    return 0;
}

static void read_events(const char *dir, ev_sum *c)
{
    char cmd[2048], path[1024] = "";
    snprintf(cmd, sizeof cmd, "ls -t %s/events.out.tfevents.* 2>/dev/null | head -1", dir);
    FILE *p = popen(cmd, "r");
    CHECK(p && fgets(path, sizeof path, p));
    if (p)
        pclose(p);
    path[strcspn(path, "\n")] = 0;
    memset(c, 0, sizeof *c);
    int64_t n = 0;
    char err[512];
    int rc = tblog_read_file(path, ev_count, c, &n, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "%s\n", err);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(c->version, 1);
}

/* worker.counts [W,3] = steps, pushes, restarts of a state file; its adam_step. */
/* 2 workers x 2 envs, rollouts of 16 steps, 2 epochs x 2 minibatches: 4 pushes a rollout. */
#define PUSHES_PER_ROLLOUT 4
static const char *tiny[] = {"--algo", "ppo", "--num-processes", "2", "--envs-per-process", "2",
                             "--ppo-steps", "16", "--ppo-epochs", "2", "--ppo-minibatches", "2",
                             "--log-every", "0.3", "--quiet", "--seed", "3"};
#define NTINY (sizeof tiny / sizeof tiny[0])

static void build_args(const char **out, const char *rundir, const char *const *extra)
{
    int n = 0;
    out[n++] = "train";
    out[n++] = "--rom";
    out[n++] = roms;
    out[n++] = "--run-dir";
    out[n++] = rundir;
    for (size_t i = 0; i < NTINY; i++)
        out[n++] = tiny[i];
    for (int i = 0; extra && extra[i]; i++)
        out[n++] = extra[i];
    out[n] = NULL;
}

/* Everything a finished PPO run must show. */
static void check_ppo_run(const char *dir, const char *obs, const char *model, int64_t min_step)
{
    char latest[1200], err[512], path[1300];
    CHECK(ckpt_resolve(dir, CKPT_LATEST, latest, sizeof latest, err, sizeof err) == 0);
    nn_model m;
    memset(&m, 0, sizeof m);
    ckpt_info info;
    int lrc = ckpt_load(latest, &m, &info, err, sizeof err);
    if (lrc < 0)
        fprintf(stderr, "%s\n", err);
    CHECK_EQ_INT(lrc, 0);
    if (lrc < 0)
        return;
    CHECK(info.step >= min_step);
    CHECK(!strcmp(info.algo, "ppo") && !strcmp(info.obs, obs) && !strcmp(info.model, model));
    CHECK(info.epsilon == 0.0);
    CHECK(strstr(info.args, "\"algo\":\"ppo\"") != NULL);
    CHECK(strstr(info.args, "\"lr\":0.0001") != NULL); /* PPO's default lr, not DQN's */
    /* the policy + value head: the action set's 2 logits and the value */
    CHECK_EQ_INT(m.out_dim, 3);
    CHECK(m.spec.layers[m.spec.num_layers - 1].kind == NN_POLICY_VALUE);

    /* the shared parameters moved away from the run's initial weights */
    nn_model init;
    CHECK(nn_model_init(&init, &m.spec, err, sizeof err) == 0);
    train_init_params(&init, 3);
    size_t changed = 0;
    for (size_t i = 0; i < m.num_params; i++)
        changed += m.params[i] != init.params[i];
    fprintf(stderr, "%zu of %zu parameters changed\n", changed, m.num_params);
    CHECK(changed > m.num_params / 2);
    nn_model_free(&init);
    nn_model_free(&m);

    /* both workers pushed whole updates, and the shared Adam counted every push */
    char st[1200];
    int64_t last = latest_state(dir, st, sizeof st), adam_step = 0;
    CHECK(last >= min_step);
    int64_t cnt[TRAIN_MAX_WORKERS][3];
    CHECK_EQ_INT(state_counts(st, cnt, TRAIN_MAX_WORKERS, &adam_step), 2);
    fprintf(stderr, "pushes per worker: %" PRId64 " %" PRId64 ", adam_step %" PRId64 "\n", cnt[0][1],
            cnt[1][1], adam_step);
    CHECK(cnt[0][1] > 0 && cnt[1][1] > 0);
    CHECK(cnt[0][1] % PUSHES_PER_ROLLOUT == 0 && cnt[1][1] % PUSHES_PER_ROLLOUT == 0);
    CHECK(adam_step == cnt[0][1] + cnt[1][1]);
    CHECK(cnt[0][0] + cnt[1][0] == last);
    CHECK(cnt[0][0] % 2 == 0 && cnt[1][0] % 2 == 0); /* 2 envs: steps come in pairs */

    ev_sum ev;
    read_events(dir, &ev);
    fprintf(stderr, "events: %d episodes, %d policy-loss, max approx KL %g, max clip fraction %g\n",
            ev.episodes, ev.policy_loss, ev.max_kl, ev.max_clip);
    CHECK(ev.episodes >= 1);
    CHECK(ev.policy_loss >= 1 && ev.value_loss >= 1 && ev.entropy >= 1 && ev.kl >= 1 && ev.clip >= 1);
    CHECK(ev.lr >= 1 && fabsf(ev.lr_value - 1e-4f) < 1e-9f);
    CHECK_EQ_INT(ev.loss, 0); /* DQN's tags are not written by PPO runs */
    /* pulls: the local model follows the shared one within an update, so the new policy
     * moves away from the rollout's; without them every ratio stays 1 (to rounding) */
    CHECK(ev.max_kl > 1e-7f); /* rounding of the stored log-probabilities gives ~1e-16 */
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    CHECK(testlib_file_has(path, "\"approx_kl\":"));
    snprintf(path, sizeof path, "%s/train.log", dir);
    CHECK(testlib_file_has(path, "ppo on"));
    CHECK(testlib_file_has(path, "worker 1 started"));
    CHECK(testlib_file_has(path, "finished at step"));

    /* smbrl eval loads the run and plays it greedily */
    char tag[64];
    snprintf(tag, sizeof tag, "eval_%s", obs);
    const char *ea[] = {"eval", "--checkpoint", dir, "--rom", roms, "--episodes", "1",
                        "--max-steps", "60", NULL};
    CHECK_EQ_INT(run(tag, ea), 0);
    snprintf(path, sizeof path, "%s/%s.out", work, tag);
    CHECK(testlib_file_has(path, model));
    CHECK(testlib_file_has(path, "flag rate"));
}

static void case_pixels(void)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/pixels", work);
    const char *extra[] = {"--max-steps", "1200", "--save-every", "400", "--episodes", "100000", NULL};
    const char *args[80];
    build_args(args, dir, extra);
    CHECK_EQ_INT(run("pixels", args), 0);
    check_ppo_run(dir, "pixels", "ppo-uvipen", 1200);
}

static void case_tiles(void)
{
    char dir[1024], path[1300], err[512];
    snprintf(dir, sizeof dir, "%s/tiles", work);
    const char *extra[] = {"--obs", "tiles", "--max-steps", "3000", "--save-every", "1000",
                           "--episodes", "100000", NULL};
    const char *args[80];
    build_args(args, dir, extra);
    CHECK_EQ_INT(run("tiles", args), 0);
    check_ppo_run(dir, "tiles", "ppo-mlp", 3000);

    /* watching a tiles model needs pictures: a pixel env, tiles from its RAM */
    char gif[1300];
    snprintf(gif, sizeof gif, "%s/tiles.gif", work);
    const char *ea[] = {"eval", "--checkpoint", dir, "--rom", roms, "--episodes", "1",
                        "--max-steps", "40", "--record", gif, NULL};
    CHECK_EQ_INT(run("eval_record", ea), 0);
    struct stat st;
    CHECK(stat(gif, &st) == 0 && st.st_size > 1000);

    /* DQN on tiles: the MLP Q network, a replay memory of 13x16 frames */
    char dq[1024];
    snprintf(dq, sizeof dq, "%s/dqn_tiles", work);
    const char *da[] = {"train", "--rom", roms, "--run-dir", dq, "--obs", "tiles", "--num-processes", "2",
                        "--burnin", "100", "--memory-size", "400", "--batch-size", "8",
                        "--learn-every", "4", "--max-steps", "800", "--save-every", "400",
                        "--seed", "3", "--quiet", NULL};
    CHECK_EQ_INT(run("dqn_tiles", da), 0);
    char latest[1200];
    CHECK(ckpt_resolve(dq, CKPT_LATEST, latest, sizeof latest, err, sizeof err) == 0);
    nn_model m;
    ckpt_info info;
    CHECK(ckpt_load(latest, &m, &info, err, sizeof err) == 0);
    CHECK(!strcmp(info.algo, "dqn") && !strcmp(info.obs, "tiles") && !strcmp(info.model, "mlp"));
    CHECK(info.obs_shape[0] == 4 && info.obs_shape[1] == 13 && info.obs_shape[2] == 16);
    CHECK_EQ_INT(m.out_dim, 2);
    CHECK(m.spec.in_c * m.spec.in_h * m.spec.in_w == 4 * 13 * 16);
    nn_model_free(&m);
    char st2[1200];
    int64_t cnt[TRAIN_MAX_WORKERS][3], adam_step;
    CHECK(latest_state(dq, st2, sizeof st2) >= 800);
    CHECK_EQ_INT(state_counts(st2, cnt, TRAIN_MAX_WORKERS, &adam_step), 2);
    CHECK(cnt[0][1] > 0 && cnt[1][1] > 0);
    const char *eb[] = {"eval", "--checkpoint", dq, "--rom", roms, "--episodes", "1",
                        "--max-steps", "60", NULL};
    CHECK_EQ_INT(run("eval_dqn_tiles", eb), 0);
    snprintf(path, sizeof path, "%s/eval_dqn_tiles.out", work);
    CHECK(testlib_file_has(path, "flag rate"));
    /* --sample needs a policy network */
    const char *ec[] = {"eval", "--checkpoint", dq, "--rom", roms, "--episodes", "1", "--sample", NULL};
    CHECK_EQ_INT(run("eval_dqn_sample", ec), 2);
    snprintf(path, sizeof path, "%s/eval_dqn_sample.err", work);
    CHECK(testlib_file_has(path, "--sample needs a PPO checkpoint"));

    const char *es[] = {"eval", "--checkpoint", dir, "--rom", roms, "--episodes", "2",
                        "--max-steps", "80", "--json", "--sample", NULL};
    CHECK_EQ_INT(run("eval_sample", es), 0);
    snprintf(path, sizeof path, "%s/eval_sample.out", work);
    CHECK(testlib_file_has(path, "{\"episode\": 2,"));
    CHECK(testlib_file_has(path, "\"sample\": true"));
}

/* Tensors and counters of two state files must match exactly. */
static void same_state(const char *a, const char *b)
{
    st_file *fa, *fb;
    char err[512];
    CHECK(st_open(&fa, a, err, sizeof err) == 0);
    CHECK(st_open(&fb, b, err, sizeof err) == 0);
    if (!fa || !fb)
        return;
    const char *names[] = {"params", "adam.m", "adam.v", "worker.rng", "worker.counts",
                           "recent.return", "recent.x_pos"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const st_tensor *x = st_find(fa, names[i]), *y = st_find(fb, names[i]);
        CHECK(x && y);
        if (x && y && (x->nbytes != y->nbytes || memcmp(x->data, y->data, (size_t)x->nbytes))) {
            fprintf(stderr, "tensor %s differs after resume\n", names[i]);
            testlib_failures++;
        }
    }
    const char *keys[] = {"step", "episode", "adam_step", "flags"};
    for (size_t i = 0; i < 4; i++)
        CHECK(st_meta(fa, keys[i]) && st_meta(fb, keys[i]) &&
              !strcmp(st_meta(fa, keys[i]), st_meta(fb, keys[i])));
    st_close(fa);
    st_close(fb);
}

static int64_t meta_i64(const char *path, const char *key)
{
    st_file *f;
    char err[512];
    if (st_open(&f, path, err, sizeof err) < 0)
        return -1;
    const char *v = st_meta(f, key);
    int64_t r = v ? strtoll(v, NULL, 10) : -1;
    st_close(f);
    return r;
}

static void case_resume(void)
{
    char dir[1024], log[1200], cmd[4096];
    snprintf(dir, sizeof dir, "%s/resume", work);
    snprintf(log, sizeof log, "%s/train.log", dir);
    const char *extra[] = {"--obs", "tiles", "--save-every", "500", "--episodes", "100000", NULL};
    const char *args[80];
    build_args(args, dir, extra);
    pid_t p = start("resume1", args);
    CHECK(testlib_wait_for(log, "checkpoint: step", 60));
    testlib_sleep_ms(500);
    CHECK(kill(p, SIGINT) == 0);
    CHECK_EQ_INT(proc_finish(p), 0);
    CHECK(testlib_file_has(log, "SIGINT: stopping the workers"));
    CHECK(testlib_file_has(log, "stopped by signal"));
    char st[1200], saved[1300];
    int64_t S = latest_state(dir, st, sizeof st);
    CHECK(S > 500);
    snprintf(saved, sizeof saved, "%s/saved_state.safetensors", work);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", st, saved);
    CHECK(system(cmd) == 0);
    int64_t adam0 = meta_i64(saved, "adam_step");
    CHECK(adam0 > 0); /* the moments are not trivially zero */

    /* resume to the same step: nothing runs, and the state written again is the same */
    char smax[32];
    snprintf(smax, sizeof smax, "%" PRId64, S);
    const char *r2[] = {"train", "--resume", dir, "--max-steps", smax, "--quiet", NULL};
    CHECK_EQ_INT(run("resume2", r2), 0);
    same_state(saved, st);

    /* resume from the model file, --algo not repeated: PPO goes on from step S */
    char model[1200], err[512];
    ckpt_model_path(model, sizeof model, dir, S);
    char smax2[32];
    snprintf(smax2, sizeof smax2, "%" PRId64, S + 400);
    const char *r3[] = {"train", "--resume", model, "--max-steps", smax2, "--quiet", NULL};
    CHECK_EQ_INT(run("resume3", r3), 0);
    char st3[1200];
    int64_t S3 = latest_state(dir, st3, sizeof st3);
    CHECK(S3 >= S + 400);
    CHECK(testlib_file_has(log, "resumed training"));
    char from[128];
    snprintf(from, sizeof from, "from step %" PRId64, S);
    CHECK(testlib_file_has(log, from));
    CHECK(meta_i64(st3, "adam_step") > adam0);
    ckpt_info i3;
    char m3[1200];
    ckpt_model_path(m3, sizeof m3, dir, S3);
    CHECK(ckpt_read_info(m3, &i3, err, sizeof err) == 0);
    CHECK(!strcmp(i3.algo, "ppo") && !strcmp(i3.obs, "tiles"));
    CHECK(strstr(i3.args, "\"lr\":0.0001") != NULL);
}

static void case_errors(void)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/err", work);
    const char *a1[] = {"train", "--rom", roms, "--run-dir", dir, "--algo", "ppo", "--distributed", NULL};
    expect_train_fail(smbrl_bin, work, "distributed", a1, 2, "--distributed");
    const char *a2[] = {"train", "--rom", roms, "--run-dir", dir, "--algo", "a2c", NULL};
    expect_train_fail(smbrl_bin, work, "algo", a2, 2, "--algo");
    const char *a3[] = {"train", "--rom", roms, "--run-dir", dir, "--obs", "ram", NULL};
    expect_train_fail(smbrl_bin, work, "obs", a3, 2, "--obs");
    const char *a4[] = {"train", "--rom", roms, "--run-dir", dir, "--net", "uvipen", NULL};
    expect_train_fail(smbrl_bin, work, "dqn_uvipen", a4, 2, "PPO network");
    const char *a5[] = {"train", "--rom", roms, "--run-dir", dir, "--algo", "ppo", "--lr-schedule",
                        "linear", NULL};
    expect_train_fail(smbrl_bin, work, "linear", a5, 2, "--max-steps");
    const char *a6[] = {"train", "--rom", roms, "--run-dir", dir, "--algo", "ppo", "--ppo-steps", "4",
                        "--envs-per-process", "1", "--ppo-minibatches", "8", NULL};
    expect_train_fail(smbrl_bin, work, "minibatches", a6, 2, "--ppo-minibatches");
    const char *a7[] = {"train", "--rom", roms, "--run-dir", dir, "--reward", "score", NULL};
    expect_train_fail(smbrl_bin, work, "reward", a7, 2, "--reward");
    /* a pixel trunk that does not fit the tile grid fails before any worker starts */
    const char *a8[] = {"train", "--rom", roms, "--run-dir", dir, "--obs", "tiles", "--net", "nature", NULL};
    expect_train_fail(smbrl_bin, work, "nature_tiles", a8, 1, "nn:");
    const char *a9[] = {"train", "--help", NULL};
    CHECK_EQ_INT(run("help", a9), 0);
    char e[1200];
    snprintf(e, sizeof e, "%s/help.out", work);
    const char *flags[] = {"--algo", "--obs", "--net", "--reward", "--envs-per-process", "--ppo-steps",
                           "--ppo-epochs", "--ppo-minibatches", "--gae-lambda", "--clip", "--ent-coef",
                           "--vf-coef", "--value-clip", "--norm-adv", "--max-grad-norm", "--lr-schedule"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        CHECK(testlib_file_has(e, flags[i]));
}

static void case_sync(void)
{
    char err[512];
    train_args a;
    train_args_default(&a);
    snprintf(a.rom, sizeof a.rom, "%s", roms);
    snprintf(a.run_dir, sizeof a.run_dir, "%s/sync", work);
    snprintf(a.algo, sizeof a.algo, "ppo");
    snprintf(a.obs, sizeof a.obs, "tiles");
    a.num_processes = 1;
    a.envs_per_process = 2;
    a.ppo_steps = 8;
    a.ppo_epochs = 3;
    a.ppo_minibatches = 4;
    a.lr = 1e-3; /* large steps: a stale local copy would show */
    a.max_steps = 16; /* one rollout of 8 x 2, learned from */
    a.seed = 5;
    a.log_every = 1000;
    train_summary sum;
    int rc = train_run(&a, NULL, &sum, err, sizeof err);
    if (rc < 0)
        fprintf(stderr, "%s\n", err);
    CHECK_EQ_INT(rc, 0);
    CHECK(sum.steps == 16 && sum.updates == 12);
    nn_model got;
    ckpt_info info;
    char latest[1200];
    CHECK(ckpt_resolve(a.run_dir, CKPT_LATEST, latest, sizeof latest, err, sizeof err) == 0);
    if (ckpt_load(latest, &got, &info, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        testlib_failures++;
        return;
    }

    /* The same rollout and update in this process, as the worker seeds and draws them. */
    train_args r_args = a;
    train_args_resolve(&r_args);
    env_config ec;
    env_config_default(&ec);
    ec.task = a.task;
    ec.actions = a.actions;
    ec.frame_skip = a.frame_skip;
    ec.seed = a.seed;
    ec.obs = ENV_OBS_TILES;
    env_base *base;
    CHECK(env_base_create(&base, &ec, a.rom, err, sizeof err) == 0);
    train_worker_ctx c;
    memset(&c, 0, sizeof c);
    c.args = &r_args;
    c.index = 0;
    c.generation = 0;
    const uint64_t seed = train_worker_seed(&c);
    rng r;
    rng_seed(&r, seed);
    ppo_config pc;
    ppo_config_default(&pc);
    pc.steps = 8, pc.envs = 2, pc.epochs = 3, pc.minibatches = 4;
    pc.gamma = (float)a.gamma, pc.lambda = (float)a.gae_lambda, pc.clip = (float)a.clip;
    pc.ent_coef = (float)a.ent_coef, pc.vf_coef = (float)a.vf_coef;
    pc.adam.lr = (float)a.lr, pc.adam.max_grad_norm = (float)a.max_grad_norm;
    ppo *p = ppo_create(&pc, &got.spec, &r, err, sizeof err);
    CHECK(p != NULL);
    if (!p)
        return;
    train_init_params(&p->model, a.seed); /* the shared model's initial weights */
    const int N = 2, T = 8, O = 4 * 13 * 16;
    env *e[2];
    uint8_t cur[2 * 4 * 13 * 16];
    ppo_rollout ro;
    CHECK(ppo_rollout_init(&ro, T, N, O, err, sizeof err) == 0);
    for (int n = 0; n < N; n++) {
        env_info in;
        CHECK(env_create_on(&e[n], base, seed * 131u + (uint64_t)n, err, sizeof err) == 0);
        env_reset(e[n], cur + n * O, &in);
    }
    for (int t = 0; t < T; t++) {
        int32_t act[2];
        memcpy(ro.obs + (size_t)t * N * O, cur, sizeof cur);
        ppo_act(p, &r, ro.obs + (size_t)t * N * O, N, act, ro.logp + t * N, ro.values + t * N);
        for (int n = 0; n < N; n++) {
            float rew;
            int done;
            env_info in;
            CHECK(env_step(e[n], act[n], cur + n * O, &rew, &done, &in, err, sizeof err) == 0);
            ro.actions[t * N + n] = act[n];
            ro.rewards[t * N + n] = rew;
            ro.dones[t * N + n] = (float)done;
            if (done)
                env_reset(e[n], cur + n * O, &in);
        }
    }
    ppo_value(p, cur, N, ro.last_values);
    ppo_compute_advantages(p, &ro);
    CHECK(ppo_update(p, &ro, &r, NULL, err, sizeof err) == 0);
    size_t differ = 0, moved = 0;
    nn_model init;
    CHECK(nn_model_init(&init, &got.spec, err, sizeof err) == 0);
    train_init_params(&init, a.seed);
    for (size_t i = 0; i < got.num_params; i++) {
        differ += memcmp(&got.params[i], &p->model.params[i], sizeof(float)) != 0;
        moved += got.params[i] != init.params[i];
    }
    fprintf(stderr, "%zu of %zu parameters moved; %zu differ from ppo_update's\n", moved, got.num_params,
            differ);
    CHECK(moved > got.num_params / 10); /* inputs that are always 0 give their weights no gradient */
    CHECK(differ == 0);
    nn_model_free(&init);
    for (int n = 0; n < N; n++)
        env_free(e[n]);
    ppo_rollout_free(&ro);
    ppo_free(p);
    nn_model_free(&got);
    env_base_free(base);
}

/* Pushes per worker in the newest state of dir. */
static int64_t pushes(const char *dir, int w)
{
    char st[1200];
    int64_t cnt[TRAIN_MAX_WORKERS][3], adam_step;
    if (latest_state(dir, st, sizeof st) < 0 || state_counts(st, cnt, TRAIN_MAX_WORKERS, &adam_step) <= w)
        return -1;
    return cnt[w][1];
}

static void case_replay(void)
{
    char dir[1024], copy[1100], cmd[4096], path[1300], st[1200];
    snprintf(dir, sizeof dir, "%s/replay", work);
    snprintf(copy, sizeof copy, "%s/replay_copy", work);
    const char *a1[] = {"train", "--rom", roms, "--run-dir", dir, "--obs", "tiles", "--num-processes", "2",
                        "--burnin", "700", "--memory-size", "1000", "--batch-size", "8",
                        "--learn-every", "4", "--max-steps", "2000", "--save-replay", "--seed", "3",
                        "--quiet", NULL};
    CHECK_EQ_INT(run("replay1", a1), 0);
    int64_t S = latest_state(dir, st, sizeof st);
    CHECK(S >= 2000);
    for (int w = 0; w < 2; w++) {
        snprintf(path, sizeof path, "%s/replay_%" PRId64 "_w%d.bin", dir, S, w);
        CHECK(testlib_exists(path));
    }
    CHECK_EQ_INT((int)meta_i64(st, "replay_workers"), 2);
    int64_t p0 = pushes(dir, 0), p1 = pushes(dir, 1);
    CHECK(p0 > 0 && p1 > 0);
    /* the same run without its memories, to show what loading them changes */
    snprintf(cmd, sizeof cmd, "cp -r '%s' '%s' && rm '%s'/replay_*_w*.bin", dir, copy, copy);
    CHECK(system(cmd) == 0);

    /* 600 more steps in all: fewer than one worker's burn-in of 700, while the memories
     * (about 1000 transitions each) cover it */
    char smax[32];
    snprintf(smax, sizeof smax, "%" PRId64, S + 600);
    const char *r1[] = {"train", "--resume", dir, "--max-steps", smax, "--quiet", NULL};
    CHECK_EQ_INT(run("replay2", r1), 0);
    fprintf(stderr, "pushes %" PRId64 " %" PRId64 " -> %" PRId64 " %" PRId64 " with the memories\n", p0, p1,
            pushes(dir, 0), pushes(dir, 1));
    CHECK(pushes(dir, 0) > p0 && pushes(dir, 1) > p1);
    snprintf(path, sizeof path, "%s/train.log", dir);
    CHECK(testlib_file_has(path, "worker 0 starts from the replay memory"));
    CHECK(testlib_file_has(path, "worker 1 had started from"));
    int64_t S2 = latest_state(dir, st, sizeof st);
    CHECK(S2 >= S + 600);
    snprintf(path, sizeof path, "%s/replay_%" PRId64 "_w0.bin", dir, S2);
    CHECK(testlib_exists(path));
    snprintf(path, sizeof path, "%s/replay_%" PRId64 "_w0.bin", dir, S);
    CHECK(!testlib_exists(path)); /* the older state's memories were replaced */

    const char *r2[] = {"train", "--resume", copy, "--max-steps", smax, "--quiet", NULL};
    CHECK_EQ_INT(run("replay3", r2), 0);
    CHECK(pushes(copy, 0) == p0 && pushes(copy, 1) == p1);
    snprintf(path, sizeof path, "%s/train.log", copy);
    CHECK(testlib_file_has(path, "is missing; it burns in again"));
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: train_ppo_it CASE SMBRL WORKDIR [ROM_DIR]\n");
        return 2;
    }
    smbrl_bin = argv[2];
    work = argv[3];
    roms = getenv("SMBRL_ROM_DIR");
    if ((!roms || !*roms) && argc > 4)
        roms = argv[4];
    char rom[1200];
    if (!roms || !*roms)
        TEST_SKIP("SMBRL_ROM_DIR is not set");
    snprintf(rom, sizeof rom, "%s/super-mario-bros.nes", roms);
    if (!testlib_exists(rom))
        TEST_SKIP("no super-mario-bros.nes under SMBRL_ROM_DIR");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", work, work);
    if (system(cmd) != 0)
        return 1;
    if (!strcmp(argv[1], "pixels"))
        case_pixels();
    else if (!strcmp(argv[1], "tiles"))
        case_tiles();
    else if (!strcmp(argv[1], "resume"))
        case_resume();
    else if (!strcmp(argv[1], "errors"))
        case_errors();
    else if (!strcmp(argv[1], "replay"))
        case_replay();
    else if (!strcmp(argv[1], "sync"))
        case_sync();
    else {
        fprintf(stderr, "unknown case %s\n", argv[1]);
        return 2;
    }
    char name[64];
    snprintf(name, sizeof name, "train_ppo_it %s", argv[1]);
    return testlib_finish(name);
}
