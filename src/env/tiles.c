/* tiles.c: owns the compact observation: the 13x16 grid of the screen the game
 * shows (empty, solid, enemy, Mario), read from Super Mario Bros' RAM alone, so a
 * tiles env never renders a frame.
 *
 * RAM facts (SMB disassembly: AreaParserCore/RendBBuf, GetBlockBufferAddr,
 * BlockBufferCollision, CheckSideMTiles/DoFootCheck, the enemy object tables):
 * - The collision metatiles are a circular buffer of two pages of 13 rows x 16
 *   columns, $0500 and $05D0, byte page + row*16 + column; level metatile column
 *   c sits in page (c / 16) & 1 at column c % 16, and row r covers screen y
 *   32+16r..47+16r (the first 32 lines are the status bar).
 * - The parser stores a metatile there only when it reaches BlockBuffLowBounds
 *   ($10, $51, $88, $C0 by its two top bits) and writes 0 otherwise, so hills,
 *   bushes, clouds, tree trunks and castle walls never appear: no scenery rule is
 *   needed here.
 * - What stops the player: the foot and side checks take any non-zero metatile
 *   as ground or wall, except hidden blocks ($5F, $60), coins ($C2, $C3) and the
 *   climbable ones (at or above ClimbMTileUpperExt $24, $6D, $8A, $C6: the
 *   flagpole ball and shaft, vines). CheckForSolidMTiles ($10, $61, $88, $C4)
 *   only decides whether a head bump hits a block; it calls 1-1's ground ($54)
 *   and bricks not solid, so it is not the rule used here.
 * - The screen's left edge in level pixels: ScreenLeft_PageLoc $071A * 256 +
 *   ScreenLeft_X_Pos $071C.
 * - Enemy slots 0..4: Enemy_Flag $0F+i (non-zero: active), Enemy_ID $16+i,
 *   Enemy_PageLoc $6E+i, Enemy_X_Position $87+i, Enemy_Y_HighPos $B6+i (1: on
 *   screen), Enemy_Y_Position $CF+i; the object is a 16x16 box from (x, y). Slot
 *   5 holds the flagpole flag or a power-up and is not read.
 * - Mario: Player_PageLoc $6D, Player_X_Position $86, Player_Y_HighPos $B5,
 *   Player_Y_Position $CE, the top left of a 16x32 box whose lower half is small
 *   Mario (and big Mario's legs).
 *
 * Timing: the grid is the game's latest state, which the next frame shows. The
 * picture rendered in the same frame is one frame older: the NMI that starts a
 * frame sets the scroll and copies the sprites computed by the previous frame's
 * logic, then runs this frame's logic (tests/test_env_tiles.c relies on this). */
#include <string.h>

#include "env_internal.h"

#define SMB_BLOCK_PAGE0 0x0500
#define SMB_BLOCK_PAGE1 0x05D0
#define SMB_SCREEN_LEFT_PAGE 0x071A
#define SMB_SCREEN_LEFT_X 0x071C
#define SMB_ENEMY_FLAG 0x000F
#define SMB_ENEMY_ID 0x0016
#define SMB_ENEMY_PAGE 0x006E
#define SMB_ENEMY_X 0x0087
#define SMB_ENEMY_YHIGH 0x00B6
#define SMB_ENEMY_Y 0x00CF
#define SMB_PLAYER_Y 0x00CE
#define SMB_ENEMY_SLOTS 5

/* Climbable metatiles start here, per attribute (two top bits). */
static const uint8_t climb_from[4] = {0x24, 0x6D, 0x8A, 0xC6};

static int tile_solid(uint8_t m)
{
    if (m == 0 || m == 0x5F || m == 0x60 || m == 0xC2 || m == 0xC3)
        return 0;
    return m < climb_from[m >> 6];
}

/* Object ids that hurt on touch: the walkers, swimmers and fliers ($00-$15,
 * Bowser's flame included), the fire bars ($1B-$1F) and Bowser ($2D). Left out:
 * fireworks and frenzy controllers ($16-$1A), platforms and lifts ($24-$2C), the
 * power-up, vine, flags, spring, cannon marker, warp-zone text and Toad ($2E-$35). */
static int object_hurts(uint8_t id)
{
    return id <= 0x15 || (id >= 0x1B && id <= 0x1F) || id == 0x2D;
}

/* The grid cell of a level point, or -1 when it is off the grid. */
static int cell_of(int level_x, int screen_y, int left)
{
    int col = level_x / 16 - left / 16;
    if (level_x < 0 || col < 0 || col >= ENV_TILES_W || screen_y < 32)
        return -1;
    int row = (screen_y - 32) / 16;
    if (row >= ENV_TILES_H)
        return -1;
    return row * ENV_TILES_W + col;
}

void env_tiles_grid(const uint8_t *ram, uint8_t *grid)
{
    const int left = ram[SMB_SCREEN_LEFT_PAGE] * 256 + ram[SMB_SCREEN_LEFT_X];
    for (int j = 0; j < ENV_TILES_W; j++) {
        int c = (left + 16 * j) / 16;
        const uint8_t *col = ram + (((c / 16) & 1) ? SMB_BLOCK_PAGE1 : SMB_BLOCK_PAGE0) + c % 16;
        for (int r = 0; r < ENV_TILES_H; r++)
            grid[r * ENV_TILES_W + j] = tile_solid(col[r * 16]) ? ENV_TILE_SOLID : ENV_TILE_EMPTY;
    }
    for (int i = 0; i < SMB_ENEMY_SLOTS; i++) {
        if (!ram[SMB_ENEMY_FLAG + i] || ram[SMB_ENEMY_YHIGH + i] != 1 ||
            !object_hurts(ram[SMB_ENEMY_ID + i]))
            continue;
        int x = ram[SMB_ENEMY_PAGE + i] * 256 + ram[SMB_ENEMY_X + i] + 8;
        int cell = cell_of(x, ram[SMB_ENEMY_Y + i] + 8, left);
        if (cell >= 0)
            grid[cell] = ENV_TILE_ENEMY;
    }
    if (ram[SMB_Y_VIEWPORT] == 1) {
        int x = ram[SMB_X_PAGE] * 256 + ram[SMB_X_SCREEN] + 8;
        int cell = cell_of(x, ram[SMB_PLAYER_Y] + 24, left);
        if (cell >= 0)
            grid[cell] = ENV_TILE_MARIO;
    }
}
