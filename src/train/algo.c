/* algo.c: what --algo, --obs, --net and --reward mean: the defaults that depend on each
 * other, the network each combination trains, and the reward a worker learns from. */
#include <string.h>

#include "util/error.h"
#include "smbrl/ppo.h"
#include "train/train_internal.h"

int train_is_ppo(const train_args *a) { return !strcmp(a->algo, "ppo"); }

void train_args_resolve(train_args *a)
{
    if (!a->net[0]) {
        const char *n = !strcmp(a->obs, "tiles") ? "mlp" : train_is_ppo(a) ? "uvipen" : "nature";
        strcpy(a->net, n);
    }
    if (a->envs_per_process <= 0) {
        int n = 8 / (a->num_processes > 0 ? a->num_processes : 1);
        a->envs_per_process = n > 0 ? n : 1;
    }
}

int train_net_spec(const char *algo, const char *obs, const char *net, int dueling, int in_c,
                   int in_h, int in_w, int actions, nn_spec *spec, char *model_name, char *err,
                   size_t errlen)
{
    const int is_ppo = !strcmp(algo, "ppo");
    if (!net || !net[0])
        net = !strcmp(obs, "tiles") ? "mlp" : is_ppo ? "uvipen" : "nature";
    /* uvipen/Super-mario-bros-PPO-pytorch's trunk for PPO; for DQN the same trunk would
     * need a Q head, which nobody asked for, so DQN keeps MarioNet and the MLP. */
    static const int hidden[2] = {256, 256};
    const int features = in_c * in_h * in_w;
    char name[32];
    if (!strcmp(net, "nature")) {
        if (is_ppo) {
            nn_spec_nature_trunk(spec, in_c, in_h, in_w);
            nn_spec_add(spec, NN_POLICY_VALUE, actions, 0, 0, 0);
            strcpy(name, "ppo-nature");
        } else {
            nn_spec_marionet(spec, in_c, in_h, in_w, actions, dueling);
            strcpy(name, dueling ? "marionet-dueling" : "marionet");
        }
    } else if (!strcmp(net, "uvipen")) {
        if (!is_ppo)
            return smbrl_fail(err, errlen, "--net uvipen is a PPO network (DQN: nature or mlp)");
        nn_spec_ppo(spec, in_c, in_h, in_w, actions);
        strcpy(name, "ppo-uvipen");
    } else if (!strcmp(net, "mlp")) {
        if (is_ppo) {
            ppo_spec_mlp(spec, features, hidden, 2, actions);
            strcpy(name, "ppo-mlp");
        } else {
            nn_spec_mlp(spec, features, hidden, 2, actions);
            strcpy(name, "mlp");
        }
    } else {
        return smbrl_fail(err, errlen, "--net must be nature, uvipen or mlp, got '%s'", net);
    }
    if (model_name)
        strcpy(model_name, name);
    return 0;
}

float train_reward(const train_args *a, float reward, int score_delta, int done, int flag)
{
    if (strcmp(a->reward, "uvipen"))
        return reward;
    return ppo_shape_reward(reward, (float)score_delta, done && flag, done && !flag);
}
