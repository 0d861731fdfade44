/* test_nn_golden.c: MarioNet against PyTorch (tests/golden/marionet.smbg): forward Q values,
 * Huber loss, every gradient and the parameters after 3 Adam steps, within 1e-4 relative. */
#include "golden/smbg.h"
#include "smbrl/nn.h"
#include "testlib.h"

#define TOL 1e-4

/* Compares a parameter-layout buffer against the fixture's tensors named prefix + table name;
 * fc1's weight ("7.weight") is stored for every 8th row only. */
static void compare_params(const smbg *g, const nn_model *m, const float *buf, const char *prefix)
{
    char name[96];
    for (int t = 0; t < m->num_tensors; t++) {
        const nn_param_info *pi = &m->param_table[t];
        const float *got = buf + pi->offset;
        if (!strcmp(pi->name, "7.weight")) {
            snprintf(name, sizeof name, "%sonline.7.weight.rows8", prefix);
            const smbg_tensor *want = smbg_get(g, name);
            size_t cols = (size_t)pi->shape[1], rows = (size_t)pi->shape[0] / 8;
            CHECK_EQ_INT(want->count, rows * cols);
            float *sub = malloc(sizeof(float) * rows * cols);
            for (size_t r = 0; r < rows; r++)
                memcpy(sub + r * cols, got + r * 8 * cols, sizeof(float) * cols);
            CHECK(smbg_compare(name, sub, want->f, rows * cols, TOL));
            free(sub);
            continue;
        }
        snprintf(name, sizeof name, "%sonline.%s", prefix, pi->name);
        const smbg_tensor *want = smbg_get(g, name);
        CHECK_EQ_INT(want->count, pi->count);
        CHECK(smbg_compare(name, got, want->f, pi->count, TOL));
    }
}

int main(void)
{
    smbg g;
    if (smbg_load(&g, "marionet.smbg"))
        return 1;
    const smbg_tensor *obs = smbg_get(&g, "obs"), *act = smbg_get(&g, "actions");
    const smbg_tensor *q_want = smbg_get(&g, "q"), *target = smbg_get(&g, "target");
    const int B = (int)obs->dims[0], A = (int)q_want->dims[1];

    nn_spec spec;
    nn_spec_marionet(&spec, 4, 84, 84, A, 0);
    nn_model m;
    nn_work w;
    char err[128];
    CHECK(nn_model_init(&m, &spec, err, sizeof err) == 0);
    CHECK(nn_work_init(&w, &m, B, 1, err, sizeof err) == 0);
    CHECK_EQ_INT(m.num_tensors, 10);
    /* The names and shapes a PyTorch user sees in the tutorial's MarioNet.online. */
    static const char *names[] = {"0.weight", "0.bias", "2.weight", "2.bias", "4.weight",
                                  "4.bias",   "7.weight", "7.bias", "9.weight", "9.bias"};
    for (int t = 0; t < 10; t++)
        CHECK(!strcmp(m.param_table[t].name, names[t]));
    CHECK_EQ_INT(m.param_table[6].shape[0], 512);
    CHECK_EQ_INT(m.param_table[6].shape[1], 3136);

    char name[64];
    for (int t = 0; t < m.num_tensors; t++) {
        snprintf(name, sizeof name, "online.%s", m.param_table[t].name);
        const smbg_tensor *wt = smbg_get(&g, name);
        CHECK_EQ_INT(wt->count, m.param_table[t].count);
        memcpy(m.params + m.param_table[t].offset, wt->f, sizeof(float) * wt->count);
    }

    nn_adam_config ac;
    nn_adam_config_default(&ac);
    ac.lr = 0.00025f;
    ac.eps = 1e-6f; /* as make_golden.py, which says why */
    float *mom1 = calloc(m.num_params, sizeof(float)), *mom2 = calloc(m.num_params, sizeof(float));
    int64_t step = 0;
    float *qa = malloc(sizeof(float) * B), *dqa = malloc(sizeof(float) * B);
    float *dq = malloc(sizeof(float) * B * A);
    for (int it = 0; it < 3; it++) {
        const float *q = nn_forward(&m, &w, obs->u8, B);
        for (int b = 0; b < B; b++)
            qa[b] = q[b * A + act->i32[b]];
        float loss = nn_huber_loss(dqa, qa, target->f, B, 1.0f);
        memset(dq, 0, sizeof(float) * B * A);
        for (int b = 0; b < B; b++)
            dq[b * A + act->i32[b]] = dqa[b];
        if (it == 0) {
            printf("forward and gradients:\n");
            CHECK(smbg_compare("q", q, q_want->f, (size_t)B * A, TOL));
            CHECK(smbg_compare("loss", &loss, smbg_get(&g, "loss")->f, 1, TOL));
        }
        nn_zero_grad(&m);
        nn_backward(&m, &w, dq);
        if (it == 0)
            compare_params(&g, &m, m.grads, "grad.");
        nn_adam_step(&ac, m.params, m.grads, mom1, mom2, &step, m.num_params);
    }
    printf("after 3 Adam steps:\n");
    compare_params(&g, &m, m.params, "adam3.");
    CHECK_EQ_INT(step, 3);

    free(qa), free(dqa), free(dq), free(mom1), free(mom2);
    nn_work_free(&w);
    nn_model_free(&m);
    smbg_free(&g);
    return testlib_finish("test_nn_golden");
}
