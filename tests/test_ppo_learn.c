/* test_ppo_learn.c: PPO learns a small control task end to end: rollouts with ppo_act, GAE,
 * ppo_update. The task is a chain of 8 cells with a near trap: from cell 1, moving left
 * reaches cell 0 and ends the episode with +0.1, moving right 6 times reaches cell 7 and ends
 * it with +1 (a random walk gets there first 1 time in 7); the third action stays put.
 * Episodes also end after 20 steps. Observations are one-hot uint8 (255 on the cell).
 * The optimal return is 1 in 6 steps (also under the discount: 0.9^5 = 0.59 > 0.1). Within a
 * bounded number of updates the greedy policy must take that path and the sampling policy
 * must average a return of at least 0.95 per episode (the first, random rollouts average
 * about 0.23), for several updates in a row. */
#include <math.h>

#include "smbrl/ppo.h"
#include "testlib.h"

enum { CELLS = 8, START = 1, ACTIONS = 3, LIMIT = 20 };

typedef struct chain {
    int cell, t;
} chain;

/* Applies action a; returns the reward and sets *done. */
static float chain_step(chain *c, int a, int *done)
{
    c->cell += a == 0 ? -1 : a == 1 ? 1 : 0;
    c->t++;
    float r = c->cell == 0 ? 0.1f : c->cell == CELLS - 1 ? 1.0f : 0.0f;
    *done = c->cell == 0 || c->cell == CELLS - 1 || c->t >= LIMIT;
    return r;
}

static void chain_obs(const chain *c, uint8_t *obs)
{
    memset(obs, 0, CELLS);
    obs[c->cell] = 255;
}

/* Greedy episode from the start: its return, and its length in *steps. */
static float greedy_return(ppo *p, int *steps)
{
    chain c = {START, 0};
    uint8_t obs[CELLS];
    float ret = 0;
    int done = 0;
    while (!done) {
        int32_t a;
        chain_obs(&c, obs);
        ppo_act_greedy(p, obs, 1, &a);
        ret += chain_step(&c, a, &done);
    }
    *steps = c.t;
    return ret;
}

int main(void)
{
    ppo_config cfg;
    ppo_config_default(&cfg);
    cfg.steps = 32, cfg.envs = 8, cfg.epochs = 4, cfg.minibatches = 4;
    cfg.lambda = 0.95f;
    cfg.adam.lr = 3e-3f; /* uvipen's 1e-4 suits a conv net on pixels, not this toy */
    const int hidden[1] = {32};
    nn_spec spec;
    ppo_spec_mlp(&spec, CELLS, hidden, 1, ACTIONS);
    rng r;
    rng_seed(&r, 2026);
    char err[160];
    ppo *p = ppo_create(&cfg, &spec, &r, err, sizeof err);
    ppo_rollout ro;
    if (!p || ppo_rollout_init(&ro, cfg.steps, cfg.envs, CELLS, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    chain envs[8];
    uint8_t cur[8 * CELLS];
    for (int n = 0; n < cfg.envs; n++) {
        envs[n] = (chain){START, 0};
        chain_obs(&envs[n], cur + n * CELLS);
    }
    const int max_updates = 60, hold = 5;
    int streak = 0, solved_at = -1, start_ret_first = -1;
    double ep_ret[8] = {0};
    for (int u = 0; u < max_updates && solved_at < 0; u++) {
        double sum_ret = 0;
        int episodes = 0;
        for (int t = 0; t < cfg.steps; t++) {
            const size_t k = (size_t)t * cfg.envs;
            memcpy(ro.obs + k * CELLS, cur, sizeof cur);
            ppo_act(p, &r, cur, cfg.envs, ro.actions + k, ro.logp + k, ro.values + k);
            for (int n = 0; n < cfg.envs; n++) {
                int done;
                ro.rewards[k + n] = chain_step(&envs[n], ro.actions[k + n], &done);
                ro.dones[k + n] = (float)done;
                ep_ret[n] += ro.rewards[k + n];
                if (done) {
                    sum_ret += ep_ret[n], episodes++;
                    ep_ret[n] = 0;
                    envs[n] = (chain){START, 0};
                }
                chain_obs(&envs[n], cur + n * CELLS);
            }
        }
        ppo_value(p, cur, cfg.envs, ro.last_values);
        ppo_compute_advantages(p, &ro);
        ppo_stats st;
        if (ppo_update(p, &ro, &r, &st, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        int steps;
        float g = greedy_return(p, &steps);
        const double mean_ret = episodes ? sum_ret / episodes : 0.0;
        const int optimal = fabsf(g - 1.0f) < 1e-6f && steps == CELLS - 1 - START;
        streak = optimal && mean_ret >= 0.95 ? streak + 1 : 0;
        if (u == 0)
            start_ret_first = (int)lrint(100 * sum_ret / (episodes ? episodes : 1));
        if (u % 10 == 0 || streak == hold)
            printf("update %3d: mean episode return %.3f (%d episodes), greedy %.2f in %d steps, "
                   "entropy %.3f, kl %.4f, clip frac %.3f\n",
                   u, mean_ret, episodes, g, steps, st.entropy,
                   st.approx_kl, st.clip_frac);
        if (streak == hold)
            solved_at = u;
    }
    printf("first rollout mean return x100: %d; solved (greedy optimal, mean return >= 0.95, %d "
           "updates in a row) at update %d of at most %d\n",
           start_ret_first, hold, solved_at, max_updates);
    CHECK(start_ret_first < 50); /* learning, not a lucky initialisation */
    CHECK(solved_at >= 0);
    /* The learnt policy also samples the optimal path almost always. */
    if (solved_at >= 0) {
        uint8_t obs[CELLS];
        int right = 0, total = 0;
        for (int cell = 1; cell < CELLS - 1; cell++) {
            chain c = {cell, 0};
            chain_obs(&c, obs);
            for (int i = 0; i < 200; i++, total++) {
                int32_t a;
                ppo_act(p, &r, obs, 1, &a, NULL, NULL);
                right += a == 1;
            }
        }
        printf("sampled 'right' in %d of %d draws over cells 1..6\n", right, total);
        CHECK(right > 0.8 * total);
    }
    ppo_rollout_free(&ro);
    ppo_free(p);
    return testlib_finish("test_ppo_learn");
}
