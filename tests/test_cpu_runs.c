/* test_cpu_runs: code that reaches the end of PRG ROM that is contiguous in
 * host memory. A 16 KiB NROM cart maps its one bank at $8000 and again at
 * $C000, so the byte after $BFFF comes from the start of the bank, not from
 * the host byte after it. An instruction at $BFFF takes its operand from $C000,
 * reached either by straight-line code or by a forward jump within the 8 KiB
 * window (the ROM interpreter must notice both). The top bytes of the bank
 * are at once the vectors and code:
 *   $BFF8 NOP NOP  $BFFA NOP NOP (NMI vector $EAEA)  $BFFC LDA #$A2 (reset
 *   vector $A2A9)  $BFFE NOP  $BFFF LDX #($C000)     (IRQ vector $A2EA)
 *   $C000 = $5A, then STA $00  STX $01  STY $02  JMP self.
 * And the store loop the interpreter runs many iterations of at once. */
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

/* The store loop `STA abs,Y; INY x4; BNE back` that the interpreter runs many
 * iterations of at once, with its branch crossing a page (17-cycle
 * iterations) and not (16), in a program that loops forever with a new value
 * each time: frames run normally and one instruction at a time (never more
 * than one iteration at once) leave the same RAM, registers and clock. */
static void store_loops(void)
{
    static uint8_t img[HEADER + PRG + CHR];
    memset(img, 0, sizeof img);
    memcpy(img, "NES\x1a", 4);
    img[4] = 1;
    img[5] = 1;
    uint8_t *prg = img + HEADER;
    static const uint8_t start[] = {
        0xE6, 0x10,             /* $8000 INC $10 */
        0xA5, 0x10,             /* $8002 LDA $10 */
        0xA0, 0x00,             /* $8004 LDY #$00 */
        0x4C, 0xF9, 0x80,       /* $8006 JMP $80F9 */
    };
    memcpy(prg, start, sizeof start);
    static const uint8_t loops[] = {
        0x99, 0x00, 0x02, 0xC8, 0xC8, 0xC8, 0xC8, 0xD0, 0xF7, /* $80F9 STA $0200,Y ... BNE $80F9 */
        0xA0, 0x08,                                           /* $8102 LDY #$08 */
        0x99, 0x03, 0x03, 0xC8, 0xC8, 0xC8, 0xC8, 0xD0, 0xF7, /* $8104 STA $0303,Y ... BNE $8104 */
        0x4C, 0x00, 0x80,                                     /* $810D JMP $8000 */
    };
    memcpy(prg + 0xF9, loops, sizeof loops);
    prg[0x3FFC] = 0x00; /* reset vector $8000 */
    prg[0x3FFD] = 0x80;
    cart c = {0};
    char err[256];
    CHECK_EQ_INT(cart_load_memory(&c, img, sizeof img, err, sizeof err), 0);
    nes *run = nes_create(&c, err, sizeof err), *step = nes_create(&c, err, sizeof err);
    CHECK(run && step);
    if (!run || !step)
        return;
    char line[96];
    int differing = 0;
    for (int f = 0; f < 20; f++) {
        nes_run_frame(run, 0, NULL);
        while (nes_cpu_cycles(step) < nes_cpu_cycles(run))
            nes_trace_step(step, line, sizeof line);
        if (nes_cpu_cycles(step) != nes_cpu_cycles(run) || memcmp(nes_ram(step), nes_ram(run), 2048))
            differing++;
    }
    CHECK_EQ_INT(differing, 0);
    CHECK(nes_ram(run)[0x10] > 20); /* the loops ran many times */
    nes_free(run);
    nes_free(step);
    cart_free(&c);
}

int main(void)
{
    run(0);
    run(1);
    store_loops();
    return testlib_finish("test_cpu_runs");
}
