/* env.c: owns one environment's life: the start snapshots (start screen skipped
 * once, every reset a state copy), the gym frame step with its hidden frames,
 * and the agent step (frame skip, sticky actions, no-op starts, max-pool, stack).
 *
 * Only the frames an observation uses are rendered. When an episode ends early
 * inside a frame skip, the agent step is replayed from the state saved at its
 * start, with pixels on for the frame step(s) it needs (the emulator is
 * deterministic), so skipped frames never pay for pixels and the final
 * observation is still the true last frame. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env_internal.h"

void env_config_default(env_config *c)
{
    memset(c, 0, sizeof *c);
    c->task = "SuperMarioBros-1-1-v0";
    c->actions = "simple";
    c->reward = "v7";
    c->resize = "area";
    c->frame_skip = 4;
    c->pixels = 1;
}

/* ---- emulation helpers ---------------------------------------------------- */

static void run_base(nes *n, uint64_t *count, uint8_t buttons, uint8_t *pixels)
{
    nes_run_frame(n, buttons, pixels);
    (*count)++;
}

/* gym's _skip_start_screen: press and release Start until the clock runs; for a
 * stage target, write world/stage/area each time round. The frame showing at the
 * end is rendered by replaying the last frame from a saved state.
 *
 * Frame phase: nes-py's frames are 29781 CPU cycles counted from power-on, so
 * they end about 2270 cycles after the vertical blank where ours end, part way
 * into the game's NMI handler. The loop below checks the clock every second
 * frame, so that offset decides whether it sees the clock's first value (401)
 * or the next (400). One NOOP frame at power-on puts our checks on the gym's
 * parity: with it, reset gives what gym-super-mario-bros' own tests expect
 * (1-1 and 4-2: time 400, 8-1 and 7-3: time 300, x_pos 40); without it the clock
 * has already ticked once (399). */
static int skip_start_screen(nes *n, const env_task *t, int world, int stage, int area,
                             uint8_t *state, uint8_t *frame, uint8_t *tmp, uint64_t *count,
                             char *err, size_t errlen)
{
    uint8_t *ram = nes_ram(n);
    nes_power(n);
    run_base(n, count, 0, NULL); /* see the note on frame phase above */
    run_base(n, count, NES_START, NULL);
    run_base(n, count, 0, NULL);
    int guard = 0;
    while (env_ram_time(ram) == 0) {
        run_base(n, count, NES_START, NULL);
        if (world) {
            ram[SMB_WORLD] = (uint8_t)(world - 1);
            ram[SMB_STAGE] = (uint8_t)(stage - 1);
            ram[SMB_AREA] = (uint8_t)(area - 1);
        }
        run_base(n, count, 0, NULL);
        ram[SMB_PRELEVEL_TIMER] = 0;
        if (++guard > 10000) {
            snprintf(err, errlen, "%s: the game clock never started (is this ROM really %s?)",
                     t->name, cart_game_name(env_task_cart_game(t)));
            return -1;
        }
    }
    int time_last;
    guard = 0;
    do {
        time_last = env_ram_time(ram);
        run_base(n, count, NES_START, NULL);
        nes_save(n, tmp);
        run_base(n, count, 0, NULL);
        if (++guard > 10000) {
            snprintf(err, errlen, "%s: the game clock never ticked after the start screen", t->name);
            return -1;
        }
    } while (env_ram_time(ram) >= time_last);
    if (nes_load(n, tmp) < 0) {
        snprintf(err, errlen, "cannot restore an emulator state");
        return -1;
    }
    run_base(n, count, 0, frame);
    nes_save(n, state);
    return 0;
}

void env_base_free(env_base *b)
{
    if (!b)
        return;
    for (int i = 0; i < b->n_starts; i++) {
        if (b->start_state)
            free(b->start_state[i]);
        if (b->start_frame)
            free(b->start_frame[i]);
        if (b->start_obs)
            free(b->start_obs[i]);
    }
    free(b->start_state);
    free(b->start_frame);
    free(b->start_obs);
    cart_free(&b->cart);
    free(b);
}

int env_base_create(env_base **out, const env_config *cfg_in, const char *rom_path, char *err,
                    size_t errlen)
{
    *out = NULL;
    env_config def;
    env_config_default(&def);
    const env_config *cfg = cfg_in ? cfg_in : &def;
    env_base *b = calloc(1, sizeof *b);
    if (!b) {
        snprintf(err, errlen, "out of memory");
        return -3;
    }
    b->cfg = *cfg;
    b->cfg.task = b->cfg.stages = b->cfg.actions = b->cfg.reward = b->cfg.resize = NULL;
    int rc = -1;
    nes *n = NULL;
    uint8_t *tmp = NULL;
    if (env_task_parse(&b->task, cfg->task ? cfg->task : def.task, cfg->stages, err, errlen) < 0)
        goto fail;
    const char *aname = cfg->actions ? cfg->actions : def.actions;
    b->actions = env_action_set_find(aname);
    if (!b->actions) {
        snprintf(err, errlen, "unknown action set '%s' (right, simple, complex, tutorial, nes)", aname);
        goto fail;
    }
    const char *rname = cfg->reward ? cfg->reward : def.reward;
    if (!strcmp(rname, "v7") || !strcmp(rname, "default"))
        b->reward_kind = ENV_REWARD_V7;
    else if (!strcmp(rname, "shaped"))
        b->reward_kind = ENV_REWARD_SHAPED;
    else {
        snprintf(err, errlen, "unknown reward '%s' (v7 or shaped)", rname);
        goto fail;
    }
    if (cfg->frame_skip < 1 || cfg->frame_skip > 1000) {
        snprintf(err, errlen, "frame skip %d is out of range 1..1000", cfg->frame_skip);
        goto fail;
    }
    if (!(cfg->sticky_p >= 0.0f && cfg->sticky_p <= 1.0f)) {
        snprintf(err, errlen, "sticky-action probability must be in [0, 1]");
        goto fail;
    }
    if (cfg->noop_max < 0 || cfg->noop_max > 100000) {
        snprintf(err, errlen, "no-op maximum %d is out of range 0..100000", cfg->noop_max);
        goto fail;
    }
    if (cfg->obs != ENV_OBS_PIXELS && cfg->obs != ENV_OBS_TILES) {
        snprintf(err, errlen, "unknown observation kind %d (pixels or tiles)", cfg->obs);
        goto fail;
    }
    b->render = cfg->pixels && cfg->obs == ENV_OBS_PIXELS;
    b->obs_frame = cfg->obs == ENV_OBS_TILES ? (size_t)ENV_TILES_SIZE : (size_t)ENV_FRAME_SIZE;
    if (env_find_rom(&b->cart, &b->task, rom_path, err, errlen) < 0)
        goto fail;
    const char *zname = cfg->resize ? cfg->resize : "area";
    int resize;
    if (!strcmp(zname, "area"))
        resize = ENV_RESIZE_AREA;
    else if (!strcmp(zname, "antialias"))
        resize = ENV_RESIZE_ANTIALIAS;
    else {
        snprintf(err, errlen, "unknown resize '%s' (area or antialias)", zname);
        goto fail;
    }
    env_obs_tables_init(&b->tables, resize);
    b->single_stage = b->task.world != 0 || b->task.random_stages;
    b->n_starts = b->task.random_stages ? b->task.n_stages : 1;
    b->state_size = nes_state_size();
    b->start_state = calloc((size_t)b->n_starts, sizeof *b->start_state);
    b->start_frame = calloc((size_t)b->n_starts, sizeof *b->start_frame);
    b->start_obs = calloc((size_t)b->n_starts, sizeof *b->start_obs);
    tmp = malloc(b->state_size);
    n = nes_create(&b->cart, err, errlen);
    if (!b->start_state || !b->start_frame || !b->start_obs || !tmp || !n) {
        if (n || !err[0])
            snprintf(err, errlen, "out of memory");
        rc = -3;
        goto fail;
    }
    for (int i = 0; i < b->n_starts; i++) {
        b->start_state[i] = malloc(b->state_size);
        b->start_frame[i] = malloc((size_t)NES_WIDTH * NES_HEIGHT);
        b->start_obs[i] = malloc(ENV_FRAME_SIZE);
        if (!b->start_state[i] || !b->start_frame[i] || !b->start_obs[i]) {
            snprintf(err, errlen, "out of memory");
            rc = -3;
            goto fail;
        }
        int w = b->task.world, s = b->task.stage, a = b->task.area;
        if (b->task.random_stages) {
            w = b->task.stages[i][0];
            s = b->task.stages[i][1];
            a = env_target_area(0, w, s, err, errlen);
        }
        if (skip_start_screen(n, &b->task, w, s, a, b->start_state[i], b->start_frame[i], tmp,
                              &b->setup_frames, err, errlen) < 0)
            goto fail;
        env_obs_process(&b->tables, b->start_frame[i], NULL, b->start_obs[i]);
    }
    nes_free(n);
    free(tmp);
    *out = b;
    return 0;
fail:
    nes_free(n);
    free(tmp);
    env_base_free(b);
    return rc;
}

const env_task *env_base_task(const env_base *b) { return &b->task; }
const env_action_set *env_base_actions(const env_base *b) { return b->actions; }
const env_config *env_base_config(const env_base *b) { return &b->cfg; }
int env_base_resize(const env_base *b) { return b->tables.resize; }
uint64_t env_base_setup_frames(const env_base *b) { return b->setup_frames; }

void env_obs_shape(const env_base *b, int *stack, int *h, int *w)
{
    int tiles = b->cfg.obs == ENV_OBS_TILES;
    *stack = ENV_STACK;
    *h = tiles ? ENV_TILES_H : ENV_OBS_H;
    *w = tiles ? ENV_TILES_W : ENV_OBS_W;
}

size_t env_obs_size(const env_base *b) { return ENV_STACK * b->obs_frame; }

int env_obs_kind_parse(const char *name)
{
    if (name && !strcmp(name, "pixels"))
        return ENV_OBS_PIXELS;
    if (name && !strcmp(name, "tiles"))
        return ENV_OBS_TILES;
    return -1;
}

const char *env_obs_kind_name(int kind)
{
    return kind == ENV_OBS_TILES ? "tiles" : kind == ENV_OBS_PIXELS ? "pixels" : "?";
}

/* ---- one env -------------------------------------------------------------- */

void env_free(env *e)
{
    if (!e)
        return;
    nes_free(e->nes);
    free(e->frame[0]);
    free(e->frame[1]);
    free(e->snap);
    free(e->buttons);
    free(e->hsnap);
    env_base_free(e->owned);
    free(e);
}

int env_create_on(env **out, const env_base *b, uint64_t seed, char *err, size_t errlen)
{
    *out = NULL;
    env *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return -3;
    }
    e->base = b;
    rng_seed(&e->rng, seed);
    e->nes = nes_create(&b->cart, err, errlen);
    e->frame[0] = calloc(1, (size_t)NES_WIDTH * NES_HEIGHT);
    e->frame[1] = calloc(1, (size_t)NES_WIDTH * NES_HEIGHT);
    e->snap = malloc(b->state_size);
    e->buttons = malloc((size_t)b->cfg.frame_skip);
    e->hsnap = malloc(b->state_size);
    if (!e->nes || !e->frame[0] || !e->frame[1] || !e->snap || !e->buttons || !e->hsnap) {
        if (e->nes)
            snprintf(err, errlen, "out of memory");
        env_free(e);
        return -3;
    }
    e->done = 1;
    *out = e;
    return 0;
}

int env_create(env **out, const env_config *cfg, const char *rom_path, char *err, size_t errlen)
{
    env_base *b;
    int rc = env_base_create(&b, cfg, rom_path, err, errlen);
    if (rc < 0)
        return rc;
    rc = env_create_on(out, b, cfg ? cfg->seed : 0, err, errlen);
    if (rc < 0) {
        env_base_free(b);
        return rc;
    }
    (*out)->owned = b;
    return 0;
}

int env_num_actions(const env *e) { return e->base->actions->n; }
const env_base *env_get_base(const env *e) { return e->base; }
nes *env_nes(env *e) { return e->nes; }
const uint8_t *env_frame(const env *e) { return e->frame[e->cur]; }
uint64_t env_frames_emulated(const env *e) { return e->frames; }
uint64_t env_frames_rendered(const env *e) { return e->rendered; }

void env_render_rgb(const env *e, uint8_t *rgb) { nes_frame_to_rgb(env_frame(e), NULL, rgb); }

void env_render_gray(const env *e, uint8_t *gray)
{
    env_obs_gray_full(&e->base->tables, env_frame(e), gray);
}

static void run(env *e, uint8_t buttons, uint8_t *pixels)
{
    nes_run_frame(e->nes, buttons, pixels);
    e->frames++;
    if (pixels)
        e->rendered++;
}

static void track_reset(smb_track *tr, const uint8_t *ram)
{
    tr->x_last = env_ram_x_pos(ram);
    tr->time_last = env_ram_time(ram);
    tr->x_max = tr->x_last;
    tr->score_last = env_ram_score(ram);
    tr->coins_last = env_ram_coins(ram);
    tr->status_last = env_ram_status(ram);
    tr->completed = 0;
}

/* gym's _did_step: frames with no input the agent never sees. Returns their count.
 * When `pixels` is given only the last of them is rendered: each runs without
 * pixels after a save, and the last is replayed from its save with pixels. The
 * one RAM write that can follow the last frame (the area timer) is redone. */
static int hidden_frames(env *e, uint8_t *pixels)
{
    uint8_t *ram = nes_ram(e->nes);
    const int all = e->base->cfg.render_all;
    uint8_t *keep = pixels && !all ? e->hsnap : NULL;
    uint8_t *direct = all ? pixels : NULL;
    int count = 0, timer_last = 0;
#define HIDDEN_FRAME()                 \
    do {                               \
        if (keep)                      \
            nes_save(e->nes, keep);    \
        run(e, 0, direct);             \
        count++;                       \
        timer_last = 0;                \
    } while (0)
    if (smb_is_dying(ram)) {
        ram[SMB_PLAYER_STATE] = 0x06;
        HIDDEN_FRAME();
    }
    if (!e->base->single_stage && smb_is_world_over(ram)) {
        int t = env_ram_time(ram), guard = 0;
        while (env_ram_time(ram) == t && guard++ < SMB_HIDDEN_LOOP_MAX)
            HIDDEN_FRAME();
        if (guard > SMB_HIDDEN_LOOP_MAX)
            e->hidden_capped = 1;
    }
    uint8_t timer = ram[SMB_AREA_TIMER];
    if (timer > 1 && timer < 255) {
        ram[SMB_AREA_TIMER] = 1;
        timer_last = 1;
    }
    int guard = 0;
    while ((smb_is_busy(ram) || smb_is_world_over(ram)) && guard++ < SMB_HIDDEN_LOOP_MAX) {
        ram[SMB_PRELEVEL_TIMER] = 0;
        HIDDEN_FRAME();
    }
#undef HIDDEN_FRAME
    if (guard > SMB_HIDDEN_LOOP_MAX)
        e->hidden_capped = 1;
    if (keep && count > 0) {
        nes_load(e->nes, keep);
        run(e, 0, pixels);
        if (timer_last)
            ram[SMB_AREA_TIMER] = 1;
    }
    return count;
}

/* One nes-py step of gym-super-mario-bros: a frame, its reward (clipped to
 * [-15, 15]), done and info, then the hidden frames unless done. The info is
 * read before the hidden frames, as the gym does. */
static float frame_step(env *e, uint8_t buttons, uint8_t *pixels, env_info *acc, int *done)
{
    run(e, buttons, pixels);
    const uint8_t *ram = nes_ram(e->nes);
    smb_track *tr = &e->tr;

    int x = env_ram_x_pos(ram);
    int dx = x - tr->x_last;
    tr->x_last = x;
    if (dx < -5 || dx > 5) /* a jump in x is a reset or an area change, not motion */
        dx = 0;
    int t = env_ram_time(ram);
    int dt = t - tr->time_last;
    tr->time_last = t;
    if (dt > 0)
        dt = 0;
    int dying = smb_is_dying(ram), dead = smb_is_dead(ram);
    int death = dying || dead ? -25 : 0;
    int flag = env_ram_flag_get(ram);

    /* shaped terms (gym 9.x style): progress only past the best x so far */
    int progress = 0;
    if (x > tr->x_max) {
        progress = x - tr->x_max <= 5 ? x - tr->x_max : 0;
        tr->x_max = x;
    }
    int score = env_ram_score(ram), coins = env_ram_coins(ram), status = env_ram_status(ram);
    float r_score = (float)(score - tr->score_last) / 100.0f;
    int dcoins = coins - tr->coins_last;
    if (dcoins < 0) /* the counter wraps at 100 (and gives a life) */
        dcoins += 100;
    float r_coins = 5.0f * (float)dcoins;
    float r_powerup = 5.0f * (float)(status - tr->status_last);
    float r_complete = 0.0f;
    if (flag && !tr->completed) {
        tr->completed = 1;
        r_complete = 50.0f;
    }
    tr->score_last = score;
    tr->coins_last = coins;
    tr->status_last = status;

    float r;
    if (e->base->reward_kind == ENV_REWARD_SHAPED)
        r = (float)progress + r_score + r_coins + r_powerup + r_complete + (float)death;
    else
        r = (float)(dx + dt + death);
    if (r < -15.0f)
        r = -15.0f;
    if (r > 15.0f)
        r = 15.0f;

    *done = e->base->single_stage ? (dying || dead || flag) : ram[SMB_LIVES] == 0xFF;
    if (acc) {
        acc->r_x += (float)dx;
        acc->r_time += (float)dt;
        acc->r_death += (float)death;
        acc->r_progress += (float)progress;
        acc->r_score += r_score;
        acc->r_coins += r_coins;
        acc->r_powerup += r_powerup;
        acc->r_complete += r_complete;
        acc->frames++;
        env_ram_info(ram, acc);
        acc->flag_get = flag;
        acc->x_pos_max = tr->x_max;
    }
    if (!*done) {
        int h = hidden_frames(e, pixels);
        if (acc)
            acc->hidden_frames += h;
    }
    return r;
}

static uint8_t *render_target(env *e)
{
    /* render into the older buffer; it becomes the latest */
    e->cur ^= 1;
    return e->frame[e->cur];
}

/* The newest frame of the stack: the processed pixels, or the tile grid of the
 * RAM as it is now (after any hidden frames, like the picture). */
static void make_frame(env *e, int max_pool, uint8_t *slot)
{
    const env_base *b = e->base;
    if (b->cfg.obs == ENV_OBS_TILES)
        env_tiles_grid(nes_ram(e->nes), slot);
    else
        env_obs_process(&b->tables, e->frame[e->cur], max_pool ? e->frame[e->cur ^ 1] : NULL,
                        slot);
}

static void push_obs(env *e, int max_pool, uint8_t *obs)
{
    const size_t fs = e->base->obs_frame;
    make_frame(e, max_pool, e->stack[e->head]);
    e->head = (e->head + 1) % ENV_STACK;
    if (obs)
        for (int i = 0; i < ENV_STACK; i++)
            memcpy(obs + (size_t)i * fs, e->stack[(e->head + i) % ENV_STACK], fs);
}

/* Returns the start index it restored. */
static int load_start(env *e)
{
    const env_base *b = e->base;
    int i = b->n_starts > 1 ? (int)rng_below(&e->rng, (uint32_t)b->n_starts) : 0;
    nes_load(e->nes, b->start_state[i]);
    if (b->render) {
        memcpy(e->frame[0], b->start_frame[i], (size_t)NES_WIDTH * NES_HEIGHT);
        memcpy(e->frame[1], b->start_frame[i], (size_t)NES_WIDTH * NES_HEIGHT);
    }
    track_reset(&e->tr, nes_ram(e->nes));
    e->prev_buttons = 0;
    return i;
}

int env_reset(env *e, uint8_t *obs, env_info *info)
{
    const env_base *b = e->base;
    int start = load_start(e);
    e->hidden_capped = 0;
    /* no-op start: like gym's NoopResetEnv, frame steps with no input, starting
     * over when one ends the episode; only the last one or two are rendered */
    int noops = b->cfg.noop_max > 0 ? (int)rng_below(&e->rng, (uint32_t)b->cfg.noop_max + 1) : 0;
    int from = b->cfg.render_all ? 0 : noops - (b->cfg.max_pool ? 2 : 1);
    for (int j = 0; j < noops; j++) {
        int done = 0;
        uint8_t *pix = b->render && j >= from ? render_target(e) : NULL;
        frame_step(e, 0, pix, NULL, &done);
        if (done)
            start = load_start(e);
    }
    if (b->render || b->cfg.obs == ENV_OBS_TILES) {
        const size_t fs = b->obs_frame;
        uint8_t *first = e->stack[0];
        if (noops == 0 && b->render) /* the frame the snapshot shows, processed once per base */
            memcpy(first, b->start_obs[start], fs);
        else
            make_frame(e, b->cfg.max_pool, first);
        for (int i = 1; i < ENV_STACK; i++)
            memcpy(e->stack[i], first, fs);
        e->head = 0;
        if (obs)
            for (int i = 0; i < ENV_STACK; i++)
                memcpy(obs + (size_t)i * fs, first, fs);
    } else if (obs) {
        memset(obs, 0, ENV_OBS_SIZE);
    }
    if (info) {
        memset(info, 0, sizeof *info);
        env_ram_info(nes_ram(e->nes), info);
        info->x_pos_max = e->tr.x_max;
    }
    e->done = 0;
    e->started = 1;
    return 0;
}

int env_step(env *e, int action, uint8_t *obs, float *reward, int *done, env_info *info,
             char *err, size_t errlen)
{
    const env_base *b = e->base;
    if (action < 0 || action >= b->actions->n) {
        snprintf(err, errlen, "action %d is out of range 0..%d", action, b->actions->n - 1);
        return -1;
    }
    if (e->done) {
        snprintf(err, errlen, e->started ? "the episode has ended: reset first" : "reset before the first step");
        return -1;
    }
    const int k = b->cfg.frame_skip, pixels = b->render, max_pool = b->cfg.max_pool;
    const int render_from = b->cfg.render_all ? 0 : k - (max_pool ? 2 : 1);
    const uint8_t wanted = b->actions->buttons[action];
    env_info acc;
    memset(&acc, 0, sizeof acc);
    float total = 0.0f;
    int d = 0, j;
    /* One copy of the machine per agent step, before its first frame step, is
     * what an early end needs: a copy before every unrendered frame step (so
     * that a replay runs only the frames it renders) cost frame_skip - 1
     * copies per step to spare a few frames of emulation once an episode. */
    if (pixels && render_from > 0) {
        nes_save(e->nes, e->snap);
        e->snap_tr = e->tr;
    }
    for (j = 0; j < k; j++) {
        uint8_t buttons = wanted;
        if (b->cfg.sticky_p > 0.0f && rng_uniform_f(&e->rng) < b->cfg.sticky_p)
            buttons = e->prev_buttons;
        e->prev_buttons = buttons;
        e->buttons[j] = buttons;
        uint8_t *pix = pixels && j >= render_from ? render_target(e) : NULL;
        total += frame_step(e, buttons, pix, &acc, &d);
        if (d)
            break;
    }
    int first = max_pool && j >= 1 ? j - 1 : j;
    if (d && pixels && first < render_from) {
        /* The episode ended early and the last frame step (or, for the max, one
         * of the last two) was not rendered: replay the step from its start with
         * the same buttons (the emulator is deterministic), rendering those. */
        nes_load(e->nes, e->snap);
        e->tr = e->snap_tr;
        for (int r = 0; r <= j; r++) {
            int dd = 0;
            frame_step(e, e->buttons[r], r >= first ? render_target(e) : NULL, NULL, &dd);
        }
    }
    if (pixels || b->cfg.obs == ENV_OBS_TILES)
        push_obs(e, max_pool, obs);
    else if (obs)
        memset(obs, 0, ENV_OBS_SIZE);
    e->done = d;
    *reward = total;
    *done = d;
    if (info)
        *info = acc;
    if (e->hidden_capped) {
        snprintf(err, errlen, "a hidden-frame loop ran %d frames without leaving a busy state",
                 SMB_HIDDEN_LOOP_MAX);
        e->done = 1;
        return -2;
    }
    return 0;
}
