/* fuzz_cart.c: libFuzzer target for the ROM loader. Any input must either load or
 * fail with a one-line message; a loaded cart must be consistent with the input.
 * Built with -fsanitize=fuzzer,address,undefined (fuzz/CMakeLists.txt). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smbrl/cart.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cart c;
    char err[256];
    err[0] = '\0';
    int rc = cart_load_memory(&c, data, size, err, sizeof err);
    if (rc == 0) {
        /* The loader's promises, checked on every accepted input. */
        if (!c.prg || !c.prg_size || cart_image_size(&c) > size || !cart_mapper_supported(c.mapper))
            abort();
        if ((c.chr == NULL) != (c.chr_size == 0) || (!c.chr_size && !c.chr_ram_size))
            abort();
        char hex[41];
        cart_sha1_hex(&c, hex);
        if (strlen(hex) != 40 || !cart_mirroring_name(c.mirroring) || !cart_game_name(c.game))
            abort();
    } else if (!err[0] || strchr(err, '\n') || c.prg || c.chr) {
        abort();
    }
    cart_free(&c);

    /* The inspecting loader takes every mapper, so it reaches the copy paths for inputs
     * the emulator's loader refuses. */
    rc = cart_inspect_memory(&c, data, size, err, sizeof err);
    if (rc == 0 && (cart_image_size(&c) > size || !cart_mapper_name(c.mapper)))
        abort();
    cart_free(&c);
    return 0;
}
