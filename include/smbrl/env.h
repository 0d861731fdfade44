/* env.h: the Super Mario Bros reinforcement-learning environment on our NES
 * emulator: tasks and ROM lookup, gym-super-mario-bros 7.4.0 semantics (RAM map,
 * reward, episode end, start-screen and cut-scene skipping, stage targeting), the
 * Atari-style observation pipeline (frame skip, max-pool, grayscale, 84x84 resize,
 * 4-frame stack, sticky actions, no-op starts) and a batched vecenv.
 *
 * Semantics follow gym-super-mario-bros 7.4.0 (smb_env.py, decode_target.py) on
 * nes-py: one "frame step" there is one emulated frame plus the hidden frames that
 * skip dying, cut-scenes and area changes; an agent step here is frame_skip such
 * frame steps, with rewards summed, as the tutorial's SkipFrame wrapper does.
 *
 * Where this differs from gym-super-mario-bros on nes-py, and why:
 * - Frame phase: nes-py's frames are 29781 CPU cycles from power-on, ours end at
 *   vertical blank. One NOOP frame at power-on makes the start-screen loop land
 *   where the gym's does (reset: 1-1 time 400, 8-1 time 300, x_pos 40), see env.c.
 * - The observation after hidden frames is the last hidden frame, as nes-py's live
 *   screen buffer shows; info is read before them, as in the gym.
 * - Random stages and sticky actions draw from rng.h (xoshiro256**), not numpy:
 *   same distributions, other sequences.
 * - The shaped reward follows the 9.x description (progress past the best x,
 *   score/100, coins x5, power-up change x5, +50 once at the flag, -25 dying),
 *   each frame clipped to [-15, 15]; per-term sums are in env_info. */
#ifndef SMBRL_ENV_H
#define SMBRL_ENV_H

#include <stddef.h>
#include <stdint.h>

#include "smbrl/cart.h"
#include "smbrl/nes.h"

#define ENV_OBS_H 84
#define ENV_OBS_W 84
#define ENV_FRAME_SIZE (ENV_OBS_H * ENV_OBS_W)
#define ENV_STACK 4
#define ENV_OBS_SIZE (ENV_STACK * ENV_FRAME_SIZE) /* one observation: [4,84,84] uint8 */

/* Observation kinds. Pixels: the [4,84,84] gray stack. Tiles: a [4,13,16] stack of
 * the metatile grid the game shows, read from RAM (env_tiles_grid), so no frame is
 * ever rendered. */
enum env_obs_kind { ENV_OBS_PIXELS = 0, ENV_OBS_TILES = 1 };
#define ENV_TILES_H 13 /* metatile rows of the playfield below the status bar (screen y 32..239) */
#define ENV_TILES_W 16 /* metatile columns of one screen */
#define ENV_TILES_SIZE (ENV_TILES_H * ENV_TILES_W)
/* Cell values, spread over 0..255 so a network reading bytes as x/255 sees them apart. */
enum { ENV_TILE_EMPTY = 0, ENV_TILE_SOLID = 85, ENV_TILE_ENEMY = 170, ENV_TILE_MARIO = 255 };

/* ---- tasks ------------------------------------------------------------- */

enum env_rom_mode { ENV_ROM_VANILLA = 0, ENV_ROM_DOWNSAMPLE, ENV_ROM_PIXEL, ENV_ROM_RECTANGLE };

#define ENV_MAX_STAGES 32

typedef struct env_task {
    char name[64];
    int lost_levels;   /* SuperMarioBros2-*: the Lost Levels ROM */
    int rom_mode;      /* enum env_rom_mode: the -v<m> suffix */
    int world, stage;  /* single-stage target (1-based), 0 for the full game */
    int area;          /* target area: stage, +1 for stage >= 2 in some worlds */
    int random_stages; /* SuperMarioBrosRandomStages-v<m>: a seeded stage on each reset */
    int n_stages;      /* random stages: the candidate (world, stage) pairs */
    uint8_t stages[ENV_MAX_STAGES][2];
} env_task;

/* Parses SuperMarioBros-v0..v3, SuperMarioBros-<w>-<s>-v0..v3,
 * SuperMarioBros2-v0/v1 (and -<w>-<s>- for worlds 1-4, as decode_target allows),
 * SuperMarioBrosRandomStages-v0..v3. `stages` ("1-4,2-4", or NULL for all 32)
 * restricts a random-stages task. */
int env_task_parse(env_task *t, const char *name, const char *stages, char *err, size_t errlen);
/* The cart game (enum cart_game) the task's ROM must be. */
int env_task_cart_game(const env_task *t);
/* Task families a known cart serves, e.g. "SuperMarioBros-v0, SuperMarioBros-<w>-<s>-v0,
 * SuperMarioBrosRandomStages-v0"; "" for a cart no task uses. For `smbrl rom list`. */
const char *env_cart_tasks(int game);
/* Area number for a (world, stage) target, following decode_target; negative and err
 * when the target is out of range for the game. */
int env_target_area(int lost_levels, int world, int stage, char *err, size_t errlen);
/* Loads the ROM for task t from `path`, a ROM file or a folder searched by SHA-1.
 * A file that is a different game/mode than the task needs is an error. */
int env_find_rom(cart *c, const env_task *t, const char *path, char *err, size_t errlen);

/* ---- action sets --------------------------------------------------------- */

typedef struct env_action_set {
    const char *name;            /* "right", "simple", "complex", "tutorial", "nes" */
    const char *gym_name;        /* RIGHT_ONLY, SIMPLE_MOVEMENT, ... */
    int n;
    const uint8_t *buttons;      /* n controller bytes (bit 0 A ... bit 7 Right) */
    const char *const *labels;   /* n names in gym's spelling ("right A B"); NULL for nes */
} env_action_set;

const env_action_set *env_action_set_find(const char *name);
/* Button names of a controller byte in gym's order ("right A B", "NOOP"). */
void env_buttons_name(uint8_t buttons, char *out, size_t len);

/* ---- RAM map (gym-super-mario-bros smb_env.py) ---------------------------- */

enum env_status { ENV_STATUS_SMALL = 0, ENV_STATUS_TALL = 1, ENV_STATUS_FIREBALL = 2 };
const char *env_status_name(int status);

typedef struct env_info {
    int coins, flag_get, life, score, stage, status, time, world, x_pos, y_pos;
    int x_pos_max;      /* best x_pos this episode */
    int player_state;   /* $000E */
    /* reward terms summed over the step's frames, before the per-frame clipping */
    float r_x, r_time, r_death;                               /* the 7.4.0 reward */
    float r_progress, r_score, r_coins, r_powerup, r_complete; /* the shaped (9.x) reward */
    int frames;         /* frame steps the agent step ran (< frame_skip at episode end) */
    int hidden_frames;  /* frames run with NOOP to skip dying, cut-scenes and areas */
} env_info;

int env_ram_time(const uint8_t *ram);
int env_ram_score(const uint8_t *ram);
int env_ram_coins(const uint8_t *ram);
int env_ram_x_pos(const uint8_t *ram);
int env_ram_y_pos(const uint8_t *ram);
int env_ram_flag_get(const uint8_t *ram);
int env_ram_status(const uint8_t *ram);
/* 1 while playing (0: title and demo, 2: end of a world, 3: game over). */
int env_ram_game_mode(const uint8_t *ram);
/* Fills the RAM fields of info (not x_pos_max, the reward terms or frame counts). */
void env_ram_info(const uint8_t *ram, env_info *info);

/* ---- observation pipeline -------------------------------------------------- */

/* Resize filters for 256x240 -> 84x84:
 * - ENV_RESIZE_AREA (default): the mean over each output pixel's footprint, each
 *   input pixel weighted by its overlap (OpenCV INTER_AREA).
 * - ENV_RESIZE_ANTIALIAS: the PyTorch Mario tutorial's torchvision
 *   Resize(antialias=True) = F.interpolate(bilinear, antialias=True): a triangle
 *   filter of half-width scale, renormalised at the borders (PIL's scheme). */
enum env_resize { ENV_RESIZE_AREA = 0, ENV_RESIZE_ANTIALIAS = 1 };
#define ENV_OBS_TAPS 8

/* Grayscale of each palette index, 0.2989 R + 0.587 G + 0.114 B of nes_palette_rgb,
 * and the resize weights. Caller memory, no globals. */
typedef struct env_obs_tables {
    float gray[64];
    int resize;  /* enum env_resize */
    int taps;    /* taps in use per output column/row (<= ENV_OBS_TAPS) */
    /* per output column/row: first input index and its weights (zero-padded) */
    int16_t x0[ENV_OBS_W], y0[ENV_OBS_H];
    float wx[ENV_OBS_W][ENV_OBS_TAPS], wy[ENV_OBS_H][ENV_OBS_TAPS];
    /* per input row: the first output row it falls in and its weights there and
     * in the next two */
    int16_t ry[NES_HEIGHT];
    float rw[NES_HEIGHT][3];
    /* gray of two neighbouring pixels at once, indexed by (left << 6) | right:
     * halves the portable and AVX paths' table lookups, their largest cost */
    float gray2[64 * 64][2];
    /* The AVX2 path's tables. gray_bytes[b][s][i] is byte b of gray[16 s + i]:
     * 16-entry byte tables for shuffle lookups, whose bytes put together are
     * the float's own bits. Per output row (vy, vw) and column (hx, hw), the
     * inputs with a nonzero weight, in order, and those weights, padded with
     * weight 0 to the same number for all rows (vtaps) and columns (htaps). */
    uint8_t gray_bytes[4][4][16];
    int vtaps, htaps;
    int16_t vy[ENV_OBS_H][ENV_OBS_TAPS], hx[ENV_OBS_W][ENV_OBS_TAPS];
    float vw[ENV_OBS_H][ENV_OBS_TAPS], hw[ENV_OBS_W][ENV_OBS_TAPS];
    uint8_t vring[ENV_OBS_H][ENV_OBS_TAPS]; /* vy's places in obs.c's ring of input rows */
    /* the widest vector unit env_obs_process may use (enum env_obs_isa): the
     * CPU's best, from env_obs_tables_init; tests lower it to check each path */
    int isa;
} env_obs_tables;

enum env_obs_isa { ENV_OBS_PORTABLE = 0, ENV_OBS_AVX = 1, ENV_OBS_AVX2 = 2 };

void env_obs_tables_init(env_obs_tables *t, int resize);
/* 256x240 palette-index frame(s) -> 84x84 uint8: gray, pixel-wise max of the two
 * frames when `prev` is not NULL, area-average, round to nearest. */
void env_obs_process(const env_obs_tables *t, const uint8_t *pixels, const uint8_t *prev,
                     uint8_t *out);
/* The same by direct 5x5 gathers: the slow reference the fast path is tested against. */
void env_obs_process_ref(const env_obs_tables *t, const uint8_t *pixels, const uint8_t *prev,
                         uint8_t *out);
/* Full-resolution grayscale (256x240, rounded) of a palette-index frame. */
void env_obs_gray_full(const env_obs_tables *t, const uint8_t *pixels, uint8_t *out);

/* ---- environments ------------------------------------------------------------ */

enum env_reward_kind { ENV_REWARD_V7 = 0, ENV_REWARD_SHAPED = 1 };

typedef struct env_config {
    const char *task;     /* default "SuperMarioBros-1-1-v0" */
    const char *stages;   /* random-stages subset, "1-1,4-2"; NULL for all */
    const char *actions;  /* action set name, default "simple" */
    const char *reward;   /* "v7" (default, gym 7.4.0) or "shaped" (gym 9.x) */
    const char *resize;   /* "area" (default) or "antialias" (the tutorial's torchvision Resize) */
    int frame_skip;       /* frame steps per agent step, default 4 */
    int max_pool;         /* observation = max of the last two frames */
    int pixels;           /* 1 (default): build the [4,84,84] stack; 0: RAM only, no rendering */
    float sticky_p;       /* per frame: repeat the previous frame's buttons with this probability */
    int noop_max;         /* on reset: 0..noop_max NOOP frame steps, uniformly */
    uint64_t seed;
    int render_all;       /* the slow reference: render every frame, hidden ones too (tests) */
    int obs;              /* enum env_obs_kind, default ENV_OBS_PIXELS; tiles never render,
                           * whatever `pixels` says, and ignore max_pool and resize */
} env_config;

void env_config_default(env_config *c);

/* What every env of a task shares, immutable after creation so threads can share it:
 * the cart, the parsed task and action set, and one start snapshot per stage. */
typedef struct env_base env_base;
int env_base_create(env_base **out, const env_config *cfg, const char *rom_path, char *err,
                    size_t errlen);
void env_base_free(env_base *b);
const env_task *env_base_task(const env_base *b);
const env_action_set *env_base_actions(const env_base *b);
/* The configuration the base was made with: numeric fields (frame_skip, pixels,
 * max_pool, ...) as given; the string fields are NULL (not kept). */
const env_config *env_base_config(const env_base *b);
int env_base_resize(const env_base *b); /* enum env_resize */
/* Frames emulated to build the start snapshots. */
uint64_t env_base_setup_frames(const env_base *b);
/* Observation shape of envs on this base: [stack, h, w] uint8 = [4,84,84] or [4,13,16]. */
void env_obs_shape(const env_base *b, int *stack, int *h, int *w);
size_t env_obs_size(const env_base *b); /* stack * h * w bytes */
/* "pixels" or "tiles" -> enum env_obs_kind; -1 for anything else. */
int env_obs_kind_parse(const char *name);
const char *env_obs_kind_name(int kind);

/* ---- tile grid (src/env/tiles.c) -------------------------------------------- */

/* The 13x16 grid (row-major, ENV_TILE_* values) of the screen the game shows,
 * from RAM alone (its latest state: the picture rendered in the same frame lags
 * it by one frame). Row r is screen y 32+16r..47+16r; column j is the level's
 * metatile column holding level pixel left + 16j, left being the screen's left
 * edge, so columns are level-aligned and the picture is offset by left % 16.
 * Solid: a collision metatile the player stands on or is stopped by (not coins,
 * hidden blocks, the flagpole or vines). Enemy: the cell of an active enemy
 * slot's centre, for objects that hurt (not platforms, power-ups, the flag,
 * springs). Mario: the cell of his lower body; he overrides the rest. */
void env_tiles_grid(const uint8_t *ram, uint8_t *grid);

typedef struct env env;
/* A standalone env that owns its base. */
int env_create(env **out, const env_config *cfg, const char *rom_path, char *err, size_t errlen);
/* An env on a shared base (which must outlive it), with its own seed. */
int env_create_on(env **out, const env_base *b, uint64_t seed, char *err, size_t errlen);
void env_free(env *e);

/* Restores the start snapshot (random stages: a seeded stage), runs the no-op
 * start, fills the stack with the first frame (or grid). obs: env_obs_size bytes
 * or NULL. env_step writes the same size, newest frame last. */
int env_reset(env *e, uint8_t *obs, env_info *info);
/* One agent step. Errors: action out of range, or a step after the episode ended
 * without a reset (gym raises there too). reward is the sum of the clipped
 * per-frame rewards; done is 1 at episode end. */
int env_step(env *e, int action, uint8_t *obs, float *reward, int *done, env_info *info,
             char *err, size_t errlen);

int env_num_actions(const env *e);
const env_base *env_get_base(const env *e);
nes *env_nes(env *e);
/* The last emulated frame the agent sees (palette indices, 256x240); valid after
 * reset and every step when pixels are on and the observation kind is pixels. */
const uint8_t *env_frame(const env *e);
void env_render_rgb(const env *e, uint8_t *rgb);   /* 256x240x3 */
void env_render_gray(const env *e, uint8_t *gray); /* 256x240 */
/* Frames this env has emulated (all kinds), for checking that reset is a copy. */
uint64_t env_frames_emulated(const env *e);
/* Frames rendered with pixels. */
uint64_t env_frames_rendered(const env *e);

/* ---- batched stepping ------------------------------------------------------------ */

typedef struct vecenv vecenv;
/* n envs, env i seeded from (cfg->seed, i) so env i behaves the same in any batch
 * size; threads workers (1 = the caller only) in a persistent pool. */
int vecenv_create(vecenv **out, const env_config *cfg, const char *rom_path, int n, int threads,
                  char *err, size_t errlen);
void vecenv_free(vecenv *v);
int vecenv_num(const vecenv *v);
int vecenv_num_actions(const vecenv *v);
int vecenv_reset(vecenv *v, char *err, size_t errlen);
/* actions: n indices. Ended episodes are reset in place: obs then shows the new
 * episode's first frame while done=1 and info keeps the ended episode's last info.
 * Allocates nothing. */
int vecenv_step(vecenv *v, const int *actions, char *err, size_t errlen);
uint8_t *vecenv_obs(vecenv *v);            /* [n,4,84,84] or [n,4,13,16] uint8 */
size_t vecenv_obs_size(const vecenv *v);   /* per env */
const float *vecenv_rewards(const vecenv *v);  /* [n] */
const uint8_t *vecenv_dones(const vecenv *v);  /* [n] */
const env_info *vecenv_infos(const vecenv *v); /* [n] */
env *vecenv_env(vecenv *v, int i);

#endif
