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

static inline uint8_t rd(nes *n, uint16_t addr, uint64_t *cyc)
{
    uint8_t v;
    if (addr < 0x2000) {
        v = n->ram[addr & 0x7FF];
    } else if (addr >= 0x8000) {
        v = n->host.prg[(addr >> 13) & 3][addr & 0x1FFF];
    } else {
        n->cycle = *cyc;
        v = bus_read_io(n, addr);
        *cyc = n->cycle;
    }
    n->cpu.open_bus = v;
    (*cyc)++;
    return v;
}

static inline void wr(nes *n, uint16_t addr, uint8_t v, uint64_t *cyc)
{
    if (addr < 0x2000) {
        n->ram[addr & 0x7FF] = v;
    } else {
        n->cycle = *cyc;
        bus_write_io(n, addr, v);
        *cyc = n->cycle;
    }
    n->cpu.open_bus = v;
    (*cyc)++;
}

#define RD(a) rd(n, (uint16_t)(a), &cyc)
#define WR(a, v) wr(n, (uint16_t)(a), (uint8_t)(v), &cyc)
#define SETNZ(v) (p = (uint8_t)((p & 0x7D) | ((v) & 0x80) | ((uint8_t)(v) ? 0 : P_Z)))
#define PUSH(v) WR(0x100 | s--, (v))
#define PULL() RD(0x100 | ++s)

/* Addressing modes: each computes `addr` with the exact bus cycles. _R forms take
 * the page-cross penalty only when crossing; _W forms (stores, read-modify-write)
 * always spend the dummy read at the unfixed address. */
#define AM_ZP() addr = RD(pc++)
#define AM_ZPX() do { uint8_t b_ = RD(pc++); RD(b_); addr = (uint8_t)(b_ + x); } while (0)
#define AM_ZPY() do { uint8_t b_ = RD(pc++); RD(b_); addr = (uint8_t)(b_ + y); } while (0)
#define AM_ABS() do { uint16_t lo_ = RD(pc++); addr = (uint16_t)(lo_ | (RD(pc++) << 8)); } while (0)
#define AM_IDX_R(reg) do { uint16_t lo_ = RD(pc++); uint16_t base_ = (uint16_t)(lo_ | (RD(pc++) << 8)); \
        addr = (uint16_t)(base_ + (reg)); \
        if ((base_ ^ addr) & 0x100) RD((base_ & 0xFF00) | (addr & 0xFF)); } while (0)
#define AM_IDX_W(reg) do { uint16_t lo_ = RD(pc++); uint16_t base_ = (uint16_t)(lo_ | (RD(pc++) << 8)); \
        addr = (uint16_t)(base_ + (reg)); RD((base_ & 0xFF00) | (addr & 0xFF)); } while (0)
#define AM_IZX() do { uint8_t b_ = RD(pc++); RD(b_); b_ = (uint8_t)(b_ + x); \
        uint16_t lo_ = RD(b_); addr = (uint16_t)(lo_ | (RD((uint8_t)(b_ + 1)) << 8)); } while (0)
#define AM_IZY_R() do { uint8_t b_ = RD(pc++); uint16_t lo_ = RD(b_); \
        uint16_t base_ = (uint16_t)(lo_ | (RD((uint8_t)(b_ + 1)) << 8)); addr = (uint16_t)(base_ + y); \
        if ((base_ ^ addr) & 0x100) RD((base_ & 0xFF00) | (addr & 0xFF)); } while (0)
#define AM_IZY_W() do { uint8_t b_ = RD(pc++); uint16_t lo_ = RD(b_); \
        uint16_t base_ = (uint16_t)(lo_ | (RD((uint8_t)(b_ + 1)) << 8)); addr = (uint16_t)(base_ + y); \
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

#define R_IMM(op) v = RD(pc++); op(); break
#define R_ZP(op) AM_ZP(); v = RD(addr); op(); break
#define R_ZPX(op) AM_ZPX(); v = RD(addr); op(); break
#define R_ZPY(op) AM_ZPY(); v = RD(addr); op(); break
#define R_ABS(op) AM_ABS(); v = RD(addr); op(); break
#define R_ABX(op) AM_IDX_R(x); v = RD(addr); op(); break
#define R_ABY(op) AM_IDX_R(y); v = RD(addr); op(); break
#define R_IZX(op) AM_IZX(); v = RD(addr); op(); break
#define R_IZY(op) AM_IZY_R(); v = RD(addr); op(); break

#define M_DO(op) v = RD(addr); WR(addr, v); op(); WR(addr, v); break
#define M_ZP(op) AM_ZP(); M_DO(op)
#define M_ZPX(op) AM_ZPX(); M_DO(op)
#define M_ABS(op) AM_ABS(); M_DO(op)
#define M_ABX(op) AM_IDX_W(x); M_DO(op)
#define M_ABY(op) AM_IDX_W(y); M_DO(op)
#define M_IZX(op) AM_IZX(); M_DO(op)
#define M_IZY(op) AM_IZY_W(); M_DO(op)

#define W_ZP(val) AM_ZP(); WR(addr, val); break
#define W_ZPX(val) AM_ZPX(); WR(addr, val); break
#define W_ZPY(val) AM_ZPY(); WR(addr, val); break
#define W_ABS(val) AM_ABS(); WR(addr, val); break
#define W_ABX(val) AM_IDX_W(x); WR(addr, val); break
#define W_ABY(val) AM_IDX_W(y); WR(addr, val); break
#define W_IZX(val) AM_IZX(); WR(addr, val); break
#define W_IZY(val) AM_IZY_W(); WR(addr, val); break

#define IMPLIED() RD(pc)
#define BRANCH(cond) do { int8_t off_ = (int8_t)RD(pc++); \
        if (cond) { RD(pc); uint16_t to_ = (uint16_t)(pc + off_); \
            if ((to_ ^ pc) & 0xFF00) { RD((pc & 0xFF00) | (to_ & 0xFF)); } \
            else { n->cpu.branch_end = cyc; } \
            pc = to_; } } while (0); break

/* The unstable stores SHX/SHY/SHA/TAS: value ANDed with (high byte of the base + 1);
 * on a page cross the high byte of the address becomes that value. */
#define SH_STORE(val, reg) do { uint16_t lo_ = RD(pc++); uint16_t hi_ = RD(pc++); \
        uint16_t base_ = (uint16_t)(lo_ | (hi_ << 8)); addr = (uint16_t)(base_ + (reg)); \
        RD((base_ & 0xFF00) | (addr & 0xFF)); uint8_t val_ = (uint8_t)((val) & (hi_ + 1)); \
        if ((base_ ^ addr) & 0x100) addr = (uint16_t)((addr & 0xFF) | (val_ << 8)); \
        WR(addr, val_); } while (0); break

void cpu_run(nes *n)
{
    uint64_t cyc = n->cycle;
    uint16_t pc = n->cpu.pc;
    uint8_t a = n->cpu.a, x = n->cpu.x, y = n->cpu.y, s = n->cpu.s, p = n->cpu.p;
    uint16_t addr;
    uint8_t v;

    do {
        uint8_t op = RD(pc++);
        switch (op) {
        /* Loads, logic and arithmetic. */
        case 0xA9: R_IMM(LDA); case 0xA5: R_ZP(LDA); case 0xB5: R_ZPX(LDA); case 0xAD: R_ABS(LDA);
        case 0xBD: R_ABX(LDA); case 0xB9: R_ABY(LDA); case 0xA1: R_IZX(LDA); case 0xB1: R_IZY(LDA);
        case 0xA2: R_IMM(LDX); case 0xA6: R_ZP(LDX); case 0xB6: R_ZPY(LDX); case 0xAE: R_ABS(LDX);
        case 0xBE: R_ABY(LDX);
        case 0xA0: R_IMM(LDY); case 0xA4: R_ZP(LDY); case 0xB4: R_ZPX(LDY); case 0xAC: R_ABS(LDY);
        case 0xBC: R_ABX(LDY);
        case 0x09: R_IMM(ORA); case 0x05: R_ZP(ORA); case 0x15: R_ZPX(ORA); case 0x0D: R_ABS(ORA);
        case 0x1D: R_ABX(ORA); case 0x19: R_ABY(ORA); case 0x01: R_IZX(ORA); case 0x11: R_IZY(ORA);
        case 0x29: R_IMM(AND); case 0x25: R_ZP(AND); case 0x35: R_ZPX(AND); case 0x2D: R_ABS(AND);
        case 0x3D: R_ABX(AND); case 0x39: R_ABY(AND); case 0x21: R_IZX(AND); case 0x31: R_IZY(AND);
        case 0x49: R_IMM(EOR); case 0x45: R_ZP(EOR); case 0x55: R_ZPX(EOR); case 0x4D: R_ABS(EOR);
        case 0x5D: R_ABX(EOR); case 0x59: R_ABY(EOR); case 0x41: R_IZX(EOR); case 0x51: R_IZY(EOR);
        case 0x69: R_IMM(ADC); case 0x65: R_ZP(ADC); case 0x75: R_ZPX(ADC); case 0x6D: R_ABS(ADC);
        case 0x7D: R_ABX(ADC); case 0x79: R_ABY(ADC); case 0x61: R_IZX(ADC); case 0x71: R_IZY(ADC);
        case 0xE9: case 0xEB: R_IMM(SBC); case 0xE5: R_ZP(SBC); case 0xF5: R_ZPX(SBC); case 0xED: R_ABS(SBC);
        case 0xFD: R_ABX(SBC); case 0xF9: R_ABY(SBC); case 0xE1: R_IZX(SBC); case 0xF1: R_IZY(SBC);
        case 0xC9: R_IMM(CMP); case 0xC5: R_ZP(CMP); case 0xD5: R_ZPX(CMP); case 0xCD: R_ABS(CMP);
        case 0xDD: R_ABX(CMP); case 0xD9: R_ABY(CMP); case 0xC1: R_IZX(CMP); case 0xD1: R_IZY(CMP);
        case 0xE0: R_IMM(CPX); case 0xE4: R_ZP(CPX); case 0xEC: R_ABS(CPX);
        case 0xC0: R_IMM(CPY); case 0xC4: R_ZP(CPY); case 0xCC: R_ABS(CPY);
        case 0x24: R_ZP(BIT); case 0x2C: R_ABS(BIT);
        case 0xA7: R_ZP(LAX); case 0xB7: R_ZPY(LAX); case 0xAF: R_ABS(LAX); case 0xBF: R_ABY(LAX);
        case 0xA3: R_IZX(LAX); case 0xB3: R_IZY(LAX);

        /* Stores. */
        case 0x85: W_ZP(a); case 0x95: W_ZPX(a); case 0x8D: W_ABS(a); case 0x9D: W_ABX(a);
        case 0x99: W_ABY(a); case 0x81: W_IZX(a); case 0x91: W_IZY(a);
        case 0x86: W_ZP(x); case 0x96: W_ZPY(x); case 0x8E: W_ABS(x);
        case 0x84: W_ZP(y); case 0x94: W_ZPX(y); case 0x8C: W_ABS(y);
        case 0x87: W_ZP(a & x); case 0x97: W_ZPY(a & x); case 0x8F: W_ABS(a & x); case 0x83: W_IZX(a & x);

        /* Read-modify-write. */
        case 0x0A: IMPLIED(); v = a; ASL(); a = v; break;
        case 0x4A: IMPLIED(); v = a; LSR(); a = v; break;
        case 0x2A: IMPLIED(); v = a; ROL(); a = v; break;
        case 0x6A: IMPLIED(); v = a; ROR(); a = v; break;
        case 0x06: M_ZP(ASL); case 0x16: M_ZPX(ASL); case 0x0E: M_ABS(ASL); case 0x1E: M_ABX(ASL);
        case 0x46: M_ZP(LSR); case 0x56: M_ZPX(LSR); case 0x4E: M_ABS(LSR); case 0x5E: M_ABX(LSR);
        case 0x26: M_ZP(ROL); case 0x36: M_ZPX(ROL); case 0x2E: M_ABS(ROL); case 0x3E: M_ABX(ROL);
        case 0x66: M_ZP(ROR); case 0x76: M_ZPX(ROR); case 0x6E: M_ABS(ROR); case 0x7E: M_ABX(ROR);
        case 0xE6: M_ZP(INC); case 0xF6: M_ZPX(INC); case 0xEE: M_ABS(INC); case 0xFE: M_ABX(INC);
        case 0xC6: M_ZP(DEC); case 0xD6: M_ZPX(DEC); case 0xCE: M_ABS(DEC); case 0xDE: M_ABX(DEC);
        case 0x07: M_ZP(SLO); case 0x17: M_ZPX(SLO); case 0x0F: M_ABS(SLO); case 0x1F: M_ABX(SLO);
        case 0x1B: M_ABY(SLO); case 0x03: M_IZX(SLO); case 0x13: M_IZY(SLO);
        case 0x27: M_ZP(RLA); case 0x37: M_ZPX(RLA); case 0x2F: M_ABS(RLA); case 0x3F: M_ABX(RLA);
        case 0x3B: M_ABY(RLA); case 0x23: M_IZX(RLA); case 0x33: M_IZY(RLA);
        case 0x47: M_ZP(SRE); case 0x57: M_ZPX(SRE); case 0x4F: M_ABS(SRE); case 0x5F: M_ABX(SRE);
        case 0x5B: M_ABY(SRE); case 0x43: M_IZX(SRE); case 0x53: M_IZY(SRE);
        case 0x67: M_ZP(RRA); case 0x77: M_ZPX(RRA); case 0x6F: M_ABS(RRA); case 0x7F: M_ABX(RRA);
        case 0x7B: M_ABY(RRA); case 0x63: M_IZX(RRA); case 0x73: M_IZY(RRA);
        case 0xC7: M_ZP(DCP); case 0xD7: M_ZPX(DCP); case 0xCF: M_ABS(DCP); case 0xDF: M_ABX(DCP);
        case 0xDB: M_ABY(DCP); case 0xC3: M_IZX(DCP); case 0xD3: M_IZY(DCP);
        case 0xE7: M_ZP(ISC); case 0xF7: M_ZPX(ISC); case 0xEF: M_ABS(ISC); case 0xFF: M_ABX(ISC);
        case 0xFB: M_ABY(ISC); case 0xE3: M_IZX(ISC); case 0xF3: M_IZY(ISC);

        /* Immediate-only unofficial opcodes. */
        case 0x0B: case 0x2B: v = RD(pc++); a &= v; SETNZ(a); p = (uint8_t)((p & ~P_C) | (a >> 7)); break; /* ANC */
        case 0x4B: v = RD(pc++); a &= v; v = a; LSR(); a = v; break;                                 /* ALR */
        case 0x6B: /* ARR: AND then ROR, with C and V taken from bits 6 and 5 of the result. */
            v = RD(pc++); a = (uint8_t)(((a & v) >> 1) | ((p & P_C) << 7)); SETNZ(a);
            p = (uint8_t)((p & ~(P_C | P_V)) | ((a >> 6) & 1) | (((a >> 6) ^ (a >> 5)) & 1 ? P_V : 0));
            break;
        case 0xCB: { /* AXS: X = (A & X) - imm, compare-style flags. */
            v = RD(pc++); uint8_t ax = a & x; unsigned d = (unsigned)ax - v;
            p = (uint8_t)((p & ~P_C) | (ax >= v ? P_C : 0)); x = (uint8_t)d; SETNZ(x); break; }
        case 0xAB: v = RD(pc++); a = x = (uint8_t)((a | 0xEE) & v); SETNZ(a); break;            /* LXA */
        case 0x8B: v = RD(pc++); a = (uint8_t)((a | 0xEE) & x & v); SETNZ(a); break;             /* XAA */
        case 0xBB: AM_IDX_R(y); v = (uint8_t)(RD(addr) & s); a = x = s = v; SETNZ(v); break;    /* LAS */
        case 0x9C: SH_STORE(y, x);
        case 0x9E: SH_STORE(x, y);
        case 0x9F: SH_STORE(a & x, y);
        case 0x9B: s = a & x; SH_STORE(s, y);
        case 0x93: { /* SHA (ind),Y */
            uint8_t b = RD(pc++); uint16_t lo = RD(b); uint16_t hi = RD((uint8_t)(b + 1));
            uint16_t base = (uint16_t)(lo | (hi << 8)); addr = (uint16_t)(base + y);
            RD((base & 0xFF00) | (addr & 0xFF)); uint8_t val = (uint8_t)(a & x & (hi + 1));
            if ((base ^ addr) & 0x100) addr = (uint16_t)((addr & 0xFF) | (val << 8));
            WR(addr, val); break; }

        /* NOPs, official and not, with the reads they perform. */
        case 0xEA: case 0x1A: case 0x3A: case 0x5A: case 0x7A: case 0xDA: case 0xFA: IMPLIED(); break;
        case 0x80: case 0x82: case 0x89: case 0xC2: case 0xE2: R_IMM(NOPR);
        case 0x04: case 0x44: case 0x64: R_ZP(NOPR);
        case 0x14: case 0x34: case 0x54: case 0x74: case 0xD4: case 0xF4: R_ZPX(NOPR);
        case 0x0C: R_ABS(NOPR);
        case 0x1C: case 0x3C: case 0x5C: case 0x7C: case 0xDC: case 0xFC: R_ABX(NOPR);

        /* Register transfers, increments, flags. */
        case 0xAA: IMPLIED(); x = a; SETNZ(x); break;
        case 0xA8: IMPLIED(); y = a; SETNZ(y); break;
        case 0x8A: IMPLIED(); a = x; SETNZ(a); break;
        case 0x98: IMPLIED(); a = y; SETNZ(a); break;
        case 0xBA: IMPLIED(); x = s; SETNZ(x); break;
        case 0x9A: IMPLIED(); s = x; break;
        case 0xE8: IMPLIED(); x++; SETNZ(x); break;
        case 0xC8: IMPLIED(); y++; SETNZ(y); break;
        case 0xCA: IMPLIED(); x--; SETNZ(x); break;
        case 0x88: IMPLIED(); y--; SETNZ(y); break;
        case 0x18: IMPLIED(); p &= (uint8_t)~P_C; break;
        case 0x38: IMPLIED(); p |= P_C; break;
        case 0xD8: IMPLIED(); p &= (uint8_t)~P_D; break;
        case 0xF8: IMPLIED(); p |= P_D; break;
        case 0xB8: IMPLIED(); p &= (uint8_t)~P_V; break;
        /* CLI, SEI and PLP change I after their interrupt poll: the poll sees the old I. */
        case 0x58: IMPLIED(); n->cpu.poll_i = p & P_I; p &= (uint8_t)~P_I; n->next_event = cyc; break;
        case 0x78: IMPLIED(); n->cpu.poll_i = p & P_I; p |= P_I; n->next_event = cyc; break;

        /* Stack. */
        case 0x48: IMPLIED(); PUSH(a); break;
        case 0x08: IMPLIED(); PUSH(p | P_B | P_U); break;
        case 0x68: IMPLIED(); RD(0x100 | s); a = PULL(); SETNZ(a); break;
        case 0x28: IMPLIED(); RD(0x100 | s); n->cpu.poll_i = p & P_I;
            p = (uint8_t)((PULL() & ~P_B) | P_U); n->next_event = cyc; break;

        /* Jumps and subroutines. */
        case 0x4C: AM_ABS(); pc = addr; break;
        case 0x6C: { /* JMP (ind): the pointer's high byte is read from the same page. */
            uint16_t lo = RD(pc++); uint16_t ptr = (uint16_t)(lo | (RD(pc) << 8));
            uint16_t t = RD(ptr); pc = (uint16_t)(t | (RD((ptr & 0xFF00) | ((ptr + 1) & 0xFF)) << 8));
            break; }
        case 0x20: { uint16_t lo = RD(pc++); RD(0x100 | s); PUSH(pc >> 8); PUSH(pc & 0xFF);
            pc = (uint16_t)(lo | (RD(pc) << 8)); break; }
        case 0x60: { IMPLIED(); RD(0x100 | s); uint16_t lo = PULL(); pc = (uint16_t)(lo | (PULL() << 8));
            RD(pc); pc++; break; }
        case 0x40: { IMPLIED(); RD(0x100 | s); p = (uint8_t)((PULL() & ~P_B) | P_U);
            uint16_t lo = PULL(); pc = (uint16_t)(lo | (PULL() << 8)); n->next_event = cyc; break; }
        case 0x00: { /* BRK: an NMI edge before the vector fetch takes over the vector. */
            RD(pc++); PUSH(pc >> 8); PUSH(pc & 0xFF);
            uint16_t vec = 0xFFFE;
            if (n->cpu.nmi_edge < cyc) { vec = 0xFFFA; n->cpu.nmi_edge = NES_NEVER; }
            PUSH(p | P_B | P_U); p |= P_I;
            uint16_t lo = RD(vec); pc = (uint16_t)(lo | (RD(vec + 1) << 8));
            n->cpu.poll_i = 0xFF;
            break; }

        /* Branches. */
        case 0x10: BRANCH(!(p & P_N)); case 0x30: BRANCH(p & P_N);
        case 0x50: BRANCH(!(p & P_V)); case 0x70: BRANCH(p & P_V);
        case 0x90: BRANCH(!(p & P_C)); case 0xB0: BRANCH(p & P_C);
        case 0xD0: BRANCH(!(p & P_Z)); case 0xF0: BRANCH(p & P_Z);

        /* KIL: the CPU locks up until reset. */
        default:
            n->cpu.jammed = 1;
            pc--;
            if (cyc < n->next_event) cyc = n->next_event;
            break;
        }
    } while (cyc < n->next_event);
    n->cycle = cyc;
    n->cpu.pc = pc;
    n->cpu.a = a; n->cpu.x = x; n->cpu.y = y; n->cpu.s = s; n->cpu.p = p;
}

/* The 7-cycle interrupt sequence for NMI and IRQ (BRK is an opcode above). */
static void interrupt(nes *n, uint16_t vec)
{
    uint64_t cyc = n->cycle;
    uint16_t pc = n->cpu.pc;
    uint8_t s = n->cpu.s;
    RD(pc); RD(pc);
    PUSH(pc >> 8); PUSH(pc & 0xFF);
    /* An NMI edge during the first cycles of an IRQ sequence hijacks its vector. */
    if (vec == 0xFFFE && n->cpu.nmi_edge < cyc) {
        vec = 0xFFFA;
        n->cpu.nmi_edge = NES_NEVER;
    }
    PUSH((n->cpu.p & ~P_B) | P_U);
    n->cpu.p |= P_I;
    uint16_t lo = RD(vec);
    pc = (uint16_t)(lo | (RD(vec + 1) << 8));
    n->cpu.pc = pc;
    n->cpu.s = s;
    n->cycle = cyc;
}

void cpu_check_interrupts(nes *n)
{
    struct cpu *c = &n->cpu;
    /* The poll happened at the end of the instruction's second-to-last cycle;
     * a taken branch that stayed on its page polled one cycle earlier still. */
    uint64_t poll = n->cycle - 2 - (c->branch_end == n->cycle);
    uint8_t i_flag = c->poll_i != 0xFF ? c->poll_i : (c->p & P_I);
    c->poll_i = 0xFF;
    if (c->jammed)
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
    c->nmi_edge = NES_NEVER;
    cpu_reset(n);
}

/* Reset: the interrupt sequence with the writes turned into reads (S drops by 3). */
void cpu_reset(nes *n)
{
    struct cpu *c = &n->cpu;
    uint64_t cyc = n->cycle;
    RD(c->pc); RD(c->pc);
    RD(0x100 | c->s); c->s--;
    RD(0x100 | c->s); c->s--;
    RD(0x100 | c->s); c->s--;
    c->p |= P_I;
    c->jammed = 0;
    uint16_t lo = RD(0xFFFC);
    c->pc = (uint16_t)(lo | (RD(0xFFFD) << 8));
    n->cycle = cyc;
}
