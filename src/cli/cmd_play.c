/* cmd_play.c: `smbrl play`: play a task by hand in an SDL2 window (arrows, Z = B,
 * X = A, Enter = Start, Escape quits), or headless with random actions, printing
 * each episode's return, x_pos, flag and length (with --obs tiles, also the tile
 * grid the agent saw last). The window is cli/window.c's;
 * without SDL2 in the build, or without a display, --mode human exits 2 at once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/window.h"
#include "smbrl/env.h"
#include "smbrl/rng.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: smbrl play --rom ROM [--task SuperMarioBros-1-1-v0] --mode human|random\n"
            "                  [--actions simple] [--steps N] [--episodes E] [--seed S]\n"
            "                  [--frame-skip K] [--reward v7|shaped] [--stages 1-1,4-2]\n"
            "                  [--obs pixels|tiles]\n\n"
            "Plays a task by hand (an SDL2 window: arrows, Z = B, X = A, Enter = Start,\n"
            "Escape quits) or with random actions, headless, printing each episode.\n\n"
            "  --rom PATH       a ROM file or a folder searched by SHA-1 (default: $SMBRL_ROM_DIR)\n"
            "  --task T         SuperMarioBros-v0..v3, SuperMarioBros-<w>-<s>-v<m>, SuperMarioBros2-v0/v1,\n"
            "                   SuperMarioBrosRandomStages-v<m> (default SuperMarioBros-1-1-v0)\n"
            "  --mode M         human or random (default random)\n"
            "  --actions A      right, simple, complex, tutorial, nes (random mode; default simple)\n"
            "  --steps N        stop after N agent steps (random mode; default 5000)\n"
            "  --episodes E     stop after E episodes (default: no limit)\n"
            "  --seed S         seed for actions, sticky actions and random stages (default 0)\n"
            "  --frame-skip K   frames per agent step (random mode; default 4; human plays every frame)\n"
            "  --reward R       v7 (gym 7.4.0, default) or shaped (gym 9.x)\n"
            "  --sticky P       repeat the previous frame's buttons with probability P (random mode)\n"
            "  --noop-max N     0..N no-op frame steps after each reset (random mode)\n"
            "  --stages LIST    random-stages subset\n"
            "  --obs O          random mode: pixels (default, not shown) or tiles, printing each\n"
            "                   episode's last 13x16 grid (. empty, # solid, e enemy, M Mario)\n");
}

static void print_episode(int ep, double ret, const env_info *in, long len)
{
    printf("episode %d: return %.0f x_pos %d flag %d length %ld world %d stage %d\n", ep, ret,
           in->x_pos, in->flag_get, len, in->world, in->stage);
    fflush(stdout);
}

/* The newest grid of a tiles observation, one text line per row. */
static void print_grid(const uint8_t *obs)
{
    const uint8_t *g = obs + (ENV_STACK - 1) * ENV_TILES_SIZE;
    for (int r = 0; r < ENV_TILES_H; r++) {
        char line[ENV_TILES_W + 1];
        for (int j = 0; j < ENV_TILES_W; j++) {
            uint8_t v = g[r * ENV_TILES_W + j];
            line[j] = v == ENV_TILE_SOLID ? '#' : v == ENV_TILE_ENEMY ? 'e' : v == ENV_TILE_MARIO ? 'M' : '.';
        }
        line[ENV_TILES_W] = 0;
        printf("  %s\n", line);
    }
}

static int play_random(env *e, long max_steps, int max_episodes, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed ^ 0x5eed5eedull);
    char err[256];
    env_info in;
    const int tiles = env_base_config(env_get_base(e))->obs == ENV_OBS_TILES;
    uint8_t *obs = tiles ? malloc(env_obs_size(env_get_base(e))) : NULL;
    if (tiles && !obs) {
        fprintf(stderr, "smbrl play: out of memory\n");
        return 1;
    }
    env_reset(e, obs, &in);
    double ret = 0.0, total = 0.0;
    long len = 0;
    int ep = 0;
    for (long s = 0; s < max_steps && (max_episodes <= 0 || ep < max_episodes); s++) {
        float rw;
        int d;
        int a = (int)rng_below(&r, (uint32_t)env_num_actions(e));
        if (env_step(e, a, obs, &rw, &d, &in, err, sizeof err) < 0) {
            fprintf(stderr, "smbrl play: %s\n", err);
            free(obs);
            return 1;
        }
        ret += rw;
        len++;
        if (d) {
            print_episode(++ep, ret, &in, len);
            if (tiles)
                print_grid(obs);
            total += ret;
            ret = 0.0;
            len = 0;
            env_reset(e, obs, &in);
        }
    }
    free(obs);
    if (len > 0)
        printf("unfinished episode: return %.0f x_pos %d length %ld\n", ret, in.x_pos, len);
    printf("%d episode(s), mean return %.1f\n", ep, ep ? total / ep : 0.0);
    return 0;
}

static int play_human(env *e, int max_episodes)
{
    char err[256];
    win *w;
    if (win_open(&w, "smbrl play", NES_WIDTH, NES_HEIGHT, 3, err, sizeof err) < 0) {
        fprintf(stderr, "smbrl play: %s\n", err);
        return 2;
    }
    uint8_t *rgb = malloc((size_t)NES_WIDTH * NES_HEIGHT * 3);
    if (!rgb) {
        win_close(w);
        fprintf(stderr, "smbrl play: out of memory\n");
        return 1;
    }
    env_info in;
    env_reset(e, NULL, &in);
    double ret = 0.0;
    long len = 0;
    int ep = 0;
    while (!win_poll(w) && (max_episodes <= 0 || ep < max_episodes)) {
        float rw;
        int d;
        if (env_step(e, win_buttons(w), NULL, &rw, &d, &in, err, sizeof err) < 0) {
            fprintf(stderr, "smbrl play: %s\n", err);
            break;
        }
        ret += rw;
        len++;
        env_render_rgb(e, rgb);
        win_show(w, rgb);
        if (d) {
            print_episode(++ep, ret, &in, len);
            ret = 0.0;
            len = 0;
            env_reset(e, NULL, &in);
        }
        win_pace(w, 60.0);
    }
    free(rgb);
    win_close(w);
    return 0;
}

int cmd_play(int argc, char **argv)
{
    const char *rom = getenv("SMBRL_ROM_DIR"), *mode = "random", *reward = "v7", *stages = NULL;
    env_config cfg;
    env_config_default(&cfg);
    long steps = 5000;
    int episodes = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--rom") && has) {
            rom = argv[++i];
        } else if (!strcmp(a, "--task") && has) {
            cfg.task = argv[++i];
        } else if (!strcmp(a, "--mode") && has) {
            mode = argv[++i];
        } else if (!strcmp(a, "--actions") && has) {
            cfg.actions = argv[++i];
        } else if (!strcmp(a, "--reward") && has) {
            reward = argv[++i];
        } else if (!strcmp(a, "--stages") && has) {
            stages = argv[++i];
        } else if (!strcmp(a, "--steps") && has) {
            steps = atol(argv[++i]);
            if (steps <= 0) {
                fprintf(stderr, "smbrl play: --steps must be a positive number\n");
                return 2;
            }
        } else if (!strcmp(a, "--episodes") && has) {
            episodes = atoi(argv[++i]);
            if (episodes <= 0) {
                fprintf(stderr, "smbrl play: --episodes must be a positive number\n");
                return 2;
            }
        } else if (!strcmp(a, "--seed") && has) {
            cfg.seed = strtoull(argv[++i], NULL, 10);
        } else if (!strcmp(a, "--sticky") && has) {
            cfg.sticky_p = (float)atof(argv[++i]);
        } else if (!strcmp(a, "--noop-max") && has) {
            cfg.noop_max = atoi(argv[++i]);
        } else if (!strcmp(a, "--obs") && has) {
            cfg.obs = env_obs_kind_parse(argv[++i]);
            if (cfg.obs < 0) {
                fprintf(stderr, "smbrl play: --obs must be pixels or tiles\n");
                return 2;
            }
        } else if (!strcmp(a, "--frame-skip") && has) {
            cfg.frame_skip = atoi(argv[++i]);
            if (cfg.frame_skip <= 0) {
                fprintf(stderr, "smbrl play: --frame-skip must be a positive number\n");
                return 2;
            }
        } else {
            fprintf(stderr, "smbrl play: unknown flag or missing value: '%s' (see --help)\n", a);
            return 2;
        }
    }
    int human = !strcmp(mode, "human");
    if (!human && strcmp(mode, "random")) {
        fprintf(stderr, "smbrl play: --mode must be human or random\n");
        return 2;
    }
    if (human && cfg.obs == ENV_OBS_TILES) {
        fprintf(stderr, "smbrl play: --obs tiles is for random mode (the window shows pixels)\n");
        return 2;
    }
    if (human) {
        char why[160];
        if (win_available(why, sizeof why) < 0) {
            fprintf(stderr, "smbrl play: --mode human %s\n", why);
            return 2;
        }
        cfg.frame_skip = 1;
        cfg.actions = "nes";
    }
    if (!rom) {
        fprintf(stderr, "smbrl play: no ROM: pass --rom FILE|DIR or set SMBRL_ROM_DIR\n");
        return 2;
    }
    cfg.reward = reward;
    cfg.stages = stages;
    cfg.pixels = human;
    char err[256];
    env *e;
    int rc = env_create(&e, &cfg, rom, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "smbrl play: %s\n", err);
        return 1;
    }
    printf("task %s, actions %s, frame skip %d, obs %s\n", env_base_task(env_get_base(e))->name,
           env_base_actions(env_get_base(e))->gym_name, cfg.frame_skip, env_obs_kind_name(cfg.obs));
    if (human)
        rc = play_human(e, episodes);
    else
        rc = play_random(e, steps, episodes, cfg.seed);
    env_free(e);
    return rc;
}
