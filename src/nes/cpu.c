/* cpu.c: the 2A03's 6502 core, cycle-exact: every cycle is one bus access,
 * dummy reads and writes included, so reads with side effects ($2002, $2007,
 * $4015, $4016) happen exactly as on hardware.
 *
 * Registers live in locals while cpu_run() executes; it returns to the scheduler
 * (nes.c) at the first instruction boundary at or after n->next_event, where
 * interrupts are polled with the timing of the last instruction's second-to-last
 * cycle (nesdev wiki "CPU interrupts"). Reference: nesdev wiki "CPU unofficial
 * opcodes", "6502 cycle times"; 64doc for the per-cycle bus activity. */
#include <stdio.h>

#include "nes/jit.h"
#include "nes/nes_internal.h"

/* The PRG banks as the CPU loop sees them; checked after every access to I/O
 * (the only thing that can switch banks), out of line to keep the many access
 * sites of the interpreters small. */
struct bus_map {
    const uint8_t *prg[4];
    uintptr_t code[8];  /* per 8 KiB of address space: PRG bank address minus its CPU address (0 = not ROM) */
    /* Per bank at $8000-$FFFF: the host address (code[] + CPU address) from which
     * an opcode no longer has its two following bytes in the run of banks that
     * are contiguous in host memory (one run of all four for NROM). */
    uintptr_t run_end[8];
};

/* The CPU loop's view of the machine, kept in locals: the clock, the scheduler's
 * next event and the bank tables (struct bus_map). Byte stores to RAM could alias these in
 * the compiler's eyes if they lived only in `nes`; they are reloaded after every
 * access to I/O, the only thing that can change them. The address of a `struct
 * bus` never leaves the interpreter (its fields stay in registers). */
struct bus {
    uint64_t cyc;
    uint64_t next_event;
    /* The ROM interpreter's one test per instruction: the cycle from which it
     * must return to its boundary, at most next_event, and early enough that
     * the code pointer cannot have run past its run_end (straight-line code
     * advances at most one byte per cycle; a forward jump brings it nearer by
     * its distance). 0 after any I/O access (bus_load), which may have switched
     * banks: the boundary then re-derives the host pointer from the CPU address. */
    uint64_t limit;
    struct bus_map *map;
    uint8_t open_bus;   /* the last value on the data bus; stored to n->cpu only around I/O */
};

static __attribute__((noinline)) void map_load(const nes *n, struct bus_map *m)
{
    /* Most I/O switches no bank: then the derived tables stand. (prg[0] is NULL
     * in a fresh map, which no bank pointer is.) */
    if (m->prg[0] == n->host.prg[0] && m->prg[1] == n->host.prg[1] && m->prg[2] == n->host.prg[2] &&
        m->prg[3] == n->host.prg[3])
        return;
    for (int i = 0; i < 4; i++) {
        m->prg[i] = n->host.prg[i];
        m->code[4 + i] = (uintptr_t)n->host.prg[i] - (uintptr_t)(0x8000 + 0x2000 * i);
    }
    uintptr_t end = m->code[7] + 0x10000 - 2;
    for (int i = 7; i >= 4; i--) {
        if (i < 7 && m->code[i] != m->code[i + 1])
            end = m->code[i] + (uintptr_t)(0x2000 * (i + 1)) - 2;
        m->run_end[i] = end;
    }
    /* The ROM interpreter's branches test for a page cross on the host
     * pointer: with a bank not 256-byte aligned (a cart not from cart.c), no
     * code is ROM code and the general interpreter runs it all. */
    for (int i = 0; i < 4; i++)
        if ((uintptr_t)m->prg[i] & 0xFF)
            m->run_end[4] = m->run_end[5] = m->run_end[6] = m->run_end[7] = 0;
}

static inline __attribute__((always_inline)) void bus_load(const nes *n, struct bus *b)
{
    b->cyc = n->cycle;
    b->next_event = n->next_event;
    b->open_bus = n->cpu.open_bus;
    map_load(n, b->map);
    b->limit = 0;
}

/* The data bus. With `track`, every access leaves its value in b->open_bus.
 * The ROM interpreter does without (track 0): that spares an instruction per
 * access and a register. The last value on the bus is seen only by a read of
 * I/O space (the open bus bits), and each read that can reach I/O there passes
 * the value of the cycle before it as `prior` (the operand's high byte, the
 * pointer's high byte or the dummy read's value: see RDP), which only the I/O
 * path computes. b->open_bus then holds the value of the last I/O access. */
static inline __attribute__((always_inline)) uint8_t rd(nes *n, uint16_t addr, struct bus *b, int track,
                                                        uint8_t prior)
{
    uint8_t v;
    if (addr < 0x2000) {
        v = n->ram[addr & 0x7FF];
    } else if (addr >= 0x8000) {
        v = b->map->prg[(addr >> 13) & 3][addr & 0x1FFF];
    } else {
        n->cycle = b->cyc;
        n->cpu.open_bus = track ? b->open_bus : prior;
        v = bus_read_io(n, addr);
        bus_load(n, b);
        track = 1;
    }
    if (track)
        b->open_bus = v;
    b->cyc++;
    return v;
}

static inline __attribute__((always_inline)) void wr(nes *n, uint16_t addr, uint8_t v, struct bus *b, int track)
{
    if (addr < 0x2000) {
        n->ram[addr & 0x7FF] = v;
    } else {
        n->cycle = b->cyc;
        n->cpu.open_bus = v;
        bus_write_io(n, addr, v);
        bus_load(n, b);
        track = 1;
    }
    if (track)
        b->open_bus = v;
    b->cyc++;
}

/* Code fetches are almost always from PRG ROM: test that first. */
static inline __attribute__((always_inline)) uint8_t fetch(nes *n, uint16_t addr, struct bus *b, int track,
                                                           uint8_t prior)
{
    if (__builtin_expect(addr >= 0x8000, 1)) {
        /* One table load and one byte load: the bank's address minus $8000 + 8 KiB * i. */
        uint8_t v = *(const uint8_t *)(b->map->code[addr >> 13] + addr);
        if (track)
            b->open_bus = v;
        b->cyc++;
        return v;
    }
    return rd(n, addr, b, track, prior);
}

/* Zero page and stack (page 1) are internal RAM: no decoding, no side effects. */
static inline __attribute__((always_inline)) uint8_t rd_ram(nes *n, unsigned addr, struct bus *b, int track)
{
    uint8_t v = n->ram[addr];
    if (track)
        b->open_bus = v;
    b->cyc++;
    return v;
}

static inline __attribute__((always_inline)) void wr_ram(nes *n, unsigned addr, uint8_t v, struct bus *b, int track)
{
    n->ram[addr] = v;
    if (track)
        b->open_bus = v;
    b->cyc++;
}

/* The ROM interpreter's code fetch: ROM reads have no side effects, so only the
 * clock advances (the data bus is not tracked there: see rd). */
static inline __attribute__((always_inline)) uint8_t fetch_rom(const uint8_t **ip, int advance, struct bus *b)
{
    uint8_t v = **ip;
    *ip += advance;
    b->cyc++;
    return v;
}

/* Whether the instruction at pc lies in PRG ROM with its two following bytes in
 * the same host run (see run_end): then the ROM interpreter runs it. */
static inline __attribute__((always_inline)) int rom_code(uint16_t pc, const struct bus *b)
{
    return pc >= 0x8000 && b->map->code[pc >> 13] + pc < b->map->run_end[pc >> 13];
}

/* BUS_TRACK: 1 but in the ROM interpreter (see rd). RDP(a, pr): a read that
 * may reach I/O, after a cycle that put `pr` on the bus; RD(a): one that
 * cannot in the ROM interpreter (zero page pointers, vectors, ROM). */
#define BUS_TRACK 1
#define RDP(a, pr) rd(n, (uint16_t)(a), &bus, BUS_TRACK, (uint8_t)(pr))
#define RD(a) RDP(a, bus.open_bus)
#define WR(a, v) wr(n, (uint16_t)(a), (uint8_t)(v), &bus, BUS_TRACK)
#define ZRD(a) rd_ram(n, (unsigned)(a) & 0x1FF, &bus, BUS_TRACK)
#define ZWR(a, v) wr_ram(n, (unsigned)(a) & 0x1FF, (uint8_t)(v), &bus, BUS_TRACK)
#define cyc (bus.cyc)
/* N and Z are kept lazily in `nz` (the other flags stay in p): Z is set when
 * its low byte is 0, N when bit 7 or bit 8 is set. A result byte goes in as
 * it is; bit 8 carries an N that comes without its byte (PLP, RTI, BIT). */
#define SETNZ(v) (nz = (uint8_t)(v))
#define FLAG_Z() ((nz & 0xFF) == 0)
#define FLAG_N() ((nz & 0x180) != 0)
/* The full status byte, and nz from one. */
#define P() ((uint8_t)((p & ~(P_N | P_Z)) | (FLAG_Z() ? P_Z : 0) | (FLAG_N() ? P_N : 0)))
#define NZ_FROM_P() (nz = ((p & P_Z) ? 0u : 1u) | ((p & P_N) ? 0x100u : 0u))
#define PUSH(v) ZWR(0x100 | s--, (v))
#define PULL() ZRD(0x100 | ++s)

/* Addressing modes: each computes `addr` with the exact bus cycles, and those
 * that can reach I/O `prior`, the value on the bus in the cycle before the
 * access at addr (for RDP). _R forms take the page-cross penalty only when
 * crossing; _W forms (stores, read-modify-write) always spend the dummy read at
 * the unfixed address. */
#define AM_ZP() addr = FETCH()
#define AM_ZPX() do { uint8_t b_ = FETCH(); ZRD(b_); addr = (uint8_t)(b_ + x); } while (0)
#define AM_ZPY() do { uint8_t b_ = FETCH(); ZRD(b_); addr = (uint8_t)(b_ + y); } while (0)
#define AM_ABS() do { uint16_t lo_ = FETCH(); addr = (uint16_t)(lo_ | (FETCH() << 8)); prior = (uint8_t)(addr >> 8); } while (0)
#define AM_IDX_R(reg) do { uint16_t lo_ = FETCH(); uint16_t base_ = (uint16_t)(lo_ | (FETCH() << 8)); \
        addr = (uint16_t)(base_ + (reg)); prior = (uint8_t)(base_ >> 8); \
        if ((base_ ^ addr) & 0x100) prior = RDP((base_ & 0xFF00) | (addr & 0xFF), prior); } while (0)
#define AM_IDX_W(reg) do { uint16_t lo_ = FETCH(); uint16_t base_ = (uint16_t)(lo_ | (FETCH() << 8)); \
        addr = (uint16_t)(base_ + (reg)); prior = RDP((base_ & 0xFF00) | (addr & 0xFF), base_ >> 8); } while (0)
#define AM_IZX() do { uint8_t b_ = FETCH(); ZRD(b_); b_ = (uint8_t)(b_ + x); \
        uint16_t lo_ = ZRD(b_); addr = (uint16_t)(lo_ | (ZRD((uint8_t)(b_ + 1)) << 8)); prior = (uint8_t)(addr >> 8); } while (0)
#define AM_IZY_R() do { uint8_t b_ = FETCH(); uint16_t lo_ = ZRD(b_); \
        uint16_t base_ = (uint16_t)(lo_ | (ZRD((uint8_t)(b_ + 1)) << 8)); addr = (uint16_t)(base_ + y); \
        prior = (uint8_t)(base_ >> 8); \
        if ((base_ ^ addr) & 0x100) prior = RDP((base_ & 0xFF00) | (addr & 0xFF), prior); } while (0)
#define AM_IZY_W() do { uint8_t b_ = FETCH(); uint16_t lo_ = ZRD(b_); \
        uint16_t base_ = (uint16_t)(lo_ | (ZRD((uint8_t)(b_ + 1)) << 8)); addr = (uint16_t)(base_ + y); \
        prior = RDP((base_ & 0xFF00) | (addr & 0xFF), base_ >> 8); } while (0)

/* Operations on a fetched operand v. */
#define LDA() (a = v, SETNZ(a))
#define LDX() (x = v, SETNZ(x))
#define LDY() (y = v, SETNZ(y))
#define LAX() (a = x = v, SETNZ(a))
#define ORA() (a |= v, SETNZ(a))
#define AND() (a &= v, SETNZ(a))
#define EOR() (a ^= v, SETNZ(a))
#define ADC() do { unsigned sum_ = a + v + (p & P_C); \
        p = (uint8_t)(p & ~(P_C | P_V)); \
        if (sum_ > 0xFF) p |= P_C; \
        if (~(a ^ v) & (a ^ sum_) & 0x80) p |= P_V; \
        a = (uint8_t)sum_; SETNZ(a); } while (0)
#define SBC() do { v ^= 0xFF; ADC(); } while (0)
#define CMPR(r) do { unsigned d_ = (unsigned)(r) - v; p = (uint8_t)((p & ~P_C) | ((r) >= v ? P_C : 0)); \
        SETNZ((uint8_t)d_); } while (0)
#define CMP() CMPR(a)
#define CPX() CMPR(x)
#define CPY() CMPR(y)
#define BIT() do { p = (uint8_t)((p & ~P_V) | (v & P_V)); nz = (unsigned)(a & v) | ((unsigned)(v & P_N) << 1); } while (0)
#define NOPR() (void)v
/* Read-modify-write: v is replaced by the result. */
#define ASL() do { p = (uint8_t)((p & ~P_C) | (v >> 7)); v = (uint8_t)(v << 1); SETNZ(v); } while (0)
#define LSR() do { p = (uint8_t)((p & ~P_C) | (v & 1)); v >>= 1; SETNZ(v); } while (0)
#define ROL() do { uint8_t c_ = p & P_C; p = (uint8_t)((p & ~P_C) | (v >> 7)); v = (uint8_t)((v << 1) | c_); SETNZ(v); } while (0)
#define ROR() do { uint8_t c_ = (uint8_t)((p & P_C) << 7); p = (uint8_t)((p & ~P_C) | (v & 1)); v = (uint8_t)((v >> 1) | c_); SETNZ(v); } while (0)
#define INC() do { v++; SETNZ(v); } while (0)
#define DEC() do { v--; SETNZ(v); } while (0)
#define SLO() do { ASL(); a |= v; SETNZ(a); } while (0)
#define RLA() do { ROL(); a &= v; SETNZ(a); } while (0)
#define SRE() do { LSR(); a ^= v; SETNZ(a); } while (0)
#define RRA() do { ROR(); ADC(); } while (0)
#define DCP() do { v--; CMP(); } while (0)
#define ISC() do { v++; uint8_t m_ = v; SBC(); v = m_; } while (0)

#define R_IMM(op) v = FETCH(); op(); NEXT()
/* _L forms end in NEXT_LIKELY(b1, b2): b1 and b2 are the opcodes that most
 * often follow this one (see NEXT_LIKELY). */
#define R_IMM_L(op, b1, b2) v = FETCH(); op(); NEXT_LIKELY(b1, b2)
#define R_ZP_L(op, b1, b2) AM_ZP(); v = ZRD(addr); op(); NEXT_LIKELY(b1, b2)
#define R_ZPX_L(op, b1, b2) AM_ZPX(); v = ZRD(addr); op(); NEXT_LIKELY(b1, b2)
#define R_ABS_L(op, b1, b2) AM_ABS(); v = RDP(addr, prior); op(); NEXT_LIKELY(b1, b2)
#define R_ABX_L(op, b1, b2) AM_IDX_R(x); v = RDP(addr, prior); op(); NEXT_LIKELY(b1, b2)
#define R_IZY_L(op, b1, b2) AM_IZY_R(); v = RDP(addr, prior); op(); NEXT_LIKELY(b1, b2)
#define R_ABY_L(op, b1, b2) AM_IDX_R(y); v = RDP(addr, prior); op(); NEXT_LIKELY(b1, b2)
#define W_ZP_L(val, b1, b2) AM_ZP(); ZWR(addr, val); NEXT_LIKELY(b1, b2)
#define W_ABX_L(val, b1, b2) AM_IDX_W(x); WR(addr, val); NEXT_LIKELY(b1, b2)
#define W_ABY_L(val, b1, b2) AM_IDX_W(y); WR(addr, val); NEXT_LIKELY(b1, b2)
#define R_ZP(op) AM_ZP(); v = ZRD(addr); op(); NEXT()
#define R_ZPX(op) AM_ZPX(); v = ZRD(addr); op(); NEXT()
#define R_ZPY(op) AM_ZPY(); v = ZRD(addr); op(); NEXT()
#define R_ABS(op) AM_ABS(); v = RDP(addr, prior); op(); NEXT()
#define R_ABX(op) AM_IDX_R(x); v = RDP(addr, prior); op(); NEXT()
#define R_ABY(op) AM_IDX_R(y); v = RDP(addr, prior); op(); NEXT()
#define R_IZX(op) AM_IZX(); v = RDP(addr, prior); op(); NEXT()
#define R_IZY(op) AM_IZY_R(); v = RDP(addr, prior); op(); NEXT()

#define M_DO(op) v = RDP(addr, prior); WR(addr, v); op(); WR(addr, v); NEXT()
#define M_DOZ(op) v = ZRD(addr); ZWR(addr, v); op(); ZWR(addr, v); NEXT()
#define M_ZP(op) AM_ZP(); M_DOZ(op)
#define M_ZPX(op) AM_ZPX(); M_DOZ(op)
#define M_ABS(op) AM_ABS(); M_DO(op)
#define M_ABX(op) AM_IDX_W(x); M_DO(op)
#define M_ABY(op) AM_IDX_W(y); M_DO(op)
#define M_IZX(op) AM_IZX(); M_DO(op)
#define M_IZY(op) AM_IZY_W(); M_DO(op)

#define W_ZP(val) AM_ZP(); ZWR(addr, val); NEXT()
#define W_ZPX(val) AM_ZPX(); ZWR(addr, val); NEXT()
#define W_ZPY(val) AM_ZPY(); ZWR(addr, val); NEXT()
#define W_ABS(val) AM_ABS(); WR(addr, val); NEXT()
#define W_ABX(val) AM_IDX_W(x); WR(addr, val); NEXT()
#define W_ABY(val) AM_IDX_W(y); WR(addr, val); NEXT()
#define W_IZX(val) AM_IZX(); WR(addr, val); NEXT()
#define W_IZY(val) AM_IZY_W(); WR(addr, val); NEXT()

#define BRANCH(cond) do { int8_t off_ = (int8_t)FETCH(); \
        if (cond) { IMPLIED(); \
            if (SAME_PAGE(off_)) { n->cpu.branch_end = cyc; NEAR_BRANCH(off_); } \
            uint16_t at_ = PC(), to_ = (uint16_t)(at_ + off_); \
            if ((to_ ^ at_) & 0xFF00) { RD((at_ & 0xFF00) | (to_ & 0xFF)); } \
            else { n->cpu.branch_end = cyc; } \
            NEAR_JUMP(at_, to_); } } while (0); NEXT()

/* The unstable stores SHX/SHY/SHA/TAS: value ANDed with (high byte of the base + 1);
 * on a page cross the high byte of the address becomes that value. */
#define SH_STORE(val, reg) do { uint16_t lo_ = FETCH(); uint16_t hi_ = FETCH(); \
        uint16_t base_ = (uint16_t)(lo_ | (hi_ << 8)); addr = (uint16_t)(base_ + (reg)); \
        RDP((base_ & 0xFF00) | (addr & 0xFF), hi_); uint8_t val_ = (uint8_t)((val) & (hi_ + 1)); \
        if ((base_ ^ addr) & 0x100) addr = (uint16_t)((addr & 0xFF) | (val_ << 8)); \
        WR(addr, val_); } while (0); NEXT()

/* An NMI edge detected before the status push of BRK or an IRQ sequence takes
 * over its vector (nesdev wiki "CPU interrupts", interrupt hijacking). The PPU
 * is caught up first, since the edge may fall inside this very sequence. */
static int nmi_hijacks(nes *n, uint64_t now)
{
    n->cycle = now;
    ppu_catch_up(n, PPU_ACCESS_DOT(now));
    if (n->cpu.nmi_edge < now) {
        n->cpu.nmi_edge = NES_NEVER;
        return 1;
    }
    return 0;
}

/* Dispatch by computed goto (a GNU C extension that gcc and clang share): each
 * handler ends in its own indirect jump, which predicts far better than one
 * shared switch jump. */
#define DISPATCH_TABLE \
    static const void *const dispatch[256] = { \
        &&op_00, &&op_01, &&op_KIL, &&op_03, &&op_04, &&op_05, &&op_06, &&op_07, \
        &&op_08, &&op_09, &&op_0A, &&op_0B, &&op_0C, &&op_0D, &&op_0E, &&op_0F, \
        &&op_10, &&op_11, &&op_KIL, &&op_13, &&op_14, &&op_15, &&op_16, &&op_17, \
        &&op_18, &&op_19, &&op_1A, &&op_1B, &&op_1C, &&op_1D, &&op_1E, &&op_1F, \
        &&op_20, &&op_21, &&op_KIL, &&op_23, &&op_24, &&op_25, &&op_26, &&op_27, \
        &&op_28, &&op_29, &&op_2A, &&op_2B, &&op_2C, &&op_2D, &&op_2E, &&op_2F, \
        &&op_30, &&op_31, &&op_KIL, &&op_33, &&op_34, &&op_35, &&op_36, &&op_37, \
        &&op_38, &&op_39, &&op_3A, &&op_3B, &&op_3C, &&op_3D, &&op_3E, &&op_3F, \
        &&op_40, &&op_41, &&op_KIL, &&op_43, &&op_44, &&op_45, &&op_46, &&op_47, \
        &&op_48, &&op_49, &&op_4A, &&op_4B, &&op_4C, &&op_4D, &&op_4E, &&op_4F, \
        &&op_50, &&op_51, &&op_KIL, &&op_53, &&op_54, &&op_55, &&op_56, &&op_57, \
        &&op_58, &&op_59, &&op_5A, &&op_5B, &&op_5C, &&op_5D, &&op_5E, &&op_5F, \
        &&op_60, &&op_61, &&op_KIL, &&op_63, &&op_64, &&op_65, &&op_66, &&op_67, \
        &&op_68, &&op_69, &&op_6A, &&op_6B, &&op_6C, &&op_6D, &&op_6E, &&op_6F, \
        &&op_70, &&op_71, &&op_KIL, &&op_73, &&op_74, &&op_75, &&op_76, &&op_77, \
        &&op_78, &&op_79, &&op_7A, &&op_7B, &&op_7C, &&op_7D, &&op_7E, &&op_7F, \
        &&op_80, &&op_81, &&op_82, &&op_83, &&op_84, &&op_85, &&op_86, &&op_87, \
        &&op_88, &&op_89, &&op_8A, &&op_8B, &&op_8C, &&op_8D, &&op_8E, &&op_8F, \
        &&op_90, &&op_91, &&op_KIL, &&op_93, &&op_94, &&op_95, &&op_96, &&op_97, \
        &&op_98, &&op_99, &&op_9A, &&op_9B, &&op_9C, &&op_9D, &&op_9E, &&op_9F, \
        &&op_A0, &&op_A1, &&op_A2, &&op_A3, &&op_A4, &&op_A5, &&op_A6, &&op_A7, \
        &&op_A8, &&op_A9, &&op_AA, &&op_AB, &&op_AC, &&op_AD, &&op_AE, &&op_AF, \
        &&op_B0, &&op_B1, &&op_KIL, &&op_B3, &&op_B4, &&op_B5, &&op_B6, &&op_B7, \
        &&op_B8, &&op_B9, &&op_BA, &&op_BB, &&op_BC, &&op_BD, &&op_BE, &&op_BF, \
        &&op_C0, &&op_C1, &&op_C2, &&op_C3, &&op_C4, &&op_C5, &&op_C6, &&op_C7, \
        &&op_C8, &&op_C9, &&op_CA, &&op_CB, &&op_CC, &&op_CD, &&op_CE, &&op_CF, \
        &&op_D0, &&op_D1, &&op_KIL, &&op_D3, &&op_D4, &&op_D5, &&op_D6, &&op_D7, \
        &&op_D8, &&op_D9, &&op_DA, &&op_DB, &&op_DC, &&op_DD, &&op_DE, &&op_DF, \
        &&op_E0, &&op_E1, &&op_E2, &&op_E3, &&op_E4, &&op_E5, &&op_E6, &&op_E7, \
        &&op_E8, &&op_E9, &&op_EA, &&op_EB, &&op_EC, &&op_ED, &&op_EE, &&op_EF, \
        &&op_F0, &&op_F1, &&op_KIL, &&op_F3, &&op_F4, &&op_F5, &&op_F6, &&op_F7, \
        &&op_F8, &&op_F9, &&op_FA, &&op_FB, &&op_FC, &&op_FD, &&op_FE, &&op_FF, \
    }

/* The interpreter for code in PRG ROM (rom_code): the position is a host
 * pointer `ip` into the ROM, so an operand byte costs one load. Runs from an
 * instruction at which rom_code holds until cycle >= next_event (returns 0) or
 * until the next instruction is not ROM code (returns 1, before running it).
 * With `single`, it runs one instruction (for the translated code, jit.h). */
static int run_rom(nes *n, int single)
{
    struct bus_map map = {.prg = {NULL}};
    struct bus bus = {.map = &map};
    bus_load(n, &bus);
    uint16_t pc = n->cpu.pc;
    uint8_t a = n->cpu.a, x = n->cpu.x, y = n->cpu.y, s = n->cpu.s, p = n->cpu.p;
    unsigned nz;
    NZ_FROM_P();
    uint16_t addr;
    uint8_t v, op, prior;
    int not_rom = 0;
    const uint8_t *ip;
    uintptr_t ip_base; /* ip - ip_base is the CPU address */
    DISPATCH_TABLE;
#undef BUS_TRACK
#define BUS_TRACK 0
#define FETCH() fetch_rom(&ip, 1, &bus)
#define IMPLIED() fetch_rom(&ip, 0, &bus)
#define PEEK() fetch_rom(&ip, 0, &bus)
/* Whether the operand of an absolute instruction may be $2002: a cheap first
 * test for op_AD's status-poll pattern (the operand bytes are in the run). */
#define MAYBE_2002() (ip[0] == 0x02 && ip[1] == 0x20)
/* A branch within its page moves the host pointer alone: banks are 256-byte
 * aligned (map_load), so the pointer's page is the address's page. */
#define SAME_PAGE(off) (!((((uintptr_t)ip + (uintptr_t)(intptr_t)(off)) ^ (uintptr_t)ip) & ~(uintptr_t)0xFF))
#define NEAR_BRANCH(off) do { const uint8_t *ip__ = ip + (off); \
        if ((off) > 0) bus.limit = bus.limit > (uint64_t)(off) ? bus.limit - (uint64_t)(off) : 0; \
        ip = ip__; NEXT(); } while (0)
#define PC() ((uint16_t)((uintptr_t)ip - ip_base))
#define JUMP(to) do { pc = (uint16_t)(to); goto jump; } while (0)
/* Within the 8 KiB window of `from` the host pointer base stays valid: no
 * re-derivation (the common case of branches, JSR, RTS and JMP). NEXT() still
 * stops at the run's end. */
#define NEAR_JUMP(from, to) do { uint16_t to__ = (uint16_t)(to); \
        if (!((to__ ^ (from)) & 0xE000)) { const uint8_t *ip__ = (const uint8_t *)(ip_base + to__); \
            if (ip__ > ip) { uint64_t d__ = (uint64_t)(ip__ - ip); bus.limit = bus.limit > d__ ? bus.limit - d__ : 0; } \
            ip = ip__; NEXT(); } \
        JUMP(to__); } while (0)
#define NEXT() do { if (cyc >= bus.limit) goto boundary; \
        op = FETCH(); goto *dispatch[op]; } while (0)
/* NEXT, with the two opcodes that most often follow this handler's opcode
 * reached by compare and direct jump. The indirect jump of a dispatch is
 * where an interpreter loses its time (perf puts the samples on the first
 * instruction of the handlers), and a conditional jump per handler predicts
 * better than an indirect one. The compares cost instructions (a skipped
 * frame 84.0k -> 95.7k host instructions) and save time (a sixth of a
 * skipped frame's, a ninth of a rendered one's). The pairs come from the successors of each opcode over SMB play
 * (guest-PC counts of 3,000 frames of 1-1 under random input): CMP is
 * followed by BNE or BEQ 59% of the time, DEX by BPL 69%, INY by LDA (zp),Y
 * 42%, CLC by ADC 67%. Other games just take the dispatch. */
#define NEXT_LIKELY(b1, b2) do { if (cyc >= bus.limit) goto boundary; \
        op = FETCH(); if (op == 0x##b1) goto op_##b1; if (op == 0x##b2) goto op_##b2; \
        goto *dispatch[op]; } while (0)
    goto enter;
boundary:
    pc = PC();
jump:
    if (cyc >= bus.next_event || single)
        goto done;
    if (!rom_code(pc, &bus)) {
        not_rom = 1;
        goto done;
    }
enter:
    ip_base = bus.map->code[pc >> 13];
    ip = (const uint8_t *)(ip_base + pc);
    bus.limit = cyc + (uint64_t)(bus.map->run_end[pc >> 13] - (uintptr_t)ip);
    if (bus.limit > bus.next_event || single)
        bus.limit = single ? 0 : bus.next_event;
    op = FETCH();
    goto *dispatch[op];
    {
#include "nes/cpu_ops.h"
    }
#undef FETCH
#undef IMPLIED
#undef PEEK
#undef MAYBE_2002
#undef SAME_PAGE
#undef NEAR_BRANCH
#undef PC
#undef JUMP
#undef NEAR_JUMP
#undef NEXT
#undef NEXT_LIKELY
#undef BUS_TRACK
#define BUS_TRACK 1
done:
    n->cycle = cyc;
    n->cpu.open_bus = bus.open_bus;
    n->cpu.pc = pc;
    n->cpu.a = a; n->cpu.x = x; n->cpu.y = y; n->cpu.s = s; n->cpu.p = P();
    return not_rom;
}

/* The interpreter for code anywhere else (RAM, I/O space, a bank's last two
 * bytes): every byte is a bus read with its side effects. Runs until cycle >=
 * next_event (returns 0) or until the next instruction is ROM code (returns 1);
 * with `single`, one instruction. */
static int run_bus(nes *n, int single)
{
    struct bus_map map = {.prg = {NULL}};
    struct bus bus = {.map = &map};
    bus_load(n, &bus);
    uint16_t pc = n->cpu.pc;
    uint8_t a = n->cpu.a, x = n->cpu.x, y = n->cpu.y, s = n->cpu.s, p = n->cpu.p;
    unsigned nz;
    NZ_FROM_P();
    uint16_t addr;
    uint8_t v, op, prior;
    int rom = 0;
    DISPATCH_TABLE;
#define FETCH() fetch(n, pc++, &bus, 1, 0)
#define IMPLIED() fetch(n, pc, &bus, 1, 0)
#define PEEK() fetch(n, pc, &bus, 1, 0)
#define MAYBE_2002() 1
#define SAME_PAGE(off) 0
#define NEAR_BRANCH(off) NEXT()
#define PC() pc
#define JUMP(to) do { pc = (uint16_t)(to); NEXT(); } while (0)
#define NEAR_JUMP(from, to) JUMP(to)
#define NEXT() do { if (cyc >= bus.next_event || single) goto done; \
        if (rom_code(pc, &bus)) { rom = 1; goto done; } \
        op = FETCH(); goto *dispatch[op]; } while (0)
#define NEXT_LIKELY(b1, b2) NEXT()
    op = FETCH();
    goto *dispatch[op];
    {
#include "nes/cpu_ops.h"
    }
#undef FETCH
#undef IMPLIED
#undef PEEK
#undef MAYBE_2002
#undef SAME_PAGE
#undef NEAR_BRANCH
#undef PC
#undef JUMP
#undef NEAR_JUMP
#undef NEXT
done:
    n->cycle = cyc;
    n->cpu.open_bus = bus.open_bus;
    n->cpu.pc = pc;
    n->cpu.a = a; n->cpu.x = x; n->cpu.y = y; n->cpu.s = s; n->cpu.p = P();
    return rom;
}

static void interpret_one(nes *n)
{
    struct bus_map map = {.prg = {NULL}};
    struct bus bus = {.map = &map};
    bus_load(n, &bus);
    if (rom_code(n->cpu.pc, &bus))
        run_rom(n, 1);
    else
        run_bus(n, 1);
}

void cpu_run(nes *n)
{
    if (!n->host.jit) {
        struct bus_map map = {.prg = {NULL}};
        struct bus bus = {.map = &map};
        bus_load(n, &bus);
        int rom = rom_code(n->cpu.pc, &bus);
        /* Each interpreter runs its first instruction unconditionally (the caller
         * runs at least one) and hands over only before a later one. */
        while (rom ? run_rom(n, 0) : run_bus(n, 0))
            rom = !rom;
        return;
    }
    /* Translated code where there is some, the interpreters one instruction
     * at a time elsewhere and up to the event when it is near; at least one
     * instruction, as above. */
    for (int ran = 0;; ran = 1) {
        if (ran && n->cycle >= n->next_event)
            return;
        int r = jit_run(n, n->host.jit);
        if ((r & JIT_RAN) && n->cycle >= n->next_event)
            return;
        if (r & JIT_NEAR_EVENT) {
            /* Up to the event the block had no room for, not to one that a
             * register write has since moved later: then back to translated code. */
            uint64_t event = n->next_event;
            do
                interpret_one(n);
            while (n->cycle < event && n->cycle < n->next_event);
        } else if (!(r & JIT_RAN)) {
            interpret_one(n);
        }
    }
}

/* The 7-cycle interrupt sequence for NMI and IRQ (BRK is an opcode above). */
static void interrupt(nes *n, uint16_t vec)
{
    struct bus_map map = {.prg = {NULL}};
    struct bus bus = {.map = &map};
    bus_load(n, &bus);
    uint16_t pc = n->cpu.pc;
    uint8_t s = n->cpu.s;
    fetch(n, pc, &bus, 1, 0); fetch(n, pc, &bus, 1, 0);
    PUSH(pc >> 8); PUSH(pc & 0xFF);
    if (vec == 0xFFFE && nmi_hijacks(n, cyc))
        vec = 0xFFFA;
    PUSH((n->cpu.p & ~P_B) | P_U);
    n->cpu.p |= P_I;
    uint16_t lo = RD(vec);
    pc = (uint16_t)(lo | (RD(vec + 1) << 8));
    n->cpu.pc = pc;
    n->cpu.s = s;
    n->cycle = cyc;
    n->cpu.open_bus = bus.open_bus;
    n->cpu.sequence_end = cyc;
}

void cpu_check_interrupts(nes *n)
{
    struct cpu *c = &n->cpu;
    /* The poll happened at the end of the instruction's second-to-last cycle;
     * a taken branch that stayed on its page polled one cycle earlier still. */
    uint64_t poll = n->cycle - 2 - (c->branch_end == n->cycle);
    /* OAM DMA runs after the write that started it: that instruction polled before it. */
    if (c->dma_end == n->cycle)
        poll -= c->dma_length;
    uint8_t i_flag = c->poll_i != 0xFF ? c->poll_i : (c->p & P_I);
    c->poll_i = 0xFF;
    /* The first instruction of a handler always runs before another interrupt. */
    if (c->jammed || c->sequence_end == n->cycle)
        return;
    if (c->nmi_edge <= poll) {
        c->nmi_edge = NES_NEVER;
        interrupt(n, 0xFFFA);
    } else if (c->irq_lines && c->irq_since <= poll && !i_flag) {
        interrupt(n, 0xFFFE);
    }
}

void cpu_power(nes *n)
{
    struct cpu *c = &n->cpu;
    c->a = c->x = c->y = 0;
    c->s = 0;
    c->p = P_I | P_U;
    c->jammed = 0;
    c->irq_lines = 0;
    c->poll_i = 0xFF;
    c->branch_end = NES_NEVER;
    c->sequence_end = NES_NEVER;
    c->dma_end = NES_NEVER;
    c->nmi_edge = NES_NEVER;
    cpu_reset(n);
}

/* Reset: the interrupt sequence with the writes turned into reads (S drops by 3). */
void cpu_reset(nes *n)
{
    struct cpu *c = &n->cpu;
    struct bus_map map = {.prg = {NULL}};
    struct bus bus = {.map = &map};
    bus_load(n, &bus);
    RD(c->pc); RD(c->pc);
    RD(0x100 | c->s); c->s--;
    RD(0x100 | c->s); c->s--;
    RD(0x100 | c->s); c->s--;
    c->p |= P_I;
    c->jammed = 0;
    uint16_t lo = RD(0xFFFC);
    c->pc = (uint16_t)(lo | (RD(0xFFFD) << 8));
    n->cycle = cyc;
    n->cpu.open_bus = bus.open_bus;
}
