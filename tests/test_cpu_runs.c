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
 * And the store loop the interpreter runs many iterations of at once, and
 * reads of open bus from ROM and from RAM. */
#include <string.h>

#include "smbrl/cart.h"
#include "smbrl/nes.h"
#include "testlib.h"
#include "nrom_testlib.h"

/* The image; `jump` selects how $A2A9 reaches $BFF8. */
static void build(uint8_t *img, int jump)
{
    uint8_t *prg = nrom_image(img);
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
    static uint8_t img[NROM_IMAGE];
    build(img, jump);
    cart c = {0};
    nes *n = nrom_boot(img, &c);
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
    static uint8_t img[NROM_IMAGE];
    uint8_t *prg = nrom_image(img);
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
    nes *run = nrom_boot(img, &c), *step = nes_create(&c, err, sizeof err);
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

/* Reads of open bus ($5000 on NROM: nothing drives the data bus) see the value
 * of the bus cycle before: the address's high byte after an absolute operand,
 * the pointer's high byte after (zp),Y and (zp,X), the dummy read's value after
 * a page cross. The ROM interpreter does not track the bus on every access and
 * must work out that value; the general interpreter (code in RAM) tracks it.
 * The same code runs from ROM ($8100) and from a copy in RAM ($0400). */
static void open_bus_reads(void)
{
    static const uint8_t code[] = {
        0xA9, 0x00, 0x85, 0xF0, 0xA9, 0x50, 0x85, 0xF1, /* ($F0) = $5000 */
        0xA9, 0xFF, 0x85, 0xF2, 0xA9, 0x4F, 0x85, 0xF3, /* ($F2) = $4FFF */
        0xA2, 0x01, 0xA0, 0x01,                         /* LDX #1  LDY #1 */
        0xAD, 0x00, 0x50, 0x85, 0x10,                   /* LDA $5000      STA $10 */
        0xBD, 0xFF, 0x4F, 0x85, 0x11,                   /* LDA $4FFF,X    STA $11 */
        0xBD, 0x00, 0x50, 0x85, 0x12,                   /* LDA $5000,X    STA $12 */
        0xB9, 0xFF, 0x4F, 0x85, 0x13,                   /* LDA $4FFF,Y    STA $13 */
        0xB1, 0xF0, 0x85, 0x14,                         /* LDA ($F0),Y    STA $14 */
        0xB1, 0xF2, 0x85, 0x15,                         /* LDA ($F2),Y    STA $15 */
        0xA2, 0x00, 0xA1, 0xF0, 0x85, 0x16,             /* LDX #0  LDA ($F0,X)  STA $16 */
        0xAE, 0x00, 0x50, 0x86, 0x17,                   /* LDX $5000      STX $17 */
        0xAC, 0x00, 0x50, 0x84, 0x18,                   /* LDY $5000      STY $18 */
        0xA9, 0x00, 0x2C, 0x00, 0x50, 0x08, 0x68, 0x85, 0x19, /* LDA #0  BIT $5000  PHP  PLA  STA $19 */
        0xAD, 0x16, 0x40, 0x85, 0x1A,                   /* LDA $4016      STA $1A */
        0xAF, 0x00, 0x50, 0x85, 0x1B,                   /* LAX $5000      STA $1B */
        /* Dummy reads that see something else than the operand's high byte:
         * the joypad's first bit (A held: $41) at $4016, then open bus at $4116. */
        0xA9, 0x01, 0x8D, 0x16, 0x40, 0xA9, 0x00, 0x8D, 0x16, 0x40, /* strobe the joypad */
        0xA2, 0x17, 0xBD, 0xFF, 0x40, 0x85, 0x1D,       /* LDX #$17  LDA $40FF,X  STA $1D */
        0xA9, 0xFF, 0x85, 0xF4, 0xA9, 0x40, 0x85, 0xF5, /* ($F4) = $40FF */
        0xA9, 0x01, 0x8D, 0x16, 0x40, 0xA9, 0x00, 0x8D, 0x16, 0x40, /* strobe again */
        0xA0, 0x17, 0xB1, 0xF4, 0x85, 0x1E,             /* LDY #$17  LDA ($F4),Y  STA $1E */
        0xE6, 0x1C,                                     /* INC $1C (done) */
        0xB8, 0x50, 0xFE,                               /* CLV  BVC self */
    };
    static const uint8_t copy[] = {
        0xA2, 0x00,                                     /* $8000 LDX #0 */
        0xBD, 0x00, 0x81, 0x9D, 0x00, 0x04,             /* $8002 LDA $8100,X  STA $0400,X */
        0xE8, 0xD0, 0xF7,                               /* INX  BNE $8002 */
        0x4C, 0x00, 0x04,                               /* JMP $0400 */
    };
    static const uint8_t expected[] = {
        0x50, 0x4F, 0x50, 0x4F, 0x50, 0x4F, 0x50, 0x50, 0x50,
        0x40 | 0x20 | 0x02 | 0x04 | 0x10, /* BIT: V from $50, Z (A & $50 = 0), I from reset, B and U pushed */
        0x40, 0x50, 0x01, 0x41, 0x41,
    };
    uint8_t results[2][sizeof expected];
    for (int in_ram = 0; in_ram < 2; in_ram++) {
        static uint8_t img[NROM_IMAGE];
        uint8_t *prg = nrom_image(img);
        memcpy(prg, copy, sizeof copy);
        memcpy(prg + 0x100, code, sizeof code);
        prg[0x3FFC] = 0x00; /* reset vector: $8000 (copy to RAM) or $8100 (run in ROM) */
        prg[0x3FFD] = in_ram ? 0x80 : 0x81;
        cart c = {0};
        nes *n = nrom_boot(img, &c);
        if (!n)
            return;
        nes_run_frame(n, NES_A, NULL);
        nes_run_frame(n, NES_A, NULL);
        memcpy(results[in_ram], nes_ram_const(n) + 0x10, sizeof expected);
        for (size_t i = 0; i < sizeof expected; i++)
            if (results[in_ram][i] != expected[i])
                fprintf(stderr, "open bus from %s: $%02zX = $%02X, expected $%02X\n", in_ram ? "RAM" : "ROM",
                        0x10 + i, results[in_ram][i], expected[i]);
        nes_free(n);
        cart_free(&c);
    }
    CHECK(!memcmp(results[0], expected, sizeof expected));
    CHECK(!memcmp(results[1], expected, sizeof expected));
}

int main(void)
{
    run(0);
    run(1);
    store_loops();
    open_bus_reads();
    return testlib_finish("test_cpu_runs");
}
