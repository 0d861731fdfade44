/* test_env_smb.c: the Super Mario Bros environment against gym-super-mario-bros
 * 7.4.0's semantics on the real ROM: reset values, stage targeting, death and
 * game over, rewards recomputed from RAM, the scripted run to the 1-1 flag,
 * snapshot resets, tasks, ROM lookup and action sets. Needs $SMBRL_ROM_DIR. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smbrl/env.h"
#include "testlib.h"

static const char *rom_dir;

static env *open_env(const char *task, int frame_skip, const char *actions, int pixels)
{
    env_config c;
    env_config_default(&c);
    c.task = task;
    c.frame_skip = frame_skip;
    c.actions = actions;
    c.pixels = pixels;
    char err[256];
    env *e = NULL;
    if (env_create(&e, &c, rom_dir, err, sizeof err) < 0) {
        fprintf(stderr, "env_create(%s): %s\n", task, err);
        exit(1);
    }
    return e;
}

/* RAM read here, apart from the library's RAM map. */
static int ram_x(const uint8_t *ram) { return ram[0x6D] * 256 + ram[0x86]; }
static int ram_time(const uint8_t *ram) { return ram[0x7F8] * 100 + ram[0x7F9] * 10 + ram[0x7FA]; }

static void test_reset_values(void)
{
    static const struct { const char *task; int world, stage, time; } cases[] = {
        {"SuperMarioBros-1-1-v0", 1, 1, 400},
        {"SuperMarioBros-v0", 1, 1, 400},
        {"SuperMarioBros-4-2-v0", 4, 2, 400},
        /* 8-1's own clock is 300; gym-super-mario-bros' registration tests expect 300 */
        {"SuperMarioBros-8-1-v0", 8, 1, 300},
        {"SuperMarioBros-1-1-v3", 1, 1, 400},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        env *e = open_env(cases[i].task, 4, "simple", 0);
        env_info in;
        env_reset(e, NULL, &in);
        CHECK_EQ_INT(in.world, cases[i].world);
        CHECK_EQ_INT(in.stage, cases[i].stage);
        CHECK_EQ_INT(in.time, cases[i].time);
        CHECK_EQ_INT(in.x_pos, 40);
        CHECK_EQ_INT(in.life, 2);
        CHECK_EQ_INT(in.score, 0);
        CHECK_EQ_INT(in.coins, 0);
        CHECK_EQ_INT(in.player_state, 8);
        CHECK_EQ_INT(in.flag_get, 0);
        CHECK_EQ_INT(in.status, ENV_STATUS_SMALL);
        /* the gym's own tests look after one NOOP step: still the start values */
        float r;
        int d;
        char err[160];
        CHECK(env_step(e, 0, NULL, &r, &d, &in, err, sizeof err) == 0);
        CHECK_EQ_INT(in.time, cases[i].time);
        CHECK_EQ_INT(in.x_pos, 40);
        CHECK_EQ_INT(in.world, cases[i].world);
        CHECK_EQ_INT(in.stage, cases[i].stage);
        CHECK_EQ_INT(d, 0);
        env_free(e);
    }
}

/* Every stage target: world, stage, the stage's clock (300 or 400, as
 * gym-super-mario-bros' registration tests list them), x 40, 2 lives, after
 * reset and one NOOP step. */
static void test_all_stage_targets(void)
{
    static const char clock300[] = "1-3 1-4 2-3 2-4 3-2 3-3 3-4 4-3 5-1 5-3 5-4 6-3 6-4 7-3 8-1 8-3";
    for (int w = 1; w <= 8; w++)
        for (int st = 1; st <= 4; st++) {
            char task[64], ws[8];
            snprintf(task, sizeof task, "SuperMarioBros-%d-%d-v0", w, st);
            snprintf(ws, sizeof ws, "%d-%d", w, st);
            env *e = open_env(task, 1, "simple", 0);
            env_info in;
            float r;
            int d;
            char err[160];
            env_reset(e, NULL, &in);
            CHECK(env_step(e, 0, NULL, &r, &d, &in, err, sizeof err) == 0);
            CHECK_EQ_INT(in.world, w);
            CHECK_EQ_INT(in.stage, st);
            CHECK_EQ_INT(in.time, strstr(clock300, ws) ? 300 : 400);
            CHECK_EQ_INT(in.x_pos, 40);
            CHECK_EQ_INT(in.life, 2);
            CHECK_EQ_INT(in.score + in.coins + in.flag_get + d, 0);
            env_free(e);
        }
}

/* Right+B from reset runs into the first Goomba. */
static void test_goomba_death(void)
{
    char err[160];
    env_info in;
    float r;
    int d = 0;
    /* gym's raw env (one frame per step): the dying frame returns -15 and ends it */
    env *e = open_env("SuperMarioBros-1-1-v0", 1, "simple", 0);
    env_reset(e, NULL, &in);
    int steps = 0;
    float last = 0;
    while (!d && steps < 2000) {
        CHECK(env_step(e, 4, NULL, &r, &d, &in, err, sizeof err) == 0);
        if (!d)
            CHECK(r >= 0.0f && r <= 5.0f);
        last = r;
        steps++;
    }
    CHECK_EQ_INT(d, 1);
    CHECK(last == -15.0f);
    CHECK_EQ_INT(in.player_state, 0x0B);
    CHECK_EQ_INT(in.flag_get, 0);
    CHECK(in.x_pos > 250 && in.x_pos < 400);
    CHECK(in.r_death == -25.0f);
    /* stepping an ended episode is an error, as in gym */
    CHECK(env_step(e, 0, NULL, &r, &d, &in, err, sizeof err) < 0);
    env_free(e);

    /* full game: play on with one life fewer, game over after the third death */
    e = open_env("SuperMarioBros-v0", 1, "simple", 0);
    env_reset(e, NULL, &in);
    int deaths = 0, after_first = -1;
    d = 0;
    for (steps = 0; !d && steps < 20000; steps++) {
        CHECK(env_step(e, 4, NULL, &r, &d, &in, err, sizeof err) == 0);
        if (r == -15.0f && in.player_state == 0x0B) {
            deaths++;
            if (deaths == 1) {
                CHECK_EQ_INT(d, 0);
                CHECK(in.hidden_frames > 0); /* death and the lives screen were skipped */
                after_first = 0;
            }
        } else if (after_first == 0) {
            /* the next step starts the new life at the start of 1-1 */
            CHECK_EQ_INT(in.life, 1);
            CHECK_EQ_INT(in.player_state, 8);
            CHECK(in.x_pos <= 45);
            CHECK_EQ_INT(in.time, 400);
            after_first = 1;
        }
    }
    CHECK_EQ_INT(d, 1);
    CHECK_EQ_INT(deaths, 3);
    CHECK_EQ_INT(in.life, 0xFF);
    CHECK_EQ_INT(after_first, 1);
    env_free(e);
}

static uint8_t *read_inputs(size_t *len)
{
    const char *src = getenv("SMBRL_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/data/smb-1-1-flag.inputs", src ? src : ".");
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(1);
    }
    uint8_t *buf = malloc(1 << 16);
    *len = fread(buf, 1, 1 << 16, f);
    fclose(f);
    return buf;
}

/* Per frame step: reward = x change + clock change, from RAM read by the test. */
static void test_reward_from_ram(const uint8_t *in, size_t n)
{
    env *e = open_env("SuperMarioBros-1-1-v0", 1, "nes", 0);
    const uint8_t *ram = nes_ram(env_nes(e));
    env_info info;
    env_reset(e, NULL, &info);
    char err[160];
    int checked = 0;
    for (size_t i = 0; i < n; i++) {
        int xb = ram_x(ram), tb = ram_time(ram);
        float r;
        int d;
        CHECK(env_step(e, in[i], NULL, &r, &d, &info, err, sizeof err) == 0);
        if (d)
            break;
        if (info.hidden_frames == 0) {
            int dx = ram_x(ram) - xb, dt = ram_time(ram) - tb;
            if (dx < -5 || dx > 5)
                dx = 0;
            if (dt > 0)
                dt = 0;
            CHECK(r == (float)(dx + dt));
            checked++;
        }
    }
    CHECK(checked > 1000);
    CHECK(ram_x(ram) > 3000);
    env_free(e);

    /* frame skip 4: an agent step's reward is the sum of its frame steps' rewards */
    env *a = open_env("SuperMarioBros-1-1-v0", 1, "nes", 0);
    env *b = open_env("SuperMarioBros-1-1-v0", 4, "nes", 0);
    env_reset(a, NULL, NULL);
    env_reset(b, NULL, NULL);
    size_t i = 0;
    int done_a = 0, done_b = 0, compared = 0;
    while (!done_b && i < 40000) {
        /* 4 identical frames so that b's step equals a's four; jumps now and then */
        uint8_t btn = (uint8_t)(NES_RIGHT | NES_B | ((i / 4) % 10 < 6 ? NES_A : 0));
        float rb, ra, total = 0;
        env_info ib, ia;
        CHECK(env_step(b, btn, NULL, &rb, &done_b, &ib, err, sizeof err) == 0);
        for (int k = 0; k < 4 && !done_a; k++) {
            CHECK(env_step(a, btn, NULL, &ra, &done_a, &ia, err, sizeof err) == 0);
            total += ra;
        }
        CHECK(rb == total);
        CHECK_EQ_INT(ib.x_pos, ia.x_pos);
        CHECK_EQ_INT(ib.time, ia.time);
        CHECK_EQ_INT(done_a, done_b);
        compared++;
        i += 4;
    }
    CHECK(compared > 20);
    CHECK_EQ_INT(done_a, 1);
    env_free(a);
    env_free(b);
}

static void test_flag(const uint8_t *in, size_t n)
{
    for (int shaped = 0; shaped < 2; shaped++) {
        env_config c;
        env_config_default(&c);
        c.task = "SuperMarioBros-1-1-v0";
        c.actions = "nes";
        c.frame_skip = 1;
        c.pixels = 0;
        c.reward = shaped ? "shaped" : "v7";
        char err[256];
        env *e;
        if (env_create(&e, &c, rom_dir, err, sizeof err) < 0) {
            fprintf(stderr, "%s\n", err);
            testlib_failures++;
            return;
        }
        env_info info;
        env_reset(e, NULL, &info);
        const uint8_t *ram = nes_ram(env_nes(e));
        int d = 0;
        size_t i;
        double ret = 0, x_sum = 0, t_sum = 0, progress = 0, complete = 0, death = 0, score = 0;
        double coins = 0, power = 0;
        int start_time = ram_time(ram);
        for (i = 0; i < n && !d; i++) {
            float r;
            CHECK(env_step(e, in[i], NULL, &r, &d, &info, err, sizeof err) == 0);
            ret += r;
            x_sum += info.r_x;
            t_sum += info.r_time;
            progress += info.r_progress;
            complete += info.r_complete;
            death += info.r_death;
            score += info.r_score;
            coins += info.r_coins;
            power += info.r_powerup;
        }
        CHECK_EQ_INT(d, 1);
        CHECK_EQ_INT(i, n); /* done exactly on the last input */
        CHECK_EQ_INT(info.flag_get, 1);
        CHECK_EQ_INT(info.world, 1);
        CHECK_EQ_INT(info.stage, 1);
        CHECK(info.x_pos > 3100);
        CHECK(death == 0.0);
        /* the clock term adds up to the clock's change; x to x's (no jumps on the way) */
        CHECK(t_sum == (double)(ram_time(ram) - start_time));
        CHECK(x_sum == (double)(info.x_pos - 40));
        if (!shaped) {
            CHECK(ret == x_sum + t_sum); /* no frame reached the clip */
        } else {
            CHECK(complete == 50.0);
            CHECK(progress == (double)(info.x_pos_max - 40));
            CHECK(score > 0 && score * 100.0 > info.score - 0.5 && score * 100.0 < info.score + 0.5);
            CHECK(coins == 5.0 * info.coins);
            CHECK(power == 5.0 * info.status);
            CHECK(info.coins > 0);
        }
        env_free(e);
    }
}

/* The shaped reward's power-up term: poke the status byte as a mushroom would. */
static void test_shaped_powerup(void)
{
    env_config c;
    env_config_default(&c);
    c.reward = "shaped";
    c.frame_skip = 1;
    c.pixels = 0;
    char err[256];
    env *e;
    if (env_create(&e, &c, rom_dir, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        testlib_failures++;
        return;
    }
    env_info in;
    env_reset(e, NULL, &in);
    nes_ram(env_nes(e))[0x0756] = 1; /* tall */
    float r;
    int d;
    CHECK(env_step(e, 0, NULL, &r, &d, &in, err, sizeof err) == 0);
    CHECK(in.r_powerup == 5.0f);
    CHECK(r == 5.0f);
    CHECK_EQ_INT(in.status, ENV_STATUS_TALL);
    CHECK(env_step(e, 0, NULL, &r, &d, &in, err, sizeof err) == 0);
    CHECK(in.r_powerup == 0.0f);
    env_free(e);
}

/* The full game goes on after the flag: the slide, the castle walk and 1-2's
 * pipe cut-scene are hidden frames, and the next step is in 1-2. */
static void test_full_game_flag(const uint8_t *in, size_t n)
{
    env *e = open_env("SuperMarioBros-v0", 1, "nes", 0);
    env_info info;
    env_reset(e, NULL, &info);
    char err[160];
    int d = 0, flags = 0, hidden_at_flag = 0;
    for (size_t i = 0; i < n; i++) {
        float r;
        CHECK(env_step(e, in[i], NULL, &r, &d, &info, err, sizeof err) == 0);
        CHECK_EQ_INT(d, 0);
        if (info.flag_get) {
            flags++;
            hidden_at_flag = info.hidden_frames;
        }
    }
    CHECK_EQ_INT(flags, 1);
    CHECK(hidden_at_flag > 500);
    float r;
    CHECK(env_step(e, NES_RIGHT, NULL, &r, &d, &info, err, sizeof err) == 0);
    CHECK_EQ_INT(info.world, 1);
    CHECK_EQ_INT(info.stage, 2);
    CHECK_EQ_INT(info.time, 400);
    CHECK(info.x_pos >= 40 && info.x_pos <= 42);
    CHECK_EQ_INT(info.player_state, 8);
    CHECK_EQ_INT(d, 0);
    env_free(e);
}

/* Reset is a state copy: no frame is emulated, and the machine is back where it was. */
static void test_reset_is_copy(void)
{
    env *e = open_env("SuperMarioBros-1-1-v0", 4, "simple", 1);
    env_reset(e, NULL, NULL);
    uint64_t h0 = nes_hash_bytes(nes_ram(env_nes(e)), 2048, 0);
    uint64_t f0 = env_frames_emulated(e);
    CHECK_EQ_INT(f0, 0);
    char err[160];
    float r;
    int d;
    env_info in;
    for (int i = 0; i < 20; i++)
        CHECK(env_step(e, 1, NULL, &r, &d, &in, err, sizeof err) == 0);
    uint64_t f1 = env_frames_emulated(e);
    CHECK_EQ_INT(f1, 80);
    CHECK_EQ_INT(env_frames_rendered(e), 20); /* one rendered frame per agent step */
    env_reset(e, NULL, &in);
    CHECK_EQ_INT(env_frames_emulated(e), f1);
    CHECK(nes_hash_bytes(nes_ram(env_nes(e)), 2048, 0) == h0);
    CHECK_EQ_INT(in.time, 400);
    CHECK_EQ_INT(in.x_pos, 40);
    env_free(e);
}

/* Rendering or not must not change the game. */
static void test_pixels_do_not_change_play(const uint8_t *in, size_t n)
{
    env *a = open_env("SuperMarioBros-1-1-v0", 1, "nes", 1);
    env *b = open_env("SuperMarioBros-1-1-v0", 1, "nes", 0);
    env_reset(a, NULL, NULL);
    env_reset(b, NULL, NULL);
    char err[160];
    for (size_t i = 0; i < n && i < 600; i++) {
        float ra, rb;
        int da, db;
        env_info ia, ib;
        env_step(a, in[i], NULL, &ra, &da, &ia, err, sizeof err);
        env_step(b, in[i], NULL, &rb, &db, &ib, err, sizeof err);
        CHECK(ra == rb);
    }
    CHECK(nes_hash_bytes(nes_ram(env_nes(a)), 2048, 0) == nes_hash_bytes(nes_ram(env_nes(b)), 2048, 0));
    env_free(a);
    env_free(b);
}

/* Sticky actions repeat the previous frame's buttons (NOOP at reset); no-op
 * starts run 0..N frame steps, seeded. */
static void test_sticky_and_noops(void)
{
    char err[256];
    for (int p = 0; p < 2; p++) {
        env_config c;
        env_config_default(&c);
        c.pixels = 0;
        c.sticky_p = p ? 1.0f : 0.0f;
        env *e;
        if (env_create(&e, &c, rom_dir, err, sizeof err) < 0) {
            fprintf(stderr, "%s\n", err);
            testlib_failures++;
            return;
        }
        env_info in;
        env_reset(e, NULL, &in);
        float r;
        int d;
        for (int i = 0; i < 10; i++)
            CHECK(env_step(e, 1, NULL, &r, &d, &in, err, sizeof err) == 0); /* right */
        if (p)
            CHECK_EQ_INT(in.x_pos, 40); /* always the NOOP it started with */
        else
            CHECK(in.x_pos > 60);
        env_free(e);
    }
    uint64_t counts[2][20];
    for (int k = 0; k < 2; k++) {
        env_config c;
        env_config_default(&c);
        c.pixels = k == 0;
        c.noop_max = 30;
        c.seed = 11;
        env *e;
        if (env_create(&e, &c, rom_dir, err, sizeof err) < 0) {
            fprintf(stderr, "%s\n", err);
            testlib_failures++;
            return;
        }
        for (int i = 0; i < 20; i++) {
            uint64_t f0 = env_frames_emulated(e);
            env_info in;
            env_reset(e, NULL, &in);
            counts[k][i] = env_frames_emulated(e) - f0;
            CHECK(counts[k][i] <= 30);
            CHECK(in.time == 400 || in.time == 399); /* the clock ticks 20 frames in */
        }
        env_free(e);
    }
    int distinct = 0;
    for (int i = 1; i < 20; i++)
        distinct += counts[1][i] != counts[1][0];
    CHECK(distinct > 0);
    for (int i = 0; i < 20; i++) /* same seed, same no-op counts, pixels or not */
        CHECK(counts[0][i] == counts[1][i]);
}

static void test_random_stages(void)
{
    env_config c;
    env_config_default(&c);
    c.task = "SuperMarioBrosRandomStages-v0";
    c.stages = "1-4,4-2,8-1";
    c.pixels = 0;
    c.seed = 7;
    char err[256];
    env *a, *b;
    if (env_create(&a, &c, rom_dir, err, sizeof err) < 0 || env_create(&b, &c, rom_dir, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        testlib_failures++;
        return;
    }
    int seen[3] = {0, 0, 0};
    for (int i = 0; i < 30; i++) {
        env_info ia, ib;
        env_reset(a, NULL, &ia);
        env_reset(b, NULL, &ib);
        CHECK_EQ_INT(ia.world, ib.world); /* same seed, same stages */
        CHECK_EQ_INT(ia.stage, ib.stage);
        int k = ia.world == 1 && ia.stage == 4 ? 0 : ia.world == 4 && ia.stage == 2 ? 1
              : ia.world == 8 && ia.stage == 1 ? 2 : -1;
        CHECK(k >= 0);
        if (k >= 0)
            seen[k]++;
        CHECK_EQ_INT(ia.x_pos, 40);
    }
    CHECK(seen[0] > 0 && seen[1] > 0 && seen[2] > 0);
    env_free(a);
    env_free(b);
}

static void test_tasks_and_roms(void)
{
    env_task t;
    char err[256];
    CHECK(env_task_parse(&t, "SuperMarioBros-4-2-v1", NULL, err, sizeof err) == 0);
    CHECK(t.world == 4 && t.stage == 2 && t.area == 3 && t.rom_mode == ENV_ROM_DOWNSAMPLE);
    CHECK(env_task_cart_game(&t) == CART_GAME_SMB_DOWNSAMPLE);
    CHECK(env_task_parse(&t, "SuperMarioBros-3-2-v0", NULL, err, sizeof err) == 0);
    CHECK_EQ_INT(t.area, 2); /* world 3 has no intro area */
    CHECK(env_task_parse(&t, "SuperMarioBros-v3", NULL, err, sizeof err) == 0);
    CHECK(t.world == 0 && env_task_cart_game(&t) == CART_GAME_SMB_RECTANGLE);
    CHECK(env_task_parse(&t, "SuperMarioBros2-v1", NULL, err, sizeof err) == 0);
    CHECK(env_task_cart_game(&t) == CART_GAME_SMB_LOST_LEVELS_DOWNSAMPLE);
    CHECK(env_task_parse(&t, "SuperMarioBros2-3-2-v0", NULL, err, sizeof err) == 0);
    CHECK_EQ_INT(t.area, 3);
    CHECK(env_task_parse(&t, "SuperMarioBros2-5-1-v0", NULL, err, sizeof err) < 0);
    CHECK(env_task_parse(&t, "SuperMarioBros-9-1-v0", NULL, err, sizeof err) < 0);
    CHECK(env_task_parse(&t, "SuperMarioBros-1-5-v0", NULL, err, sizeof err) < 0);
    CHECK(env_task_parse(&t, "SuperMarioBros-v4", NULL, err, sizeof err) < 0);
    CHECK(env_task_parse(&t, "SuperMarioBros2-v2", NULL, err, sizeof err) < 0);
    CHECK(env_task_parse(&t, "Pong-v0", NULL, err, sizeof err) < 0);
    CHECK(env_task_parse(&t, "SuperMarioBrosRandomStages-v0", "1-1,9-9", err, sizeof err) < 0);
    CHECK(env_task_parse(&t, "SuperMarioBrosRandomStages-v0", NULL, err, sizeof err) == 0);
    CHECK_EQ_INT(t.n_stages, 32);

    /* by hash from the folder, and a wrong file is a clear error */
    cart c;
    CHECK(env_task_parse(&t, "SuperMarioBros2-v0", NULL, err, sizeof err) == 0);
    CHECK(env_find_rom(&c, &t, rom_dir, err, sizeof err) == 0);
    CHECK_EQ_INT(c.game, CART_GAME_SMB_LOST_LEVELS);
    cart_free(&c);
    char path[4096];
    snprintf(path, sizeof path, "%s/super-mario-bros-pixel.nes", rom_dir);
    CHECK(env_task_parse(&t, "SuperMarioBros-1-1-v0", NULL, err, sizeof err) == 0);
    err[0] = '\0';
    CHECK(env_find_rom(&c, &t, path, err, sizeof err) < 0);
    CHECK(strstr(err, "needs") != NULL);
    CHECK(env_task_parse(&t, "SuperMarioBros-1-1-v2", NULL, err, sizeof err) == 0);
    CHECK(env_find_rom(&c, &t, path, err, sizeof err) == 0);
    cart_free(&c);

    /* Lost Levels starts too */
    env *e = open_env("SuperMarioBros2-v0", 4, "simple", 0);
    env_info in;
    env_reset(e, NULL, &in);
    CHECK(in.world == 1 && in.stage == 1 && in.x_pos == 40 && in.time == 400);
    env_free(e);
    /* and its stage targeting (area = stage + 1 from stage 2 in worlds 1 and 3) */
    e = open_env("SuperMarioBros2-3-2-v0", 4, "simple", 0);
    env_reset(e, NULL, &in);
    CHECK(in.world == 3 && in.stage == 2 && in.x_pos == 40 && in.time == 400 && in.player_state == 8);
    env_free(e);
}

static void test_actions(void)
{
    const env_action_set *s = env_action_set_find("simple");
    CHECK(s && s->n == 7);
    static const char *names[7] = {"NOOP", "right", "right A", "right B", "right A B", "A", "left"};
    for (int i = 0; s && i < 7; i++) {
        char buf[64];
        env_buttons_name(s->buttons[i], buf, sizeof buf);
        CHECK(!strcmp(buf, names[i]));
        CHECK(!strcmp(s->labels[i], names[i]));
    }
    CHECK(s && s->buttons[4] == 0x83); /* right A B: bits 7, 0, 1 */
    CHECK(env_action_set_find("right")->n == 5);
    CHECK(env_action_set_find("COMPLEX_MOVEMENT")->n == 12);
    CHECK(env_action_set_find("complex")->buttons[11] == NES_UP);
    CHECK(env_action_set_find("tutorial")->n == 2);
    CHECK(env_action_set_find("tutorial")->buttons[1] == (NES_RIGHT | NES_A));
    const env_action_set *all = env_action_set_find("nes");
    CHECK(all->n == 256 && all->buttons[200] == 200);
    CHECK(env_action_set_find("bogus") == NULL);
}

int main(void)
{
    char buf[4096];
    testlib_data_path("SMBRL_ROM_DIR", "super-mario-bros.nes", buf, sizeof buf);
    rom_dir = getenv("SMBRL_ROM_DIR");
    size_t n;
    uint8_t *in = read_inputs(&n);
    CHECK(n > 500);
    test_actions();
    test_tasks_and_roms();
    test_reset_values();
    test_all_stage_targets();
    test_goomba_death();
    test_reward_from_ram(in, n);
    test_flag(in, n);
    test_full_game_flag(in, n);
    test_shaped_powerup();
    test_reset_is_copy();
    test_pixels_do_not_change_play(in, n);
    test_random_stages();
    test_sticky_and_noops();
    free(in);
    return testlib_finish("test_env_smb");
}
