/* test_ppo.c: PPO pieces against numbers worked out by hand: GAE(lambda) with an episode end
 * inside the rollout, the clipped surrogate / Huber value / entropy loss, its statistics and
 * gradients on a linear policy whose probabilities are chosen, uvipen's reward shaping, the
 * lr schedule, categorical sampling, and that an update visits every sample once per epoch. */
#include <math.h>

#include "smbrl/ppo.h"
#include "testlib.h"

static int near(double got, double want, double tol)
{
    if (fabs(got - want) <= tol)
        return 1;
    fprintf(stderr, "  got %.9g want %.9g\n", got, want);
    return 0;
}

static void test_gae(void)
{
    /* T = 3 steps (rows) x N = 2 envs (columns), gamma = lambda = 0.5 so gamma*lambda = 0.25
     * and every number is exact in binary. */
    const float rewards[6] = {1, 1, 0, 3, 2, -1};
    const float values[6] = {0.5f, 2, 1, 1, 1, 0.5f};
    const float dones[6] = {0, 0, 0, 1, 0, 0};
    const float last[2] = {2, 4};
    float adv[6], ret[6];
    ppo_gae(adv, ret, rewards, values, dones, last, 3, 2, 0.5f, 0.5f);
    /* env 0 (no done):
     *   t=2: delta = 2 + 0.5*2(bootstrap) - 1   = 2;     A = 2
     *   t=1: delta = 0 + 0.5*1 - 1              = -0.5;  A = -0.5 + 0.25*2 = 0
     *   t=0: delta = 1 + 0.5*1 - 0.5            = 1;     A = 1 + 0.25*0    = 1
     * env 1 (the episode ends at t=1):
     *   t=2: delta = -1 + 0.5*4 - 0.5           = 0.5;   A = 0.5
     *   t=1: delta = 3 + 0 (done) - 1           = 2;     A = 2 (nothing carried over the end;
     *        uvipen's loop would give 2 + 0.25*0.5 = 2.125)
     *   t=0: delta = 1 + 0.5*1 - 2              = -0.5;  A = -0.5 + 0.25*2 = 0
     * returns = A + V. */
    const float want_adv[6] = {1, 0, 0, 2, 2, 0.5f};
    const float want_ret[6] = {1.5f, 2, 1, 3, 3, 1};
    for (int i = 0; i < 6; i++) {
        CHECK(near(adv[i], want_adv[i], 1e-6));
        CHECK(near(ret[i], want_ret[i], 1e-6));
    }
    /* lambda = 1: the returns are the discounted sums bootstrapped from the last value,
     * whatever the values: env 0: 2 + 0.5*2 = 3, 0 + 0.5*3 = 1.5, 1 + 0.5*1.5 = 1.75;
     * env 1: -1 + 0.5*4 = 1, 3 (done), 1 + 0.5*3 = 2.5. */
    ppo_gae(adv, ret, rewards, values, dones, last, 3, 2, 0.5f, 1.0f);
    const float mc[6] = {1.75f, 2.5f, 1.5f, 3, 3, 1};
    for (int i = 0; i < 6; i++)
        CHECK(near(ret[i], mc[i], 1e-6));
    /* lambda = 0: one-step TD errors, A = delta. */
    ppo_gae(adv, ret, rewards, values, dones, last, 3, 2, 0.5f, 0.0f);
    const float td[6] = {1, -0.5f, -0.5f, 2, 2, 0.5f};
    for (int i = 0; i < 6; i++)
        CHECK(near(adv[i], td[i], 1e-6));
}

/* A policy with no hidden layer over two one-hot states: out = W[:, state] (bias 0), so
 * state 0 has logits (0, 0) -> p = (0.5, 0.5) and value 1; state 1 has logits (ln 3, 0)
 * -> p = (0.75, 0.25) and value -0.5. W is (A+1, 2) = rows logit0, logit1, value. */
static ppo *linear_agent(const ppo_config *cfg)
{
    nn_spec spec;
    ppo_spec_mlp(&spec, 2, NULL, 0, 2);
    rng r;
    rng_seed(&r, 3);
    char err[160];
    ppo *p = ppo_create(cfg, &spec, &r, err, sizeof err);
    if (!p) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    const float W[6] = {0, logf(3.0f), 0, 0, 1.0f, -0.5f};
    memcpy(p->model.params + p->model.param_table[0].offset, W, sizeof W);
    memset(p->model.params + p->model.param_table[1].offset, 0, 3 * sizeof(float));
    return p;
}

static const uint8_t obs4[8] = {255, 0, 0, 255, 255, 0, 0, 255}; /* states 0, 1, 0, 1 */

static void test_loss(void)
{
    ppo_config cfg;
    ppo_config_default(&cfg); /* clip 0.2, entropy 0.01, Huber value loss of weight 1 */
    cfg.steps = 4, cfg.envs = 1, cfg.minibatches = 1;
    ppo *p = linear_agent(&cfg);
    /* sample  state action  new p   old p  ratio  adv   min(r A, clip(r) A)          grad
     *   1       0     0      0.5     0.4   1.25    2    min(2.5, 2.4)   = 2.4 clipped   0
     *   2       1     1      0.25    0.5   0.5    -1    min(-0.5, -0.8) = -0.8 clipped  0
     *   3       0     1      0.5     0.5   1       3    3                              -A r = -3
     *   4       1     0      0.75    0.6   1.25   -2    min(-2.5, -2.4) = -2.5         -A r = 2.5
     * policy loss = -(2.4 - 0.8 + 3 - 2.5) / 4 = -0.525; 3 of 4 ratios beyond 1 +- 0.2. */
    const int32_t actions[4] = {0, 1, 1, 0};
    const float old_logp[4] = {logf(0.4f), logf(0.5f), logf(0.5f), logf(0.6f)};
    const float adv[4] = {2, -1, 3, -2};
    /* v - R = -0.5, -3, 0, -0.8 -> Huber 0.125, 2.5, 0, 0.32: mean 0.73625. */
    const float ret[4] = {1.5f, 2.5f, 1.0f, 0.3f};
    const float old_values[4] = {1, -0.5f, 1, -0.5f};
    ppo_batch b = {obs4, actions, old_logp, old_values, adv, ret};
    ppo_stats st;
    float loss = ppo_compute_grad(p, &b, 4, &st);
    CHECK(near(st.policy_loss, -0.525, 1e-6));
    CHECK(near(st.value_loss, 0.73625, 1e-6));
    /* H(0.5, 0.5) = ln 2 = 0.693147181; H(0.75, 0.25) = 0.562335145; mean 0.627741163. */
    CHECK(near(st.entropy, 0.627741163, 1e-6));
    /* (r - 1) - ln r: 0.25 - ln 1.25 = 0.026856453 (twice), -0.5 + ln 2 = 0.193147181, 0. */
    CHECK(near(st.approx_kl, 0.061715019, 1e-6));
    CHECK(near(st.clip_frac, 0.75, 0));
    /* -0.525 + 0.73625 - 0.01 * 0.627741163 */
    CHECK(near(loss, 0.204972588, 1e-6));
    CHECK(near(st.loss, loss, 0));

    /* d loss / d out per sample, each divided by B = 4:
     *   logits: dlogp_a * ([j == a] - p_j) + 0.01 * p_j (ln p_j + H); value: Huber'(v - R).
     *   1: (0, 0)                     entropy term 0 at p = (0.5, 0.5)        value -0.5
     *   2: (e, -e), e = 0.01 * 0.75 * (ln 0.75 + H) = 0.002059898             value -1 (|d| > 1)
     *   3: -3 * (0 - 0.5, 1 - 0.5) = (1.5, -1.5)                               value 0
     *   4: 2.5 * (1 - 0.75, 0 - 0.25) + (e, -e) = (0.627059898, -0.627059898) value -0.8
     * dW[:, state 0] = (1 + 3) / 4 = (0.375, -0.375, -0.125)
     * dW[:, state 1] = (2 + 4) / 4 = (0.157279949, -0.157279949, -0.45); dbias = their sum. */
    const float *dW = p->model.grads + p->model.param_table[0].offset;
    const float *db = p->model.grads + p->model.param_table[1].offset;
    const double want_dW[6] = {0.375, 0.157279949, -0.375, -0.157279949, -0.125, -0.45};
    const double want_db[3] = {0.532279949, -0.532279949, -0.575};
    for (int i = 0; i < 6; i++)
        CHECK(near(dW[i], want_dW[i], 1e-6));
    for (int i = 0; i < 3; i++)
        CHECK(near(db[i], want_db[i], 1e-6));
    /* An empty batch leaves zero gradients and a zero loss. */
    CHECK(ppo_compute_grad(p, &b, 0, &st) == 0.0f && st.entropy == 0.0f && dW[0] == 0.0f);
    ppo_free(p);

    /* Value clipping at 0.25 around the old values (1.5, -0.5, 1.2, -0.5), squared error;
     * loss max(L(v), L(v')) with v' = v_old + clamp(v - v_old, -0.25, 0.25):
     *   1: v = 1, R = 1.5: L(v) = 0.5*0.25 = 0.125; v' = 1.25: 0.5*0.0625 = 0.03125
     *      -> 0.125, gradient v - R = -0.5
     *   2: v = -0.5 = v_old so v' = v, R = 2.5: 0.5*9 = 4.5, gradient -3
     *   3: v = 1, R = 1, |v - v_old| = 0.2 inside the range so v' = v: 0, gradient 0
     *   4: v' = v, R = 0.3: 0.5*0.64 = 0.32, gradient -0.8
     * mean = (0.125 + 4.5 + 0 + 0.32) / 4 = 1.23625; value gradients / 4 (vf 1). */
    ppo_config_default(&cfg);
    cfg.steps = 4, cfg.envs = 1, cfg.minibatches = 1;
    cfg.value_loss = PPO_VALUE_MSE, cfg.value_clip = 0.25f;
    p = linear_agent(&cfg);
    const float old_v2[4] = {1.5f, -0.5f, 1.2f, -0.5f};
    b.values = old_v2;
    ppo_compute_grad(p, &b, 4, &st);
    CHECK(near(st.value_loss, 1.23625, 1e-6));
    dW = p->model.grads + p->model.param_table[0].offset;
    CHECK(near(dW[4], -0.5 / 4, 1e-6));
    CHECK(near(dW[5], (-3 - 0.8) / 4, 1e-6));
    /* Now old value 0.6 for sample 3: |1 - 0.6| = 0.4 > 0.25, v' = 0.85 and its loss
     * 0.5*0.0225 = 0.01125 beats the unclipped 0: the loss counts it, but the saturated clamp
     * passes no gradient, so state 0's value gradient is sample 1's alone again. */
    const float old_v3[4] = {1.5f, -0.5f, 0.6f, -0.5f};
    b.values = old_v3;
    ppo_compute_grad(p, &b, 4, &st);
    CHECK(near(st.value_loss, (0.125 + 4.5 + 0.01125 + 0.32) / 4, 1e-6));
    CHECK(near(dW[4], -0.5 / 4, 1e-6));
    ppo_free(p);

    /* Advantage normalisation: (2, -1, 3, -2) has mean 0.5 and unbiased std
     * sqrt((2.25 + 2.25 + 6.25 + 6.25) / 3) = sqrt(17/3) = 2.380476143, giving
     * (0.630126, -0.630126, 1.050210, -1.050210). Same clipping pattern as above, so
     * policy loss = -(1.2*0.630126 + 0.8*(-0.630126) + 1.050210 + 1.25*(-1.050210)) / 4
     *             = -(0.756151 - 0.504101 + 1.050210 - 1.312763) / 4 = -0.002374. */
    ppo_config_default(&cfg);
    cfg.steps = 4, cfg.envs = 1, cfg.minibatches = 1;
    cfg.norm_adv = 1;
    p = linear_agent(&cfg);
    b.values = old_values;
    ppo_compute_grad(p, &b, 4, &st);
    const double s = sqrt(17.0 / 3.0) + 1e-8, a1 = 1.5 / s, a3 = 2.5 / s;
    CHECK(near(st.policy_loss, -(1.2 * a1 - 0.8 * a1 + a3 - 1.25 * a3) / 4, 1e-6));
    ppo_free(p);
}

static void test_act(void)
{
    ppo_config cfg;
    ppo_config_default(&cfg);
    cfg.steps = 4, cfg.envs = 4, cfg.minibatches = 1;
    ppo *p = linear_agent(&cfg);
    rng r;
    rng_seed(&r, 42);
    /* 4000 draws in state 1 (p = 0.75, 0.25): the count of action 0 has standard deviation
     * sqrt(4000 * 0.75 * 0.25) = 27.4; allow 5 of them. */
    enum { DRAWS = 4000 };
    static uint8_t obs[DRAWS * 2];
    static int32_t acts[DRAWS];
    static float logp[DRAWS], vals[DRAWS];
    for (int i = 0; i < DRAWS; i++)
        obs[2 * i] = 0, obs[2 * i + 1] = 255;
    ppo_act(p, &r, obs, DRAWS, acts, logp, vals);
    int zeros = 0, bad = 0;
    for (int i = 0; i < DRAWS; i++) {
        zeros += acts[i] == 0;
        bad += acts[i] < 0 || acts[i] > 1;
        bad += fabsf(logp[i] - logf(acts[i] == 0 ? 0.75f : 0.25f)) > 1e-6f;
        bad += vals[i] != -0.5f;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(abs(zeros - 3000) < 137);
    int32_t g[2];
    ppo_act_greedy(p, obs4, 2, g);
    CHECK_EQ_INT(g[0], 0); /* a tie picks the first, as argmax */
    CHECK_EQ_INT(g[1], 0);
    float v[2];
    ppo_value(p, obs4, 2, v);
    CHECK(v[0] == 1.0f && v[1] == -0.5f);
    ppo_free(p);
}

static void test_shaping_and_schedule(void)
{
    /* (reward + score delta / 40 + 50 flag / -50 death) / 10 */
    CHECK(near(ppo_shape_reward(3, 200, 0, 0), (3 + 5) / 10.0, 1e-6));
    CHECK(near(ppo_shape_reward(2, 0, 1, 1), (2 + 50) / 10.0, 1e-6));
    CHECK(near(ppo_shape_reward(-15, 0, 0, 1), (-15 - 50) / 10.0, 1e-6));
    CHECK(near(ppo_shape_reward(0, 1000, 1, 0), (25 + 50) / 10.0, 1e-6));

    ppo_config c;
    ppo_config_default(&c);
    CHECK(c.adam.lr == 1e-4f && c.gamma == 0.9f && c.lambda == 1.0f && c.ent_coef == 0.01f);
    CHECK(c.clip == 0.2f && c.steps == 512 && c.envs == 8 && c.epochs == 10 && c.minibatches == 16);
    CHECK(c.adam.max_grad_norm == 0.5f && c.value_loss == PPO_VALUE_HUBER && !c.norm_adv);
    CHECK(ppo_scheduled_lr(&c, 1000) == 1e-4f);
    c.adam.lr = 1e-3f, c.lr_schedule = PPO_LR_LINEAR, c.total_updates = 10;
    CHECK(near(ppo_scheduled_lr(&c, 0), 1e-3, 1e-9));
    CHECK(near(ppo_scheduled_lr(&c, 5), 5e-4, 1e-9));
    CHECK(near(ppo_scheduled_lr(&c, 9), 1e-4, 1e-9));
    CHECK(ppo_scheduled_lr(&c, 10) == 0.0f && ppo_scheduled_lr(&c, 12) == 0.0f);
}

/* With lr 0 nothing moves, so the mean of the minibatch statistics over an update equals
 * the statistics of the whole rollout exactly when each epoch's equal-sized minibatches
 * cover every sample once; and the update sets the scheduled lr. */
static void test_update_covers_rollout(void)
{
    ppo_config cfg;
    ppo_config_default(&cfg);
    cfg.steps = 4, cfg.envs = 2, cfg.minibatches = 4, cfg.epochs = 3;
    cfg.lr_schedule = PPO_LR_LINEAR, cfg.total_updates = 2, cfg.adam.lr = 0.0f;
    ppo *p = linear_agent(&cfg);
    ppo_rollout ro;
    char err[160];
    CHECK(ppo_rollout_init(&ro, 4, 2, 2, err, sizeof err) == 0);
    rng r;
    rng_seed(&r, 9);
    for (int i = 0; i < 8; i++) {
        const int s = (int)rng_below(&r, 2);
        ro.obs[2 * i] = s ? 0 : 255, ro.obs[2 * i + 1] = s ? 255 : 0;
        ro.actions[i] = (int32_t)rng_below(&r, 2);
        ro.logp[i] = logf(0.2f + 0.6f * rng_uniform_f(&r));
        ro.values[i] = rng_uniform_f(&r);
        ro.rewards[i] = (float)i - 3.0f;
        ro.dones[i] = i == 5;
    }
    ro.last_values[0] = 0.5f, ro.last_values[1] = -1.0f;
    ppo_compute_advantages(p, &ro);
    /* The whole rollout as one batch, through a twin agent sized for it. */
    ppo_config cfg1 = cfg;
    cfg1.minibatches = 1;
    ppo *whole_agent = linear_agent(&cfg1);
    ppo_batch b = {ro.obs, ro.actions, ro.logp, ro.values, ro.advantages, ro.returns};
    ppo_stats whole, upd;
    ppo_compute_grad(whole_agent, &b, 8, &whole);
    ppo_free(whole_agent);
    float before[9];
    memcpy(before, p->model.params, sizeof before);
    CHECK(ppo_update(p, &ro, &r, &upd, err, sizeof err) == 0);
    CHECK(!memcmp(before, p->model.params, sizeof before));
    CHECK_EQ_INT(p->adam_step, 12);
    CHECK_EQ_INT(p->updates, 1);
    CHECK(near(upd.policy_loss, whole.policy_loss, 1e-6));
    CHECK(near(upd.value_loss, whole.value_loss, 1e-6));
    CHECK(near(upd.entropy, whole.entropy, 1e-6));
    CHECK(near(upd.approx_kl, whole.approx_kl, 1e-6));
    CHECK(near(upd.clip_frac, whole.clip_frac, 1e-6));
    /* A rollout that does not fit is refused with a reason. */
    ppo_rollout big;
    CHECK(ppo_rollout_init(&big, 8, 2, 2, err, sizeof err) == 0);
    err[0] = 0;
    CHECK(ppo_update(p, &big, &r, NULL, err, sizeof err) < 0 && !strncmp(err, "ppo: ", 5));
    ppo_rollout_free(&big);
    ppo_rollout_free(&ro);
    ppo_free(p);

    /* The schedule drives p->adam.lr: 1e-3 for update 0, 5e-4 for update 1. */
    cfg.adam.lr = 1e-3f;
    p = linear_agent(&cfg);
    CHECK(ppo_rollout_init(&ro, 4, 2, 2, err, sizeof err) == 0);
    memset(ro.obs, 0, 16);
    CHECK(ppo_update(p, &ro, &r, NULL, err, sizeof err) == 0);
    CHECK(p->adam.lr == 1e-3f);
    CHECK(ppo_update(p, &ro, &r, NULL, err, sizeof err) == 0);
    CHECK(p->adam.lr == 5e-4f);
    ppo_rollout_free(&ro);
    ppo_free(p);

    /* A model without the policy + value head is refused. */
    nn_spec spec;
    nn_spec_mlp(&spec, 2, NULL, 0, 2);
    CHECK(ppo_create(&cfg, &spec, &r, err, sizeof err) == NULL && strstr(err, "NN_POLICY_VALUE"));
}

int main(void)
{
    test_gae();
    test_loss();
    test_act();
    test_shaping_and_schedule();
    test_update_covers_rollout();
    return testlib_finish("test_ppo");
}
