/* bench_learn.c: `smbrl bench learn`: the Double-DQN learner's speed on MarioNet: one update
 * (sample a batch from replay, forward online and target, backward, Adam) and the greedy
 * action latency for 1 and for 8 observations. Random frames and weights: the arithmetic
 * does not depend on the values. Reports the median of many timed repetitions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/commands.h"
#include "smbrl/agent.h"

static double clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static double now_ms(void) { return clock_ms(CLOCK_MONOTONIC); }

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int parse_int(const char *flag, const char *s, int lo, int hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < lo || v > hi) {
        fprintf(stderr, "smbrl bench learn: %s must be %d-%d\n", flag, lo, hi);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int bench_learn(int argc, char **argv)
{
    int json = 0, batch = 32, threads = 1, iters = 30, actions = 7, dueling = 0, blas_threads = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: smbrl bench learn [--batch N] [--threads T] [--iters I] [--actions A] "
                   "[--dueling] [--blas-threads] [--json]\n\n"
                   "Double-DQN learner speed on MarioNet (4x84x84 input), median of I runs:\n"
                   "  update: sample N transitions from replay, forward online and target,\n"
                   "          backward, Adam step;\n"
                   "  act:    greedy action for 1 observation, and for a batch of 8.\n"
                   "  --batch N      update batch size (default 32)\n"
                   "  --threads T    threads: each batch is split into T slices, one per thread,\n"
                   "                 each calling single-threaded OpenBLAS (default 1)\n"
                   "  --blas-threads use T OpenBLAS threads on the whole batch instead\n"
                   "  --iters I      timed repetitions of each measurement (default 30)\n"
                   "  --actions A    network outputs (default 7, SIMPLE_MOVEMENT)\n"
                   "  --dueling      dueling head instead of the last linear layer\n"
                   "  --json         print one JSON object: update_ms, act_ms, act8_ms,\n"
                   "                 update_cpu_ms (CPU time of the whole process per update), ...\n");
            return 0;
        } else if (!strcmp(argv[i], "--batch") && i + 1 < argc) {
            if (parse_int("--batch", argv[++i], 1, 1024, &batch))
                return 2;
        } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            if (parse_int("--threads", argv[++i], 1, 256, &threads))
                return 2;
        } else if (!strcmp(argv[i], "--iters") && i + 1 < argc) {
            if (parse_int("--iters", argv[++i], 1, 100000, &iters))
                return 2;
        } else if (!strcmp(argv[i], "--actions") && i + 1 < argc) {
            if (parse_int("--actions", argv[++i], 1, 256, &actions))
                return 2;
        } else if (!strcmp(argv[i], "--blas-threads")) {
            blas_threads = 1;
        } else if (!strcmp(argv[i], "--dueling")) {
            dueling = 1;
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else {
            fprintf(stderr, "smbrl bench learn: unknown flag or missing value: '%s'\n", argv[i]);
            return 2;
        }
    }
    nn_set_threads(blas_threads ? threads : 1);
    char err[256];
    nn_spec spec;
    nn_spec_marionet(&spec, 4, 84, 84, actions, dueling);
    ddqn_config cfg;
    ddqn_config_default(&cfg);
    cfg.batch_size = batch;
    cfg.burnin = 0;
    cfg.learn_every = 1;
    cfg.threads = blas_threads ? 1 : threads;
    rng r;
    rng_seed(&r, 7);
    ddqn *agent = ddqn_create(&cfg, &spec, &r, err, sizeof err);
    replay_config rc = {.capacity = 4096, .stack = 4, .height = 84, .width = 84, .num_streams = 1};
    replay *mem = replay_create(&rc, err, sizeof err);
    if (!agent || !mem) {
        fprintf(stderr, "smbrl bench learn: %s\n", err);
        ddqn_free(agent);
        replay_free(mem);
        return 1;
    }
    uint8_t frame[84 * 84];
    for (size_t t = 0; t < rc.capacity; t++) {
        for (int k = 0; k < 84 * 84; k++)
            frame[k] = (uint8_t)rng_below(&r, 256);
        if (t % 500 == 0)
            replay_begin_episode(mem, 0, frame);
        else
            replay_add(mem, 0, (int32_t)rng_below(&r, (uint32_t)actions), 0.5f, t % 500 == 499, frame);
    }

    double *upd = malloc(sizeof(double) * iters), *act1 = malloc(sizeof(double) * iters);
    double *act8 = malloc(sizeof(double) * iters), *upd_cpu = malloc(sizeof(double) * iters);
    uint8_t *obs = malloc((size_t)8 * 4 * 84 * 84);
    for (size_t k = 0; k < (size_t)8 * 4 * 84 * 84; k++)
        obs[k] = (uint8_t)rng_below(&r, 256);
    int32_t out[8];
    /* Two warm-up updates: page faults and OpenBLAS's thread start are not the steady state. */
    for (int i = -2; i < iters; i++) {
        double c0 = clock_ms(CLOCK_PROCESS_CPUTIME_ID), t0 = now_ms();
        if (replay_sample(mem, &r, batch, &agent->batch) < 0) {
            fprintf(stderr, "smbrl bench learn: replay sample failed\n");
            return 1;
        }
        ddqn_update(agent, &agent->batch, batch);
        double t1 = now_ms(), c1 = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
        ddqn_act_greedy(agent, obs, 1, out);
        double t2 = now_ms();
        ddqn_act_greedy(agent, obs, 8, out);
        double t3 = now_ms();
        if (i >= 0)
            upd[i] = t1 - t0, act1[i] = t2 - t1, act8[i] = t3 - t2, upd_cpu[i] = c1 - c0;
    }
    double u = median(upd, iters), a1 = median(act1, iters), a8 = median(act8, iters);
    double uc = median(upd_cpu, iters);
    if (json) {
        printf("{\"update_ms\": %.3f, \"act_ms\": %.3f, \"act8_ms\": %.3f, \"update_cpu_ms\": %.3f, "
               "\"batch\": %d, \"threads\": %d, \"threading\": \"%s\", \"iters\": %d, \"blas_core\": \"%s\"}\n",
               u, a1, a8, uc, batch, threads, blas_threads ? "blas" : "batch-split", iters, nn_blas_corename());
    } else {
        printf("Double-DQN learner, MarioNet 4x84x84 -> %d actions%s, %d thread(s) (%s), OpenBLAS %s\n",
               actions, dueling ? " (dueling)" : "", threads, blas_threads ? "OpenBLAS threads" : "batch split",
               nn_blas_corename());
        printf("median of %d runs\n", iters);
        printf("  %-34s %10s\n", "measurement", "ms");
        printf("  update, batch %-20d %10.3f\n", batch, u);
        printf("  %-34s %10.3f\n", "greedy action, 1 observation", a1);
        printf("  %-34s %10.3f\n", "greedy actions, 8 observations", a8);
        printf("  update, CPU time of all threads      %10.3f\n", uc);
    }
    free(upd), free(act1), free(act8), free(upd_cpu), free(obs);
    replay_free(mem);
    ddqn_free(agent);
    return 0;
}
