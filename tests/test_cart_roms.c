/* test_cart_roms.c: every known dump in $SMBRL_ROM_DIR loads and is recognised,
 * with the mapper, sizes and mirroring its cartridge really has. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smbrl/cart.h"
#include "smbrl/sha1.h"
#include "testlib.h"

static const struct {
    const char *file;
    int game;
    int mapper;
    size_t prg, chr;
    int mirroring;
} roms[] = {
    {"super-mario-bros.nes", CART_GAME_SMB, 0, 32768, 8192, CART_MIRROR_VERTICAL},
    {"super-mario-bros-downsample.nes", CART_GAME_SMB_DOWNSAMPLE, 0, 32768, 8192, CART_MIRROR_VERTICAL},
    {"super-mario-bros-pixel.nes", CART_GAME_SMB_PIXEL, 0, 32768, 8192, CART_MIRROR_VERTICAL},
    {"super-mario-bros-rectangle.nes", CART_GAME_SMB_RECTANGLE, 0, 32768, 8192, CART_MIRROR_VERTICAL},
    {"super-mario-bros-lost-levels.nes", CART_GAME_SMB_LOST_LEVELS, 0, 32768, 8192,
     CART_MIRROR_VERTICAL},
    {"super-mario-bros-lost-levels-downsample.nes", CART_GAME_SMB_LOST_LEVELS_DOWNSAMPLE, 0, 32768,
     8192, CART_MIRROR_VERTICAL},
    /* MMC3 boards: the mirroring bit is a default the mapper overrides. */
    {"super-mario-bros-2.nes", CART_GAME_SMB2_USA, 4, 131072, 131072, CART_MIRROR_HORIZONTAL},
    {"super-mario-bros-3.nes", CART_GAME_SMB3, 4, 262144, 131072, CART_MIRROR_HORIZONTAL},
};

/* The whole file's SHA-1, computed apart from the loader. */
static int file_sha1(const char *path, char hex[41])
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    sha1_ctx s;
    sha1_init(&s);
    uint8_t buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        sha1_update(&s, buf, n);
    fclose(f);
    uint8_t d[20];
    sha1_final(&s, d);
    sha1_to_hex(d, hex);
    return 0;
}

int main(void)
{
    const char *dir = getenv("SMBRL_ROM_DIR");
    if (!dir || !*dir)
        TEST_SKIP("SMBRL_ROM_DIR is not set; no ROMs to load");
    int found = 0;
    for (size_t i = 0; i < sizeof roms / sizeof roms[0]; i++) {
        char path[4096], err[512], hex[41], want[41];
        snprintf(path, sizeof path, "%s/%s", dir, roms[i].file);
        FILE *f = fopen(path, "rb");
        if (!f) {
            printf("not found, not checked: %s\n", path);
            continue;
        }
        fclose(f);
        found++;

        cart c;
        int rc = cart_inspect_file(&c, path, err, sizeof err);
        if (rc) {
            fprintf(stderr, "%s\n", err);
            CHECK_EQ_INT(rc, 0);
            continue;
        }
        printf("%s: %s, mapper %d, PRG %zu, CHR %zu, %s\n", roms[i].file, cart_game_name(c.game),
               c.mapper, c.prg_size, c.chr_size, cart_mirroring_name(c.mirroring));
        CHECK_EQ_INT(c.game, roms[i].game);
        CHECK_EQ_INT(c.mapper, roms[i].mapper);
        CHECK_EQ_INT(c.prg_size, roms[i].prg);
        CHECK_EQ_INT(c.chr_size, roms[i].chr);
        CHECK_EQ_INT(c.mirroring, roms[i].mirroring);
        CHECK_EQ_INT(c.nes2, 0);
        CHECK_EQ_INT(c.has_trainer, 0);
        CHECK(c.prg && c.chr);
        cart_sha1_hex(&c, hex);
        CHECK(file_sha1(path, want) == 0 && !strcmp(hex, want));
        cart_free(&c);

        /* cart_load_file refuses what the emulator cannot run, naming file and mapper. */
        rc = cart_load_file(&c, path, err, sizeof err);
        if (cart_mapper_supported(roms[i].mapper)) {
            CHECK_EQ_INT(rc, 0);
            CHECK_EQ_INT(c.game, roms[i].game);
        } else {
            CHECK_EQ_INT(rc, -2);
            CHECK(strstr(err, path) == err);
            CHECK(strstr(err, "unsupported mapper 4 MMC3") != NULL);
        }
        cart_free(&c);
    }
    if (!found)
        TEST_SKIP("none of the known ROM files is in SMBRL_ROM_DIR=%s", dir);
    return testlib_finish("test_cart_roms");
}
