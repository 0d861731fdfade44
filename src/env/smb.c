/* smb.c: owns the Super Mario Bros RAM map as gym-super-mario-bros 7.4.0 reads
 * it (smb_env.py): position, clock, score, coins, status, lives and the end-of-
 * stage tests. Addresses and formulas are the gym's; see also the SMB
 * disassembly's RAM map (doppelganger's smbdis). */
#include "env_internal.h"

/* Three HUD values are kept as one decimal digit per byte. */
static int digits(const uint8_t *ram, int addr, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++)
        v = v * 10 + ram[addr + i];
    return v;
}

int env_ram_time(const uint8_t *ram) { return digits(ram, SMB_TIME, 3); }
int env_ram_score(const uint8_t *ram) { return digits(ram, SMB_SCORE, 6); }
int env_ram_coins(const uint8_t *ram) { return digits(ram, SMB_COINS, 2); }
int env_ram_x_pos(const uint8_t *ram) { return ram[SMB_X_PAGE] * 256 + ram[SMB_X_SCREEN]; }

int env_ram_y_pos(const uint8_t *ram)
{
    /* viewport 0 means above the screen (over the HUD): the gym continues the
     * height upward past 255 rather than wrapping */
    int pixel = ram[SMB_Y_PIXEL];
    if (ram[SMB_Y_VIEWPORT] < 1)
        return 255 + (255 - pixel);
    return 255 - pixel;
}

int env_ram_status(const uint8_t *ram)
{
    uint8_t s = ram[SMB_STATUS];
    return s == 0 ? ENV_STATUS_SMALL : s == 1 ? ENV_STATUS_TALL : ENV_STATUS_FIREBALL;
}

const char *env_status_name(int status)
{
    return status == ENV_STATUS_SMALL ? "small" : status == ENV_STATUS_TALL ? "tall" : "fireball";
}

int smb_is_dying(const uint8_t *ram)
{
    return ram[SMB_PLAYER_STATE] == 0x0B || ram[SMB_Y_VIEWPORT] > 1;
}

int smb_is_dead(const uint8_t *ram) { return ram[SMB_PLAYER_STATE] == 0x06; }

int smb_is_world_over(const uint8_t *ram) { return ram[SMB_GAME_MODE] == 2; }
int env_ram_game_mode(const uint8_t *ram) { return ram[SMB_GAME_MODE]; }

int smb_is_busy(const uint8_t *ram)
{
    /* 0 leftmost of screen, 1 climbing vine, 2 entering reversed-L pipe,
     * 3 going down a pipe, 4-5 auto-walk, 7 entering area */
    uint8_t s = ram[SMB_PLAYER_STATE];
    return s <= 5 || s == 7;
}

int env_ram_flag_get(const uint8_t *ram)
{
    if (smb_is_world_over(ram))
        return 1;
    /* Only the first slot holding Bowser (0x2D) or the flagpole (0x31) counts:
     * a vine also sets the float state to 3, so the enemy type tells them apart. */
    for (int a = SMB_ENEMY_TYPE0; a < SMB_ENEMY_TYPE0 + 5; a++)
        if (ram[a] == 0x2D || ram[a] == 0x31)
            return ram[SMB_FLOAT_STATE] == 3;
    return 0;
}

void env_ram_info(const uint8_t *ram, env_info *info)
{
    info->coins = env_ram_coins(ram);
    info->flag_get = env_ram_flag_get(ram);
    info->life = ram[SMB_LIVES];
    info->score = env_ram_score(ram);
    info->stage = ram[SMB_STAGE] + 1;
    info->status = env_ram_status(ram);
    info->time = env_ram_time(ram);
    info->world = ram[SMB_WORLD] + 1;
    info->x_pos = env_ram_x_pos(ram);
    info->y_pos = env_ram_y_pos(ram);
    info->player_state = ram[SMB_PLAYER_STATE];
}
