/* test_ppu_palette: the whole-line renderer keeps its line palette (palette
 * RAM with the grayscale mask) between lines and rebuilds it after a palette
 * or mask write. Super Mario Bros writes PPUMASK in every NMI, after any
 * palette write, so it cannot tell a missed rebuild; these two synthetic
 * NROM programs do one without the other, once a frame in vertical blank:
 *   palette: the backdrop colour ($3F00) changes every frame, PPUMASK never;
 *   gray:    PPUMASK's grayscale bit toggles every frame, the palette never.
 * CHR and nametables are zero, so every pixel is the backdrop. Each frame is
 * compared with the one-pixel-at-a-time reference renderer. */
#include <string.h>

#include "nes/nes_internal.h"
#include "testlib.h"
#include "nrom_testlib.h"

static void build(uint8_t *img, int gray)
{
    static const uint8_t setup[] = {
        0x78, 0xD8, 0xA2, 0xFF, 0x9A,             /* $8000 SEI CLD LDX #$FF TXS */
        0xA9, 0x00, 0x8D, 0x00, 0x20,             /* LDA #0 STA $2000 (no NMI) */
        0x2C, 0x02, 0x20, 0x10, 0xFB,             /* $800A BIT $2002 BPL $800A */
        0x2C, 0x02, 0x20, 0x10, 0xFB,             /* $800F BIT $2002 BPL $800F */
        0xA9, 0x3F, 0x8D, 0x06, 0x20, 0xA9, 0x00, 0x8D, 0x06, 0x20, /* PPUADDR = $3F00 */
        0xA9, 0x16, 0x8D, 0x07, 0x20,             /* backdrop = $16 */
        0xA9, 0x00, 0x8D, 0x06, 0x20, 0x8D, 0x06, 0x20, /* PPUADDR = 0 */
        0xA9, 0x08, 0x8D, 0x01, 0x20,             /* PPUMASK: background on */
    };
    static const uint8_t palette_loop[] = {
        0x2C, 0x02, 0x20, 0x10, 0xFB,             /* wait for vblank */
        0xE6, 0x00, 0xA5, 0x00, 0x29, 0x3F, 0x85, 0x01, /* INC $00  LDA $00  AND #$3F  STA $01 */
        0xA9, 0x3F, 0x8D, 0x06, 0x20, 0xA9, 0x00, 0x8D, 0x06, 0x20,
        0xA5, 0x01, 0x8D, 0x07, 0x20,             /* backdrop = $01 */
        0xA9, 0x00, 0x8D, 0x06, 0x20, 0x8D, 0x06, 0x20,
    };
    static const uint8_t gray_loop[] = {
        0x2C, 0x02, 0x20, 0x10, 0xFB,             /* wait for vblank */
        0xA5, 0x00, 0x49, 0x01, 0x85, 0x00,       /* LDA $00  EOR #1  STA $00 */
        0x09, 0x08, 0x8D, 0x01, 0x20,             /* PPUMASK = background on | gray bit */
    };
    uint8_t *prg = nrom_image(img), *at = prg;
    memcpy(at, setup, sizeof setup);
    at += sizeof setup;
    const uint8_t *loop = gray ? gray_loop : palette_loop;
    size_t len = gray ? sizeof gray_loop : sizeof palette_loop;
    uint16_t loop_addr = (uint16_t)(0x8000 + (at - prg));
    memcpy(at, loop, len);
    at += len;
    at[0] = 0x4C; /* JMP loop */
    at[1] = (uint8_t)loop_addr;
    at[2] = (uint8_t)(loop_addr >> 8);
    prg[0x3FFC] = 0x00; /* reset vector $8000 */
    prg[0x3FFD] = 0x80;
}

static void run(int gray)
{
    static uint8_t img[NROM_IMAGE];
    build(img, gray);
    cart c = {0};
    char err[256];
    nes *fast = nrom_boot(img, &c), *ref = nes_create(&c, err, sizeof err);
    CHECK(fast && ref);
    if (!fast || !ref)
        return;
    ref->host.reference_render = 1;
    static uint8_t a[NES_WIDTH * NES_HEIGHT], b[NES_WIDTH * NES_HEIGHT];
    int differing = 0, seen[64] = {0}, colours = 0;
    for (int f = 0; f < 40; f++) {
        nes_run_frame(fast, 0, a);
        nes_run_frame(ref, 0, b);
        if (memcmp(a, b, sizeof a) && differing++ < 3)
            fprintf(stderr, "%s: frame %d: pixel (128, 120) %02x, reference %02x\n", gray ? "gray" : "palette", f,
                    a[120 * NES_WIDTH + 128], b[120 * NES_WIDTH + 128]);
        if (!seen[b[120 * NES_WIDTH + 128] & 63]++)
            colours++;
    }
    CHECK_EQ_INT(differing, 0);
    /* The programs do change the picture: 20-odd backdrops, or $16 and its gray $10. */
    CHECK(colours >= (gray ? 2 : 20));
    nes_free(fast);
    nes_free(ref);
    cart_free(&c);
}

int main(void)
{
    run(0);
    run(1);
    return testlib_finish("test_ppu_palette");
}
