/* test_ppo_golden.c: the PPO-clip loss, its statistics and every parameter gradient against
 * PyTorch (tests/golden/ppo.smbg, made by make_golden_ppo.py) within 1e-4 relative: through
 * the nn_spec_ppo conv trunk with uvipen's loss settings, and through an MLP with value
 * clipping, squared-error value loss and advantage normalisation; the conv case also with the
 * batch split over 3 threads. Then the split step: the gradient applied to a separate
 * "shared" copy equals the agent's own update. */
#include "golden/smbg.h"
#include "smbrl/ppo.h"
#include "testlib.h"

#define TOL 1e-4

static void load_params(const smbg *g, nn_model *m, const char *tag)
{
    char name[96];
    for (int t = 0; t < m->num_tensors; t++) {
        snprintf(name, sizeof name, "%s.%s", tag, m->param_table[t].name);
        const smbg_tensor *w = smbg_get(g, name);
        CHECK_EQ_INT(w->count, m->param_table[t].count);
        memcpy(m->params + m->param_table[t].offset, w->f, sizeof(float) * w->count);
    }
}

static const smbg_tensor *get(const smbg *g, const char *tag, const char *what)
{
    char name[96];
    snprintf(name, sizeof name, "%s.%s", tag, what);
    return smbg_get(g, name);
}

static void check_case(const smbg *g, const char *tag, const nn_spec *spec, int threads)
{
    printf("%s, %d thread(s):\n", tag, threads);
    const float *cf = get(g, tag, "cfg")->f;
    ppo_config cfg;
    ppo_config_default(&cfg);
    const smbg_tensor *obs = get(g, tag, "obs");
    const int B = (int)obs->dims[0];
    cfg.steps = B, cfg.envs = 1, cfg.minibatches = 1, cfg.threads = threads;
    cfg.clip = cf[0], cfg.ent_coef = cf[1], cfg.vf_coef = cf[2];
    cfg.value_loss = (int)cf[3], cfg.value_clip = cf[4], cfg.norm_adv = (int)cf[5];
    rng r;
    rng_seed(&r, 5);
    char err[160];
    ppo *p = ppo_create(&cfg, spec, &r, err, sizeof err);
    if (!p) {
        fprintf(stderr, "%s\n", err);
        testlib_failures++;
        return;
    }
    load_params(g, &p->model, tag);
    ppo_batch b = {obs->u8, get(g, tag, "actions")->i32, get(g, tag, "logp")->f,
                   get(g, tag, "values")->f, get(g, tag, "advantages")->f,
                   get(g, tag, "returns")->f};
    /* Gradients must not depend on what the buffer held before. */
    for (size_t i = 0; i < p->model.num_params; i++)
        p->model.grads[i] = 1.0f;
    ppo_stats st;
    float loss = ppo_compute_grad(p, &b, B, &st);
    const smbg_tensor *out = get(g, tag, "out");
    CHECK(smbg_compare("forward output", p->work.acts[p->model.spec.num_layers - 1], out->f,
                       out->count, TOL));
    const float *ws = get(g, tag, "stats")->f;
    CHECK(smbg_compare("policy loss", &st.policy_loss, ws + 0, 1, TOL));
    CHECK(smbg_compare("value loss", &st.value_loss, ws + 1, 1, TOL));
    CHECK(smbg_compare("entropy", &st.entropy, ws + 2, 1, TOL));
    /* KL is a small difference of O(1) terms: judged by absolute error instead. */
    CHECK(fabs(st.approx_kl - ws[3]) < 1e-5);
    CHECK(st.clip_frac == ws[4]);
    CHECK(smbg_compare("loss", &loss, ws + 5, 1, TOL));
    char name[96];
    for (int t = 0; t < p->model.num_tensors; t++) {
        const nn_param_info *pi = &p->model.param_table[t];
        snprintf(name, sizeof name, "grad.%s", pi->name);
        const smbg_tensor *want = get(g, tag, name);
        CHECK_EQ_INT(want->count, pi->count);
        CHECK(smbg_compare(name, p->model.grads + pi->offset, want->f, pi->count, TOL));
    }

    /* The split step: the same gradient on a shared copy with its own moments. */
    size_t n = p->model.num_params;
    float *shared = malloc(sizeof(float) * n), *m = calloc(n, sizeof(float)),
          *v = calloc(n, sizeof(float)), *grad = malloc(sizeof(float) * n);
    memcpy(shared, p->model.params, sizeof(float) * n);
    memcpy(grad, p->model.grads, sizeof(float) * n);
    int64_t step = 0;
    nn_adam_step(&p->adam, shared, grad, m, v, &step, n);
    ppo_apply_grad(p);
    CHECK(!memcmp(shared, p->model.params, sizeof(float) * n));
    CHECK_EQ_INT(p->adam_step, 1);
    /* The step clipped the gradient to uvipen's 0.5 norm (these gradients are larger). */
    double ss = 0;
    for (size_t i = 0; i < n; i++)
        ss += (double)p->model.grads[i] * p->model.grads[i];
    CHECK(fabs(sqrt(ss) - 0.5) < 1e-3);
    free(shared), free(m), free(v), free(grad);
    ppo_free(p);
}

int main(void)
{
    smbg g;
    if (smbg_load(&g, "ppo.smbg"))
        return 1;
    nn_spec spec;
    nn_spec_ppo(&spec, 4, 42, 42, 5);
    check_case(&g, "conv", &spec, 1);
    check_case(&g, "conv", &spec, 3); /* the batch split over threads, gradients summed */
    const int hidden[2] = {16, 16};
    ppo_spec_mlp(&spec, 10, hidden, 2, 3);
    check_case(&g, "mlp", &spec, 1);
    smbg_free(&g);
    return testlib_finish("test_ppo_golden");
}
