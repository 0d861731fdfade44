/* nes.h: the NES emulator. One `nes` struct holds the whole machine (CPU, PPU,
 * APU registers, mapper, controllers) as plain data, with no globals, so any
 * number of emulators live in one process and a save state is a fixed-size copy.
 * The cartridge is referenced, never copied: a state is only valid with its cart.
 *
 * Timing model: the CPU is cycle-exact (every bus access, dummy reads included);
 * the PPU and APU are caught up lazily to the CPU's clock when the CPU touches
 * them or when an event (NMI, IRQ, end of frame) is due.
 *
 * Controller byte: bit 0 A, 1 B, 2 Select, 3 Start, 4 Up, 5 Down, 6 Left, 7 Right. */
#ifndef SMBRL_NES_H
#define SMBRL_NES_H

#include <stddef.h>
#include <stdint.h>

#include "smbrl/cart.h"

#define NES_WIDTH 256
#define NES_HEIGHT 240

enum nes_button {
    NES_A = 1 << 0, NES_B = 1 << 1, NES_SELECT = 1 << 2, NES_START = 1 << 3,
    NES_UP = 1 << 4, NES_DOWN = 1 << 5, NES_LEFT = 1 << 6, NES_RIGHT = 1 << 7,
};

typedef struct nes nes;

/* Power on with this cart (kept by pointer; it must outlive the emulator).
 * Returns NULL when out of memory or the mapper is unsupported (err says which). */
nes *nes_create(const cart *c, char *err, size_t errlen);
void nes_free(nes *n);
void nes_power(nes *n);   /* cold boot */
void nes_reset(nes *n);   /* the console's reset button */

/* Runs one video frame with the controller held at `buttons` for all of it.
 * The frame ends when the PPU enters vertical blank (scanline 241, dot 1).
 * pixels: NULL to skip all pixel work, else 256x240 bytes of palette index
 * (0-63, grayscale already applied); the emphasis bits of each line go to
 * nes_frame_emphasis(). */
void nes_run_frame(nes *n, uint8_t buttons, uint8_t *pixels);
/* Runs to the first instruction boundary at or after `cycles` CPU cycles from
 * now (and the interrupt sequence that boundary starts, if any), drawing no
 * pixels: for stopping anywhere in a frame (debuggers, tests). */
void nes_run_cycles(nes *n, uint64_t cycles);
void nes_set_buttons(nes *n, int port, uint8_t buttons);

/* Save states: a copy of the machine, nes_state_size() bytes, no ROM inside.
 * nes_load returns a negative value when the buffer is not a state of this
 * build or was saved with another cart. */
size_t nes_state_size(void);
void nes_save(const nes *n, void *buf);
int nes_load(nes *n, const void *buf);
/* Copy the whole machine from another emulator on the same cart (fast reset). */
void nes_copy(nes *dst, const nes *src);

/* Translation of the game's code to host code (on by default where it can
 * serve the cart: mapper 0 or 3 on x86-64; SMBRL_JIT=0 in the environment turns it
 * off). It changes nothing observable, only speed; turning it off runs the
 * interpreters alone. Returns whether translation is now on. */
int nes_set_translation(nes *n, int enabled);
int nes_translating(const nes *n);

/* Memory access for the environment: the 2 KiB of internal RAM, and reads of the
 * CPU address space without side effects. */
uint8_t *nes_ram(nes *n);
const uint8_t *nes_ram_const(const nes *n);
uint8_t nes_peek(const nes *n, uint16_t addr);
uint8_t *nes_prg_ram(nes *n); /* $6000-$7FFF, or NULL */

uint64_t nes_frame_count(const nes *n);
uint64_t nes_cpu_cycles(const nes *n);
const cart *nes_cart(const nes *n);
const uint8_t *nes_frame_emphasis(const nes *n); /* 240 bytes: PPUMASK bits 5-7 per line */
const uint8_t *nes_nametables(const nes *n);     /* 2 KiB of CIRAM */

/* Standard NES palette (2C02, as most emulators ship it): 64 entries of RGB. */
extern const uint8_t nes_palette_rgb[64][3];
/* Convert a palette-index frame to packed RGB (256*240*3 bytes), applying
 * per-line emphasis when `emphasis` is not NULL. */
void nes_frame_to_rgb(const uint8_t *pixels, const uint8_t *emphasis, uint8_t *rgb);

/* A hash of RAM and (when given) a frame: FNV-1a 64, for determinism checks. */
uint64_t nes_hash_bytes(const void *data, size_t len, uint64_t seed);

/* CPU trace in nestest.log's format, for the golden-log test: call
 * nes_trace_step() to run one instruction and format the line before it. */
void nes_cpu_set_pc(nes *n, uint16_t pc);
int nes_trace_step(nes *n, char *line, size_t len);

#endif
