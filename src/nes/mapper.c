/* mapper.c: cartridge boards. Every mapper keeps its registers in
 * mapper_state (plain data, saved with the machine) and expresses its banking
 * as 8 KiB PRG and 1 KiB CHR bank numbers plus a mirroring mode;
 * mapper_rebind() turns those into host pointers, after a write and after a
 * state load. Adding a board means a row in `boards` and its register logic
 * (and, for a board with an IRQ clocked by PPU addresses such as MMC3's, a
 * nes_schedule() after every PPU register write: bus_write_io skips it for
 * $2003-$2007 today). */
#include <stdio.h>
#include <string.h>

#include "nes/nes_internal.h"

static void nrom_init(nes *n)
{
    struct mapper_state *m = &n->mapper;
    const cart *c = n->host.cart;
    int banks = (int)(c->prg_size / 8192);
    for (int i = 0; i < 4; i++)
        m->prg_bank[i] = (uint16_t)(i % banks); /* 16 KiB carts mirror $8000 at $C000 */
    for (int i = 0; i < 8; i++)
        m->chr_bank[i] = (uint16_t)i;
}

static void nrom_write(nes *n, uint16_t addr, uint8_t value)
{
    (void)n;
    (void)addr;
    (void)value; /* NROM has no registers */
}

/* UxROM (2): 16 KiB switchable at $8000, last bank fixed at $C000. */
static void uxrom_write(nes *n, uint16_t addr, uint8_t value)
{
    (void)addr;
    struct mapper_state *m = &n->mapper;
    int last = (int)(n->host.cart->prg_size / 8192) - 2;
    m->prg_bank[0] = (uint16_t)(value * 2);
    m->prg_bank[1] = (uint16_t)(value * 2 + 1);
    m->prg_bank[2] = (uint16_t)last;
    m->prg_bank[3] = (uint16_t)(last + 1);
}

static void uxrom_init(nes *n)
{
    nrom_init(n);
    uxrom_write(n, 0x8000, 0);
}

/* CNROM (3): 8 KiB CHR bank select. */
static void cnrom_write(nes *n, uint16_t addr, uint8_t value)
{
    (void)addr;
    for (int i = 0; i < 8; i++)
        n->mapper.chr_bank[i] = (uint16_t)(value * 8 + i);
}

/* MMC1 (1): a 5-bit serial port. regs: 0 control, 1 CHR 0, 2 CHR 1, 3 PRG,
 * 4 shift register, 5 bits shifted. nesdev wiki "MMC1". */
enum { MMC1_CONTROL, MMC1_CHR0, MMC1_CHR1, MMC1_PRG, MMC1_SHIFT, MMC1_COUNT };

static void mmc1_apply(nes *n)
{
    struct mapper_state *m = &n->mapper;
    uint8_t control = m->regs[MMC1_CONTROL];
    static const uint8_t mirroring[4] = {CART_MIRROR_SINGLE_LOW, CART_MIRROR_SINGLE_HIGH, CART_MIRROR_VERTICAL,
                                         CART_MIRROR_HORIZONTAL};
    m->mirroring = mirroring[control & 3];
    int prg = m->regs[MMC1_PRG] & 0x0F, last = (int)(n->host.cart->prg_size / 16384) - 1;
    int lo, hi;
    switch ((control >> 2) & 3) {
    case 0: case 1: lo = prg & ~1; hi = lo + 1; break;
    case 2: lo = 0; hi = prg; break;
    default: lo = prg; hi = last; break;
    }
    m->prg_bank[0] = (uint16_t)(lo * 2);
    m->prg_bank[1] = (uint16_t)(lo * 2 + 1);
    m->prg_bank[2] = (uint16_t)(hi * 2);
    m->prg_bank[3] = (uint16_t)(hi * 2 + 1);
    int c0 = m->regs[MMC1_CHR0], c1 = m->regs[MMC1_CHR1];
    if (!(control & 0x10)) {
        c0 &= ~1;
        c1 = c0 + 1;
    }
    for (int i = 0; i < 4; i++) {
        m->chr_bank[i] = (uint16_t)(c0 * 4 + i);
        m->chr_bank[4 + i] = (uint16_t)(c1 * 4 + i);
    }
}

static void mmc1_init(nes *n)
{
    n->mapper.regs[MMC1_CONTROL] = 0x0C;
    mmc1_apply(n);
}

static void mmc1_write(nes *n, uint16_t addr, uint8_t value)
{
    struct mapper_state *m = &n->mapper;
    /* The second write of a read-modify-write lands on the next cycle and is ignored. */
    uint64_t last = m->last_write;
    m->last_write = n->cycle;
    if (n->cycle == last + 1)
        return;
    if (value & 0x80) {
        m->regs[MMC1_SHIFT] = 0;
        m->regs[MMC1_COUNT] = 0;
        m->regs[MMC1_CONTROL] |= 0x0C;
        mmc1_apply(n);
        return;
    }
    m->regs[MMC1_SHIFT] = (uint8_t)(m->regs[MMC1_SHIFT] | ((value & 1) << m->regs[MMC1_COUNT]));
    if (++m->regs[MMC1_COUNT] < 5)
        return;
    m->regs[MMC1_CONTROL + ((addr >> 13) & 3)] = m->regs[MMC1_SHIFT];
    m->regs[MMC1_SHIFT] = 0;
    m->regs[MMC1_COUNT] = 0;
    mmc1_apply(n);
}

struct board {
    int number;
    void (*init)(nes *n);
    void (*write)(nes *n, uint16_t addr, uint8_t value);
};

static const struct board boards[] = {
    {0, nrom_init, nrom_write},
    {1, mmc1_init, mmc1_write},
    {2, uxrom_init, uxrom_write},
    {3, nrom_init, cnrom_write},
};


static const struct board *find_board(int number)
{
    for (size_t i = 0; i < sizeof boards / sizeof boards[0]; i++)
        if (boards[i].number == number)
            return &boards[i];
    return NULL;
}

int mapper_supported(int number) { return find_board(number) != NULL; }

int mapper_init(nes *n, char *err, size_t errlen)
{
    const struct board *b = find_board(n->host.cart->mapper);
    if (!b) {
        snprintf(err, errlen, "unsupported mapper %d", n->host.cart->mapper);
        return -1;
    }
    memset(&n->mapper, 0, sizeof n->mapper);
    n->mapper.mirroring = (uint8_t)n->host.cart->mirroring;
    b->init(n);
    mapper_rebind(n);
    return 0;
}

void mapper_rebind(nes *n)
{
    const cart *c = n->host.cart;
    struct mapper_state *m = &n->mapper;
    size_t prg_banks = c->prg_size / 8192;
    for (int i = 0; i < 4; i++)
        n->host.prg[i] = c->prg + (m->prg_bank[i] % prg_banks) * 8192;
    uint8_t *chr = c->chr ? c->chr : n->ppu.chr_ram;
    size_t chr_banks = (c->chr ? c->chr_size : sizeof n->ppu.chr_ram) / 1024;
    for (int i = 0; i < 8; i++)
        n->host.chr[i] = chr + (m->chr_bank[i] % chr_banks) * 1024;
    /* Nametable windows: which 1 KiB of CIRAM each of $2000/$2400/$2800/$2C00 sees. */
    static const uint8_t layout[5][4] = {
        [CART_MIRROR_HORIZONTAL] = {0, 0, 1, 1},
        [CART_MIRROR_VERTICAL] = {0, 1, 0, 1},
        [CART_MIRROR_FOUR_SCREEN] = {0, 1, 0, 1}, /* needs cart VRAM; treated as vertical */
        [CART_MIRROR_SINGLE_LOW] = {0, 0, 0, 0},
        [CART_MIRROR_SINGLE_HIGH] = {1, 1, 1, 1},
    };
    for (int i = 0; i < 4; i++)
        n->host.nt[i] = n->ppu.ciram + layout[m->mirroring % 5][i] * 1024;
}

void mapper_write(nes *n, uint16_t addr, uint8_t value)
{
    const struct board *b = find_board(n->host.cart->mapper);
    b->write(n, addr, value);
    mapper_rebind(n);
}
