/* jit.h: the 6502 code of a fixed PRG ROM (mappers 0 and 3) translated to x86-64.
 *
 * Why: the interpreters spend their time in mispredicted indirect jumps, one
 * per guest instruction. Translated code runs a guest basic block as straight
 * host code, jumps between blocks directly, and keeps the registers, the
 * clock and the flags in host registers.
 *
 * It is an accelerator beside cpu.c, never a replacement: it translates only
 * what it can do with the interpreters' exact bus cycles (official opcodes,
 * RAM and ROM accesses, I/O reads and absolute I/O writes through the same
 * bus functions) and leaves the rest (BRK, RTI, CLI, SEI, PLP, unofficial
 * opcodes, indexed stores and read-modify-writes in I/O space, the
 * interpreters' idle- and polling-loop shortcuts) to the interpreter, one
 * instruction at a time. Host state: one `struct jit` per emulator, with its
 * own code buffer, derived from the cart alone, never saved. */
#ifndef SMBRL_NES_JIT_H
#define SMBRL_NES_JIT_H

#include "nes/nes_internal.h"

struct jit;

/* NULL when translation cannot serve this cart (PRG banks that switch: a
 * mapper other than 0 and 3; not x86-64; no executable memory): the
 * interpreters then run everything. */
struct jit *jit_create(const nes *n);
void jit_free(struct jit *j);

/* Runs translated code from n->cpu.pc until an instruction that is not
 * translated or until the next event is nearer than the rest of a block.
 * Returns JIT_RAN when it ran anything, and JIT_NEAR_EVENT in the second case:
 * the interpreter then runs up to n->next_event (it tests the clock before
 * every instruction; translated code tests whole blocks). With neither, the
 * interpreter runs the one instruction at n->cpu.pc. */
enum { JIT_RAN = 1, JIT_NEAR_EVENT = 2 };
int jit_run(nes *n, struct jit *j);

/* Tests: a smaller code buffer (all blocks are dropped whenever it fills),
 * and how many times it has filled. */
void jit_limit_code(struct jit *j, size_t bytes);
unsigned jit_flushes(const struct jit *j);

#endif
