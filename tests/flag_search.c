/* flag_search.c: builds tests/data/smb-1-1-flag.inputs, an input sequence that
 * takes SuperMarioBros-1-1-v0 from reset to the flag, one controller byte per
 * frame step (frame skip 1, the "nes" action set).
 *
 * Usage: flag_search ROM_DIR GUIDE.inputs OUT.inputs
 * GUIDE is a power-on input file that clears 1-1 (e.g. shared/reference/
 * smb-progress-1.inputs). Its frames are aligned to our reset by replaying it
 * from power-on in our emulator and finding where the clock first shows the
 * level's start value after its first value (the moment our reset snapshot is
 * taken). From there the guide is followed; whenever following it would die or
 * stall, a search over save states (random button bytes biased to the right,
 * seeded) replaces the stretch since the last checkpoint until x progresses.
 * The result is verified by replaying it from a fresh reset before it is written. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smbrl/env.h"
#include "smbrl/rng.h"

static uint8_t filter(uint8_t b)
{
    if ((b & (NES_LEFT | NES_RIGHT)) == (NES_LEFT | NES_RIGHT))
        b &= (uint8_t)~(NES_LEFT | NES_RIGHT);
    if ((b & (NES_UP | NES_DOWN)) == (NES_UP | NES_DOWN))
        b &= (uint8_t)~(NES_UP | NES_DOWN);
    return b;
}

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Plays `in` from a fresh reset; returns 1 at the flag, 0 otherwise. */
static int verify(env *e, const uint8_t *in, size_t n, size_t *steps_out)
{
    env_reset(e, NULL, NULL);
    char err[160];
    for (size_t i = 0; i < n; i++) {
        float r;
        int d;
        env_info info;
        if (env_step(e, in[i], NULL, &r, &d, &info, err, sizeof err) < 0)
            return 0;
        if (d) {
            *steps_out = i + 1;
            return info.flag_get;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: flag_search ROM_DIR GUIDE.inputs OUT.inputs\n");
        return 2;
    }
    size_t glen;
    uint8_t *guide = read_all(argv[2], &glen);
    if (!guide) {
        fprintf(stderr, "cannot read %s\n", argv[2]);
        return 1;
    }
    char err[256];
    env_config cfg;
    env_config_default(&cfg);
    cfg.task = "SuperMarioBros-1-1-v0";
    cfg.actions = "nes";
    cfg.frame_skip = 1;
    cfg.pixels = 0;
    env *e;
    if (env_create(&e, &cfg, argv[1], err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    /* alignment: replay the guide from power-on until the clock goes 401 -> 400 */
    nes *n = env_nes(e);
    nes_power(n);
    const uint8_t *ram = nes_ram(n);
    size_t start = 0;
    int prev = 0;
    for (size_t f = 0; f < glen; f++) {
        nes_run_frame(n, filter(guide[f]), NULL);
        int t = env_ram_time(ram);
        if (ram[0x0770] == 1 && prev == 401 && t == 400) {
            start = f + 1;
            break;
        }
        prev = t;
    }
    if (!start) {
        fprintf(stderr, "the guide never starts 1-1\n");
        return 1;
    }
    printf("guide aligned: reset = after power-on frame %zu\n", start);

    size_t cap = glen + 20000, len = 0;
    uint8_t *out = malloc(cap);
    size_t state_size = nes_state_size();
    uint8_t *ckpt = malloc(state_size);
    rng r;
    rng_seed(&r, 1);
    env_info info;
    env_reset(e, NULL, &info);
    size_t g = start;
    int searches = 0;
    for (;;) {
        /* follow the guide in chunks of 30 frame steps; back off to a search when
         * a chunk dies */
        nes_save(n, ckpt);
        size_t ck_len = len, ck_g = g;
        int died = 0, flag = 0;
        for (int k = 0; k < 30 && g < glen; k++, g++) {
            float rw;
            int d;
            out[len++] = filter(guide[g]);
            env_step(e, out[len - 1], NULL, &rw, &d, &info, err, sizeof err);
            if (d) {
                flag = info.flag_get;
                died = !flag;
                break;
            }
        }
        if (flag)
            break;
        if (!died && g < glen)
            continue;
        /* search: random 60-step stretches from the checkpoint, keep the one that
         * gets furthest right without dying */
        searches++;
        if (searches > 200) {
            fprintf(stderr, "search gave up at x=%d\n", info.x_pos);
            return 1;
        }
        int best_x = -1;
        uint8_t best[60];
        for (int trial_i = 0; trial_i < 400; trial_i++) {
            uint8_t seq[60];
            int ok = 1, x = 0;
            env_reset(e, NULL, NULL); /* clears done; the state is the checkpoint's */
            nes_load(n, ckpt);
            for (int k = 0; k < 60; k++) {
                uint8_t b = NES_RIGHT | (rng_below(&r, 2) ? NES_B : 0) |
                            (rng_below(&r, 3) == 0 ? NES_A : 0);
                seq[k] = b;
                float rw;
                int d;
                env_step(e, b, NULL, &rw, &d, &info, err, sizeof err);
                if (d) {
                    ok = info.flag_get;
                    x = ok ? 1 << 20 : 0;
                    break;
                }
                x = info.x_pos;
            }
            if (ok && x > best_x) {
                best_x = x;
                memcpy(best, seq, sizeof best);
            }
        }
        if (best_x < 0) {
            fprintf(stderr, "no surviving stretch from the checkpoint\n");
            return 1;
        }
        len = ck_len;
        memcpy(out + len, best, 60);
        len += 60;
        g = ck_g + 60;
        /* replay from reset to the end of the chosen stretch */
        env_reset(e, NULL, NULL);
        int fin = 0;
        for (size_t i = 0; i < len; i++) {
            float rw;
            int d;
            env_step(e, out[i], NULL, &rw, &d, &info, err, sizeof err);
            if (d) {
                fin = info.flag_get;
                len = i + 1;
                break;
            }
        }
        if (fin)
            break;
        printf("search %d: x=%d\n", searches, info.x_pos);
    }
    size_t steps = 0;
    if (!verify(e, out, len, &steps)) {
        fprintf(stderr, "the sequence does not verify\n");
        return 1;
    }
    FILE *f = fopen(argv[3], "wb");
    if (!f || fwrite(out, 1, steps, f) != steps || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", argv[3]);
        return 1;
    }
    printf("wrote %zu frame steps to %s (flag reached; %d searches)\n", steps, argv[3], searches);
    env_free(e);
    free(guide);
    free(out);
    free(ckpt);
    return 0;
}
