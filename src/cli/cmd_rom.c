/* cmd_rom.c: `smbrl rom info FILE` and `smbrl rom list DIR`: what a ROM file is
 * (known dump or not, mapper, sizes, header) and whether smbrl can run it. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "cli/commands.h"
#include "smbrl/cart.h"

static void rom_usage(FILE *out)
{
    fprintf(out, "usage: smbrl rom info [--json] FILE\n"
                 "       smbrl rom list [--json] DIR\n\n"
                 "Inspect NES ROM files (iNES / NES 2.0).\n\n"
                 "  info FILE   game (known Super Mario Bros dumps by SHA-1), mapper, PRG/CHR\n"
                 "              sizes, mirroring, battery, header kind and SHA-1 of one file\n"
                 "  list DIR    one line per .nes file in DIR: file, whether smbrl can run it, game\n\n"
                 "Run 'smbrl rom info --help' or 'smbrl rom list --help' for their flags.\n"
                 "Exit status: 0 ok, 1 a file could not be read or is not a valid ROM, 2 bad usage.\n");
}

static void info_usage(FILE *out)
{
    fprintf(out, "usage: smbrl rom info [--json] FILE\n\n"
                 "Describe one ROM file: game, mapper number and name (and whether smbrl\n"
                 "implements it), PRG and CHR sizes, PRG RAM, mirroring, battery, trainer,\n"
                 "header kind (iNES or NES 2.0), bytes after the image, and the file's SHA-1.\n\n"
                 "flags:\n"
                 "  --json      print the same facts as one JSON object on one line\n"
                 "  -h, --help  show this help\n\n"
                 "Exit status: 0 ok, 1 the file cannot be read or is not a valid ROM, 2 bad usage.\n");
}

static void list_usage(FILE *out)
{
    fprintf(out, "usage: smbrl rom list [--json] DIR\n\n"
                 "One line per *.nes file in DIR (not recursive), sorted by name: the file name,\n"
                 "whether smbrl can run it (its mapper is implemented), and the game.\n"
                 "Files that are not valid ROMs are listed with the reason.\n\n"
                 "flags:\n"
                 "  --json      print a JSON array with one object per file (as rom info --json)\n"
                 "  -h, --help  show this help\n\n"
                 "Exit status: 0 ok, 1 DIR cannot be read or a listed file is not a valid ROM,\n"
                 "2 bad usage.\n");
}

/* Flags shared by both subcommands: [--json] and exactly one operand.
 * Returns -1 after printing help (exit 0), -2 on bad usage (exit 2), 0 otherwise. */
static int parse_args(int argc, char **argv, const char *what, const char *operand_name,
                      void (*usage)(FILE *), int *json, const char **operand)
{
    *json = 0;
    *operand = NULL;
    int flags_done = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!flags_done && (!strcmp(a, "-h") || !strcmp(a, "--help"))) {
            usage(stdout);
            return -1;
        } else if (!flags_done && !strcmp(a, "--json")) {
            *json = 1;
        } else if (!flags_done && !strcmp(a, "--")) {
            flags_done = 1;
        } else if (!flags_done && a[0] == '-' && a[1]) {
            fprintf(stderr, "smbrl rom %s: unknown flag '%s' (see smbrl rom %s --help)\n", what, a,
                    what);
            return -2;
        } else if (*operand) {
            fprintf(stderr, "smbrl rom %s: one %s only, got '%s' and '%s'\n", what,
                    operand_name, *operand, a);
            return -2;
        } else {
            *operand = a;
        }
    }
    if (!*operand) {
        fprintf(stderr, "smbrl rom %s: missing %s (see smbrl rom %s --help)\n", what,
                operand_name, what);
        return -2;
    }
    return 0;
}

static long long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static const char *header_kind(const cart *c) { return c->nes2 ? "NES 2.0" : "iNES"; }

static cJSON *info_json(const char *path, const cart *c)
{
    char hex[41];
    cart_sha1_hex(c, hex);
    long long size = file_size(path);
    long long trailing = size < 0 ? 0 : size - (long long)cart_image_size(c);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "file", path);
    cJSON_AddStringToObject(o, "game", cart_game_key(c->game));
    cJSON_AddStringToObject(o, "game_name", cart_game_name(c->game));
    cJSON_AddBoolToObject(o, "known", c->game != CART_GAME_UNKNOWN);
    cJSON_AddNumberToObject(o, "mapper", c->mapper);
    cJSON_AddStringToObject(o, "mapper_name", cart_mapper_name(c->mapper));
    cJSON_AddNumberToObject(o, "submapper", c->submapper);
    cJSON_AddBoolToObject(o, "supported", cart_mapper_supported(c->mapper));
    cJSON_AddNumberToObject(o, "prg_rom", (double)c->prg_size);
    cJSON_AddNumberToObject(o, "chr_rom", (double)c->chr_size);
    cJSON_AddNumberToObject(o, "chr_ram", (double)c->chr_ram_size);
    cJSON_AddNumberToObject(o, "prg_ram", (double)c->prg_ram_size);
    cJSON_AddStringToObject(o, "mirroring", cart_mirroring_name(c->mirroring));
    cJSON_AddBoolToObject(o, "battery", c->has_battery);
    cJSON_AddBoolToObject(o, "trainer", c->has_trainer);
    cJSON_AddStringToObject(o, "header", header_kind(c));
    cJSON_AddNumberToObject(o, "trailing_bytes", (double)trailing);
    cJSON_AddStringToObject(o, "sha1", hex);
    return o;
}

/* Prints a cJSON value on one line; returns 1 when out of memory. */
static int print_json(cJSON *o)
{
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s) {
        fprintf(stderr, "smbrl rom: out of memory\n");
        return 1;
    }
    printf("%s\n", s);
    free(s);
    return 0;
}

static void print_size(const char *label, size_t bytes)
{
    if (bytes && bytes % 1024 == 0)
        printf("%-11s%zu KiB (%zu bytes)\n", label, bytes / 1024, bytes);
    else
        printf("%-11s%zu bytes\n", label, bytes);
}

static void info_text(const char *path, const cart *c)
{
    char hex[41];
    cart_sha1_hex(c, hex);
    printf("%-11s%s\n", "file:", path);
    if (c->game == CART_GAME_UNKNOWN)
        printf("%-11s%s\n", "game:", "unknown: not a known Super Mario Bros dump");
    else
        printf("%-11s%s\n", "game:", cart_game_name(c->game));
    printf("%-11s%d %s (%s)\n", "mapper:", c->mapper, cart_mapper_name(c->mapper),
           cart_mapper_supported(c->mapper) ? "smbrl can run it" : "not supported by smbrl");
    if (c->nes2)
        printf("%-11s%d\n", "submapper:", c->submapper);
    print_size("PRG ROM:", c->prg_size);
    if (c->chr_size)
        print_size("CHR ROM:", c->chr_size);
    else
        printf("%-11snone\n", "CHR ROM:");
    if (c->chr_ram_size)
        print_size("CHR RAM:", c->chr_ram_size);
    if (c->prg_ram_size)
        print_size("PRG RAM:", c->prg_ram_size);
    else
        printf("%-11snone\n", "PRG RAM:");
    printf("%-11s%s\n", "mirroring:", cart_mirroring_name(c->mirroring));
    printf("%-11s%s\n", "battery:", c->has_battery ? "yes" : "no");
    printf("%-11s%s\n", "trainer:", c->has_trainer ? "yes (512 bytes, skipped)" : "no");
    printf("%-11s%s\n", "header:", header_kind(c));
    long long size = file_size(path);
    if (size > (long long)cart_image_size(c))
        printf("%-11s%lld bytes after the CHR data (ignored)\n", "trailing:",
               size - (long long)cart_image_size(c));
    printf("%-11s%s\n", "SHA-1:", hex);
}

static int rom_info(int argc, char **argv)
{
    int json;
    const char *path;
    int rc = parse_args(argc, argv, "info", "FILE", info_usage, &json, &path);
    if (rc)
        return rc == -1 ? 0 : 2;
    cart c;
    char err[512];
    if (cart_inspect_file(&c, path, err, sizeof err) < 0) {
        fprintf(stderr, "smbrl rom info: %s\n", err);
        return 1;
    }
    if (json)
        rc = print_json(info_json(path, &c));
    else
        info_text(path, &c);
    cart_free(&c);
    return rc;
}

static int has_nes_suffix(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && !strcasecmp(name + n - 4, ".nes");
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.nes entries of dir, sorted, malloc'd; NULL with *count = -1 when dir cannot be read. */
static char **nes_files(const char *dir, int *count)
{
    *count = -1;
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    char **names = NULL;
    int n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!has_nes_suffix(e->d_name))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **grown = realloc(names, (size_t)cap * sizeof *names);
            if (!grown)
                goto out_of_memory;
            names = grown;
        }
        if (!(names[n] = strdup(e->d_name)))
            goto out_of_memory;
        n++;
    }
    closedir(d);
    if (n)
        qsort(names, (size_t)n, sizeof *names, compare_names);
    *count = n;
    return names;

out_of_memory:
    closedir(d);
    while (n > 0)
        free(names[--n]);
    free(names);
    errno = ENOMEM;
    return NULL;
}

static int rom_list(int argc, char **argv)
{
    int json;
    const char *dir;
    int rc = parse_args(argc, argv, "list", "DIR", list_usage, &json, &dir);
    if (rc)
        return rc == -1 ? 0 : 2;
    int n;
    char **names = nes_files(dir, &n);
    if (n < 0) {
        fprintf(stderr, "smbrl rom list: %s: cannot read directory: %s\n", dir, strerror(errno));
        return 1;
    }
    if (n == 0 && !json)
        fprintf(stderr, "smbrl rom list: no .nes files in %s\n", dir);

    int width = 4;
    for (int i = 0; i < n; i++)
        if ((int)strlen(names[i]) > width)
            width = (int)strlen(names[i]);
    if (n && !json)
        printf("%-*s  %-4s  %s\n", width, "FILE", "RUNS", "GAME");

    cJSON *array = json ? cJSON_CreateArray() : NULL;
    int bad = 0;
    for (int i = 0; i < n; i++) {
        char path[4096], err[512];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        cart c;
        if (cart_inspect_file(&c, path, err, sizeof err) < 0) {
            bad = 1;
            /* err starts with the path; the line already names the file. */
            const char *why = strncmp(err, path, strlen(path)) ? err : err + strlen(path) + 2;
            if (json) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "file", path);
                cJSON_AddStringToObject(o, "error", why);
                cJSON_AddItemToArray(array, o);
            } else {
                printf("%-*s  %-4s  invalid: %s\n", width, names[i], "no", why);
            }
        } else if (json) {
            cJSON_AddItemToArray(array, info_json(path, &c));
        } else {
            const char *game = c.game == CART_GAME_UNKNOWN ? "unknown: not a known Super Mario Bros dump"
                                                           : cart_game_name(c.game);
            if (cart_mapper_supported(c.mapper))
                printf("%-*s  %-4s  %s\n", width, names[i], "yes", game);
            else
                printf("%-*s  %-4s  %s (mapper %d %s not supported)\n", width, names[i], "no",
                       game, c.mapper, cart_mapper_name(c.mapper));
        }
        cart_free(&c);
        free(names[i]);
    }
    free(names);
    if (json && print_json(array))
        return 1;
    return bad;
}

int cmd_rom(int argc, char **argv)
{
    if (argc < 2) {
        rom_usage(stderr);
        return 2;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
        rom_usage(stdout);
        return 0;
    }
    if (!strcmp(sub, "info"))
        return rom_info(argc - 1, argv + 1);
    if (!strcmp(sub, "list"))
        return rom_list(argc - 1, argv + 1);
    fprintf(stderr, "smbrl rom: unknown subcommand '%s' (see smbrl rom --help)\n", sub);
    return 2;
}
