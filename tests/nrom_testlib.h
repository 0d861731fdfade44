/* nrom_testlib.h: synthetic NROM carts for the CPU and PPU tests: a 16 KiB
 * PRG bank (at $8000, mirrored at $C000) and 8 KiB of zero CHR. Include after
 * testlib.h. */
#ifndef SMBRL_NROM_TESTLIB_H
#define SMBRL_NROM_TESTLIB_H

#include <string.h>

#include "smbrl/cart.h"
#include "smbrl/nes.h"

enum { NROM_HEADER = 16, NROM_PRG = 16384, NROM_CHR = 8192, NROM_IMAGE = NROM_HEADER + NROM_PRG + NROM_CHR };

/* Clears img (NROM_IMAGE bytes) to an empty NROM image; returns its PRG bank,
 * whose last bytes are the vectors ($FFFA-$FFFF at 0x3FFA-0x3FFF). */
static inline uint8_t *nrom_image(uint8_t *img)
{
    memset(img, 0, NROM_IMAGE);
    memcpy(img, "NES\x1a", 4);
    img[4] = 1; /* 16 KiB PRG */
    img[5] = 1; /* 8 KiB CHR */
    return img + NROM_HEADER;
}

/* Loads the image into *c and powers on an emulator with it; NULL (and a
 * failed check) when either step fails. */
static inline nes *nrom_boot(const uint8_t *img, cart *c)
{
    char err[256];
    CHECK_EQ_INT(cart_load_memory(c, img, NROM_IMAGE, err, sizeof err), 0);
    nes *n = nes_create(c, err, sizeof err);
    CHECK(n != NULL);
    return n;
}

#endif
