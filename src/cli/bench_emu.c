/* bench_emu.c: `smbrl bench emu`: emulator frames per second on one core for
 * Super Mario Bros under random play, with pixels rendered every frame and with
 * rendering skipped. Random play: a new random button byte (Start and Select
 * masked after the title) every 8 frames, from a fixed seed. When the game leaves
 * play (game over: SMB's mode byte $0770 is then not 1) the run goes on from the
 * snapshot taken at the start of 1-1, so that every measured frame is a frame of
 * play, not the title screen's demo. Frames per second are per second of the
 * thread's CPU time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/commands.h"
#include "smbrl/env.h"
#include "smbrl/nes.h"
#include "smbrl/rng.h"

/* CPU time of this thread: on a shared machine it counts only the time the
 * emulator actually ran, where wall time also counts waiting for a core. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Plays `frames` frames from a snapshot taken in play; returns frames per second. */
static double measure(nes *n, const void *snapshot, int frames, uint8_t *pixels, uint64_t seed, int *restarts)
{
    rng r;
    rng_seed(&r, seed);
    nes_load(n, snapshot);
    uint8_t buttons = 0;
    double t0 = now_s();
    for (int f = 0; f < frames; f++) {
        if ((f & 7) == 0)
            buttons = (uint8_t)(rng_u32(&r) & ~(NES_START | NES_SELECT));
        nes_run_frame(n, buttons, pixels);
        if (env_ram_game_mode(nes_ram(n)) != 1) {
            nes_load(n, snapshot);
            ++*restarts;
        }
    }
    return frames / (now_s() - t0);
}

int bench_emu(int argc, char **argv)
{
    const char *rom = getenv("SMBRL_ROM");
    int json = 0, frames = 20000, repeats = 3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: smbrl bench emu --rom ROM [--frames N] [--repeats R] [--json]\n\n"
                   "Frames per second of the emulator on one core, Super Mario Bros under random play\n"
                   "from the start of 1-1 (again from there after each game over).\n"
                   "  --rom PATH     Super Mario Bros ROM (default: $SMBRL_ROM)\n"
                   "  --frames N     frames per measurement (default 20000)\n"
                   "  --repeats R    measurements per mode; the median is reported (default 3)\n"
                   "  --json         print one JSON object: frames_per_s_rendered, frames_per_s_skipped,\n"
                   "                 restarts (game overs over all runs), cpu (translated, or interpreted\n"
                   "                 where translation cannot serve or SMBRL_JIT=0)\n");
            return 0;
        } else if (!strcmp(argv[i], "--rom") && i + 1 < argc) {
            rom = argv[++i];
        } else if (!strcmp(argv[i], "--frames") && i + 1 < argc) {
            frames = atoi(argv[++i]);
            if (frames <= 0) {
                fprintf(stderr, "smbrl bench emu: --frames must be a positive number\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--repeats") && i + 1 < argc) {
            repeats = atoi(argv[++i]);
            if (repeats <= 0 || repeats > 99) {
                fprintf(stderr, "smbrl bench emu: --repeats must be 1-99\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else {
            fprintf(stderr, "smbrl bench emu: unknown flag or missing value: '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!rom) {
        fprintf(stderr, "smbrl bench emu: no ROM: pass --rom PATH or set SMBRL_ROM\n");
        return 2;
    }
    char err[256];
    cart c = {0};
    if (cart_load_file(&c, rom, err, sizeof err) < 0) {
        fprintf(stderr, "smbrl bench emu: %s\n", err);
        return 1;
    }
    nes *n = nes_create(&c, err, sizeof err);
    if (!n) {
        fprintf(stderr, "smbrl bench emu: %s: %s\n", rom, err);
        cart_free(&c);
        return 1;
    }
    /* Get past the title screen into play: press Start for a few frames. */
    for (int f = 0; f < 200; f++)
        nes_run_frame(n, (f >= 40 && f < 45) ? NES_START : 0, NULL);
    if (env_ram_game_mode(nes_ram(n)) != 1) {
        fprintf(stderr, "smbrl bench emu: %s: not in play 200 frames after Start: not Super Mario Bros?\n", rom);
        nes_free(n);
        cart_free(&c);
        return 1;
    }
    void *snapshot = malloc(nes_state_size());
    uint8_t *pixels = malloc(NES_WIDTH * NES_HEIGHT);
    if (!snapshot || !pixels) {
        fprintf(stderr, "smbrl bench emu: out of memory\n");
        free(snapshot), free(pixels), nes_free(n), cart_free(&c);
        return 1;
    }
    nes_save(n, snapshot);
    double rendered[99] = {0}, skipped[99] = {0};
    int restarts = 0; /* game overs, over all runs */
    for (int i = 0; i < repeats; i++) {
        rendered[i] = measure(n, snapshot, frames, pixels, (uint64_t)i + 1, &restarts);
        skipped[i] = measure(n, snapshot, frames, NULL, (uint64_t)i + 1, &restarts);
    }
    /* Median by insertion sort: R is small. */
    for (int k = 0; k < 2; k++) {
        double *v = k ? skipped : rendered;
        for (int i = 1; i < repeats; i++)
            for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
                double t = v[j];
                v[j] = v[j - 1];
                v[j - 1] = t;
            }
    }
    double r = rendered[repeats / 2], s = skipped[repeats / 2];
    /* which of the CPU's ways ran (README "The emulator"): the figures differ by 2x */
    const char *cpu = nes_translating(n) ? "translated" : "interpreted";
    if (json) {
        printf("{\"frames_per_s_rendered\": %.0f, \"frames_per_s_skipped\": %.0f, \"restarts\": %d, \"cpu\": \"%s\"}\n",
               r, s, restarts, cpu);
    } else {
        printf("emulator speed, one core (per second of CPU time), %d frames x %d runs (median)\n", frames,
               repeats);
        printf("  %-10s %12s\n", "mode", "frames/s");
        printf("  %-10s %12.0f\n", "rendered", r);
        printf("  %-10s %12.0f\n", "skipped", s);
        printf("  (play went on from the start of 1-1 after %d game over%s)\n", restarts, restarts == 1 ? "" : "s");
        printf("  (CPU: %s)\n", cpu);
    }
    free(snapshot);
    free(pixels);
    nes_free(n);
    cart_free(&c);
    return 0;
}
