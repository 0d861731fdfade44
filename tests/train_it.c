/* train_it.c: integration tests of `smbrl train` with real processes and files (registered
 * by tests/train.cmake, one CTest test per case):
 *   run     a short 2-worker run: checkpoints load, the shared model moved, both workers
 *           pushed gradients, the TensorBoard file reads record by record with valid CRCs
 *   kill    kill -9 of a worker mid-run: the run finishes and the restart is logged
 *   resume  SIGINT mid-run: final checkpoint, exit 0; --resume restores step, epsilon, RNGs
 *           and the optimizer exactly, then the step count goes on
 *   sigint2 a second SIGINT ends the run at once and leaves only whole files
 *   errors  bad setups fail before any worker starts, with one clear line
 * usage: train_it CASE SMBRL WORKDIR [ROM_DIR]. ROMs from $SMBRL_ROM_DIR (skips without them). */
#include <errno.h>
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
#include "smbrl/safetensors.h"
#include "smbrl/tblog.h"
#include "smbrl/train.h"
#include "proc_testlib.h"
#include "train_testlib.h"
#include "testlib.h"

static const char *smbrl_bin, *work, *roms;

/* Starts smbrl with args (NULL-terminated), output in <work>/<tag>.out/.err. */
static pid_t start(const char *tag, const char *const *args) { return proc_start(smbrl_bin, work, tag, args); }

static int run(const char *tag, const char *const *args) { return proc_finish(start(tag, args)); }

static int ev_count(void *user, const tblog_event *ev)
{
    int *c = user;
    if (ev->tag && !strcmp(ev->tag, "episode/return"))
        c[0]++;
    if (ev->tag && !strcmp(ev->tag, "train/loss"))
        c[1]++;
    if (ev->file_version)
        c[2]++;
    if (ev->tag && !strcmp(ev->tag, "train/epsilon"))
        c[3]++;
    return 0;
}

/* Reads the newest events file of dir record by record (CRCs checked by the reader). */
static void check_events(const char *dir, int min_episodes, int need_loss)
{
    char cmd[2048], path[1024] = "";
    snprintf(cmd, sizeof cmd, "ls -t %s/events.out.tfevents.* 2>/dev/null | head -1", dir);
    FILE *p = popen(cmd, "r");
    CHECK(p && fgets(path, sizeof path, p));
    if (p)
        pclose(p);
    path[strcspn(path, "\n")] = 0;
    int c[4] = {0};
    int64_t n = 0;
    char err[512];
    int rc = tblog_read_file(path, ev_count, c, &n, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "%s\n", err);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(c[2], 1);
    CHECK(c[0] >= min_episodes);
    CHECK(c[1] >= need_loss);
    CHECK(c[3] >= 1);
    CHECK(n > 3);
}

/* Counts per worker from a state file: worker.counts [W,3] = steps, pushes, restarts. */
static const char *tiny[] = {"--num-processes", "2", "--burnin", "100", "--memory-size", "400",
                             "--batch-size", "8", "--learn-every", "8", "--sync-every", "25",
                             "--target-sync-every", "50", "--log-every", "0.5", "--quiet",
                             "--seed", "3"};
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

static void case_run(void)
{
    char dir[1024], path[1200], err[512];
    snprintf(dir, sizeof dir, "%s/run", work);
    const char *extra[] = {"--max-steps", "500", "--save-every", "150", "--episodes", "1000", NULL};
    const char *args[64];
    build_args(args, dir, extra);
    CHECK_EQ_INT(run("run", args), 0);
    char out[1200];
    snprintf(out, sizeof out, "%s/run.out", work);
    CHECK(testlib_file_has(out, "time in workers"));

    /* checkpoints: the last K model files, best, and each loads */
    char latest[1200];
    CHECK(ckpt_resolve(dir, CKPT_LATEST, latest, sizeof latest, err, sizeof err) == 0);
    nn_model m;
    ckpt_info info;
    CHECK(ckpt_load(latest, &m, &info, err, sizeof err) == 0);
    CHECK(info.step >= 500);
    CHECK(!strcmp(info.actions, "tutorial") && !strcmp(info.model, "marionet"));
    CHECK(strstr(info.args, "\"num_processes\":2") != NULL);
    CHECK(info.epsilon < 1.0 && info.epsilon > 0.99);
    snprintf(path, sizeof path, "%s/model_150.safetensors", dir);
    int n_models = 0;
    for (int s = 0; s <= 800; s++) {
        ckpt_model_path(path, sizeof path, dir, s);
        n_models += testlib_exists(path);
    }
    CHECK(n_models >= 3 && n_models <= CKPT_KEEP);

    /* the shared parameters moved away from the run's initial weights */
    nn_model init;
    CHECK(nn_model_init(&init, &m.spec, err, sizeof err) == 0);
    train_init_params(&init, 3);
    size_t changed = 0;
    for (size_t i = 0; m.params && i < m.num_params; i++)
        changed += m.params[i] != init.params[i];
    CHECK(changed > m.num_params / 10); /* dead ReLU units get no gradient in a short run */
    nn_model_free(&init);
    nn_model_free(&m);

    /* both workers pushed gradients into the shared model */
    char st[1200];
    int64_t last = latest_state(dir, st, sizeof st);
    CHECK(last >= 500);
    int64_t cnt[TRAIN_MAX_WORKERS][3];
    CHECK_EQ_INT(state_counts(st, cnt, TRAIN_MAX_WORKERS, NULL), 2);
    CHECK(cnt[0][1] > 0 && cnt[1][1] > 0);
    CHECK(cnt[0][0] + cnt[1][0] == last);
    fprintf(stderr, "pushes per worker: %" PRId64 " %" PRId64 "\n", cnt[0][1], cnt[1][1]);

    check_events(dir, 0, 1);
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    CHECK(testlib_file_has(path, "\"loss\":"));
    snprintf(path, sizeof path, "%s/train.log", dir);
    CHECK(testlib_file_has(path, "worker 1 started"));
    CHECK(testlib_file_has(path, "finished at step"));
}

static void case_kill(void)
{
    char dir[1024], log[1200];
    snprintf(dir, sizeof dir, "%s/kill", work);
    snprintf(log, sizeof log, "%s/train.log", dir);
    const char *extra[] = {"--max-steps", "600", "--save-every", "200", "--episodes", "1000", NULL};
    const char *args[64];
    build_args(args, dir, extra);
    pid_t p = start("kill", args);
    CHECK(testlib_wait_for(log, "worker 1 started", 30));
    char *s = testlib_read_file(log, NULL);
    int pid = 0;
    const char *at = s ? strstr(s, "worker 1 started (pid ") : NULL;
    if (at)
        pid = atoi(at + strlen("worker 1 started (pid "));
    free(s);
    CHECK(pid > 0);
    /* into learning (and perhaps holding the lock) before the kill */
    CHECK(testlib_wait_for(log, "checkpoint: step", 60));
    if (pid > 0)
        CHECK(kill(pid, SIGKILL) == 0);
    CHECK_EQ_INT(proc_finish(p), 0);
    char needle[128];
    snprintf(needle, sizeof needle, "worker 1 (pid %d) was killed by signal 9", pid);
    CHECK(testlib_file_has(log, needle));
    CHECK(testlib_file_has(log, "restarting it from the shared model (restart 1)"));
    CHECK(testlib_file_has(log, "finished at step"));
    char st[1200];
    CHECK(latest_state(dir, st, sizeof st) >= 600);
    int64_t cnt[TRAIN_MAX_WORKERS][3];
    CHECK_EQ_INT(state_counts(st, cnt, TRAIN_MAX_WORKERS, NULL), 2);
    CHECK_EQ_INT(cnt[1][2], 1);
    CHECK_EQ_INT(cnt[0][2], 0);
    check_events(dir, 0, 1);
}

/* Tensors of two state files must match exactly. */
static void same_tensors(const char *a, const char *b)
{
    st_file *fa, *fb;
    char err[512];
    CHECK(st_open(&fa, a, err, sizeof err) == 0);
    CHECK(st_open(&fb, b, err, sizeof err) == 0);
    const char *names[] = {"params", "adam.m", "adam.v", "worker.epsilon", "worker.rng",
                           "worker.counts", "recent.return", "recent.x_pos"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const st_tensor *x = st_find(fa, names[i]), *y = st_find(fb, names[i]);
        CHECK(x && y);
        if (x && y) {
            CHECK(x->nbytes == y->nbytes);
            if (x->nbytes == y->nbytes && memcmp(x->data, y->data, (size_t)x->nbytes)) {
                fprintf(stderr, "tensor %s differs after resume\n", names[i]);
                testlib_failures++;
            }
        }
    }
    const char *keys[] = {"step", "episode", "adam_step", "flags"};
    for (size_t i = 0; i < 4; i++)
        CHECK(st_meta(fa, keys[i]) && st_meta(fb, keys[i]) &&
              !strcmp(st_meta(fa, keys[i]), st_meta(fb, keys[i])));
    st_close(fa);
    st_close(fb);
}

static void case_resume(void)
{
    char dir[1024], log[1200], cmd[4096];
    snprintf(dir, sizeof dir, "%s/resume", work);
    snprintf(log, sizeof log, "%s/train.log", dir);
    const char *extra[] = {"--save-every", "200", "--episodes", "100000", NULL};
    const char *args[64];
    build_args(args, dir, extra);
    pid_t p = start("resume1", args);
    CHECK(testlib_wait_for(log, "checkpoint: step", 60));
    testlib_sleep_ms(1500); /* past burn-in: Adam moments are non-zero */
    CHECK(kill(p, SIGINT) == 0);
    CHECK_EQ_INT(proc_finish(p), 0);
    CHECK(testlib_file_has(log, "SIGINT: stopping the workers"));
    CHECK(testlib_file_has(log, "stopped by signal"));
    char st[1200], saved[1300];
    int64_t S = latest_state(dir, st, sizeof st);
    CHECK(S > 200);
    snprintf(saved, sizeof saved, "%s/saved_state.safetensors", work);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", st, saved);
    CHECK(system(cmd) == 0);
    char model[1200], err[512];
    ckpt_model_path(model, sizeof model, dir, S);
    ckpt_info i1;
    CHECK(ckpt_read_info(model, &i1, err, sizeof err) == 0);

    /* resume to the same step: nothing runs, and the state written again is the same */
    char smax[32];
    snprintf(smax, sizeof smax, "%" PRId64, S);
    const char *r2[] = {"train", "--resume", dir, "--max-steps", smax, "--quiet", NULL};
    CHECK_EQ_INT(run("resume2", r2), 0);
    same_tensors(saved, st);
    st_file *sf;
    CHECK(st_open(&sf, saved, err, sizeof err) == 0);
    if (sf) { /* the stop came after learning began, so the moments are not trivially zero */
        CHECK(st_meta(sf, "adam_step") && strcmp(st_meta(sf, "adam_step"), "0"));
        st_close(sf);
    }
    ckpt_info i2;
    CHECK(ckpt_read_info(model, &i2, err, sizeof err) == 0);
    CHECK(i1.epsilon == i2.epsilon && i1.step == i2.step && i1.episode == i2.episode);

    /* resume from the model file's name; the step count goes on */
    char smax2[32];
    snprintf(smax2, sizeof smax2, "%" PRId64, S + 150);
    const char *r3[] = {"train", "--resume", model, "--max-steps", smax2, "--quiet", NULL};
    CHECK_EQ_INT(run("resume3", r3), 0);
    char st3[1200];
    int64_t S3 = latest_state(dir, st3, sizeof st3);
    CHECK(S3 >= S + 150);
    CHECK(testlib_file_has(log, "resumed training"));
    char from[128];
    snprintf(from, sizeof from, "from step %" PRId64, S);
    CHECK(testlib_file_has(log, from));
    ckpt_info i3;
    char m3[1200];
    ckpt_model_path(m3, sizeof m3, dir, S3);
    CHECK(ckpt_read_info(m3, &i3, err, sizeof err) == 0);
    CHECK(i3.epsilon < i1.epsilon);    /* decay went on from the saved value, not from 1 */
    CHECK(i3.episode >= i1.episode);
    check_events(dir, 0, 0); /* resumed workers burn in again: maybe no loss yet */
}

/* Two SIGINTs: the second ends the process at once; every file left behind is whole. */
static void case_sigint2(void)
{
    char dir[1024], log[1200], err[512];
    snprintf(dir, sizeof dir, "%s/sigint2", work);
    snprintf(log, sizeof log, "%s/train.log", dir);
    const char *extra[] = {"--save-every", "100", "--episodes", "100000", NULL};
    const char *args[64];
    build_args(args, dir, extra);
    pid_t p = start("sigint2", args);
    CHECK(testlib_wait_for(log, "checkpoint: step", 60));
    testlib_sleep_ms(300);
    CHECK(kill(p, SIGINT) == 0);
    CHECK(testlib_wait_for(log, "SIGINT: stopping", 10));
    CHECK(kill(p, SIGINT) == 0);
    int rc = proc_finish(p);
    CHECK(rc == 128 + SIGINT || rc == 0); /* 0 only if the final checkpoint beat the second signal */
    testlib_sleep_ms(300); /* the workers follow their parent (PR_SET_PDEATHSIG) */
    char cmd[2048], line[1200];
    snprintf(cmd, sizeof cmd, "ls %s/*.safetensors", dir);
    FILE *ls = popen(cmd, "r");
    int n = 0;
    while (ls && fgets(line, sizeof line, ls)) {
        line[strcspn(line, "\n")] = 0;
        st_file *f;
        if (st_open(&f, line, err, sizeof err) < 0) {
            fprintf(stderr, "left broken: %s\n", err);
            testlib_failures++;
        } else {
            st_close(f);
            n++;
        }
    }
    if (ls)
        pclose(ls);
    CHECK(n >= 2);
}

static void case_errors(void)
{
    char dir[1024], file[1200], bad[1300], cmd[4096];
    snprintf(dir, sizeof dir, "%s/err", work);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    CHECK(system(cmd) == 0);
    snprintf(file, sizeof file, "%s/plainfile", dir);
    FILE *f = fopen(file, "w");
    CHECK(f != NULL);
    if (f) {
        fputs("x", f);
        fclose(f);
    }
    /* a run directory inside a regular file cannot be made (root can write anywhere else) */
    snprintf(bad, sizeof bad, "%s/sub", file);
    const char *a1[] = {"train", "--rom", roms, "--run-dir", bad, NULL};
    expect_train_fail(smbrl_bin, work, "unwritable", a1, 1, "cannot create run directory");
    const char *a2[] = {"train", "--rom", "/nonexistent-rom-dir", "--run-dir", dir, NULL};
    expect_train_fail(smbrl_bin, work, "norom", a2, 1, "/nonexistent-rom-dir");
    char ll[1200];
    snprintf(ll, sizeof ll, "%s/super-mario-bros-lost-levels.nes", roms);
    const char *a3[] = {"train", "--rom", ll, "--run-dir", dir, NULL};
    expect_train_fail(smbrl_bin, work, "wrongrom", a3, 1, "needs Super Mario Bros. (World)");
    const char *a4[] = {"train", "--rom", roms, "--num-processes", "0", NULL};
    expect_train_fail(smbrl_bin, work, "procs", a4, 2, "--num-processes");
    /* replay memories that need twice this machine's RAM */
    char memsz[32];
    double ram = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    snprintf(memsz, sizeof memsz, "%.0f", 2 * ram / 7056 / 4);
    const char *a5[] = {"train", "--rom", roms, "--run-dir", dir, "--num-processes", "4",
                        "--memory-size", memsz, NULL};
    expect_train_fail(smbrl_bin, work, "memory", a5, 1, "RAM");
    const char *a6[] = {"train", "--rom", roms, "--resume", "/nonexistent/run", NULL};
    expect_train_fail(smbrl_bin, work, "noresume", a6, 1, "/nonexistent/run");
    /* a truncated state file */
    snprintf(bad, sizeof bad, "%s/state_100.safetensors", dir);
    f = fopen(bad, "w");
    CHECK(f != NULL);
    if (f) {
        fputs("\x40\x00\x00\x00\x00\x00\x00\x00{\"__metadata__\":", f);
        fclose(f);
    }
    const char *a7[] = {"train", "--rom", roms, "--resume", bad, NULL};
    expect_train_fail(smbrl_bin, work, "corrupt", a7, 1, "state_100.safetensors");
    const char *a8[] = {"train", "--rom", roms, "--resume", dir, NULL}; /* resolves to it */
    expect_train_fail(smbrl_bin, work, "corruptdir", a8, 1, "state_100.safetensors");
    const char *a9[] = {"train", "--rom", roms, "--lr", "fast", NULL};
    expect_train_fail(smbrl_bin, work, "badlr", a9, 2, "--lr");
    const char *a10[] = {"train", "--rom", roms, "--frobnicate", "1", NULL};
    expect_train_fail(smbrl_bin, work, "unknown", a10, 2, "unknown flag");
    const char *a11[] = {"train", "--rom", roms, "--actions", "sideways", NULL};
    expect_train_fail(smbrl_bin, work, "actions", a11, 2, "sideways");
    /* --render without a display (or without SDL2 in the build) fails at once */
    unsetenv("DISPLAY");
    unsetenv("WAYLAND_DISPLAY");
    const char *a12[] = {"train", "--rom", roms, "--render", NULL};
    int rc = run("render", a12);
    char e[1200];
    snprintf(e, sizeof e, "%s/render.err", work);
    CHECK_EQ_INT(rc, 2);
    CHECK(testlib_file_has(e, "needs a display") || testlib_file_has(e, "needs SDL2"));
    /* --help documents the seed's flags */
    const char *a13[] = {"train", "--help", NULL};
    CHECK_EQ_INT(run("help", a13), 0);
    snprintf(e, sizeof e, "%s/help.out", work);
    const char *flags[] = {"--num-processes", "--batch-size", "--render", "--burnin", "--episodes",
                           "--sync-every", "--save-every", "--resume", "--max-steps",
                           "--threads-per-process", "--target-sync-every", "--exploration-decay"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        CHECK(testlib_file_has(e, flags[i]));
    /* no ROM anywhere */
    unsetenv("SMBRL_ROM_DIR");
    unsetenv("SMBRL_ROM");
    const char *a14[] = {"train", "--run-dir", dir, NULL};
    expect_train_fail(smbrl_bin, work, "noromflag", a14, 2, "no ROM");
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: train_it CASE SMBRL WORKDIR\n");
        return 2;
    }
    smbrl_bin = argv[2];
    work = argv[3];
    roms = getenv("SMBRL_ROM_DIR");
    if ((!roms || !*roms) && argc > 4)
        roms = argv[4]; /* the folder CMake saw at configure time */
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
    if (!strcmp(argv[1], "run"))
        case_run();
    else if (!strcmp(argv[1], "kill"))
        case_kill();
    else if (!strcmp(argv[1], "resume"))
        case_resume();
    else if (!strcmp(argv[1], "sigint2"))
        case_sigint2();
    else if (!strcmp(argv[1], "errors"))
        case_errors();
    else {
        fprintf(stderr, "unknown case %s\n", argv[1]);
        return 2;
    }
    char name[64];
    snprintf(name, sizeof name, "train_it %s", argv[1]);
    return testlib_finish(name);
}
