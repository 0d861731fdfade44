/* env_internal.h: what the files of src/env share and nobody else sees: RAM
 * addresses and the structs behind env_base and env. */
#ifndef SMBRL_ENV_INTERNAL_H
#define SMBRL_ENV_INTERNAL_H

#include "smbrl/env.h"
#include "smbrl/rng.h"

/* RAM addresses (gym-super-mario-bros smb_env.py) */
#define SMB_PLAYER_STATE 0x000E /* 6 dead, 8 normal, 0x0B dying, 0-5 and 7 busy */
#define SMB_ENEMY_TYPE0 0x0016  /* five enemy slots 0x16-0x1A */
#define SMB_FLOAT_STATE 0x001D  /* 3 while sliding down the flagpole */
#define SMB_X_PAGE 0x006D
#define SMB_X_SCREEN 0x0086
#define SMB_Y_VIEWPORT 0x00B5   /* 0 above the screen, 1 on it, >1 fallen below */
#define SMB_Y_PIXEL 0x03B8
#define SMB_AREA_TIMER 0x06DE   /* change-area timer */
#define SMB_STATUS 0x0756       /* 0 small, 1 tall, else fireball */
#define SMB_LIVES 0x075A        /* 0xFF after the last life */
#define SMB_STAGE 0x075C
#define SMB_WORLD 0x075F
#define SMB_AREA 0x0760
#define SMB_GAME_MODE 0x0770    /* 0 demo, 1 playing, 2 end of world */
#define SMB_PRELEVEL_TIMER 0x07A0
#define SMB_SCORE 0x07DE        /* 6 digits */
#define SMB_COINS 0x07ED        /* 2 digits */
#define SMB_TIME 0x07F8         /* 3 digits */

int smb_is_dying(const uint8_t *ram);
int smb_is_dead(const uint8_t *ram);
int smb_is_world_over(const uint8_t *ram);
int smb_is_busy(const uint8_t *ram);

/* Safety bound on each hidden-frame loop; the game leaves every busy state long
 * before this, so hitting it means a broken state and the step reports it. */
#define SMB_HIDDEN_LOOP_MAX 100000

/* Reward bookkeeping carried from frame to frame (gym's *_last fields). */
typedef struct smb_track {
    int x_last, time_last;                              /* 7.4.0 */
    int x_max, score_last, coins_last, status_last;     /* shaped */
    int completed;
} smb_track;

struct env_base {
    cart cart;
    env_task task;
    const env_action_set *actions;
    env_config cfg; /* numeric fields only: the strings are not kept */
    int render;       /* pixel observations with pixels on: the only case that renders */
    size_t obs_frame; /* bytes of one stacked frame: 84*84 or the 13*16 tile grid */
    int reward_kind;
    int single_stage;
    int n_starts;
    uint8_t **start_state; /* n_starts nes states after the start screen */
    uint8_t **start_frame; /* and the frame showing at that moment (palette indices) */
    uint8_t **start_obs;   /* and that frame as an 84x84 observation */
    env_obs_tables tables;
    size_t state_size;
    uint64_t setup_frames;
};

struct env {
    const env_base *base;
    env_base *owned;
    nes *nes;
    rng rng;
    smb_track tr;
    int done;
    int started;
    uint8_t prev_buttons;
    /* the last two rendered frames; frame[cur] is the latest */
    uint8_t *frame[2];
    int cur;
    /* the stack, a ring: stack[(head + i) % 4] is the i-th oldest frame (the first
     * obs_frame bytes of each slot are used) */
    uint8_t stack[ENV_STACK][ENV_FRAME_SIZE];
    int head;
    /* the state and reward tracking before the agent step's first frame step, and
     * the buttons of each frame step (frame_skip of them), to replay an early end
     * with pixels */
    uint8_t *snap;
    smb_track snap_tr;
    uint8_t *buttons;
    uint8_t *hsnap; /* state before the latest hidden frame */
    uint64_t frames, rendered;
    int hidden_capped;
};

#endif
