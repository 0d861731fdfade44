/* test_cpu_runs: code that reaches the end of PRG ROM that is contiguous in
 * host memory. A 16 KiB NROM cart maps its one bank at $8000 and again at
 * $C000, so the byte after $BFFF comes from the start of the bank, not from
 * the host byte after it. An instruction at $BFFF takes its operand from $C000,
 * reached either by straight-line code or by a forward jump within the 8 KiB
 * window (the ROM interpreter must notice both). The top bytes of the bank
 * are at once the vectors and code:
 *   $BFF8 NOP NOP  $BFFA NOP NOP (NMI vector $EAEA)  $BFFC LDA #$A2 (reset
 *   vector $A2A9)  $BFFE NOP  $BFFF LDX #($C000)     (IRQ vector $A2EA)
 *   $C000 = $5A, then STA $00  STX $01  STY $02  JMP self. */
#include <string.h>

#include "smbrl/cart.h"
#include "smbrl/nes.h"
#include "testlib.h"

enum { HEADER = 16, PRG = 16384, CHR = 8192 };

/* The image; `jump` selects how $A2A9 reaches $BFF8. */
static void build(uint8_t *img, int jump)
{
    memset(img, 0, HEADER + PRG + CHR);
    memcpy(img, "NES\x1a", 4);
    img[4] = 1; /* 16 KiB PRG */
    img[5] = 1; /* 8 KiB CHR */
    uint8_t *prg = img + HEADER;
    static const uint8_t tail[8] = {0xEA, 0xEA, 0xEA, 0xEA, 0xA9, 0xA2, 0xEA, 0xA2};
    memcpy(prg + 0x3FF8, tail, sizeof tail);
    static const uint8_t low[] = {0x5A, 0x85, 0x00, 0x86, 0x01, 0x84, 0x02, 0x4C, 0x07, 0xC0};
    memcpy(prg, low, sizeof low);
    uint8_t *start = prg + 0x22A9;
    start[0] = 0xA0; /* LDY #$33 */
    start[1] = 0x33;
    if (jump) {
        static const uint8_t jmp[] = {0x4C, 0xF8, 0xBF}; /* JMP $BFF8 */
        memcpy(start + 2, jmp, sizeof jmp);
    } else {
        memset(start + 2, 0xEA, (size_t)(0x3FF8 - 0x22AB)); /* NOPs up to $BFF8 */
    }
}

static void run(int jump)
{
    static uint8_t img[HEADER + PRG + CHR];
    build(img, jump);
    cart c = {0};
    char err[256];
    CHECK_EQ_INT(cart_load_memory(&c, img, sizeof img, err, sizeof err), 0);
    nes *n = nes_create(&c, err, sizeof err);
    CHECK(n != NULL);
    if (!n)
        return;
    for (int f = 0; f < 3; f++)
        nes_run_frame(n, 0, NULL);
    const uint8_t *ram = nes_ram_const(n);
    CHECK_EQ_INT(ram[0], 0xA2);
    CHECK_EQ_INT(ram[1], 0x5A); /* the operand from $C000 */
    CHECK_EQ_INT(ram[2], 0x33);
    nes_free(n);
    cart_free(&c);
}

int main(void)
{
    run(0);
    run(1);
    return testlib_finish("test_cpu_runs");
}
