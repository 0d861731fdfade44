/* task.c: owns the task names (gym-super-mario-bros registrations), stage
 * targeting (decode_target's area rule) and finding a task's ROM by SHA-1. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "smbrl/env.h"

int env_target_area(int lost_levels, int world, int stage, char *err, size_t errlen)
{
    int max_world = lost_levels ? 12 : 8;
    if (world < 1 || world > max_world) {
        snprintf(err, errlen, "world %d is out of range 1..%d", world, max_world);
        return -1;
    }
    if (stage < 1 || stage > 4) {
        snprintf(err, errlen, "stage %d is out of range 1..4", stage);
        return -1;
    }
    /* Some stages start with a separate intro area (the pipe cut-scene of x-2),
     * which shifts the area number of the stages after it. */
    int area = stage;
    if (lost_levels) {
        if ((world == 1 || world == 3) && stage >= 2)
            area++;
        else if (world >= 5) {
            snprintf(err, errlen, "Lost Levels worlds 5-12 cannot be targeted (gym-super-mario-bros "
                                  "does not support them either)");
            return -1;
        }
    } else if ((world == 1 || world == 2 || world == 4 || world == 7) && stage >= 2) {
        area++;
    }
    return area;
}

static int parse_version(const char *s, int max, int *out)
{
    if (s[0] != 'v' || s[1] < '0' || s[1] > '9' || s[2] != '\0')
        return -1;
    int m = s[1] - '0';
    if (m > max)
        return -1;
    *out = m;
    return 0;
}

static int parse_stage_list(env_task *t, const char *stages, char *err, size_t errlen)
{
    t->n_stages = 0;
    if (!stages || !*stages) {
        for (int w = 1; w <= 8; w++)
            for (int s = 1; s <= 4; s++) {
                t->stages[t->n_stages][0] = (uint8_t)w;
                t->stages[t->n_stages][1] = (uint8_t)s;
                t->n_stages++;
            }
        return 0;
    }
    const char *p = stages;
    while (*p) {
        int w, s, used = 0;
        if (sscanf(p, "%d-%d%n", &w, &s, &used) != 2 || used == 0) {
            snprintf(err, errlen, "bad stage list '%s': expected e.g. 1-4,2-4", stages);
            return -1;
        }
        if (env_target_area(0, w, s, err, errlen) < 0)
            return -1;
        if (t->n_stages == ENV_MAX_STAGES) {
            snprintf(err, errlen, "stage list '%s' has more than %d stages", stages, ENV_MAX_STAGES);
            return -1;
        }
        t->stages[t->n_stages][0] = (uint8_t)w;
        t->stages[t->n_stages][1] = (uint8_t)s;
        t->n_stages++;
        p += used;
        if (*p == ',')
            p++;
        else if (*p) {
            snprintf(err, errlen, "bad stage list '%s': expected e.g. 1-4,2-4", stages);
            return -1;
        }
    }
    return 0;
}

int env_task_parse(env_task *t, const char *name, const char *stages, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    if (!name || strlen(name) >= sizeof t->name) {
        snprintf(err, errlen, "bad task name");
        return -1;
    }
    snprintf(t->name, sizeof t->name, "%s", name);
    const char *rest;
    int max_version = 3;
    if (!strncmp(name, "SuperMarioBrosRandomStages-", 27)) {
        t->random_stages = 1;
        rest = name + 27;
    } else if (!strncmp(name, "SuperMarioBros2-", 16)) {
        t->lost_levels = 1;
        max_version = 1;
        rest = name + 16;
    } else if (!strncmp(name, "SuperMarioBros-", 15)) {
        rest = name + 15;
    } else {
        snprintf(err, errlen, "unknown task '%s' (expected SuperMarioBros-v0, SuperMarioBros-1-1-v0, "
                              "SuperMarioBros2-v0, SuperMarioBrosRandomStages-v0, ...)", name);
        return -1;
    }
    if (rest[0] >= '1' && rest[0] <= '9' && !t->random_stages) {
        int w, s, used = 0;
        if (sscanf(rest, "%d-%d-%n", &w, &s, &used) != 2 || used == 0) {
            snprintf(err, errlen, "bad task '%s': expected <world>-<stage>-v<mode>", name);
            return -1;
        }
        int area = env_target_area(t->lost_levels, w, s, err, errlen);
        if (area < 0)
            return -1;
        t->world = w;
        t->stage = s;
        t->area = area;
        rest += used;
    }
    if (parse_version(rest, max_version, &t->rom_mode) < 0) {
        snprintf(err, errlen, "bad task '%s': the version must be v0..v%d", name, max_version);
        return -1;
    }
    if (t->random_stages)
        return parse_stage_list(t, stages, err, errlen);
    if (stages && *stages) {
        snprintf(err, errlen, "a stage list only applies to SuperMarioBrosRandomStages tasks");
        return -1;
    }
    return 0;
}

int env_task_cart_game(const env_task *t)
{
    if (t->lost_levels)
        return t->rom_mode == ENV_ROM_DOWNSAMPLE ? CART_GAME_SMB_LOST_LEVELS_DOWNSAMPLE
                                                 : CART_GAME_SMB_LOST_LEVELS;
    static const int smb[4] = {CART_GAME_SMB, CART_GAME_SMB_DOWNSAMPLE, CART_GAME_SMB_PIXEL,
                               CART_GAME_SMB_RECTANGLE};
    return smb[t->rom_mode & 3];
}

const char *env_cart_tasks(int game)
{
    switch (game) {
    case CART_GAME_SMB:
        return "SuperMarioBros-v0, SuperMarioBros-<w>-<s>-v0, SuperMarioBrosRandomStages-v0";
    case CART_GAME_SMB_DOWNSAMPLE:
        return "SuperMarioBros-v1, SuperMarioBros-<w>-<s>-v1, SuperMarioBrosRandomStages-v1";
    case CART_GAME_SMB_PIXEL:
        return "SuperMarioBros-v2, SuperMarioBros-<w>-<s>-v2, SuperMarioBrosRandomStages-v2";
    case CART_GAME_SMB_RECTANGLE:
        return "SuperMarioBros-v3, SuperMarioBros-<w>-<s>-v3, SuperMarioBrosRandomStages-v3";
    case CART_GAME_SMB_LOST_LEVELS:
        return "SuperMarioBros2-v0, SuperMarioBros2-<w>-<s>-v0 (worlds 1-4)";
    case CART_GAME_SMB_LOST_LEVELS_DOWNSAMPLE:
        return "SuperMarioBros2-v1, SuperMarioBros2-<w>-<s>-v1 (worlds 1-4)";
    default:
        return "";
    }
}

static int has_nes_suffix(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && (!strcmp(name + n - 4, ".nes") || !strcmp(name + n - 4, ".NES"));
}

int env_find_rom(cart *c, const env_task *t, const char *path, char *err, size_t errlen)
{
    int want = env_task_cart_game(t);
    memset(c, 0, sizeof *c);
    if (!path || !*path) {
        snprintf(err, errlen, "no ROM given for %s (pass --rom FILE|DIR)", t->name);
        return -1;
    }
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        if (cart_load_file(c, path, err, errlen) < 0)
            return -1;
        if (c->game != want) {
            snprintf(err, errlen, "%s is %s, but task %s needs %s", path, cart_game_name(c->game),
                     t->name, cart_game_name(want));
            cart_free(c);
            return -1;
        }
        return 0;
    }
    DIR *d = opendir(path);
    if (!d) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    /* Pick the alphabetically first matching file so the choice does not depend
     * on directory order. */
    char best[4096] = "";
    struct dirent *de;
    char full[4096];
    while ((de = readdir(d)) != NULL) {
        if (!has_nes_suffix(de->d_name))
            continue;
        if (best[0] && strcmp(de->d_name, strrchr(best, '/') + 1) >= 0)
            continue;
        if ((size_t)snprintf(full, sizeof full, "%s/%s", path, de->d_name) >= sizeof full)
            continue;
        cart tmp;
        char e2[256];
        if (cart_load_file(&tmp, full, e2, sizeof e2) < 0)
            continue;
        if (tmp.game == want)
            snprintf(best, sizeof best, "%s", full);
        cart_free(&tmp);
    }
    closedir(d);
    if (!best[0]) {
        snprintf(err, errlen, "no ROM in %s is %s (needed by %s; dumps are recognised by SHA-1)",
                 path, cart_game_name(want), t->name);
        return -1;
    }
    return cart_load_file(c, best, err, errlen);
}
