/* test_obs.c: the observation pipeline: grayscale table, the 256x240 -> 84x84
 * area average against hand-computed pixels and an exact reference on a real
 * frame, max-pooling, the frame stack, and that frame skip renders only the
 * frames it shows yet shows the same frames as rendering everything (episode
 * ends inside a skip included). The env parts need $SMBRL_ROM_DIR. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smbrl/env.h"
#include "smbrl/rng.h"
#include "testlib.h"

#define W NES_WIDTH
#define H NES_HEIGHT

static env_obs_tables tab;

static double gray_ref(int idx)
{
    return 0.2989 * nes_palette_rgb[idx][0] + 0.587 * nes_palette_rgb[idx][1] +
           0.114 * nes_palette_rgb[idx][2];
}

/* Exact box average in integer sub-units: one input pixel is 84x84 units, one
 * output pixel 256 units wide and 240 tall. */
static void area_ref(const uint8_t *pix, double *out)
{
    for (int oy = 0; oy < ENV_OBS_H; oy++)
        for (int ox = 0; ox < ENV_OBS_W; ox++) {
            long ylo = oy * 240L, yhi = ylo + 240, xlo = ox * 256L, xhi = xlo + 256;
            double s = 0;
            for (int y = (int)(ylo / 84); y < H && y * 84L < yhi; y++) {
                long a = y * 84L > ylo ? y * 84L : ylo, b = (y + 1) * 84L < yhi ? (y + 1) * 84L : yhi;
                if (b <= a)
                    continue;
                for (int x = (int)(xlo / 84); x < W && x * 84L < xhi; x++) {
                    long c = x * 84L > xlo ? x * 84L : xlo, d = (x + 1) * 84L < xhi ? (x + 1) * 84L : xhi;
                    if (d > c)
                        s += gray_ref(pix[y * W + x] & 63) * (double)((b - a) * (d - c));
                }
            }
            out[oy * ENV_OBS_W + ox] = s / (240.0 * 256.0);
        }
}

/* ours must be the reference rounded to nearest (either way when it is a tie
 * within float rounding) */
static int compare_to_ref(const uint8_t *ours, const double *ref)
{
    int bad = 0;
    for (int i = 0; i < ENV_FRAME_SIZE; i++) {
        double r = ref[i];
        double frac = r - floor(r);
        if (fabs(frac - 0.5) < 1e-3) {
            if (ours[i] != (int)floor(r) && ours[i] != (int)floor(r) + 1)
                bad++;
        } else if (ours[i] != (int)floor(r + 0.5)) {
            bad++;
        }
    }
    return bad;
}

static void test_tables_and_hand_pixels(void)
{
    for (int i = 0; i < 64; i++)
        CHECK(fabs(tab.gray[i] - gray_ref(i)) < 1e-3);
    static uint8_t pix[W * H], out[ENV_FRAME_SIZE];

    /* uniform sky (0x22 = 104,136,252): 0.2989*104 + 0.587*136 + 0.114*252 = 139.6456 -> 140 */
    memset(pix, 0x22, sizeof pix);
    env_obs_process(&tab, pix, NULL, out);
    for (int i = 0; i < ENV_FRAME_SIZE; i++)
        if (out[i] != 140) {
            CHECK_EQ_INT(out[i], 140);
            break;
        }

    /* white (0x30 = 252,252,252 -> 251.9748) in columns 0-2, black elsewhere:
     * output column 0 spans x in [0, 256/84 = 3.0476), so 3 / 3.0476 = 63/64 of it
     * is white: 251.9748 * 63/64 = 248.04 -> 248; column 1 starts past x=3 -> 0 */
    memset(pix, 0x0F, sizeof pix);
    for (int y = 0; y < H; y++)
        pix[y * W] = pix[y * W + 1] = pix[y * W + 2] = 0x30;
    env_obs_process(&tab, pix, NULL, out);
    for (int oy = 0; oy < ENV_OBS_H; oy++) {
        CHECK_EQ_INT(out[oy * ENV_OBS_W], 248);
        CHECK_EQ_INT(out[oy * ENV_OBS_W + 1], 0);
    }

    /* checkerboard (white where x+y is even): output (0,0) spans x [0, 3.0476),
     * y [0, 2.8571). White area: row 0 has x=0,2 (2); row 1 has x=1 and 0.0476 of
     * x=3 (1.0476); row 2, 0.8571 tall, has x=0,2 (1.7143): 4.7619 of 8.7075 =
     * 35/64. 251.9748 * 35/64 = 137.80 -> 138 */
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            pix[y * W + x] = (x + y) % 2 == 0 ? 0x30 : 0x0F;
    env_obs_process(&tab, pix, NULL, out);
    CHECK_EQ_INT(out[0], 138);

    /* max of two frames = the frame of per-pixel brighter colours */
    static uint8_t a[W * H], b[W * H], m[W * H], o2[ENV_FRAME_SIZE];
    uint32_t s = 12345;
    for (int i = 0; i < W * H; i++) {
        s = s * 1103515245u + 12345u;
        a[i] = (uint8_t)((s >> 16) & 63);
        s = s * 1103515245u + 12345u;
        b[i] = (uint8_t)((s >> 16) & 63);
        m[i] = tab.gray[a[i]] >= tab.gray[b[i]] ? a[i] : b[i];
    }
    env_obs_process(&tab, a, b, out);
    env_obs_process(&tab, m, NULL, o2);
    CHECK(memcmp(out, o2, sizeof out) == 0);
    /* the fast path equals the direct 5x5 gather it replaces */
    env_obs_process_ref(&tab, a, b, o2);
    CHECK(memcmp(out, o2, sizeof out) == 0);
    env_obs_process(&tab, a, NULL, out);
    env_obs_process_ref(&tab, a, NULL, o2);
    CHECK(memcmp(out, o2, sizeof out) == 0);
    static double ref[ENV_FRAME_SIZE];
    area_ref(a, ref);
    env_obs_process(&tab, a, NULL, out);
    CHECK_EQ_INT(compare_to_ref(out, ref), 0);
}

/* The "antialias" resize against PyTorch's F.interpolate(bilinear, antialias)
 * on a synthetic frame (tests/obs_torch_fixture.py made the fixture). */
static void test_antialias_vs_torch(void)
{
    const char *src = getenv("SMBRL_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/data/obs-antialias-torch.f32", src ? src : ".");
    FILE *f = fopen(path, "rb");
    static float want[ENV_FRAME_SIZE];
    if (!f || fread(want, sizeof(float), ENV_FRAME_SIZE, f) != ENV_FRAME_SIZE) {
        fprintf(stderr, "cannot read %s\n", path);
        testlib_failures++;
        if (f)
            fclose(f);
        return;
    }
    fclose(f);
    /* the fixture script's frame: 4x4 blocks from an LCG, every 7th pixel redrawn */
    static uint8_t pix[W * H], out[ENV_FRAME_SIZE], ref[ENV_FRAME_SIZE];
    uint32_t x = 2024;
    uint8_t blocks[60][64];
    for (int by = 0; by < 60; by++)
        for (int bx = 0; bx < 64; bx++) {
            x = x * 1103515245u + 12345u;
            blocks[by][bx] = (uint8_t)((x >> 16) & 63);
        }
    for (int y = 0; y < H; y++)
        for (int i = 0; i < W; i++)
            pix[y * W + i] = blocks[y / 4][i / 4];
    for (int i = 0; i < W * H; i += 7) {
        x = x * 1103515245u + 12345u;
        pix[i] = (uint8_t)((x >> 16) & 63);
    }
    env_obs_tables aa;
    env_obs_tables_init(&aa, ENV_RESIZE_ANTIALIAS);
    env_obs_process(&aa, pix, NULL, out);
    env_obs_process_ref(&aa, pix, NULL, ref);
    CHECK(memcmp(out, ref, sizeof out) == 0);
    static double wd[ENV_FRAME_SIZE];
    for (int i = 0; i < ENV_FRAME_SIZE; i++)
        wd[i] = want[i];
    CHECK_EQ_INT(compare_to_ref(out, wd), 0);
    /* and the area filter is a different one: it differs from torch on this frame */
    env_obs_process(&tab, pix, NULL, out);
    CHECK(compare_to_ref(out, wd) > ENV_FRAME_SIZE / 4);
}

static env *open_env(int frame_skip, int max_pool)
{
    env_config c;
    env_config_default(&c);
    c.task = "SuperMarioBros-1-1-v0";
    c.actions = "nes";
    c.frame_skip = frame_skip;
    c.max_pool = max_pool;
    char err[256];
    env *e = NULL;
    if (env_create(&e, &c, getenv("SMBRL_ROM_DIR"), err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    return e;
}

static void test_real_frame(void)
{
    env *e = open_env(4, 0);
    static uint8_t obs[ENV_OBS_SIZE], again[ENV_FRAME_SIZE];
    static double ref[ENV_FRAME_SIZE];
    env_reset(e, obs, NULL);
    const uint8_t *f = env_frame(e);
    /* the reset frame is the level, not a blank screen: sky, ground, HUD */
    int colours[64] = {0}, distinct = 0;
    for (int i = 0; i < W * H; i++)
        if (!colours[f[i] & 63]++)
            distinct++;
    CHECK(distinct >= 4);
    CHECK(f[120 * W + 128] == 0x22); /* sky in the middle of the screen */
    area_ref(f, ref);
    CHECK_EQ_INT(compare_to_ref(obs, ref), 0);
    /* the stack starts as four copies */
    for (int i = 1; i < ENV_STACK; i++)
        CHECK(memcmp(obs, obs + i * ENV_FRAME_SIZE, ENV_FRAME_SIZE) == 0);
    env_obs_process(&tab, f, NULL, again);
    CHECK(memcmp(obs, again, ENV_FRAME_SIZE) == 0);
    /* full-resolution renders */
    static uint8_t rgb[W * H * 3], gray[W * H];
    env_render_rgb(e, rgb);
    env_render_gray(e, gray);
    CHECK(rgb[(120 * W + 128) * 3 + 2] == 0xFC);
    CHECK_EQ_INT(gray[120 * W + 128], 140);
    env_free(e);
}

/* Frame skip k renders only what it shows, and shows what full rendering shows:
 * a (skip k) against b (skip 1, every frame rendered), fed the same buttons. */
static void test_skip_matches_full_render(int k, int max_pool)
{
    env *a = open_env(k, max_pool), *b = open_env(1, 0);
    static uint8_t oa[ENV_OBS_SIZE], prev[ENV_OBS_SIZE], ob[ENV_OBS_SIZE], want[ENV_FRAME_SIZE];
    static uint8_t fb[2][W * H];
    env_reset(a, oa, NULL);
    env_reset(b, ob, NULL);
    memcpy(fb[0], env_frame(b), W * H);
    memcpy(fb[1], env_frame(b), W * H);
    char err[160];
    int da = 0, steps = 0, bad = 0;
    uint64_t r0 = env_frames_rendered(a);
    while (!da && steps < 400) {
        uint8_t btn = NES_RIGHT | NES_B | (steps % 12 < 7 ? NES_A : 0);
        float r;
        env_info ia, ib;
        memcpy(prev, oa, sizeof oa);
        CHECK(env_step(a, btn, oa, &r, &da, &ia, err, sizeof err) == 0);
        int db = 0;
        for (int j = 0; j < ia.frames; j++) {
            CHECK(env_step(b, btn, ob, &r, &db, &ib, err, sizeof err) == 0);
            memcpy(fb[0], fb[1], W * H);
            memcpy(fb[1], env_frame(b), W * H);
        }
        CHECK_EQ_INT(da, db);
        env_obs_process(&tab, fb[1], max_pool ? fb[0] : NULL, want);
        if (memcmp(oa + 3 * ENV_FRAME_SIZE, want, ENV_FRAME_SIZE) != 0) {
            fprintf(stderr, "k=%d max=%d: step %d (frames %d, done %d) differs\n", k, max_pool, steps,
                    ia.frames, da);
            bad++;
        }
        /* the stack moves up by one */
        CHECK(memcmp(oa, prev + ENV_FRAME_SIZE, 3 * ENV_FRAME_SIZE) == 0);
        steps++;
        if (!da)
            CHECK_EQ_INT(ia.frames, k);
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(da, 1); /* the run ends in a death, inside a skip for k = 4 */
    /* rendered frames: one (two with max) per step, plus replays at the end */
    uint64_t rendered = env_frames_rendered(a) - r0;
    CHECK(rendered + 1 >= (uint64_t)steps * (max_pool ? 2 : 1));
    CHECK(rendered <= (uint64_t)steps * (max_pool ? 2 : 1) + 2);
    env_free(a);
    env_free(b);
}

/* Rendering only what is shown (skipped frames dark, hidden frames replayed)
 * against the slow reference that renders every frame: the full game, where
 * deaths bring hidden frames, until game over. */
/* Two environments on config c, e[0] as it runs normally and e[1] rendering
 * every frame (render_all), both reset. */
static void create_fast_and_render_all(env *e[2], env_config c, uint8_t (*o)[ENV_OBS_SIZE])
{
    for (int i = 0; i < 2; i++) {
        c.render_all = i;
        char err[256];
        if (env_create(&e[i], &c, getenv("SMBRL_ROM_DIR"), err, sizeof err) < 0) {
            fprintf(stderr, "%s\n", err);
            exit(1);
        }
        env_reset(e[i], o[i], NULL);
    }
}

static void test_fast_vs_render_all(int max_pool)
{
    env *e[2];
    env_config c;
    env_config_default(&c);
    c.task = "SuperMarioBros-v0";
    c.max_pool = max_pool;
    static uint8_t o[2][ENV_OBS_SIZE];
    create_fast_and_render_all(e, c, o);
    char err[160];
    int d[2] = {0, 0}, steps = 0, bad = 0, hidden = 0;
    while (!d[0] && steps < 3000) {
        int a = steps % 9 < 6 ? 4 : 2; /* right A B, now and then right A */
        float r[2];
        env_info in[2];
        for (int i = 0; i < 2; i++)
            CHECK(env_step(e[i], a, o[i], &r[i], &d[i], &in[i], err, sizeof err) == 0);
        hidden += in[0].hidden_frames;
        CHECK(r[0] == r[1]);
        CHECK_EQ_INT(d[0], d[1]);
        if (memcmp(o[0], o[1], ENV_OBS_SIZE) != 0 || memcmp(env_frame(e[0]), env_frame(e[1]), W * H) != 0 ||
            memcmp(nes_ram(env_nes(e[0])), nes_ram(env_nes(e[1])), 2048) != 0)
            bad++;
        steps++;
    }
    CHECK_EQ_INT(d[0], 1);
    CHECK(hidden > 20);
    CHECK_EQ_INT(bad, 0);
    /* the reference renders 4 per step plus every hidden frame; the fast path 1 (2 with max) */
    CHECK(env_frames_rendered(e[0]) * (max_pool ? 3 : 6) / 2 < env_frames_rendered(e[1]));
    env_free(e[0]);
    env_free(e[1]);
}

/* Sticky actions and episode ends inside a skip: an early end is replayed from
 * the state saved at the start of the agent step, with the buttons each frame
 * step really had (sticky ones included), so it must match rendering every
 * frame: observations, rewards, dones, infos and RAM, over many episodes of
 * random play. Counts the ends that make the replay run an unrendered frame
 * step before the one(s) it shows. */
static void test_sticky_early_ends(int max_pool)
{
    env *e[2];
    env_config c;
    env_config_default(&c);
    c.sticky_p = 0.5f;
    c.seed = 5;
    c.max_pool = max_pool;
    static uint8_t o[2][ENV_OBS_SIZE];
    create_fast_and_render_all(e, c, o);
    rng r;
    rng_seed(&r, 17);
    char err[160];
    int bad = 0, ends = 0, deep_ends = 0;
    const int deep = max_pool ? 3 : 2; /* frames of a step whose replay starts unrendered */
    for (int steps = 0; steps < 3000; steps++) {
        int a = 1 + (int)rng_below(&r, 4); /* right, with A and B now and then */
        float rw[2];
        int d[2];
        env_info in[2];
        for (int i = 0; i < 2; i++)
            CHECK(env_step(e[i], a, o[i], &rw[i], &d[i], &in[i], err, sizeof err) == 0);
        if (rw[0] != rw[1] || d[0] != d[1] || memcmp(&in[0], &in[1], sizeof in[0]) != 0 ||
            memcmp(o[0], o[1], ENV_OBS_SIZE) != 0 || memcmp(env_frame(e[0]), env_frame(e[1]), W * H) != 0 ||
            memcmp(nes_ram(env_nes(e[0])), nes_ram(env_nes(e[1])), 2048) != 0)
            bad++;
        if (d[0]) {
            ends++;
            deep_ends += in[0].frames >= deep && in[0].frames < 4;
            for (int i = 0; i < 2; i++)
                env_reset(e[i], o[i], NULL);
        }
    }
    fprintf(stderr, "sticky early ends (max %d): %d ends, %d replayed from an unrendered frame\n", max_pool,
            ends, deep_ends);
    CHECK_EQ_INT(bad, 0);
    CHECK(deep_ends >= 2);
    env_free(e[0]);
    env_free(e[1]);
}

/* Frames on which the paths may part: each row is cut into pieces of random
 * width (so across the AVX2 path's 32-column strips) that repeat the row
 * above, are one colour or are noise, in runs of rows up to `run` long (the
 * repeats the fast paths skip); the second frame (prev) is cut apart from the
 * first, so that one repeats where the other does not. Bits 6-7 are set at
 * random: they must be ignored. */
static void patchy_frames(uint32_t *s, int run, uint8_t *a, uint8_t *b)
{
    for (int f = 0; f < 2; f++) {
        uint8_t *p = f ? b : a;
        int left = 0, kind = 2;
        for (int y = 0; y < H; y++) {
            if (left-- <= 0) {
                *s = *s * 1103515245u + 12345u;
                left = (int)((*s >> 16) % (unsigned)run);
                kind = (int)((*s >> 8) % 4); /* 0 noise, 1 one colour, 2-3 repeat */
            }
            for (int x = 0; x < W;) {
                *s = *s * 1103515245u + 12345u;
                int w = 1 + (int)((*s >> 16) % 80), k = y == 0 ? 0 : (*s >> 4) % 8 == 0 ? (int)(*s >> 12) % 3 : kind;
                uint8_t colour = (uint8_t)(*s >> 24);
                for (int e = x + w < W ? x + w : W; x < e; x++) {
                    *s = *s * 1103515245u + 12345u;
                    p[y * W + x] = k == 0 ? (uint8_t)(*s >> 16) : k == 1 ? colour : p[(y - 1) * W + x];
                }
            }
        }
    }
}

/* Every vector path this CPU has (the tables' isa lowered step by step) gives
 * the portable path's bytes, on frames in which pieces of rows repeat (the
 * fast paths' shortcut), with and without the max of two frames, for both
 * filters. Against the direct gather, which sums in the other order, a
 * rounding may land one level apart. */
static void test_each_isa(void)
{
    static uint8_t a[W * H], b[W * H], out[ENV_FRAME_SIZE], portable[ENV_FRAME_SIZE], ref[ENV_FRAME_SIZE];
    static env_obs_tables aa;
    env_obs_tables_init(&aa, ENV_RESIZE_ANTIALIAS);
    CHECK_EQ_INT(aa.isa, tab.isa);
    uint32_t s = 777;
    int bad = 0, worst = 0;
    for (int frame = 0; frame < 48; frame++) {
        if (frame == 0) { /* bands of eight rows that repeat whole */
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++) {
                    int i = y * W + x;
                    s = s * 1103515245u + 12345u;
                    int repeat = y > 0 && ((y / 8) & 1);
                    a[i] = repeat ? a[i - W] : (uint8_t)((s >> 16) & 0xFF);
                    b[i] = repeat ? b[i - W] : (uint8_t)((s >> 8) & 0xFF);
                }
        } else {
            patchy_frames(&s, frame % 2 ? 4 : 60, a, b);
        }
        for (int f = 0; f < 2; f++) {
            const env_obs_tables *base = f ? &aa : &tab;
            for (int max = 0; max < 2; max++) {
                const uint8_t *q = max ? b : NULL;
                for (int isa = ENV_OBS_PORTABLE; isa <= base->isa; isa++) {
                    env_obs_tables t = *base;
                    t.isa = isa;
                    env_obs_process(&t, a, q, isa == ENV_OBS_PORTABLE ? portable : out);
                    if (isa != ENV_OBS_PORTABLE && memcmp(out, portable, sizeof out) != 0) {
                        fprintf(stderr, "frame %d, %s, max %d: isa %d differs from the portable path\n", frame,
                                f ? "antialias" : "area", max, isa);
                        bad++;
                    }
                }
                if (frame >= 8) /* the slow one, on a few */
                    continue;
                env_obs_process_ref(base, a, q, ref);
                for (int i = 0; i < ENV_FRAME_SIZE; i++)
                    worst = abs(portable[i] - ref[i]) > worst ? abs(portable[i] - ref[i]) : worst;
            }
        }
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(worst <= 1);
    printf("test_obs: %d vector path(s) compared\n", tab.isa + 1);
}

/* The same on game frames: every path against the portable one, for both
 * filters, each frame alone and with the frame before. */
static void test_each_isa_game(void)
{
    env *e = open_env(1, 0);
    static env_obs_tables aa;
    env_obs_tables_init(&aa, ENV_RESIZE_ANTIALIAS);
    static uint8_t obs[ENV_OBS_SIZE], prev[W * H], out[ENV_FRAME_SIZE], portable[ENV_FRAME_SIZE];
    env_reset(e, obs, NULL);
    memcpy(prev, env_frame(e), sizeof prev);
    char err[160];
    int bad = 0, done = 0;
    for (int step = 0; step < 450 && !done; step++) {
        uint8_t btn = NES_RIGHT | NES_B | (step % 40 < 25 ? NES_A : 0);
        float r;
        CHECK(env_step(e, btn, obs, &r, &done, NULL, err, sizeof err) == 0);
        const uint8_t *f = env_frame(e);
        if (step % 3 != 0) { /* every third frame, with the one before */
            memcpy(prev, f, sizeof prev);
            continue;
        }
        for (int k = 0; k < 2; k++) {
            const env_obs_tables *base = k ? &aa : &tab;
            for (int max = 0; max < 2; max++) {
                for (int isa = ENV_OBS_PORTABLE; isa <= base->isa; isa++) {
                    env_obs_tables t = *base;
                    t.isa = isa;
                    env_obs_process(&t, f, max ? prev : NULL, isa == ENV_OBS_PORTABLE ? portable : out);
                    if (isa != ENV_OBS_PORTABLE && memcmp(out, portable, sizeof out) != 0)
                        bad++;
                }
            }
        }
        memcpy(prev, f, sizeof prev);
    }
    CHECK_EQ_INT(bad, 0);
    env_free(e);
}

int main(void)
{
    env_obs_tables_init(&tab, ENV_RESIZE_AREA);
    test_tables_and_hand_pixels();
    test_each_isa();
    test_antialias_vs_torch();
    char buf[4096];
    testlib_data_path("SMBRL_ROM_DIR", "super-mario-bros.nes", buf, sizeof buf);
    test_real_frame();
    test_each_isa_game();
    test_skip_matches_full_render(4, 0);
    test_skip_matches_full_render(4, 1);
    test_skip_matches_full_render(3, 1);
    test_fast_vs_render_all(0);
    test_fast_vs_render_all(1);
    test_sticky_early_ends(0);
    test_sticky_early_ends(1);
    return testlib_finish("test_obs");
}
