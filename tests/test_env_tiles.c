/* test_env_tiles.c: the tile observation (--obs tiles): env_tiles_grid on synthetic
 * RAM (page/column/row mapping, which metatiles and objects count, clipping), the
 * grid against the rendered frame of known 1-1 states along the recorded flag run
 * (ground, blocks and pipes where the picture shows them, pure sky empty, Mario's
 * cell on Mario's sprite), and the tiles env itself: no frame rendered, the same
 * rewards/infos/dones as a pixel env, the stack, vecenv. Needs $SMBRL_ROM_DIR. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smbrl/env.h"
#include "smbrl/rng.h"
#include "testlib.h"

static const char *rom_dir;

/* ---- synthetic RAM --------------------------------------------------------- */

/* Block-buffer byte for level metatile column c and row r, as the test reads the
 * RAM map: pages at $0500 and $05D0, 16 columns each, row-major. */
static uint8_t *block(uint8_t *ram, int c, int r)
{
    return ram + ((c / 16) % 2 ? 0x5D0 : 0x500) + r * 16 + c % 16;
}

static void set_left(uint8_t *ram, int left)
{
    ram[0x71A] = (uint8_t)(left >> 8);
    ram[0x71C] = (uint8_t)left;
}

static void set_enemy(uint8_t *ram, int slot, int id, int x, int y, int yhigh)
{
    ram[0x0F + slot] = 1;
    ram[0x16 + slot] = (uint8_t)id;
    ram[0x6E + slot] = (uint8_t)(x >> 8);
    ram[0x87 + slot] = (uint8_t)x;
    ram[0xCF + slot] = (uint8_t)y;
    ram[0xB6 + slot] = (uint8_t)yhigh;
}

static void set_mario(uint8_t *ram, int x, int y, int yhigh)
{
    ram[0x6D] = (uint8_t)(x >> 8);
    ram[0x86] = (uint8_t)x;
    ram[0xCE] = (uint8_t)y;
    ram[0xB5] = (uint8_t)yhigh;
}

static int count_value(const uint8_t *g, int v)
{
    int n = 0;
    for (int i = 0; i < ENV_TILES_SIZE; i++)
        n += g[i] == v;
    return n;
}

static void test_grid_synthetic(void)
{
    static uint8_t ram[0x800];
    uint8_t g[ENV_TILES_SIZE];

    /* The screen starts 0xF3 pixels into page 1: grid column 0 is level column
     * 31 (page 1, column 15), column 1 is level column 32 (page 0, column 0),
     * column 15 is level column 46 (page 0, column 14). */
    memset(ram, 0, sizeof ram);
    set_left(ram, 0x1F3);
    *block(ram, 31, 0) = 0x54;  /* ground */
    *block(ram, 32, 12) = 0x51; /* brick */
    *block(ram, 46, 6) = 0xC0;  /* question block */
    *block(ram, 47, 6) = 0x54;  /* one column past the screen: not shown */
    *block(ram, 33, 3) = 0x12;  /* pipe end */
    *block(ram, 34, 3) = 0x88;  /* cloud-level ground */
    *block(ram, 35, 3) = 0xC4;  /* used block */
    *block(ram, 36, 3) = 0x61;  /* the flagpole's base block */
    /* not solid: coins, hidden blocks, flagpole ball and shaft, vine */
    *block(ram, 37, 4) = 0xC2;
    *block(ram, 38, 4) = 0xC3;
    *block(ram, 39, 4) = 0x5F;
    *block(ram, 40, 4) = 0x60;
    *block(ram, 41, 4) = 0x24;
    *block(ram, 42, 4) = 0x25;
    *block(ram, 43, 4) = 0x26;
    env_tiles_grid(ram, g);
    CHECK_EQ_INT(g[0 * 16 + 0], ENV_TILE_SOLID);
    CHECK_EQ_INT(g[12 * 16 + 1], ENV_TILE_SOLID);
    CHECK_EQ_INT(g[6 * 16 + 15], ENV_TILE_SOLID);
    for (int j = 2; j <= 5; j++)
        CHECK_EQ_INT(g[3 * 16 + j], ENV_TILE_SOLID);
    CHECK_EQ_INT(count_value(g, ENV_TILE_SOLID), 7);
    CHECK_EQ_INT(count_value(g, ENV_TILE_EMPTY), ENV_TILES_SIZE - 7);

    /* Objects: the cell of the centre of their 16x16 box from (x, y); Mario's cell
     * is that of his lower half's centre (x + 8, y + 24). */
    memset(ram, 0, sizeof ram);
    set_left(ram, 0x100);
    set_enemy(ram, 0, 0x06, 0x100 + 5 * 16 + 2, 184, 1);  /* goomba: row (192-32)/16 = 10, col 5 */
    set_enemy(ram, 1, 0x30, 0x100 + 7 * 16, 100, 1);      /* flagpole flag: not an enemy */
    set_enemy(ram, 2, 0x00, 0x100 + 9 * 16, 100, 0);      /* koopa above the screen */
    set_enemy(ram, 3, 0x24, 0x100 + 11 * 16, 100, 1);     /* a platform */
    set_enemy(ram, 4, 0x12, 0x100 + 15 * 16 + 8, 40, 1);  /* spiny: its centre is one column past */
    set_mario(ram, 0x100 + 2 * 16 - 8, 160, 1);            /* centre x at column 2, y 184: row 9 */
    env_tiles_grid(ram, g);
    CHECK_EQ_INT(g[10 * 16 + 5], ENV_TILE_ENEMY);
    CHECK_EQ_INT(g[9 * 16 + 2], ENV_TILE_MARIO);
    CHECK_EQ_INT(count_value(g, ENV_TILE_ENEMY), 1);
    CHECK_EQ_INT(count_value(g, ENV_TILE_MARIO), 1);
    ram[0x0F + 0] = 0; /* inactive slot */
    env_tiles_grid(ram, g);
    CHECK_EQ_INT(count_value(g, ENV_TILE_ENEMY), 0);
    /* the koopa slot comes on screen, the spiny moves onto column 15, the fire bar
     * ($1B) and Bowser ($2D) count, and an enemy left of the screen is dropped */
    ram[0xB6 + 2] = 1;
    ram[0x87 + 4] = (uint8_t)(15 * 16);
    set_enemy(ram, 1, 0x1B, 0x100 + 12 * 16, 120, 1);
    set_enemy(ram, 3, 0x2D, 0x100 + 13 * 16, 168, 1);
    set_enemy(ram, 0, 0x06, 0x100 - 20, 184, 1);
    env_tiles_grid(ram, g);
    CHECK_EQ_INT(g[((100 + 8 - 32) / 16) * 16 + 9], ENV_TILE_ENEMY);
    CHECK_EQ_INT(g[1 * 16 + 15], ENV_TILE_ENEMY);
    CHECK_EQ_INT(g[((120 + 8 - 32) / 16) * 16 + 12], ENV_TILE_ENEMY);
    CHECK_EQ_INT(g[((168 + 8 - 32) / 16) * 16 + 13], ENV_TILE_ENEMY);
    CHECK_EQ_INT(count_value(g, ENV_TILE_ENEMY), 4);
    /* Mario overrides an enemy and a solid block in his cell */
    *block(ram, 16 + 2, 9) = 0x54;
    set_enemy(ram, 0, 0x06, 0x100 + 2 * 16, 168, 1);
    env_tiles_grid(ram, g);
    CHECK_EQ_INT(g[9 * 16 + 2], ENV_TILE_MARIO);
    CHECK_EQ_INT(count_value(g, ENV_TILE_SOLID), 0);
    /* Mario off the screen (fallen into a pit, above it, or below row 12) */
    ram[0xB5] = 2;
    env_tiles_grid(ram, g);
    CHECK_EQ_INT(count_value(g, ENV_TILE_MARIO), 0);
    CHECK_EQ_INT(g[9 * 16 + 2], ENV_TILE_ENEMY);
    set_mario(ram, 0x100 + 40, 232, 1); /* y + 24 = 256: past the last row */
    env_tiles_grid(ram, g);
    CHECK_EQ_INT(count_value(g, ENV_TILE_MARIO), 0);
    set_mario(ram, 0x100 + 40, 0, 1); /* y + 24 = 24: in the status bar */
    env_tiles_grid(ram, g);
    CHECK_EQ_INT(count_value(g, ENV_TILE_MARIO), 0);
    set_mario(ram, 0x100 + 40, 8, 1); /* y + 24 = 32: row 0 */
    env_tiles_grid(ram, g);
    CHECK_EQ_INT(g[0 * 16 + 3], ENV_TILE_MARIO);
}

/* ---- the grid against the picture ------------------------------------------ */

#define SKY_MIN_SHARE 0.3
#define MARIO_RED 0x16 /* Mario's cap and overalls in 1-1; no 1-1 background uses it */

typedef struct frame_check {
    int states, solid_cells, sky_cells, ground_cells, mario_checked, pipe_cells, enemy_cells;
} frame_check;

/* Pixels of the cell's 16x16 block (shifted by left % 16, clipped to the screen)
 * that are not sky, and that are Mario red; the block's visible pixel count. */
static int block_counts(const uint8_t *frame, int sky, int left, int r, int j, int pad, int *red)
{
    int x0 = 16 * j - left % 16 - pad, x1 = x0 + 16 + 2 * pad;
    if (x0 < 0)
        x0 = 0;
    if (x1 > NES_WIDTH)
        x1 = NES_WIDTH;
    int nonsky = 0;
    *red = 0;
    for (int y = 32 + 16 * r; y < 48 + 16 * r; y++)
        for (int x = x0; x < x1; x++) {
            uint8_t p = frame[y * NES_WIDTH + x];
            nonsky += p != sky;
            *red += p == MARIO_RED;
        }
    return nonsky;
}

static int visible(int left, int j)
{
    int x0 = 16 * j - left % 16;
    return (x0 + 16 > NES_WIDTH ? NES_WIDTH : x0 + 16) - (x0 < 0 ? 0 : x0);
}

/* Checks one state's grid against its rendered frame; `what` names the state. */
static void check_against_frame(const char *what, const uint8_t *frame, const uint8_t *ram,
                                const uint8_t *g, frame_check *fc)
{
    const int left = ram[0x71A] * 256 + ram[0x71C];
    /* the sky: the commonest colour of the playfield above the ground */
    int hist[256] = {0};
    for (int y = 32; y < 176; y++)
        for (int x = 0; x < NES_WIDTH; x++)
            hist[frame[y * NES_WIDTH + x]]++;
    int sky = 0;
    for (int v = 1; v < 256; v++)
        if (hist[v] > hist[sky])
            sky = v;
    CHECK(hist[sky] > SKY_MIN_SHARE * 144 * NES_WIDTH);
    fc->states++;
    int red_total = 0, mario_cells = 0, mr = -1, mj = -1;
    for (int r = 0; r < ENV_TILES_H; r++)
        for (int j = 0; j < ENV_TILES_W; j++) {
            int red, cell = g[r * 16 + j];
            int area = 16 * visible(left, j);
            int nonsky = block_counts(frame, sky, left, r, j, 0, &red);
            red_total += red;
            double f = (double)nonsky / area;
            if (cell == ENV_TILE_SOLID) {
                fc->solid_cells++;
                if (f < 0.5) {
                    fprintf(stderr, "%s: solid cell (%d,%d) is %.0f%% sky in the frame\n", what, r,
                            j, 100 * (1 - f));
                    testlib_failures++;
                }
            }
            if (nonsky == 0) {
                fc->sky_cells++;
                /* an enemy sprite may be hidden by the 8-sprites-a-line limit */
                if (cell != ENV_TILE_EMPTY && cell != ENV_TILE_ENEMY) {
                    fprintf(stderr, "%s: pure-sky cell (%d,%d) is %d in the grid\n", what, r, j, cell);
                    testlib_failures++;
                }
            }
            /* the ground rows: drawn ground is solid ground */
            if (r >= 11 && f >= 0.9 && cell != ENV_TILE_MARIO && cell != ENV_TILE_ENEMY) {
                fc->ground_cells++;
                if (cell != ENV_TILE_SOLID) {
                    fprintf(stderr, "%s: ground cell (%d,%d) drawn but %d in the grid\n", what, r, j,
                            cell);
                    testlib_failures++;
                }
            }
            if (cell == ENV_TILE_ENEMY && j > 0) {
                /* an enemy cell shows the enemy: something not sky near it (the
                 * game blanks the screen's left 8 pixels, so not in column 0) */
                fc->enemy_cells++;
                if (block_counts(frame, sky, left, r, j, 4, &red) == 0) {
                    fprintf(stderr, "%s: enemy cell (%d,%d) shows only sky\n", what, r, j);
                    testlib_failures++;
                }
            }
            if (cell == ENV_TILE_MARIO) {
                mario_cells++;
                mr = r;
                mj = j;
            }
        }
    /* Mario's cell is where his sprite is: the centre of his red pixels lies in
     * it, give or take 4 pixels (he straddles up to four cells, and the sprite's
     * red is not centred in his box when he faces one way or jumps). Only red
     * within 16 pixels of his RAM box counts: a mushroom is red too. */
    const int sx = ram[0x6D] * 256 + ram[0x86] - left, sy = ram[0xCE];
    if (ram[0xB5] == 1 && red_total >= 20) {
        fc->mario_checked++;
        CHECK_EQ_INT(mario_cells, 1);
        int x_lo = NES_WIDTH, x_hi = -1, y_lo = NES_HEIGHT, y_hi = -1;
        for (int y = sy - 16 > 32 ? sy - 16 : 32; y < NES_HEIGHT && y < sy + 48; y++)
            for (int x = sx - 16 > 0 ? sx - 16 : 0; x < NES_WIDTH && x < sx + 32; x++)
                if (frame[y * NES_WIDTH + x] == MARIO_RED) {
                    x_lo = x < x_lo ? x : x_lo;
                    x_hi = x > x_hi ? x : x_hi;
                    y_lo = y < y_lo ? y : y_lo;
                    y_hi = y > y_hi ? y : y_hi;
                }
        int cx = (x_lo + x_hi + 1) / 2, cy = (y_lo + y_hi + 1) / 2;
        int x0 = 16 * mj - left % 16, y0 = 32 + 16 * mr;
        if (mr < 0 || x_hi - x_lo > 24 || cx < x0 - 4 || cx >= x0 + 20 || cy < y0 - 4 ||
            cy >= y0 + 20) {
            fprintf(stderr, "%s: Mario's red pixels centre on (%d,%d), his cell is (%d,%d) at (%d,%d)\n",
                    what, cx, cy, mr, mj, x0, y0);
            testlib_failures++;
        }
    }
}

/* 1-1's pipes (level metatile column of the left half, top row), from the level
 * layout; the test checks the picture shows them where it expects them. */
static const int pipes_1_1[][2] = {{28, 9}, {38, 8}, {46, 7}, {57, 7}};

static void check_pipes(const char *what, const uint8_t *frame, const uint8_t *ram,
                        const uint8_t *g, frame_check *fc)
{
    const int left = ram[0x71A] * 256 + ram[0x71C];
    for (size_t p = 0; p < sizeof pipes_1_1 / sizeof pipes_1_1[0]; p++) {
        int j0 = pipes_1_1[p][0] - left / 16;
        if (j0 < 1 || j0 + 1 >= ENV_TILES_W - 1)
            continue; /* only pipes wholly on screen */
        for (int j = j0; j <= j0 + 1; j++) {
            for (int r = pipes_1_1[p][1]; r <= 10; r++) {
                int red, nonsky = 0;
                /* sky: measured on the cell above the pipe, which is sky in 1-1 */
                int above_r = pipes_1_1[p][1] - 1;
                int x = 16 * j - left % 16 + 8, y = 32 + 16 * above_r + 8;
                int sky_here = frame[y * NES_WIDTH + x];
                nonsky = block_counts(frame, sky_here, left, r, j, 0, &red);
                if (nonsky < 16 * 16 * 3 / 4) {
                    fprintf(stderr, "%s: the picture shows no pipe at level column %d row %d\n",
                            what, pipes_1_1[p][0] + (j - j0), r);
                    testlib_failures++;
                }
                fc->pipe_cells++;
                if (g[r * 16 + j] != ENV_TILE_SOLID && g[r * 16 + j] != ENV_TILE_MARIO) {
                    fprintf(stderr, "%s: pipe cell (%d,%d) is %d in the grid\n", what, r, j,
                            g[r * 16 + j]);
                    testlib_failures++;
                }
            }
            int top = pipes_1_1[p][1] - 1;
            CHECK(g[top * 16 + j] != ENV_TILE_SOLID);
        }
    }
}

static uint8_t *read_inputs(size_t *len)
{
    const char *src = getenv("SMBRL_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/data/smb-1-1-flag.inputs", src ? src : ".");
    uint8_t *buf = testlib_read_file(path, len);
    if (!buf) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(1);
    }
    return buf;
}

static env *open_env(int obs, int frame_skip, const char *actions, int noop_max, float sticky,
                     uint64_t seed)
{
    env_config c;
    env_config_default(&c);
    c.task = "SuperMarioBros-1-1-v0";
    c.obs = obs;
    c.frame_skip = frame_skip;
    c.actions = actions;
    c.noop_max = noop_max;
    c.sticky_p = sticky;
    c.seed = seed;
    char err[256];
    env *e = NULL;
    if (env_create(&e, &c, rom_dir, err, sizeof err) < 0) {
        fprintf(stderr, "env_create: %s\n", err);
        exit(1);
    }
    return e;
}

/* Along the recorded 1-1 run to the flag (frame skip 1): every 16 frame steps, a
 * pixel env's frame against the grid of its RAM one frame earlier, and a tiles env
 * on the same inputs showing the grid of the RAM now as its newest observation.
 *
 * The frame lags the RAM by one frame: the NMI at the start of frame k sets the
 * scroll and copies the sprites that frame k's picture shows, both computed by the
 * game logic of frame k-1, and then runs frame k's logic, whose positions (and
 * ScreenLeft) frame k+1 will show. So the picture of frame k is the grid of the
 * RAM after frame k-1. */
static void test_grid_against_frames(const uint8_t *in, size_t n)
{
    env *px = open_env(ENV_OBS_PIXELS, 1, "nes", 0, 0.0f, 1);
    static uint8_t ram_before[0x800];
    env *tl = open_env(ENV_OBS_TILES, 1, "nes", 0, 0.0f, 1);
    uint8_t g[ENV_TILES_SIZE], obs[ENV_STACK * ENV_TILES_SIZE];
    env_info info;
    frame_check fc = {0};
    char err[256], what[64];
    env_reset(px, NULL, &info);
    env_reset(tl, obs, &info);
    int pipe_states = 0, max_left = 0;
    for (size_t i = 0; i <= n; i++) {
        const uint8_t *ram = nes_ram(env_nes(px));
        if (i > 0 && (i % 16 == 0 || i == n)) {
            env_tiles_grid(ram_before, g);
            snprintf(what, sizeof what, "1-1 flag run, step %zu", i);
            check_against_frame(what, env_frame(px), ram_before, g, &fc);
            int before = fc.pipe_cells;
            check_pipes(what, env_frame(px), ram_before, g, &fc);
            pipe_states += fc.pipe_cells > before;
            env_tiles_grid(ram, g);
            CHECK(memcmp(obs + 3 * ENV_TILES_SIZE, g, ENV_TILES_SIZE) == 0);
            int left = ram[0x71A] * 256 + ram[0x71C];
            if (left > max_left)
                max_left = left;
        }
        if (i == n)
            break;
        float r;
        int d1 = 0, d2 = 0;
        memcpy(ram_before, ram, sizeof ram_before);
        CHECK(env_step(px, in[i], NULL, &r, &d1, &info, err, sizeof err) == 0);
        CHECK(env_step(tl, in[i], obs, &r, &d2, &info, err, sizeof err) == 0);
        CHECK_EQ_INT(d1, d2);
        if (d1 && i + 1 < n) {
            fprintf(stderr, "the flag run ended early at step %zu\n", i);
            testlib_failures++;
            break;
        }
    }
    CHECK(info.flag_get);
    CHECK_EQ_INT(env_frames_rendered(tl), 0);
    printf("flag run: %d states (screen left up to %d), %d solid cells, %d ground cells, %d "
           "pure-sky cells, %d enemy cells, Mario checked in %d, %d pipe cells in %d states\n",
           fc.states, max_left, fc.solid_cells, fc.ground_cells, fc.sky_cells, fc.enemy_cells,
           fc.mario_checked, fc.pipe_cells, pipe_states);
    CHECK(fc.states > 70);
    CHECK(max_left > 2800);
    CHECK(fc.solid_cells > 30 * fc.states);
    CHECK(fc.ground_cells > 20 * fc.states);
    CHECK(fc.mario_checked > fc.states * 9 / 10);
    CHECK(pipe_states > 10);
    CHECK(fc.enemy_cells > 20);
    env_free(px);
    env_free(tl);
}

/* ---- the tiles env -------------------------------------------------------- */

/* The observation kind must not change the game: the same seed and actions give
 * the same rewards, dones and infos, across episode ends, no-op starts and sticky
 * actions; the tiles env renders nothing, and its stack shifts one grid a step. */
static void test_tiles_env_matches_pixels(void)
{
    env *px = open_env(ENV_OBS_PIXELS, 4, "simple", 30, 0.25f, 7);
    env *tl = open_env(ENV_OBS_TILES, 4, "simple", 30, 0.25f, 7);
    int st, h, w;
    env_obs_shape(env_get_base(tl), &st, &h, &w);
    CHECK_EQ_INT(st, 4);
    CHECK_EQ_INT(h, 13);
    CHECK_EQ_INT(w, 16);
    CHECK_EQ_INT(env_obs_size(env_get_base(tl)), 4 * 13 * 16);
    env_obs_shape(env_get_base(px), &st, &h, &w);
    CHECK(st == 4 && h == 84 && w == 84);
    CHECK_EQ_INT(env_obs_size(env_get_base(px)), ENV_OBS_SIZE);

    static uint8_t pobs[ENV_OBS_SIZE];
    uint8_t obs[4 * ENV_TILES_SIZE], prev[4 * ENV_TILES_SIZE], g[ENV_TILES_SIZE];
    env_info ip, it;
    char err[256];
    rng a;
    rng_seed(&a, 99);
    memset(obs, 0xEE, sizeof obs);
    env_reset(px, pobs, &ip);
    env_reset(tl, obs, &it);
    CHECK(memcmp(&ip, &it, sizeof ip) == 0);
    /* a reset fills the stack with the first grid */
    env_tiles_grid(nes_ram(env_nes(tl)), g);
    for (int k = 0; k < 4; k++)
        CHECK(memcmp(obs + k * ENV_TILES_SIZE, g, ENV_TILES_SIZE) == 0);
    int episodes = 0, changed = 0, steps = 0;
    for (int i = 0; i < 600; i++) {
        memcpy(prev, obs, sizeof obs);
        int act = (int)rng_below(&a, 7);
        if (rng_below(&a, 3))
            act = 1 + (int)rng_below(&a, 4); /* mostly right: get further into the level */
        float rp, rt;
        int dp, dt;
        CHECK(env_step(px, act, pobs, &rp, &dp, &ip, err, sizeof err) == 0);
        CHECK(env_step(tl, act, obs, &rt, &dt, &it, err, sizeof err) == 0);
        steps++;
        CHECK(rp == rt);
        CHECK_EQ_INT(dp, dt);
        CHECK(memcmp(&ip, &it, sizeof ip) == 0);
        env_tiles_grid(nes_ram(env_nes(tl)), g);
        CHECK(memcmp(obs + 3 * ENV_TILES_SIZE, g, ENV_TILES_SIZE) == 0);
        CHECK(memcmp(obs, prev + ENV_TILES_SIZE, 3 * ENV_TILES_SIZE) == 0);
        changed += memcmp(obs + 3 * ENV_TILES_SIZE, obs + 2 * ENV_TILES_SIZE, ENV_TILES_SIZE) != 0;
        if (dp) {
            episodes++;
            env_reset(px, pobs, &ip);
            env_reset(tl, obs, &it);
            CHECK(memcmp(&ip, &it, sizeof ip) == 0);
            env_tiles_grid(nes_ram(env_nes(tl)), g);
            for (int k = 0; k < 4; k++)
                CHECK(memcmp(obs + k * ENV_TILES_SIZE, g, ENV_TILES_SIZE) == 0);
        }
    }
    printf("tiles vs pixels: %d steps, %d episodes, newest grid changed in %d steps\n", steps,
           episodes, changed);
    CHECK(episodes >= 2);
    CHECK(changed > steps / 3);
    CHECK_EQ_INT(env_frames_rendered(tl), 0);
    CHECK(env_frames_rendered(px) > 0);
    env_free(px);
    env_free(tl);

    /* a kind that does not exist is refused */
    env_config c;
    env_config_default(&c);
    c.obs = 2;
    env *bad = NULL;
    CHECK(env_create(&bad, &c, rom_dir, err, sizeof err) < 0);
    CHECK(bad == NULL);
    CHECK_EQ_INT(env_obs_kind_parse("tiles"), ENV_OBS_TILES);
    CHECK_EQ_INT(env_obs_kind_parse("pixels"), ENV_OBS_PIXELS);
    CHECK_EQ_INT(env_obs_kind_parse("grid"), -1);
    CHECK(!strcmp(env_obs_kind_name(ENV_OBS_TILES), "tiles"));
}

/* A tiles vecenv: [n,4,13,16] slab, each env's newest grid from its own RAM, and
 * the same rewards/dones/infos as a pixel vecenv with the same seed. */
static void test_tiles_vecenv(void)
{
    env_config c;
    env_config_default(&c);
    c.task = "SuperMarioBros-1-1-v0";
    c.seed = 3;
    c.noop_max = 8;
    char err[256];
    vecenv *vp, *vt;
    CHECK(vecenv_create(&vp, &c, rom_dir, 3, 2, err, sizeof err) == 0);
    c.obs = ENV_OBS_TILES;
    CHECK(vecenv_create(&vt, &c, rom_dir, 3, 2, err, sizeof err) == 0);
    CHECK_EQ_INT(vecenv_obs_size(vt), 4 * ENV_TILES_SIZE);
    CHECK_EQ_INT(vecenv_obs_size(vp), ENV_OBS_SIZE);
    CHECK(vecenv_reset(vp, err, sizeof err) == 0);
    CHECK(vecenv_reset(vt, err, sizeof err) == 0);
    rng a;
    rng_seed(&a, 5);
    int acts[3], dones = 0;
    uint8_t g[ENV_TILES_SIZE];
    for (int s = 0; s < 150; s++) {
        for (int i = 0; i < 3; i++)
            acts[i] = (int)rng_below(&a, 7);
        CHECK(vecenv_step(vp, acts, err, sizeof err) == 0);
        CHECK(vecenv_step(vt, acts, err, sizeof err) == 0);
        CHECK(memcmp(vecenv_rewards(vp), vecenv_rewards(vt), 3 * sizeof(float)) == 0);
        CHECK(memcmp(vecenv_dones(vp), vecenv_dones(vt), 3) == 0);
        CHECK(memcmp(vecenv_infos(vp), vecenv_infos(vt), 3 * sizeof(env_info)) == 0);
        for (int i = 0; i < 3; i++) {
            dones += vecenv_dones(vt)[i];
            env_tiles_grid(nes_ram(env_nes(vecenv_env(vt, i))), g);
            const uint8_t *o = vecenv_obs(vt) + (size_t)i * vecenv_obs_size(vt);
            CHECK(memcmp(o + 3 * ENV_TILES_SIZE, g, ENV_TILES_SIZE) == 0);
            CHECK_EQ_INT(env_frames_rendered(vecenv_env(vt, i)), 0);
        }
    }
    printf("tiles vecenv: %d episode ends\n", dones);
    CHECK(dones >= 1);
    vecenv_free(vp);
    vecenv_free(vt);
}

int main(void)
{
    test_grid_synthetic();
    char buf[4096];
    testlib_data_path("SMBRL_ROM_DIR", "super-mario-bros.nes", buf, sizeof buf);
    rom_dir = getenv("SMBRL_ROM_DIR");
    size_t n;
    uint8_t *in = read_inputs(&n);
    test_grid_against_frames(in, n);
    test_tiles_env_matches_pixels();
    test_tiles_vecenv();
    free(in);
    return testlib_finish("test_env_tiles");
}
