/* record.c: episode recordings (animated GIF through giflib, PNG through libpng's simplified
 * API), the HUD's 5x7 bitmap font, and the greedy-episode runner shared by `smbrl eval`
 * and the trainer's --record-every. See record.h for the GIF timing and size rules. */
#include "smbrl/record.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env/env_internal.h"

#ifdef SMBRL_HAVE_GIF
#include <errno.h>
#include <fcntl.h>
#include <gif_lib.h>
#include <unistd.h>
#endif
#ifdef SMBRL_HAVE_PNG
#include <png.h>
#endif

/* ---- timing ------------------------------------------------------------------------- */

int rec_gif_delay_cs(long index, int frame_skip)
{
    /* End of frame i in cs is round((i+1) * 100 * k / 60) = floor(((i+1) * 10k + 3) / 6):
     * integer arithmetic, so every frame of a long episode rounds the same way. */
    long k = frame_skip > 0 ? frame_skip : 1;
    long end = ((index + 1) * 10 * k + 3) / 6, start = (index * 10 * k + 3) / 6;
    return (int)(end - start);
}

/* ---- HUD font ----------------------------------------------------------------------- */

/* 5x7 glyphs, one byte per row, bit 4 the leftmost pixel. */
static const char font_chars[] = " 0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-.:?+/=";
static const uint8_t font_rows[][7] = {
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, /* space */
    {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}, /* 0 */
    {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}, /* 1 */
    {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}, /* 2 */
    {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}, /* 3 */
    {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}, /* 4 */
    {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}, /* 5 */
    {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}, /* 6 */
    {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}, /* 7 */
    {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}, /* 8 */
    {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}, /* 9 */
    {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}, /* A */
    {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}, /* B */
    {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}, /* C */
    {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C}, /* D */
    {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}, /* E */
    {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10}, /* F */
    {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}, /* G */
    {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}, /* H */
    {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}, /* I */
    {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C}, /* J */
    {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}, /* K */
    {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}, /* L */
    {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}, /* M */
    {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}, /* N */
    {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}, /* O */
    {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}, /* P */
    {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}, /* Q */
    {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}, /* R */
    {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}, /* S */
    {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}, /* T */
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}, /* U */
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04}, /* V */
    {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}, /* W */
    {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11}, /* X */
    {0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04}, /* Y */
    {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F}, /* Z */
    {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00}, /* - */
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C}, /* . */
    {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00}, /* : */
    {0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04}, /* ? */
    {0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00}, /* + */
    {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00}, /* / */
    {0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00}, /* = */
};

static int glyph_index(char c)
{
    if (c >= 'a' && c <= 'z')
        c = (char)(c - 'a' + 'A');
    if (c == '\0')
        return -1;
    const char *p = strchr(font_chars, c);
    return p ? (int)(p - font_chars) : -1;
}

int rec_hud_has_glyph(char c) { return glyph_index(c) >= 0; }

void rec_hud_draw(uint8_t *rgb, int w, int y0, const char *text)
{
    memset(rgb + (size_t)y0 * w * 3, 0, (size_t)w * REC_HUD_HEIGHT * 3);
    int x = 2;
    for (const char *p = text; *p && x + 5 <= w; p++, x += REC_HUD_CELL) {
        int g = glyph_index(*p);
        if (g < 0)
            g = glyph_index('?');
        for (int r = 0; r < 7; r++)
            for (int c = 0; c < 5; c++)
                if (font_rows[g][r] & (0x10 >> c))
                    memset(rgb + (((size_t)(y0 + 2 + r) * w) + (size_t)(x + c)) * 3, 255, 3);
    }
}

/* ---- GIF -------------------------------------------------------------------------------- */

#ifdef SMBRL_HAVE_GIF
struct rec_gif {
    GifFileType *gf;
    int w, h, scale, frame_skip;
    long frames;
    int failed;
    uint8_t *prev;     /* the last frame written, w*h*3 */
    uint8_t *index;    /* colour indices of the changed rectangle, w*h */
    uint8_t *planes;   /* R, G, B planes for GifQuantizeBuffer, 3*w*h */
    GifByteType *line; /* one scaled output row */
    /* colour -> index, open addressing over 24-bit colours (+1, 0 = empty) */
    uint32_t key[1024];
    uint8_t val[1024];
};

static int gif_fail(rec_gif *g, int code, const char *what, char *err, size_t errlen)
{
    g->failed = 1;
    const char *s = GifErrorString(code);
    snprintf(err, errlen, "GIF %s: %s", what, s ? s : "unknown giflib error");
    return -1;
}

int rec_gif_open(rec_gif **out, const char *path, int width, int height, int scale,
                 int frame_skip, char *err, size_t errlen)
{
    *out = NULL;
    if (width < 1 || height < 1 || scale < 1 || scale > 8 || width * scale > 65535 ||
        height * scale > 65535) {
        snprintf(err, errlen, "GIF %s: bad size %dx%d at scale %d (scale is 1..8)", path, width,
                 height, scale);
        return -1;
    }
    rec_gif *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(err, errlen, "GIF %s: out of memory", path);
        return -1;
    }
    g->w = width;
    g->h = height;
    g->scale = scale;
    g->frame_skip = frame_skip > 0 ? frame_skip : 1;
    size_t px = (size_t)width * height;
    g->prev = malloc(px * 3);
    g->index = malloc(px);
    g->planes = malloc(px * 3);
    g->line = malloc((size_t)width * scale);
    if (!g->prev || !g->index || !g->planes || !g->line) {
        snprintf(err, errlen, "GIF %s: out of memory", path);
        rec_gif_close(g, NULL, 0);
        return -1;
    }
    /* our own open(): EGifOpenFileName would create the file readable by its owner only */
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0666), code = 0;
    if (fd < 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        rec_gif_close(g, NULL, 0);
        return -1;
    }
    g->gf = EGifOpenFileHandle(fd, &code);
    if (!g->gf) {
        const char *s = GifErrorString(code);
        snprintf(err, errlen, "cannot write %s: %s", path, s ? s : "giflib error");
        close(fd);
        rec_gif_close(g, NULL, 0);
        return -1;
    }
    EGifSetGifVersion(g->gf, true);
    if (EGifPutScreenDesc(g->gf, width * scale, height * scale, 8, 0, NULL) == GIF_ERROR) {
        gif_fail(g, g->gf->Error, "screen descriptor", err, errlen);
        rec_gif_close(g, NULL, 0);
        return -1;
    }
    /* NETSCAPE2.0 application extension: loop count 0 = forever */
    static const GifByteType loop[3] = {1, 0, 0};
    if (EGifPutExtensionLeader(g->gf, APPLICATION_EXT_FUNC_CODE) == GIF_ERROR ||
        EGifPutExtensionBlock(g->gf, 11, "NETSCAPE2.0") == GIF_ERROR ||
        EGifPutExtensionBlock(g->gf, 3, loop) == GIF_ERROR ||
        EGifPutExtensionTrailer(g->gf) == GIF_ERROR) {
        gif_fail(g, g->gf->Error, "loop extension", err, errlen);
        rec_gif_close(g, NULL, 0);
        return -1;
    }
    *out = g;
    return 0;
}

long rec_gif_frames(const rec_gif *g) { return g->frames; }

/* Index of colour c in the table being built, adding it; -1 when the table is full. */
static int colour_index(rec_gif *g, uint32_t c, int *n, GifColorType *map)
{
    uint32_t h = (c * 2654435761u) >> 22; /* 10 bits */
    for (;; h = (h + 1) & 1023) {
        if (g->key[h] == c + 1)
            return g->val[h];
        if (g->key[h] == 0) {
            if (*n == 256)
                return -1;
            g->key[h] = c + 1;
            g->val[h] = (uint8_t)*n;
            map[*n].Red = (GifByteType)(c >> 16);
            map[*n].Green = (GifByteType)(c >> 8);
            map[*n].Blue = (GifByteType)c;
            return (*n)++;
        }
    }
}

int rec_gif_add(rec_gif *g, const uint8_t *rgb, char *err, size_t errlen)
{
    if (g->failed) {
        snprintf(err, errlen, "GIF: an earlier write failed");
        return -1;
    }
    const int w = g->w, h = g->h, s = g->scale;
    /* the rectangle that changed since the last frame (all of the first) */
    int x0 = 0, y0 = 0, x1 = w - 1, y1 = h - 1;
    if (g->frames > 0) {
        x0 = w;
        y0 = h;
        x1 = -1;
        y1 = -1;
        for (int y = 0; y < h; y++) {
            const uint8_t *a = rgb + (size_t)y * w * 3, *b = g->prev + (size_t)y * w * 3;
            if (!memcmp(a, b, (size_t)w * 3))
                continue;
            int l = 0, r = w - 1;
            while (!memcmp(a + 3 * l, b + 3 * l, 3))
                l++;
            while (!memcmp(a + 3 * r, b + 3 * r, 3))
                r--;
            if (l < x0) x0 = l;
            if (r > x1) x1 = r;
            if (y < y0) y0 = y;
            y1 = y;
        }
        if (x1 < 0) /* nothing changed: a 1x1 frame still carries the delay */
            x0 = x1 = y0 = y1 = 0;
    }
    const int rw = x1 - x0 + 1, rh = y1 - y0 + 1;
    GifColorType colours[256];
    int n = 0, over = 0;
    memset(g->key, 0, sizeof g->key);
    for (int y = 0; y < rh && !over; y++)
        for (int x = 0; x < rw; x++) {
            const uint8_t *p = rgb + ((size_t)(y0 + y) * w + (x0 + x)) * 3;
            int i = colour_index(g, (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2], &n, colours);
            if (i < 0) {
                over = 1;
                break;
            }
            g->index[(size_t)y * rw + x] = (uint8_t)i;
        }
    if (over) {
        size_t m = (size_t)rw * rh;
        GifByteType *R = g->planes, *G = R + m, *B = G + m;
        for (int y = 0; y < rh; y++)
            for (int x = 0; x < rw; x++) {
                const uint8_t *p = rgb + ((size_t)(y0 + y) * w + (x0 + x)) * 3;
                size_t k = (size_t)y * rw + x;
                R[k] = p[0];
                G[k] = p[1];
                B[k] = p[2];
            }
        n = 256;
        if (GifQuantizeBuffer((unsigned)rw, (unsigned)rh, &n, R, G, B, g->index, colours) ==
            GIF_ERROR) {
            g->failed = 1;
            snprintf(err, errlen, "GIF: colour quantisation failed");
            return -1;
        }
    }
    int size = 2;
    while (size < n)
        size *= 2;
    for (int i = n; i < size; i++)
        colours[i] = colours[0];
    ColorMapObject *map = GifMakeMapObject(size, colours);
    if (!map) {
        g->failed = 1;
        snprintf(err, errlen, "GIF: out of memory");
        return -1;
    }
    GraphicsControlBlock gcb = {.DisposalMode = DISPOSE_DO_NOT,
                                .UserInputFlag = false,
                                .DelayTime = rec_gif_delay_cs(g->frames, g->frame_skip),
                                .TransparentColor = NO_TRANSPARENT_COLOR};
    GifByteType ext[4];
    size_t elen = EGifGCBToExtension(&gcb, ext);
    int rc = EGifPutExtension(g->gf, GRAPHICS_EXT_FUNC_CODE, (int)elen, ext);
    if (rc != GIF_ERROR)
        rc = EGifPutImageDesc(g->gf, x0 * s, y0 * s, rw * s, rh * s, false, map);
    GifFreeMapObject(map);
    for (int y = 0; y < rh && rc != GIF_ERROR; y++) {
        const uint8_t *src = g->index + (size_t)y * rw;
        for (int x = 0; x < rw; x++)
            memset(g->line + (size_t)x * s, src[x], (size_t)s);
        for (int r = 0; r < s && rc != GIF_ERROR; r++)
            rc = EGifPutLine(g->gf, g->line, rw * s);
    }
    if (rc == GIF_ERROR)
        return gif_fail(g, g->gf->Error, "frame", err, errlen);
    memcpy(g->prev, rgb, (size_t)w * h * 3);
    g->frames++;
    return 0;
}

int rec_gif_close(rec_gif *g, char *err, size_t errlen)
{
    if (!g)
        return 0;
    int rc = g->failed ? -1 : 0;
    if (g->failed && err)
        snprintf(err, errlen, "GIF: an earlier write failed");
    if (g->gf) {
        int code = 0;
        if (EGifCloseFile(g->gf, &code) == GIF_ERROR && rc == 0) {
            const char *s = GifErrorString(code);
            if (err)
                snprintf(err, errlen, "GIF close: %s", s ? s : "giflib error");
            rc = -1;
        }
    }
    free(g->prev);
    free(g->index);
    free(g->planes);
    free(g->line);
    free(g);
    return rc;
}
#else
struct rec_gif {
    int unused;
};
int rec_gif_open(rec_gif **out, const char *path, int width, int height, int scale,
                 int frame_skip, char *err, size_t errlen)
{
    (void)width, (void)height, (void)scale, (void)frame_skip;
    *out = NULL;
    snprintf(err, errlen, "cannot write %s: this build has no giflib (install libgif-dev and rebuild)", path);
    return -1;
}
int rec_gif_add(rec_gif *g, const uint8_t *rgb, char *err, size_t errlen)
{
    (void)g, (void)rgb;
    snprintf(err, errlen, "this build has no giflib");
    return -1;
}
long rec_gif_frames(const rec_gif *g) { (void)g; return 0; }
int rec_gif_close(rec_gif *g, char *err, size_t errlen)
{
    (void)g, (void)err, (void)errlen;
    return 0;
}
#endif

/* ---- PNG ---------------------------------------------------------------------------------- */

int rec_png_write(const char *path, const uint8_t *rgb, int w, int h, int scale, char *err,
                  size_t errlen)
{
#ifdef SMBRL_HAVE_PNG
    if (w < 1 || h < 1 || scale < 1 || scale > 8) {
        snprintf(err, errlen, "PNG %s: bad size %dx%d at scale %d (scale is 1..8)", path, w, h, scale);
        return -1;
    }
    const uint8_t *src = rgb;
    uint8_t *big = NULL;
    if (scale > 1) {
        size_t W = (size_t)w * scale;
        big = malloc(W * h * scale * 3);
        if (!big) {
            snprintf(err, errlen, "PNG %s: out of memory", path);
            return -1;
        }
        for (int y = 0; y < h; y++) {
            uint8_t *row = big + (size_t)y * scale * W * 3;
            for (int x = 0; x < w; x++)
                for (int k = 0; k < scale; k++)
                    memcpy(row + ((size_t)x * scale + k) * 3, rgb + ((size_t)y * w + x) * 3, 3);
            for (int k = 1; k < scale; k++)
                memcpy(row + (size_t)k * W * 3, row, W * 3);
        }
        src = big;
    }
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)(w * scale);
    img.height = (png_uint_32)(h * scale);
    img.format = PNG_FORMAT_RGB;
    int ok = png_image_write_to_file(&img, path, 0, src, 0, NULL);
    free(big);
    if (!ok) {
        snprintf(err, errlen, "cannot write %s: %s", path, img.message);
        png_image_free(&img);
        return -1;
    }
    return 0;
#else
    (void)rgb, (void)w, (void)h, (void)scale;
    snprintf(err, errlen, "cannot write %s: this build has no libpng (install libpng-dev and rebuild)", path);
    return -1;
#endif
}

/* ---- episodes ------------------------------------------------------------------------------ */

int rec_compose_frame(const env *e, const rec_step *s, int hud, uint8_t *rgb)
{
    env_render_rgb(e, rgb);
    if (!hud)
        return NES_HEIGHT;
    char act[48] = "-";
    if (s->action >= 0) {
        const env_action_set *as = env_base_actions(env_get_base(e));
        if (as->labels)
            snprintf(act, sizeof act, "%s", as->labels[s->action]);
        else
            env_buttons_name(as->buttons[s->action], act, sizeof act);
    }
    char text[96];
    snprintf(text, sizeof text, "STEP %ld %s RET %.0f X %d", s->step, act, s->ret,
             s->info ? s->info->x_pos : 0);
    rec_hud_draw(rgb, NES_WIDTH, NES_HEIGHT, text);
    return NES_HEIGHT + REC_HUD_HEIGHT;
}

static int argmax(const float *q, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (q[i] > q[best])
            best = i;
    return best;
}

/* The tile stack [ENV_STACK, 13, 16] of a pixel env, built from its RAM exactly as a tiles
 * env builds it (the grid of the RAM after each step, newest last; reset fills the stack):
 * a tiles model can then be watched on a rendering env. */
static void ram_tiles_push(env *e, uint8_t *obs, int reset)
{
    uint8_t grid[ENV_TILES_SIZE];
    env_tiles_grid(nes_ram(env_nes(e)), grid);
    if (reset) {
        for (int i = 0; i < ENV_STACK; i++)
            memcpy(obs + (size_t)i * ENV_TILES_SIZE, grid, ENV_TILES_SIZE);
        return;
    }
    memmove(obs, obs + ENV_TILES_SIZE, (size_t)(ENV_STACK - 1) * ENV_TILES_SIZE);
    memcpy(obs + (size_t)(ENV_STACK - 1) * ENV_TILES_SIZE, grid, ENV_TILES_SIZE);
}

/* An action drawn from softmax(logits[0..n)). */
static int sample_softmax(const float *logits, int n, rng *r)
{
    float mx = logits[argmax(logits, n)];
    double p[256], sum = 0;
    for (int i = 0; i < n; i++)
        sum += p[i] = exp((double)(logits[i] - mx));
    double u = rng_uniform(r) * sum;
    for (int i = 0; i < n - 1; i++) {
        u -= p[i];
        if (u < 0)
            return i;
    }
    return n - 1;
}

int rec_play_episode(env *e, const nn_model *m, nn_work *w, double epsilon, int sample, rng *r,
                     long max_steps, rec_frame_fn fn, void *ctx, rec_episode *out, char *err,
                     size_t errlen)
{
    memset(out, 0, sizeof *out);
    const int A = env_num_actions(e);
    const env_base *b = env_get_base(e);
    const size_t in = (size_t)m->spec.in_c * (size_t)m->spec.in_h * (size_t)m->spec.in_w;
    const size_t env_size = env_obs_size(b);
    /* a model trained on tiles, played on a pixel env (to see it): tiles from the RAM */
    const int ram_tiles = in != env_size && in == (size_t)ENV_STACK * ENV_TILES_SIZE &&
                          b->cfg.obs == ENV_OBS_PIXELS;
    /* PPO models end in the policy logits and the value: act on the logits */
    const int policy_value = m->spec.num_layers > 0 &&
                             m->spec.layers[m->spec.num_layers - 1].kind == NN_POLICY_VALUE;
    if ((in != env_size && !ram_tiles) || m->out_dim != A + policy_value) {
        int c, h, wd;
        env_obs_shape(b, &c, &h, &wd);
        snprintf(err, errlen,
                 "the model takes %zu bytes and gives %d values; the env gives (%d,%d,%d) and has %d actions",
                 in, m->out_dim, c, h, wd, A);
        return -1;
    }
    if ((epsilon > 0.0 || sample) && !r) {
        snprintf(err, errlen, "epsilon %.3g or sampling needs a random generator", epsilon);
        return -1;
    }
    if (sample && !policy_value) {
        snprintf(err, errlen, "only a policy network (PPO) can sample its actions");
        return -1;
    }
    nn_work own;
    int owned = 0;
    if (!w) {
        if (nn_work_init(&own, m, 1, 1, err, errlen) < 0)
            return -1;
        w = &own;
        owned = 1;
    }
    uint8_t *obs = malloc(env_size > in ? env_size : in);
    int rc = 0;
    if (!obs) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
        goto done;
    }
    env_info info;
    env_reset(e, obs, &info);
    if (ram_tiles)
        ram_tiles_push(e, obs, 1);
    rec_step s = {0, -1, 0.0f, 0.0, 0, &info};
    int stop = fn ? fn(ctx, e, &s, err, errlen) : 0;
    while (stop == 0 && !s.done) {
        if (max_steps > 0 && s.step >= max_steps) {
            stop = 1;
            break;
        }
        int a;
        if (epsilon > 0.0 && rng_uniform(r) < epsilon) {
            a = (int)rng_below(r, (uint32_t)A);
        } else {
            const float *q = nn_forward(m, w, obs, 1);
            if (!q) {
                snprintf(err, errlen, "the work buffers do not hold a batch of 1");
                rc = -1;
                goto done;
            }
            a = sample ? sample_softmax(q, A, r) : argmax(q, A);
        }
        float rew;
        int d;
        if (env_step(e, a, ram_tiles ? NULL : obs, &rew, &d, &info, err, errlen) < 0) {
            rc = -1;
            goto done;
        }
        if (ram_tiles)
            ram_tiles_push(e, obs, 0);
        s.step++;
        s.action = a;
        s.reward = rew;
        s.ret += rew;
        s.done = d;
        if (fn)
            stop = fn(ctx, e, &s, err, errlen);
    }
    if (stop < 0) {
        rc = -1;
        goto done;
    }
    out->ret = s.ret;
    out->length = s.step;
    out->x_pos = info.x_pos;
    out->x_pos_max = info.x_pos_max > info.x_pos ? info.x_pos_max : info.x_pos;
    out->flag = info.flag_get;
    out->time_left = info.time;
    out->world = info.world;
    out->stage = info.stage;
    out->stopped = !s.done;
done:
    free(obs);
    if (owned)
        nn_work_free(&own);
    return rc;
}

void rec_options_default(rec_options *o)
{
    memset(o, 0, sizeof *o);
    o->scale = 1;
    o->hud = 1;
}

struct gif_ctx {
    rec_gif *gif;
    int hud;
    uint8_t *rgb;
};

static int gif_frame(void *ctx, const env *e, const rec_step *s, char *err, size_t errlen)
{
    struct gif_ctx *c = ctx;
    rec_compose_frame(e, s, c->hud, c->rgb);
    return rec_gif_add(c->gif, c->rgb, err, errlen);
}

int rec_record_episode_gif(const env_base *b, const nn_model *m, const rec_options *opt,
                           const char *gif_path, rec_episode *out, char *err, size_t errlen)
{
    rec_options def;
    if (!opt) {
        rec_options_default(&def);
        opt = &def;
    }
    if (!b->cfg.pixels) {
        snprintf(err, errlen, "cannot record %s: the env base renders no pixels", gif_path);
        return -1;
    }
    env *e = NULL;
    if (env_create_on(&e, b, opt->seed, err, errlen) < 0)
        return -1;
    struct gif_ctx c = {NULL, opt->hud, malloc((size_t)NES_WIDTH * (NES_HEIGHT + REC_HUD_HEIGHT) * 3)};
    int rc = -1;
    rec_episode ep;
    rng r;
    rng_seed(&r, opt->seed);
    if (!c.rgb) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    if (rec_gif_open(&c.gif, gif_path, NES_WIDTH, NES_HEIGHT + (opt->hud ? REC_HUD_HEIGHT : 0),
                     opt->scale, b->cfg.frame_skip, err, errlen) < 0)
        goto done;
    rc = rec_play_episode(e, m, NULL, opt->epsilon, opt->sample, &r, opt->max_steps, gif_frame, &c, &ep, err,
                          errlen);
    char cerr[256];
    if (rec_gif_close(c.gif, cerr, sizeof cerr) < 0 && rc == 0) {
        snprintf(err, errlen, "%s", cerr);
        rc = -1;
    }
    if (rc == 0 && out)
        *out = ep;
done:
    free(c.rgb);
    env_free(e);
    return rc;
}
