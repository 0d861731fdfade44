/* bench_env.c: `smbrl bench env`: agent steps per second of the training
 * pipeline (frame skip 4, 84x84 gray stack of 4 or, with --obs tiles, the 13x16 tile
 * grid; random SIMPLE_MOVEMENT actions,
 * auto-reset) on one core, and with a vecenv spread over --threads threads.
 * Also the cost of one reset and of the pixel work alone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/commands.h"
#include "smbrl/env.h"
#include "smbrl/rng.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU time of this thread: on a shared machine it counts only the time we ran. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sort(double *v, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
}

/* Steps per second of `n` envs over `threads` threads: total agent steps / s of
 * wall time, and (meaningful for threads = 1) per second of this thread's CPU time. */
static int measure(const env_config *cfg, const char *rom, int n, int threads, int steps, double *out,
                   double *out_cpu, char *err, size_t errlen)
{
    vecenv *v;
    if (vecenv_create(&v, cfg, rom, n, threads, err, errlen) < 0)
        return -1;
    int *actions = calloc((size_t)n, sizeof *actions);
    rng r;
    rng_seed(&r, 99);
    int rc = vecenv_reset(v, err, errlen);
    int rounds = steps / n > 0 ? steps / n : 1;
    for (int t = 0; rc == 0 && t < rounds / 10 + 1; t++) { /* warm up */
        for (int i = 0; i < n; i++)
            actions[i] = (int)rng_below(&r, 7);
        rc = vecenv_step(v, actions, err, errlen);
    }
    double t0 = now_s(), c0 = cpu_s();
    for (int t = 0; rc == 0 && t < rounds; t++) {
        for (int i = 0; i < n; i++)
            actions[i] = (int)rng_below(&r, 7);
        rc = vecenv_step(v, actions, err, errlen);
    }
    *out = (double)rounds * n / (now_s() - t0);
    *out_cpu = (double)rounds * n / (cpu_s() - c0);
    free(actions);
    vecenv_free(v);
    return rc;
}

int bench_env(int argc, char **argv)
{
    const char *rom = getenv("SMBRL_ROM_DIR");
    const char *task = "SuperMarioBros-1-1-v0", *resize = "area";
    int json = 0, steps = 4000, repeats = 3, threads = 2, max_pool = 0, obs_kind = ENV_OBS_PIXELS;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: smbrl bench env [--rom-dir DIR | --rom FILE] [--task T] [--steps N]\n"
                   "                       [--repeats R] [--threads T] [--max-pool] [--obs O] [--json]\n\n"
                   "Agent steps per second: frame skip 4, 84x84 gray stack of 4, random simple actions.\n"
                   "  --rom-dir DIR  folder with the ROM, found by SHA-1 (default: $SMBRL_ROM_DIR)\n"
                   "  --rom FILE     the ROM file itself\n"
                   "  --task T       task (default SuperMarioBros-1-1-v0)\n"
                   "  --steps N      agent steps per measurement (default 4000)\n"
                   "  --repeats R    measurements; the median is reported (default 3)\n"
                   "  --threads T    threads for the multi-core figure (default 2; 1 skips it)\n"
                   "  --max-pool     max over the last two frames (renders two per step)\n"
                   "  --resize R     area (default) or antialias (the tutorial's torchvision filter)\n"
                   "  --obs O        pixels (default: 84x84 gray stack) or tiles (13x16 grid from RAM, no\n"
                   "                 rendering); obs_us is then the cost of one grid\n"
                   "  --json         one JSON object: steps_per_s (one core, wall clock), steps_per_cpu_s\n"
                   "                 (one core, per second of its CPU time: steadier on a shared machine),\n"
                   "                 steps_per_s_threads, threads, frames_per_s_one_core, reset_us, obs_us,\n"
                   "                 obs, cpu (translated or interpreted: see smbrl bench emu)\n");
            return 0;
        } else if ((!strcmp(argv[i], "--rom-dir") || !strcmp(argv[i], "--rom")) && i + 1 < argc) {
            rom = argv[++i];
        } else if (!strcmp(argv[i], "--task") && i + 1 < argc) {
            task = argv[++i];
        } else if (!strcmp(argv[i], "--steps") && i + 1 < argc) {
            steps = atoi(argv[++i]);
            if (steps <= 0) {
                fprintf(stderr, "smbrl bench env: --steps must be a positive number\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--repeats") && i + 1 < argc) {
            repeats = atoi(argv[++i]);
            if (repeats <= 0 || repeats > 99) {
                fprintf(stderr, "smbrl bench env: --repeats must be 1-99\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            threads = atoi(argv[++i]);
            if (threads <= 0 || threads > 256) {
                fprintf(stderr, "smbrl bench env: --threads must be 1-256\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--resize") && i + 1 < argc) {
            resize = argv[++i];
        } else if (!strcmp(argv[i], "--obs") && i + 1 < argc) {
            obs_kind = env_obs_kind_parse(argv[++i]);
            if (obs_kind < 0) {
                fprintf(stderr, "smbrl bench env: --obs must be pixels or tiles\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--max-pool")) {
            max_pool = 1;
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else {
            fprintf(stderr, "smbrl bench env: unknown flag or missing value: '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!rom) {
        fprintf(stderr, "smbrl bench env: no ROM: pass --rom-dir DIR or set SMBRL_ROM_DIR\n");
        return 2;
    }
    env_config cfg;
    env_config_default(&cfg);
    cfg.task = task;
    cfg.max_pool = max_pool;
    cfg.resize = resize;
    cfg.obs = obs_kind;
    char err[256];

    /* one core */
    double one[99], one_cpu[99], multi[99], unused;
    for (int i = 0; i < repeats; i++)
        if (measure(&cfg, rom, 1, 1, steps, &one[i], &one_cpu[i], err, sizeof err) < 0) {
            fprintf(stderr, "smbrl bench env: %s\n", err);
            return 1;
        }
    sort(one, repeats);
    sort(one_cpu, repeats);
    double multi_med = 0;
    if (threads > 1) {
        /* two envs per thread keep every thread busy through resets */
        for (int i = 0; i < repeats; i++)
            if (measure(&cfg, rom, 2 * threads, threads, steps, &multi[i], &unused, err, sizeof err) < 0) {
                fprintf(stderr, "smbrl bench env: %s\n", err);
                return 1;
            }
        sort(multi, repeats);
        multi_med = multi[repeats / 2];
    }

    /* reset and pixel costs, one env */
    env *e;
    if (env_create(&e, &cfg, rom, err, sizeof err) < 0) {
        fprintf(stderr, "smbrl bench env: %s\n", err);
        return 1;
    }
    uint8_t *obs = malloc(env_obs_size(env_get_base(e))), *small = malloc(ENV_FRAME_SIZE);
    if (!obs || !small) {
        fprintf(stderr, "smbrl bench env: out of memory\n");
        return 1;
    }
    int nr = 2000;
    /* CPU time, like steps_per_cpu_s: the machine these run on is shared */
    double t0 = cpu_s();
    for (int i = 0; i < nr; i++)
        env_reset(e, obs, NULL);
    double reset_us = (cpu_s() - t0) / nr * 1e6;
    env_obs_tables tab;
    env_obs_tables_init(&tab, strcmp(resize, "antialias") ? ENV_RESIZE_AREA : ENV_RESIZE_ANTIALIAS);
    t0 = cpu_s();
    for (int i = 0; i < nr; i++) {
        if (obs_kind == ENV_OBS_TILES)
            env_tiles_grid(nes_ram(env_nes(e)), small);
        else
            env_obs_process(&tab, env_frame(e), NULL, small);
    }
    double obs_us = (cpu_s() - t0) / nr * 1e6;
    const char *cpu = nes_translating(env_nes(e)) ? "translated" : "interpreted";
    env_free(e);
    free(obs);
    free(small);

    double s1 = one[repeats / 2], s1_cpu = one_cpu[repeats / 2];
    if (json) {
        printf("{\"steps_per_s\": %.0f, \"steps_per_cpu_s\": %.0f, \"steps_per_s_threads\": %.0f, "
               "\"threads\": %d, \"frames_per_s_one_core\": %.0f, \"reset_us\": %.2f, \"obs_us\": %.2f, "
               "\"obs\": \"%s\", \"cpu\": \"%s\"}\n",
               s1, s1_cpu, multi_med, threads > 1 ? threads : 1, s1 * 4, reset_us, obs_us,
               env_obs_kind_name(obs_kind), cpu);
    } else {
        if (obs_kind == ENV_OBS_TILES)
            printf("environment speed: %s, frame skip 4, 13x16 tile grid stack of 4 (no rendering), "
                   "random simple actions\n", task);
        else
            printf("environment speed: %s, frame skip 4, 84x84 gray stack of 4 (%s resize)%s, random "
                   "simple actions\n", task, resize, max_pool ? ", max of 2 frames" : "");
        printf("  %-34s %12s\n", "measure", "value");
        printf("  %-34s %12.0f\n", "agent steps/s, one core", s1);
        printf("  %-34s %12.0f\n", "agent steps per CPU second", s1_cpu);
        if (threads > 1) {
            char label[64];
            snprintf(label, sizeof label, "agent steps/s, %d threads", threads);
            printf("  %-34s %12.0f\n", label, multi_med);
        }
        printf("  %-34s %12.2f\n", "reset (state copy), CPU us", reset_us);
        printf("  %-34s %12.2f\n",
               obs_kind == ENV_OBS_TILES ? "tile grid from RAM, CPU us" : "gray + resize of one frame, CPU us",
               obs_us);
        printf("(%d steps x %d runs, median; emulated CPU %s)\n", steps, repeats, cpu);
    }
    return 0;
}
