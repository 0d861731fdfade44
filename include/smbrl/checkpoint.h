/* checkpoint.h: model checkpoints of `smbrl train` (format "smbrl-dqn-1", the name kept
 * from the first, DQN-only version; PPO models use it too), read by `smbrl eval`, GIF
 * recording and anyone with PyTorch's safetensors package.
 *
 * A run directory holds:
 *   model_<step>.safetensors   online Q-network weights every --save-every global steps
 *                              and at the end (the last CKPT_KEEP are kept)
 *   best.safetensors           the weights with the best mean return over the last 100
 *                              episodes seen at a checkpoint
 *   state_<step>.safetensors   training state for --resume (Adam moments, counters, RNGs)
 *
 * Model files: one F32 tensor per parameter, named "online.<name>" with <name> from nn's
 * param_table ("online.0.weight" ... "online.9.bias" for MarioNet: the tutorial's
 * nn.Sequential indices), stored in PyTorch's own layout (conv weights (OC,C,K,K), linear
 * (OUT,IN)), so `MarioNet.load_state_dict(safetensors.torch.load_file(p), strict=False)`
 * loads them (strict=False: the target net is not stored). Metadata, all strings:
 * "format" ("smbrl-dqn-1"), "task", "actions" (action-set name for env_action_set_find),
 * "frame_skip", "model" ("marionet" or "marionet-dueling"), "step", "episode", "epsilon",
 * "args" (JSON object of all training arguments), and in best.safetensors also
 * "mean_return_100".
 *
 * Since PPO and tile observations: "algo" ("dqn" or "ppo"), "obs" ("pixels" or "tiles"),
 * "net" ("nature", "uvipen" or "mlp") and "obs_shape" ("4,84,84" or "4,13,16"); files
 * without them are DQN on pixels with MarioNet. "model" is then also "mlp" (DQN on tiles:
 * flatten, 256, ReLU, 256, ReLU, A), "ppo-uvipen", "ppo-nature" or "ppo-mlp" (PPO: the
 * last layer has A + 1 outputs, the policy logits then the state value, tensors
 * "online.<i>.weight/bias" as every other layer). PPO checkpoints say epsilon 0; they act
 * greedily (argmax of the logits) in eval and recordings. */
#ifndef SMBRL_CHECKPOINT_H
#define SMBRL_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "smbrl/nn.h"

#define CKPT_FORMAT "smbrl-dqn-1"
#define CKPT_PREFIX "online."
#define CKPT_KEEP 5
#define CKPT_ARGS_MAX 4096

typedef struct ckpt_info {
    char task[64];
    char actions[32];
    char model[32];        /* "marionet", "marionet-dueling", "mlp", "ppo-uvipen", "ppo-nature", "ppo-mlp" */
    char algo[8];          /* "dqn" or "ppo" ("" on save: dqn) */
    char obs[8];           /* "pixels" or "tiles" ("" on save: pixels) */
    char net[16];          /* "nature", "uvipen" or "mlp" ("" on save: from model) */
    int obs_shape[3];      /* (stack, h, w) of the observations; zeros on save: (4,84,84) */
    int frame_skip;
    int64_t step, episode;
    double epsilon;
    double mean_return;    /* best.safetensors only ("mean_return_100"); NaN otherwise */
    char args[CKPT_ARGS_MAX]; /* JSON object */
} ckpt_info;

enum { CKPT_BEST = 0, CKPT_LATEST = 1 };

/* path is a checkpoint file (returned as is) or a run directory: `which` CKPT_BEST gives
 * best.safetensors when it exists, else the latest model; CKPT_LATEST the model_<step> file
 * with the largest step. Error when the directory holds no checkpoint. */
int ckpt_resolve(const char *path, int which, char *out, size_t outlen, char *err, size_t errlen);

/* Reads and checks a checkpoint's metadata (format, task, actions, model, numbers). */
int ckpt_read_info(const char *path, ckpt_info *info, char *err, size_t errlen);

/* The network a checkpoint holds (train_net_spec of its algo, obs, net, obs_shape and the
 * action set's number of actions). */
int ckpt_spec(const ckpt_info *info, nn_spec *spec, char *err, size_t errlen);

/* Resolves path (CKPT_BEST for a directory), reads its metadata into *info (may be NULL),
 * builds *m (nn_model_init; the caller frees it with nn_model_free) and loads every tensor,
 * checking names, shapes and that no value is NaN or infinite. On error *m is left
 * freed/zeroed. */
int ckpt_load(const char *path, nn_model *m, ckpt_info *info, char *err, size_t errlen);

/* Writes m's layout with the weights in `params` (m->params when NULL) and info's metadata
 * to path, atomically (temp file, fsync, rename). mean_return is written only when finite. */
int ckpt_save(const char *path, const nn_model *m, const float *params, const ckpt_info *info,
              char *err, size_t errlen);

/* "model_<step>.safetensors" inside dir. */
void ckpt_model_path(char *out, size_t outlen, const char *dir, int64_t step);

#endif
