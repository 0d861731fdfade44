/* sha1.c: SHA-1 as specified in FIPS 180-4 section 6.1, written from the standard. */
#include "smbrl/sha1.h"

#include <string.h>

static uint32_t rol32(uint32_t x, int k) { return (x << k) | (x >> (32 - k)); }

static uint32_t load_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void sha1_block(uint32_t h[5], const uint8_t *p)
{
    uint32_t w[80];
    for (int t = 0; t < 16; t++)
        w[t] = load_be32(p + 4 * t);
    for (int t = 16; t < 80; t++)
        w[t] = rol32(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);

    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int t = 0; t < 80; t++) {
        uint32_t f, k;
        if (t < 20) {
            f = (b & c) | (~b & d);
            k = 0x5A827999u;
        } else if (t < 40) {
            f = b ^ c ^ d;
            k = 0x6ED9EBA1u;
        } else if (t < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8F1BBCDCu;
        } else {
            f = b ^ c ^ d;
            k = 0xCA62C1D6u;
        }
        uint32_t tmp = rol32(a, 5) + f + e + k + w[t];
        e = d;
        d = c;
        c = rol32(b, 30);
        b = a;
        a = tmp;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

void sha1_init(sha1_ctx *s)
{
    static const uint32_t initial[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u,
                                        0xC3D2E1F0u};
    memcpy(s->h, initial, sizeof initial);
    s->length = 0;
}

void sha1_update(sha1_ctx *s, const void *data, size_t len)
{
    const uint8_t *p = data;
    size_t used = (size_t)(s->length % 64);
    s->length += len;
    if (used) {
        size_t take = 64 - used < len ? 64 - used : len;
        memcpy(s->block + used, p, take);
        p += take;
        len -= take;
        if (used + take < 64)
            return;
        sha1_block(s->h, s->block);
    }
    for (; len >= 64; p += 64, len -= 64)
        sha1_block(s->h, p);
    if (len)
        memcpy(s->block, p, len);
}

void sha1_final(sha1_ctx *s, uint8_t out[SHA1_DIGEST_SIZE])
{
    /* Padding: 0x80, zeros up to 56 mod 64, then the message length in bits, big-endian. */
    uint64_t bits = s->length * 8;
    size_t used = (size_t)(s->length % 64);
    uint8_t pad[72] = {0x80};
    size_t padlen = (used < 56 ? 56 : 120) - used;
    for (int i = 0; i < 8; i++)
        pad[padlen + (size_t)i] = (uint8_t)(bits >> (56 - 8 * i));
    sha1_update(s, pad, padlen + 8);
    for (int i = 0; i < 5; i++) {
        out[4 * i] = (uint8_t)(s->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)s->h[i];
    }
}

void sha1(const void *data, size_t len, uint8_t out[SHA1_DIGEST_SIZE])
{
    sha1_ctx s;
    sha1_init(&s);
    sha1_update(&s, data, len);
    sha1_final(&s, out);
}

void sha1_to_hex(const uint8_t digest[SHA1_DIGEST_SIZE], char out[41])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < SHA1_DIGEST_SIZE; i++) {
        out[2 * i] = digits[digest[i] >> 4];
        out[2 * i + 1] = digits[digest[i] & 15];
    }
    out[40] = '\0';
}
