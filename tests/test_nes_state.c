/* test_nes_state: determinism and save states on Super Mario Bros.
 * - Two emulators fed the same inputs agree on RAM and frame hashes every frame.
 * - Save at frame k, run m frames, load, run the same m frames: same hashes.
 * - A state from the title screen, loaded or copied into an emulator in the
 *   level, draws the title's next frame exactly.
 * - A state from another cart, or a corrupt buffer, is refused.
 * - Rendering a frame or skipping it leaves the game in the same state.
 * - The general CPU interpreter plays as the ROM interpreter does. */
#include <stdlib.h>
#include <string.h>

#include "smbrl/nes.h"
#include "smbrl/rng.h"
#include "testlib.h"

static uint8_t random_pad(rng *r, int frame)
{
    if (frame >= 40 && frame < 44)
        return NES_START;
    return (uint8_t)(rng_u32(r) & ~(NES_START | NES_SELECT));
}

int main(void)
{
    char path[1024], err[256];
    testlib_data_path("SMBRL_ROM_DIR", "super-mario-bros.nes", path, sizeof path);
    cart c = {0};
    if (cart_load_file(&c, path, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    nes *a = nes_create(&c, err, sizeof err), *b = nes_create(&c, err, sizeof err);
    CHECK(a && b);
    uint8_t *pa = malloc(NES_WIDTH * NES_HEIGHT), *pb = malloc(NES_WIDTH * NES_HEIGHT);
    rng r;
    rng_seed(&r, 7);
    /* Determinism, rendering vs skipping: b skips pixels on odd frames. */
    for (int f = 0; f < 1500; f++) {
        uint8_t pad = random_pad(&r, f);
        nes_run_frame(a, pad, pa);
        nes_run_frame(b, pad, (f & 1) ? NULL : pb);
        CHECK_EQ_INT(nes_hash_bytes(nes_ram(a), 2048, 0), nes_hash_bytes(nes_ram(b), 2048, 0));
        CHECK_EQ_INT(nes_cpu_cycles(a), nes_cpu_cycles(b));
        if (!(f & 1))
            CHECK_EQ_INT(nes_hash_bytes(pa, NES_WIDTH * NES_HEIGHT, 0), nes_hash_bytes(pb, NES_WIDTH * NES_HEIGHT, 0));
        if (testlib_failures)
            break;
    }
    /* The picture is not blank: SMB's sky, ground and HUD use several colours. */
    int colours[64] = {0}, distinct = 0;
    for (int i = 0; i < NES_WIDTH * NES_HEIGHT; i++)
        if (!colours[pa[i] & 63]++)
            distinct++;
    CHECK(distinct >= 4);

    /* Save, run, load, run again. */
    size_t size = nes_state_size();
    void *state = malloc(size);
    uint64_t hashes[120];
    for (int k = 0; k < 3; k++) {
        nes_save(a, state);
        rng_seed(&r, 100 + (uint64_t)k);
        for (int f = 0; f < 120; f++) {
            nes_run_frame(a, random_pad(&r, 1000), pa);
            hashes[f] = nes_hash_bytes(nes_ram(a), 2048, nes_hash_bytes(pa, NES_WIDTH * NES_HEIGHT, 0));
        }
        CHECK_EQ_INT(nes_load(a, state), 0);
        rng_seed(&r, 100 + (uint64_t)k);
        for (int f = 0; f < 120; f++) {
            nes_run_frame(a, random_pad(&r, 1000), pa);
            CHECK_EQ_INT(nes_hash_bytes(nes_ram(a), 2048, nes_hash_bytes(pa, NES_WIDTH * NES_HEIGHT, 0)), hashes[f]);
        }
        /* Loading into a different emulator continues identically too. */
        CHECK_EQ_INT(nes_load(b, state), 0);
        rng_seed(&r, 100 + (uint64_t)k);
        nes_run_frame(b, random_pad(&r, 1000), pb);
        CHECK_EQ_INT(nes_hash_bytes(nes_ram(b), 2048, nes_hash_bytes(pb, NES_WIDTH * NES_HEIGHT, 0)), hashes[0]);
    }
    /* nes_copy is a reset from a snapshot: same as load. */
    nes_copy(b, a);
    nes_run_frame(a, 0, NULL);
    nes_run_frame(b, 0, NULL);
    CHECK_EQ_INT(nes_hash_bytes(nes_ram(a), 2048, 0), nes_hash_bytes(nes_ram(b), 2048, 0));

    /* A state from another moment (the title screen) loaded or copied into an
     * emulator that has run right through the level: the next frame is the
     * title's, pixel for pixel (nothing of the level's picture stays behind). */
    nes *title = nes_create(&c, err, sizeof err), *runner[2];
    for (int f = 0; f < 120; f++)
        nes_run_frame(title, 0, NULL);
    nes_save(title, state);
    nes_run_frame(title, 0, pa);
    int title_colours[64] = {0}, title_distinct = 0;
    for (int i = 0; i < NES_WIDTH * NES_HEIGHT; i++)
        if (!title_colours[pa[i] & 63]++)
            title_distinct++;
    CHECK(title_distinct >= 4); /* the title is on screen */
    for (int i = 0; i < 2; i++) {
        runner[i] = nes_create(&c, err, sizeof err);
        for (int f = 0; f < 600; f++)
            nes_run_frame(runner[i], f >= 40 && f < 44 ? NES_START : f < 44 ? 0 : (uint8_t)(NES_RIGHT | NES_B | ((f / 8) & 1 ? NES_A : 0)), pb);
    }
    CHECK_EQ_INT(nes_load(runner[0], state), 0);
    nes_copy(runner[1], title);
    nes_load(title, state);
    nes_run_frame(title, 0, pa);
    for (int i = 0; i < 2; i++) {
        nes_run_frame(runner[i], 0, pb);
        CHECK_EQ_INT(nes_hash_bytes(pb, NES_WIDTH * NES_HEIGHT, 0), nes_hash_bytes(pa, NES_WIDTH * NES_HEIGHT, 0));
        nes_free(runner[i]);
    }
    nes_free(title);

    /* Refusals: a corrupted magic, and a state of another cart. */
    nes_save(a, state);
    ((uint8_t *)state)[0] ^= 0xFF;
    CHECK(nes_load(a, state) < 0);
    char other_path[1024];
    const char *dir = getenv("SMBRL_ROM_DIR");
    snprintf(other_path, sizeof other_path, "%s/super-mario-bros-pixel.nes", dir);
    cart o = {0};
    if (cart_load_file(&o, other_path, err, sizeof err) == 0) {
        nes *x = nes_create(&o, err, sizeof err);
        nes_save(x, state);
        CHECK(nes_load(a, state) < 0);
        nes_free(x);
        cart_free(&o);
    }
    /* The two CPU interpreters play the same game: with its PRG at an odd host
     * address (not 256-byte aligned, as cart.c never leaves it), no code is run
     * as ROM code and the general interpreter reads every byte off the bus. */
    uint8_t *odd_buf = malloc(c.prg_size + 1);
    cart odd = c;
    odd.prg = odd_buf + 1;
    memcpy(odd.prg, c.prg, c.prg_size);
    nes *fast = nes_create(&c, err, sizeof err), *general = nes_create(&odd, err, sizeof err);
    CHECK(fast && general);
    if (fast && general) { /* the interpreters, not translated code (test_jit compares that) */
        nes_set_translation(fast, 0);
        nes_set_translation(general, 0);
    }
    rng_seed(&r, 8);
    uint64_t fast_cycles = 0;
    for (int f = 0; fast && general && f < 1500; f++) {
        uint8_t pad = random_pad(&r, f);
        nes_run_frame(fast, pad, pa);
        nes_run_frame(general, pad, pb);
        CHECK_EQ_INT(nes_hash_bytes(nes_ram(fast), 2048, 0), nes_hash_bytes(nes_ram(general), 2048, 0));
        CHECK_EQ_INT(nes_cpu_cycles(fast), nes_cpu_cycles(general));
        CHECK_EQ_INT(nes_hash_bytes(pa, NES_WIDTH * NES_HEIGHT, 0), nes_hash_bytes(pb, NES_WIDTH * NES_HEIGHT, 0));
        if (testlib_failures)
            break;
        fast_cycles = nes_cpu_cycles(fast);
    }
    CHECK(fast_cycles > 1400 * 29780ull);
    nes_free(fast);
    nes_free(general);
    free(odd_buf);

    free(state);
    free(pa);
    free(pb);
    nes_free(a);
    nes_free(b);
    cart_free(&c);
    return testlib_finish("test_nes_state");
}
