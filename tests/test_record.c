/* test_record.c: recordings (record.h): the GIF delay schedule, the HUD font, GIF and PNG
 * round trips decoded with giflib and libpng, and (with a ROM) a recorded episode whose
 * every frame, composed from the GIF's changed rectangles through their colour tables,
 * equals nes_frame_to_rgb of the emulator's frame at that step; and a policy network's
 * sampled actions against its argmax. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smbrl/env.h"
#include "smbrl/nes.h"
#include "smbrl/nn.h"
#include "smbrl/ppo.h"
#include "smbrl/record.h"
#include "smbrl/rng.h"
#include "testlib.h"

#ifdef SMBRL_HAVE_GIF
#include <gif_lib.h>
#endif
#ifdef SMBRL_HAVE_PNG
#include <png.h>
#endif

static void test_delays(void)
{
    long sum = 0;
    for (long i = 0; i < 300; i++) {
        int d = rec_gif_delay_cs(i, 4);
        CHECK(d == 6 || d == 7);
        sum += d;
        if (i % 3 == 2)
            CHECK_EQ_INT(sum, (i + 1) / 3 * 20); /* 3 frames of 4/60 s are exactly 20 cs */
    }
    CHECK_EQ_INT(rec_gif_delay_cs(0, 4), 7);
    CHECK_EQ_INT(rec_gif_delay_cs(1, 4), 6);
    CHECK_EQ_INT(rec_gif_delay_cs(2, 4), 7);
    for (long i = 0; i < 50; i++)
        CHECK_EQ_INT(rec_gif_delay_cs(i, 3), 5);
    sum = 0;
    for (long i = 0; i < 600; i++)
        sum += rec_gif_delay_cs(i, 1);
    CHECK_EQ_INT(sum, 1000); /* 600 frames at 60 Hz: 10 s */
    /* a very long episode keeps the schedule: frame 1e6 of skip 4 */
    long a = 0;
    for (long i = 999999; i < 1000002; i++)
        a += rec_gif_delay_cs(i, 4);
    CHECK_EQ_INT(a, 20);
}

static void test_hud(void)
{
    const int w = 64, h = REC_HUD_HEIGHT + 3;
    uint8_t *rgb = malloc((size_t)w * h * 3);
    memset(rgb, 77, (size_t)w * h * 3);
    rec_hud_draw(rgb, w, 3, "1-");
    /* rows above the strip untouched */
    for (int i = 0; i < w * 3 * 3; i++)
        CHECK_EQ_INT(rgb[i], 77);
    /* '1' at x = 2: rows 0x04 0x0C 0x04 0x04 0x04 0x04 0x0E from y = 3 + 2 */
    static const uint8_t one[7] = {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E};
    int white = 0;
    for (int y = 3; y < h; y++)
        for (int x = 0; x < w; x++) {
            const uint8_t *p = rgb + ((size_t)y * w + x) * 3;
            CHECK((p[0] == 0 && p[1] == 0 && p[2] == 0) || (p[0] == 255 && p[1] == 255 && p[2] == 255));
            white += p[0] == 255;
            int gy = y - 5, gx = x - 2;
            if (gy >= 0 && gy < 7 && gx >= 0 && gx < 5)
                CHECK_EQ_INT(p[0] == 255, (one[gy] >> (4 - gx)) & 1);
        }
    CHECK_EQ_INT(white, 1 + 2 + 1 + 1 + 1 + 1 + 3 + 5); /* '1' has 10 pixels, '-' 5 */
    CHECK(rec_hud_has_glyph('a') && rec_hud_has_glyph('Z') && rec_hud_has_glyph('7'));
    CHECK(!rec_hud_has_glyph('~'));
    /* lower case draws as upper case */
    uint8_t *b = malloc((size_t)w * h * 3);
    rec_hud_draw(rgb, w, 0, "right a b");
    rec_hud_draw(b, w, 0, "RIGHT A B");
    CHECK(!memcmp(rgb, b, (size_t)w * REC_HUD_HEIGHT * 3));
    free(b);
    free(rgb);
}

#if defined(SMBRL_HAVE_GIF) || defined(SMBRL_HAVE_PNG)
/* pixel (x, y) of src (w wide) at scale s equals the scaled canvas everywhere */
static int same_scaled(const uint8_t *canvas, const uint8_t *src, int w, int h, int s)
{
    for (int y = 0; y < h * s; y++)
        for (int x = 0; x < w * s; x++)
            if (memcmp(canvas + ((size_t)y * w * s + x) * 3, src + ((size_t)(y / s) * w + x / s) * 3, 3))
                return 0;
    return 1;
}
#endif

#ifdef SMBRL_HAVE_GIF
/* Decodes a GIF into composed RGB frames (canvas w x h), honouring "leave in place". */
typedef struct decoded {
    int w, h, n;
    uint8_t *frames; /* n * w * h * 3 */
    int *delays;
    int loops;       /* NETSCAPE2.0 extension seen */
} decoded;

static int gif_decode(const char *path, decoded *d)
{
    memset(d, 0, sizeof *d);
    int e = 0;
    GifFileType *gf = DGifOpenFileName(path, &e);
    if (!gf) {
        fprintf(stderr, "DGifOpenFileName %s: %s\n", path, GifErrorString(e));
        return -1;
    }
    if (DGifSlurp(gf) == GIF_ERROR) {
        fprintf(stderr, "DGifSlurp %s: %s\n", path, GifErrorString(gf->Error));
        DGifCloseFile(gf, &e);
        return -1;
    }
    d->w = gf->SWidth;
    d->h = gf->SHeight;
    d->n = gf->ImageCount;
    size_t fsz = (size_t)d->w * d->h * 3;
    d->frames = calloc((size_t)d->n + 1, fsz);
    d->delays = calloc((size_t)d->n + 1, sizeof(int));
    uint8_t *canvas = calloc(1, fsz);
    for (int i = 0; i < gf->ImageCount; i++) {
        const SavedImage *si = &gf->SavedImages[i];
        const GifImageDesc *id = &si->ImageDesc;
        const ColorMapObject *cm = id->ColorMap ? id->ColorMap : gf->SColorMap;
        CHECK(cm != NULL);
        CHECK(id->Left + id->Width <= d->w && id->Top + id->Height <= d->h);
        for (int y = 0; cm && y < id->Height; y++)
            for (int x = 0; x < id->Width; x++) {
                int c = si->RasterBits[(size_t)y * id->Width + x];
                CHECK(c < cm->ColorCount);
                uint8_t *o = canvas + (((size_t)(id->Top + y) * d->w) + (id->Left + x)) * 3;
                o[0] = cm->Colors[c].Red;
                o[1] = cm->Colors[c].Green;
                o[2] = cm->Colors[c].Blue;
            }
        memcpy(d->frames + (size_t)i * fsz, canvas, fsz);
        GraphicsControlBlock gcb;
        if (DGifSavedExtensionToGCB(gf, i, &gcb) == GIF_OK) {
            d->delays[i] = gcb.DelayTime;
            CHECK(gcb.DisposalMode == DISPOSE_DO_NOT || i == gf->ImageCount - 1);
        } else {
            d->delays[i] = -1;
        }
        for (int k = 0; k < si->ExtensionBlockCount; k++)
            if (si->ExtensionBlocks[k].Function == APPLICATION_EXT_FUNC_CODE &&
                si->ExtensionBlocks[k].ByteCount == 11 &&
                !memcmp(si->ExtensionBlocks[k].Bytes, "NETSCAPE2.0", 11))
                d->loops = 1;
    }
    free(canvas);
    DGifCloseFile(gf, &e);
    return 0;
}

static void decoded_free(decoded *d)
{
    free(d->frames);
    free(d->delays);
}

static void test_gif_synthetic(const char *dir)
{
    const int w = 40, h = 24, n = 6, s = 2;
    uint8_t *src = malloc((size_t)n * w * h * 3);
    rng r;
    rng_seed(&r, 11);
    for (int f = 0; f < n; f++) {
        uint8_t *p = src + (size_t)f * w * h * 3;
        if (f == 0) {
            for (int i = 0; i < w * h; i++) /* 64 NES colours */
                memcpy(p + 3 * i, nes_palette_rgb[(i * 7) % 64], 3);
        } else {
            memcpy(p, p - (size_t)w * h * 3, (size_t)w * h * 3);
            if (f == 2) {
                /* frame 2 repeats frame 1 exactly: a 1x1 frame carries its delay */
            } else if (f == 4) {
                for (int i = 0; i < w * h; i++) /* 960 distinct colours: quantised */
                    p[3 * i] = (uint8_t)i, p[3 * i + 1] = (uint8_t)(i >> 2), p[3 * i + 2] = (uint8_t)(i * 5);
            } else {
                for (int y = 5; y < 9; y++) /* a small block moves */
                    for (int x = 3 * f; x < 3 * f + 6; x++)
                        memcpy(p + ((size_t)y * w + x) * 3, nes_palette_rgb[(f * 13) % 64], 3);
            }
        }
    }
    char path[512], err[256];
    snprintf(path, sizeof path, "%s/synthetic.gif", dir);
    rec_gif *g;
    CHECK(rec_gif_open(&g, path, w, h, s, 4, err, sizeof err) == 0);
    for (int f = 0; f < n; f++)
        CHECK(rec_gif_add(g, src + (size_t)f * w * h * 3, err, sizeof err) == 0);
    CHECK_EQ_INT(rec_gif_frames(g), n);
    CHECK(rec_gif_close(g, err, sizeof err) == 0);
    decoded d;
    CHECK(gif_decode(path, &d) == 0);
    CHECK_EQ_INT(d.n, n);
    CHECK_EQ_INT(d.w, w * s);
    CHECK_EQ_INT(d.h, h * s);
    CHECK(d.loops);
    for (int f = 0; f < d.n && f < n; f++) {
        CHECK_EQ_INT(d.delays[f], rec_gif_delay_cs(f, 4));
        const uint8_t *want = src + (size_t)f * w * h * 3;
        const uint8_t *got = d.frames + (size_t)f * w * s * h * s * 3;
        if (f < 4) {
            if (!same_scaled(got, want, w, h, s))
                fprintf(stderr, "synthetic frame %d differs\n", f);
            CHECK(same_scaled(got, want, w, h, s));
        } else {
            /* the quantised frame and the one after it: close, not exact */
            double err2 = 0.0;
            for (int y = 0; y < h * s; y++)
                for (int x = 0; x < w * s; x++)
                    for (int c = 0; c < 3; c++) {
                        double e = (double)got[((size_t)y * w * s + x) * 3 + c] -
                                   want[((size_t)(y / s) * w + x / s) * 3 + c];
                        err2 += e * e;
                    }
            double rms = sqrt(err2 / (w * s * h * s * 3));
            CHECK(rms < 12.0);
        }
    }
    decoded_free(&d);
    /* bad arguments are errors, not crashes */
    CHECK(rec_gif_open(&g, path, w, h, 9, 4, err, sizeof err) < 0);
    snprintf(path, sizeof path, "%s/no/such/dir/x.gif", dir);
    CHECK(rec_gif_open(&g, path, w, h, 1, 4, err, sizeof err) < 0);
    CHECK(strstr(err, "x.gif") != NULL);
    free(src);
}
#endif

#ifdef SMBRL_HAVE_PNG
static void test_png(const char *dir)
{
    const int w = 30, h = 20, s = 3;
    uint8_t *rgb = malloc((size_t)w * h * 3);
    for (int i = 0; i < w * h * 3; i++)
        rgb[i] = (uint8_t)(i * 31 + 7);
    char path[512], err[256];
    snprintf(path, sizeof path, "%s/frame.png", dir);
    CHECK(rec_png_write(path, rgb, w, h, s, err, sizeof err) == 0);
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    CHECK(png_image_begin_read_from_file(&img, path) != 0);
    CHECK_EQ_INT(img.width, w * s);
    CHECK_EQ_INT(img.height, h * s);
    img.format = PNG_FORMAT_RGB;
    uint8_t *back = malloc(PNG_IMAGE_SIZE(img));
    CHECK(png_image_finish_read(&img, NULL, back, 0, NULL) != 0);
    if (img.width == (unsigned)(w * s) && img.height == (unsigned)(h * s))
        CHECK(same_scaled(back, rgb, w, h, s));
    free(back);
    snprintf(path, sizeof path, "%s/no/such/dir/f.png", dir);
    CHECK(rec_png_write(path, rgb, w, h, 1, err, sizeof err) < 0);
    free(rgb);
}
#endif

#ifdef SMBRL_HAVE_GIF
/* Frames of the same greedy episode, taken straight from the emulator. */
typedef struct capture {
    uint8_t *frames;
    long n, cap;
    int hud;
} capture;

static int capture_frame(void *ctx, const env *e, const rec_step *s, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    capture *c = ctx;
    if (c->n >= c->cap)
        return -1;
    uint8_t *o = c->frames + (size_t)c->n * NES_WIDTH * NES_HEIGHT * 3;
    nes_frame_to_rgb(env_frame(e), NULL, o);
    (void)s;
    c->n++;
    return 0;
}

static void test_episode_gif(const char *dir)
{
    const char *roms = getenv("SMBRL_ROM_DIR");
    if (!roms || !*roms) {
        printf("SKIP part: SMBRL_ROM_DIR is not set; the recorded-episode check did not run\n");
        return;
    }
    char err[512], path[512];
    env_config cfg;
    env_config_default(&cfg);
    cfg.task = "SuperMarioBros-1-1-v0";
    cfg.actions = "simple";
    env_base *b;
    if (env_base_create(&b, &cfg, roms, err, sizeof err) < 0) {
        printf("SKIP part: %s\n", err);
        return;
    }
    nn_spec spec;
    nn_spec_marionet(&spec, ENV_STACK, ENV_OBS_H, ENV_OBS_W, env_base_actions(b)->n, 0);
    nn_model m;
    CHECK(nn_model_init(&m, &spec, err, sizeof err) == 0);
    rng r;
    rng_seed(&r, 5);
    nn_model_init_params(&m, &r);

    const long steps = 60;
    for (int hud = 0; hud <= 1; hud++) {
        rec_options opt;
        rec_options_default(&opt);
        opt.hud = hud;
        opt.max_steps = steps;
        opt.seed = 3;
        opt.epsilon = 0.5; /* varied actions, from the seeded rng */
        snprintf(path, sizeof path, "%s/episode_%d.gif", dir, hud);
        rec_episode ep;
        CHECK(rec_record_episode_gif(b, &m, &opt, path, &ep, err, sizeof err) == 0);
        /* capped at `steps`, or ended sooner by a death (seed 3 runs into the first Goomba) */
        CHECK(ep.length >= 20 && ep.length <= steps);
        CHECK_EQ_INT(ep.stopped, ep.length == steps);
        decoded d;
        CHECK(gif_decode(path, &d) == 0);
        CHECK_EQ_INT(d.n, ep.length + 1); /* the reset frame and one per step */
        CHECK_EQ_INT(d.w, NES_WIDTH);
        CHECK_EQ_INT(d.h, NES_HEIGHT + (hud ? REC_HUD_HEIGHT : 0));
        for (int i = 0; i < d.n; i++)
            CHECK_EQ_INT(d.delays[i], rec_gif_delay_cs(i, 4));

        /* the same episode again (same seed, same rng draws), frames from the emulator */
        env *e;
        CHECK(env_create_on(&e, b, opt.seed, err, sizeof err) == 0);
        capture c = {malloc((size_t)(steps + 1) * NES_WIDTH * NES_HEIGHT * 3), 0, steps + 1, hud};
        rng er;
        rng_seed(&er, opt.seed); /* record.h: epsilon draws come from opt->seed */
        rec_episode ep2;
        CHECK(rec_play_episode(e, &m, NULL, opt.epsilon, 0, &er, steps, capture_frame, &c, &ep2, err,
                               sizeof err) == 0);
        CHECK_EQ_INT(c.n, ep.length + 1);
        CHECK(ep2.ret == ep.ret && ep2.x_pos_max == ep.x_pos_max);
        size_t fsz = (size_t)d.w * d.h * 3, nes_sz = (size_t)NES_WIDTH * NES_HEIGHT * 3;
        int bad = 0, moved = 0;
        for (long i = 0; i < c.n && i < d.n; i++) {
            /* the NES picture part matches the emulator's frame exactly */
            if (memcmp(d.frames + i * fsz, c.frames + i * nes_sz, nes_sz)) {
                if (!bad)
                    fprintf(stderr, "GIF frame %ld (hud %d) differs from the emulator's\n", i, hud);
                bad++;
            }
            if (i > 0 && memcmp(c.frames + i * nes_sz, c.frames, nes_sz))
                moved = 1;
        }
        CHECK_EQ_INT(bad, 0);
        CHECK(moved); /* the episode shows more than one picture */
        if (hud && d.n > 1) {
            /* the HUD strip holds white text on black */
            long white = 0;
            const uint8_t *strip = d.frames + fsz + nes_sz;
            for (size_t k = 0; k < (size_t)NES_WIDTH * REC_HUD_HEIGHT; k++)
                white += strip[3 * k] == 255 && strip[3 * k + 1] == 255;
            CHECK(white > 100);
        }
        free(c.frames);
        env_free(e);
        decoded_free(&d);
    }
    nn_model_free(&m);
    env_base_free(b);
}
#endif


typedef struct action_count {
    long n[8];
} action_count;

static int count_action(void *ctx, const env *e, const rec_step *s, char *err, size_t errlen)
{
    (void)e, (void)err, (void)errlen;
    action_count *c = ctx;
    if (s->action >= 0 && s->action < 8)
        c->n[s->action]++;
    return 0;
}

/* A policy network whose weights are all zero has equal logits: argmax takes action 0
 * every step, sampling draws the actions uniformly. */
static void test_sample_actions(void)
{
    const char *roms = getenv("SMBRL_ROM_DIR");
    if (!roms || !*roms) {
        printf("SKIP part: SMBRL_ROM_DIR is not set; the sampled-action check did not run\n");
        return;
    }
    char err[512];
    env_config cfg;
    env_config_default(&cfg);
    cfg.task = "SuperMarioBros-1-1-v0";
    cfg.actions = "simple";
    cfg.obs = ENV_OBS_TILES;
    env *e;
    if (env_create(&e, &cfg, roms, err, sizeof err) < 0) {
        printf("SKIP part: %s\n", err);
        return;
    }
    const int A = env_num_actions(e);
    nn_spec spec;
    const int hidden[1] = {16};
    ppo_spec_mlp(&spec, ENV_STACK * ENV_TILES_SIZE, hidden, 1, A);
    nn_model m;
    CHECK(nn_model_init(&m, &spec, err, sizeof err) == 0);
    memset(m.params, 0, sizeof(float) * m.num_params);
    rng r;
    rng_seed(&r, 11);
    for (int sample = 0; sample <= 1; sample++) {
        action_count c;
        memset(&c, 0, sizeof c);
        long total = 0;
        while (total < 700) {
            rec_episode ep;
            CHECK(rec_play_episode(e, &m, NULL, 0.0, sample, &r, 100, count_action, &c, &ep, err,
                                   sizeof err) == 0);
            total += ep.length;
            if (ep.length == 0)
                break;
        }
        if (!sample) {
            CHECK_EQ_INT(c.n[0], total);
        } else {
            for (int a = 0; a < A; a++) /* 100 expected per action; the seed is fixed */
                if (c.n[a] < 60 || c.n[a] > 140) {
                    fprintf(stderr, "action %d drawn %ld times in %ld\n", a, c.n[a], total);
                    CHECK(0);
                }
        }
    }
    rec_episode ep;
    CHECK(rec_play_episode(e, &m, NULL, 0.0, 1, NULL, 10, NULL, NULL, &ep, err, sizeof err) < 0);
    nn_model_free(&m);
    env_free(e);
}

int main(void)
{
    char dir[] = "/tmp/smbrl_record_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    test_delays();
    test_hud();
    test_sample_actions();
#ifdef SMBRL_HAVE_GIF
    test_gif_synthetic(dir);
    test_episode_gif(dir);
#else
    printf("SKIP part: built without giflib\n");
#endif
#ifdef SMBRL_HAVE_PNG
    test_png(dir);
#else
    printf("SKIP part: built without libpng\n");
#endif
    if (!testlib_failures) { /* keep the files of a failed run for a look */
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    return testlib_finish("test_record");
}
