/* fuzz_jit.c: libFuzzer target that holds translated CPU code (src/nes/jit.c)
 * to the interpreters. The input becomes the 16 KiB PRG of an NROM or CNROM
 * cart (repeated to fill it; KIL opcodes, which would only stop both CPUs,
 * turned into NOPs; vectors into the program); one emulator translates, one
 * interprets, and after each of a few runs of input-chosen length their whole
 * states must be equal. Coverage feedback comes from the translator, so the
 * fuzzer looks for programs that take its rarer paths. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smbrl/cart.h"
#include "smbrl/nes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { HEADER = 16, PRG = 16384, CHR = 8192 };

static int is_kil(uint8_t b) { return (b & 0x0F) == 0x02 && b != 0x82 && b != 0xA2 && b != 0xC2 && b != 0xE2; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    static uint8_t img[HEADER + PRG + CHR];
    memset(img, 0, sizeof img);
    memcpy(img, "NES\x1a", 4);
    img[4] = 1;
    img[5] = 1;
    img[6] = (data[0] & 1) ? 0x30 : 0x00; /* CNROM or NROM */
    uint8_t *prg = img + HEADER;
    for (size_t i = 0; i < PRG; i++) {
        uint8_t b = data[1 + i % (size - 1)];
        prg[i] = is_kil(b) ? 0xEA : b;
    }
    for (int v = 0x3FFA; v < 0x4000; v += 2)
        prg[v + 1] = (uint8_t)(0x80 | (prg[v + 1] & 0x3F));
    cart c;
    char err[256];
    if (cart_load_memory(&c, img, sizeof img, err, sizeof err) < 0)
        abort();
    nes *jit = nes_create(&c, err, sizeof err), *interp = nes_create(&c, err, sizeof err);
    if (!jit || !interp)
        abort();
    nes_set_translation(interp, 0);
    size_t state = nes_state_size();
    uint8_t *sa = malloc(state), *sb = malloc(state);
    for (int k = 0; k < 8; k++) {
        /* run lengths from the input: short ones stop inside blocks, long ones cross frames */
        uint64_t cycles = 1 + (uint64_t)data[(2 + k) % size] * (k & 1 ? 60 : 3);
        nes_set_buttons(jit, 0, data[(3 + k) % size]);
        nes_set_buttons(interp, 0, data[(3 + k) % size]);
        nes_run_cycles(jit, cycles);
        nes_run_cycles(interp, cycles);
        nes_save(jit, sa);
        nes_save(interp, sb);
        if (memcmp(sa, sb, state) != 0)
            abort();
    }
    free(sa);
    free(sb);
    nes_free(jit);
    nes_free(interp);
    cart_free(&c);
    return 0;
}
