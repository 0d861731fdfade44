/* record.h: watching agents: animated GIFs (giflib) and PNG frames (libpng) of episodes,
 * a one-line HUD under the picture in a tiny built-in font, and a greedy-episode runner
 * that the evaluator and the trainer's --record-every share.
 *
 * GIF timing. NES video runs at 60 frames/s (60.0988 really; we use 60) and one recorded
 * frame stands for frame_skip of them, so each lasts frame_skip * 100 / 60 centiseconds,
 * which is rarely a whole number (4/60 s = 6.67 cs). Frame i gets
 * round((i+1) * T) - round(i * T) cs with T = frame_skip * 100 / 60: the error never
 * adds up, and frame skip 4 gives 7, 6, 7, 7, 6, 7, ... (20 cs per 3 frames, exact).
 * Browsers show delays under 2 cs as 10 cs, so frame skip 1 (1.67 cs) plays slower
 * there; the smbrl tools record with the agent's frame skip, 4 by default.
 *
 * GIF size. Each frame after the first stores only the rectangle that changed since
 * the previous one (disposal "leave in place"), with its own colour table of the colours
 * it uses: NES frames have at most 64, so no quantisation; a frame with more than 256
 * (an RGB source other than the NES) goes through giflib's GifQuantizeBuffer.
 *
 * Library code: nothing here prints; errors come back as a negative return and a line in err. */
#ifndef SMBRL_RECORD_H
#define SMBRL_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "smbrl/env.h"
#include "smbrl/nn.h"
#include "smbrl/rng.h"

/* ---- frame timing ------------------------------------------------------------------ */

/* Delay of recorded frame `index` (0-based) in GIF centiseconds, as described above. */
int rec_gif_delay_cs(long index, int frame_skip);

/* ---- animated GIF -------------------------------------------------------------------- */

typedef struct rec_gif rec_gif;

/* Starts `path` for frames of width x height RGB pixels, written `scale` times larger
 * (1..8) and looping forever. The file is complete only after rec_gif_close. */
int rec_gif_open(rec_gif **out, const char *path, int width, int height, int scale,
                 int frame_skip, char *err, size_t errlen);
/* Appends one frame: width * height * 3 bytes, rows top to bottom. */
int rec_gif_add(rec_gif *g, const uint8_t *rgb, char *err, size_t errlen);
long rec_gif_frames(const rec_gif *g);
/* Finishes and closes the file; returns the first error met. NULL is a no-op. */
int rec_gif_close(rec_gif *g, char *err, size_t errlen);

/* ---- PNG ------------------------------------------------------------------------------ */

/* Writes one RGB picture (w * h * 3 bytes) as an 8-bit RGB PNG, scaled by `scale` (1..8). */
int rec_png_write(const char *path, const uint8_t *rgb, int w, int h, int scale, char *err,
                  size_t errlen);

/* ---- HUD -------------------------------------------------------------------------------- */

/* Rows the HUD strip adds under a picture: 7-pixel glyphs with a 2-pixel margin above and
 * below. Glyphs are 5x7 in a 6-pixel cell, so a 256-pixel line holds 42 characters. */
#define REC_HUD_HEIGHT 11
#define REC_HUD_CELL 6

/* Fills rows [y0, y0 + REC_HUD_HEIGHT) of a w-wide RGB picture with black and writes
 * `text` in white from x = 2. Lower case is drawn as upper case; characters the font lacks
 * are drawn as '?'; text that does not fit is cut. */
void rec_hud_draw(uint8_t *rgb, int w, int y0, const char *text);
/* 1 when the font has a glyph for c (after upper-casing). */
int rec_hud_has_glyph(char c);

/* ---- episodes -------------------------------------------------------------------------- */

/* What one step looked like, for a per-frame callback. step 0 is the frame after reset
 * (action -1, reward 0). */
typedef struct rec_step {
    long step;
    int action;        /* index into the env's action set, -1 on the reset frame */
    float reward;
    double ret;        /* return so far */
    int done;
    const env_info *info;
} rec_step;

/* Called after reset and after every step; a non-zero return stops the episode early
 * (negative: an error, with err filled; positive: stop quietly, as a closed window does). */
typedef int (*rec_frame_fn)(void *ctx, const env *e, const rec_step *s, char *err, size_t errlen);

typedef struct rec_episode {
    double ret;
    long length;       /* agent steps */
    int x_pos;         /* x_pos at the end */
    int x_pos_max;     /* furthest x_pos reached */
    int flag;          /* flag_get at the end */
    int time_left;     /* game clock at the end */
    int world, stage;
    int stopped;       /* 1 when the callback or max_steps ended it before done */
} rec_episode;

/* Plays one episode from env_reset: the action is argmax of m's output for the current
 * observation (ties: the lowest index), or with probability epsilon a uniform random one
 * from r, or with `sample` (policy networks only) drawn from softmax(logits) with r: a
 * PPO policy is trained stochastic, and its argmax can stand still where the sampled
 * policy gets past (r may be NULL when epsilon is 0 and sample is 0). w must hold a batch of 1 for m (NULL: one is
 * made and freed here). max_steps <= 0: no cap. fn may be NULL. m's input must be the
 * env's observation (env_obs_size bytes), or a tile stack [4,13,16] on a pixel env (built
 * from the RAM after each step as a tiles env builds it, so a tiles model can be watched),
 * and its output the env's number of actions, or that plus one for a policy + value head
 * (PPO: argmax of the logits). */
int rec_play_episode(env *e, const nn_model *m, nn_work *w, double epsilon, int sample, rng *r,
                     long max_steps, rec_frame_fn fn, void *ctx, rec_episode *out, char *err,
                     size_t errlen);

/* Options of one recorded episode. */
typedef struct rec_options {
    int scale;         /* 1 (NES resolution) or more; default 1 */
    int hud;           /* 1: add the HUD line (step, action, return, x); default 1 */
    double epsilon;    /* default 0: greedy */
    int sample;        /* 1: sample a policy network's actions (rec_play_episode); default 0 */
    long max_steps;    /* default 0: the episode's own end (the game clock runs out at the latest) */
    uint64_t seed;     /* the env's seed (sticky actions, no-op starts, random stages); epsilon
                          draws come from an rng seeded with it (rng_seed(&r, seed)) */
} rec_options;

void rec_options_default(rec_options *o);

/* Records one episode of `m` to an animated GIF at gif_path, for `smbrl train
 * --record-every N`: an env of its own on base b (which must have pixels on, as a training
 * base does) so no training env is disturbed, then rec_play_episode with a frame per
 * agent step, frame delays from the base's frame skip. out may be NULL. */
int rec_record_episode_gif(const env_base *b, const nn_model *m, const rec_options *opt,
                           const char *gif_path, rec_episode *out, char *err, size_t errlen);

/* The picture a recording shows for env e: its last frame as RGB (NES_WIDTH x NES_HEIGHT),
 * with, when hud is set, the HUD line for s under it (NES_HEIGHT + REC_HUD_HEIGHT rows).
 * rgb holds NES_WIDTH * (NES_HEIGHT + REC_HUD_HEIGHT) * 3 bytes. Returns the row count. */
int rec_compose_frame(const env *e, const rec_step *s, int hud, uint8_t *rgb);

#endif
