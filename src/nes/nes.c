/* nes.c: the console: the CPU's bus (RAM, PPU and APU registers, controllers,
 * cartridge), the event scheduler that interleaves the lazily caught-up chips,
 * frames, power/reset and save states. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nes/jit.h"
#include "nes/nes_internal.h"

/* First CPU cycle whose access sees PPU dot clock k. */
static inline uint64_t cycle_seeing_clock(uint64_t k)
{
    return k > 3 ? (k - 3 + 2) / 3 : 0;
}

void nes_schedule(nes *n)
{
    uint64_t t = cycle_seeing_clock(n->ppu.clock + ppu_dots_until(n, 241, 1) + 1);
    n->frame_end = t;
    if (n->cpu.nmi_edge != NES_NEVER && n->cpu.nmi_edge + 2 < t)
        t = n->cpu.nmi_edge + 2;
    if (n->cpu.irq_lines && !(n->cpu.p & P_I) && n->cpu.irq_since + 2 < t)
        t = n->cpu.irq_since + 2;
    uint64_t apu = apu_next_event(n);
    if (apu < t)
        t = apu;
    if (n->host.stop_at && n->host.stop_at < t)
        t = n->host.stop_at;
    n->next_event = t;
}

/* A status poll loop (`LDA $2002; AND #mask; Bxx back`, `period` cycles per
 * iteration, starting with the opcode fetch at cycle `start`): returns how many
 * whole iterations keep looping, with the PPU caught up to each read exactly as
 * the interpreter would. It stops short of the next event and of vertical blank,
 * where reads have side effects beyond clearing the write toggle, so the caller's
 * next interpreted iteration meets the same machine state as without skipping. */
uint64_t nes_poll_skip(nes *n, uint64_t start, int period, uint8_t mask, int loop_while_zero)
{
    struct ppu *p = &n->ppu;
    uint64_t k = 0;
    uint8_t last = 0;
    for (;;) {
        uint64_t begin = start + (uint64_t)period * k;
        if (begin + 2 * (uint64_t)period >= n->next_event)
            break;
        ppu_catch_up(n, PPU_ACCESS_DOT(begin + 3));
        if ((p->status & 0x80) || p->scanline == 240 || (p->scanline == 241 && p->dot <= 2))
            break;
        uint8_t value = (uint8_t)((p->status & 0xE0) | (p->io_latch & 0x1F));
        if (((value & mask) == 0) != loop_while_zero)
            break;
        last = value;
        k++;
        /* Reads before the PPU's next possible status change return this same
         * value: jump to the last iteration whose read still comes before it. */
        uint64_t quiet = ppu_quiet_until(n);
        while (PPU_ACCESS_DOT(start + (uint64_t)period * (k + 1) + 3) < quiet &&
               start + (uint64_t)period * (k + 1) + 2 * (uint64_t)period < n->next_event)
            k++;
    }
    if (k) {
        /* The reads' lasting effects: the write toggle, and the latch bits they drove. */
        p->w = 0;
        p->io_latch = (uint8_t)((p->io_latch & 0x1F) | (last & 0xE0));
        for (int b = 5; b < 8; b++)
            p->io_decay[b] = PPU_ACCESS_DOT(start + (uint64_t)period * (k - 1) + 3);
    }
    return k;
}

static uint8_t read_controller(nes *n, int port)
{
    uint8_t bit;
    if (n->strobe) {
        bit = n->buttons[port] & 1;
    } else {
        bit = n->shift[port] & 1;
        /* After eight reads an official pad returns 1s. */
        n->shift[port] = (uint8_t)((n->shift[port] >> 1) | 0x80);
    }
    return (uint8_t)((n->cpu.open_bus & 0xE0) | bit);
}

uint8_t bus_read_io(nes *n, uint16_t addr)
{
    if (addr < 0x4000) {
        ppu_catch_up(n, PPU_ACCESS_DOT(n->cycle));
        uint8_t v = ppu_read_register(n, addr);
        nes_schedule(n);
        return v;
    }
    switch (addr) {
    case 0x4015: {
        /* $4015 is internal to the 2A03: bit 5 stays open bus. */
        uint8_t v = (uint8_t)(apu_read_status(n) | (n->cpu.open_bus & 0x20));
        nes_schedule(n);
        return v;
    }
    case 0x4016:
        return read_controller(n, 0);
    case 0x4017:
        return read_controller(n, 1);
    default:
        break;
    }
    if (addr >= 0x6000 && addr < 0x8000 && n->host.cart->prg_ram_size)
        return n->prg_ram[addr & 0x1FFF];
    return n->cpu.open_bus;
}

static void oam_dma(nes *n, uint8_t page)
{
    uint8_t buf[256];
    uint16_t base = (uint16_t)(page << 8);
    /* The CPU halts (one cycle, plus one to align to a read cycle), then
     * alternates 256 reads and writes to $2004. */
    uint64_t start = n->cycle + 1;
    n->cycle = start + 1 + (start & 1);
    if (page < 0x20) {
        memcpy(buf, &n->ram[(base & 0x7FF)], 256);
        n->cycle += 512;
    } else if (page >= 0x80) {
        memcpy(buf, &n->host.prg[(base >> 13) & 3][base & 0x1FFF], 256);
        n->cycle += 512;
    } else {
        for (int i = 0; i < 256; i++) {
            uint16_t a = (uint16_t)(base + i);
            buf[i] = a >= 0x6000 && n->host.cart->prg_ram_size ? n->prg_ram[a & 0x1FFF]
                   : a < 0x4000 ? (ppu_catch_up(n, PPU_ACCESS_DOT(n->cycle)), ppu_read_register(n, a))
                                : n->cpu.open_bus;
            n->cycle += 2;
        }
    }
    n->cpu.open_bus = buf[255];
    ppu_catch_up(n, PPU_ACCESS_DOT(n->cycle - 1));
    ppu_oam_dma(n, buf);
    /* wr() adds the cycle of the $4014 write itself afterwards. */
    n->cycle -= 1;
    n->cpu.dma_length = n->cycle - start + 1;
    n->cpu.dma_end = n->cycle + 1;
}

void bus_write_io(nes *n, uint16_t addr, uint8_t value)
{
    if (addr < 0x4000) {
        ppu_catch_up(n, PPU_ACCESS_DOT(n->cycle));
        ppu_write_register(n, addr, value);
        /* Only PPUCTRL (NMI enable) and PPUMASK (rendering decides the odd
         * frame's short line, so the frame's end) move an event; OAM, scroll
         * and VRAM writes do not, as long as no board counts PPU addresses
         * for an IRQ (none here has IRQs; MMC3's would). */
        if ((addr & 7) <= 1)
            nes_schedule(n);
        return;
    }
    if (addr < 0x4020) {
        switch (addr) {
        case 0x4014:
            oam_dma(n, value);
            break;
        case 0x4016: {
            uint8_t strobe = value & 1;
            if (n->strobe && !strobe) {
                n->shift[0] = n->buttons[0];
                n->shift[1] = n->buttons[1];
            }
            n->strobe = strobe;
            break;
        }
        default:
            apu_write(n, addr, value);
            break;
        }
        nes_schedule(n);
        return;
    }
    if (addr >= 0x6000 && addr < 0x8000) {
        if (n->host.cart->prg_ram_size)
            n->prg_ram[addr & 0x1FFF] = value;
        return;
    }
    if (addr >= 0x8000) {
        mapper_write(n, addr, value);
        nes_schedule(n);
    }
}

uint8_t bus_peek(const nes *n, uint16_t addr)
{
    if (addr < 0x2000)
        return n->ram[addr & 0x7FF];
    if (addr >= 0x8000)
        return n->host.prg[(addr >> 13) & 3][addr & 0x1FFF];
    if (addr >= 0x6000 && n->host.cart->prg_ram_size)
        return n->prg_ram[addr & 0x1FFF];
    return 0;
}

/* Brings the PPU and APU to the CPU's clock and polls interrupts: called at an
 * instruction boundary whenever the CPU reaches next_event. */
static void at_boundary(nes *n)
{
    ppu_catch_up(n, PPU_ACCESS_DOT(n->cycle));
    apu_catch_up(n, n->cycle);
    cpu_check_interrupts(n);
}

/* Runs the CPU to the scheduler's next event (a jammed CPU just waits for
 * it) and handles what is due there. */
static void run_to_event(nes *n)
{
    nes_schedule(n);
    if (n->cpu.jammed && n->cycle < n->next_event)
        n->cycle = n->next_event;
    else
        cpu_run(n);
    at_boundary(n);
}

void nes_run_frame(nes *n, uint8_t buttons, uint8_t *pixels)
{
    n->buttons[0] = buttons;
    n->host.pixels = pixels;
    uint64_t frames = n->ppu.frames;
    while (n->ppu.frames == frames)
        run_to_event(n);
    n->host.pixels = NULL;
}

void nes_run_cycles(nes *n, uint64_t cycles)
{
    uint64_t target = n->cycle + cycles;
    n->host.pixels = NULL;
    n->host.stop_at = target;
    while (n->cycle < target)
        run_to_event(n);
    n->host.stop_at = 0;
}

void nes_set_buttons(nes *n, int port, uint8_t buttons)
{
    n->buttons[port & 1] = buttons;
}

void nes_power(nes *n)
{
    n->cycle = 0;
    memset(n->ram, 0, sizeof n->ram);
    memset(n->prg_ram, 0, sizeof n->prg_ram);
    n->strobe = 0;
    n->shift[0] = n->shift[1] = 0;
    ppu_power(n);
    apu_power(n);
    char err[64];
    mapper_init(n, err, sizeof err);
    cpu_power(n);
}

void nes_reset(nes *n)
{
    ppu_catch_up(n, PPU_ACCESS_DOT(n->cycle));
    ppu_reset(n);
    apu_reset(n);
    cpu_reset(n);
}

nes *nes_create(const cart *c, char *err, size_t errlen)
{
    if (!cart_mapper_supported(c->mapper)) {
        snprintf(err, errlen, "unsupported mapper %d", c->mapper);
        return NULL;
    }
    nes *n = calloc(1, sizeof *n);
    if (!n) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    n->magic = NES_STATE_MAGIC;
    n->state_size = (uint32_t)offsetof(nes, host);
    memcpy(n->cart_sha1, c->sha1, sizeof n->cart_sha1);
    n->host.cart = c;
    n->host.bg_cache = malloc(sizeof *n->host.bg_cache);
    if (mapper_init(n, err, errlen) < 0) {
        free(n->host.bg_cache);
        free(n);
        return NULL;
    }
    nes_power(n);
    n->host.jit = jit_create(n);
    return n;
}

void nes_free(nes *n)
{
    if (n) {
        free(n->host.bg_cache);
        jit_free(n->host.jit);
    }
    free(n);
}

int nes_set_translation(nes *n, int enabled)
{
    if (!enabled) {
        jit_free(n->host.jit);
        n->host.jit = NULL;
    } else if (!n->host.jit) {
        n->host.jit = jit_create(n);
    }
    return n->host.jit != NULL;
}

int nes_translating(const nes *n) { return n->host.jit != NULL; }

size_t nes_state_size(void) { return offsetof(nes, host); }

void nes_save(const nes *n, void *buf) { memcpy(buf, n, offsetof(nes, host)); }

int nes_load(nes *n, const void *buf)
{
    const nes *s = buf;
    if (s->magic != NES_STATE_MAGIC || s->state_size != offsetof(nes, host))
        return -1;
    if (memcmp(s->cart_sha1, n->cart_sha1, sizeof n->cart_sha1) != 0)
        return -2;
    memcpy(n, buf, offsetof(nes, host));
    mapper_rebind(n);
    ppu_host_caches_drop(n);
    return 0;
}

void nes_copy(nes *dst, const nes *src)
{
    memcpy(dst, src, offsetof(nes, host));
    dst->host.cart = src->host.cart;
    mapper_rebind(dst);
    ppu_host_caches_drop(dst);
}

uint8_t *nes_ram(nes *n) { return n->ram; }
const uint8_t *nes_ram_const(const nes *n) { return n->ram; }
uint8_t nes_peek(const nes *n, uint16_t addr) { return bus_peek(n, addr); }
uint8_t *nes_prg_ram(nes *n) { return n->host.cart->prg_ram_size ? n->prg_ram : NULL; }
uint64_t nes_frame_count(const nes *n) { return n->ppu.frames; }
uint64_t nes_cpu_cycles(const nes *n) { return n->cycle; }
const cart *nes_cart(const nes *n) { return n->host.cart; }
const uint8_t *nes_frame_emphasis(const nes *n) { return n->ppu.emphasis; }
const uint8_t *nes_nametables(const nes *n) { return n->ppu.ciram; }

uint64_t nes_hash_bytes(const void *data, size_t len, uint64_t seed)
{
    const uint8_t *p = data;
    uint64_t h = seed ? seed : 0xCBF29CE484222325ull;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001B3ull;
    }
    return h;
}

void nes_cpu_set_pc(nes *n, uint16_t pc) { n->cpu.pc = pc; }

int nes_trace_step(nes *n, char *line, size_t len)
{
    static const uint8_t lengths[256] = {
        /* Instruction lengths in bytes, by opcode. */
        1,2,1,2,2,2,2,2,1,2,1,2,3,3,3,3, 2,2,1,2,2,2,2,2,1,3,1,3,3,3,3,3,
        3,2,1,2,2,2,2,2,1,2,1,2,3,3,3,3, 2,2,1,2,2,2,2,2,1,3,1,3,3,3,3,3,
        1,2,1,2,2,2,2,2,1,2,1,2,3,3,3,3, 2,2,1,2,2,2,2,2,1,3,1,3,3,3,3,3,
        1,2,1,2,2,2,2,2,1,2,1,2,3,3,3,3, 2,2,1,2,2,2,2,2,1,3,1,3,3,3,3,3,
        2,2,2,2,2,2,2,2,1,2,1,2,3,3,3,3, 2,2,1,2,2,2,2,2,1,3,1,3,3,3,3,3,
        2,2,2,2,2,2,2,2,1,2,1,2,3,3,3,3, 2,2,1,2,2,2,2,2,1,3,1,3,3,3,3,3,
        2,2,2,2,2,2,2,2,1,2,1,2,3,3,3,3, 2,2,1,2,2,2,2,2,1,3,1,3,3,3,3,3,
        2,2,2,2,2,2,2,2,1,2,1,2,3,3,3,3, 2,2,1,2,2,2,2,2,1,3,1,3,3,3,3,3,
    };
    const struct cpu *c = &n->cpu;
    uint8_t op = bus_peek(n, c->pc);
    int bytes = lengths[op];
    char code[12] = "";
    for (int i = 0; i < 3; i++) {
        char b[4];
        if (i < bytes)
            snprintf(b, sizeof b, "%02X ", bus_peek(n, (uint16_t)(c->pc + i)));
        else
            snprintf(b, sizeof b, "   ");
        strcat(code, b);
    }
    int w = snprintf(line, len, "%04X  %s A:%02X X:%02X Y:%02X P:%02X SP:%02X CYC:%llu", c->pc, code, c->a,
                     c->x, c->y, c->p, c->s, (unsigned long long)n->cycle);
    /* One instruction: a scheduler target of "now" runs exactly one. */
    n->host.stop_at = n->cycle + 1;
    nes_schedule(n);
    cpu_run(n);
    at_boundary(n);
    n->host.stop_at = 0;
    return w;
}
