/* blargg_runner: runs one test ROM and reads its verdict the way its suite
 * reports it (see test-roms/README.md):
 *   6000    status byte at $6000 after the DE B0 61 signature, text from $6004;
 *           $81 asks for a reset press after at least 100 ms
 *   f8      result code at $00F8 after the given frames: 1 = passed
 *   screen  the nametable text after the given frames says "PASSED"/"Passed",
 *           or shows result code "$01" (the 2005 PPU tests print codes only)
 * usage: blargg_runner ROM PROTOCOL FRAMES (ROM relative to SMBRL_TEST_ROM_DIR) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smbrl/nes.h"
#include "testlib.h"

static void print_text(nes *n)
{
    const uint8_t *ram = nes_prg_ram(n);
    if (!ram)
        return;
    printf("text: ");
    for (int i = 4; i < 0x1000 && ram[i]; i++)
        putchar(ram[i]);
    printf("\n");
}

static int screen_says(nes *n, const char *word)
{
    const uint8_t *nt = nes_nametables(n);
    size_t len = strlen(word);
    for (size_t i = 0; i + len <= 2048; i++)
        if (!memcmp(nt + i, word, len))
            return 1;
    return 0;
}

static void print_screen(nes *n)
{
    const uint8_t *nt = nes_nametables(n);
    for (int row = 0; row < 30; row++) {
        char line[33];
        int any = 0;
        for (int col = 0; col < 32; col++) {
            uint8_t c = nt[row * 32 + col];
            line[col] = (c >= 32 && c < 127) ? (char)c : ' ';
            any |= c >= 33 && c < 127;
        }
        line[32] = 0;
        if (any)
            printf("screen: %s\n", line);
    }
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: blargg_runner ROM 6000|f8|screen FRAMES\n");
        return 2;
    }
    char path[1024], err[256];
    testlib_data_path("SMBRL_TEST_ROM_DIR", argv[1], path, sizeof path);
    const char *protocol = argv[2];
    int frames = atoi(argv[3]);
    cart c = {0};
    if (cart_load_file(&c, path, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    nes *n = nes_create(&c, err, sizeof err);
    if (!n) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    int result = -1;
    if (!strcmp(protocol, "6000")) {
        int reset_at = -1;
        for (int f = 0; f < frames; f++) {
            nes_run_frame(n, 0, NULL);
            const uint8_t *ram = nes_prg_ram(n);
            if (ram[1] != 0xDE || ram[2] != 0xB0 || ram[3] != 0x61)
                continue;
            if (ram[0] == 0x81 && reset_at < 0)
                reset_at = f + 10;
            if (reset_at >= 0 && f == reset_at) {
                nes_reset(n);
                reset_at = -1;
                continue;
            }
            if (ram[0] < 0x80) {
                result = ram[0];
                break;
            }
        }
        print_text(n);
        printf("%s: $6000 = %d (0 = passed)\n", argv[1], result);
        result = result == 0 ? 0 : 1;
    } else if (!strcmp(protocol, "f8")) {
        for (int f = 0; f < frames; f++)
            nes_run_frame(n, 0, NULL);
        int code = nes_peek(n, 0xF8);
        print_screen(n);
        printf("%s: $F8 = %d (1 = passed)\n", argv[1], code);
        result = code == 1 ? 0 : 1;
    } else {
        for (int f = 0; f < frames; f++)
            nes_run_frame(n, 0, NULL);
        print_screen(n);
        int passed = screen_says(n, "PASSED") || screen_says(n, "Passed") || screen_says(n, "$01");
        int failed = screen_says(n, "FAIL") || screen_says(n, "Fail");
        result = passed && !failed ? 0 : 1;
        printf("%s: %s\n", argv[1], result ? "no pass on screen" : "passed");
    }
    nes_free(n);
    cart_free(&c);
    return result;
}
