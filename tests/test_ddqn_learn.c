/* test_ddqn_learn.c: the agent, with its replay memory and the tutorial's learn() schedule,
 * solves a chain MDP: it must reach the optimal policy and Q values near Q* within a fixed
 * budget of updates, with a small MLP over one-hot observations.
 *
 * Chain of N states; 0 and N-1 end the episode. Left into 0 pays 0.1 (the near, small
 * prize), right into N-1 pays 1 (the far, large one). With gamma 0.9 going right is optimal
 * everywhere: Q*(s, right) = 0.9^(N-2-s), Q*(s, left) = 0.1 if s = 1 else 0.9^(N-s). */
#include <math.h>

#include "smbrl/agent.h"
#include "testlib.h"

enum { N = 10, LEFT = 0, RIGHT = 1, MAX_EPISODE = 60, MAX_STEPS = 6000 };

static void one_hot(uint8_t *obs, int s)
{
    memset(obs, 0, N);
    obs[s] = 255;
}

static double q_star(int s, int a)
{
    if (a == RIGHT)
        return pow(0.9, N - 2 - s);
    return s == 1 ? 0.1 : pow(0.9, N - s);
}

/* Returns the max |Q - Q*| over non-terminal states; *optimal says whether greedy is right everywhere. */
static double evaluate(ddqn *a, int *optimal)
{
    uint8_t obs[(N - 2) * N];
    int32_t act[N - 2];
    for (int s = 1; s < N - 1; s++)
        one_hot(obs + (s - 1) * N, s);
    ddqn_act_greedy(a, obs, N - 2, act);
    *optimal = 1;
    double err = 0;
    for (int s = 1; s < N - 1; s++) {
        if (act[s - 1] != RIGHT)
            *optimal = 0;
        const float *q = nn_forward(&a->online, &a->work, obs + (s - 1) * N, 1);
        err = fmax(err, fmax(fabs(q[LEFT] - q_star(s, LEFT)), fabs(q[RIGHT] - q_star(s, RIGHT))));
    }
    return err;
}

int main(void)
{
    int hidden[1] = {64};
    nn_spec spec;
    nn_spec_mlp(&spec, N, hidden, 1, 2);
    ddqn_config cfg;
    ddqn_config_default(&cfg);
    cfg.batch_size = 32;
    cfg.burnin = 200;
    cfg.learn_every = 1;
    cfg.sync_every = 100;
    cfg.eps_decay = 0.999;
    cfg.adam.lr = 1e-3f;
    rng r;
    rng_seed(&r, 2024);
    char err[160];
    ddqn *a = ddqn_create(&cfg, &spec, &r, err, sizeof err);
    replay_config rc = {.capacity = 5000, .stack = 1, .height = 1, .width = N, .num_streams = 1};
    replay *mem = replay_create(&rc, err, sizeof err);
    if (!a || !mem) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    int optimal;
    double qerr0 = evaluate(a, &optimal);
    printf("untrained: max |Q - Q*| = %.3f, greedy policy %s\n", qerr0, optimal ? "optimal" : "not optimal");

    uint8_t obs[N];
    int s = 0, len = 0, updates = 0, first_optimal = -1, episodes = 0;
    for (int step = 0; step < MAX_STEPS; step++) {
        if (s == 0 || s == N - 1 || len == MAX_EPISODE) {
            s = 1 + (int)rng_below(&r, N - 2);
            len = 0;
            episodes++;
            one_hot(obs, s);
            replay_begin_episode(mem, 0, obs);
        }
        int act = ddqn_act(a, &r, obs);
        CHECK(act == LEFT || act == RIGHT);
        s += act == RIGHT ? 1 : -1;
        len++;
        float reward = s == 0 ? 0.1f : s == N - 1 ? 1.0f : 0.0f;
        one_hot(obs, s);
        replay_add(mem, 0, act, reward, s == 0 || s == N - 1, obs);
        int rcode = ddqn_learn(a, mem, &r, err, sizeof err);
        CHECK(rcode >= 0);
        updates += rcode == 1;
        if (first_optimal < 0 && step % 100 == 0 && updates > 0) {
            evaluate(a, &optimal);
            if (optimal)
                first_optimal = updates;
        }
    }
    double qerr = evaluate(a, &optimal);
    printf("after %d steps, %d episodes, %d updates: max |Q - Q*| = %.3f, greedy %s "
           "(first optimal after %d updates), epsilon %.3f\n",
           MAX_STEPS, episodes, updates, qerr, optimal ? "optimal" : "NOT optimal", first_optimal,
           a->epsilon);
    CHECK_EQ_INT(updates, MAX_STEPS - (int)cfg.burnin + 1); /* learn() runs after steps 1..MAX_STEPS */
    CHECK(optimal);
    CHECK(qerr < 0.05);
    CHECK(qerr0 > 0.2); /* the untrained net was not already there */
    CHECK(fabs(a->epsilon - 0.1) < 1e-12);
    CHECK_EQ_INT(a->step, MAX_STEPS);

    /* Epsilon schedule: the tutorial's decay, floored. */
    ddqn_config c2;
    ddqn_config_default(&c2);
    ddqn *b = ddqn_create(&c2, &spec, &r, err, sizeof err);
    one_hot(obs, 3);
    for (int i = 0; i < 1000; i++)
        ddqn_act(b, &r, obs);
    CHECK(fabs(b->epsilon - pow(0.99999975, 1000)) < 1e-9);
    ddqn_free(b);

    replay_free(mem);
    ddqn_free(a);
    return testlib_finish("test_ddqn_learn");
}
