/* actions.c: owns the discrete action sets (gym-super-mario-bros actions.py and
 * the PyTorch Mario tutorial's two actions), as controller bytes in DESIGN.md's bit
 * order, listed name by name in gym's order. */
#include <stdio.h>
#include <string.h>

#include "smbrl/env.h"

#define R NES_RIGHT
#define L NES_LEFT
#define A NES_A
#define B NES_B

static const uint8_t right_only[] = {0, R, R | A, R | B, R | A | B};
static const char *const right_only_labels[] = {"NOOP", "right", "right A", "right B", "right A B"};

static const uint8_t simple[] = {0, R, R | A, R | B, R | A | B, A, L};
static const char *const simple_labels[] = {"NOOP", "right", "right A", "right B", "right A B",
                                            "A", "left"};

static const uint8_t complex_[] = {0, R, R | A, R | B, R | A | B, A, L, L | A, L | B, L | A | B,
                                   NES_DOWN, NES_UP};
static const char *const complex_labels[] = {"NOOP", "right", "right A", "right B", "right A B", "A",
                                             "left", "left A", "left B", "left A B", "down", "up"};

static const uint8_t tutorial[] = {R, R | A};
static const char *const tutorial_labels[] = {"right", "right A"};

/* Every controller byte, action i = byte i. */
static const uint8_t all_bytes[256] = {
#define X4(n) (n), (n) + 1, (n) + 2, (n) + 3
#define X16(n) X4(n), X4((n) + 4), X4((n) + 8), X4((n) + 12)
#define X64(n) X16(n), X16((n) + 16), X16((n) + 32), X16((n) + 48)
    X64(0), X64(64), X64(128), X64(192)
#undef X4
#undef X16
#undef X64
};

static const env_action_set sets[] = {
    {"right", "RIGHT_ONLY", 5, right_only, right_only_labels},
    {"simple", "SIMPLE_MOVEMENT", 7, simple, simple_labels},
    {"complex", "COMPLEX_MOVEMENT", 12, complex_, complex_labels},
    {"tutorial", "[['right'], ['right', 'A']]", 2, tutorial, tutorial_labels},
    {"nes", "all 256 controller bytes", 256, all_bytes, NULL},
};

const env_action_set *env_action_set_find(const char *name)
{
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++)
        if (!strcmp(name, sets[i].name) || !strcmp(name, sets[i].gym_name))
            return &sets[i];
    return NULL;
}

void env_buttons_name(uint8_t buttons, char *out, size_t len)
{
    /* nes-py's JoypadSpace spelling: directions lower case, buttons upper case */
    static const struct { uint8_t bit; const char *name; } order[] = {
        {NES_RIGHT, "right"}, {NES_LEFT, "left"}, {NES_DOWN, "down"}, {NES_UP, "up"},
        {NES_START, "start"}, {NES_SELECT, "select"}, {NES_A, "A"}, {NES_B, "B"},
    };
    if (len == 0)
        return;
    out[0] = '\0';
    if (!buttons) {
        snprintf(out, len, "NOOP");
        return;
    }
    size_t used = 0;
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        if (!(buttons & order[i].bit))
            continue;
        int k = snprintf(out + used, len - used, "%s%s", used ? " " : "", order[i].name);
        if (k < 0 || (size_t)k >= len - used)
            return;
        used += (size_t)k;
    }
}
