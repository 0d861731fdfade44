/* test_nestest: the CPU against nestest.log, line for line (PC, opcode bytes,
 * A, X, Y, P, SP and the cycle count), from $C000 in automation mode. */
#include <stdio.h>
#include <string.h>

#include "smbrl/nes.h"
#include "testlib.h"

int main(void)
{
    char rom[1024], log[1024], err[256];
    testlib_data_path("SMBRL_TEST_ROM_DIR", "other/nestest.nes", rom, sizeof rom);
    testlib_data_path("SMBRL_TEST_ROM_DIR", "other/nestest.log", log, sizeof log);
    cart c = {0};
    if (cart_load_file(&c, rom, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    nes *n = nes_create(&c, err, sizeof err);
    CHECK(n != NULL);
    nes_cpu_set_pc(n, 0xC000);
    FILE *f = fopen(log, "r");
    char want[256], got[256];
    int lineno = 0, mismatches = 0;
    while (fgets(want, sizeof want, f)) {
        lineno++;
        nes_trace_step(n, got, sizeof got);
        /* Compare the fields the log and our trace share: PC and bytes (cols 0-15),
         * registers (from "A:"), and the cycle count (from "CYC:"). */
        const char *wa = strstr(want, "A:"), *ga = strstr(got, "A:");
        const char *wc = strstr(want, "CYC:"), *gc = strstr(got, "CYC:");
        int ok = wa && ga && wc && gc && !strncmp(want, got, 14) && !strncmp(wa, ga, 25) &&
                 strtoul(wc + 4, NULL, 10) == strtoul(gc + 4, NULL, 10);
        if (!ok) {
            if (mismatches++ < 3)
                fprintf(stderr, "line %d differs:\n want %s got  %s\n", lineno, want, got);
        }
        if (mismatches > 3)
            break;
    }
    fclose(f);
    CHECK_EQ_INT(mismatches, 0);
    CHECK_EQ_INT(lineno, 8991);
    /* nestest leaves its error codes in $02 and $03: 0 means every test passed. */
    CHECK_EQ_INT(nes_peek(n, 0x02), 0);
    CHECK_EQ_INT(nes_peek(n, 0x03), 0);
    nes_free(n);
    cart_free(&c);
    return testlib_finish("test_nestest");
}
