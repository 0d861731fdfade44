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

#include "nes/nes_internal.h"

/* The CPU loop's view of the machine, kept in locals: the clock, the scheduler's
 * next event and the PRG bank pointers. Byte stores to RAM could alias these in
 * the compiler's eyes if they lived only in `nes`; they are reloaded after every
 * access to I/O, the only thing that can change them. */
struct bus {
    uint64_t cyc;
    uint64_t next_event;
    const uint8_t *prg[4];
    uintptr_t code[8];  /* per 8 KiB of address space: PRG bank address minus its CPU address (0 = not ROM) */
    uint8_t open_bus;   /* the last value on the data bus; stored to n->cpu only around I/O */
};

static inline __attribute__((always_inline)) void bus_load(const nes *n, struct bus *b)
{
    b->cyc = n->cycle;
    b->next_event = n->next_event;
    b->open_bus = n->cpu.open_bus;
    for (int i = 0; i < 4; i++) {
        b->prg[i] = n->host.prg[i];
        b->code[4 + i] = (uintptr_t)n->host.prg[i] - (uintptr_t)(0x8000 + 0x2000 * i);
    }
}

static inline __attribute__((always_inline)) uint8_t rd(nes *n, uint16_t addr, struct bus *b)
{
    uint8_t v;
    if (addr < 0x2000) {
        v = n->ram[addr & 0x7FF];
    } else if (addr >= 0x8000) {
        v = b->prg[(addr >> 13) & 3][addr & 0x1FFF];
    } else {
        n->cycle = b->cyc;
        n->cpu.open_bus = b->open_bus;
        v = bus_read_io(n, addr);
        bus_load(n, b);
    }
    b->open_bus = v;
    b->cyc++;
    return v;
}

static inline __attribute__((always_inline)) void wr(nes *n, uint16_t addr, uint8_t v, struct bus *b)
{
    if (addr < 0x2000) {
        n->ram[addr & 0x7FF] = v;
    } else {
        n->cycle = b->cyc;
        n->cpu.open_bus = v;
        bus_write_io(n, addr, v);
        bus_load(n, b);
    }
    b->open_bus = v;
    b->cyc++;
}

/* Code fetches are almost always from PRG ROM: test that first. */
static inline __attribute__((always_inline)) uint8_t fetch(nes *n, uint16_t addr, struct bus *b)
{
    if (__builtin_expect(addr >= 0x8000, 1)) {
        /* One table load and one byte load: the bank's address minus $8000 + 8 KiB * i. */
        uint8_t v = *(const uint8_t *)(b->code[addr >> 13] + addr);
        b->open_bus = v;
        b->cyc++;
        return v;
    }
    return rd(n, addr, b);
}

/* Zero page and stack (page 1) are internal RAM: no decoding, no side effects. */
static inline __attribute__((always_inline)) uint8_t rd_ram(nes *n, unsigned addr, struct bus *b)
{
    uint8_t v = n->ram[addr];
    b->open_bus = v;
    b->cyc++;
    return v;
}

static inline __attribute__((always_inline)) void wr_ram(nes *n, unsigned addr, uint8_t v, struct bus *b)
{
    n->ram[addr] = v;
    b->open_bus = v;
    b->cyc++;
}

#define RD(a) rd(n, (uint16_t)(a), &bus)
#define WR(a, v) wr(n, (uint16_t)(a), (uint8_t)(v), &bus)
#define FETCH() fetch(n, pc++, &bus)
#define ZRD(a) rd_ram(n, (unsigned)(a) & 0x1FF, &bus)
#define ZWR(a, v) wr_ram(n, (unsigned)(a) & 0x1FF, (uint8_t)(v), &bus)
#define cyc (bus.cyc)
/* N and Z of every byte value. */
static const uint8_t nz_flags[256] = {
#define NZ4(i) ((i) ? 0 : P_Z) | ((i) & 0x80), (((i) + 1) & 0x80), (((i) + 2) & 0x80), (((i) + 3) & 0x80)
#define NZ16(i) NZ4(i), NZ4((i) + 4), NZ4((i) + 8), NZ4((i) + 12)
#define NZ64(i) NZ16(i), NZ16((i) + 16), NZ16((i) + 32), NZ16((i) + 48)
    NZ64(0), NZ64(64), NZ64(128), NZ64(192)
#undef NZ64
#undef NZ16
#undef NZ4
};
#define SETNZ(v) (p = (uint8_t)((p & 0x7D) | nz_flags[(uint8_t)(v)]))
#define PUSH(v) ZWR(0x100 | s--, (v))
#define PULL() ZRD(0x100 | ++s)

/* Addressing modes: each computes `addr` with the exact bus cycles. _R forms take
 * the page-cross penalty only when crossing; _W forms (stores, read-modify-write)
 * always spend the dummy read at the unfixed address. */
#define AM_ZP() addr = FETCH()
#define AM_ZPX() do { uint8_t b_ = FETCH(); ZRD(b_); addr = (uint8_t)(b_ + x); } while (0)
#define AM_ZPY() do { uint8_t b_ = FETCH(); ZRD(b_); addr = (uint8_t)(b_ + y); } while (0)
#define AM_ABS() do { uint16_t lo_ = FETCH(); addr = (uint16_t)(lo_ | (FETCH() << 8)); } while (0)
#define AM_IDX_R(reg) do { uint16_t lo_ = FETCH(); uint16_t base_ = (uint16_t)(lo_ | (FETCH() << 8)); \
        addr = (uint16_t)(base_ + (reg)); \
        if ((base_ ^ addr) & 0x100) RD((base_ & 0xFF00) | (addr & 0xFF)); } while (0)
#define AM_IDX_W(reg) do { uint16_t lo_ = FETCH(); uint16_t base_ = (uint16_t)(lo_ | (FETCH() << 8)); \
        addr = (uint16_t)(base_ + (reg)); RD((base_ & 0xFF00) | (addr & 0xFF)); } while (0)
#define AM_IZX() do { uint8_t b_ = FETCH(); ZRD(b_); b_ = (uint8_t)(b_ + x); \
        uint16_t lo_ = ZRD(b_); addr = (uint16_t)(lo_ | (ZRD((uint8_t)(b_ + 1)) << 8)); } while (0)
#define AM_IZY_R() do { uint8_t b_ = FETCH(); uint16_t lo_ = ZRD(b_); \
        uint16_t base_ = (uint16_t)(lo_ | (ZRD((uint8_t)(b_ + 1)) << 8)); addr = (uint16_t)(base_ + y); \
        if ((base_ ^ addr) & 0x100) RD((base_ & 0xFF00) | (addr & 0xFF)); } while (0)
#define AM_IZY_W() do { uint8_t b_ = FETCH(); uint16_t lo_ = ZRD(b_); \
        uint16_t base_ = (uint16_t)(lo_ | (ZRD((uint8_t)(b_ + 1)) << 8)); addr = (uint16_t)(base_ + y); \
        RD((base_ & 0xFF00) | (addr & 0xFF)); } while (0)

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
#define BIT() do { p = (uint8_t)((p & ~(P_N | P_V | P_Z)) | (v & (P_N | P_V)) | ((a & v) ? 0 : P_Z)); } while (0)
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
#define R_ZP(op) AM_ZP(); v = ZRD(addr); op(); NEXT()
#define R_ZPX(op) AM_ZPX(); v = ZRD(addr); op(); NEXT()
#define R_ZPY(op) AM_ZPY(); v = ZRD(addr); op(); NEXT()
#define R_ABS(op) AM_ABS(); v = RD(addr); op(); NEXT()
#define R_ABX(op) AM_IDX_R(x); v = RD(addr); op(); NEXT()
#define R_ABY(op) AM_IDX_R(y); v = RD(addr); op(); NEXT()
#define R_IZX(op) AM_IZX(); v = RD(addr); op(); NEXT()
#define R_IZY(op) AM_IZY_R(); v = RD(addr); op(); NEXT()

#define M_DO(op) v = RD(addr); WR(addr, v); op(); WR(addr, v); NEXT()
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

#define IMPLIED() fetch(n, pc, &bus)
#define BRANCH(cond) do { int8_t off_ = (int8_t)FETCH(); \
        if (cond) { fetch(n, pc, &bus); uint16_t to_ = (uint16_t)(pc + off_); \
            if ((to_ ^ pc) & 0xFF00) { RD((pc & 0xFF00) | (to_ & 0xFF)); } \
            else { n->cpu.branch_end = cyc; } \
            pc = to_; } } while (0); NEXT()

/* The unstable stores SHX/SHY/SHA/TAS: value ANDed with (high byte of the base + 1);
 * on a page cross the high byte of the address becomes that value. */
#define SH_STORE(val, reg) do { uint16_t lo_ = FETCH(); uint16_t hi_ = FETCH(); \
        uint16_t base_ = (uint16_t)(lo_ | (hi_ << 8)); addr = (uint16_t)(base_ + (reg)); \
        RD((base_ & 0xFF00) | (addr & 0xFF)); uint8_t val_ = (uint8_t)((val) & (hi_ + 1)); \
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

void cpu_run(nes *n)
{
    struct bus bus;
    bus_load(n, &bus);
    uint16_t pc = n->cpu.pc;
    uint8_t a = n->cpu.a, x = n->cpu.x, y = n->cpu.y, s = n->cpu.s, p = n->cpu.p;
    uint16_t addr;
    uint8_t v;

    /* Dispatch by computed goto (a GNU C extension that gcc and clang share):
     * each handler ends in its own indirect jump, which predicts far better
     * than one shared switch jump. */
    static const void *const dispatch[256] = {
        &&op_00, &&op_01, &&op_KIL, &&op_03, &&op_04, &&op_05, &&op_06, &&op_07,
        &&op_08, &&op_09, &&op_0A, &&op_0B, &&op_0C, &&op_0D, &&op_0E, &&op_0F,
        &&op_10, &&op_11, &&op_KIL, &&op_13, &&op_14, &&op_15, &&op_16, &&op_17,
        &&op_18, &&op_19, &&op_1A, &&op_1B, &&op_1C, &&op_1D, &&op_1E, &&op_1F,
        &&op_20, &&op_21, &&op_KIL, &&op_23, &&op_24, &&op_25, &&op_26, &&op_27,
        &&op_28, &&op_29, &&op_2A, &&op_2B, &&op_2C, &&op_2D, &&op_2E, &&op_2F,
        &&op_30, &&op_31, &&op_KIL, &&op_33, &&op_34, &&op_35, &&op_36, &&op_37,
        &&op_38, &&op_39, &&op_3A, &&op_3B, &&op_3C, &&op_3D, &&op_3E, &&op_3F,
        &&op_40, &&op_41, &&op_KIL, &&op_43, &&op_44, &&op_45, &&op_46, &&op_47,
        &&op_48, &&op_49, &&op_4A, &&op_4B, &&op_4C, &&op_4D, &&op_4E, &&op_4F,
        &&op_50, &&op_51, &&op_KIL, &&op_53, &&op_54, &&op_55, &&op_56, &&op_57,
        &&op_58, &&op_59, &&op_5A, &&op_5B, &&op_5C, &&op_5D, &&op_5E, &&op_5F,
        &&op_60, &&op_61, &&op_KIL, &&op_63, &&op_64, &&op_65, &&op_66, &&op_67,
        &&op_68, &&op_69, &&op_6A, &&op_6B, &&op_6C, &&op_6D, &&op_6E, &&op_6F,
        &&op_70, &&op_71, &&op_KIL, &&op_73, &&op_74, &&op_75, &&op_76, &&op_77,
        &&op_78, &&op_79, &&op_7A, &&op_7B, &&op_7C, &&op_7D, &&op_7E, &&op_7F,
        &&op_80, &&op_81, &&op_82, &&op_83, &&op_84, &&op_85, &&op_86, &&op_87,
        &&op_88, &&op_89, &&op_8A, &&op_8B, &&op_8C, &&op_8D, &&op_8E, &&op_8F,
        &&op_90, &&op_91, &&op_KIL, &&op_93, &&op_94, &&op_95, &&op_96, &&op_97,
        &&op_98, &&op_99, &&op_9A, &&op_9B, &&op_9C, &&op_9D, &&op_9E, &&op_9F,
        &&op_A0, &&op_A1, &&op_A2, &&op_A3, &&op_A4, &&op_A5, &&op_A6, &&op_A7,
        &&op_A8, &&op_A9, &&op_AA, &&op_AB, &&op_AC, &&op_AD, &&op_AE, &&op_AF,
        &&op_B0, &&op_B1, &&op_KIL, &&op_B3, &&op_B4, &&op_B5, &&op_B6, &&op_B7,
        &&op_B8, &&op_B9, &&op_BA, &&op_BB, &&op_BC, &&op_BD, &&op_BE, &&op_BF,
        &&op_C0, &&op_C1, &&op_C2, &&op_C3, &&op_C4, &&op_C5, &&op_C6, &&op_C7,
        &&op_C8, &&op_C9, &&op_CA, &&op_CB, &&op_CC, &&op_CD, &&op_CE, &&op_CF,
        &&op_D0, &&op_D1, &&op_KIL, &&op_D3, &&op_D4, &&op_D5, &&op_D6, &&op_D7,
        &&op_D8, &&op_D9, &&op_DA, &&op_DB, &&op_DC, &&op_DD, &&op_DE, &&op_DF,
        &&op_E0, &&op_E1, &&op_E2, &&op_E3, &&op_E4, &&op_E5, &&op_E6, &&op_E7,
        &&op_E8, &&op_E9, &&op_EA, &&op_EB, &&op_EC, &&op_ED, &&op_EE, &&op_EF,
        &&op_F0, &&op_F1, &&op_KIL, &&op_F3, &&op_F4, &&op_F5, &&op_F6, &&op_F7,
        &&op_F8, &&op_F9, &&op_FA, &&op_FB, &&op_FC, &&op_FD, &&op_FE, &&op_FF,
    };
#define NEXT() do { if (cyc >= bus.next_event) goto done; op = FETCH(); goto *dispatch[op]; } while (0)
    uint8_t op = FETCH();
    goto *dispatch[op];
    {
        /* Loads, logic and arithmetic. */
        op_AD:
            /* `LDA $2002; AND #m; BEQ/BNE back` polls the PPU status: whole
             * iterations whose outcome cannot change are skipped at once. */
            if (pc >= 0x8001 && pc <= 0xFFF8) {
                const uint8_t *code = &bus.prg[(pc >> 13) & 3][pc & 0x1FFF];
                if ((pc & 0x1FFF) <= 0x1FF9 && code[0] == 0x02 && code[1] == 0x20 && code[2] == 0x29 &&
                    (code[4] == 0xF0 || code[4] == 0xD0) && code[5] == (uint8_t)-7 &&
                    ((pc + 6) & 0xFF00) == ((pc - 1) & 0xFF00)) {
                    n->cycle = cyc;
                    n->cpu.open_bus = bus.open_bus;
                    uint64_t skipped = nes_poll_skip(n, cyc - 1, 9, code[3], code[4] == 0xF0);
                    bus_load(n, &bus);
                    cyc += skipped * 9;
                }
            }
            R_ABS(LDA);
        op_A9: R_IMM(LDA); op_A5: R_ZP(LDA); op_B5: R_ZPX(LDA);
        op_BD: R_ABX(LDA); op_B9: R_ABY(LDA); op_A1: R_IZX(LDA); op_B1: R_IZY(LDA);
        op_A2: R_IMM(LDX); op_A6: R_ZP(LDX); op_B6: R_ZPY(LDX); op_AE: R_ABS(LDX);
        op_BE: R_ABY(LDX);
        op_A0: R_IMM(LDY); op_A4: R_ZP(LDY); op_B4: R_ZPX(LDY); op_AC: R_ABS(LDY);
        op_BC: R_ABX(LDY);
        op_09: R_IMM(ORA); op_05: R_ZP(ORA); op_15: R_ZPX(ORA); op_0D: R_ABS(ORA);
        op_1D: R_ABX(ORA); op_19: R_ABY(ORA); op_01: R_IZX(ORA); op_11: R_IZY(ORA);
        op_29: R_IMM(AND); op_25: R_ZP(AND); op_35: R_ZPX(AND); op_2D: R_ABS(AND);
        op_3D: R_ABX(AND); op_39: R_ABY(AND); op_21: R_IZX(AND); op_31: R_IZY(AND);
        op_49: R_IMM(EOR); op_45: R_ZP(EOR); op_55: R_ZPX(EOR); op_4D: R_ABS(EOR);
        op_5D: R_ABX(EOR); op_59: R_ABY(EOR); op_41: R_IZX(EOR); op_51: R_IZY(EOR);
        op_69: R_IMM(ADC); op_65: R_ZP(ADC); op_75: R_ZPX(ADC); op_6D: R_ABS(ADC);
        op_7D: R_ABX(ADC); op_79: R_ABY(ADC); op_61: R_IZX(ADC); op_71: R_IZY(ADC);
        op_E9: op_EB: R_IMM(SBC); op_E5: R_ZP(SBC); op_F5: R_ZPX(SBC); op_ED: R_ABS(SBC);
        op_FD: R_ABX(SBC); op_F9: R_ABY(SBC); op_E1: R_IZX(SBC); op_F1: R_IZY(SBC);
        op_C9: R_IMM(CMP); op_C5: R_ZP(CMP); op_D5: R_ZPX(CMP); op_CD: R_ABS(CMP);
        op_DD: R_ABX(CMP); op_D9: R_ABY(CMP); op_C1: R_IZX(CMP); op_D1: R_IZY(CMP);
        op_E0: R_IMM(CPX); op_E4: R_ZP(CPX); op_EC: R_ABS(CPX);
        op_C0: R_IMM(CPY); op_C4: R_ZP(CPY); op_CC: R_ABS(CPY);
        op_24: R_ZP(BIT); op_2C: R_ABS(BIT);
        op_A7: R_ZP(LAX); op_B7: R_ZPY(LAX); op_AF: R_ABS(LAX); op_BF: R_ABY(LAX);
        op_A3: R_IZX(LAX); op_B3: R_IZY(LAX);

        /* Stores. */
        op_85: W_ZP(a); op_95: W_ZPX(a); op_8D: W_ABS(a); op_9D: W_ABX(a);
        op_99: W_ABY(a); op_81: W_IZX(a); op_91: W_IZY(a);
        op_86: W_ZP(x); op_96: W_ZPY(x); op_8E: W_ABS(x);
        op_84: W_ZP(y); op_94: W_ZPX(y); op_8C: W_ABS(y);
        op_87: W_ZP(a & x); op_97: W_ZPY(a & x); op_8F: W_ABS(a & x); op_83: W_IZX(a & x);

        /* Read-modify-write. */
        op_0A: IMPLIED(); v = a; ASL(); a = v; NEXT();
        op_4A: IMPLIED(); v = a; LSR(); a = v; NEXT();
        op_2A: IMPLIED(); v = a; ROL(); a = v; NEXT();
        op_6A: IMPLIED(); v = a; ROR(); a = v; NEXT();
        op_06: M_ZP(ASL); op_16: M_ZPX(ASL); op_0E: M_ABS(ASL); op_1E: M_ABX(ASL);
        op_46: M_ZP(LSR); op_56: M_ZPX(LSR); op_4E: M_ABS(LSR); op_5E: M_ABX(LSR);
        op_26: M_ZP(ROL); op_36: M_ZPX(ROL); op_2E: M_ABS(ROL); op_3E: M_ABX(ROL);
        op_66: M_ZP(ROR); op_76: M_ZPX(ROR); op_6E: M_ABS(ROR); op_7E: M_ABX(ROR);
        op_E6: M_ZP(INC); op_F6: M_ZPX(INC); op_EE: M_ABS(INC); op_FE: M_ABX(INC);
        op_C6: M_ZP(DEC); op_D6: M_ZPX(DEC); op_CE: M_ABS(DEC); op_DE: M_ABX(DEC);
        op_07: M_ZP(SLO); op_17: M_ZPX(SLO); op_0F: M_ABS(SLO); op_1F: M_ABX(SLO);
        op_1B: M_ABY(SLO); op_03: M_IZX(SLO); op_13: M_IZY(SLO);
        op_27: M_ZP(RLA); op_37: M_ZPX(RLA); op_2F: M_ABS(RLA); op_3F: M_ABX(RLA);
        op_3B: M_ABY(RLA); op_23: M_IZX(RLA); op_33: M_IZY(RLA);
        op_47: M_ZP(SRE); op_57: M_ZPX(SRE); op_4F: M_ABS(SRE); op_5F: M_ABX(SRE);
        op_5B: M_ABY(SRE); op_43: M_IZX(SRE); op_53: M_IZY(SRE);
        op_67: M_ZP(RRA); op_77: M_ZPX(RRA); op_6F: M_ABS(RRA); op_7F: M_ABX(RRA);
        op_7B: M_ABY(RRA); op_63: M_IZX(RRA); op_73: M_IZY(RRA);
        op_C7: M_ZP(DCP); op_D7: M_ZPX(DCP); op_CF: M_ABS(DCP); op_DF: M_ABX(DCP);
        op_DB: M_ABY(DCP); op_C3: M_IZX(DCP); op_D3: M_IZY(DCP);
        op_E7: M_ZP(ISC); op_F7: M_ZPX(ISC); op_EF: M_ABS(ISC); op_FF: M_ABX(ISC);
        op_FB: M_ABY(ISC); op_E3: M_IZX(ISC); op_F3: M_IZY(ISC);

        /* Immediate-only unofficial opcodes. */
        op_0B: op_2B: v = FETCH(); a &= v; SETNZ(a); p = (uint8_t)((p & ~P_C) | (a >> 7)); NEXT(); /* ANC */
        op_4B: v = FETCH(); a &= v; v = a; LSR(); a = v; NEXT();                                 /* ALR */
        op_6B: /* ARR: AND then ROR, with C and V taken from bits 6 and 5 of the result. */
            v = FETCH(); a = (uint8_t)(((a & v) >> 1) | ((p & P_C) << 7)); SETNZ(a);
            p = (uint8_t)((p & ~(P_C | P_V)) | ((a >> 6) & 1) | (((a >> 6) ^ (a >> 5)) & 1 ? P_V : 0));
            NEXT();
        op_CB: { /* AXS: X = (A & X) - imm, compare-style flags. */
            v = FETCH(); uint8_t ax = a & x; unsigned d = (unsigned)ax - v;
            p = (uint8_t)((p & ~P_C) | (ax >= v ? P_C : 0)); x = (uint8_t)d; SETNZ(x); NEXT(); }
        op_AB: v = FETCH(); a = x = v; SETNZ(a); NEXT();                                     /* LXA (magic $FF) */
        op_8B: v = FETCH(); a = (uint8_t)((a | 0xEE) & x & v); SETNZ(a); NEXT();             /* XAA */
        op_BB: AM_IDX_R(y); v = (uint8_t)(RD(addr) & s); a = x = s = v; SETNZ(v); NEXT();    /* LAS */
        op_9C: SH_STORE(y, x);
        op_9E: SH_STORE(x, y);
        op_9F: SH_STORE(a & x, y);
        op_9B: s = a & x; SH_STORE(s, y);
        op_93: { /* SHA (ind),Y */
            uint8_t b = FETCH(); uint16_t lo = RD(b); uint16_t hi = RD((uint8_t)(b + 1));
            uint16_t base = (uint16_t)(lo | (hi << 8)); addr = (uint16_t)(base + y);
            RD((base & 0xFF00) | (addr & 0xFF)); uint8_t val = (uint8_t)(a & x & (hi + 1));
            if ((base ^ addr) & 0x100) addr = (uint16_t)((addr & 0xFF) | (val << 8));
            WR(addr, val); NEXT(); }

        /* NOPs, official and not, with the reads they perform. */
        op_EA: op_1A: op_3A: op_5A: op_7A: op_DA: op_FA: IMPLIED(); NEXT();
        op_80: op_82: op_89: op_C2: op_E2: R_IMM(NOPR);
        op_04: op_44: op_64: R_ZP(NOPR);
        op_14: op_34: op_54: op_74: op_D4: op_F4: R_ZPX(NOPR);
        op_0C: R_ABS(NOPR);
        op_1C: op_3C: op_5C: op_7C: op_DC: op_FC: R_ABX(NOPR);

        /* Register transfers, increments, flags. */
        op_AA: IMPLIED(); x = a; SETNZ(x); NEXT();
        op_A8: IMPLIED(); y = a; SETNZ(y); NEXT();
        op_8A: IMPLIED(); a = x; SETNZ(a); NEXT();
        op_98: IMPLIED(); a = y; SETNZ(a); NEXT();
        op_BA: IMPLIED(); x = s; SETNZ(x); NEXT();
        op_9A: IMPLIED(); s = x; NEXT();
        op_E8: IMPLIED(); x++; SETNZ(x); NEXT();
        op_C8: IMPLIED(); y++; SETNZ(y); NEXT();
        op_CA: IMPLIED(); x--; SETNZ(x); NEXT();
        op_88: IMPLIED(); y--; SETNZ(y); NEXT();
        op_18: IMPLIED(); p &= (uint8_t)~P_C; NEXT();
        op_38: IMPLIED(); p |= P_C; NEXT();
        op_D8: IMPLIED(); p &= (uint8_t)~P_D; NEXT();
        op_F8: IMPLIED(); p |= P_D; NEXT();
        op_B8: IMPLIED(); p &= (uint8_t)~P_V; NEXT();
        /* CLI, SEI and PLP change I after their interrupt poll: the poll sees the old I. */
        op_58: IMPLIED(); n->cpu.poll_i = p & P_I; p &= (uint8_t)~P_I; bus.next_event = n->next_event = cyc; NEXT();
        op_78: IMPLIED(); n->cpu.poll_i = p & P_I; p |= P_I; bus.next_event = n->next_event = cyc; NEXT();

        /* Stack. */
        op_48: IMPLIED(); PUSH(a); NEXT();
        op_08: IMPLIED(); PUSH(p | P_B | P_U); NEXT();
        op_68: IMPLIED(); ZRD(0x100 | s); a = PULL(); SETNZ(a); NEXT();
        op_28: IMPLIED(); ZRD(0x100 | s); n->cpu.poll_i = p & P_I;
            p = (uint8_t)((PULL() & ~P_B) | P_U); bus.next_event = n->next_event = cyc; NEXT();

        /* Jumps and subroutines. */
        op_4C:
            AM_ABS();
            /* JMP to itself (a game's idle loop) only re-reads its own three ROM
             * bytes: skip whole 3-cycle iterations up to the next event. */
            if (addr == (uint16_t)(pc - 3) && addr >= 0x8000 && cyc < bus.next_event)
                cyc += (bus.next_event - cyc + 2) / 3 * 3;
            pc = addr;
            NEXT();
        op_6C: { /* JMP (ind): the pointer's high byte is read from the same page. */
            uint16_t lo = FETCH(); uint16_t ptr = (uint16_t)(lo | (fetch(n, pc, &bus) << 8));
            uint16_t t = RD(ptr); pc = (uint16_t)(t | (RD((ptr & 0xFF00) | ((ptr + 1) & 0xFF)) << 8));
            NEXT(); }
        op_20: { uint16_t lo = FETCH(); ZRD(0x100 | s); PUSH(pc >> 8); PUSH(pc & 0xFF);
            pc = (uint16_t)(lo | (fetch(n, pc, &bus) << 8)); NEXT(); }
        op_60: { IMPLIED(); ZRD(0x100 | s); uint16_t lo = PULL(); pc = (uint16_t)(lo | (PULL() << 8));
            fetch(n, pc, &bus); pc++; NEXT(); }
        op_40: { IMPLIED(); ZRD(0x100 | s); p = (uint8_t)((PULL() & ~P_B) | P_U);
            uint16_t lo = PULL(); pc = (uint16_t)(lo | (PULL() << 8)); bus.next_event = n->next_event = cyc; NEXT(); }
        op_00: { /* BRK: an NMI edge before the vector fetch takes over the vector. */
            FETCH(); PUSH(pc >> 8); PUSH(pc & 0xFF);
            uint16_t vec = 0xFFFE;
            if (nmi_hijacks(n, cyc)) vec = 0xFFFA;
            PUSH(p | P_B | P_U); p |= P_I;
            uint16_t lo = RD(vec); pc = (uint16_t)(lo | (RD(vec + 1) << 8));
            n->cpu.poll_i = 0xFF;
            n->cpu.sequence_end = cyc;
            NEXT(); }

        /* Branches. */
        op_10: BRANCH(!(p & P_N)); op_30: BRANCH(p & P_N);
        op_50: BRANCH(!(p & P_V)); op_70: BRANCH(p & P_V);
        op_90: BRANCH(!(p & P_C)); op_B0: BRANCH(p & P_C);
        op_D0: BRANCH(!(p & P_Z)); op_F0: BRANCH(p & P_Z);

        /* KIL: the CPU locks up until reset. */
        op_KIL:
            n->cpu.jammed = 1;
            pc--;
            if (cyc < bus.next_event) cyc = bus.next_event;
            NEXT();
            }
done:
#undef NEXT
    n->cycle = cyc;
    n->cpu.open_bus = bus.open_bus;
    n->cpu.pc = pc;
    n->cpu.a = a; n->cpu.x = x; n->cpu.y = y; n->cpu.s = s; n->cpu.p = p;
}

/* The 7-cycle interrupt sequence for NMI and IRQ (BRK is an opcode above). */
static void interrupt(nes *n, uint16_t vec)
{
    struct bus bus;
    bus_load(n, &bus);
    uint16_t pc = n->cpu.pc;
    uint8_t s = n->cpu.s;
    fetch(n, pc, &bus); fetch(n, pc, &bus);
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
    struct bus bus;
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
