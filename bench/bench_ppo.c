/* bench_ppo.c: PPO learner figures on uvipen's shapes: ppo_act for N observations, one
 * minibatch gradient (ppo_compute_grad), one Adam step, GAE over the rollout, and a whole
 * ppo_update (epochs x minibatches), on nn_spec_ppo over random 4x84x84 observations.
 * Usage: bench_ppo [--steps T] [--envs N] [--epochs E] [--minibatches M] [--actions A]
 *                  [--threads K] [--iters I] [--json] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "smbrl/nn.h"
#include "smbrl/ppo.h"
#include "smbrl/rng.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return t[n / 2];
}

int main(int argc, char **argv)
{
    ppo_config cfg;
    ppo_config_default(&cfg);
    int actions = 7, iters = 20, json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (has && !strcmp(a, "--steps"))
            cfg.steps = atoi(argv[++i]);
        else if (has && !strcmp(a, "--envs"))
            cfg.envs = atoi(argv[++i]);
        else if (has && !strcmp(a, "--epochs"))
            cfg.epochs = atoi(argv[++i]);
        else if (has && !strcmp(a, "--minibatches"))
            cfg.minibatches = atoi(argv[++i]);
        else if (has && !strcmp(a, "--actions"))
            actions = atoi(argv[++i]);
        else if (has && !strcmp(a, "--threads"))
            cfg.threads = atoi(argv[++i]);
        else if (has && !strcmp(a, "--iters"))
            iters = atoi(argv[++i]);
        else if (!strcmp(a, "--json"))
            json = 1;
        else {
            fprintf(stderr, "usage: %s [--steps T] [--envs N] [--epochs E] [--minibatches M] "
                            "[--actions A] [--threads K] [--iters I] [--json]\n", argv[0]);
            return 2;
        }
    }
    if (iters < 1 || actions < 1 || cfg.threads < 1) {
        fprintf(stderr, "--iters, --actions and --threads must be positive\n");
        return 2;
    }
    /* --threads splits batches over nn threads, each calling a single-threaded BLAS. */
    nn_set_threads(1);
    nn_spec spec;
    nn_spec_ppo(&spec, 4, 84, 84, actions);
    rng r;
    rng_seed(&r, 1);
    char err[256];
    ppo *p = ppo_create(&cfg, &spec, &r, err, sizeof err);
    ppo_rollout ro;
    if (!p || ppo_rollout_init(&ro, cfg.steps, cfg.envs, p->obs_size, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    /* The convolution path of each conv layer, so that a report says which kernels ran. */
    char paths[256] = "";
    for (int i = 1; i < p->model.spec.num_layers; i++) {
        const nn_layer *L = &p->model.layers[i];
        if (L->spec.kind != NN_CONV2D)
            continue;
        nn_conv_shape cs;
        nn_conv_shape_init(&cs, 1, L->in_c, L->in_h, L->in_w, L->spec.out, L->spec.kernel, L->spec.stride,
                           L->spec.pad, L->in_layout == NN_LAYOUT_NHWC);
        size_t used = strlen(paths);
        snprintf(paths + used, sizeof paths - used, "%s%s", used ? ", " : "", nn_conv_path(&cs, i == 1));
    }
    const size_t tn = (size_t)cfg.steps * cfg.envs;
    for (size_t i = 0; i < tn * (size_t)p->obs_size; i++)
        ro.obs[i] = (uint8_t)(rng_next(&r) >> 56);

    double *t = malloc(sizeof(double) * (size_t)iters);
    /* Acting: one forward of N observations plus sampling, as a rollout step does. */
    for (int k = 0; k < iters; k++) {
        double t0 = now();
        ppo_act(p, &r, ro.obs + ((size_t)k % (size_t)cfg.steps) * cfg.envs * p->obs_size, cfg.envs,
                ro.actions, ro.logp, ro.values);
        t[k] = now() - t0;
    }
    double act = median(t, iters);
    for (size_t i = 0; i < tn; i++) {
        ro.actions[i] = (int32_t)rng_below(&r, (uint32_t)actions);
        ro.logp[i] = -1.9f;
        ro.rewards[i] = (float)rng_uniform(&r) - 0.5f;
        ro.dones[i] = rng_uniform(&r) < 0.01;
    }
    double t0 = now();
    ppo_compute_advantages(p, &ro);
    double gae = now() - t0;

    const int mb = (int)(tn / (size_t)cfg.minibatches);
    int32_t *idx = malloc(sizeof(int32_t) * (size_t)mb);
    for (int i = 0; i < mb; i++)
        idx[i] = (int32_t)((size_t)i * 7 % tn);
    ppo_batch b;
    ppo_gather(p, &ro, idx, mb, &b);
    for (int k = 0; k < iters; k++) {
        t0 = now();
        ppo_compute_grad(p, &b, mb, NULL);
        t[k] = now() - t0;
    }
    double grad = median(t, iters);
    for (int k = 0; k < iters; k++) {
        t0 = now();
        ppo_apply_grad(p);
        t[k] = now() - t0;
    }
    double adam = median(t, iters);
    t0 = now();
    if (ppo_update(p, &ro, &r, NULL, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    double update = now() - t0;
    const double samples = (double)tn * cfg.epochs;
    if (json) {
        printf("{\"blas\": \"%s\", \"conv_paths\": \"%s\", \"threads\": %d, \"steps\": %d, \"envs\": %d, \"epochs\": %d, "
               "\"minibatches\": %d, \"minibatch\": %d, \"params\": %zu, \"act_s\": %.6g, "
               "\"grad_s\": %.6g, \"adam_s\": %.6g, \"gae_s\": %.6g, \"update_s\": %.6g, "
               "\"update_samples_per_s\": %.6g}\n",
               nn_blas_corename(), paths, cfg.threads, cfg.steps, cfg.envs, cfg.epochs, cfg.minibatches,
               mb, p->model.num_params, act, grad, adam, gae, update, samples / update);
    } else {
        printf("PPO learner, nn_spec_ppo on 4x84x84, %d actions, %zu parameters, BLAS kernel %s, "
               "%d thread(s)\n", actions, p->model.num_params, nn_blas_corename(), cfg.threads);
        printf("  conv paths: %s\n", paths);
        printf("  %-44s %10.3f ms\n", "ppo_act, N observations", act * 1e3);
        printf("  %-44s %10.3f ms\n", "ppo_compute_grad, one minibatch", grad * 1e3);
        printf("  %-44s %10.3f ms\n", "ppo_apply_grad (Adam, clip 0.5)", adam * 1e3);
        printf("  %-44s %10.3f ms\n", "ppo_compute_advantages (T x N)", gae * 1e3);
        printf("  %-44s %10.3f s\n", "ppo_update (epochs x minibatches)", update);
        printf("  (T %d, N %d, %d epochs x %d minibatches of %d: %.0f samples/s through the update)\n",
               cfg.steps, cfg.envs, cfg.epochs, cfg.minibatches, mb, samples / update);
    }
    free(t);
    free(idx);
    ppo_rollout_free(&ro);
    ppo_free(p);
    return 0;
}
