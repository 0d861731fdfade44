/* sha1.h: SHA-1 (FIPS 180-4), streaming and one-shot. Used to recognise known ROM
 * dumps by the hash of the whole file; not for anything that needs security. */
#ifndef SMBRL_SHA1_H
#define SMBRL_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define SHA1_DIGEST_SIZE 20

typedef struct sha1_ctx {
    uint32_t h[5];
    uint64_t length;     /* bytes hashed so far */
    uint8_t block[64];   /* partial block, `length % 64` bytes used */
} sha1_ctx;

void sha1_init(sha1_ctx *s);
void sha1_update(sha1_ctx *s, const void *data, size_t len);
/* Writes the digest; the context must be re-initialised before reuse. */
void sha1_final(sha1_ctx *s, uint8_t out[SHA1_DIGEST_SIZE]);
void sha1(const void *data, size_t len, uint8_t out[SHA1_DIGEST_SIZE]);
/* Lower-case hex, 41 bytes with the terminator. */
void sha1_to_hex(const uint8_t digest[SHA1_DIGEST_SIZE], char out[41]);

#endif
