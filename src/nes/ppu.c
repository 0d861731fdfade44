/* ppu.c: the 2C02 picture processor, caught up lazily to the CPU.
 *
 * The PPU runs in segments: ppu_catch_up() advances from the current dot to a
 * target dot, splitting at line ends, and run_segment() performs, in order,
 * everything the hardware does on the dots of that segment: background tile
 * fetches at dots 8k+1 and scroll increments at 8k (loopy v), the horizontal
 * copy at 257, vertical copy at 280-304 of the pre-render line, sprite
 * evaluation for the next line (result as of dot 65, overflow flag at its exact
 * dot), sprite fetches at 257, vblank at 241:1, flag clears at 261:1, pixels at
 * dots 1-256. A CPU access catches up first, so every register read and write
 * lands on its exact dot; between accesses whole lines run in one call.
 *
 * A skipped frame (no pixel buffer) composes no pixels: it keeps the fetch
 * pipeline, scroll counters and sprite evaluation, and checks sprite-0 hit only
 * over sprite 0's eight pixels. A rendered whole line copies its background
 * from struct bg_cache (both nametables decoded, kept beside the state) instead
 * of decoding its tiles. ppu_quiet_until() tells the CPU's status-poll skip how
 * long $2002 cannot change, sprite-0 hit dot included, so that polling runs
 * whole lines between reads. References: nesdev wiki "PPU rendering",
 * "PPU scrolling", "PPU sprite evaluation", "PPU frame timing". */
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "nes/nes_internal.h"

enum { STATUS_OVERFLOW = 0x20, STATUS_HIT = 0x40, STATUS_VBLANK = 0x80 };
enum { MASK_GRAY = 0x01, MASK_BG_LEFT = 0x02, MASK_SPR_LEFT = 0x04, MASK_BG = 0x08, MASK_SPR = 0x10 };
enum { CTRL_INC32 = 0x04, CTRL_SPR_TABLE = 0x08, CTRL_BG_TABLE = 0x10, CTRL_SPR16 = 0x20, CTRL_NMI = 0x80 };
/* Open-bus bits fade in about 600 ms on hardware; in dots: */
#define IO_DECAY_DOTS (5369318ull * 6 / 10)

static inline uint8_t bit_reverse(uint8_t b)
{
    b = (uint8_t)((b & 0xF0) >> 4 | (b & 0x0F) << 4);
    b = (uint8_t)((b & 0xCC) >> 2 | (b & 0x33) << 2);
    b = (uint8_t)((b & 0xAA) >> 1 | (b & 0x55) << 1);
    return b;
}

static inline uint8_t chr_read(const nes *n, uint16_t addr)
{
    return n->host.chr[(addr >> 10) & 7][addr & 0x3FF];
}

static inline uint8_t palette_index(uint16_t addr)
{
    addr &= 0x1F;
    if ((addr & 0x13) == 0x10)
        addr &= 0x0F; /* $3F10/14/18/1C mirror $3F00/04/08/0C */
    return (uint8_t)addr;
}

static uint8_t vram_read(const nes *n, uint16_t addr)
{
    addr &= 0x3FFF;
    if (addr < 0x2000)
        return chr_read(n, addr);
    if (addr < 0x3F00)
        return n->host.nt[(addr >> 10) & 3][addr & 0x3FF];
    return n->ppu.palette[palette_index(addr)];
}

static void vram_write(nes *n, uint16_t addr, uint8_t value)
{
    addr &= 0x3FFF;
    if (addr < 0x2000) {
        if (!n->host.cart->chr) /* CHR RAM only; CHR ROM ignores writes */
            n->host.chr[addr >> 10][addr & 0x3FF] = value;
    } else if (addr < 0x3F00) {
        uint8_t *page = n->host.nt[(addr >> 10) & 3];
        unsigned at = addr & 0x3FF;
        page[at] = value;
        struct bg_cache *bc = n->host.bg_cache;
        if (bc) {
            uint32_t *stale = bc->stale[(page - n->ppu.ciram) >> 10];
            if (at < 0x3C0) {
                stale[at >> 5] |= 1u << (at & 31);
            } else {
                /* An attribute byte colours a 4x4 block of tiles. */
                unsigned row = ((at - 0x3C0) >> 3) * 4, cols = 0xFu << (((at - 0x3C0) & 7) * 4);
                for (unsigned r = row; r < row + 4 && r < 30; r++)
                    stale[r] |= cols;
            }
        }
    } else {
        n->ppu.palette[palette_index(addr)] = value & 0x3F;
        n->host.line_pal_valid = 0;
    }
}

static inline int rendering(const struct ppu *p) { return (p->mask & (MASK_BG | MASK_SPR)) != 0; }

static inline void increment_x(struct ppu *p)
{
    if ((p->v & 0x1F) == 31) {
        p->v &= (uint16_t)~0x1F;
        p->v ^= 0x400;
    } else {
        p->v++;
    }
}

/* k (0-32) coarse-X increments at once: at most one wrap into the next nametable. */
static inline void increment_x_by(struct ppu *p, int k)
{
    int cx = (p->v & 0x1F) + k;
    uint16_t v = (uint16_t)(p->v & ~0x1F);
    if (cx >= 32) {
        cx -= 32;
        v ^= 0x400;
    }
    p->v = (uint16_t)(v | cx);
}

/* v after the vertical increment at dot 256: fine Y, then coarse Y, which
 * wraps at 30 to the other vertical nametable (and at 32 without). */
static inline uint16_t next_row(uint16_t v)
{
    if ((v & 0x7000) != 0x7000)
        return (uint16_t)(v + 0x1000);
    v &= (uint16_t)~0x7000;
    int y = (v & 0x3E0) >> 5;
    if (y == 29) {
        y = 0;
        v ^= 0x800;
    } else if (y == 31) {
        y = 0;
    } else {
        y++;
    }
    return (uint16_t)((v & ~0x3E0) | (y << 5));
}

static inline void increment_y(struct ppu *p) { p->v = next_row(p->v); }

static inline void fetch_tile(nes *n, int slot)
{
    struct ppu *p = &n->ppu;
    uint16_t v = p->v;
    uint8_t tile = n->host.nt[(v >> 10) & 3][v & 0x3FF];
    uint8_t attr = n->host.nt[(v >> 10) & 3][0x3C0 | ((v >> 4) & 0x38) | ((v >> 2) & 0x07)];
    uint16_t base = (uint16_t)(((p->ctrl & CTRL_BG_TABLE) ? 0x1000 : 0) + tile * 16 + ((v >> 12) & 7));
    p->tile_pal[slot] = (uint8_t)((attr >> (((v >> 4) & 4) | (v & 2))) & 3);
    p->tile_lo[slot] = chr_read(n, base);
    p->tile_hi[slot] = chr_read(n, (uint16_t)(base + 8));
}

/* Background fetches at dots 8k+1 and coarse-X increments at dots 8k+8, for the
 * dots lo..hi-1 of 1-256. Locals keep the pointers and v in registers. */
/* All 32 fetches and increments of dots 1-256 at once: within a nametable row
 * the tile and attribute bytes are consecutive, and the coarse-X wrap flips to
 * the other nametable once. Same result as the dot-by-dot loop below. */
static void fetch_full_line(nes *n)
{
    struct ppu *p = &n->ppu;
    uint16_t v = p->v;
    unsigned table = (p->ctrl & CTRL_BG_TABLE) ? 0x1000 : 0;
    unsigned cy = (v >> 5) & 31, fy = (v >> 12) & 7, cx = v & 31;
    const uint8_t *const *chr = (const uint8_t *const *)n->host.chr;
    /* The four 1 KiB windows of a pattern table are usually one contiguous block. */
    const uint8_t *bank = chr[table >> 10];
    int flat = chr[(table >> 10) + 1] == bank + 1024 && chr[(table >> 10) + 2] == bank + 2048 &&
               chr[(table >> 10) + 3] == bank + 3072;
    unsigned ntsel = (v >> 10) & 3;
    /* Restrict-qualified outputs: the stores cannot change the nametable or
     * pattern bytes, so the loop keeps its pointers in registers. */
    uint8_t *restrict out_lo = p->tile_lo + 2, *restrict out_hi = p->tile_hi + 2, *restrict out_pal = p->tile_pal + 2;
    unsigned left = 32;
    while (left) {
        const uint8_t *page = n->host.nt[ntsel];
        const uint8_t *row = page + cy * 32, *attr_row = page + 0x3C0 + (cy >> 2) * 8;
        unsigned ashift = (cy & 2) << 1;
        unsigned run = 32 - cx < left ? 32 - cx : left;
        if (flat) {
            /* Tiles 2k and 2k+1 share their palette: pairs, after an odd first tile. */
            const uint8_t *pat = bank + fy;
            unsigned i = 0;
            if (cx & 1) {
                const uint8_t *t = pat + row[cx] * 16;
                out_lo[0] = t[0];
                out_hi[0] = t[8];
                out_pal[0] = (uint8_t)((attr_row[cx >> 2] >> (ashift | (cx & 2))) & 3);
                i = 1, cx++;
            }
            for (; i + 1 < run; i += 2, cx += 2) {
                const uint8_t *t0 = pat + row[cx] * 16, *t1 = pat + row[cx + 1] * 16;
                uint8_t pal = (uint8_t)((attr_row[cx >> 2] >> (ashift | (cx & 2))) & 3);
                out_lo[i] = t0[0];
                out_hi[i] = t0[8];
                out_lo[i + 1] = t1[0];
                out_hi[i + 1] = t1[8];
                out_pal[i] = out_pal[i + 1] = pal;
            }
            if (i < run) {
                const uint8_t *t = pat + row[cx] * 16;
                out_lo[i] = t[0];
                out_hi[i] = t[8];
                out_pal[i] = (uint8_t)((attr_row[cx >> 2] >> (ashift | (cx & 2))) & 3);
                cx++;
            }
        } else {
            for (unsigned i = 0; i < run; i++, cx++) {
                unsigned addr = table + row[cx] * 16 + fy;
                out_lo[i] = chr[(addr >> 10) & 7][addr & 0x3FF];
                out_hi[i] = chr[((addr + 8) >> 10) & 7][(addr + 8) & 0x3FF];
                out_pal[i] = (uint8_t)((attr_row[cx >> 2] >> (ashift | (cx & 2))) & 3);
            }
        }
        out_lo += run, out_hi += run, out_pal += run;
        left -= run;
        cx = 0;
        ntsel ^= 1;
    }
    /* 32 increments bring coarse X back to where it started, one nametable over. */
    p->v = (uint16_t)(v ^ 0x400);
}

/* Pattern bytes to eight pixels, one byte each, leftmost (bit 7) first: a low
 * plane byte gives bit 0 and the high plane bit 1 of each pixel, and both set
 * bits 2-3 where the pixel is opaque, so that `lo | hi` masked with a palette's
 * 0x03 | pal << 2 in every byte is the palette-RAM index (0 where transparent). */
#define SPREAD8(b) ((((((uint64_t)(b) * 0x0101010101010101ull) & 0x0102040810204080ull) + 0x7F7F7F7F7F7F7F7Full) & \
                     0x8080808080808080ull) >> 7)
#define SPREAD_ROW4(m, b) m(b), m((b) + 1), m((b) + 2), m((b) + 3)
#define SPREAD_ROW16(m, b) SPREAD_ROW4(m, b), SPREAD_ROW4(m, (b) + 4), SPREAD_ROW4(m, (b) + 8), SPREAD_ROW4(m, (b) + 12)
#define SPREAD_ROW64(m, b) SPREAD_ROW16(m, b), SPREAD_ROW16(m, (b) + 16), SPREAD_ROW16(m, (b) + 32), SPREAD_ROW16(m, (b) + 48)
#define SPREAD_ALL(m) SPREAD_ROW64(m, 0), SPREAD_ROW64(m, 64), SPREAD_ROW64(m, 128), SPREAD_ROW64(m, 192)
#define SPREAD_LO(b) (SPREAD8(b) * 0x0D)
#define SPREAD_HI(b) (SPREAD8(b) * 0x0E)
static const uint64_t spread_lo[256] = {SPREAD_ALL(SPREAD_LO)};
static const uint64_t spread_hi[256] = {SPREAD_ALL(SPREAD_HI)};

/* Row `pat` (fine Y applied) of background tile `tile`, in palette mask m;
 * from `rows` (cart.h, chr_pixels, fine Y applied) when the table is in CHR
 * ROM, which saves the two table lookups per tile. */
static inline __attribute__((always_inline)) uint64_t bg_word(const uint64_t *rows, const uint8_t *pat,
                                                              unsigned tile, uint64_t m)
{
    if (rows)
        return rows[tile] & m;
    const uint8_t *t = pat + tile * 16;
    return (spread_lo[t[0]] | spread_hi[t[8]]) & m;
}

static inline void store_word(uint8_t *dst, uint64_t w) { memcpy(dst, &w, 8); }

/* 0x03 | palette << 2 in every byte. */
static const uint64_t bg_palette_mask[4] = {0x0303030303030303ull, 0x0707070707070707ull, 0x0B0B0B0B0B0B0B0Bull,
                                            0x0F0F0F0F0F0F0F0Full};

/* The 32 tiles of dots 1-256 decoded into out, 8 bytes each; inlined once per
 * source of pattern rows (either rows or pat is NULL). */
static inline __attribute__((always_inline)) void decode_line_tiles(const nes *n, uint8_t *out, const uint64_t *rows,
                                                                    const uint8_t *pat)
{
    const uint64_t *pm = bg_palette_mask;
    uint16_t v = n->ppu.v;
    unsigned cy = (v >> 5) & 31, cx = v & 31;
    unsigned ntsel = (v >> 10) & 3;
    unsigned left = 32;
    while (left) {
        const uint8_t *page = n->host.nt[ntsel];
        const uint8_t *row = page + cy * 32, *attr_row = page + 0x3C0 + (cy >> 2) * 8;
        unsigned ashift = (cy & 2) << 1;
        unsigned run = 32 - cx < left ? 32 - cx : left;
        unsigned i = 0;
        /* One attribute byte covers four tiles: single tiles up to such a
         * group, groups of four (two palettes), single tiles after. */
        for (; i < run && (cx & 3); i++, cx++)
            store_word(out + 8 * i, bg_word(rows, pat, row[cx], pm[(attr_row[cx >> 2] >> (ashift | (cx & 2))) & 3]));
        for (; i + 4 <= run; i += 4, cx += 4) {
            unsigned a = attr_row[cx >> 2] >> ashift;
            uint64_t m0 = pm[a & 3], m1 = pm[(a >> 2) & 3];
            store_word(out + 8 * i, bg_word(rows, pat, row[cx], m0));
            store_word(out + 8 * i + 8, bg_word(rows, pat, row[cx + 1], m0));
            store_word(out + 8 * i + 16, bg_word(rows, pat, row[cx + 2], m1));
            store_word(out + 8 * i + 24, bg_word(rows, pat, row[cx + 3], m1));
        }
        for (; i < run; i++, cx++)
            store_word(out + 8 * i, bg_word(rows, pat, row[cx], pm[(attr_row[cx >> 2] >> (ashift | (cx & 2))) & 3]));
        out += 8 * run;
        left -= run;
        cx = 0;
        ntsel ^= 1;
    }
}


void ppu_host_caches_drop(nes *n)
{
    if (n->host.bg_cache)
        n->host.bg_cache->rows = NULL;
    n->host.line_pal_valid = 0;
}

/* Re-decodes the stale tiles (at least one) of tile row cy of CIRAM page pg,
 * all eight rows of each, from pattern rows `rows` (fine Y 0; fine Y f at
 * rows + f * stride). */
static void bg_cache_refresh(struct bg_cache *bc, const uint8_t *page, unsigned pg, unsigned cy, const uint64_t *rows,
                             size_t stride)
{
    uint32_t stale = bc->stale[pg][cy];
    bc->stale[pg][cy] = 0;
    const uint8_t *attr_row = page + 0x3C0 + (cy >> 2) * 8;
    unsigned ashift = (cy & 2) << 1;
    uint8_t *out = bc->pixels[cy * 8] + pg * 256;
    do {
        unsigned cx = (unsigned)__builtin_ctz(stale);
        stale &= stale - 1;
        const uint64_t *r = rows + page[cy * 32 + cx];
        uint64_t m = bg_palette_mask[(attr_row[cx >> 2] >> (ashift | (cx & 2))) & 3];
        for (unsigned fy = 0; fy < 8; fy++) {
            uint64_t w = r[fy * stride] & m;
            store_word(out + fy * sizeof bc->pixels[0] + cx * 8, w);
            if (pg == 0)
                store_word(out + fy * sizeof bc->pixels[0] + 512 + cx * 8, w);
        }
    } while (stale);
}

/* memcpy of a length that is a multiple of 8 up to 256, in 16-byte steps (the
 * last one overlapping): the compiler's inline form for an unknown length is a
 * string move, whose start-up cost is most of the time of such a short copy. */
static inline void copy_tiles(uint8_t *dst, const uint8_t *src, unsigned len)
{
    if (len >= 16) {
        for (unsigned i = 0; i + 16 < len; i += 16)
            memcpy(dst + i, src + i, 16);
        memcpy(dst + len - 16, src + len - 16, 16);
    } else if (len == 8) {
        memcpy(dst, src, 8);
    }
}

/* decode_line_tiles from the background cache: the tiles from coarse X on of
 * the nametable the line starts in, then those of its horizontal neighbour.
 * Returns 0 (nothing done) for the rows below the nametable's 30 (the
 * attribute bytes read as tiles) or without a cache. When `view` is given and
 * the line's 34 tiles are one run of the cache (the two pages are the two
 * CIRAM pages, and slots 0 and 1, fetched at the end of the line before and
 * already decoded in out[-16..-1], equal the cache's two tiles before coarse
 * X), *view points at that run's slot 0 and nothing is copied. */
static int cached_line_tiles(nes *n, uint8_t *out, const uint64_t *rows, size_t stride, const uint8_t **view)
{
    struct bg_cache *bc = n->host.bg_cache;
    uint16_t v = n->ppu.v;
    unsigned cy = (v >> 5) & 31, cx = v & 31, fine_y = (v >> 12) & 7, ntsel = (v >> 10) & 3;
    if (!bc || cy >= 30)
        return 0;
    if (bc->rows != rows) {
        memset(bc->stale, 0xFF, sizeof bc->stale);
        bc->rows = rows;
    }
    const uint8_t *first = n->host.nt[ntsel], *second = n->host.nt[ntsel ^ 1];
    unsigned pa = (unsigned)(first - n->ppu.ciram) >> 10, pb = (unsigned)(second - n->ppu.ciram) >> 10;
    if (bc->stale[pa][cy])
        bg_cache_refresh(bc, first, pa, cy, rows, stride);
    if (bc->stale[pb][cy])
        bg_cache_refresh(bc, second, pb, cy, rows, stride);
    const uint8_t *row = bc->pixels[cy * 8 + fine_y];
    if (view && (pa ^ pb) == 1) {
        /* Coarse X's tile in the run [page 0 | page 1 | page 0]; the two before
         * it precede it there, from page 0's second copy when cx < 2. */
        unsigned at = pa * 256 + cx * 8;
        const uint8_t *start = row + (at < 16 ? at + 512 : at) - 16;
        uint64_t a0, a1, b0, b1; /* memcmp of 16 bytes, without the call */
        memcpy(&a0, start, 8), memcpy(&a1, start + 8, 8), memcpy(&b0, out - 16, 8), memcpy(&b1, out - 8, 8);
        if (!((a0 ^ b0) | (a1 ^ b1))) {
            *view = start;
            return 1;
        }
    }
    copy_tiles(out, row + pa * 256 + cx * 8, (32 - cx) * 8);
    copy_tiles(out + (32 - cx) * 8, row + pb * 256, cx * 8);
    return 1;
}

/* fetch_full_line for a rendered line whose background is on, with the tiles
 * decoded as they are fetched: bg gets the palette-RAM indices of slots 0-33
 * (slots 0 and 1 from the previous line's fetches), the fetch buffers keep
 * slots 0 and 1 only. With `view`, *view may instead point at the 34 slots in
 * the background cache (cached_line_tiles), bg then holding slots 0 and 1
 * only. Returns 0, having done nothing, when the pattern table is not one
 * contiguous block (fetch_full_line then does the work). */
static int fetch_decode_line(nes *n, uint8_t *bg, const uint8_t **view)
{
    struct ppu *p = &n->ppu;
    uint16_t v = p->v;
    unsigned table = (p->ctrl & CTRL_BG_TABLE) ? 0x1000 : 0;
    const uint8_t *const *chr = (const uint8_t *const *)n->host.chr;
    const uint8_t *bank = chr[table >> 10];
    if (chr[(table >> 10) + 1] != bank + 1024 || chr[(table >> 10) + 2] != bank + 2048 ||
        chr[(table >> 10) + 3] != bank + 3072)
        return 0;
    for (int s = 0; s < 2; s++)
        store_word(bg + 8 * s,
                   (spread_lo[p->tile_lo[s]] | spread_hi[p->tile_hi[s]]) & bg_palette_mask[p->tile_pal[s] & 3]);
    const cart *c = n->host.cart;
    unsigned fine_y = (v >> 12) & 7;
    if (c && c->chr_pixels && bank >= c->chr && (size_t)(bank - c->chr) + 4096 <= c->chr_size / 16 * 16) {
        const uint64_t *rows0 = c->chr_pixels + (size_t)(bank - c->chr) / 16;
        if (!cached_line_tiles(n, bg + 16, rows0, c->chr_size / 16, view))
            decode_line_tiles(n, bg + 16, rows0 + fine_y * (c->chr_size / 16), NULL);
    } else
        decode_line_tiles(n, bg + 16, NULL, bank + fine_y);
    p->v = (uint16_t)(v ^ 0x400);
    return 1;
}

/* fetch_line_tiles for part of a line from a pattern table that is one block:
 * fine Y, coarse Y and so the nametable and attribute rows stay fixed on dots
 * 1-256, and the nametable changes only where coarse X wraps. */
static void fetch_line_tiles_flat(nes *n, int lo, int hi, const uint8_t *bank)
{
    struct ppu *p = &n->ppu;
    uint16_t v = p->v;
    unsigned cy = (v >> 5) & 31, ashift = (cy & 2) << 1;
    const uint8_t *pat = bank + ((v >> 12) & 7);
    const uint8_t *page = n->host.nt[(v >> 10) & 3];
    const uint8_t *row = page + cy * 32, *attr_row = page + 0x3C0 + (cy >> 2) * 8;
    /* Slot k is fetched at dot 8k+1 and coarse X increments at dot 8k+8. */
    for (int k = (lo - 1) >> 3; k < 32 && 8 * k + 1 < hi; k++) {
        if (8 * k + 1 >= lo) {
            unsigned cx = v & 31;
            const uint8_t *t = pat + row[cx] * 16;
            p->tile_lo[k + 2] = t[0];
            p->tile_hi[k + 2] = t[8];
            p->tile_pal[k + 2] = (uint8_t)((attr_row[cx >> 2] >> (ashift | (cx & 2))) & 3);
        }
        if (8 * k + 8 >= hi)
            break;
        if ((v & 0x1F) == 31) {
            v = (uint16_t)((v & ~0x1F) ^ 0x400);
            page = n->host.nt[(v >> 10) & 3];
            row = page + cy * 32, attr_row = page + 0x3C0 + (cy >> 2) * 8;
        } else {
            v++;
        }
    }
    p->v = v;
}

static void fetch_line_tiles(nes *n, int lo, int hi)
{
    struct ppu *p = &n->ppu;
    if (!n->host.reference_render) {
        if (lo == 1 && hi == 257) {
            fetch_full_line(n);
            return;
        }
        unsigned w = (p->ctrl & CTRL_BG_TABLE) ? 4 : 0;
        const uint8_t *bank = n->host.chr[w];
        if (n->host.chr[w + 1] == bank + 1024 && n->host.chr[w + 2] == bank + 2048 && n->host.chr[w + 3] == bank + 3072) {
            fetch_line_tiles_flat(n, lo, hi, bank);
            return;
        }
    }
    /* The reference (tests compare the paths above with it) and bank-switched pattern tables. */
    uint8_t *nt[4] = {n->host.nt[0], n->host.nt[1], n->host.nt[2], n->host.nt[3]};
    const uint8_t *chr[8];
    for (int i = 0; i < 8; i++)
        chr[i] = n->host.chr[i];
    unsigned table = (p->ctrl & CTRL_BG_TABLE) ? 0x1000 : 0;
    uint16_t v = p->v;
    for (int k = (lo - 1) >> 3; k < 32 && 8 * k + 1 < hi; k++) {
        if (8 * k + 1 >= lo) {
            const uint8_t *page = nt[(v >> 10) & 3];
            unsigned tile = page[v & 0x3FF];
            unsigned attr = page[0x3C0 | ((v >> 4) & 0x38) | ((v >> 2) & 0x07)];
            unsigned addr = table + tile * 16 + ((v >> 12) & 7);
            p->tile_pal[k + 2] = (uint8_t)((attr >> (((v >> 4) & 4) | (v & 2))) & 3);
            p->tile_lo[k + 2] = chr[(addr >> 10) & 7][addr & 0x3FF];
            p->tile_hi[k + 2] = chr[((addr + 8) >> 10) & 7][(addr + 8) & 0x3FF];
        }
        if (8 * k + 8 >= lo && 8 * k + 8 < hi) {
            if ((v & 0x1F) == 31)
                v = (uint16_t)((v & ~0x1F) ^ 0x400);
            else
                v++;
        }
    }
    p->v = v;
}

/* Background fetches of dots lo..hi-1 in a skipped frame, where tiles serve only
 * the sprite-0 hit test: the slots under sprite 0 for any fine X (a $2005 write
 * may change it mid-line) are fetched; the other tiles only move v. */
static void fetch_sprite0_tiles(nes *n, int lo, int hi)
{
    struct ppu *p = &n->ppu;
    int sx = p->sprites[0].x;
    int kmin = (sx >> 3) - 2, kmax = ((sx + 14) >> 3) - 2; /* slots 0 and 1 came from the line before */
    if (kmin < 0)
        kmin = 0;
    if (kmax > 31)
        kmax = 31;
    int a = 8 * kmin + 1, b = 8 * kmax + 2; /* dots of those fetches */
    if (a < lo)
        a = lo;
    if (b > hi)
        b = hi;
    if (kmax < kmin || a >= b) {
        increment_x_by(p, (hi - 1) / 8 - (lo - 1) / 8);
        return;
    }
    increment_x_by(p, (a - 1) / 8 - (lo - 1) / 8);
    fetch_line_tiles(n, a, b);
    increment_x_by(p, (hi - 1) / 8 - (b - 1) / 8);
}

/* Sprite evaluation on line `line` for line+1, as the hardware scans OAM from
 * dot 65: 2 dots per sprite checked, 8 per sprite copied, and after eight sprites
 * the buggy overflow scan whose byte index m increments without carry. */
static void count_line_sprites(struct ppu *p);

/* Bit i set when OAM sprite i covers `line` (y <= line < y + height). */
static uint64_t sprites_on_line(const struct ppu *p, int line, int height)
{
#if defined(__SSE2__)
    /* 16 sprites per step: their Y bytes packed out of the 64 OAM bytes. */
    const __m128i low = _mm_set1_epi32(0xFF);
    const __m128i l = _mm_set1_epi8((char)line), last_row = _mm_set1_epi8((char)(height - 1));
    uint64_t mask = 0;
    for (int q = 0; q < 4; q++) {
        const __m128i *o = (const __m128i *)(p->oam + 64 * q);
        __m128i a = _mm_and_si128(_mm_loadu_si128(o), low), b = _mm_and_si128(_mm_loadu_si128(o + 1), low);
        __m128i c = _mm_and_si128(_mm_loadu_si128(o + 2), low), d = _mm_and_si128(_mm_loadu_si128(o + 3), low);
        __m128i y = _mm_packus_epi16(_mm_packs_epi32(a, b), _mm_packs_epi32(c, d));
        __m128i above = _mm_cmpeq_epi8(_mm_max_epu8(y, l), l); /* y <= line */
        __m128i row = _mm_sub_epi8(l, y);
        __m128i near = _mm_cmpeq_epi8(_mm_min_epu8(row, last_row), row); /* line - y <= height - 1 */
        mask |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_and_si128(above, near)) << (16 * q);
    }
    return mask;
#else
    uint64_t mask = 0;
    for (int i = 0; i < 64; i++)
        if ((unsigned)(line - p->oam[i * 4]) < (unsigned)height)
            mask |= 1ull << i;
    return mask;
#endif
}

static void evaluate_sprites(struct ppu *p, int line)
{
    int height = (p->ctrl & CTRL_SPR16) ? 16 : 8;
    if (p->line_sprites_dirty)
        count_line_sprites(p);
    if (!p->line_sprites[line]) {
        p->secondary_count = 0;
        p->next_has_sprite0 = 0;
        p->overflow_dot = -1;
        return;
    }
    int count = 0, dot, nspr;
    p->overflow_dot = -1;
    /* The in-range sprites in OAM order, up to eight: each sprite checked takes
     * 2 dots and each one copied 6 more, so the dot follows from the counts. */
    uint64_t in = sprites_on_line(p, line, height);
    p->next_has_sprite0 = (uint8_t)(in & 1); /* sprite 0 is the first one copied */
    int last = -1;
    while (in && count < 8) {
        last = __builtin_ctzll(in);
        in &= in - 1;
        memcpy(&p->secondary[count * 4], &p->oam[last * 4], 4);
        count++;
    }
    if (count < 8) {
        nspr = 64;
        dot = 65 + 2 * 64 + 6 * count;
    } else {
        nspr = last + 1;
        dot = 65 + 2 * nspr + 6 * 8;
    }
    int m = 0;
    while (nspr < 64) {
        uint8_t y = p->oam[nspr * 4 + m];
        if ((unsigned)(line - y) < (unsigned)height) {
            p->overflow_dot = dot + 1;
            break;
        }
        nspr++;
        m = (m + 1) & 3;
        dot += 2;
    }
    p->secondary_count = (uint8_t)count;
}

static void count_line_sprites(struct ppu *p)
{
    int height = (p->ctrl & CTRL_SPR16) ? 16 : 8;
    memset(p->line_sprites, 0, sizeof p->line_sprites);
    for (int i = 0; i < 64; i++) {
        int y = p->oam[i * 4];
        for (int r = 0; r < height && y + r < 240; r++)
            p->line_sprites[y + r]++;
    }
    p->line_sprites_dirty = 0;
}

/* Evaluation for a skipped frame: only sprite 0 can matter (for the hit flag),
 * unless eight or more sprites share the line and the overflow logic must run. */
static void evaluate_sprites_skipped(struct ppu *p, int line)
{
    if (p->line_sprites_dirty)
        count_line_sprites(p);
    if (p->line_sprites[line] >= 8) {
        evaluate_sprites(p, line);
        return;
    }
    int height = (p->ctrl & CTRL_SPR16) ? 16 : 8;
    p->overflow_dot = -1;
    p->next_has_sprite0 = (unsigned)(line - p->oam[0]) < (unsigned)height;
    p->secondary_count = p->next_has_sprite0;
    if (p->next_has_sprite0)
        memcpy(p->secondary, p->oam, 4);
}

/* The pattern address of row `row` (0 = top, before flipping) of a sprite. */
static uint16_t sprite_row_addr(const struct ppu *p, uint8_t tile, uint8_t attr, int row, int height)
{
    if (attr & 0x80)
        row = height - 1 - row;
    uint16_t addr;
    if (height == 16) {
        addr = (uint16_t)(((tile & 1) ? 0x1000 : 0) + (tile & 0xFE) * 16);
        if (row >= 8) {
            addr += 16;
            row -= 8;
        }
    } else {
        addr = (uint16_t)(((p->ctrl & CTRL_SPR_TABLE) ? 0x1000 : 0) + tile * 16);
    }
    return (uint16_t)(addr + row);
}

static void fetch_sprites(nes *n, int line)
{
    struct ppu *p = &n->ppu;
    int height = (p->ctrl & CTRL_SPR16) ? 16 : 8;
    p->sprite_count = p->secondary_count;
    p->sprite0_on_line = p->next_has_sprite0;
    for (int i = 0; i < p->sprite_count; i++) {
        const uint8_t *s = &p->secondary[i * 4];
        uint8_t attr = s[2];
        uint16_t addr = sprite_row_addr(p, s[1], attr, line - s[0], height);
        uint8_t lo = chr_read(n, addr), hi = chr_read(n, (uint16_t)(addr + 8));
        if (attr & 0x40) {
            lo = bit_reverse(lo);
            hi = bit_reverse(hi);
        }
        p->sprites[i].lo = lo;
        p->sprites[i].hi = hi;
        p->sprites[i].attr = attr;
        p->sprites[i].x = s[3];
    }
    /* The sprite line buffer is rebuilt from these units when first needed. */
    p->sprite_line_valid = 0;
}

/* Sprite pixels of the current line: bits 0-1 colour (0 = none), 2-3 palette,
 * 5 behind background, 6 from OAM sprite 0. The first opaque sprite wins. */
static void build_sprite_line(struct ppu *p)
{
    memset(p->sprite_line, 0, sizeof p->sprite_line);
    for (int i = 0; i < p->sprite_count; i++) {
        const struct sprite_unit *s = &p->sprites[i];
        uint8_t tag = (uint8_t)(((s->attr & 3) << 2) | (s->attr & 0x20) | ((i == 0 && p->sprite0_on_line) ? 0x40 : 0));
        if (s->x <= 248) {
            /* Eight pixels at once: colour and tag where the sprite is opaque
             * and no earlier sprite is (bits 0-1 of a byte both clear). */
            const uint64_t ones = 0x0101010101010101ull;
            uint64_t c = spread_lo[s->lo] | spread_hi[s->hi]; /* colour, bits 2-3 where opaque */
            uint64_t opaque = ((c >> 2) & ones) * 0xFF;
            uint64_t old;
            memcpy(&old, &p->sprite_line[s->x], 8);
            uint64_t taken = ((old | (old >> 1)) & ones) * 0xFF;
            old |= ((c & 0x0303030303030303ull) | tag * ones) & opaque & ~taken;
            memcpy(&p->sprite_line[s->x], &old, 8);
            continue;
        }
        for (int b = 0; b < 8; b++) {
            int x = s->x + b;
            if (x > 255)
                break;
            uint8_t c = (uint8_t)(((s->lo >> (7 - b)) & 1) | (((s->hi >> (7 - b)) & 1) << 1));
            if (c && !(p->sprite_line[x] & 3))
                p->sprite_line[x] = (uint8_t)(c | tag);
        }
    }
    p->sprite_line_valid = 1;
}

static inline uint8_t bg_pixel(const struct ppu *p, int x)
{
    int pos = x + p->x;
    int slot = pos >> 3, bit = 7 - (pos & 7);
    return (uint8_t)(((p->tile_lo[slot] >> bit) & 1) | (((p->tile_hi[slot] >> bit) & 1) << 1));
}

/* The pixels a..b-1 of a line on which sprite 0 at x = sx can hit: its eight,
 * never x = 255, and not the left eight when either left column is clipped. */
static void sprite0_span(const struct ppu *p, int sx, int *a, int *b)
{
    *a = sx;
    *b = sx + 8 > 255 ? 255 : sx + 8;
    if ((!(p->mask & MASK_BG_LEFT) || !(p->mask & MASK_SPR_LEFT)) && *a < 8)
        *a = 8;
}

/* Sprite-0 hit over pixels x0..x1-1, from sprite 0's own pattern: it is the
 * first sprite of the line, so where it is opaque it is the sprite pixel shown. */
static void sprite0_hit_test(struct ppu *p, int x0, int x1)
{
    int sx = p->sprites[0].x, a, b;
    sprite0_span(p, sx, &a, &b);
    if (a < x0)
        a = x0;
    if (b > x1)
        b = x1;
    for (int x = a; x < b; x++) {
        int bit = 7 - (x - sx);
        int sc = ((p->sprites[0].lo >> bit) & 1) | ((p->sprites[0].hi >> bit) & 1);
        if (sc && bg_pixel(p, x)) {
            p->status |= STATUS_HIT;
            return;
        }
    }
}

/* The sprite pixel at x as build_sprite_line encodes it, from the sprite units
 * themselves (the reference does not share build_sprite_line's shortcuts). */
static uint8_t sprite_pixel(const struct ppu *p, int x)
{
    for (int i = 0; i < p->sprite_count; i++) {
        const struct sprite_unit *s = &p->sprites[i];
        int b = x - s->x;
        if (b < 0 || b > 7)
            continue;
        uint8_t c = (uint8_t)(((s->lo >> (7 - b)) & 1) | (((s->hi >> (7 - b)) & 1) << 1));
        if (c)
            return (uint8_t)(c | ((s->attr & 3) << 2) | (s->attr & 0x20) | ((i == 0 && p->sprite0_on_line) ? 0x40 : 0));
    }
    return 0;
}

/* Pixels x0..x1-1, one at a time: the reference for draw_pixels_fast (tests and
 * reference_render). */
static void draw_pixels_reference(nes *n, int line, int x0, int x1)
{
    struct ppu *p = &n->ppu;
    int bg_on = p->mask & MASK_BG, spr_on = p->mask & MASK_SPR;
    uint8_t *row = n->host.pixels + line * NES_WIDTH;
    uint8_t gray = (p->mask & MASK_GRAY) ? 0x30 : 0x3F;
    for (int x = x0; x < x1; x++) {
        uint8_t bc = 0, bpal = 0;
        if (bg_on && (x >= 8 || (p->mask & MASK_BG_LEFT))) {
            int pos = x + p->x;
            int slot = pos >> 3, bit = 7 - (pos & 7);
            bc = (uint8_t)(((p->tile_lo[slot] >> bit) & 1) | (((p->tile_hi[slot] >> bit) & 1) << 1));
            bpal = p->tile_pal[slot];
        }
        uint8_t sp = 0;
        if (spr_on && (x >= 8 || (p->mask & MASK_SPR_LEFT)))
            sp = sprite_pixel(p, x);
        uint8_t idx;
        if ((sp & 3) && bc) {
            if ((sp & 0x40) && x != 255 && bg_on)
                p->status |= STATUS_HIT;
            idx = (sp & 0x20) ? (uint8_t)(bpal * 4 + bc) : (uint8_t)(0x10 | (sp & 0x0F));
        } else if (sp & 3) {
            idx = (uint8_t)(0x10 | (sp & 0x0F));
        } else if (bc) {
            idx = (uint8_t)(bpal * 4 + bc);
        } else {
            idx = 0;
        }
        row[x] = p->palette[idx] & gray;
    }
}

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "decode_bg packs 8 pixels per 64-bit word in little-endian order"
#endif

/* Eight pattern bits to eight bytes of 0/1, leftmost pixel (bit 7) in byte 0. */
static inline uint64_t spread_bits(unsigned b)
{
    uint64_t m = ((uint64_t)b * 0x0101010101010101ull) & 0x0102040810204080ull;
    return ((m + 0x7F7F7F7F7F7F7F7Full) & 0x8080808080808080ull) >> 7;
}

/* row[x] = pal[idx[x]] for the 256 background pixels of a line, idx < 16. With
 * SSSE3 the table is one byte shuffle per 16 pixels, with AVX2 per 32. */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
__attribute__((target("ssse3"))) static void map_palette_ssse3(uint8_t *row, const uint8_t *idx, const uint8_t *pal)
{
    __m128i lo = _mm_loadu_si128((const __m128i *)pal);
    for (int x = 0; x < 256; x += 16)
        _mm_storeu_si128((__m128i *)(row + x), _mm_shuffle_epi8(lo, _mm_loadu_si128((const __m128i *)(idx + x))));
}

__attribute__((target("avx2"))) static void map_palette_avx2(uint8_t *row, const uint8_t *idx, const uint8_t *pal)
{
    __m256i lo = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)pal));
    for (int x = 0; x < 256; x += 32)
        _mm256_storeu_si256((__m256i *)(row + x),
                            _mm256_shuffle_epi8(lo, _mm256_loadu_si256((const __m256i *)(idx + x))));
}

/* The 34 fetched tiles to palette-RAM indices, 16 pixels per step: each pattern
 * byte is broadcast over its tile's 8 lanes and tested against one bit per lane. */
__attribute__((target("ssse3"))) static void decode_tiles_ssse3(uint8_t *bg, const struct ppu *p)
{
    const uint8_t *lo = p->tile_lo, *hi = p->tile_hi, *pal = p->tile_pal;
    const __m128i spread = _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    const __m128i bits = _mm_setr_epi8((char)0x80, 0x40, 0x20, 0x10, 8, 4, 2, 1, (char)0x80, 0x40, 0x20, 0x10, 8, 4, 2, 1);
    const __m128i one = _mm_set1_epi8(1), two = _mm_set1_epi8(2), zero = _mm_setzero_si128();
    for (int t = 0; t < 34; t += 2) {
        __m128i l = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(lo + t)), spread);
        __m128i h = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(hi + t)), spread);
        /* Palette numbers 0-3 become palette-RAM bases 0-12: a 16-bit shift cannot carry across bytes. */
        __m128i b = _mm_slli_epi16(_mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(pal + t)), spread), 2);
        __m128i c = _mm_or_si128(_mm_and_si128(_mm_cmpeq_epi8(_mm_and_si128(l, bits), bits), one),
                                 _mm_and_si128(_mm_cmpeq_epi8(_mm_and_si128(h, bits), bits), two));
        __m128i opaque = _mm_andnot_si128(_mm_cmpeq_epi8(c, zero), _mm_set1_epi8(-1));
        _mm_storeu_si128((__m128i *)(bg + t * 8), _mm_or_si128(c, _mm_and_si128(b, opaque)));
    }
}


/* The sprite pixels of the line over the background row, 16 pixels from each
 * sprite's x: a pixel shows the sprite where the sprite is opaque and in front
 * or the background is transparent (idx 0). Pixels of the line that belong to
 * no sprite (or to another one, drawn the same) can be covered twice. */
__attribute__((target("ssse3"))) static void overlay_sprites_ssse3(uint8_t *row, const uint8_t *idx,
                                                                   const struct ppu *p, const uint8_t *pal, int start)
{
    const __m128i sprite_pal = _mm_loadu_si128((const __m128i *)(pal + 16));
    const __m128i zero = _mm_setzero_si128(), three = _mm_set1_epi8(3), behind = _mm_set1_epi8(0x20);
    const __m128i low = _mm_set1_epi8(0x0F);
    const __m128i lane = _mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (int i = 0; i < p->sprite_count; i++) {
        int q = p->sprites[i].x > 240 ? 240 : p->sprites[i].x;
        __m128i sp = _mm_loadu_si128((const __m128i *)(p->sprite_line + q));
        __m128i bg = _mm_loadu_si128((const __m128i *)(idx + q));
        __m128i transparent = _mm_cmpeq_epi8(_mm_and_si128(sp, three), zero);
        __m128i shows = _mm_or_si128(_mm_cmpeq_epi8(bg, zero), _mm_cmpeq_epi8(_mm_and_si128(sp, behind), zero));
        /* Lanes left of `start` (the left-column clip): lane < start - q. */
        __m128i clipped = _mm_cmpgt_epi8(_mm_set1_epi8((char)(start - q > 0 ? start - q : 0)), lane);
        __m128i draw = _mm_andnot_si128(_mm_or_si128(transparent, clipped), shows);
        __m128i colour = _mm_shuffle_epi8(sprite_pal, _mm_and_si128(sp, low));
        __m128i old = _mm_loadu_si128((const __m128i *)(row + q));
        _mm_storeu_si128((__m128i *)(row + q), _mm_or_si128(_mm_and_si128(draw, colour), _mm_andnot_si128(draw, old)));
    }
}
#endif

static void overlay_sprites(uint8_t *row, const uint8_t *idx, const struct ppu *p, const uint8_t *pal, int start)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("ssse3")) {
        overlay_sprites_ssse3(row, idx, p, pal, start);
        return;
    }
#endif
    for (int i = 0; i < p->sprite_count; i++) {
        int x0 = p->sprites[i].x < start ? start : p->sprites[i].x;
        int x1 = p->sprites[i].x + 8 > 256 ? 256 : p->sprites[i].x + 8;
        for (int x = x0; x < x1; x++) {
            uint8_t sp = p->sprite_line[x];
            if ((sp & 3) && (!idx[x] || !(sp & 0x20)))
                row[x] = pal[0x10 | (sp & 0x0F)];
        }
    }
}

static int decode_tiles(uint8_t *bg, const struct ppu *p)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("ssse3")) {
        decode_tiles_ssse3(bg, p);
        return 1;
    }
#endif
    (void)bg;
    (void)p;
    return 0;
}

static void map_palette(uint8_t *row, const uint8_t *idx, const uint8_t *pal)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx2")) {
        map_palette_avx2(row, idx, pal);
        return;
    }
    if (__builtin_cpu_supports("ssse3")) {
        map_palette_ssse3(row, idx, pal);
        return;
    }
#endif
    for (int x = 0; x < 256; x++)
        row[x] = pal[idx[x]];
}

/* The background of a whole line as palette-RAM indices, 34 slots of 8 pixels
 * (pixel x at bg[x + fine x]), from the fetch buffers. */
static void decode_bg(const struct ppu *p, uint8_t *bg)
{
    if (!(p->mask & MASK_BG)) {
        memset(bg, 0, 34 * 8);
        return;
    }
    if (!decode_tiles(bg, p)) {
        for (int slot = 0; slot < 33; slot++) {
            uint64_t c = spread_bits(p->tile_lo[slot]) | (spread_bits(p->tile_hi[slot]) << 1);
            uint64_t opaque = ((c | (c >> 1)) & 0x0101010101010101ull) * 0xFF;
            uint64_t word = c | ((uint64_t)(p->tile_pal[slot] << 2) * 0x0101010101010101ull & opaque);
            memcpy(bg + slot * 8, &word, 8);
        }
    }
    if (!(p->mask & MASK_BG_LEFT))
        memset(bg + p->x, 0, 8);
}

/* Sprite-0 hit over the whole line against the composed background indices
 * (idx[x] & 3 is the background colour): sprite0_hit_test(p, 0, 256), where
 * the left-column clip that idx has is outside the tested range anyway. */
static void sprite0_hit_test_line(struct ppu *p, const uint8_t *idx)
{
    int sx = p->sprites[0].x, a, b;
    sprite0_span(p, sx, &a, &b);
    for (int x = a; x < b; x++) {
        int bit = 7 - (x - sx);
        if ((((p->sprites[0].lo | p->sprites[0].hi) >> bit) & 1) && (idx[x] & 3)) {
            p->status |= STATUS_HIT;
            return;
        }
    }
}

/* A whole line at once from its decoded background: sprites laid over the
 * columns they cover, then one palette lookup per pixel. With decode_bg, equal
 * to draw_pixels_reference (test_ppu_render). */
static void compose_line(nes *n, uint8_t *row, const uint8_t *bg, int test_hit)
{
    struct ppu *p = &n->ppu;
    int bg_on = p->mask & MASK_BG, spr_on = p->mask & MASK_SPR;
    const uint8_t *idx = bg + p->x;
    uint8_t *pal = n->host.line_pal;
    if (!n->host.line_pal_valid) {
        uint64_t gray = ((p->mask & MASK_GRAY) ? 0x30 : 0x3F) * 0x0101010101010101ull;
        for (int i = 0; i < 32; i += 8) {
            uint64_t w;
            memcpy(&w, p->palette + i, 8);
            w &= gray;
            memcpy(pal + i, &w, 8);
        }
        for (int i = 4; i < 16; i += 4)
            pal[i] = pal[0]; /* colour 0 of any background palette shows the backdrop */
        n->host.line_pal_valid = 1;
    }
    /* The background first (indices below 16: one table), then the sprite
     * pixels over it, decided against the background's opacity in idx. */
    map_palette(row, idx, pal);
    if (spr_on && p->sprite_count) {
        if (!p->sprite_line_valid)
            build_sprite_line(p);
        overlay_sprites(row, idx, p, pal, (p->mask & MASK_SPR_LEFT) ? 0 : 8);
        if (test_hit && p->sprite0_on_line && !(p->status & STATUS_HIT) && bg_on)
            sprite0_hit_test_line(p, idx);
    }
}

/* Pixels x0..x1-1 of a line: the whole-line composition into a scratch row.
 * The sprite-0 hit is left alone: run_segment tested these pixels on their
 * dots, and the rest of the line has not run yet. */
static void draw_pixels_fast(nes *n, int line, int x0, int x1)
{
    uint8_t bg[34 * 8];
    decode_bg(&n->ppu, bg);
    uint8_t *row = n->host.pixels + line * NES_WIDTH;
    if (x0 == 0 && x1 == NES_WIDTH) {
        compose_line(n, row, bg, 1);
    } else {
        uint8_t whole[NES_WIDTH];
        compose_line(n, whole, bg, 0);
        memcpy(row + x0, whole + x0, (size_t)(x1 - x0));
    }
}

/* Composes the pixels of the current line that ran since the last flush. Called
 * at the line's dot 257 and before any register write, so composition sees the
 * mask, palette and fine X that were in effect on those dots. */
static void flush_pixels(nes *n)
{
    struct ppu *p = &n->ppu;
    int x0 = p->pixels_from, x1 = p->pixels_to;
    if (!n->host.pixels || x1 <= x0 || p->scanline >= 240)
        return;
    if (!n->host.reference_render)
        draw_pixels_fast(n, p->scanline, x0, x1);
    else
        draw_pixels_reference(n, p->scanline, x0, x1);
    p->pixels_from = (int16_t)x1;
}

/* Visible line with rendering off: the backdrop (or the palette entry v points
 * at, when v is inside palette RAM). */
static void draw_backdrop(nes *n, int line, int x0, int x1)
{
    struct ppu *p = &n->ppu;
    if (!n->host.pixels)
        return;
    uint8_t c = ((p->v & 0x3F00) == 0x3F00) ? p->palette[palette_index(p->v)] : p->palette[0];
    c &= (p->mask & MASK_GRAY) ? 0x30 : 0x3F;
    memset(n->host.pixels + line * NES_WIDTH + x0, c, (size_t)(x1 - x0));
}

static void set_vblank(nes *n)
{
    struct ppu *p = &n->ppu;
    p->frames++;
    if (p->suppress_vbl) {
        p->suppress_vbl = 0;
        return;
    }
    p->status |= STATUS_VBLANK;
    if (p->ctrl & CTRL_NMI) {
        p->nmi_line = 1;
        /* The CPU's edge detector samples /NMI one dot ahead of its register
         * accesses: the edge belongs to the cycle whose access sees the dot
         * before it (ppu_vbl_nmi 05-08 pin this to the dot). */
        uint64_t k = p->clock;
        uint64_t c = k > 3 ? (k - 3 + 2) / 3 : 0;
        if (c < n->cpu.nmi_edge)
            n->cpu.nmi_edge = c;
    }
}

/* Executes dots [from, to) of the current line; `to` does not pass the line end. */
static void run_segment(nes *n, int from, int to)
{
    struct ppu *p = &n->ppu;
    int line = p->scanline;

    if (line == 241) {
        if (from <= 1 && to > 1) {
            p->clock += (uint64_t)(1 - from);
            set_vblank(n);
            p->clock -= (uint64_t)(1 - from);
        }
        return;
    }
    if (line > 240 && line < 261)
        return;
    if (line == 240)
        return;

    int prerender = line == 261;
    if (prerender && from <= 1 && to > 1) {
        p->status &= (uint8_t)~(STATUS_VBLANK | STATUS_HIT | STATUS_OVERFLOW);
        p->nmi_line = 0;
        /* An NMI enabled just before the flag clears is lost if the line drops
         * before the CPU samples it. */
        uint64_t k = p->clock + (uint64_t)(1 - from);
        uint64_t c = k > 3 ? (k - 3 + 2) / 3 : 0;
        if (n->cpu.nmi_edge != NES_NEVER && n->cpu.nmi_edge > c)
            n->cpu.nmi_edge = NES_NEVER;
    }
    if (!prerender && from == 0) {
        p->emphasis[line] = p->mask >> 5;
        p->pixels_from = p->pixels_to = 0;
    }

    if (!rendering(p)) {
        if (!prerender) {
            int a = from < 1 ? 1 : from, b = to > 257 ? 257 : to;
            if (a < b)
                draw_backdrop(n, line, a - 1, b - 1);
        }
        return;
    }

    /* Tiles are needed for pixels, or in a skipped frame for a sprite-0 hit test. */
    int need_tiles = n->host.pixels || (p->sprite0_on_line && !(p->status & STATUS_HIT));
    /* Background fetches and scroll increments on dots 1-256. */
    if (from < 257 && to > 1) {
        int lo = from < 1 ? 1 : from, hi = to > 257 ? 257 : to;
        if (n->host.pixels) {
            fetch_line_tiles(n, lo, hi);
        } else if (need_tiles) {
            fetch_sprite0_tiles(n, lo, hi);
        } else {
            /* No fetches: the coarse-X increments at dots 8, 16, ... in closed form. */
            increment_x_by(p, (hi - 1) / 8 - (lo - 1) / 8);
        }
        if (lo <= 256 && hi > 256)
            increment_y(p);
    }
    /* Sprite evaluation for the next line, and the overflow flag at its dot. */
    if (!prerender && from <= 65 && to > 65) {
        if (n->host.pixels)
            evaluate_sprites(p, line);
        else
            evaluate_sprites_skipped(p, line);
    }
    if (!prerender && p->overflow_dot >= 0 && p->overflow_dot >= from && p->overflow_dot < to) {
        p->status |= STATUS_OVERFLOW;
        p->overflow_dot = -1;
    }
    /* Pixels of this line: the sprite-0 hit on its exact dot; composing the
     * pixels waits for the line's end or a register write (flush_pixels). */
    if (!prerender && from < 257 && to > 1) {
        int a = from < 1 ? 1 : from, b = to > 257 ? 257 : to;
        if (p->sprite0_on_line && !(p->status & STATUS_HIT) && (p->mask & MASK_BG) && (p->mask & MASK_SPR))
            sprite0_hit_test(p, a - 1, b - 1);
        if (n->host.pixels) {
            p->pixels_to = (int16_t)(b - 1);
            if (b == 257)
                flush_pixels(n);
        }
    }
    if (from <= 257 && to > 257) {
        p->v = (uint16_t)((p->v & ~0x041F) | (p->t & 0x041F));
        if (prerender)
            p->secondary_count = 0, p->next_has_sprite0 = 0;
        fetch_sprites(n, line);
        p->oam_addr = 0;
    }
    if (prerender && from <= 304 && to > 280)
        p->v = (uint16_t)((p->v & ~0x7BE0) | (p->t & 0x7BE0));
    /* The first two tiles of the next line (sprite0_on_line now describes it). */
    if (to > 321) {
        need_tiles = n->host.pixels || (p->sprite0_on_line && !(p->status & STATUS_HIT));
        if (from <= 321 && need_tiles) fetch_tile(n, 0);
        if (from <= 328 && to > 328) increment_x(p);
        if (from <= 329 && to > 329 && need_tiles) fetch_tile(n, 1);
        if (from <= 336 && to > 336) increment_x(p);
    }
}

/* A whole visible line of a skipped frame with rendering on: run_segment(n, 0,
 * 341) without its range tests. Most lines of a skipped frame run here, in the
 * catch-ups at the end of a frame and across status polls. */
static void run_line_skipped(nes *n, int line)
{
    struct ppu *p = &n->ppu;
    p->emphasis[line] = p->mask >> 5;
    p->pixels_from = p->pixels_to = 0;
    int need_tiles = p->sprite0_on_line && !(p->status & STATUS_HIT);
    if (need_tiles)
        fetch_sprite0_tiles(n, 1, 257);
    else
        p->v ^= 0x400; /* 32 coarse-X increments */
    increment_y(p);
    evaluate_sprites_skipped(p, line);
    if (p->overflow_dot >= 0) {
        p->status |= STATUS_OVERFLOW;
        p->overflow_dot = -1;
    }
    if (need_tiles && (p->mask & MASK_BG) && (p->mask & MASK_SPR))
        sprite0_hit_test(p, 0, 256);
    p->v = (uint16_t)((p->v & ~0x041F) | (p->t & 0x041F));
    fetch_sprites(n, line);
    p->oam_addr = 0;
    if (p->sprite0_on_line && !(p->status & STATUS_HIT)) {
        fetch_tile(n, 0);
        increment_x(p);
        fetch_tile(n, 1);
        increment_x(p);
    } else {
        increment_x(p);
        increment_x(p);
    }
}

/* A whole visible line of a rendered frame with rendering on: run_segment(n, 0,
 * 341) in the same order (fetches, evaluation, overflow flag, sprite-0 hit and
 * composition, dot 257, the next line's first two tiles), with the background
 * decoded as it is fetched. */
static void run_line_rendered(nes *n, int line)
{
    struct ppu *p = &n->ppu;
    uint8_t bg[34 * 8];
    const uint8_t *view = NULL; /* the line's slots in the background cache, when they are one run there */
    p->emphasis[line] = p->mask >> 5;
    if (!((p->mask & MASK_BG) && fetch_decode_line(n, bg, (p->mask & MASK_BG_LEFT) ? &view : NULL))) {
        fetch_full_line(n);
        decode_bg(p, bg);
    } else if (!(p->mask & MASK_BG_LEFT)) {
        memset(bg + p->x, 0, 8);
    }
    increment_y(p);
    evaluate_sprites(p, line);
    if (p->overflow_dot >= 0) {
        p->status |= STATUS_OVERFLOW;
        p->overflow_dot = -1;
    }
    compose_line(n, n->host.pixels + line * NES_WIDTH, view ? view : bg, 1);
    p->pixels_from = p->pixels_to = 256;
    p->v = (uint16_t)((p->v & ~0x041F) | (p->t & 0x041F));
    fetch_sprites(n, line);
    p->oam_addr = 0;
    fetch_tile(n, 0);
    increment_x(p);
    fetch_tile(n, 1);
    increment_x(p);
}

/* Whole visible lines of a skipped frame, from `line` on while the catch-up to
 * `target` covers them, on which no sprite matters: no sprite-0 hit test
 * (sprite 0 is not on the line, nor on the next one) and fewer than eight
 * sprites (no overflow). Each is run_line_skipped with nothing but the scroll
 * counters left to do. Returns the number of lines run. */
static int run_quiet_lines(nes *n, int line, uint64_t target)
{
    struct ppu *p = &n->ppu;
    if (p->line_sprites_dirty)
        count_line_sprites(p);
    int height = (p->ctrl & CTRL_SPR16) ? 16 : 8, sprite0_y = p->oam[0];
    uint64_t lines = (target - p->clock) / 341;
    int end = line, limit = lines < (uint64_t)(240 - line) ? line + (int)lines : 240;
    /* Sprite 0's lines sprite0_y .. sprite0_y + height - 1 end the run. */
    if (line >= sprite0_y && line < sprite0_y + height)
        limit = line;
    else if (sprite0_y > line && sprite0_y < limit)
        limit = sprite0_y;
    while (end < limit && p->line_sprites[end] < 8)
        end++;
    int done = end - line;
    if (done) {
        memset(p->emphasis + line, p->mask >> 5, (size_t)done);
        /* Each line: 32 coarse-X increments, increment_y, the horizontal bits
         * from t, two coarse-X increments. The horizontal bits after the last
         * line follow from t alone; increment_y repeats a tile row at a time. */
        uint16_t v = p->v;
        for (unsigned left = (unsigned)done; left;) {
            unsigned fine_y = (v >> 12) & 7;
            if (left < 8 - fine_y) {
                v = (uint16_t)(v + (left << 12));
                break;
            }
            left -= 8 - fine_y;
            v = next_row(v | 0x7000); /* from fine Y 7: the next tile row, fine Y 0 */
        }
        p->v = (uint16_t)((v & 0x7BE0) | (p->t & 0x041F));
        increment_x(p);
        increment_x(p);
        /* What evaluation, the sprite fetch and dot 257 leave after such a line. */
        p->pixels_from = p->pixels_to = 0;
        p->overflow_dot = -1;
        p->next_has_sprite0 = 0;
        p->secondary_count = 0;
        p->sprite_count = 0;
        p->sprite0_on_line = 0;
        p->sprite_line_valid = 0;
        p->oam_addr = 0;
    }
    return done;
}

/* The odd-frame skip is decided as dot 338 of the pre-render line runs, in this
 * model's write timing: a later $2001 write cannot change it (ppu_vbl_nmi
 * 10-even_odd_timing pins the dot). */
static inline int line_length(const struct ppu *p)
{
    if (p->scanline != 261 || !p->odd_frame)
        return 341;
    if (p->dot > 338)
        return p->skip_dot ? 340 : 341;
    return rendering(p) ? 340 : 341;
}

void ppu_catch_up(nes *n, uint64_t target)
{
    struct ppu *p = &n->ppu;
    while (p->clock < target) {
        if (p->dot == 0 && target - p->clock >= 341) {
            int line = p->scanline;
            if (line < 240 && !n->host.pixels && rendering(p)) {
                if (!(p->sprite0_on_line && !(p->status & STATUS_HIT))) {
                    int done = run_quiet_lines(n, line, target);
                    if (done) {
                        p->clock += 341 * (uint64_t)done;
                        p->scanline = line + done;
                        continue;
                    }
                }
                run_line_skipped(n, line);
                p->clock += 341;
                p->scanline = line + 1;
                continue;
            }
            if (line < 240 && n->host.pixels && rendering(p) && !n->host.reference_render) {
                run_line_rendered(n, line);
                p->clock += 341;
                p->scanline = line + 1;
                continue;
            }
            if (line >= 242 && line < 261) {
                /* Vertical blank after its first line: nothing happens. */
                uint64_t lines = (target - p->clock) / 341;
                if (lines > (uint64_t)(261 - line))
                    lines = (uint64_t)(261 - line);
                p->clock += 341 * lines;
                p->scanline = line + (int)lines;
                continue;
            }
        }
        int len = line_length(p);
        uint64_t left = target - p->clock;
        int to = (uint64_t)(len - p->dot) <= left ? len : p->dot + (int)left;
        if (p->scanline == 261 && p->dot <= 338 && to > 338)
            p->skip_dot = (uint8_t)(p->odd_frame && rendering(p));
        run_segment(n, p->dot, to);
        p->clock += (uint64_t)(to - p->dot);
        p->dot = to;
        if (to == len) {
            p->dot = 0;
            if (++p->scanline == 262) {
                p->scanline = 0;
                p->odd_frame ^= 1;
            }
        }
    }
}

/* Dots from the current position until (line, dot) is next to run, assuming
 * rendering stays as it is now (any register write re-computes this). */
uint64_t ppu_dots_until(const nes *n, int line, int dot)
{
    const struct ppu *p = &n->ppu;
    int64_t here = (int64_t)p->scanline * 341 + p->dot, there = (int64_t)line * 341 + dot;
    int64_t d = there - here;
    if (d < 0) {
        d += 262 * 341;
        /* Passing the end of the pre-render line: an odd frame with rendering skips a dot. */
        if (p->scanline == 261)
            d -= 341 - line_length(p);
        else
            d -= (p->odd_frame && rendering(p)) ? 1 : 0;
    }
    return (uint64_t)d;
}

uint8_t ppu_peek_status(const nes *n) { return n->ppu.status; }

/* Opaque pixels (bit 7 leftmost) of the background tile at horizontal position
 * h (coarse X, nametable bit 5) on a line with the vertical counters of v. */
static uint8_t tile_opaque_ahead(const nes *n, uint16_t v, unsigned h)
{
    const uint8_t *page = n->host.nt[((v >> 10) & 2) | ((h >> 5) & 1)];
    unsigned base = ((n->ppu.ctrl & CTRL_BG_TABLE) ? 0x1000 : 0) + page[((v >> 5) & 31) * 32 + (h & 31)] * 16 +
                    ((v >> 12) & 7);
    return (uint8_t)(chr_read(n, (uint16_t)base) | chr_read(n, (uint16_t)(base + 8)));
}

/* Sprite 0's four bytes as the sprite fetch for visible line m (> the current
 * line) will read them: from OAM, or from the secondary OAM copy once the
 * evaluation for m (on line m - 1, dot 65) has run. 0 when it is not on m. */
static int sprite0_bytes(const struct ppu *p, int m, uint8_t out[4])
{
    if (m == p->scanline + 1 && p->dot > 65) {
        if (!p->next_has_sprite0)
            return 0;
        memcpy(out, p->secondary, 4);
        return 1;
    }
    unsigned height = (p->ctrl & CTRL_SPR16) ? 16 : 8;
    if (m < 1 || (unsigned)(m - 1 - p->oam[0]) >= height)
        return 0;
    memcpy(out, p->oam, 4);
    return 1;
}

/* The dot at which the sprite-0 hit of visible line m is set, if nothing writes
 * a register before: m is the current line (from its next dot on) or a later
 * one, `vert` holds m's vertical counters; 0 when there is no hit. What the
 * line's fetches will find: on the current line the fetch buffers for slots
 * already fetched, VRAM at the coarse X the fetch will use for the others;
 * on a later line slot k at coarse X t + k (the copy at dot 257, then one
 * increment per fetch), and sprite 0 as fetch_sprites will read it. */
static int sprite0_hit_dot(const nes *n, int m, uint16_t vert)
{
    const struct ppu *p = &n->ppu;
    if (!(p->mask & MASK_BG) || !(p->mask & MASK_SPR))
        return 0;
    int current = m == p->scanline, dot = current ? p->dot : 0;
    if (dot > 256)
        return 0;
    int sx;
    uint8_t sprite;
    unsigned h0; /* horizontal position of slot 0 */
    if (current) {
        sx = p->sprites[0].x;
        sprite = p->sprites[0].lo | p->sprites[0].hi;
        unsigned done = dot > 0 ? (unsigned)(dot - 1) / 8 : 0; /* coarse-X increments run on this line */
        h0 = ((((p->v >> 10) & 1) << 5) | (p->v & 31)) + 64 - 2 - done;
    } else {
        uint8_t s0[4];
        if (!sprite0_bytes(p, m, s0))
            return 0;
        uint16_t addr = sprite_row_addr(p, s0[1], s0[2], m - 1 - s0[0], (p->ctrl & CTRL_SPR16) ? 16 : 8);
        sprite = chr_read(n, addr) | chr_read(n, (uint16_t)(addr + 8));
        if (s0[2] & 0x40)
            sprite = bit_reverse(sprite);
        sx = s0[3];
        h0 = (((p->t >> 10) & 1) << 5) | (p->t & 31);
    }
    int a, b;
    sprite0_span(p, sx, &a, &b);
    if (a < dot - 1)
        a = dot - 1;
    int slot = -1;
    uint8_t bg = 0;
    for (int x = a; x < b; x++) {
        if (!((sprite >> (7 - (x - sx))) & 1))
            continue;
        int pos = x + p->x;
        if (pos >> 3 != slot) {
            slot = pos >> 3;
            if (current && (slot < 2 || 8 * (slot - 2) + 1 < dot))
                bg = p->tile_lo[slot] | p->tile_hi[slot];
            else
                bg = tile_opaque_ahead(n, vert, (h0 + (unsigned)slot) & 63);
        }
        if ((bg >> (7 - (pos & 7))) & 1)
            return x + 1;
    }
    return 0;
}

/* Whether the overflow flag may be set on visible line m (> the current line)
 * before anything writes a register: eight sprites in range of line m's
 * evaluation and no overflow yet. */
static int line_may_overflow(const struct ppu *p, int m)
{
    return rendering(p) && !(p->status & STATUS_OVERFLOW) && p->line_sprites[m] >= 8;
}

/* The dot clock up to which no $2002 status bit can change: a sprite-0 hit at
 * the dot sprite0_hit_dot finds, the overflow flag at its computed dot, vblank
 * set at 241:1 and cleared at 261:1. Later visible lines are quiet up to the
 * first that may set overflow (line_may_overflow) or the dot of a sprite-0 hit
 * on them, so that a poll loop runs whole lines between its reads. Lines
 * 240-241 (vblank set, with its read races) return the current clock: callers
 * must not skip. */
uint64_t ppu_quiet_until(const nes *n)
{
    const struct ppu *p = &n->ppu;
    int line = p->scanline, dot = p->dot;
    if (line == 240 || line == 241)
        return p->clock;
    int until = line_length(p);
    if (line < 240 && rendering(p)) {
        if (p->sprite0_on_line && !(p->status & STATUS_HIT)) {
            int hit = sprite0_hit_dot(n, line, p->v);
            if (hit && hit < until)
                until = hit;
        }
        if (p->overflow_dot >= 0 && p->overflow_dot < until)
            until = p->overflow_dot;
        /* Evaluation may schedule an overflow on this line, when eight or more
         * sprites are in range (any OAM or sprite-size change between now and
         * dot 65 is a register write, which recomputes this). */
        if (dot <= 65 && 65 < until && (p->line_sprites_dirty || p->line_sprites[line] >= 8))
            until = 65;
    }
    if (line < 240 && until == 341 && !p->line_sprites_dirty) {
        /* The whole rest of this line is quiet: so are the following lines up
         * to the first on which a bit can change, or up to line 240. */
        int m = line + 1, hit = 0;
        uint16_t vert = dot > 256 ? p->v : next_row(p->v); /* line m's vertical counters */
        for (; m < 240 && !line_may_overflow(p, m); m++, vert = next_row(vert))
            if (!(p->status & STATUS_HIT) && (hit = sprite0_hit_dot(n, m, vert)) != 0)
                break;
        until += 341 * (m - line - 1) + (m < 240 ? hit : 0);
    }
    if (line == 261 && dot <= 1)
        until = 1;
    return until <= dot ? p->clock : p->clock + (uint64_t)(until - dot);
}

static void refresh_latch(struct ppu *p, uint8_t value, uint8_t bits)
{
    p->io_latch = (uint8_t)((p->io_latch & ~bits) | (value & bits));
    for (int b = 0; b < 8; b++)
        if (bits & (1 << b))
            p->io_decay[b] = p->clock;
}

static void decay_latch(struct ppu *p)
{
    if (!p->io_latch)
        return;
    for (int b = 0; b < 8; b++)
        if ((p->io_latch & (1 << b)) && p->clock - p->io_decay[b] > IO_DECAY_DOTS)
            p->io_latch &= (uint8_t)~(1 << b);
}

static void increment_v_after_access(struct ppu *p)
{
    /* During rendering, $2007 access bumps coarse X and fine Y together. */
    if (rendering(p) && (p->scanline < 240 || p->scanline == 261)) {
        increment_x(p);
        increment_y(p);
    } else {
        p->v = (uint16_t)((p->v + ((p->ctrl & CTRL_INC32) ? 32 : 1)) & 0x7FFF);
    }
}

uint8_t ppu_read_register(nes *n, uint16_t addr)
{
    struct ppu *p = &n->ppu;
    decay_latch(p);
    switch (addr & 7) {
    case 2: {
        /* A read just before vblank starts stops this frame's flag and NMI;
         * a read in the same CPU cycle as the set cancels the NMI. */
        if (p->scanline == 241 && p->dot == 1)
            p->suppress_vbl = 1;
        uint8_t r = (uint8_t)((p->status & 0xE0) | (p->io_latch & 0x1F));
        if ((p->status & STATUS_VBLANK) && n->cpu.nmi_edge >= n->cycle && n->cpu.nmi_edge != NES_NEVER)
            n->cpu.nmi_edge = NES_NEVER;
        p->status &= (uint8_t)~STATUS_VBLANK;
        p->nmi_line = 0;
        p->w = 0;
        refresh_latch(p, r, 0xE0);
        return r;
    }
    case 4: {
        uint8_t r = p->oam[p->oam_addr];
        if ((p->oam_addr & 3) == 2)
            r &= 0xE3; /* attribute bits 2-4 do not exist */
        refresh_latch(p, r, 0xFF);
        return r;
    }
    case 7: {
        uint16_t a = p->v & 0x3FFF;
        uint8_t r;
        if (a >= 0x3F00) {
            /* Palette reads are direct; the buffer gets the nametable byte underneath. */
            r = (uint8_t)((vram_read(n, a) & 0x3F) | (p->io_latch & 0xC0));
            p->read_buffer = vram_read(n, (uint16_t)(a - 0x1000));
            refresh_latch(p, r, 0x3F);
        } else {
            r = p->read_buffer;
            p->read_buffer = vram_read(n, a);
            refresh_latch(p, r, 0xFF);
        }
        increment_v_after_access(p);
        return r;
    }
    default:
        return p->io_latch; /* write-only registers read the open bus */
    }
}

void ppu_write_register(nes *n, uint16_t addr, uint8_t value)
{
    struct ppu *p = &n->ppu;
    flush_pixels(n);
    refresh_latch(p, value, 0xFF);
    switch (addr & 7) {
    case 0: {
        uint8_t was = p->ctrl;
        p->ctrl = value;
        if ((was ^ value) & CTRL_SPR16)
            p->line_sprites_dirty = 1;
        p->t = (uint16_t)((p->t & ~0x0C00) | ((value & 3) << 10));
        if (!(was & CTRL_NMI) && (value & CTRL_NMI) && (p->status & STATUS_VBLANK)) {
            p->nmi_line = 1;
            if (n->cycle + 1 < n->cpu.nmi_edge)
                n->cpu.nmi_edge = n->cycle + 1;
        } else if ((was & CTRL_NMI) && !(value & CTRL_NMI)) {
            p->nmi_line = 0;
            if (n->cpu.nmi_edge != NES_NEVER && n->cpu.nmi_edge >= n->cycle)
                n->cpu.nmi_edge = NES_NEVER;
        }
        break;
    }
    case 1:
        p->mask = value;
        n->host.line_pal_valid = 0;
        break;
    case 3:
        p->oam_addr = value;
        break;
    case 4:
        p->oam[p->oam_addr++] = value;
        p->line_sprites_dirty = 1;
        break;
    case 5:
        if (!p->w) {
            p->t = (uint16_t)((p->t & ~0x001F) | (value >> 3));
            p->x = value & 7;
        } else {
            p->t = (uint16_t)((p->t & ~0x73E0) | ((value & 7) << 12) | ((value & 0xF8) << 2));
        }
        p->w ^= 1;
        break;
    case 6:
        if (!p->w) {
            p->t = (uint16_t)((p->t & 0x00FF) | ((value & 0x3F) << 8));
        } else {
            p->t = (uint16_t)((p->t & 0x7F00) | value);
            p->v = p->t;
        }
        p->w ^= 1;
        break;
    case 7:
        vram_write(n, p->v, value);
        increment_v_after_access(p);
        break;
    default:
        break;
    }
}

void ppu_oam_dma(nes *n, const uint8_t *page)
{
    struct ppu *p = &n->ppu;
    /* From OAMADDR on, wrapping at the end of OAM. */
    unsigned at = p->oam_addr;
    memcpy(p->oam + at, page, 256 - at);
    memcpy(p->oam, page + (256 - at), at);
    p->line_sprites_dirty = 1;
}

void ppu_power(nes *n)
{
    struct ppu *p = &n->ppu;
    memset(p, 0, sizeof *p);
    ppu_host_caches_drop(n);
    p->overflow_dot = -1;
    memset(p->oam, 0xFF, sizeof p->oam);
    p->line_sprites_dirty = 1;
    /* Palette RAM powers up with leftover contents; these are the values blargg
     * read from his console (power_up_palette). Games overwrite them anyway. */
    static const uint8_t power_up_palette[32] = {
        0x09, 0x01, 0x00, 0x01, 0x00, 0x02, 0x02, 0x0D, 0x08, 0x10, 0x08, 0x24, 0x00, 0x00, 0x04, 0x2C,
        0x09, 0x01, 0x34, 0x03, 0x00, 0x04, 0x00, 0x14, 0x08, 0x3A, 0x00, 0x02, 0x00, 0x20, 0x2C, 0x08,
    };
    memcpy(p->palette, power_up_palette, sizeof p->palette);
}

void ppu_reset(nes *n)
{
    struct ppu *p = &n->ppu;
    p->ctrl = 0;
    p->mask = 0;
    p->w = 0;
    p->read_buffer = 0;
}
