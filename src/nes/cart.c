/* cart.c: loads iNES / NES 2.0 images into a cart (header fields, malloc'd PRG and
 * CHR copies, SHA-1 of the file) and names the known Super Mario Bros dumps.
 * Header layout: https://www.nesdev.org/wiki/INES and https://www.nesdev.org/wiki/NES_2.0
 * Every size is checked against the input before it is used, so no input can make
 * the loader read out of bounds (fuzz/fuzz_cart.c keeps that honest). */
#include "util/error.h"
#include "smbrl/cart.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smbrl/sha1.h"

#define HEADER_SIZE 16
#define TRAINER_SIZE 512
/* Far above any NES ROM (the largest known images are a few MiB), low enough that
 * reading /dev/zero or a video by mistake fails quickly instead of eating memory. */
#define MAX_FILE_SIZE ((size_t)64 << 20)

/* Mappers smbrl knows by name; `supported` marks the ones the emulator implements.
 * Adding a mapper to the emulator means flipping its flag here, nothing else. */
static const struct {
    int number;
    const char *name;
    int supported;
} mappers[] = {
    {0, "NROM", 1},
    {1, "MMC1", 1},
    {2, "UxROM", 1},
    {3, "CNROM", 1},
    {4, "MMC3", 0},
    {7, "AxROM", 0},
};

/* Known dumps by the SHA-1 of the whole file (header included). The gym-super-mario-bros
 * "modes" are patched SMB images that strip the background (downsample, pixel, rectangle). */
static const struct {
    int game;
    const char *key;   /* short id for scripts and JSON */
    const char *name;
    const char *sha1;
} games[] = {
    {CART_GAME_SMB, "smb", "Super Mario Bros. (World)",
     "ab30029efec6ccfc5d65dfda7fbc6e6489a80805"},
    {CART_GAME_SMB_DOWNSAMPLE, "smb-downsample",
     "Super Mario Bros., gym-super-mario-bros downsample ROM (v1)",
     "4bf894b301f339bce306af4813923a9900d034d1"},
    {CART_GAME_SMB_PIXEL, "smb-pixel", "Super Mario Bros., gym-super-mario-bros pixel ROM (v2)",
     "63a520bf1a2911d7f3c343cbda42c1969e0ae184"},
    {CART_GAME_SMB_RECTANGLE, "smb-rectangle",
     "Super Mario Bros., gym-super-mario-bros rectangle ROM (v3)",
     "b0e9b156a51017c33a6b76708fc71395f8d32b15"},
    {CART_GAME_SMB_LOST_LEVELS, "smb-lost-levels", "Super Mario Bros. 2 (Japan) / The Lost Levels",
     "cc9457e33e132cd233efcc05dc8e85fc308e0fe2"},
    {CART_GAME_SMB_LOST_LEVELS_DOWNSAMPLE, "smb-lost-levels-downsample",
     "Super Mario Bros. 2 (Japan) / The Lost Levels, gym-super-mario-bros downsample ROM",
     "0fcda592319f8c2b7009ca627600396fd13843c6"},
    {CART_GAME_SMB2_USA, "smb2-usa", "Super Mario Bros. 2 (USA)",
     "7df0f595b074f587c6a1d8f47e031f045d540dae"},
    {CART_GAME_SMB3, "smb3", "Super Mario Bros. 3", "a03e7e526e79df222e048ae22214bca2bc49c449"},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* "unsupported mapper 4 MMC3 (supported: 0 NROM)", the list taken from mappers[]. */
static int unsupported_mapper(int mapper, char *err, size_t errlen)
{
    char list[160] = "";
    size_t n = 0;
    for (size_t i = 0; i < COUNT(mappers); i++) {
        if (mappers[i].supported && n < sizeof list) {
            int w = snprintf(list + n, sizeof list - n, "%s%d %s", n ? ", " : "",
                             mappers[i].number, mappers[i].name);
            n += w > 0 ? (size_t)w : 0;
        }
    }
    const char *name = cart_mapper_name(mapper);
    return smbrl_fail_code(err, errlen, -2, "unsupported mapper %d%s%s (supported: %s)", mapper,
                strcmp(name, "unknown") ? " " : "", strcmp(name, "unknown") ? name : "", list);
}

/* NES 2.0 ROM size from the LSB byte and the 4-bit MSB nibble, in bytes.
 * MSB nibble $F selects the exponent-multiplier form: 2^E * (2*MM + 1) with
 * E = LSB bits 7-2 and MM = LSB bits 1-0. Returns -1 when the size cannot be a real
 * ROM (over 2^32 bytes), which also keeps the arithmetic below from overflowing. */
static long long nes2_rom_size(int lsb, int msb, long long unit)
{
    if (msb == 0xF) {
        int exponent = lsb >> 2, multiplier = (lsb & 3) * 2 + 1;
        if (exponent > 32)
            return -1;
        return (1LL << exponent) * multiplier;
    }
    return (long long)(msb << 8 | lsb) * unit;
}

/* NES 2.0 RAM sizes are shift counts: 0 means none, else 64 << n bytes. */
static size_t nes2_ram_size(int shift) { return shift ? (size_t)64 << shift : 0; }

/* The PPU combines a tile row's two plane bytes into eight pixels on every
 * rendered line; for CHR ROM that work is done once here (cart.h, chr_pixels). */
static void decode_chr(const uint8_t *chr, size_t size, uint64_t *out)
{
    for (size_t tile = 0; tile < size / 16; tile++)
        for (int row = 0; row < 8; row++) {
            uint8_t lo = chr[tile * 16 + row], hi = chr[tile * 16 + 8 + row];
            uint64_t w = 0;
            for (int i = 0; i < 8; i++) {
                unsigned c = ((lo >> (7 - i)) & 1) | (((hi >> (7 - i)) & 1) << 1);
                w |= (uint64_t)(c ? c | 0x0C : 0) << (8 * i);
            }
            out[row * (size / 16) + tile] = w;
        }
}

static int load(cart *c, const uint8_t *data, size_t size, int any_mapper, char *err,
                size_t errlen)
{
    memset(c, 0, sizeof *c);
    if (size == 0)
        return smbrl_fail_code(err, errlen, -1, "not an iNES file (empty file)");
    if (!data || size < 4 || memcmp(data, "NES\x1A", 4) != 0)
        return smbrl_fail_code(err, errlen, -1, "not an iNES file (bad magic)");
    if (size < HEADER_SIZE)
        return smbrl_fail_code(err, errlen, -1, "truncated: %zu bytes, shorter than the 16-byte iNES header",
                    size);

    const uint8_t *h = data;
    cart t = {0};
    t.nes2 = (h[7] & 0x0C) == 0x08;
    /* Old dumping tools wrote their name ("DiskDude!") into bytes 7-15; in such
     * "archaic" headers byte 7 is not a mapper nibble (nesdev wiki, iNES "Variant comparison"). */
    int archaic = !t.nes2 && ((h[7] & 0x0C) != 0 || h[12] || h[13] || h[14] || h[15]);

    t.mapper = h[6] >> 4;
    if (!archaic)
        t.mapper |= h[7] & 0xF0;
    t.has_battery = (h[6] >> 1) & 1;
    t.has_trainer = (h[6] >> 2) & 1;
    if (h[6] & 0x08)
        t.mirroring = CART_MIRROR_FOUR_SCREEN;
    else
        t.mirroring = (h[6] & 1) ? CART_MIRROR_VERTICAL : CART_MIRROR_HORIZONTAL;

    long long prg, chr;
    if (t.nes2) {
        t.mapper |= (h[8] & 0x0F) << 8;
        t.submapper = h[8] >> 4;
        prg = nes2_rom_size(h[4], h[9] & 0x0F, CART_PRG_BANK);
        chr = nes2_rom_size(h[5], h[9] >> 4, CART_CHR_BANK);
        if (prg < 0)
            return smbrl_fail_code(err, errlen, -1, "PRG ROM size 2^%d x %d bytes is too large for a NES ROM",
                        h[4] >> 2, (h[4] & 3) * 2 + 1);
        if (chr < 0)
            return smbrl_fail_code(err, errlen, -1, "CHR ROM size 2^%d x %d bytes is too large for a NES ROM",
                        h[5] >> 2, (h[5] & 3) * 2 + 1);
        t.prg_ram_size = nes2_ram_size(h[10] & 0x0F) + nes2_ram_size(h[10] >> 4);
        t.chr_ram_size = nes2_ram_size(h[11] & 0x0F) + nes2_ram_size(h[11] >> 4);
    } else {
        prg = (long long)h[4] * CART_PRG_BANK;
        chr = (long long)h[5] * CART_CHR_BANK;
        /* Byte 8 counts 8 KiB PRG RAM units, 0 meaning one for compatibility. */
        t.prg_ram_size = (!archaic && h[8]) ? (size_t)h[8] * 8192 : 8192;
    }
    if (chr == 0 && t.chr_ram_size == 0)
        t.chr_ram_size = CART_CHR_BANK;
    if (prg == 0)
        return smbrl_fail_code(err, errlen, -1, "no PRG ROM: the header says 0 bytes of PRG");

    size_t trainer = t.has_trainer ? TRAINER_SIZE : 0;
    size_t body = size - HEADER_SIZE;
    if ((unsigned long long)prg + (unsigned long long)chr + trainer > body) {
        if (trainer)
            return smbrl_fail_code(err, errlen, -1,
                        "truncated: header says 512 bytes of trainer + %lld bytes of PRG+CHR, "
                        "file has %zu after the header",
                        prg + chr, body);
        return smbrl_fail_code(err, errlen, -1, "truncated: header says %lld bytes of PRG+CHR, file has %zu",
                    prg + chr, body);
    }
    /* Bytes after CHR (PlayChoice INST-ROM, NES 2.0 misc ROMs, padding, a dumper's
     * tag) are allowed and ignored; the SHA-1 still covers them, so known dumps stay exact. */
    if (!any_mapper && !cart_mapper_supported(t.mapper))
        return unsupported_mapper(t.mapper, err, errlen);

    t.prg_size = (size_t)prg;
    t.chr_size = (size_t)chr;
    const uint8_t *rom = data + HEADER_SIZE + trainer;
    /* 256-byte aligned: a bank's host address then agrees with its CPU
     * address in the low byte, which the ROM interpreter's branches use. */
    t.prg = aligned_alloc(256, (t.prg_size + 255) / 256 * 256);
    t.chr = t.chr_size ? malloc(t.chr_size) : NULL;
    if (!t.prg || (t.chr_size && !t.chr)) {
        free(t.prg);
        free(t.chr);
        return smbrl_fail_code(err, errlen, -3, "out of memory for %zu bytes of PRG+CHR",
                    t.prg_size + t.chr_size);
    }
    memcpy(t.prg, rom, t.prg_size);
    if (t.chr_size) {
        memcpy(t.chr, rom + t.prg_size, t.chr_size);
        t.chr_pixels = malloc(t.chr_size / 16 * 8 * sizeof *t.chr_pixels);
        if (!t.chr_pixels) {
            free(t.prg);
            free(t.chr);
            return smbrl_fail_code(err, errlen, -3, "out of memory for %zu bytes of decoded CHR", t.chr_size * 4);
        }
        decode_chr(t.chr, t.chr_size, t.chr_pixels);
    }

    sha1(data, size, t.sha1);
    char hex[41];
    sha1_to_hex(t.sha1, hex);
    for (size_t i = 0; i < COUNT(games); i++)
        if (!strcmp(hex, games[i].sha1))
            t.game = games[i].game;
    *c = t;
    return 0;
}

int cart_load_memory(cart *c, const uint8_t *data, size_t size, char *err, size_t errlen)
{
    return load(c, data, size, 0, err, errlen);
}

int cart_inspect_memory(cart *c, const uint8_t *data, size_t size, char *err, size_t errlen)
{
    return load(c, data, size, 1, err, errlen);
}

/* Reads the whole file; *out is malloc'd. Errors name the path. */
static int read_file(const char *path, uint8_t **out, size_t *outsize, char *err, size_t errlen)
{
    *out = NULL;
    *outsize = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return smbrl_fail_code(err, errlen, -1, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 0, len = 0;
    uint8_t *buf = NULL;
    for (;;) {
        if (len == cap) {
            if (cap >= MAX_FILE_SIZE) {
                if (fgetc(f) == EOF)
                    break; /* exactly the limit */
                free(buf);
                fclose(f);
                return smbrl_fail_code(err, errlen, -1, "%s: larger than %zu MiB, not a NES ROM", path,
                            MAX_FILE_SIZE >> 20);
            }
            cap = cap ? cap * 2 : 65536;
            uint8_t *grown = realloc(buf, cap);
            if (!grown) {
                free(buf);
                fclose(f);
                return smbrl_fail_code(err, errlen, -3, "%s: out of memory", path);
            }
            buf = grown;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f);
    int saved = errno;
    fclose(f);
    if (bad) {
        free(buf);
        return smbrl_fail_code(err, errlen, -1, "%s: read error: %s", path, strerror(saved));
    }
    *out = buf;
    *outsize = len;
    return 0;
}

static int load_file(cart *c, const char *path, int any_mapper, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    uint8_t *data;
    size_t size;
    int rc = read_file(path, &data, &size, err, errlen);
    if (rc < 0)
        return rc;
    char why[256];
    rc = load(c, data, size, any_mapper, why, sizeof why);
    free(data);
    if (rc < 0)
        return smbrl_fail_code(err, errlen, rc, "%s: %s", path, why);
    return 0;
}

int cart_load_file(cart *c, const char *path, char *err, size_t errlen)
{
    return load_file(c, path, 0, err, errlen);
}

int cart_inspect_file(cart *c, const char *path, char *err, size_t errlen)
{
    return load_file(c, path, 1, err, errlen);
}

void cart_free(cart *c)
{
    if (!c)
        return;
    free(c->prg);
    free(c->chr);
    free(c->chr_pixels);
    memset(c, 0, sizeof *c);
}

size_t cart_image_size(const cart *c)
{
    return HEADER_SIZE + (c->has_trainer ? TRAINER_SIZE : 0) + c->prg_size + c->chr_size;
}

const char *cart_game_name(int game)
{
    for (size_t i = 0; i < COUNT(games); i++)
        if (games[i].game == game)
            return games[i].name;
    return "unknown";
}

const char *cart_game_key(int game)
{
    for (size_t i = 0; i < COUNT(games); i++)
        if (games[i].game == game)
            return games[i].key;
    return "unknown";
}

const char *cart_mapper_name(int mapper)
{
    for (size_t i = 0; i < COUNT(mappers); i++)
        if (mappers[i].number == mapper)
            return mappers[i].name;
    return "unknown";
}

int cart_mapper_supported(int mapper)
{
    for (size_t i = 0; i < COUNT(mappers); i++)
        if (mappers[i].number == mapper)
            return mappers[i].supported;
    return 0;
}

int cart_check_mapper(const cart *c, char *err, size_t errlen)
{
    return cart_mapper_supported(c->mapper) ? 0 : unsupported_mapper(c->mapper, err, errlen);
}

const char *cart_mirroring_name(int mirroring)
{
    switch (mirroring) {
    case CART_MIRROR_HORIZONTAL: return "horizontal";
    case CART_MIRROR_VERTICAL: return "vertical";
    case CART_MIRROR_FOUR_SCREEN: return "four-screen";
    case CART_MIRROR_SINGLE_LOW: return "single-screen (low)";
    case CART_MIRROR_SINGLE_HIGH: return "single-screen (high)";
    default: return "unknown";
    }
}

void cart_sha1_hex(const cart *c, char out[41]) { sha1_to_hex(c->sha1, out); }
