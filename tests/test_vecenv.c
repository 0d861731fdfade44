/* test_vecenv.c: batched stepping is deterministic whatever the batch size and
 * thread count (with sticky actions and no-op starts drawing from each env's
 * generator), auto-resets keep the ended episode's info, the slab layout is
 * [n,4,84,84], and a step allocates nothing. Needs $SMBRL_ROM_DIR. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "smbrl/env.h"
#include "smbrl/rng.h"
#include "testlib.h"

#define STEPS 100
#define MAXN 4

/* per env, per step: hash of (obs, reward, done, info) */
static uint64_t trace[3][MAXN][STEPS];

static void run(int slot, int n, int threads, int *dones_seen)
{
    env_config c;
    env_config_default(&c);
    c.task = "SuperMarioBros-1-1-v0";
    c.sticky_p = 0.25f;
    c.noop_max = 8;
    c.seed = 42;
    char err[256];
    vecenv *v;
    if (vecenv_create(&v, &c, getenv("SMBRL_ROM_DIR"), n, threads, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    CHECK_EQ_INT(vecenv_num(v), n);
    CHECK_EQ_INT(vecenv_num_actions(v), 7);
    CHECK(vecenv_reset(v, err, sizeof err) == 0);
    rng pick[MAXN];
    for (int i = 0; i < n; i++)
        rng_seed(&pick[i], 1000 + (uint64_t)i); /* env i's actions do not depend on n */
    int actions[MAXN];
#ifdef __GLIBC__
    struct mallinfo2 before = mallinfo2();
#endif
    for (int t = 0; t < STEPS; t++) {
        for (int i = 0; i < n; i++)
            actions[i] = (int)rng_below(&pick[i], 7);
        CHECK(vecenv_step(v, actions, err, sizeof err) == 0);
        const uint8_t *obs = vecenv_obs(v);
        for (int i = 0; i < n; i++) {
            const uint8_t *o = obs + (size_t)i * ENV_OBS_SIZE;
            uint64_t h = nes_hash_bytes(o, ENV_OBS_SIZE, 0);
            h = nes_hash_bytes(&vecenv_rewards(v)[i], sizeof(float), h);
            h = nes_hash_bytes(&vecenv_dones(v)[i], 1, h);
            h = nes_hash_bytes(&vecenv_infos(v)[i], sizeof(env_info), h);
            trace[slot][i][t] = h;
            if (vecenv_dones(v)[i]) {
                (*dones_seen)++;
                /* the slot already holds the next episode's first observation */
                for (int s = 1; s < ENV_STACK; s++)
                    CHECK(memcmp(o, o + s * ENV_FRAME_SIZE, ENV_FRAME_SIZE) == 0);
                /* while info is the ended episode's: it moved right and ended */
                const env_info *in = &vecenv_infos(v)[i];
                CHECK(in->x_pos_max > 40 || in->player_state == 0x0B || in->player_state == 6);
                CHECK(vecenv_rewards(v)[i] < 0.0f || in->flag_get);
            }
        }
    }
#ifdef __GLIBC__
    if (threads == 1) {
        struct mallinfo2 after = mallinfo2();
        CHECK(after.uordblks == before.uordblks);
        CHECK(after.hblkhd == before.hblkhd);
    }
#endif
    /* a bad action is refused before anything runs */
    actions[0] = 7;
    CHECK(vecenv_step(v, actions, err, sizeof err) < 0);
    vecenv_free(v);
}

int main(void)
{
    char buf[4096];
    testlib_data_path("SMBRL_ROM_DIR", "super-mario-bros.nes", buf, sizeof buf);
    int dones = 0;
    run(0, 4, 1, &dones);
    run(1, 4, 2, &dones);
    run(2, 2, 1, &dones);
    CHECK(dones > 3);
    int diff = 0;
    for (int i = 0; i < MAXN; i++)
        for (int t = 0; t < STEPS; t++) {
            if (trace[0][i][t] != trace[1][i][t])
                diff++;
            if (i < 2 && trace[0][i][t] != trace[2][i][t])
                diff++;
        }
    CHECK_EQ_INT(diff, 0);
    /* and the envs do differ from each other (seeds per env) */
    int same = 0;
    for (int t = 0; t < STEPS; t++)
        same += trace[0][0][t] == trace[0][1][t];
    CHECK(same < STEPS / 2);
    return testlib_finish("test_vecenv");
}
