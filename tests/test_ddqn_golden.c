/* test_ddqn_golden.c: one Double-DQN learning step against PyTorch (tests/golden/ddqn.smbg):
 * online argmax on s', TD targets from the target net, Q(s,a), Huber loss and every gradient
 * of a small conv net with a dueling head, within 1e-4 relative; through both the fused
 * [s; s'] forward and separate forwards. */
#include "golden/smbg.h"
#include "smbrl/agent.h"
#include "testlib.h"

#define TOL 1e-4

static void load_params(const smbg *g, nn_model *m, const char *prefix)
{
    char name[96];
    for (int t = 0; t < m->num_tensors; t++) {
        snprintf(name, sizeof name, "%s%s", prefix, m->param_table[t].name);
        const smbg_tensor *w = smbg_get(g, name);
        CHECK_EQ_INT(w->count, m->param_table[t].count);
        memcpy(m->params + m->param_table[t].offset, w->f, sizeof(float) * w->count);
    }
}

static void check_step(const smbg *g, ddqn *a, int fused)
{
    const smbg_tensor *s = smbg_get(g, "states"), *s2 = smbg_get(g, "next_states");
    const int B = (int)s->dims[0];
    const size_t ob = s->count / (size_t)B;
    uint8_t *pair = malloc(2 * s->count), *sep = malloc(s->count);
    memcpy(pair, s->u8, s->count);
    memcpy(pair + s->count, s2->u8, s->count);
    memcpy(sep, s2->u8, s->count);
    replay_batch b = {pair, fused ? pair + (size_t)B * ob : sep, smbg_get(g, "actions")->i32,
                      smbg_get(g, "rewards")->f, smbg_get(g, "dones")->f};
    /* Gradients must not depend on what was in the buffer before. */
    for (size_t i = 0; i < a->online.num_params; i++)
        a->online.grads[i] = 1.0f;
    float loss = ddqn_compute_grad(a, &b, B);
    printf("%s forward:\n", fused ? "fused [s; s']" : "separate");
    const smbg_tensor *best = smbg_get(g, "best_actions");
    for (int i = 0; i < B; i++)
        CHECK_EQ_INT(a->best_next[i], best->i32[i]);
    CHECK(smbg_compare("td_target", a->td_target, smbg_get(g, "td_target")->f, B, TOL));
    CHECK(smbg_compare("q_estimate", a->q_estimate, smbg_get(g, "q_estimate")->f, B, TOL));
    CHECK(smbg_compare("loss", &loss, smbg_get(g, "loss")->f, 1, TOL));
    char name[96];
    for (int t = 0; t < a->online.num_tensors; t++) {
        const nn_param_info *pi = &a->online.param_table[t];
        snprintf(name, sizeof name, "grad.online.%s", pi->name);
        const smbg_tensor *want = smbg_get(g, name);
        CHECK_EQ_INT(want->count, pi->count);
        CHECK(smbg_compare(name, a->online.grads + pi->offset, want->f, pi->count, TOL));
    }
    free(pair);
    free(sep);
}

int main(void)
{
    smbg g;
    if (smbg_load(&g, "ddqn.smbg"))
        return 1;
    nn_spec spec;
    nn_spec_init(&spec, 4, 20, 20);
    nn_spec_add(&spec, NN_CONV2D, 8, 4, 2, 0);
    nn_spec_add(&spec, NN_RELU, 0, 0, 0, 0);
    nn_spec_add(&spec, NN_CONV2D, 16, 3, 1, 0);
    nn_spec_add(&spec, NN_RELU, 0, 0, 0, 0);
    nn_spec_add(&spec, NN_FLATTEN, 0, 0, 0, 0);
    nn_spec_add(&spec, NN_LINEAR, 32, 0, 0, 0);
    nn_spec_add(&spec, NN_RELU, 0, 0, 0, 0);
    nn_spec_add(&spec, NN_DUELING, 3, 0, 0, 0);
    ddqn_config cfg;
    ddqn_config_default(&cfg);
    cfg.batch_size = 4;
    cfg.gamma = smbg_get(&g, "gamma")->f[0];
    rng r;
    rng_seed(&r, 1);
    char err[128];
    ddqn *a = ddqn_create(&cfg, &spec, &r, err, sizeof err);
    if (!a) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    load_params(&g, &a->online, "online.");
    load_params(&g, &a->target, "target.");
    check_step(&g, a, 1);
    check_step(&g, a, 0);

    /* The split step: the same gradient applied to a copy of the parameters with separate
     * moments (a "shared model") equals the agent's own update. */
    size_t n = a->online.num_params;
    float *shared = malloc(sizeof(float) * n), *m = calloc(n, sizeof(float)), *v = calloc(n, sizeof(float));
    memcpy(shared, a->online.params, sizeof(float) * n);
    int64_t step = 0;
    nn_adam_step(&a->cfg.adam, shared, a->online.grads, m, v, &step, n);
    ddqn_apply_grad(a);
    CHECK(!memcmp(shared, a->online.params, sizeof(float) * n));
    CHECK_EQ_INT(a->adam_step, 1);
    /* The sync copies every parameter. */
    ddqn_sync_target(a);
    CHECK(!memcmp(a->target.params, a->online.params, sizeof(float) * n));
    free(shared), free(m), free(v);
    ddqn_free(a);
    smbg_free(&g);
    return testlib_finish("test_ddqn_golden");
}
