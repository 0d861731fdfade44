/* test_ppu_render: the whole-line renderer against the one-pixel-at-a-time
 * reference, frame by frame over Super Mario Bros play (title, demo, levels,
 * sprites behind the background, the scrolling split under the status bar,
 * extra overlapping sprites written into the OAM page, the background pattern
 * table switched back and forth, and switched in the horizontal blank between a
 * line's first two fetches and the line, a stretch without the background cache); the
 * skipped frames and the pictures against single-stepped ones, on which no
 * poll loop or idle loop is skipped; and ppu_quiet_until's window (what the
 * poll skip trusts) against the PPU itself. */
#include <stdlib.h>
#include <string.h>

#include "nes/nes_internal.h"
#include "smbrl/rng.h"
#include "testlib.h"

/* ppu_quiet_until's promise on a copy of `n` whose fine X and sprite 0's OAM
 * X were changed at random (so that hits land on other pixels and tiles): no
 * $2002 bit changes before the clock it returns. Bits that set stay set until
 * the pre-render line, which no window crosses, so the last clock before the
 * window's end tells. Returns 1 when the promise is broken. */
static int quiet_window_broken(nes *probe, const nes *n, rng *r)
{
    nes_copy(probe, n);
    struct ppu *p = &probe->ppu;
    p->x = (uint8_t)(rng_u32(r) & 7);
    p->oam[3] = (uint8_t)rng_u32(r);
    uint64_t quiet = ppu_quiet_until(probe);
    uint8_t status = p->status;
    if (quiet <= p->clock + 1)
        return 0;
    ppu_catch_up(probe, quiet - 1);
    return p->status != status;
}

/* Steps `n` an instruction at a time until its next bus access would land on
 * dots 322-340 of `line` (the next line's first tile was fetched with what was
 * there at dot 321), then writes PPUCTRL with the background pattern table
 * switched, as the CPU would. Returns the cycle of the write, or 0 when the
 * frame went past the window with no instruction boundary in it. */
static uint64_t switch_bg_table_in_hblank(nes *n, int line, uint8_t *pixels)
{
    char text[96];
    uint64_t frame = n->ppu.frames;
    n->host.pixels = pixels;
    for (;;) {
        ppu_catch_up(n, PPU_ACCESS_DOT(n->cycle));
        const struct ppu *p = &n->ppu;
        /* It starts in vblank (lines 241-261), where nes_run_frame stopped. */
        if (p->frames != frame || (p->scanline > line && p->scanline < 240) || (p->scanline == line && p->dot > 340))
            return 0;
        if (p->scanline == line && p->dot >= 322)
            break;
        nes_trace_step(n, text, sizeof text);
    }
    bus_write_io(n, 0x2000, n->ppu.ctrl ^ 0x10);
    return n->cycle;
}

/* Steps `n` to exactly `cycle` (an instruction boundary that another emulator
 * reached by the same steps) and makes the same PPUCTRL write. */
static int switch_bg_table_at(nes *n, uint64_t cycle, uint8_t *pixels)
{
    char text[96];
    n->host.pixels = pixels;
    while (n->cycle < cycle)
        nes_trace_step(n, text, sizeof text);
    if (n->cycle != cycle)
        return -1;
    ppu_catch_up(n, PPU_ACCESS_DOT(n->cycle));
    bus_write_io(n, 0x2000, n->ppu.ctrl ^ 0x10);
    return 0;
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
    nes *fast = nes_create(&c, err, sizeof err), *ref = nes_create(&c, err, sizeof err);
    /* The same play with no pixels: the skipped-frame paths must leave everything
     * the game can observe as the rendered paths do. */
    nes *skip = nes_create(&c, err, sizeof err);
    int skip_differing = 0;
    /* One instruction at a time (the scheduler's next event is always the next
     * cycle): nes_poll_skip and the idle-loop skip never apply. */
    nes *step = nes_create(&c, err, sizeof err);
    const int step_frames = 700;
    int step_differing = 0, step_pixels_differing = 0;
    uint8_t *stepped_pixels = malloc(NES_WIDTH * NES_HEIGHT);
    nes *probe = nes_create(&c, err, sizeof err);
    int probes = 0, broken_windows = 0;
    rng probe_rng;
    rng_seed(&probe_rng, 11);
    ref->host.reference_render = 1;
    uint8_t *a = malloc(NES_WIDTH * NES_HEIGHT), *b = malloc(NES_WIDTH * NES_HEIGHT);
    rng r;
    rng_seed(&r, 3);
    int differing = 0, hblank_switches = 0, hblank_switch_failed = 0;
    uint8_t pad = 0;
    for (int f = 0; f < 3000; f++) {
        if (f % 6 == 0)
            pad = (uint8_t)(rng_u32(&r) & ~NES_SELECT);
        if (f % 600 < 6)
            pad = (f % 600 < 3) ? NES_START : 0;
        /* Eight extra sprites in OAM slots 48-55 (through the page SMB copies
         * to OAM each frame), in overlapping pairs with other palettes,
         * priorities and flips: which sprite wins where two are opaque. */
        for (int k = 0; k < 8; k++) {
            uint8_t sprite[4] = {(uint8_t)(40 + (f * 3 + k * 5) % 150), (uint8_t)(f + k * 7),
                                 (uint8_t)((k * 0x41 + f) & 0xE3), (uint8_t)(f * 2 + (k / 2) * 40 + (k & 1) * 3)};
            memcpy(&fast->ram[0x200 + 4 * (48 + k)], sprite, 4);
            memcpy(&ref->ram[0x200 + 4 * (48 + k)], sprite, 4);
            memcpy(&skip->ram[0x200 + 4 * (48 + k)], sprite, 4);
            memcpy(&step->ram[0x200 + 4 * (48 + k)], sprite, 4);
        }
        /* Frames 1000-1099 alternate the background pattern table (bit 4 of
         * SMB's copy of PPUCTRL, which its NMI handler writes to $2000). */
        if (f >= 1000 && f < 1100 && (f & 1)) {
            fast->ram[0x778] ^= 0x10;
            ref->ram[0x778] ^= 0x10;
            skip->ram[0x778] ^= 0x10;
            if (f < step_frames)
                step->ram[0x778] ^= 0x10;
        }
        /* Frames 1500-1999 decode every line as it is fetched (the path for
         * CHR RAM, tile rows 30-31 and a missing background cache). */
        struct bg_cache *cache = fast->host.bg_cache;
        if (f >= 1500 && f < 2000)
            fast->host.bg_cache = NULL;
        /* Frames 2200-2299 switch the background pattern table in the
         * horizontal blank of a line, after the next line's first tile was
         * fetched with the old one: that line's first tiles and the rest
         * differ, and the cache's tiles are not what the fetches saw. */
        if (f >= 2200 && f < 2300) {
            nes_set_buttons(fast, 0, pad), nes_set_buttons(ref, 0, pad), nes_set_buttons(skip, 0, pad);
            uint64_t at = switch_bg_table_in_hblank(fast, 40 + (f * 37) % 180, a);
            if (at) {
                hblank_switches++;
                if (switch_bg_table_at(ref, at, b) < 0 || switch_bg_table_at(skip, at, NULL) < 0)
                    hblank_switch_failed++;
            }
        }
        nes_run_frame(fast, pad, a);
        fast->host.bg_cache = cache;
        if (f == 1999)
            ppu_host_caches_drop(fast); /* the nametables moved on meanwhile */
        nes_run_frame(ref, pad, b);
        nes_run_frame(skip, pad, NULL);
        if (f < step_frames) {
            char line[96];
            nes_set_buttons(step, 0, pad);
            /* A frame ends at the scheduler's first stop after vblank; with NMI
             * off (the first frame) that can be later than the next instruction:
             * there, step to the same cycle. */
            step->host.pixels = stepped_pixels; /* what nes_run_frame does */
            for (uint64_t frame = step->ppu.frames, i = 0;
                 step->ppu.frames == frame || (f == 0 && step->cycle < skip->cycle); i++) {
                nes_trace_step(step, line, sizeof line);
                if (i % 61 == 0 && f >= 30) {
                    probes++;
                    if (quiet_window_broken(probe, step, &probe_rng) && broken_windows++ < 3)
                        fprintf(stderr, "frame %d: a status bit changed inside ppu_quiet_until's window\n", f);
                }
            }
            step->host.pixels = NULL;
            /* The exact exits from SMB's sprite-0 poll place its scroll split:
             * a poll skip that misjudges the hit moves it. */
            if (memcmp(stepped_pixels, a, NES_WIDTH * NES_HEIGHT) && step_pixels_differing++ < 3)
                fprintf(stderr, "frame %d: stepped picture differs\n", f);
            const struct ppu *pt = &step->ppu, *pk = &skip->ppu;
            if ((memcmp(step->ram, skip->ram, sizeof step->ram) || memcmp(&step->cpu, &skip->cpu, sizeof step->cpu) ||
                 step->cycle != skip->cycle || pt->v != pk->v || pt->t != pk->t || pt->x != pk->x ||
                 pt->w != pk->w || pt->status != pk->status || pt->io_latch != pk->io_latch ||
                 pt->clock != pk->clock) &&
                step_differing++ < 3)
                fprintf(stderr, "frame %d: stepped state differs (cycle %llu/%llu, status %02x/%02x)\n", f,
                        (unsigned long long)step->cycle, (unsigned long long)skip->cycle, pt->status, pk->status);
        }
        const struct ppu *pf = &fast->ppu, *ps = &skip->ppu;
        if ((memcmp(fast->ram, skip->ram, sizeof fast->ram) || memcmp(&fast->cpu, &skip->cpu, sizeof fast->cpu) ||
             fast->cycle != skip->cycle || pf->v != ps->v || pf->t != ps->t || pf->x != ps->x || pf->w != ps->w ||
             pf->status != ps->status || pf->clock != ps->clock || pf->scanline != ps->scanline ||
             pf->dot != ps->dot) &&
            skip_differing++ < 3)
            fprintf(stderr, "frame %d: skipped frame state differs (v %04x/%04x, status %02x/%02x)\n", f, pf->v, ps->v,
                    pf->status, ps->status);
        for (int i = 0; i < NES_WIDTH * NES_HEIGHT; i++)
            if (a[i] != b[i]) {
                if (differing++ < 3)
                    fprintf(stderr, "frame %d: pixel (%d,%d) fast %d reference %d\n", f, i % NES_WIDTH,
                            i / NES_WIDTH, a[i], b[i]);
                break;
            }
    }
    CHECK_EQ_INT(differing, 0);
    CHECK(hblank_switches > 50);
    CHECK_EQ_INT(hblank_switch_failed, 0);
    CHECK_EQ_INT(skip_differing, 0);
    CHECK_EQ_INT(step_differing, 0);
    CHECK_EQ_INT(step_pixels_differing, 0);
    CHECK(probes > 10000);
    CHECK_EQ_INT(broken_windows, 0);
    CHECK_EQ_INT(nes_hash_bytes(fast->ram, 2048, 0), nes_hash_bytes(ref->ram, 2048, 0));
    free(a);
    free(b);
    nes_free(fast);
    nes_free(ref);
    nes_free(skip);
    nes_free(step);
    nes_free(probe);
    free(stepped_pixels);
    cart_free(&c);
    return testlib_finish("test_ppu_render");
}
