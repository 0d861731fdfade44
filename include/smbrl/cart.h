/* cart.h: cartridge images. Owns the parsed iNES / NES 2.0 header, the PRG and CHR
 * data of one ROM file, its SHA-1 and which known game dump it is.
 * A cart is immutable after loading; any number of emulators can share one.
 * Emulator states never contain ROM bytes (they point into the cart). */
#ifndef SMBRL_CART_H
#define SMBRL_CART_H

#include <stddef.h>
#include <stdint.h>

enum cart_mirroring {
    CART_MIRROR_HORIZONTAL = 0, /* CIRAM A10 = PPU A11 (vertical scrolling games) */
    CART_MIRROR_VERTICAL = 1,   /* CIRAM A10 = PPU A10 (horizontal scrolling games, SMB) */
    CART_MIRROR_FOUR_SCREEN = 2,
    CART_MIRROR_SINGLE_LOW = 3,
    CART_MIRROR_SINGLE_HIGH = 4,
};

/* Known dumps, recognised by the SHA-1 of the whole file. */
enum cart_game {
    CART_GAME_UNKNOWN = 0,
    CART_GAME_SMB,                  /* Super Mario Bros. (World) */
    CART_GAME_SMB_DOWNSAMPLE,       /* gym-super-mario-bros v1 ROM mode */
    CART_GAME_SMB_PIXEL,            /* v2 */
    CART_GAME_SMB_RECTANGLE,        /* v3 */
    CART_GAME_SMB_LOST_LEVELS,      /* SMB2 (Japan) / Lost Levels */
    CART_GAME_SMB_LOST_LEVELS_DOWNSAMPLE,
    CART_GAME_SMB2_USA,
    CART_GAME_SMB3,
    CART_GAME_COUNT
};

#define CART_PRG_BANK 16384
#define CART_CHR_BANK 8192

typedef struct cart {
    uint8_t *prg;           /* prg_size bytes, 256-byte aligned (else the CPU runs all code the slow way) */
    uint8_t *chr;           /* chr_size bytes of CHR ROM, or NULL when the board has CHR RAM */
    size_t prg_size;
    size_t chr_size;        /* 0 when the board uses CHR RAM */
    /* CHR ROM decoded for the PPU: 8 bytes per pattern row, one per pixel,
     * leftmost first, each the pixel's 2-bit colour with bits 2-3 set where it
     * is not 0; row r of the tile at byte offset 16t is at [r * chr_size / 16 + t].
     * NULL without CHR ROM. */
    uint64_t *chr_pixels;
    size_t chr_ram_size;    /* 8192 for CHR RAM boards without a NES 2.0 size, else 0 */
    size_t prg_ram_size;    /* battery or work RAM at $6000-$7FFF; 8192 by default */
    int mapper;             /* iNES mapper number */
    int submapper;          /* NES 2.0 only, else 0 */
    int mirroring;          /* enum cart_mirroring */
    int has_battery;
    int has_trainer;
    int nes2;               /* header is NES 2.0 */
    uint8_t sha1[20];       /* of the whole file */
    int game;               /* enum cart_game */
} cart;

/* Parse an iNES / NES 2.0 image. On error returns a negative value and writes a
 * one-line reason (not an iNES file, truncated, unsupported mapper N, ...) to err. */
int cart_load_memory(cart *c, const uint8_t *data, size_t size, char *err, size_t errlen);
int cart_load_file(cart *c, const char *path, char *err, size_t errlen);
void cart_free(cart *c);
/* Details of the loaders:
 * - Errors: -1 bad or truncated image, -2 unsupported mapper, -3 out of memory.
 *   cart_load_file's messages start with the path. On any error *c is zeroed.
 * - Bytes after the CHR ROM (PlayChoice data, NES 2.0 misc ROMs, padding) are
 *   accepted and ignored; the SHA-1 covers them, so a padded dump is "unknown".
 *   cart_image_size() says where the image proper ends.
 * - prg_ram_size: iNES byte 8 x 8 KiB (8 KiB when 0); NES 2.0 volatile + battery
 *   sizes from byte 10, which may be 0 (no RAM at $6000). chr_ram_size: the NES 2.0
 *   byte 11 sizes, or 8192 when there is no CHR ROM and no NES 2.0 size.
 * - Archaic iNES headers (junk such as "DiskDude!" in bytes 7-15) use only the
 *   low mapper nibble from byte 6. */

/* Like cart_load_*, but any mapper number is accepted: for tools that describe a ROM
 * (smbrl rom) rather than run it. */
int cart_inspect_memory(cart *c, const uint8_t *data, size_t size, char *err, size_t errlen);
int cart_inspect_file(cart *c, const char *path, char *err, size_t errlen);
/* 0 when the emulator implements c's mapper, else -2 and "unsupported mapper N ..." in err. */
int cart_check_mapper(const cart *c, char *err, size_t errlen);
/* Header + trainer + PRG + CHR: the file size minus any ignored trailing bytes. */
size_t cart_image_size(const cart *c);

/* Human names: "Super Mario Bros. (World)", "NROM", "vertical"; "unknown" when not known. */
const char *cart_game_name(int game);
const char *cart_mapper_name(int mapper);
const char *cart_mirroring_name(int mirroring);
/* Short stable id for scripts and JSON: "smb", "smb-downsample", ..., "unknown". */
const char *cart_game_key(int game);
/* Hex SHA-1, 41 bytes with the terminator. */
void cart_sha1_hex(const cart *c, char out[41]);
/* Whether the emulator implements this mapper. */
int cart_mapper_supported(int mapper);

#endif
