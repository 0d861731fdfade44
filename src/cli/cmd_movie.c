/* cmd_movie.c: `smbrl movie`: play recorded input from power-on.
 *   --inputs FILE   one controller byte per frame (DESIGN.md bit order)
 *   --fm2 FILE      an FCEUX movie (text; port 0 only; soft reset and power commands)
 *   --trace OUT     write the Super Mario Bros state after every frame, in the
 *                   reference trajectories' format (shared/reference/README.md)
 * At the end it prints one JSON line: world, stage, game mode, frames and a RAM hash.
 *
 * Opposing directions: a real D-pad cannot press Left+Right or Up+Down, and
 * Nestopia's input layer drops such pairs; inputs are filtered the same way
 * (both buttons of the pair released) unless --allow-opposing is given. With
 * this the shared reference trajectories match frame for frame. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "smbrl/nes.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: smbrl movie --rom ROM (--inputs FILE | --fm2 FILE) [--trace OUT] [--frames N]\n\n"
            "Plays controller input from power-on and reports where the game ended up.\n\n"
            "  --rom PATH      the ROM (default: $SMBRL_ROM)\n"
            "  --inputs FILE   one byte per frame: bit 0 A, 1 B, 2 Select, 3 Start, 4 Up, 5 Down, 6 Left, 7 Right\n"
            "  --fm2 FILE      an FCEUX .fm2 movie (port 0; reset and power commands honoured)\n"
            "  --trace OUT     write 'frame world stage opermode lives xpage x y state score time' per frame\n"
            "  --frames N      stop after N frames (default: the whole input)\n"
            "  --allow-opposing  pass Left+Right and Up+Down through (a real pad cannot press them;\n"
            "                  by default both buttons of such a pair are released, as Nestopia does)\n"
            "  --help          this text\n");
}

/* Reads an fm2 movie into one byte per frame plus a command byte per frame. */
static int load_fm2(const char *path, uint8_t **buttons, uint8_t **commands, size_t *frames)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "smbrl movie: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, count = 0;
    uint8_t *b = malloc(cap), *c = malloc(cap);
    char line[512];
    int lineno = 0;
    while (b && c && fgets(line, sizeof line, f)) {
        lineno++;
        if (line[0] != '|')
            continue; /* header: "key value" */
        /* |commands|RLDUTSBA|port1|port2| */
        char *cmd = line + 1, *bar = strchr(cmd, '|');
        if (!bar || strlen(bar + 1) < 8) {
            fprintf(stderr, "smbrl movie: %s:%d: malformed input line\n", path, lineno);
            free(b), free(c), fclose(f);
            return -1;
        }
        if (count == cap) {
            cap *= 2;
            uint8_t *nb = realloc(b, cap), *nc = realloc(c, cap);
            if (nb) b = nb;
            if (nc) c = nc;
            if (!nb || !nc)
                break;
        }
        static const uint8_t order[8] = {NES_RIGHT, NES_LEFT, NES_DOWN, NES_UP, NES_START, NES_SELECT, NES_B, NES_A};
        uint8_t pad = 0;
        for (int i = 0; i < 8; i++)
            if (bar[1 + i] != '.' && bar[1 + i] != ' ')
                pad |= order[i];
        b[count] = pad;
        c[count] = (uint8_t)atoi(cmd);
        count++;
    }
    fclose(f);
    if (!b || !c) {
        free(b), free(c);
        fprintf(stderr, "smbrl movie: out of memory reading %s\n", path);
        return -1;
    }
    *buttons = b;
    *commands = c;
    *frames = count;
    return 0;
}

static int load_inputs(const char *path, uint8_t **buttons, size_t *frames)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "smbrl movie: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(size > 0 ? (size_t)size : 1);
    if (!b || (size > 0 && fread(b, 1, (size_t)size, f) != (size_t)size)) {
        fprintf(stderr, "smbrl movie: cannot read %s\n", path);
        free(b);
        fclose(f);
        return -1;
    }
    fclose(f);
    *buttons = b;
    *frames = (size_t)size;
    return 0;
}

static void digits(const uint8_t *ram, int from, int count, char *out)
{
    for (int i = 0; i < count; i++)
        out[i] = (char)('0' + (ram[from + i] % 10));
    out[count] = 0;
}

int cmd_movie(int argc, char **argv)
{
    const char *rom = getenv("SMBRL_ROM"), *inputs = NULL, *fm2 = NULL, *trace = NULL;
    long max_frames = -1;
    int allow_opposing = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_value = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--rom") && has_value) {
            rom = argv[++i];
        } else if (!strcmp(a, "--inputs") && has_value) {
            inputs = argv[++i];
        } else if (!strcmp(a, "--fm2") && has_value) {
            fm2 = argv[++i];
        } else if (!strcmp(a, "--trace") && has_value) {
            trace = argv[++i];
        } else if (!strcmp(a, "--allow-opposing")) {
            allow_opposing = 1;
        } else if (!strcmp(a, "--frames") && has_value) {
            char *end;
            max_frames = strtol(argv[++i], &end, 10);
            if (*end || max_frames < 0) {
                fprintf(stderr, "smbrl movie: --frames needs a non-negative number, got '%s'\n", argv[i]);
                return 2;
            }
        } else {
            fprintf(stderr, "smbrl movie: unknown flag or missing value: '%s' (see smbrl movie --help)\n", a);
            return 2;
        }
    }
    if (!rom) {
        fprintf(stderr, "smbrl movie: no ROM: pass --rom PATH or set SMBRL_ROM\n");
        return 2;
    }
    if (!inputs == !fm2) {
        fprintf(stderr, "smbrl movie: give exactly one of --inputs FILE or --fm2 FILE\n");
        return 2;
    }
    char err[256];
    cart c = {0};
    if (cart_load_file(&c, rom, err, sizeof err) < 0) {
        fprintf(stderr, "smbrl movie: %s\n", err);
        return 1;
    }
    uint8_t *buttons = NULL, *commands = NULL;
    size_t frames = 0;
    int rc = fm2 ? load_fm2(fm2, &buttons, &commands, &frames) : load_inputs(inputs, &buttons, &frames);
    if (rc < 0) {
        cart_free(&c);
        return 1;
    }
    if (max_frames >= 0 && (size_t)max_frames < frames)
        frames = (size_t)max_frames;
    nes *n = nes_create(&c, err, sizeof err);
    if (!n) {
        fprintf(stderr, "smbrl movie: %s: %s\n", rom, err);
        free(buttons), free(commands), cart_free(&c);
        return 1;
    }
    FILE *out = NULL;
    if (trace && !(out = fopen(trace, "w"))) {
        fprintf(stderr, "smbrl movie: cannot write %s: %s\n", trace, strerror(errno));
        nes_free(n), free(buttons), free(commands), cart_free(&c);
        return 1;
    }
    const uint8_t *ram = nes_ram(n);
    for (size_t f = 0; f < frames; f++) {
        if (commands && (commands[f] & 2))
            nes_power(n);
        else if (commands && (commands[f] & 1))
            nes_reset(n);
        uint8_t pad = buttons[f];
        if (!allow_opposing) {
            if ((pad & (NES_LEFT | NES_RIGHT)) == (NES_LEFT | NES_RIGHT))
                pad &= (uint8_t)~(NES_LEFT | NES_RIGHT);
            if ((pad & (NES_UP | NES_DOWN)) == (NES_UP | NES_DOWN))
                pad &= (uint8_t)~(NES_UP | NES_DOWN);
        }
        nes_run_frame(n, pad, NULL);
        if (out) {
            char score[7], time[4];
            digits(ram, 0x7DD, 6, score);
            digits(ram, 0x7F8, 3, time);
            fprintf(out, "%zu %d %d %d %d %d %d %d %d %s %s\n", f, ram[0x75F] + 1, ram[0x75C] + 1, ram[0x770],
                    ram[0x75A], ram[0x6D], ram[0x86], ram[0xCE], ram[0x0E], score, time);
        }
    }
    int failed = 0;
    if (out && fclose(out) != 0) {
        fprintf(stderr, "smbrl movie: writing %s failed: %s\n", trace, strerror(errno));
        failed = 1;
    }
    printf("{\"world\": %d, \"stage\": %d, \"game_mode\": %d, \"frames\": %zu, \"ram_hash\": \"%016llx\"}\n",
           ram[0x75F] + 1, ram[0x75C] + 1, ram[0x770], frames,
           (unsigned long long)nes_hash_bytes(ram, 2048, 0));
    nes_free(n);
    free(buttons);
    free(commands);
    cart_free(&c);
    return failed;
}
