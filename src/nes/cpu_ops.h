/* cpu_ops.h: the 6502 opcode handlers, included twice by cpu.c: in the
 * interpreter for code in PRG ROM (operand bytes through a host pointer) and in
 * the general one (every byte a bus read). Each handler ends in NEXT(),
 * NEXT_LIKELY(b1, b2) (NEXT with the two likeliest next opcodes tested
 * first), JUMP(target) or NEAR_JUMP(from, target) (a jump from an address of the
 * running instruction); the including function defines those, FETCH() and IMPLIED()
 * (the opcode's dummy read of the next byte), PEEK() (the next byte, read
 * without advancing: the last operand byte of JSR and JMP (ind)), PC() and
 * MAYBE_2002() (0 only when the operand is surely not $2002). */
/* No include guard: it is meant to be included once per interpreter. */
/* Loads, logic and arithmetic. */
op_AD:
    /* `LDA $2002; AND #m; BEQ/BNE back` polls the PPU status: whole
     * iterations whose outcome cannot change are skipped at once. */
    if (MAYBE_2002() && PC() >= 0x8001 && PC() <= 0xFFF8) {
        uint16_t at = PC();
        const uint8_t *code = &bus.map->prg[(at >> 13) & 3][at & 0x1FFF];
        if ((at & 0x1FFF) <= 0x1FF9 && code[0] == 0x02 && code[1] == 0x20 && code[2] == 0x29 &&
            (code[4] == 0xF0 || code[4] == 0xD0) && code[5] == (uint8_t)-7 &&
            ((at + 6) & 0xFF00) == ((at - 1) & 0xFF00)) {
            n->cycle = cyc;
            n->cpu.open_bus = 0xAD; /* the opcode just fetched */
            uint64_t skipped = nes_poll_skip(n, cyc - 1, 9, code[3], code[4] == 0xF0);
            bus_load(n, &bus);
            cyc += skipped * 9;
        }
    }
    R_ABS_L(LDA, D0, F0);
op_A9: R_IMM_L(LDA, 85, 8D); op_A5: R_ZP_L(LDA, C9, 99); op_B5: R_ZPX_L(LDA, F0, 29);
op_BD: R_ABX_L(LDA, 85, F0); op_B9: R_ABY_L(LDA, 85, 38); op_A1: R_IZX(LDA); op_B1: R_IZY_L(LDA, 85, 29);
op_A2: R_IMM(LDX); op_A6: R_ZP_L(LDX, C9, 60); op_B6: R_ZPY(LDX); op_AE: R_ABS(LDX);
op_BE: R_ABY(LDX);
op_A0: R_IMM_L(LDY, 4C, B9); op_A4: R_ZP(LDY); op_B4: R_ZPX(LDY); op_AC: R_ABS_L(LDY, 18, D0);
op_BC: R_ABX(LDY);
op_09: R_IMM(ORA); op_05: R_ZP_L(ORA, 4A, 6A); op_15: R_ZPX(ORA); op_0D: R_ABS(ORA);
op_1D: R_ABX(ORA); op_19: R_ABY(ORA); op_01: R_IZX(ORA); op_11: R_IZY(ORA);
op_29: R_IMM_L(AND, 85, C9); op_25: R_ZP(AND); op_35: R_ZPX(AND); op_2D: R_ABS(AND);
op_3D: R_ABX(AND); op_39: R_ABY(AND); op_21: R_IZX(AND); op_31: R_IZY(AND);
op_49: R_IMM(EOR); op_45: R_ZP(EOR); op_55: R_ZPX(EOR); op_4D: R_ABS(EOR);
op_5D: R_ABX(EOR); op_59: R_ABY(EOR); op_41: R_IZX(EOR); op_51: R_IZY(EOR);
op_69: R_IMM_L(ADC, 85, 29); op_65: R_ZP(ADC); op_75: R_ZPX(ADC); op_6D: R_ABS(ADC);
op_7D: R_ABX(ADC); op_79: R_ABY(ADC); op_61: R_IZX(ADC); op_71: R_IZY(ADC);
op_E9: op_EB: R_IMM(SBC); op_E5: R_ZP(SBC); op_F5: R_ZPX(SBC); op_ED: R_ABS(SBC);
op_FD: R_ABX(SBC); op_F9: R_ABY(SBC); op_E1: R_IZX(SBC); op_F1: R_IZY(SBC);
op_C9: R_IMM_L(CMP, D0, F0); op_C5: R_ZP_L(CMP, 90, D0); op_D5: R_ZPX_L(CMP, D0, 90); op_CD: R_ABS_L(CMP, D0, 90);
op_DD: R_ABX(CMP); op_D9: R_ABY(CMP); op_C1: R_IZX(CMP); op_D1: R_IZY(CMP);
op_E0: R_IMM_L(CPX, D0, 90); op_E4: R_ZP_L(CPX, D0, 90); op_EC: R_ABS_L(CPX, D0, 90);
op_C0: R_IMM_L(CPY, 90, D0); op_C4: R_ZP_L(CPY, 90, D0); op_CC: R_ABS_L(CPY, 90, D0);
op_24: R_ZP(BIT); op_2C: R_ABS(BIT);
op_A7: R_ZP(LAX); op_B7: R_ZPY(LAX); op_AF: R_ABS(LAX); op_BF: R_ABY(LAX);
op_A3: R_IZX(LAX); op_B3: R_IZY(LAX);

/* Stores. */
op_85: W_ZP(a); op_95: W_ZPX(a); op_8D: W_ABS(a); op_9D: W_ABX_L(a, CA, 18);
op_99:
    /* `STA abs,Y; INY; INY; INY; INY; BNE back` stores A in every fourth byte
     * of RAM up to Y = 0 (how SMB moves its sprites off screen): whole
     * iterations that end well before the next event are done at once, the
     * last ones interpreted. */
    if (PC() >= 0x8000 && (PC() & 0x1FFF) <= 0x1FF8 && !(y & 3)) {
        uint16_t at = PC();
        const uint8_t *code = &bus.map->prg[(at >> 13) & 3][at & 0x1FFF];
        unsigned base = code[0] | (unsigned)code[1] << 8;
        if (code[2] == 0xC8 && code[3] == 0xC8 && code[4] == 0xC8 && code[5] == 0xC8 && code[6] == 0xD0 &&
            code[7] == 0xF7 && base <= 0x1F00) {
            /* 5 + 4 * 2 + 3 cycles, one more when the branch crosses a page */
            uint64_t period = 16 + ((((at + 8) ^ (at - 1)) & 0xFF00) != 0);
            uint64_t k = ((256u - y) >> 2) - 1; /* all but the last iteration */
            if (cyc + 2 * period < bus.next_event && (bus.next_event - cyc) / period - 2 < k)
                k = (bus.next_event - cyc) / period - 2;
            if (cyc + 2 * period >= bus.next_event)
                k = 0;
            for (uint64_t i = 0; i < k; i++, y += 4)
                n->ram[(base + y) & 0x7FF] = a;
            cyc += k * period;
        }
    }
    W_ABY_L(a, A5, 99);
op_81: W_IZX(a); op_91: W_IZY(a);
op_86: W_ZP_L(x, B5, 20); op_96: W_ZPY(x); op_8E: W_ABS(x);
op_84: W_ZP(y); op_94: W_ZPX(y); op_8C: W_ABS(y);
op_87: W_ZP(a & x); op_97: W_ZPY(a & x); op_8F: W_ABS(a & x); op_83: W_IZX(a & x);

/* Read-modify-write. */
op_0A: IMPLIED(); v = a; ASL(); a = v; NEXT_LIKELY(0A, B0);
op_4A: IMPLIED(); v = a; LSR(); a = v; NEXT_LIKELY(4A, 05);
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
op_BB: AM_IDX_R(y); v = (uint8_t)(RDP(addr, prior) & s); a = x = s = v; SETNZ(v); NEXT();    /* LAS */
op_9C: SH_STORE(y, x);
op_9E: SH_STORE(x, y);
op_9F: SH_STORE(a & x, y);
op_9B: s = a & x; SH_STORE(s, y);
op_93: { /* SHA (ind),Y */
    uint8_t b = FETCH(); uint16_t lo = RD(b); uint16_t hi = RD((uint8_t)(b + 1));
    uint16_t base = (uint16_t)(lo | (hi << 8)); addr = (uint16_t)(base + y);
    RDP((base & 0xFF00) | (addr & 0xFF), hi); uint8_t val = (uint8_t)(a & x & (hi + 1));
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
op_A8: IMPLIED(); y = a; SETNZ(y); NEXT_LIKELY(B9, B1);
op_8A: IMPLIED(); a = x; SETNZ(a); NEXT();
op_98: IMPLIED(); a = y; SETNZ(a); NEXT();
op_BA: IMPLIED(); x = s; SETNZ(x); NEXT();
op_9A: IMPLIED(); s = x; NEXT();
op_E8: IMPLIED(); x++; SETNZ(x); NEXT_LIKELY(C8, E8);
op_C8: IMPLIED(); y++; SETNZ(y); NEXT_LIKELY(B1, C0);
op_CA: IMPLIED(); x--; SETNZ(x); NEXT_LIKELY(10, 88);
op_88: IMPLIED(); y--; SETNZ(y); NEXT_LIKELY(D0, 10);
op_18: IMPLIED(); p &= (uint8_t)~P_C; NEXT_LIKELY(69, 79);
op_38: IMPLIED(); p |= P_C; NEXT_LIKELY(F5, E9);
op_D8: IMPLIED(); p &= (uint8_t)~P_D; NEXT();
op_F8: IMPLIED(); p |= P_D; NEXT();
op_B8: IMPLIED(); p &= (uint8_t)~P_V; NEXT();
/* CLI, SEI and PLP change I after their interrupt poll: the poll sees the old I. */
op_58: IMPLIED(); n->cpu.poll_i = p & P_I; p &= (uint8_t)~P_I; bus.limit = bus.next_event = n->next_event = cyc; NEXT();
op_78: IMPLIED(); n->cpu.poll_i = p & P_I; p |= P_I; bus.limit = bus.next_event = n->next_event = cyc; NEXT();

/* Stack. */
op_48: IMPLIED(); PUSH(a); NEXT_LIKELY(BD, 84);
op_08: IMPLIED(); PUSH(P() | P_B | P_U); NEXT();
op_68: IMPLIED(); ZRD(0x100 | s); a = PULL(); SETNZ(a); NEXT_LIKELY(2A, 85);
op_28: IMPLIED(); ZRD(0x100 | s); n->cpu.poll_i = p & P_I;
    p = (uint8_t)((PULL() & ~P_B) | P_U); NZ_FROM_P(); bus.limit = bus.next_event = n->next_event = cyc; NEXT();

/* Jumps and subroutines. */
op_4C:
    AM_ABS();
    /* JMP to itself (a game's idle loop) only re-reads its own three ROM
     * bytes: skip whole 3-cycle iterations up to the next event. */
    if (addr == (uint16_t)(PC() - 3) && addr >= 0x8000 && cyc < bus.next_event)
        cyc += (bus.next_event - cyc + 2) / 3 * 3;
    NEAR_JUMP(PC(), addr);
op_6C: { /* JMP (ind): the pointer's high byte is read from the same page. */
    uint16_t lo = FETCH(); uint16_t ptr = (uint16_t)(lo | (PEEK() << 8));
    uint16_t t = RDP(ptr, ptr >> 8); JUMP(t | (RDP((ptr & 0xFF00) | ((ptr + 1) & 0xFF), t) << 8)); }
op_20: { uint16_t lo = FETCH(); ZRD(0x100 | s); uint16_t ret = PC(); PUSH(ret >> 8); PUSH(ret & 0xFF);
    NEAR_JUMP(PC(), lo | (PEEK() << 8)); }
op_60: { IMPLIED(); ZRD(0x100 | s); uint16_t lo = PULL(); uint16_t ret = (uint16_t)(lo | (PULL() << 8));
    fetch(n, ret, &bus, BUS_TRACK, ret >> 8); NEAR_JUMP(PC(), ret + 1); }
op_40: { IMPLIED(); ZRD(0x100 | s); p = (uint8_t)((PULL() & ~P_B) | P_U); NZ_FROM_P();
    uint16_t lo = PULL(); uint16_t to = (uint16_t)(lo | (PULL() << 8)); bus.limit = bus.next_event = n->next_event = cyc; JUMP(to); }
op_00: { /* BRK: an NMI edge before the vector fetch takes over the vector. */
    FETCH(); uint16_t ret = PC(); PUSH(ret >> 8); PUSH(ret & 0xFF);
    uint16_t vec = 0xFFFE;
    if (nmi_hijacks(n, cyc)) vec = 0xFFFA;
    PUSH(P() | P_B | P_U); p |= P_I;
    uint16_t lo = RD(vec); uint16_t to = (uint16_t)(lo | (RD(vec + 1) << 8));
    n->cpu.poll_i = 0xFF;
    n->cpu.sequence_end = cyc;
    JUMP(to); }

/* Branches. */
op_10: BRANCH(!FLAG_N()); op_30: BRANCH(FLAG_N());
op_50: BRANCH(!(p & P_V)); op_70: BRANCH(p & P_V);
op_90: BRANCH(!(p & P_C)); op_B0: BRANCH(p & P_C);
op_D0: BRANCH(!FLAG_Z()); op_F0: BRANCH(FLAG_Z());

/* KIL: the CPU locks up until reset. */
op_KIL:
    n->cpu.jammed = 1;
    if (cyc < bus.next_event) cyc = bus.next_event;
    JUMP(PC() - 1);
