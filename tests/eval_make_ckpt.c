/* eval_make_ckpt.c: writes a smbrl-dqn-1 checkpoint of a freshly initialised MarioNet
 * (PyTorch's default init from a seed) for the eval CLI tests when no trained one is at
 * hand. usage: eval_make_ckpt OUT.safetensors ACTIONS SEED [STEP] [dueling] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smbrl/checkpoint.h"
#include "smbrl/nn.h"
#include "smbrl/rng.h"

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: eval_make_ckpt OUT.safetensors ACTIONS SEED [STEP] [dueling]\n");
        return 2;
    }
    ckpt_info in;
    memset(&in, 0, sizeof in);
    snprintf(in.task, sizeof in.task, "SuperMarioBros-1-1-v0");
    snprintf(in.actions, sizeof in.actions, "%s", argv[2]);
    snprintf(in.model, sizeof in.model, "%s",
             argc > 5 && !strcmp(argv[5], "dueling") ? "marionet-dueling" : "marionet");
    in.frame_skip = 4;
    in.step = argc > 4 ? atoll(argv[4]) : 0;
    in.episode = 0;
    in.epsilon = 1.0;
    in.mean_return = NAN;
    snprintf(in.args, sizeof in.args, "{\"made_by\": \"eval_make_ckpt\"}");
    char err[512];
    nn_spec spec;
    nn_model m;
    rng r;
    rng_seed(&r, strtoull(argv[3], NULL, 10));
    if (ckpt_spec(&in, &spec, err, sizeof err) < 0 || nn_model_init(&m, &spec, err, sizeof err) < 0) {
        fprintf(stderr, "eval_make_ckpt: %s\n", err);
        return 1;
    }
    nn_model_init_params(&m, &r);
    int rc = ckpt_save(argv[1], &m, NULL, &in, err, sizeof err);
    if (rc < 0)
        fprintf(stderr, "eval_make_ckpt: %s\n", err);
    nn_model_free(&m);
    return rc < 0 ? 1 : 0;
}
