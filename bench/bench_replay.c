/* bench_replay.c: replay memory figures: heap bytes per transition, the cost of
 * replay_add, replay_sample for batches of 32 and 64 from a full memory of
 * 84x84 frames, and optionally save/load of the whole memory.
 * Usage: bench_replay [--capacity N] [--streams S] [--iters K] [--io DIR] [--json] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "smbrl/replay.h"
#include "smbrl/rng.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fill(uint8_t *f, size_t n, uint32_t x)
{
    for (size_t i = 0; i < n; i += 8) {
        x = x * 1664525u + 1013904223u;
        memset(f + i, (int)(x >> 24), n - i < 8 ? n - i : 8);
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    size_t capacity = 100000;
    int streams = 1, iters = 2000, json = 0;
    const char *iodir = NULL;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && !strcmp(argv[i], "--iters") && atoi(argv[i + 1]) < 1) {
            fprintf(stderr, "--iters must be positive\n");
            return 2;
        }
        if (!strcmp(argv[i], "--capacity") && i + 1 < argc)
            capacity = (size_t)strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--streams") && i + 1 < argc)
            streams = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--iters") && i + 1 < argc)
            iters = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--io") && i + 1 < argc)
            iodir = argv[++i];
        else if (!strcmp(argv[i], "--json"))
            json = 1;
        else {
            fprintf(stderr, "usage: %s [--capacity N] [--streams S] [--iters K] [--io DIR] [--json]\n", argv[0]);
            return 2;
        }
    }
    replay_config cfg = {capacity, 4, 84, 84, streams};
    char err[512];
    replay *m = replay_create(&cfg, err, sizeof err);
    if (!m) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    double per_transition = (double)replay_memory_bytes(m) / (double)capacity;
    replay_options per = {.n_step = 3, .gamma = 0.99f, .alpha = 0.6f};
    double per_transition_per = (double)replay_bytes_needed(&cfg, &per) / (double)capacity;

    /* Fill past capacity with episodes of 200..1200 steps, streams round-robin. */
    size_t fb = 84 * 84;
    uint8_t *frame = malloc(fb);
    rng r;
    rng_seed(&r, 1);
    int *left = calloc((size_t)streams, sizeof *left);
    size_t steps = capacity + capacity / 10;
    double t0 = now();
    for (size_t i = 0; i < steps; i++) {
        int s = (int)(i % (size_t)streams);
        if (!left[s]) {
            left[s] = 200 + (int)rng_below(&r, 1001);
            fill(frame, fb, (uint32_t)i * 2u + 1u);
            replay_begin_episode(m, s, frame);
        }
        fill(frame, fb, (uint32_t)i * 2u);
        left[s]--;
        replay_add(m, s, (int32_t)(i % 7), 1.0f, left[s] == 0, frame);
    }
    double add_us = (now() - t0) / (double)steps * 1e6;
    /* fill() dominates that loop; time the adds alone on a few more steps. */
    int extra = 20000;
    uint8_t *frames = malloc(fb * 16);
    for (int k = 0; k < 16; k++)
        fill(frames + (size_t)k * fb, fb, (uint32_t)k);
    t0 = now();
    for (int i = 0; i < extra; i++) {
        int s = i % streams;
        if (!left[s]) {
            left[s] = 500;
            replay_begin_episode(m, s, frames);
        }
        left[s]--;
        replay_add(m, s, 1, 1.0f, left[s] == 0, frames + (size_t)(i % 16) * fb);
    }
    add_us = (now() - t0) / extra * 1e6;

    double sample_us[2];
    double *times = malloc((size_t)(iters > 0 ? iters : 1) * sizeof *times);
    int sizes[2] = {32, 64};
    for (int k = 0; k < 2; k++) {
        int B = sizes[k];
        replay_batch b = {malloc((size_t)B * 4 * fb), malloc((size_t)B * 4 * fb), malloc((size_t)B * 4),
                          malloc((size_t)B * 4), malloc((size_t)B * 4)};
        replay_sample(m, &r, B, &b); /* page in the batch buffers */
        /* The median of per-call times: the machine is shared, and a mean
         * mostly measures the neighbours. */
        for (int i = 0; i < iters; i++) {
            t0 = now();
            replay_sample(m, &r, B, &b);
            times[i] = (now() - t0) * 1e6;
        }
        qsort(times, (size_t)iters, sizeof *times, cmp_double);
        sample_us[k] = times[iters / 2];
        free(b.states);
        free(b.next_states);
        free(b.actions);
        free(b.rewards);
        free(b.dones);
    }

    double save_s = -1, load_s = -1;
    if (iodir) {
        char path[1024];
        snprintf(path, sizeof path, "%s/bench_replay.rpl", iodir);
        t0 = now();
        if (replay_save(m, path, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        save_s = now() - t0;
        t0 = now();
        if (replay_load(m, path, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        load_s = now() - t0;
        remove(path);
    }

    if (json) {
        printf("{\"capacity\": %zu, \"streams\": %d, \"size\": %zu, \"bytes_per_transition\": %.1f, "
               "\"bytes_per_transition_nstep_per\": %.1f, \"add_us\": %.3f, \"sample32_median_us\": %.2f, "
               "\"sample64_median_us\": %.2f, \"save_s\": %.3f, \"load_s\": %.3f}\n",
               capacity, streams, replay_size(m), per_transition, per_transition_per, add_us, sample_us[0],
               sample_us[1], save_s, load_s);
    } else {
        printf("replay memory, 84x84 frames, stack 4, capacity %zu, %d stream(s), %zu stored\n", capacity,
               streams, replay_size(m));
        printf("  %-40s %10.1f\n", "heap bytes per transition (uniform)", per_transition);
        printf("  %-40s %10.1f\n", "heap bytes per transition (3-step, PER)", per_transition_per);
        printf("  %-40s %10.3f\n", "replay_add (us)", add_us);
        printf("  %-40s %10.2f\n", "replay_sample batch 32, median (us)", sample_us[0]);
        printf("  %-40s %10.2f\n", "replay_sample batch 64, median (us)", sample_us[1]);
        if (iodir) {
            printf("  %-40s %10.3f\n", "replay_save, whole memory (s)", save_s);
            printf("  %-40s %10.3f\n", "replay_load, whole memory (s)", load_s);
        }
    }
    free(times);
    free(frame);
    free(frames);
    free(left);
    replay_free(m);
    return 0;
}
