/* apu.c: the parts of the APU that games can observe without sound: the frame
 * sequencer (its IRQ and the length counters it clocks), $4015 status, and the
 * DMC interrupt flag. Caught up lazily to the CPU clock like the PPU.
 * Timing from nesdev wiki "APU Frame Counter" (NTSC): quarter frames at 7457,
 * 14913, 22371 and 29829 (four-step) or 37281 (five-step) CPU cycles; half
 * frames at the second and last; the four-step IRQ flag is raised on cycles
 * 29828-29830 and the sequence repeats every 29830 or 37282 cycles. */
#include "nes/nes_internal.h"

static const uint8_t length_table[32] = {
    10, 254, 20, 2, 40, 4, 80, 6, 160, 8, 60, 10, 14, 12, 26, 14,
    12, 16, 24, 18, 48, 20, 96, 22, 192, 24, 72, 26, 16, 28, 32, 30,
};

static void update_irq_line(nes *n, uint64_t at)
{
    uint8_t was = n->cpu.irq_lines;
    uint8_t lines = (uint8_t)(was & ~(IRQ_APU_FRAME | IRQ_DMC));
    if (n->apu.frame_irq)
        lines |= IRQ_APU_FRAME;
    if (n->apu.dmc_irq)
        lines |= IRQ_DMC;
    if (!was && lines)
        n->cpu.irq_since = at;
    n->cpu.irq_lines = lines;
}

static void clock_lengths(struct apu *a)
{
    for (int i = 0; i < 4; i++)
        if (a->length[i] && !a->halt[i])
            a->length[i]--;
}

/* Offset of each sequencer event within the sequence. */
static uint64_t period(const struct apu *a) { return a->frame_mode ? 37282 : 29830; }

/* Runs sequencer events at cycles in (done_through, cycle]. */
void apu_catch_up(nes *n, uint64_t cycle)
{
    struct apu *a = &n->apu;
    while (a->done_through < cycle) {
        uint64_t next = a->done_through + 1;
        /* Jump to the next interesting cycle: a sequencer step or the $4017 reset. */
        uint64_t base = a->frame_clock_base;
        uint64_t pos = next - base;
        uint64_t per = period(a);
        static const uint32_t steps4[] = {7457, 14913, 22371, 29828, 29829, 29830};
        static const uint32_t steps5[] = {7457, 14913, 22371, 37281, 37282};
        const uint32_t *steps = a->frame_mode ? steps5 : steps4;
        int nsteps = a->frame_mode ? 5 : 6;
        uint64_t best = NES_NEVER;
        for (int i = 0; i < nsteps; i++)
            if (steps[i] >= pos) {
                best = base + steps[i];
                break;
            }
        if (best == NES_NEVER)
            best = base + per + steps[0];
        if (a->pending_4017 != NES_NEVER && a->pending_4017 < best)
            best = a->pending_4017;
        if (best > cycle) {
            a->done_through = cycle;
            break;
        }
        a->done_through = best;
        if (best == a->pending_4017) {
            uint8_t v = a->pending_4017_value;
            a->pending_4017 = NES_NEVER;
            a->frame_mode = v >> 7;
            a->frame_clock_base = best;
            if (a->frame_mode)
                clock_lengths(a);
            continue;
        }
        uint64_t off = best - base;
        if (!a->frame_mode) {
            if (off == 14913 || off == 29829)
                clock_lengths(a);
            if (off >= 29828 && !a->irq_inhibit) {
                a->frame_irq = 1;
                update_irq_line(n, best);
            }
            if (off == 29830)
                a->frame_clock_base = best;
        } else {
            if (off == 14913 || off == 37281)
                clock_lengths(a);
            if (off == 37282)
                a->frame_clock_base = best;
        }
    }
}

/* Next cycle at which the IRQ line can rise (for the CPU scheduler). */
uint64_t apu_next_event(const nes *n)
{
    const struct apu *a = &n->apu;
    uint64_t t = NES_NEVER;
    if (!a->frame_mode && !a->irq_inhibit && !a->frame_irq) {
        uint64_t pos = a->done_through - a->frame_clock_base;
        t = pos < 29828 ? a->frame_clock_base + 29828 : a->frame_clock_base + 29830 + 29828;
    }
    if (a->pending_4017 < t)
        t = a->pending_4017;
    return t;
}

uint8_t apu_read_status(nes *n)
{
    struct apu *a = &n->apu;
    apu_catch_up(n, n->cycle);
    uint8_t r = 0;
    for (int i = 0; i < 4; i++)
        if (a->length[i])
            r |= (uint8_t)(1 << i);
    if (a->dmc_bytes_left)
        r |= 0x10;
    if (a->frame_irq)
        r |= 0x40;
    if (a->dmc_irq)
        r |= 0x80;
    a->frame_irq = 0;
    update_irq_line(n, n->cycle);
    return r;
}

void apu_write(nes *n, uint16_t addr, uint8_t value)
{
    struct apu *a = &n->apu;
    apu_catch_up(n, n->cycle);
    switch (addr) {
    case 0x4000: a->halt[0] = (value >> 5) & 1; break;
    case 0x4004: a->halt[1] = (value >> 5) & 1; break;
    case 0x4008: a->halt[2] = (value >> 7) & 1; break;
    case 0x400C: a->halt[3] = (value >> 5) & 1; break;
    case 0x4003: case 0x4007: case 0x400B: case 0x400F: {
        int ch = (addr - 0x4003) >> 2;
        if (a->enabled & (1 << ch))
            a->length[ch] = length_table[value >> 3];
        break;
    }
    case 0x4010:
        a->dmc_irq_enable = value >> 7;
        if (!a->dmc_irq_enable)
            a->dmc_irq = 0;
        break;
    case 0x4015:
        a->enabled = value & 0x1F;
        for (int i = 0; i < 4; i++)
            if (!(value & (1 << i)))
                a->length[i] = 0;
        if (!(value & 0x10))
            a->dmc_bytes_left = 0;
        a->dmc_irq = 0;
        break;
    case 0x4017:
        /* The new mode starts 3 or 4 cycles later, depending on the APU clock phase. */
        a->irq_inhibit = (value >> 6) & 1;
        if (a->irq_inhibit)
            a->frame_irq = 0;
        a->pending_4017 = n->cycle + ((n->cycle & 1) ? 4 : 3);
        a->pending_4017_value = value;
        break;
    default:
        break;
    }
    update_irq_line(n, n->cycle);
}

void apu_power(nes *n)
{
    struct apu *a = &n->apu;
    *a = (struct apu){0};
    a->pending_4017 = NES_NEVER;
    a->frame_clock_base = n->cycle;
    a->done_through = n->cycle;
}

void apu_reset(nes *n)
{
    struct apu *a = &n->apu;
    a->enabled = 0;
    for (int i = 0; i < 4; i++)
        a->length[i] = 0;
    a->frame_irq = 0;
    a->dmc_irq = 0;
    /* Reset acts as a write of the last $4017 value. */
    a->pending_4017 = n->cycle + 3;
    a->pending_4017_value = (uint8_t)(a->frame_mode << 7);
    update_irq_line(n, n->cycle);
}
