/* obs.c: owns the pixel side of the observation pipeline: palette index to
 * grayscale, optional max of two frames, and the area-averaging resize of the
 * full 256x240 frame to 84x84 uint8.
 *
 * What this computes, exactly: gray(i) = 0.2989 R + 0.587 G + 0.114 B of
 * nes_palette_rgb[i] (torchvision's Grayscale weights), in float. Output pixel
 * (oy, ox) is the mean of the gray image over the rectangle
 * [ox*256/84, (ox+1)*256/84) x [oy*240/84, (oy+1)*240/84), each input pixel
 * weighted by its overlap with it (a box filter: OpenCV's INTER_AREA and
 * PyTorch's adaptive average pooling with fractional edges), rounded to nearest.
 * The tutorial instead uses torchvision Resize(antialias=True), a triangle filter
 * of support 2*scale: smoother, and in float without rounding. The difference on
 * real frames is reported in bench/RESULTS.md's Environment section. */
#include <math.h>
#include <string.h>

#include "smbrl/env.h"

/* Weights of n_in -> n_out box averaging: output o gathers 5 inputs from start[o]. */
static void area_weights(int n_in, int n_out, int16_t *start, float (*w)[5])
{
    double s = (double)n_in / n_out;
    for (int o = 0; o < n_out; o++) {
        double lo = o * s, hi = (o + 1) * s;
        int i0 = (int)floor(lo);
        if (i0 > n_in - 5)
            i0 = n_in - 5;
        start[o] = (int16_t)i0;
        for (int k = 0; k < 5; k++) {
            double a = i0 + k, b = a + 1;
            double ov = (b < hi ? b : hi) - (a > lo ? a : lo);
            w[o][k] = ov > 0 ? (float)(ov / s) : 0.0f;
        }
    }
}

void env_obs_tables_init(env_obs_tables *t)
{
    for (int i = 0; i < 64; i++)
        t->gray[i] = 0.2989f * nes_palette_rgb[i][0] + 0.587f * nes_palette_rgb[i][1] +
                     0.114f * nes_palette_rgb[i][2];
    for (int a = 0; a < 64; a++)
        for (int b = 0; b < 64; b++) {
            t->gray2[a << 6 | b][0] = t->gray[a];
            t->gray2[a << 6 | b][1] = t->gray[b];
        }
    area_weights(NES_WIDTH, ENV_OBS_W, t->x0, t->wx);
    area_weights(NES_HEIGHT, ENV_OBS_H, t->y0, t->wy);
    /* the same vertical weights seen from the input side */
    for (int y = 0; y < NES_HEIGHT; y++) {
        t->ry[y] = -1;
        t->rw[y][0] = t->rw[y][1] = 0.0f;
    }
    for (int oy = 0; oy < ENV_OBS_H; oy++)
        for (int k = 0; k < 5; k++) {
            int y = t->y0[oy] + k;
            float w = t->wy[oy][k];
            if (w <= 0.0f)
                continue;
            if (t->ry[y] < 0)
                t->ry[y] = (int16_t)oy;
            t->rw[y][oy - t->ry[y]] = w;
        }
}

/* The reference form: gather 5x5 input pixels per output pixel. Kept beside the
 * fast path below, which test_obs compares it with. */
void env_obs_process_ref(const env_obs_tables *t, const uint8_t *pixels, const uint8_t *prev,
                         uint8_t *out)
{
    for (int oy = 0; oy < ENV_OBS_H; oy++)
        for (int ox = 0; ox < ENV_OBS_W; ox++) {
            float s = 0.0f;
            for (int ky = 0; ky < 5; ky++) {
                size_t row = (size_t)(t->y0[oy] + ky) * NES_WIDTH;
                float h = 0.0f;
                for (int kx = 0; kx < 5; kx++) {
                    size_t i = row + (size_t)(t->x0[ox] + kx);
                    float g = t->gray[pixels[i] & 63];
                    if (prev && t->gray[prev[i] & 63] > g)
                        g = t->gray[prev[i] & 63];
                    h += t->wx[ox][kx] * g;
                }
                s += t->wy[oy][ky] * h;
            }
            s += 0.5f;
            out[oy * ENV_OBS_W + ox] = s >= 255.0f ? 255 : s <= 0.0f ? 0 : (uint8_t)s;
        }
}

/* Fast path: each input row is looked up once and added into its (at most two)
 * output rows with contiguous, vectorisable loops; then 84 short rows are
 * averaged horizontally. */
void env_obs_process(const env_obs_tables *t, const uint8_t *pixels, const uint8_t *prev,
                     uint8_t *out)
{
    float v[ENV_OBS_H + 1][NES_WIDTH]; /* one spare row: the last input row's second target */
    float g[NES_WIDTH];
    memset(v, 0, sizeof v);
    for (int y = 0; y < NES_HEIGHT; y++) {
        const uint8_t *p = pixels + (size_t)y * NES_WIDTH;
        if (prev) {
            const uint8_t *q = prev + (size_t)y * NES_WIDTH;
            for (int x = 0; x < NES_WIDTH; x++) {
                float a = t->gray[p[x] & 63], b = t->gray[q[x] & 63];
                g[x] = a > b ? a : b;
            }
        } else {
            for (int x = 0; x < NES_WIDTH; x += 2)
                memcpy(g + x, t->gray2[(p[x] & 63) << 6 | (p[x + 1] & 63)], 2 * sizeof(float));
        }
        float *v0 = v[t->ry[y]], *v1 = v[t->ry[y] + 1];
        const float w0 = t->rw[y][0], w1 = t->rw[y][1];
        for (int x = 0; x < NES_WIDTH; x++)
            v0[x] += w0 * g[x];
        if (w1 != 0.0f)
            for (int x = 0; x < NES_WIDTH; x++)
                v1[x] += w1 * g[x];
    }
    for (int oy = 0; oy < ENV_OBS_H; oy++) {
        uint8_t *o = out + (size_t)oy * ENV_OBS_W;
        for (int ox = 0; ox < ENV_OBS_W; ox++) {
            const float *gx = v[oy] + t->x0[ox], *w = t->wx[ox];
            float s = w[0] * gx[0] + w[1] * gx[1] + w[2] * gx[2] + w[3] * gx[3] + w[4] * gx[4];
            s += 0.5f;
            o[ox] = s >= 255.0f ? 255 : s <= 0.0f ? 0 : (uint8_t)s;
        }
    }
}

void env_obs_gray_full(const env_obs_tables *t, const uint8_t *pixels, uint8_t *out)
{
    for (size_t i = 0; i < (size_t)NES_WIDTH * NES_HEIGHT; i++) {
        float v = t->gray[pixels[i] & 63] + 0.5f;
        out[i] = v >= 255.0f ? 255 : (uint8_t)v;
    }
}
