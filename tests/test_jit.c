/* test_jit: translated code plays exactly as the interpreters do.
 * - Super Mario Bros and Lost Levels under random play (title, demo, play,
 *   deaths, game overs restarted from a snapshot), one emulator translating and
 *   one interpreting: the whole saved state (CPU, RAM, PPU, APU, clock) equal
 *   after every frame, and the pictures equal on rendered frames.
 * - Stopped after random numbers of cycles (nes_run_cycles), anywhere in a
 *   block: the same state (translated code tests whole blocks against the
 *   next event; the interpreter tests every instruction).
 * - Instruction by instruction (nes_trace_step, the way single-stepping stops
 *   translated code after one instruction): the same registers and cycle
 *   counts before every one of 60,000 instructions.
 * - Random programs (every byte an opcode or operand, no KIL; on NROM and
 *   CNROM carts): the same
 *   registers and cycles before every instruction and the same state after
 *   every frame. They reach what SMB does not: overflowing ADC and SBC,
 *   reads and writes through pointers into I/O space, stack wraps, BRK, RTI
 *   and CLI handed to the interpreter mid-block, NMIs and APU IRQs.
 * - Translation is on by default for a mapper-0 cart on x86-64, and can be
 *   turned off. */
#include <stdlib.h>
#include <string.h>

#include "nes/jit.h"
#include "nes/nes_internal.h"
#include "smbrl/nes.h"
#include "smbrl/rng.h"
#include "testlib.h"
#include "nrom_testlib.h"

/* Under the sanitizers (ten to twenty times slower) a quarter of the work:
 * the paths run are the same, memory errors show as well. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_JIT_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define TEST_JIT_SANITIZED 1
#endif
#ifdef TEST_JIT_SANITIZED
#define SCALE(n) ((n) / 4)
#else
#define SCALE(n) (n)
#endif

/* Start on the title (game mode 0), else a random pad held for 8 frames
 * (right more often than not, so that Mario meets enemies and dies). */
static uint8_t random_pad(rng *r, int frame, uint8_t mode, uint8_t *held)
{
    if (mode == 0 && frame % 60 < 4)
        return NES_START;
    if (frame % 8 == 0)
        *held = (uint8_t)((rng_u32(r) & ~(NES_START | NES_SELECT)) | (rng_u32(r) % 3 ? NES_RIGHT : 0));
    return *held;
}

/* Whether the two machines are in the same state (the whole save state);
 * when not, says where, after which `unit` `step` of `what`, and fails. */
static int same_state(nes *a, nes *b, const char *what, const char *unit, long step)
{
    size_t size = nes_state_size();
    uint8_t *sa = malloc(size), *sb = malloc(size);
    nes_save(a, sa);
    nes_save(b, sb);
    int same = memcmp(sa, sb, size) == 0;
    if (!same) {
        size_t i = 0;
        while (sa[i] == sb[i])
            i++;
        fprintf(stderr, "%s: states differ after %s %ld at byte %zu\n", what, unit, step, i);
        testlib_failures++;
    }
    free(sa);
    free(sb);
    return same;
}

/* Runs one instruction on each (nes_trace_step); whether their trace lines
 * (registers and cycle count before it) agree. When not, says where and fails. */
static int same_step(nes *jit, nes *interp, const char *what, long i)
{
    char la[160], lb[160];
    nes_trace_step(jit, la, sizeof la);
    nes_trace_step(interp, lb, sizeof lb);
    if (strcmp(la, lb) == 0)
        return 1;
    fprintf(stderr, "%s, instruction %ld:\n  translated:  %s\n  interpreted: %s\n", what, i, la, lb);
    testlib_failures++;
    return 0;
}

/* Runs both in chunks of random length (stopping anywhere in a block, the way
 * an event does), comparing the whole state after each. */
static void compare_chunks(nes *jit, nes *interp, rng *r, int chunks, uint32_t longest, const char *what)
{
    for (int i = 0; i < chunks; i++) {
        uint8_t pad = (uint8_t)rng_u32(r);
        nes_set_buttons(jit, 0, pad);
        nes_set_buttons(interp, 0, pad);
        uint64_t cycles = 1 + rng_u32(r) % longest;
        nes_run_cycles(jit, cycles);
        nes_run_cycles(interp, cycles);
        if (!same_state(jit, interp, what, "random stop", i))
            break;
    }
}

/* Loads a ROM of SMBRL_ROM_DIR (skips the test without it) and powers on two
 * emulators with it, *jit translating (where this host can) and *interp not.
 * Returns 0 (a failed check) when either cannot be had. */
static int open_pair(const char *rom_name, cart *c, nes **jit, nes **interp)
{
    char path[1024], err[256];
    testlib_data_path("SMBRL_ROM_DIR", rom_name, path, sizeof path);
    *jit = *interp = NULL;
    if (cart_load_file(c, path, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        testlib_failures++;
        return 0;
    }
    *jit = nes_create(c, err, sizeof err);
    *interp = nes_create(c, err, sizeof err);
    int translating = *jit && nes_set_translation(*jit, 1);
#if defined(__x86_64__) && defined(__linux__)
    CHECK(translating);
#endif
    if (*interp)
        nes_set_translation(*interp, 0);
    if (!*jit || !*interp || !translating) {
        CHECK(*jit && *interp);
        nes_free(*jit);
        nes_free(*interp);
        cart_free(c);
        return 0;
    }
    return 1;
}

static void compare_game(const char *rom_name, int frames)
{
    cart c = {0};
    nes *jit, *interp;
    if (!open_pair(rom_name, &c, &jit, &interp))
        return;
    uint8_t *snap = malloc(nes_state_size());
    uint8_t *pa = malloc(NES_WIDTH * NES_HEIGHT), *pb = malloc(NES_WIDTH * NES_HEIGHT);
    rng r;
    rng_seed(&r, 11);
    int snap_taken = 0, restarts = 0;
    uint8_t held = 0;
    for (int f = 0; f < frames; f++) {
        uint8_t pad = random_pad(&r, f, nes_ram(jit)[0x770], &held);
        int render = f % 3 == 0;
        nes_run_frame(jit, pad, render ? pa : NULL);
        nes_run_frame(interp, pad, render ? pb : NULL);
        if (!same_state(jit, interp, rom_name, "frame", f))
            break;
        if (render && memcmp(pa, pb, NES_WIDTH * NES_HEIGHT) != 0) {
            fprintf(stderr, "%s: pictures differ at frame %d\n", rom_name, f);
            testlib_failures++;
            break;
        }
        /* In play (game mode 1) the first time: the snapshot that game overs return to. */
        uint8_t mode = nes_ram(jit)[0x770];
        if (mode == 1 && !snap_taken) {
            nes_save(jit, snap);
            snap_taken = 1;
        } else if (snap_taken && mode != 1 && f % 7 == 0) {
            CHECK_EQ_INT(nes_load(jit, snap), 0);
            CHECK_EQ_INT(nes_load(interp, snap), 0);
            restarts++;
        }
    }
    printf("%s: %d frames, %d restarts from the snapshot\n", rom_name, frames, restarts);
    CHECK(snap_taken);
    CHECK(restarts >= 1);

    compare_chunks(jit, interp, &r, SCALE(20000), 200, rom_name);

    /* One instruction at a time from power-on (the title runs its loops). */
    nes_power(jit);
    nes_power(interp);
    for (int i = 0; i < SCALE(60000); i++) {
        nes_set_buttons(jit, 0, (i / 5000) % 2 ? NES_START : 0);
        nes_set_buttons(interp, 0, (i / 5000) % 2 ? NES_START : 0);
        if (!same_step(jit, interp, rom_name, i))
            break;
    }
    free(snap);
    free(pa);
    free(pb);
    nes_free(jit);
    nes_free(interp);
    cart_free(&c);
}

static int is_kil(uint8_t b) { return (b & 0x0F) == 0x02 && b != 0x82 && b != 0xA2 && b != 0xC2 && b != 0xE2; }

/* A synthetic cart image (nrom_testlib.h) on two emulators, *jit translating
 * and *interp not; 0 (a failed check) when either cannot be had. */
static int boot_pair(const uint8_t *img, cart *c, nes **jit, nes **interp)
{
    char err[256];
    *jit = nrom_boot(img, c);
    *interp = nes_create(c, err, sizeof err);
    if (!*jit || !*interp) {
        CHECK(*interp != NULL);
        nes_free(*jit);
        nes_free(*interp);
        cart_free(c);
        return 0;
    }
#if defined(__x86_64__) && defined(__linux__)
    CHECK_EQ_INT(nes_set_translation(*jit, 1), 1);
#endif
    nes_set_translation(*interp, 0);
    return 1;
}

/* Edge cases random bytes reach too rarely: indexed reads of a table at the
 * top of ROM that wrap into RAM, (zp),Y and (zp,X) pointers that wrap in
 * zero page, JMP ($xxFF), and an RTS whose dummy read lands on $2007 (a read
 * with side effects). The results are stored in RAM; both runs must agree. */
static void compare_directed_program(void)
{
    static const uint8_t code[] = {
        0xA9, 0x5A, 0x85, 0x20,             /* LDA #$5A; STA $20 */
        0xA2, 0x30, 0xBD, 0xF0, 0xFF,       /* LDX #$30; LDA $FFF0,X  ($0020) */
        0x8D, 0x00, 0x03,                   /* STA $0300 */
        0xA0, 0x40, 0xB9, 0xE0, 0xFF,       /* LDY #$40; LDA $FFE0,Y  ($0020) */
        0x8D, 0x01, 0x03,                   /* STA $0301 */
        0xA9, 0x00, 0x85, 0xFF, 0xA9, 0x02, 0x85, 0x00, /* pointer at $FF/$00 = $0200 */
        0xA9, 0x77, 0x8D, 0x05, 0x02,       /* $0205 = $77 */
        0xA0, 0x05, 0xB1, 0xFF,             /* LDY #5; LDA ($FF),Y */
        0x8D, 0x02, 0x03,                   /* STA $0302 */
        0xA2, 0x0F, 0xA1, 0xF0,             /* LDX #$0F; LDA ($F0,X)  (pointer at $FF/$00) */
        0x8D, 0x03, 0x03,                   /* STA $0303 */
        0xA9, 0x80, 0x8D, 0x00, 0x02,       /* $0200 = $80 */
        0xA9, 0x60, 0x8D, 0xFF, 0x02,       /* $02FF = $60 */
        0x6C, 0xFF, 0x02,                   /* JMP ($02FF): $8060, high byte from $0200 */
    };
    static const uint8_t at_8060[] = {
        0xEE, 0x04, 0x03,                   /* INC $0304 */
        0xA9, 0x20, 0x48, 0xA9, 0x07, 0x48, /* push $2007 */
        0x60,                               /* RTS: dummy read of $2007, then on at $2008 */
    };
    static uint8_t img[NROM_IMAGE];
    uint8_t *prg = nrom_image(img);
    memset(prg, 0xEA, NROM_PRG); /* NOPs */
    memcpy(prg, code, sizeof code);
    memcpy(prg + 0x60, at_8060, sizeof at_8060);
    prg[0x3FFC] = 0x00;
    prg[0x3FFD] = 0x80;
    cart c = {0};
    nes *jit, *interp;
    if (!boot_pair(img, &c, &jit, &interp))
        return;
    rng r;
    rng_seed(&r, 5);
    compare_chunks(jit, interp, &r, 50, 3000, "directed program");
    CHECK_EQ_INT(nes_ram(jit)[0x300], 0x5A);
    CHECK_EQ_INT(nes_ram(jit)[0x301], 0x5A);
    CHECK_EQ_INT(nes_ram(jit)[0x302], 0x77);
    CHECK_EQ_INT(nes_ram(jit)[0x304], 1);
    nes_free(jit);
    nes_free(interp);
    cart_free(&c);
}

/* A code buffer so small that it fills every few frames: every block is then
 * dropped and translated again, with jumps between blocks patched anew. */
static void compare_small_code_buffer(void)
{
    cart c = {0};
    nes *jit, *interp;
    if (!open_pair("super-mario-bros.nes", &c, &jit, &interp))
        return;
    jit_limit_code(jit->host.jit, 96 * 1024);
    rng r;
    rng_seed(&r, 3);
    uint8_t held = 0;
    for (int f = 0; f < SCALE(2000); f++) {
        uint8_t pad = random_pad(&r, f, nes_ram(jit)[0x770], &held);
        nes_run_frame(jit, pad, NULL);
        nes_run_frame(interp, pad, NULL);
        if (!same_state(jit, interp, "small code buffer", "frame", f))
            break;
    }
    printf("small code buffer: %u flushes\n", jit_flushes(jit->host.jit));
    CHECK(jit_flushes(jit->host.jit) >= 3);
    nes_free(jit);
    nes_free(interp);
    cart_free(&c);
}

/* Found by fuzz/fuzz_jit: a 16 KiB PRG of `LDA $0A0A,X` and `ASL A` runs
 * through $BFFE-$C000, where the PRG's mirror starts: the interpreters run
 * that instruction in the general interpreter (its bytes are not contiguous
 * in host memory), which keeps the data bus on every access; translated code
 * must leave it the same. */
static void compare_mirror_crossing(void)
{
    static uint8_t img[NROM_IMAGE];
    uint8_t *prg = nrom_image(img);
    static const uint8_t pattern[3] = {0xBD, 0x0A, 0x0A};
    for (int i = 0; i < NROM_PRG; i++)
        prg[i] = pattern[i % 3];
    for (int v = 0x3FFA; v < 0x4000; v += 2)
        prg[v + 1] = (uint8_t)(0x80 | (prg[v + 1] & 0x3F));
    cart c = {0};
    nes *jit, *interp;
    if (!boot_pair(img, &c, &jit, &interp))
        return;
    for (int i = 0; i < 200; i++) {
        nes_run_cycles(jit, 1000);
        nes_run_cycles(interp, 1000);
        if (!same_state(jit, interp, "mirror crossing", "chunk", i))
            break;
    }
    nes_free(jit);
    nes_free(interp);
    cart_free(&c);
}

static void compare_random_programs(int programs)
{
    static uint8_t img[NROM_IMAGE];
    rng r;
    rng_seed(&r, 2026);
    long steps = 0;
    for (int k = 0; k < programs && !testlib_failures; k++) {
        uint8_t *prg = nrom_image(img);
        for (int i = 0; i < NROM_PRG; i++) {
            uint8_t b;
            do
                b = (uint8_t)rng_u32(&r);
            while (is_kil(b));
            prg[i] = b;
        }
        for (int v = 0x3FFA; v < 0x4000; v += 2) /* NMI, reset, IRQ: anywhere in $8000-$BFFF */
            prg[v + 1] = (uint8_t)(0x80 | (prg[v + 1] & 0x3F));
        if (k & 1)
            img[6] = 0x30; /* CNROM: writes to $8000-$FFFF select CHR banks; PRG stays */
        cart c = {0};
        nes *jit, *interp;
        if (!boot_pair(img, &c, &jit, &interp))
            break;
        char what[32];
        snprintf(what, sizeof what, "random program %d", k);
        for (int i = 0; i < SCALE(3000); i++, steps++)
            if (!same_step(jit, interp, what, i))
                break;
        compare_chunks(jit, interp, &r, SCALE(1000), 300, what);
        for (int f = 0; f < 6 && !testlib_failures; f++) {
            uint8_t pad = (uint8_t)rng_u32(&r);
            nes_run_frame(jit, pad, NULL);
            nes_run_frame(interp, pad, NULL);
            same_state(jit, interp, what, "frame", f);
        }
        nes_free(jit);
        nes_free(interp);
        cart_free(&c);
    }
    printf("random programs: %d, %ld instructions compared one by one\n", programs, steps);
}

int main(void)
{
    compare_directed_program();
    compare_mirror_crossing();
    compare_random_programs(SCALE(300));
    compare_small_code_buffer();
    compare_game("super-mario-bros.nes", 6000);
    compare_game("super-mario-bros-lost-levels.nes", 6000);
    return testlib_finish("test_jit");
}
