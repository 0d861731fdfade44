/* jit.c: 6502 -> x86-64 translation of fixed PRG ROM code (see jit.h).
 *
 * A block is the straight-line code from one guest address up to an
 * unconditional jump, JSR, RTS or an instruction left to the interpreter
 * (conditional branches leave it when taken, or loop inside it). The
 * interpreter tests the clock against next_event before every instruction;
 * a block tests once, on entry, that all of its instructions would start
 * before the event, and again after each call into C (a register write can
 * move the event) and at each loop back. Where it cannot, the interpreter
 * runs up to the event, so events, interrupts and single-stepping see the
 * same instruction boundaries. Cycles are summed at translation time and
 * added to the clock register only where something reads it. An instruction
 * that finds its operand outside RAM and ROM at run time (an indirect access
 * to I/O) leaves before it has changed anything, and the interpreter runs it.
 *
 * Guest state in host registers while translated code runs:
 *   rbx the nes, r12 the clock (behind by the cycles summed since the last
 *   update: `pending` in the translator),
 *   r13 next_event, r14d A, r15d X, ebp Y, r8d the lazy N/Z value (as in
 *   cpu.c: Z when its low byte is 0, N when bit 7 or 8 is set), r9d the carry
 *   (0 or 1), r10d S, r11d the other status bits (V, D, I, B, U).
 * r8-r11 are caller-saved: they are pushed around calls into C. */
#include "nes/jit.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__linux__)

#include <sys/mman.h>

enum { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15 };
enum { G_N = RBX, G_CYC = R12, G_LIM = R13, G_A = R14, G_X = R15, G_Y = RBP,
       G_NZ = R8, G_C = R9, G_S = R10, G_P = R11 };
/* x86 condition codes. */
enum { CC_B = 2, CC_AE = 3, CC_E = 4, CC_NE = 5, CC_A = 7 };
/* Group-1 ALU operations (opcode 0x81 /ext) and their register forms. */
enum { ALU_ADD = 0, ALU_OR = 1, ALU_AND = 4, ALU_SUB = 5, ALU_XOR = 6, ALU_CMP = 7 };
enum { RR_ADD = 0x01, RR_OR = 0x09, RR_AND = 0x21, RR_SUB = 0x29, RR_XOR = 0x31, RR_CMP = 0x39, RR_TEST = 0x85 };

#define JIT_CODE_SIZE (4u << 20)
#define JIT_BLOCK_MAX 48        /* guest instructions per block */
#define JIT_BLOCK_ROOM 16384    /* host bytes a block may take at most */
#define JIT_EXITS (JIT_BLOCK_MAX * 6)
#define JIT_CHAINS 16384        /* jumps through the block table waiting for their target */

struct jit_regs {
    uint64_t cyc, limit;
    uint32_t a, x, y, nz, c, s, p;
};

enum { BLOCK_UNTRIED = 0, BLOCK_TRANSLATED = 1, BLOCK_INTERPRETED = 2 };

struct jit {
    uint8_t *code;
    size_t used;          /* bytes of `code` in use */
    size_t blocks_from;   /* where blocks begin (after the entry and exit code) */
    size_t limit;         /* bytes of `code` blocks may fill before all are dropped */
    unsigned flushes;
    void (*enter)(nes *n, const void *block, struct jit_regs *r);
    const uint8_t *epilogue;
    const void *block[0x8000];   /* entry of the block at each CPU address $8000-$FFFF */
    uint8_t status[0x8000];      /* BLOCK_* */
    uint8_t rom[0x10000];        /* the CPU address space $8000-$FFFF as mapped */
    const uint8_t *prg[4];       /* the PRG windows' host addresses (for run_split) */
    /* Jumps to a block not yet translated go through `block`; each is listed
     * under its target and turned into a direct jump once the target exists. */
    uint8_t *chain_site[JIT_CHAINS];
    int32_t chain_next[JIT_CHAINS];
    int32_t chain_head[0x8000];  /* -1: none */
    int nchains;
    struct jit_regs regs;
    uint8_t near_event;          /* set by an exit for lack of room before the next event */
    uint8_t stuck;               /* the code buffer could not be made executable again */
};

/* ---- The encoder: just the x86-64 forms the translator uses. ---- */

struct emit {
    uint8_t *p, *end;
    int full;
};

static void e8(struct emit *e, unsigned v)
{
    if (e->p < e->end)
        *e->p++ = (uint8_t)v;
    else
        e->full = 1;
}

static void e32(struct emit *e, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        e8(e, (v >> (8 * i)) & 0xFF);
}

/* A register or memory operand: [base + index << scale + disp32]. */
struct opnd {
    int base, index, scale, is_reg;
    int32_t disp;
};

static struct opnd R(int r) { return (struct opnd){.base = r, .index = -1, .is_reg = 1}; }
static struct opnd M(int base, int32_t disp) { return (struct opnd){.base = base, .index = -1, .disp = disp}; }
static struct opnd MX(int base, int index, int scale, int32_t disp)
{
    return (struct opnd){.base = base, .index = index, .scale = scale, .disp = disp};
}

/* One instruction: optional 0x66, REX (forced for byte registers, so that
 * 4-7 are spl..dil), the opcode bytes, ModRM (reg = register or /ext) and
 * the memory operand with a 32-bit displacement. */
static void ins(struct emit *e, int w, int byte, int p66, unsigned op, int oplen, int reg, struct opnd m)
{
    if (p66)
        e8(e, 0x66);
    unsigned rex = 0x40 | (w ? 8 : 0) | ((reg & 8) ? 4 : 0) | (!m.is_reg && m.index >= 0 && (m.index & 8) ? 2 : 0) |
                   ((m.base & 8) ? 1 : 0);
    if (rex != 0x40 || byte)
        e8(e, rex);
    for (int i = oplen - 1; i >= 0; i--)
        e8(e, (op >> (8 * i)) & 0xFF);
    if (m.is_reg) {
        e8(e, 0xC0 | (reg & 7) << 3 | (m.base & 7));
        return;
    }
    if (m.index >= 0 || (m.base & 7) == RSP) {
        e8(e, 0x84 | (reg & 7) << 3);
        e8(e, (unsigned)m.scale << 6 | (unsigned)((m.index >= 0 ? m.index : RSP) & 7) << 3 | (m.base & 7));
    } else {
        e8(e, 0x80 | (reg & 7) << 3 | (m.base & 7));
    }
    e32(e, (uint32_t)m.disp);
}

static void mov_rr(struct emit *e, int dst, int src) { ins(e, 0, 0, 0, 0x89, 1, src, R(dst)); }
static void alu_rr(struct emit *e, unsigned op, int dst, int src) { ins(e, 0, 0, 0, op, 1, src, R(dst)); }
static void alu_ri(struct emit *e, int ext, int dst, uint32_t imm) { ins(e, 0, 0, 0, 0x81, 1, ext, R(dst)); e32(e, imm); }
static void alu64_ri(struct emit *e, int ext, int dst, uint32_t imm) { ins(e, 1, 0, 0, 0x81, 1, ext, R(dst)); e32(e, imm); }
static void alu64_rr(struct emit *e, unsigned op, int dst, int src) { ins(e, 1, 0, 0, op, 1, src, R(dst)); }
static void mov_ri(struct emit *e, int dst, uint32_t imm)
{
    if (dst & 8)
        e8(e, 0x41);
    e8(e, 0xB8 + (dst & 7));
    e32(e, imm);
}
static void movabs(struct emit *e, int dst, uint64_t imm)
{
    e8(e, 0x48 | ((dst & 8) ? 1 : 0));
    e8(e, 0xB8 + (dst & 7));
    e32(e, (uint32_t)imm);
    e32(e, (uint32_t)(imm >> 32));
}
static void load8(struct emit *e, int dst, struct opnd m) { ins(e, 0, 0, 0, 0x0FB6, 2, dst, m); } /* movzx r32, byte */
static void zext8(struct emit *e, int dst, int src) { ins(e, 0, 1, 0, 0x0FB6, 2, dst, R(src)); }
static void store8(struct emit *e, struct opnd m, int src) { ins(e, 0, 1, 0, 0x88, 1, src, m); }
static void store8_imm(struct emit *e, struct opnd m, uint8_t imm) { ins(e, 0, 0, 0, 0xC6, 1, 0, m); e8(e, imm); }
static void load64(struct emit *e, int dst, struct opnd m) { ins(e, 1, 0, 0, 0x8B, 1, dst, m); }
static void store64(struct emit *e, struct opnd m, int src) { ins(e, 1, 0, 0, 0x89, 1, src, m); }
static void load32(struct emit *e, int dst, struct opnd m) { ins(e, 0, 0, 0, 0x8B, 1, dst, m); }
static void store32(struct emit *e, struct opnd m, int src) { ins(e, 0, 0, 0, 0x89, 1, src, m); }
static void store16(struct emit *e, struct opnd m, int src) { ins(e, 0, 0, 1, 0x89, 1, src, m); }
static void store16_imm(struct emit *e, struct opnd m, uint16_t imm)
{
    ins(e, 0, 0, 1, 0xC7, 1, 0, m);
    e8(e, imm & 0xFF);
    e8(e, imm >> 8);
}
static void lea32(struct emit *e, int dst, struct opnd m) { ins(e, 0, 0, 0, 0x8D, 1, dst, m); }
static void lea64(struct emit *e, int dst, struct opnd m) { ins(e, 1, 0, 0, 0x8D, 1, dst, m); }
static void shl_ri(struct emit *e, int dst, uint8_t n) { ins(e, 0, 0, 0, 0xC1, 1, 4, R(dst)); e8(e, n); }
static void shr_ri(struct emit *e, int dst, uint8_t n) { ins(e, 0, 0, 0, 0xC1, 1, 5, R(dst)); e8(e, n); }
static void not32(struct emit *e, int dst) { ins(e, 0, 0, 0, 0xF7, 1, 2, R(dst)); }
static void test_ri(struct emit *e, int dst, uint32_t imm) { ins(e, 0, 0, 0, 0xF7, 1, 0, R(dst)); e32(e, imm); }
static void test8_rr(struct emit *e, int a, int b) { ins(e, 0, 1, 0, 0x84, 1, b, R(a)); }
static void setcc(struct emit *e, int cc, int dst) { ins(e, 0, 1, 0, 0x0F90u + (unsigned)cc, 2, 0, R(dst)); }
static void inc8(struct emit *e, int dst) { ins(e, 0, 1, 0, 0xFE, 1, 0, R(dst)); }
static void dec8(struct emit *e, int dst) { ins(e, 0, 1, 0, 0xFE, 1, 1, R(dst)); }
static void jmp_reg(struct emit *e, int r) { ins(e, 0, 0, 0, 0xFF, 1, 4, R(r)); }
static void call_reg(struct emit *e, int r) { ins(e, 0, 0, 0, 0xFF, 1, 2, R(r)); }
static void push(struct emit *e, int r)
{
    if (r & 8)
        e8(e, 0x41);
    e8(e, 0x50 + (r & 7));
}
static void pop(struct emit *e, int r)
{
    if (r & 8)
        e8(e, 0x41);
    e8(e, 0x58 + (r & 7));
}
/* Jumps with a 32-bit displacement, patched when the target is known. */
static uint8_t *jcc(struct emit *e, int cc)
{
    e8(e, 0x0F);
    e8(e, 0x80 + cc);
    uint8_t *at = e->p;
    e32(e, 0);
    return at;
}
static uint8_t *jmp(struct emit *e)
{
    e8(e, 0xE9);
    uint8_t *at = e->p;
    e32(e, 0);
    return at;
}
static void patch(struct emit *e, uint8_t *at, const uint8_t *to)
{
    if (e->full)
        return;
    int32_t rel = (int32_t)(to - (at + 4));
    memcpy(at, &rel, 4);
}
static void jmp_to(struct emit *e, const uint8_t *to) { patch(e, jmp(e), to); }

/* ---- Calls into C for accesses to I/O space. ---- */

/* The interpreters' rd()/wr() for an address that is neither RAM nor ROM, at
 * CPU cycle `cycle`; the translated code reloads the clock and next_event
 * after the call (a DMA stalls the CPU, a register write reschedules). */
static uint8_t jit_read_io(nes *n, uint32_t addr, uint32_t prior, uint64_t cycle)
{
    n->cycle = cycle;
    n->cpu.open_bus = (uint8_t)prior;
    uint8_t v = bus_read_io(n, (uint16_t)addr);
    n->cpu.open_bus = v;
    return v;
}

static void jit_write_io(nes *n, uint32_t addr, uint32_t value, uint64_t cycle)
{
    n->cycle = cycle;
    n->cpu.open_bus = (uint8_t)value;
    bus_write_io(n, (uint16_t)addr, (uint8_t)value);
    n->cpu.open_bus = (uint8_t)value;
}

/* An indexed read (abs,X / abs,Y) from I/O space, both its accesses: the
 * dummy read at the unfixed address when the index crosses a page, then the
 * read; `cycle` is that of the first. n->cycle is left at the last one. */
static uint8_t jit_read_io_indexed(nes *n, uint32_t base, uint32_t index, uint64_t cycle)
{
    uint16_t addr = (uint16_t)(base + index);
    uint8_t prior = (uint8_t)(base >> 8);
    if ((base ^ addr) & 0x100) {
        prior = jit_read_io(n, (base & 0xFF00) | (addr & 0xFF), prior, cycle);
        cycle = n->cycle + 1;
    }
    return jit_read_io(n, addr, prior, cycle);
}

/* ---- The translator. ---- */

#define RAM_AT(disp) ((int32_t)offsetof(nes, ram) + (int32_t)(disp))

struct exit_ref {
    uint8_t *at;       /* a jump to patch */
    uint16_t pc;       /* the guest address the exit leaves at */
    uint8_t near;      /* leaves because the next event is too close (jit_run's JIT_NEAR_EVENT) */
    uint32_t pending;  /* cycles the clock is behind there */
};

/* A displacement to fill in once the block's length in cycles is known: the
 * most cycles instructions from..end can take, plus `extra`. */
struct room_fixup {
    uint8_t *at;
    int from;
    uint32_t extra;
};

/* Cycles are counted at translation time: `pending` is how far the clock
 * register is behind the guest clock at the point being emitted, added to
 * it only where something looks (a call, an exit, another block, branch_end). */
struct tr {
    struct jit *j;
    struct emit e;
    uint16_t pcs[JIT_BLOCK_MAX];
    uint8_t *code_at[JIT_BLOCK_MAX];
    uint32_t pending_at[JIT_BLOCK_MAX];  /* `pending` where each instruction begins */
    uint32_t max_cycles[JIT_BLOCK_MAX];  /* the most each one takes */
    int count;
    uint32_t pending;
    uint32_t instr_max;                  /* the instruction being emitted: its most cycles */
    int called;                          /* it called into C (next_event may have moved) */
    struct exit_ref exits[JIT_EXITS];
    int nexits;
    struct room_fixup fixups[JIT_BLOCK_MAX * 2 + 2];
    int nfixups;
    uint8_t *chain_site[JIT_BLOCK_MAX + 1];
    uint16_t chain_to[JIT_BLOCK_MAX + 1];
    int nchains;
};

/* A jump (already emitted, rel32 at `at`) to a stub that leaves at guest address pc. */
static void exit_ref_add(struct tr *t, uint8_t *at, uint16_t pc, int near, uint32_t pending)
{
    if (t->nexits < JIT_EXITS)
        t->exits[t->nexits++] = (struct exit_ref){at, pc, (uint8_t)near, pending};
    else
        t->e.full = 1; /* the block is discarded and interpreted */
}

static void exit_later(struct tr *t, uint8_t *at, uint16_t pc) { exit_ref_add(t, at, pc, 0, t->pending); }

static void flush_cycles(struct tr *t)
{
    if (t->pending)
        alu64_ri(&t->e, ALU_ADD, G_CYC, t->pending);
    t->pending = 0;
}

/* The instruction being emitted takes `cycles` (at most `max`, with its
 * page-cross or branch cycles). */
static void add_cycles(struct tr *t, uint32_t cycles, uint32_t max)
{
    t->pending += cycles;
    t->instr_max = max;
}

static void exit_now(struct tr *t, uint16_t pc)
{
    flush_cycles(t);
    store16_imm(&t->e, M(G_N, (int32_t)offsetof(nes, cpu.pc)), pc);
    jmp_to(&t->e, t->j->epilogue);
}

/* Leaves at pc, to the interpreter up to the next event, when the clock
 * (r12 + extra) plus the most cycles that instructions from..end take passes
 * next_event: the instructions between need no test of their own. */
static void check_room(struct tr *t, int from, uint32_t extra, uint16_t pc, uint32_t exit_pending)
{
    struct emit *e = &t->e;
    lea64(e, RAX, M(G_CYC, 0));
    if (t->nfixups < (int)(sizeof t->fixups / sizeof t->fixups[0]))
        t->fixups[t->nfixups++] = (struct room_fixup){e->p - 4, from, extra};
    else
        e->full = 1;
    ins(e, 1, 0, 0, RR_CMP, 1, G_LIM, R(RAX));
    exit_ref_add(t, jcc(e, CC_A), pc, 1, exit_pending);
}

/* Continue at a constant guest address: straight into its block when there
 * is one, else through the block table (a block translated later is found
 * there), else out to the caller. */
static void go_to(struct tr *t, uint16_t to)
{
    struct emit *e = &t->e;
    flush_cycles(t);
    if (to < 0x8000) {
        exit_now(t, to);
        return;
    }
    if (t->j->status[to - 0x8000] == BLOCK_TRANSLATED) {
        jmp_to(e, t->j->block[to - 0x8000]);
        return;
    }
    if (t->nchains < JIT_BLOCK_MAX + 1) {
        t->chain_site[t->nchains] = e->p;
        t->chain_to[t->nchains++] = to;
    }
    movabs(e, RAX, (uint64_t)(uintptr_t)&t->j->block[to - 0x8000]);
    load64(e, RAX, M(RAX, 0));
    alu64_rr(e, RR_TEST, RAX, RAX);
    exit_later(t, jcc(e, CC_E), to);
    jmp_reg(e, RAX);
}

/* Continue at the guest address in eax (RTS, JMP (ind)). */
static void go_to_eax(struct tr *t)
{
    struct emit *e = &t->e;
    flush_cycles(t);
    alu_ri(e, ALU_CMP, RAX, 0x8000);
    uint8_t *low = jcc(e, CC_B);
    movabs(e, RDX, (uint64_t)(uintptr_t)t->j->block - 0x8000u * sizeof(void *));
    load64(e, RDX, MX(RDX, RAX, 3, 0));
    alu64_rr(e, RR_TEST, RDX, RDX);
    uint8_t *none = jcc(e, CC_E);
    jmp_reg(e, RDX);
    patch(e, low, e->p);
    patch(e, none, e->p);
    store16(e, M(G_N, (int32_t)offsetof(nes, cpu.pc)), RAX);
    jmp_to(e, t->j->epilogue);
}

/* Calls fn(n, esi, edx, r12 + k) with the guest's caller-saved registers kept;
 * afterwards the clock is the cycle of the access minus k, so the
 * instruction's own cycle count still lands it right. */
static void call_c(struct tr *t, const void *fn, int k)
{
    struct emit *e = &t->e;
    flush_cycles(t);
    t->called = 1;
    push(e, R8); push(e, R9); push(e, R10); push(e, R11);
    ins(e, 1, 0, 0, 0x89, 1, G_N, R(RDI)); /* mov rdi, rbx */
    lea64(e, RCX, M(G_CYC, k));
    movabs(e, RAX, (uint64_t)(uintptr_t)fn);
    call_reg(e, RAX);
    pop(e, R11); pop(e, R10); pop(e, R9); pop(e, R8);
    load64(e, G_CYC, M(G_N, (int32_t)offsetof(nes, cycle)));
    alu64_ri(e, ALU_SUB, G_CYC, (uint32_t)k);
    load64(e, G_LIM, M(G_N, (int32_t)offsetof(nes, next_event)));
}

enum mode { M_IMP, M_ACC, M_IMM, M_ZP, M_ZPX, M_ZPY, M_ABS, M_ABX, M_ABY, M_IZX, M_IZY, M_REL };
enum kind { K_NONE, K_LDA, K_LDX, K_LDY, K_ORA, K_AND, K_EOR, K_ADC, K_SBC, K_CMP, K_CPX, K_CPY, K_BIT,
            K_STA, K_STX, K_STY, K_ASL, K_LSR, K_ROL, K_ROR, K_INC, K_DEC };

struct opinfo {
    uint8_t kind, mode;
};

static struct opinfo opinfo(uint8_t op)
{
    /* The eight-opcode groups of ORA..CMP and LDA: imm, zp, zp+x, abs, abs+x, abs+y, (zp,x), (zp),y. */
    static const uint8_t group_ops[8][8] = {
        {0x09, 0x05, 0x15, 0x0D, 0x1D, 0x19, 0x01, 0x11}, {0x29, 0x25, 0x35, 0x2D, 0x3D, 0x39, 0x21, 0x31},
        {0x49, 0x45, 0x55, 0x4D, 0x5D, 0x59, 0x41, 0x51}, {0x69, 0x65, 0x75, 0x6D, 0x7D, 0x79, 0x61, 0x71},
        {0xE9, 0xE5, 0xF5, 0xED, 0xFD, 0xF9, 0xE1, 0xF1}, {0xC9, 0xC5, 0xD5, 0xCD, 0xDD, 0xD9, 0xC1, 0xD1},
        {0xA9, 0xA5, 0xB5, 0xAD, 0xBD, 0xB9, 0xA1, 0xB1}, {0x00, 0x85, 0x95, 0x8D, 0x9D, 0x99, 0x81, 0x91},
    };
    static const uint8_t group_kinds[8] = {K_ORA, K_AND, K_EOR, K_ADC, K_SBC, K_CMP, K_LDA, K_STA};
    static const uint8_t group_modes[8] = {M_IMM, M_ZP, M_ZPX, M_ABS, M_ABX, M_ABY, M_IZX, M_IZY};
    for (int g = 0; g < 8; g++)
        for (int i = 0; i < 8; i++)
            if (group_ops[g][i] == op && !(g == 7 && i == 0))
                return (struct opinfo){group_kinds[g], group_modes[i]};
    static const struct { uint8_t op, kind, mode; } rest[] = {
        {0xA2, K_LDX, M_IMM}, {0xA6, K_LDX, M_ZP}, {0xB6, K_LDX, M_ZPY}, {0xAE, K_LDX, M_ABS}, {0xBE, K_LDX, M_ABY},
        {0xA0, K_LDY, M_IMM}, {0xA4, K_LDY, M_ZP}, {0xB4, K_LDY, M_ZPX}, {0xAC, K_LDY, M_ABS}, {0xBC, K_LDY, M_ABX},
        {0xE0, K_CPX, M_IMM}, {0xE4, K_CPX, M_ZP}, {0xEC, K_CPX, M_ABS},
        {0xC0, K_CPY, M_IMM}, {0xC4, K_CPY, M_ZP}, {0xCC, K_CPY, M_ABS},
        {0x24, K_BIT, M_ZP}, {0x2C, K_BIT, M_ABS},
        {0x86, K_STX, M_ZP}, {0x96, K_STX, M_ZPY}, {0x8E, K_STX, M_ABS},
        {0x84, K_STY, M_ZP}, {0x94, K_STY, M_ZPX}, {0x8C, K_STY, M_ABS},
        {0x0A, K_ASL, M_ACC}, {0x06, K_ASL, M_ZP}, {0x16, K_ASL, M_ZPX}, {0x0E, K_ASL, M_ABS}, {0x1E, K_ASL, M_ABX},
        {0x4A, K_LSR, M_ACC}, {0x46, K_LSR, M_ZP}, {0x56, K_LSR, M_ZPX}, {0x4E, K_LSR, M_ABS}, {0x5E, K_LSR, M_ABX},
        {0x2A, K_ROL, M_ACC}, {0x26, K_ROL, M_ZP}, {0x36, K_ROL, M_ZPX}, {0x2E, K_ROL, M_ABS}, {0x3E, K_ROL, M_ABX},
        {0x6A, K_ROR, M_ACC}, {0x66, K_ROR, M_ZP}, {0x76, K_ROR, M_ZPX}, {0x6E, K_ROR, M_ABS}, {0x7E, K_ROR, M_ABX},
        {0xE6, K_INC, M_ZP}, {0xF6, K_INC, M_ZPX}, {0xEE, K_INC, M_ABS}, {0xFE, K_INC, M_ABX},
        {0xC6, K_DEC, M_ZP}, {0xD6, K_DEC, M_ZPX}, {0xCE, K_DEC, M_ABS}, {0xDE, K_DEC, M_ABX},
    };
    for (size_t i = 0; i < sizeof rest / sizeof rest[0]; i++)
        if (rest[i].op == op)
            return (struct opinfo){rest[i].kind, rest[i].mode};
    return (struct opinfo){K_NONE, M_IMP};
}

/* Leaves the address (zero page + index) & 0xFF in eax. */
static void zp_indexed(struct emit *e, int index, uint8_t zp)
{
    lea32(e, RAX, M(index, zp));
    zext8(e, RAX, RAX);
}

/* (zp),Y: base in edx, base + Y (16 bits) in eax. */
static void izy_address(struct emit *e, uint8_t zp)
{
    load8(e, RAX, M(G_N, RAM_AT(zp)));
    load8(e, RDX, M(G_N, RAM_AT((uint8_t)(zp + 1))));
    shl_ri(e, RDX, 8);
    alu_rr(e, RR_OR, RDX, RAX);
    lea32(e, RAX, MX(RDX, G_Y, 0, 0));
    alu_ri(e, ALU_AND, RAX, 0xFFFF);
}

/* (zp,X): the address in eax. */
static void izx_address(struct emit *e, uint8_t zp)
{
    zp_indexed(e, G_X, zp);
    load8(e, RDX, MX(G_N, RAX, 0, RAM_AT(0)));
    inc8(e, RAX);
    load8(e, RAX, MX(G_N, RAX, 0, RAM_AT(0)));
    shl_ri(e, RAX, 8);
    alu_rr(e, RR_OR, RAX, RDX);
}

/* The page-cross cycle of an indexed read: (eax ^ edx) bit 8 into the clock. */
static void page_cross_cycle(struct emit *e)
{
    alu_rr(e, RR_XOR, RAX, RDX);
    shr_ri(e, RAX, 8);
    alu_ri(e, ALU_AND, RAX, 1);
    alu64_rr(e, RR_ADD, G_CYC, RAX);
}

/* Emits the read of a read instruction's operand into ecx. Returns its base
 * cycle count, or 0 when the interpreter must run it. */
static int read_operand(struct tr *t, uint16_t pc, int mode)
{
    struct emit *e = &t->e;
    const uint8_t *rom = t->j->rom;
    uint8_t b1 = rom[(uint16_t)(pc + 1)], b2 = rom[(uint16_t)(pc + 2)];
    uint16_t abs = (uint16_t)(b1 | b2 << 8);
    switch (mode) {
    case M_IMM:
        mov_ri(e, RCX, b1);
        return 2;
    case M_ZP:
        load8(e, RCX, M(G_N, RAM_AT(b1)));
        return 3;
    case M_ZPX:
    case M_ZPY:
        zp_indexed(e, mode == M_ZPX ? G_X : G_Y, b1);
        load8(e, RCX, MX(G_N, RAX, 0, RAM_AT(0)));
        return 4;
    case M_ABS:
        if (abs < 0x2000) {
            load8(e, RCX, M(G_N, RAM_AT(abs & 0x7FF)));
        } else if (abs >= 0x8000) {
            mov_ri(e, RCX, rom[abs]); /* fixed PRG: the value is known now */
        } else {
            mov_ri(e, RSI, abs);
            mov_ri(e, RDX, abs >> 8);
            call_c(t, (const void *)jit_read_io, 3);
            zext8(e, RCX, RAX);
        }
        return 4;
    case M_ABX:
    case M_ABY: {
        int index = mode == M_ABX ? G_X : G_Y;
        if (abs <= 0x1F00) {
            lea32(e, RAX, M(index, abs));
            alu_ri(e, ALU_AND, RAX, 0x7FF);
            load8(e, RCX, MX(G_N, RAX, 0, RAM_AT(0)));
        } else if (abs >= 0x8000) {
            lea32(e, RAX, M(index, abs));
            if (abs > 0xFF00) { /* a table at the top of ROM: past $FFFF is RAM, the interpreter's */
                alu_ri(e, ALU_CMP, RAX, 0x10000);
                exit_later(t, jcc(e, CC_AE), pc);
            }
            movabs(e, RDX, (uint64_t)(uintptr_t)rom);
            load8(e, RCX, MX(RDX, RAX, 0, 0));
        } else if (abs >= 0x2000 && abs <= 0x7F00) { /* I/O (a joypad read loop): the page cross is in the call */
            mov_ri(e, RSI, abs);
            mov_rr(e, RDX, index);
            call_c(t, (const void *)jit_read_io_indexed, 3);
            zext8(e, RCX, RAX);
            return 4;
        } else {
            return 0;
        }
        if (abs & 0xFF) { /* a page cross costs a cycle */
            lea32(e, RAX, M(index, abs & 0xFF));
            shr_ri(e, RAX, 8);
            alu64_rr(e, RR_ADD, G_CYC, RAX);
        }
        return 4;
    }
    case M_IZX: {
        izx_address(e, b1);
        alu_ri(e, ALU_CMP, RAX, 0x2000);
        uint8_t *ram = jcc(e, CC_B);
        alu_ri(e, ALU_CMP, RAX, 0x8000);
        exit_later(t, jcc(e, CC_B), pc);
        movabs(e, RDX, (uint64_t)(uintptr_t)rom);
        load8(e, RCX, MX(RDX, RAX, 0, 0));
        uint8_t *done = jmp(e);
        patch(e, ram, e->p);
        alu_ri(e, ALU_AND, RAX, 0x7FF);
        load8(e, RCX, MX(G_N, RAX, 0, RAM_AT(0)));
        patch(e, done, e->p);
        return 6;
    }
    case M_IZY: {
        izy_address(e, b1);
        /* RAM when base and address are both below $2000 (the dummy read of a
         * page cross has the base's high byte), ROM when both are at $8000 or
         * above; anything else is the interpreter's. */
        mov_rr(e, RCX, RDX);
        alu_rr(e, RR_OR, RCX, RAX);
        alu_ri(e, ALU_CMP, RCX, 0x2000);
        uint8_t *ram = jcc(e, CC_B);
        mov_rr(e, RCX, RDX);
        alu_rr(e, RR_AND, RCX, RAX);
        test_ri(e, RCX, 0x8000);
        exit_later(t, jcc(e, CC_E), pc);
        movabs(e, RSI, (uint64_t)(uintptr_t)rom);
        load8(e, RCX, MX(RSI, RAX, 0, 0));
        uint8_t *done = jmp(e);
        patch(e, ram, e->p);
        mov_rr(e, RSI, RAX);
        alu_ri(e, ALU_AND, RSI, 0x7FF);
        load8(e, RCX, MX(G_N, RSI, 0, RAM_AT(0)));
        patch(e, done, e->p);
        page_cross_cycle(e);
        return 5;
    }
    default:
        return 0;
    }
}

/* Where a store or read-modify-write goes, as an operand for RAM; 0 when the
 * interpreter must run it. *cycles gets the store form's cycle count. An
 * indexed operand uses eax, which must stay as it is until the access. */
static int ram_target(struct tr *t, uint16_t pc, int mode, struct opnd *where, int *cycles, int rmw)
{
    struct emit *e = &t->e;
    const uint8_t *rom = t->j->rom;
    uint8_t b1 = rom[(uint16_t)(pc + 1)], b2 = rom[(uint16_t)(pc + 2)];
    uint16_t abs = (uint16_t)(b1 | b2 << 8);
    switch (mode) {
    case M_ZP:
        *where = M(G_N, RAM_AT(b1));
        *cycles = rmw ? 5 : 3;
        return 1;
    case M_ZPX:
    case M_ZPY:
        zp_indexed(e, mode == M_ZPX ? G_X : G_Y, b1);
        *where = MX(G_N, RAX, 0, RAM_AT(0));
        *cycles = rmw ? 6 : 4;
        return 1;
    case M_ABS:
        if (abs >= 0x2000)
            return 0;
        *where = M(G_N, RAM_AT(abs & 0x7FF));
        *cycles = rmw ? 6 : 4;
        return 1;
    case M_ABX:
    case M_ABY:
        if (abs > 0x1F00)
            return 0;
        lea32(e, RAX, M(mode == M_ABX ? G_X : G_Y, abs));
        alu_ri(e, ALU_AND, RAX, 0x7FF);
        *where = MX(G_N, RAX, 0, RAM_AT(0));
        *cycles = rmw ? 7 : 5;
        return 1;
    case M_IZX:
        if (rmw)
            return 0;
        izx_address(e, b1);
        alu_ri(e, ALU_CMP, RAX, 0x2000);
        exit_later(t, jcc(e, CC_AE), pc);
        alu_ri(e, ALU_AND, RAX, 0x7FF);
        *where = MX(G_N, RAX, 0, RAM_AT(0));
        *cycles = 6;
        return 1;
    case M_IZY:
        if (rmw)
            return 0;
        izy_address(e, b1);
        mov_rr(e, RCX, RDX);
        alu_rr(e, RR_OR, RCX, RAX);
        alu_ri(e, ALU_CMP, RCX, 0x2000);
        exit_later(t, jcc(e, CC_AE), pc);
        alu_ri(e, ALU_AND, RAX, 0x7FF);
        *where = MX(G_N, RAX, 0, RAM_AT(0));
        *cycles = 6;
        return 1;
    default:
        return 0;
    }
}

/* N/Z from a register holding a byte. */
static void set_nz(struct emit *e, int r) { mov_rr(e, G_NZ, r); }

/* The operations on the operand in ecx. */
static void alu_op(struct emit *e, int kind)
{
    switch (kind) {
    case K_LDA: mov_rr(e, G_A, RCX); set_nz(e, G_A); break;
    case K_LDX: mov_rr(e, G_X, RCX); set_nz(e, G_X); break;
    case K_LDY: mov_rr(e, G_Y, RCX); set_nz(e, G_Y); break;
    case K_ORA: alu_rr(e, RR_OR, G_A, RCX); set_nz(e, G_A); break;
    case K_AND: alu_rr(e, RR_AND, G_A, RCX); set_nz(e, G_A); break;
    case K_EOR: alu_rr(e, RR_XOR, G_A, RCX); set_nz(e, G_A); break;
    case K_SBC:
        alu_ri(e, ALU_XOR, RCX, 0xFF);
        /* fall through */
    case K_ADC:
        /* sum = A + v + C; V = ~(A ^ v) & (A ^ sum) & 0x80, as bit 6 */
        mov_rr(e, RAX, G_A);
        alu_rr(e, RR_ADD, RAX, RCX);
        alu_rr(e, RR_ADD, RAX, G_C);
        mov_rr(e, RDX, G_A);
        alu_rr(e, RR_XOR, RDX, RCX);
        not32(e, RDX);
        mov_rr(e, RSI, G_A);
        alu_rr(e, RR_XOR, RSI, RAX);
        alu_rr(e, RR_AND, RDX, RSI);
        alu_ri(e, ALU_AND, RDX, 0x80);
        shr_ri(e, RDX, 1);
        alu_ri(e, ALU_AND, G_P, (uint32_t)~P_V);
        alu_rr(e, RR_OR, G_P, RDX);
        mov_rr(e, G_C, RAX);
        shr_ri(e, G_C, 8);
        zext8(e, G_A, RAX);
        set_nz(e, G_A);
        break;
    case K_CMP:
    case K_CPX:
    case K_CPY: {
        int r = kind == K_CMP ? G_A : kind == K_CPX ? G_X : G_Y;
        alu_rr(e, RR_XOR, G_C, G_C);
        mov_rr(e, RAX, r);
        alu_rr(e, RR_SUB, RAX, RCX);
        setcc(e, CC_AE, G_C);
        zext8(e, G_NZ, RAX);
        break;
    }
    case K_BIT:
        mov_rr(e, RAX, RCX);
        alu_ri(e, ALU_AND, RAX, P_V);
        alu_ri(e, ALU_AND, G_P, (uint32_t)~P_V);
        alu_rr(e, RR_OR, G_P, RAX);
        mov_rr(e, G_NZ, G_A);
        alu_rr(e, RR_AND, G_NZ, RCX);
        alu_ri(e, ALU_AND, RCX, 0x80);
        alu_rr(e, RR_ADD, RCX, RCX);
        alu_rr(e, RR_OR, G_NZ, RCX);
        break;
    default:
        break;
    }
}

/* Shifts, rotates, increments on the byte in ecx (result in ecx, N/Z set). */
static void rmw_op(struct emit *e, int kind)
{
    switch (kind) {
    case K_ASL:
        mov_rr(e, G_C, RCX); shr_ri(e, G_C, 7);
        alu_rr(e, RR_ADD, RCX, RCX); zext8(e, RCX, RCX);
        break;
    case K_LSR:
        mov_rr(e, G_C, RCX); alu_ri(e, ALU_AND, G_C, 1);
        shr_ri(e, RCX, 1);
        break;
    case K_ROL:
        mov_rr(e, RDX, RCX); shr_ri(e, RDX, 7);
        alu_rr(e, RR_ADD, RCX, RCX); alu_rr(e, RR_OR, RCX, G_C); zext8(e, RCX, RCX);
        mov_rr(e, G_C, RDX);
        break;
    case K_ROR:
        mov_rr(e, RDX, RCX); alu_ri(e, ALU_AND, RDX, 1);
        shl_ri(e, G_C, 7); shr_ri(e, RCX, 1); alu_rr(e, RR_OR, RCX, G_C);
        mov_rr(e, G_C, RDX);
        break;
    case K_INC:
        alu_ri(e, ALU_ADD, RCX, 1); zext8(e, RCX, RCX);
        break;
    case K_DEC:
        alu_ri(e, ALU_SUB, RCX, 1); zext8(e, RCX, RCX);
        break;
    default:
        break;
    }
    set_nz(e, RCX);
}

/* The status byte (with B and U set, as PHP pushes it) into eax. */
static void status_to_eax(struct emit *e)
{
    mov_rr(e, RAX, G_P);
    alu_rr(e, RR_OR, RAX, G_C);
    alu_ri(e, ALU_OR, RAX, P_B | P_U);
    alu_rr(e, RR_XOR, RDX, RDX);
    test8_rr(e, G_NZ, G_NZ);
    setcc(e, CC_E, RDX);
    shl_ri(e, RDX, 1);
    alu_rr(e, RR_OR, RAX, RDX);
    alu_rr(e, RR_XOR, RDX, RDX);
    test_ri(e, G_NZ, 0x180);
    setcc(e, CC_NE, RDX);
    shl_ri(e, RDX, 7);
    alu_rr(e, RR_OR, RAX, RDX);
}

#define STACK_AT(s_reg) MX(G_N, (s_reg), 0, RAM_AT(0x100))

/* The interpreters' shortcuts for polling loops (cpu_ops.h): those
 * instructions stay theirs. */
static int interpreter_shortcut(const uint8_t *rom, uint16_t pc)
{
    const uint8_t *c = &rom[pc];
    if (pc > 0xFFF0)
        return 0;
    if (c[0] == 0xAD && c[1] == 0x02 && c[2] == 0x20 && c[3] == 0x29 && (c[5] == 0xF0 || c[5] == 0xD0) &&
        c[6] == (uint8_t)-7)
        return 1;
    if (c[0] == 0x99 && c[3] == 0xC8 && c[4] == 0xC8 && c[5] == 0xC8 && c[6] == 0xC8 && c[7] == 0xD0 && c[8] == 0xF7)
        return 1;
    if (c[0] == 0x4C && (uint16_t)(c[1] | c[2] << 8) == pc)
        return 1;
    return 0;
}

/* Whether the two bytes after pc are not the next two in host memory (the end
 * of a 16 KiB PRG mirrored twice, or of the address space): the interpreters
 * run such an instruction in the general interpreter, which keeps the data
 * bus on every access, and translated code must leave the same state. */
static int run_split(const struct jit *j, uint16_t pc)
{
    if (pc > 0xFFFD)
        return 1;
    const uint8_t *at = &j->prg[(pc >> 13) & 3][pc & 0x1FFF];
    for (unsigned d = 1; d <= 2; d++) {
        uint16_t a = (uint16_t)(pc + d);
        if (&j->prg[(a >> 13) & 3][a & 0x1FFF] != at + d)
            return 1;
    }
    return 0;
}

/* Emits one instruction at pc. Returns its length, 0 when the interpreter must
 * run it (nothing emitted that matters), or -length when it ends the block. */
static int translate_one(struct tr *t, uint16_t pc)
{
    struct emit *e = &t->e;
    const uint8_t *rom = t->j->rom;
    if (run_split(t->j, pc) || interpreter_shortcut(rom, pc))
        return 0;
    uint8_t op = rom[pc], b1 = rom[(uint16_t)(pc + 1)], b2 = rom[(uint16_t)(pc + 2)];
    uint16_t abs = (uint16_t)(b1 | b2 << 8);
    struct opinfo info = opinfo(op);
    int cycles;
    static const uint8_t lengths[] = {[M_IMP] = 1, [M_ACC] = 1, [M_IMM] = 2, [M_ZP] = 2, [M_ZPX] = 2, [M_ZPY] = 2,
                                      [M_ABS] = 3, [M_ABX] = 3, [M_ABY] = 3, [M_IZX] = 2, [M_IZY] = 2, [M_REL] = 2};

    switch (info.kind) {
    case K_LDA: case K_LDX: case K_LDY: case K_ORA: case K_AND: case K_EOR:
    case K_ADC: case K_SBC: case K_CMP: case K_CPX: case K_CPY: case K_BIT:
        if (!(cycles = read_operand(t, pc, info.mode)))
            return 0;
        alu_op(e, info.kind);
        /* indexed and (zp),Y reads take a cycle more across a page */
        add_cycles(t, (uint32_t)cycles, (uint32_t)cycles + (info.mode == M_ABX || info.mode == M_ABY || info.mode == M_IZY));
        return lengths[info.mode];
    case K_STA: case K_STX: case K_STY: {
        int r = info.kind == K_STA ? G_A : info.kind == K_STX ? G_X : G_Y;
        struct opnd where;
        if (info.mode == M_ABS && abs >= 0x2000) {
            mov_ri(e, RSI, abs);
            mov_rr(e, RDX, r);
            call_c(t, (const void *)jit_write_io, 3);
            add_cycles(t, 4, 4);
            return 3;
        }
        if (!ram_target(t, pc, info.mode, &where, &cycles, 0))
            return 0;
        store8(e, where, r);
        add_cycles(t, (uint32_t)cycles, (uint32_t)cycles);
        return lengths[info.mode];
    }
    case K_ASL: case K_LSR: case K_ROL: case K_ROR: case K_INC: case K_DEC: {
        if (info.mode == M_ACC) {
            mov_rr(e, RCX, G_A);
            rmw_op(e, info.kind);
            mov_rr(e, G_A, RCX);
            add_cycles(t, 2, 2);
            return 1;
        }
        struct opnd where;
        if (!ram_target(t, pc, info.mode, &where, &cycles, 1))
            return 0;
        load8(e, RCX, where);
        rmw_op(e, info.kind);
        store8(e, where, RCX);
        add_cycles(t, (uint32_t)cycles, (uint32_t)cycles);
        return lengths[info.mode];
    }
    default:
        break;
    }

    switch (op) {
    case 0xAA: mov_rr(e, G_X, G_A); set_nz(e, G_X); break;  /* TAX */
    case 0xA8: mov_rr(e, G_Y, G_A); set_nz(e, G_Y); break;  /* TAY */
    case 0x8A: mov_rr(e, G_A, G_X); set_nz(e, G_A); break;  /* TXA */
    case 0x98: mov_rr(e, G_A, G_Y); set_nz(e, G_A); break;  /* TYA */
    case 0xBA: mov_rr(e, G_X, G_S); set_nz(e, G_X); break;  /* TSX */
    case 0x9A: mov_rr(e, G_S, G_X); break;                  /* TXS */
    case 0xE8: inc8(e, G_X); set_nz(e, G_X); break;         /* INX */
    case 0xC8: inc8(e, G_Y); set_nz(e, G_Y); break;         /* INY */
    case 0xCA: dec8(e, G_X); set_nz(e, G_X); break;         /* DEX */
    case 0x88: dec8(e, G_Y); set_nz(e, G_Y); break;         /* DEY */
    case 0x18: alu_rr(e, RR_XOR, G_C, G_C); break;          /* CLC */
    case 0x38: mov_ri(e, G_C, 1); break;                    /* SEC */
    case 0xD8: alu_ri(e, ALU_AND, G_P, (uint32_t)~P_D); break;
    case 0xF8: alu_ri(e, ALU_OR, G_P, P_D); break;
    case 0xB8: alu_ri(e, ALU_AND, G_P, (uint32_t)~P_V); break;
    case 0xEA: break;                                       /* NOP */
    case 0x48: /* PHA */
        store8(e, STACK_AT(G_S), G_A);
        dec8(e, G_S);
        add_cycles(t, 3, 3);
        return 1;
    case 0x08: /* PHP */
        status_to_eax(e);
        store8(e, STACK_AT(G_S), RAX);
        dec8(e, G_S);
        add_cycles(t, 3, 3);
        return 1;
    case 0x68: /* PLA */
        inc8(e, G_S);
        load8(e, G_A, STACK_AT(G_S));
        set_nz(e, G_A);
        add_cycles(t, 4, 4);
        return 1;
    case 0x4C: /* JMP abs */
        add_cycles(t, 3, 3);
        go_to(t, abs);
        return -3;
    case 0x6C: /* JMP (ind): the pointer's high byte comes from the same page */
        if (abs >= 0x8000) {
            uint16_t to = (uint16_t)(rom[abs] | rom[(abs & 0xFF00) | ((abs + 1) & 0xFF)] << 8);
            add_cycles(t, 5, 5);
            go_to(t, to);
            return -3;
        }
        if (abs >= 0x2000)
            return 0;
        load8(e, RCX, M(G_N, RAM_AT(abs & 0x7FF)));
        load8(e, RAX, M(G_N, RAM_AT(((abs & 0xFF00) | ((abs + 1) & 0xFF)) & 0x7FF)));
        shl_ri(e, RAX, 8);
        alu_rr(e, RR_OR, RAX, RCX);
        add_cycles(t, 5, 5);
        go_to_eax(t);
        return -3;
    case 0x20: { /* JSR */
        uint16_t ret = (uint16_t)(pc + 2);
        store8_imm(e, STACK_AT(G_S), ret >> 8);
        dec8(e, G_S);
        store8_imm(e, STACK_AT(G_S), ret & 0xFF);
        dec8(e, G_S);
        add_cycles(t, 6, 6);
        go_to(t, abs);
        return -3;
    }
    case 0x60: /* RTS: its dummy read at the return address must be ROM */
        lea32(e, RDX, M(G_S, 1));
        zext8(e, RDX, RDX);
        load8(e, RCX, STACK_AT(RDX));
        inc8(e, RDX);
        load8(e, RAX, STACK_AT(RDX));
        shl_ri(e, RAX, 8);
        alu_rr(e, RR_OR, RAX, RCX);
        alu_ri(e, ALU_CMP, RAX, 0x8000);
        exit_later(t, jcc(e, CC_B), pc);
        mov_rr(e, G_S, RDX);
        alu_ri(e, ALU_ADD, RAX, 1);
        alu_ri(e, ALU_AND, RAX, 0xFFFF);
        add_cycles(t, 6, 6);
        go_to_eax(t);
        return -1;
    case 0x10: case 0x30: case 0x50: case 0x70: case 0x90: case 0xB0: case 0xD0: case 0xF0: {
        uint16_t next = (uint16_t)(pc + 2), to = (uint16_t)(next + (int8_t)b1);
        uint8_t *skip;
        switch (op) { /* jump over the taken path when the condition fails */
        case 0x10: test_ri(e, G_NZ, 0x180); skip = jcc(e, CC_NE); break; /* BPL */
        case 0x30: test_ri(e, G_NZ, 0x180); skip = jcc(e, CC_E); break;  /* BMI */
        case 0x50: test_ri(e, G_P, P_V); skip = jcc(e, CC_NE); break;    /* BVC */
        case 0x70: test_ri(e, G_P, P_V); skip = jcc(e, CC_E); break;     /* BVS */
        case 0x90: alu_rr(e, RR_TEST, G_C, G_C); skip = jcc(e, CC_NE); break; /* BCC */
        case 0xB0: alu_rr(e, RR_TEST, G_C, G_C); skip = jcc(e, CC_E); break;  /* BCS */
        case 0xD0: test8_rr(e, G_NZ, G_NZ); skip = jcc(e, CC_E); break;  /* BNE */
        default: test8_rr(e, G_NZ, G_NZ); skip = jcc(e, CC_NE); break;   /* BEQ */
        }
        int same_page = !((to ^ next) & 0xFF00);
        uint32_t taken = same_page ? 3 : 4, before = t->pending;
        int inside = -1;
        for (int i = 0; i < t->count; i++)
            if (t->pcs[i] == to)
                inside = i;
        if (inside >= 0) {
            /* A loop inside the block: the clock register is set so that the
             * target's own `pending` is right again, and the room for another
             * pass through the rest of the block is tested. */
            uint32_t at_target = t->pending_at[inside];
            int32_t delta = (int32_t)(before + taken) - (int32_t)at_target;
            if (delta)
                alu64_ri(e, ALU_ADD, G_CYC, (uint32_t)delta);
            if (same_page) {
                lea64(e, RAX, M(G_CYC, (int32_t)at_target));
                store64(e, M(G_N, (int32_t)offsetof(nes, cpu.branch_end)), RAX);
            }
            check_room(t, inside, at_target, to, at_target);
            jmp_to(e, t->code_at[inside]);
        } else {
            t->pending += taken;
            flush_cycles(t);
            if (same_page)
                store64(e, M(G_N, (int32_t)offsetof(nes, cpu.branch_end)), G_CYC);
            go_to(t, to);
        }
        patch(e, skip, e->p);
        t->pending = before;
        /* Only instruction starts must come before the next event: a taken
         * branch leaves the straight path, and where it goes tests again. */
        add_cycles(t, 2, 2);
        return 2;
    }
    default:
        return 0; /* BRK, RTI, CLI, SEI, PLP, unofficial opcodes */
    }
    add_cycles(t, 2, 2);
    return 1;
}

/* The entry (C calls it) and the exit every block leaves through. */
static void emit_entry_exit(struct jit *j)
{
    struct emit e = {j->code, j->code + JIT_CODE_SIZE, 0};
    /* enter(n = rdi, block = rsi, regs = rdx) */
    j->enter = (void (*)(nes *, const void *, struct jit_regs *))(void *)e.p;
    push(&e, RBX); push(&e, RBP); push(&e, R12); push(&e, R13); push(&e, R14); push(&e, R15);
    alu64_ri(&e, ALU_SUB, RSP, 8); /* 16-byte stack alignment at calls into C */
    ins(&e, 1, 0, 0, 0x89, 1, RDI, R(G_N));
    load64(&e, G_CYC, M(RDX, offsetof(struct jit_regs, cyc)));
    load64(&e, G_LIM, M(RDX, offsetof(struct jit_regs, limit)));
    load32(&e, G_A, M(RDX, offsetof(struct jit_regs, a)));
    load32(&e, G_X, M(RDX, offsetof(struct jit_regs, x)));
    load32(&e, G_Y, M(RDX, offsetof(struct jit_regs, y)));
    load32(&e, G_NZ, M(RDX, offsetof(struct jit_regs, nz)));
    load32(&e, G_C, M(RDX, offsetof(struct jit_regs, c)));
    load32(&e, G_S, M(RDX, offsetof(struct jit_regs, s)));
    load32(&e, G_P, M(RDX, offsetof(struct jit_regs, p)));
    jmp_reg(&e, RSI);

    j->epilogue = e.p;
    movabs(&e, RAX, (uint64_t)(uintptr_t)&j->regs);
    store64(&e, M(RAX, offsetof(struct jit_regs, cyc)), G_CYC);
    store32(&e, M(RAX, offsetof(struct jit_regs, a)), G_A);
    store32(&e, M(RAX, offsetof(struct jit_regs, x)), G_X);
    store32(&e, M(RAX, offsetof(struct jit_regs, y)), G_Y);
    store32(&e, M(RAX, offsetof(struct jit_regs, nz)), G_NZ);
    store32(&e, M(RAX, offsetof(struct jit_regs, c)), G_C);
    store32(&e, M(RAX, offsetof(struct jit_regs, s)), G_S);
    store32(&e, M(RAX, offsetof(struct jit_regs, p)), G_P);
    alu64_ri(&e, ALU_ADD, RSP, 8);
    pop(&e, R15); pop(&e, R14); pop(&e, R13); pop(&e, R12); pop(&e, RBP); pop(&e, RBX);
    e8(&e, 0xC3);
    j->used = j->blocks_from = (size_t)(e.p - j->code + 63) & ~(size_t)63;
}

static void flush(struct jit *j)
{
    memset(j->block, 0, sizeof j->block);
    memset(j->status, 0, sizeof j->status);
    memset(j->chain_head, 0xFF, sizeof j->chain_head);
    j->nchains = 0;
    j->used = j->blocks_from;
}

/* Translates the block at pc; NULL when its first instruction is the interpreter's. */
static const void *translate(struct jit *j, uint16_t start)
{
    if (j->used + JIT_BLOCK_ROOM > j->limit) {
        flush(j);
        j->flushes++;
    }
    struct tr *t = malloc(sizeof *t);
    if (!t)
        return NULL;
    t->j = j;
    t->e = (struct emit){j->code + j->used, j->code + j->used + JIT_BLOCK_ROOM, 0};
    t->count = 0;
    t->nexits = 0;
    t->nfixups = 0;
    t->nchains = 0;
    t->pending = 0;
    uint16_t pc = start;
    /* The interpreter tests the clock before every instruction; a block tests
     * once that all of it ends before the next event (and again after each
     * call into C and at each loop back). */
    check_room(t, 0, 0, start, 0);
    for (;;) {
        if (t->count == JIT_BLOCK_MAX) {
            go_to(t, pc);
            break;
        }
        uint8_t *mark = t->e.p;
        int exits_mark = t->nexits, fixups_mark = t->nfixups;
        uint32_t pending_mark = t->pending;
        t->pcs[t->count] = pc;
        t->code_at[t->count] = mark;
        t->pending_at[t->count] = t->pending;
        t->called = 0;
        t->instr_max = 0;
        int len = translate_one(t, pc);
        if (len == 0) {
            t->e.p = mark;
            t->nexits = exits_mark;
            t->nfixups = fixups_mark;
            t->pending = pending_mark;
            if (t->count == 0)
                break;
            exit_now(t, pc);
            break;
        }
        t->max_cycles[t->count++] = t->instr_max;
        if (len < 0)
            break;
        pc = (uint16_t)(pc + len);
        if (pc < 0x8000) { /* ran off the end of the address space */
            exit_now(t, pc);
            break;
        }
        if (t->called)
            check_room(t, t->count, t->pending, pc, t->pending);
    }
    const void *entry = NULL;
    if (t->count > 0) {
        uint32_t max_from[JIT_BLOCK_MAX + 1];
        max_from[t->count] = 0;
        for (int i = t->count - 1; i >= 0; i--)
            max_from[i] = max_from[i + 1] + t->max_cycles[i];
        for (int i = 0; i < t->nfixups && !t->e.full; i++) {
            int32_t room = (int32_t)(t->fixups[i].extra + max_from[t->fixups[i].from]);
            memcpy(t->fixups[i].at, &room, 4);
        }
        for (int i = 0; i < t->nexits; i++) {
            struct emit *e = &t->e;
            patch(e, t->exits[i].at, e->p);
            if (t->exits[i].pending)
                alu64_ri(e, ALU_ADD, G_CYC, t->exits[i].pending);
            if (t->exits[i].near) {
                movabs(e, RAX, (uint64_t)(uintptr_t)&j->near_event);
                store8_imm(e, M(RAX, 0), 1);
            }
            store16_imm(e, M(G_N, (int32_t)offsetof(nes, cpu.pc)), t->exits[i].pc);
            jmp_to(e, j->epilogue);
        }
        if (t->e.full) { /* no room (cannot happen at JIT_BLOCK_MAX): interpret */
            j->status[start - 0x8000] = BLOCK_INTERPRETED;
            free(t);
            return NULL;
        }
        entry = j->code + j->used;
        j->used = (size_t)(t->e.p - j->code + 15) & ~(size_t)15;
        j->block[start - 0x8000] = entry;
        j->status[start - 0x8000] = BLOCK_TRANSLATED;
        for (int i = 0; i < t->nchains && j->nchains < JIT_CHAINS; i++) {
            int k = j->nchains++;
            j->chain_site[k] = t->chain_site[i];
            j->chain_next[k] = j->chain_head[t->chain_to[i] - 0x8000];
            j->chain_head[t->chain_to[i] - 0x8000] = k;
        }
        /* the jumps that waited for this block go straight to it now */
        for (int k = j->chain_head[start - 0x8000]; k >= 0; k = j->chain_next[k]) {
            struct emit site = {j->chain_site[k], j->chain_site[k] + 5, 0};
            jmp_to(&site, entry);
        }
        j->chain_head[start - 0x8000] = -1;
    } else {
        j->status[start - 0x8000] = BLOCK_INTERPRETED;
    }
    free(t);
    return entry;
}

struct jit *jit_create(const nes *n)
{
    /* PRG that no write switches: NROM (0) and CNROM (3, CHR banks only) */
    if (n->host.cart->mapper != 0 && n->host.cart->mapper != 3)
        return NULL;
    /* PRG not 256-byte aligned (not from cart.c): the general interpreter runs
     * all code there (cpu.c, map_load), keeping the data bus as it goes */
    for (int i = 0; i < 4; i++)
        if ((uintptr_t)n->host.prg[i] & 0xFF)
            return NULL;
    const char *off = getenv("SMBRL_JIT");
    if (off && strcmp(off, "0") == 0)
        return NULL;
    struct jit *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    /* Never writable and executable at once: writable while a block is
     * translated, executable otherwise. A system that refuses executable
     * memory gets the interpreters. */
    void *code = mmap(NULL, JIT_CODE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (code == MAP_FAILED) {
        free(j);
        return NULL;
    }
    j->code = code;
    for (unsigned a = 0x8000; a < 0x10000; a++)
        j->rom[a] = n->host.prg[(a >> 13) & 3][a & 0x1FFF];
    for (int i = 0; i < 4; i++)
        j->prg[i] = n->host.prg[i];
    emit_entry_exit(j);
    j->limit = JIT_CODE_SIZE;
    flush(j);
    if (mprotect(code, JIT_CODE_SIZE, PROT_READ | PROT_EXEC) != 0) {
        munmap(code, JIT_CODE_SIZE);
        free(j);
        return NULL;
    }
    return j;
}

void jit_limit_code(struct jit *j, size_t bytes)
{
    size_t least = j->blocks_from + 2 * JIT_BLOCK_ROOM;
    j->limit = bytes < least ? least : bytes > JIT_CODE_SIZE ? JIT_CODE_SIZE : bytes;
}

unsigned jit_flushes(const struct jit *j) { return j->flushes; }

void jit_free(struct jit *j)
{
    if (!j)
        return;
    munmap(j->code, JIT_CODE_SIZE);
    free(j);
}

int jit_run(nes *n, struct jit *j)
{
    uint16_t pc = n->cpu.pc;
    if (pc < 0x8000 || n->cycle >= n->next_event)
        return 0;
    const void *block = j->block[pc - 0x8000];
    if (!block) {
        if (j->status[pc - 0x8000] != BLOCK_UNTRIED || j->stuck)
            return 0;
        if (mprotect(j->code, JIT_CODE_SIZE, PROT_READ | PROT_WRITE) != 0) {
            j->status[pc - 0x8000] = BLOCK_INTERPRETED;
            return 0;
        }
        block = translate(j, pc);
        if (mprotect(j->code, JIT_CODE_SIZE, PROT_READ | PROT_EXEC) != 0) {
            /* the code cannot run again: from now on the interpreters run everything */
            j->stuck = 1;
            memset(j->block, 0, sizeof j->block);
            return 0;
        }
        if (!block)
            return 0;
    }
    uint64_t start = n->cycle;
    struct jit_regs *r = &j->regs;
    uint8_t p = n->cpu.p;
    r->cyc = n->cycle;
    r->limit = n->next_event;
    r->a = n->cpu.a;
    r->x = n->cpu.x;
    r->y = n->cpu.y;
    r->s = n->cpu.s;
    r->c = p & P_C;
    r->p = p & ~(P_N | P_Z | P_C);
    r->nz = ((p & P_Z) ? 0u : 1u) | ((p & P_N) ? 0x100u : 0u);
    j->near_event = 0;
    j->enter(n, block, r);
    n->cycle = r->cyc;
    n->cpu.a = (uint8_t)r->a;
    n->cpu.x = (uint8_t)r->x;
    n->cpu.y = (uint8_t)r->y;
    n->cpu.s = (uint8_t)r->s;
    n->cpu.p = (uint8_t)(r->p | r->c | ((r->nz & 0xFF) == 0 ? P_Z : 0) | ((r->nz & 0x180) ? P_N : 0));
    return (n->cycle != start ? JIT_RAN : 0) | (j->near_event ? JIT_NEAR_EVENT : 0);
}

#else /* no translation on this host */

struct jit *jit_create(const nes *n)
{
    (void)n;
    return NULL;
}

void jit_free(struct jit *j) { (void)j; }

void jit_limit_code(struct jit *j, size_t bytes)
{
    (void)j;
    (void)bytes;
}

unsigned jit_flushes(const struct jit *j)
{
    (void)j;
    return 0;
}

int jit_run(nes *n, struct jit *j)
{
    (void)n;
    (void)j;
    return 0;
}

#endif
