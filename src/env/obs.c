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
    area_weights(NES_WIDTH, ENV_OBS_W, t->x0, t->wx);
    area_weights(NES_HEIGHT, ENV_OBS_H, t->y0, t->wy);
}

void env_obs_process(const env_obs_tables *t, const uint8_t *pixels, const uint8_t *prev,
                     uint8_t *out)
{
    float h[NES_HEIGHT][ENV_OBS_W]; /* rows averaged horizontally */
    float g[NES_WIDTH];
    for (int y = 0; y < NES_HEIGHT; y++) {
        const uint8_t *p = pixels + (size_t)y * NES_WIDTH;
        if (prev) {
            const uint8_t *q = prev + (size_t)y * NES_WIDTH;
            for (int x = 0; x < NES_WIDTH; x++) {
                float a = t->gray[p[x] & 63], b = t->gray[q[x] & 63];
                g[x] = a > b ? a : b;
            }
        } else {
            for (int x = 0; x < NES_WIDTH; x++)
                g[x] = t->gray[p[x] & 63];
        }
        for (int ox = 0; ox < ENV_OBS_W; ox++) {
            const float *gx = g + t->x0[ox], *w = t->wx[ox];
            h[y][ox] = w[0] * gx[0] + w[1] * gx[1] + w[2] * gx[2] + w[3] * gx[3] + w[4] * gx[4];
        }
    }
    for (int oy = 0; oy < ENV_OBS_H; oy++) {
        const float *w = t->wy[oy];
        const int y0 = t->y0[oy];
        uint8_t *o = out + (size_t)oy * ENV_OBS_W;
        for (int ox = 0; ox < ENV_OBS_W; ox++) {
            float v = w[0] * h[y0][ox] + w[1] * h[y0 + 1][ox] + w[2] * h[y0 + 2][ox] +
                      w[3] * h[y0 + 3][ox] + w[4] * h[y0 + 4][ox];
            v += 0.5f;
            o[ox] = v >= 255.0f ? 255 : v <= 0.0f ? 0 : (uint8_t)v;
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
