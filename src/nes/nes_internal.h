/* nes_internal.h: the machine's state layout, shared by the chip files.
 *
 * Everything up to `host` is plain data and is the save state; `host` holds
 * pointers (cart, bank pointers, output buffer) that are re-derived after a
 * load, so a state never contains ROM bytes or addresses.
 *
 * Clocks: `cycle` counts CPU cycles since power-on. The PPU runs 3 dots per CPU
 * cycle; `ppu.clock` counts dots it has executed. The PPU and APU are caught up
 * lazily (ppu_catch_up, apu_catch_up) whenever the CPU touches them or an event
 * is due, and the CPU runs until `next_event` between checks. */
#ifndef SMBRL_NES_INTERNAL_H
#define SMBRL_NES_INTERNAL_H

#include <stdint.h>

#include "smbrl/nes.h"

#define NES_NEVER UINT64_MAX

/* Status register bits. */
enum { P_C = 0x01, P_Z = 0x02, P_I = 0x04, P_D = 0x08, P_B = 0x10, P_U = 0x20, P_V = 0x40, P_N = 0x80 };

/* IRQ sources, one bit each in cpu.irq_lines. */
enum { IRQ_APU_FRAME = 0x01, IRQ_DMC = 0x02, IRQ_MAPPER = 0x04 };

struct cpu {
    uint16_t pc;
    uint8_t a, x, y, s, p;
    uint8_t jammed;          /* a KIL opcode halted the CPU until reset */
    uint8_t irq_lines;       /* asserted IRQ sources (level) */
    uint8_t poll_i;          /* I flag the last instruction's interrupt poll saw (CLI/SEI/PLP latency), 0xFF = use p */
    uint8_t open_bus;        /* last value on the CPU data bus */
    uint64_t nmi_edge;       /* CPU cycle at whose end the NMI edge detector fires, or NES_NEVER */
    uint64_t branch_end;     /* end cycle of the last taken branch that stayed on its page (it polls a cycle early) */
    uint64_t sequence_end;   /* end cycle of the last BRK or interrupt sequence (no poll right after it) */
    uint64_t dma_end;        /* end cycle of the instruction whose write started an OAM DMA */
    uint64_t dma_length;     /* CPU cycles that DMA took */
    uint64_t irq_since;      /* cycle since which the IRQ line is low (valid when irq_lines != 0) */
};

/* One sprite of the line being drawn, as fetched during dots 257-320 of the line before. */
struct sprite_unit {
    uint8_t lo, hi;          /* pattern bits, already flipped horizontally */
    uint8_t attr;            /* palette (0-3), priority (bit 5) */
    uint8_t x;
};

struct ppu {
    /* Registers (nesdev wiki "PPU registers", "PPU scrolling"). */
    uint8_t ctrl;            /* $2000 */
    uint8_t mask;            /* $2001 */
    uint8_t status;          /* $2002 bits 5-7: overflow, sprite 0 hit, vblank */
    uint8_t oam_addr;        /* $2003 */
    uint16_t v, t;           /* loopy v and t: 15 bits each */
    uint8_t x;               /* fine x scroll, 0-7 */
    uint8_t w;               /* write toggle */
    uint8_t read_buffer;     /* $2007 read buffer */
    uint8_t io_latch;        /* PPU open bus (the register data bus) */
    uint64_t io_decay[8];    /* dot clock at which each latch bit was last refreshed */

    /* Position. The dot clock ticks once per executed dot; the odd-frame skip
     * moves the position without a tick. */
    uint64_t clock;          /* dots executed since power-on */
    int scanline;            /* 0-239 visible, 240 post, 241-260 vblank, 261 pre-render */
    int dot;                 /* 0-340: the next dot to execute */
    uint8_t odd_frame;
    uint8_t skip_dot;        /* this pre-render line skips its last dot (decided at dot 339) */
    uint8_t suppress_vbl;    /* a $2002 read one dot before vblank set stops the set */
    uint8_t nmi_line;        /* vblank flag AND ctrl bit 7: the /NMI output */
    uint64_t frames;         /* completed frames (incremented at 241:1) */

    /* Background fetch results for the current line: 34 tiles. Tile k is the
     * one whose fetch started at dot 8k-15 (k = 0, 1 during the previous line's
     * dots 321-336). Each tile is 8 pixels of 2-bit colour plus its palette. */
    uint8_t tile_lo[48], tile_hi[48], tile_pal[48]; /* 34 used; the rest lets 16-byte loads stay in bounds */
    int tiles_fetched;       /* tiles of the current line fetched so far */

    /* Sprites of the current line (fetched during the previous line). */
    struct sprite_unit sprites[8];
    uint8_t sprite_count;
    uint8_t sprite0_on_line; /* sprites[0] is OAM sprite 0 */
    uint8_t sprite_line_valid;
    int16_t pixels_from, pixels_to; /* x range of this line run but not yet composed */
    uint8_t sprite_line[256]; /* sprite pixels of the current line (see build_sprite_line) */
    /* Secondary OAM for the next line, from evaluation at dots 65-256. */
    uint8_t secondary[32];
    uint8_t secondary_count;
    uint8_t next_has_sprite0;
    int overflow_dot;        /* dot of this line at which evaluation sets the overflow flag, or -1 */
    uint8_t evaluated;       /* this line's evaluation ran */

    /* Skipped frames evaluate sprites from a per-line count of sprites in range
     * (full evaluation only where eight or more could set the overflow flag). */
    uint8_t line_sprites[240];
    uint8_t line_sprites_dirty; /* OAM or the sprite height changed since the counts */

    uint8_t oam[256];
    uint8_t palette[32];
    uint8_t ciram[2048];
    uint8_t chr_ram[8192];
    uint8_t emphasis[240];
};

struct apu {
    uint64_t frame_clock_base; /* CPU cycle at which the frame sequencer's step 0 began */
    uint8_t frame_mode;        /* $4017 bit 7: 0 four-step, 1 five-step */
    uint8_t irq_inhibit;       /* $4017 bit 6 */
    uint8_t frame_irq;         /* frame interrupt flag ($4015 bit 6) */
    uint8_t enabled;           /* $4015 channel enables, bits 0-4 */
    uint8_t length[4];         /* length counters: pulse 1, pulse 2, triangle, noise */
    uint8_t halt[4];           /* length counter halt flags */
    uint8_t dmc_irq;           /* DMC interrupt flag ($4015 bit 7) */
    uint8_t dmc_irq_enable;
    uint64_t done_through;     /* CPU cycle up to which the sequencer has been run */
    uint64_t pending_4017;     /* cycle at which a delayed $4017 write takes effect, or NES_NEVER */
    uint8_t pending_4017_value;
    uint16_t dmc_bytes_left;   /* for $4015 bit 4 */
};

struct mapper_state {
    uint8_t regs[16];          /* mapper registers, meaning per mapper */
    uint16_t prg_bank[4];      /* 8 KiB PRG banks at $8000, $A000, $C000, $E000 */
    uint16_t chr_bank[8];      /* 1 KiB CHR banks at $0000-$1FFF */
    uint8_t mirroring;         /* enum cart_mirroring */
    uint8_t irq_counter, irq_latch, irq_enabled, irq_reload;
    uint64_t last_write;       /* CPU cycle of the last register write (MMC1 ignores back-to-back writes) */
};

/* The background of both CIRAM nametables decoded into palette-RAM indices, as
 * the whole-line renderer would decode them (ppu.c): a line's 32 fetched tiles
 * are then a copy. Derived data beside the state: a nametable or attribute
 * write marks its tiles stale, and everything is stale when the pattern rows
 * differ from those it was decoded from or the state is replaced. */
struct bg_cache {
    const uint64_t *rows;      /* cart chr_pixels rows (fine Y 0) it was decoded from; NULL: none */
    uint32_t stale[2][30];     /* per CIRAM page and tile row, one bit per coarse X */
    /* Per pixel row: page 0, page 1, page 0 again, so that a line's 34 tiles
     * (two pages side by side, from any coarse X) are one contiguous run. */
    uint8_t pixels[240][3 * 256];
};

struct jit;

/* Host-side pointers: re-derived, never saved. */
struct nes_host {
    const cart *cart;
    const uint8_t *prg[4];     /* 8 KiB windows at $8000-$FFFF */
    uint8_t *chr[8];           /* 1 KiB windows of the PPU pattern tables */
    uint8_t *nt[4];            /* 1 KiB nametable windows at $2000-$2FFF */
    uint8_t *pixels;           /* this frame's output, or NULL when skipped */
    uint64_t stop_at;          /* single-stepping: return to the caller at this cycle (0 = off) */
    int reference_render;      /* tests: draw every pixel with the one-at-a-time reference path */
    struct bg_cache *bg_cache; /* NULL when it could not be allocated: lines are decoded as fetched */
    /* compose_line's palette (palette RAM with the grayscale mask, backdrop in
     * each background palette's colour 0), rebuilt after a palette or mask
     * write, a state load or copy, or power. */
    uint8_t line_pal[32];
    int line_pal_valid;
    struct jit *jit;           /* translated code of a fixed PRG (jit.h), or NULL: interpret */
};

struct nes {
    uint32_t magic;            /* state check: NES_STATE_MAGIC */
    uint32_t state_size;
    uint8_t cart_sha1[20];     /* the cart a state belongs to */

    uint64_t cycle;            /* CPU cycles since power-on */
    uint64_t next_event;       /* the CPU loop returns to the scheduler at this cycle */
    uint64_t frame_end;        /* cycle at which the current run_frame stops */
    struct cpu cpu;
    uint8_t ram[2048];
    uint8_t prg_ram[8192];
    uint8_t buttons[2];        /* what the player holds */
    uint8_t shift[2];          /* controller shift registers */
    uint8_t strobe;
    uint8_t dma_page_pending;
    struct ppu ppu;
    struct apu apu;
    struct mapper_state mapper;

    struct nes_host host;      /* not part of the state */
};

#define NES_STATE_MAGIC 0x534E4553u /* "SENS" */

/* cpu.c */
void cpu_power(nes *n);
void cpu_reset(nes *n);
void cpu_run(nes *n);       /* runs until cycle >= next_event at an instruction boundary */
void cpu_check_interrupts(nes *n);
int cpu_disassemble(nes *n, char *line, size_t len);
void cpu_step_traced(nes *n);

/* bus.c */
uint8_t bus_read_io(nes *n, uint16_t addr);
void bus_write_io(nes *n, uint16_t addr, uint8_t value);
uint8_t bus_peek(const nes *n, uint16_t addr);
void nes_schedule(nes *n);  /* recompute next_event after any state change */
uint64_t nes_poll_skip(nes *n, uint64_t start, int period, uint8_t mask, int loop_while_zero);

/* ppu.c */
void ppu_power(nes *n);
void ppu_reset(nes *n);
void ppu_catch_up(nes *n, uint64_t target_clock);
uint8_t ppu_read_register(nes *n, uint16_t addr);
void ppu_write_register(nes *n, uint16_t addr, uint8_t value);
void ppu_oam_dma(nes *n, const uint8_t *page_data);
uint64_t ppu_dots_until(const nes *n, int scanline, int dot);
uint8_t ppu_peek_status(const nes *n);
uint64_t ppu_quiet_until(const nes *n);
/* The background cache and the line palette (host side) no longer match the
 * state: CIRAM and the palette were replaced (state load or copy, power). */
void ppu_host_caches_drop(nes *n);

/* apu.c */
void apu_power(nes *n);
void apu_reset(nes *n);
void apu_catch_up(nes *n, uint64_t cycle);
uint8_t apu_read_status(nes *n);
void apu_write(nes *n, uint16_t addr, uint8_t value);
uint64_t apu_next_event(const nes *n);

/* mapper.c */
int mapper_init(nes *n, char *err, size_t errlen);
int mapper_supported(int number);
void mapper_rebind(nes *n);  /* derive host pointers from mapper_state */
void mapper_write(nes *n, uint16_t addr, uint8_t value);

/* The PPU dot that a CPU access in cycle c sees. Chosen so that the blargg
 * vblank/NMI timing suites pass: the access falls after the cycle's dots. */
#define PPU_ACCESS_DOT(c) (3 * (uint64_t)(c) + 3)

#endif
