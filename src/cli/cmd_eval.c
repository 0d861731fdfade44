/* cmd_eval.c: `smbrl eval`: play a trained checkpoint (greedy by default) for N episodes
 * and print a table or JSON lines; --all-stages grids flag rate and mean x over the 32
 * single-stage tasks; --record/--record-dir write GIFs, --png frames, --render shows an
 * SDL2 window at real speed (or --fps). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/commands.h"
#include "cli/window.h"
#include "smbrl/checkpoint.h"
#include "smbrl/env.h"
#include "smbrl/nn.h"
#include "smbrl/record.h"
#include "smbrl/rng.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: smbrl eval --checkpoint PATH [--task T] [--episodes N] [--epsilon E] [--sample]\n"
            "                  [--sticky P] [--seed S] [--max-steps N] [--json] [--all-stages]\n"
            "                  [--record OUT.gif] [--record-dir DIR] [--png DIR] [--scale K] [--hud]\n"
            "                  [--render] [--fps N] [--latest] [--rom PATH | --rom-dir DIR]\n\n"
            "Plays a checkpoint of smbrl train and prints one row per episode (return, length,\n"
            "furthest x_pos, flag, game time left) and a summary (mean +/- std return, flag rate,\n"
            "mean x).\n\n"
            "  --checkpoint PATH  a .safetensors file, or a run directory (best.safetensors, else\n"
            "                     the latest model_<step>; --latest always takes the latest)\n"
            "  --task T           task to play (default: the checkpoint's)\n"
            "  --episodes N       episodes (default 5)\n"
            "  --epsilon E        random action with probability E (default 0: greedy)\n"
            "  --sample           PPO checkpoints: draw each action from the policy, as in\n"
            "                     training, instead of taking its most probable one\n"
            "  --sticky P         sticky actions: repeat the last frame's buttons with probability P\n"
            "  --seed S           seed for the env and epsilon (default 0)\n"
            "  --max-steps N      end an episode after N agent steps (default: the game's own end)\n"
            "  --json             one JSON object per episode, then a summary object\n"
            "  --all-stages       every SuperMarioBros-<w>-<s>-v<m> task, N episodes each: an 8x4\n"
            "                     grid of flag rate and mean x\n"
            "  --record OUT.gif   animated GIF of the first episode (frame delays of 60 Hz / frame skip)\n"
            "  --record-dir DIR   one GIF per episode: DIR/episode_<n>.gif (with --all-stages\n"
            "                     DIR/<w>-<s>_episode_<n>.gif)\n"
            "  --png DIR          the first episode's frames as DIR/frame_<step>.png\n"
            "  --scale K          recordings K times NES resolution (default 1)\n"
            "  --hud              a line under the picture: step, action, return, x\n"
            "  --render           show the game in a window (3x), action and return in the title\n"
            "  --fps N            agent steps shown per second with --render (default: real speed,\n"
            "                     60 / frame skip)\n"
            "  --rom PATH         a ROM file or folder (default: $SMBRL_ROM_DIR); --rom-dir the same\n");
}

/* Value of "key" in a flat JSON object as text (number, true/false, or a string without
 * its quotes); 0 when present. The training arguments are a flat object of scalars. */
static int json_scalar(const char *json, const char *key, char *out, size_t len)
{
    char pat[80];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *p = strstr(json, pat);
    if (!p)
        return -1;
    p += strlen(pat);
    while (*p == ' ' || *p == ':')
        p++;
    size_t n = 0;
    if (*p == '"') {
        for (p++; *p && *p != '"' && n + 1 < len; p++)
            out[n++] = *p;
    } else {
        for (; *p && *p != ',' && *p != '}' && *p != ' ' && n + 1 < len; p++)
            out[n++] = *p;
    }
    out[n] = '\0';
    return 0;
}

typedef struct eval_opts {
    const char *ckpt, *task, *rom, *record, *record_dir, *png_dir;
    int episodes, json, all_stages, scale, hud, render, latest, sample;
    double epsilon, fps;
    float sticky;
    long max_steps;
    uint64_t seed;
} eval_opts;

/* What the per-step callback needs to record or show one episode. */
typedef struct frame_ctx {
    rec_gif *gif[2]; /* --record (first episode) and --record-dir */
    const char *png_dir;
    win *window;
    double fps;
    int hud, scale, episode;
    uint8_t *rgb;
} frame_ctx;

static int on_frame(void *ctx, const env *e, const rec_step *s, char *err, size_t errlen)
{
    frame_ctx *c = ctx;
    if (!c->gif[0] && !c->gif[1] && !c->png_dir && !c->window)
        return 0;
    int rows = rec_compose_frame(e, s, c->hud, c->rgb);
    for (int i = 0; i < 2; i++)
        if (c->gif[i] && rec_gif_add(c->gif[i], c->rgb, err, errlen) < 0)
            return -1;
    if (c->png_dir) {
        char path[4096];
        snprintf(path, sizeof path, "%s/frame_%05ld.png", c->png_dir, s->step);
        if (rec_png_write(path, c->rgb, NES_WIDTH, rows, c->scale, err, errlen) < 0)
            return -1;
    }
    if (c->window) {
        if (win_poll(c->window))
            return 1;
        char title[160], act[48] = "-";
        if (s->action >= 0) {
            const env_action_set *as = env_base_actions(env_get_base(e));
            if (as->labels)
                snprintf(act, sizeof act, "%s", as->labels[s->action]);
            else
                env_buttons_name(as->buttons[s->action], act, sizeof act);
        }
        snprintf(title, sizeof title, "smbrl eval - episode %d step %ld - %s - return %.0f - x %d",
                 c->episode, s->step, act, s->ret, s->info->x_pos);
        win_set_title(c->window, title);
        win_show(c->window, c->rgb);
        win_pace(c->window, c->fps);
    }
    return 0;
}

/* A JSON string literal of s (paths may hold quotes or backslashes). */
static void json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static int make_dir(const char *dir)
{
    if (mkdir(dir, 0777) == 0 || errno == EEXIST)
        return 0;
    fprintf(stderr, "smbrl eval: cannot create %s: %s\n", dir, strerror(errno));
    return -1;
}

typedef struct stage_result {
    int episodes, flags;
    double sum_ret, sum_ret2, sum_x;
} stage_result;

/* Plays o->episodes episodes of m on task; prints rows unless quiet. Returns 0, 1 on a
 * runtime error, or 3 when the window was closed (stop quietly). */
static int run_task(const eval_opts *o, const ckpt_info *ci, const nn_model *m, nn_work *w,
                    const char *task, const char *label, int quiet, win *window, stage_result *res)
{
    char err[512];
    env_config cfg;
    env_config_default(&cfg);
    cfg.task = task;
    cfg.actions = ci->actions;
    cfg.frame_skip = ci->frame_skip;
    cfg.sticky_p = o->sticky;
    cfg.seed = o->seed;
    char v[64];
    if (json_scalar(ci->args, "max_pool", v, sizeof v) == 0)
        cfg.max_pool = !strcmp(v, "true") || !strcmp(v, "1");
    if (json_scalar(ci->args, "reward", v, sizeof v) == 0 && (!strcmp(v, "v7") || !strcmp(v, "shaped")))
        cfg.reward = !strcmp(v, "v7") ? "v7" : "shaped";
    /* A tiles model plays a tiles env (no rendering) unless someone watches: then a pixel
     * env, with the tiles built from its RAM (rec_play_episode). */
    int watched = window || o->record || o->record_dir || o->png_dir;
    if (!strcmp(ci->obs, "tiles") && !watched)
        cfg.obs = ENV_OBS_TILES;
    env *e;
    if (env_create(&e, &cfg, o->rom, err, sizeof err) < 0) {
        fprintf(stderr, "smbrl eval: %s\n", err);
        return 1;
    }
    const int policy_value = !strcmp(ci->algo, "ppo"); /* logits, then the value */
    if (env_num_actions(e) != m->out_dim - policy_value) {
        fprintf(stderr, "smbrl eval: the checkpoint has %d actions, the env %d\n", m->out_dim - policy_value,
                env_num_actions(e));
        env_free(e);
        return 1;
    }
    rng r;
    rng_seed(&r, o->seed ^ 0x6576616cull);
    frame_ctx fc = {.png_dir = NULL, .window = window, .hud = o->hud, .scale = o->scale};
    fc.fps = o->fps > 0 ? o->fps : 60.0 / ci->frame_skip;
    fc.rgb = malloc((size_t)NES_WIDTH * (NES_HEIGHT + REC_HUD_HEIGHT) * 3);
    if (!fc.rgb) {
        fprintf(stderr, "smbrl eval: out of memory\n");
        env_free(e);
        return 1;
    }
    const int rows = NES_HEIGHT + (o->hud ? REC_HUD_HEIGHT : 0);
    int rc = 0;
    memset(res, 0, sizeof *res);
    if (!quiet && !o->json)
        printf("%7s %9s %7s %6s %5s %5s\n", "episode", "return", "length", "x_pos", "flag", "time");
    for (int ep = 1; ep <= o->episodes && rc == 0; ep++) {
        char gif_path[2][4096] = {"", ""};
        if (ep == 1 && o->record)
            snprintf(gif_path[0], sizeof gif_path[0], "%s", o->record);
        if (o->record_dir)
            snprintf(gif_path[1], sizeof gif_path[1], "%s/%s%sepisode_%d.gif", o->record_dir,
                     label ? label : "", label ? "_" : "", ep);
        fc.episode = ep;
        fc.png_dir = ep == 1 ? o->png_dir : NULL;
        for (int i = 0; i < 2; i++) {
            fc.gif[i] = NULL;
            if (gif_path[i][0] && rc == 0 &&
                rec_gif_open(&fc.gif[i], gif_path[i], NES_WIDTH, rows, o->scale, ci->frame_skip,
                             err, sizeof err) < 0) {
                fprintf(stderr, "smbrl eval: %s\n", err);
                rc = 1;
            }
        }
        if (rc) {
            rec_gif_close(fc.gif[0], NULL, 0);
            break;
        }
        rec_episode out;
        int prc = rec_play_episode(e, m, w, o->epsilon, o->sample, &r, o->max_steps, on_frame, &fc, &out,
                                   err, sizeof err);
        for (int i = 0; i < 2; i++) {
            char cerr[512];
            if (rec_gif_close(fc.gif[i], cerr, sizeof cerr) < 0 && prc == 0) {
                snprintf(err, sizeof err, "%s", cerr);
                prc = -1;
            }
        }
        if (prc < 0) {
            fprintf(stderr, "smbrl eval: %s\n", err);
            rc = 1;
            break;
        }
        if (window && win_poll(window) && out.stopped) {
            rc = 3; /* the window was closed mid-episode: that episode does not count */
            break;
        }
        res->episodes++;
        res->flags += out.flag != 0;
        res->sum_ret += out.ret;
        res->sum_ret2 += out.ret * out.ret;
        res->sum_x += out.x_pos_max;
        if (quiet)
            continue;
        if (o->json)
            printf("{\"episode\": %d, \"return\": %.17g, \"length\": %ld, \"x_pos\": %d, "
                   "\"flag\": %d, \"time_left\": %d, \"world\": %d, \"stage\": %d, "
                   "\"truncated\": %s}\n",
                   ep, out.ret, out.length, out.x_pos_max, out.flag, out.time_left, out.world,
                   out.stage, out.stopped ? "true" : "false");
        else
            printf("%7d %9.1f %7ld %6d %5d %5d%s\n", ep, out.ret, out.length, out.x_pos_max,
                   out.flag, out.time_left, out.stopped ? "  (cut at --max-steps)" : "");
        fflush(stdout);
    }
    free(fc.rgb);
    env_free(e);
    return rc;
}

static void summary(const eval_opts *o, const stage_result *s)
{
    int n = s->episodes;
    double mean = n ? s->sum_ret / n : 0.0;
    double var = n ? s->sum_ret2 / n - mean * mean : 0.0;
    double sd = var > 0.0 ? sqrt(var) : 0.0;
    double rate = n ? (double)s->flags / n : 0.0, mx = n ? s->sum_x / n : 0.0;
    if (o->json)
        printf("{\"summary\": true, \"episodes\": %d, \"mean_return\": %.17g, \"std_return\": "
               "%.17g, \"flag_rate\": %.17g, \"flags\": %d, \"mean_x\": %.17g}\n",
               n, mean, sd, rate, s->flags, mx);
    else
        printf("return %.1f \xc2\xb1 %.1f over %d episode(s), flag rate %.2f (%d/%d), mean x %.1f\n",
               mean, sd, n, rate, s->flags, n, mx);
}

static int all_stages(const eval_opts *o, const ckpt_info *ci, const nn_model *m, nn_work *w)
{
    char err[256];
    env_task t;
    if (env_task_parse(&t, o->task, NULL, err, sizeof err) < 0) {
        fprintf(stderr, "smbrl eval: %s\n", err);
        return 2;
    }
    stage_result grid[8][4];
    for (int wd = 1; wd <= 8; wd++)
        for (int st = 1; st <= 4; st++) {
            char task[64], label[16];
            snprintf(task, sizeof task, "SuperMarioBros-%d-%d-v%d", wd, st, t.rom_mode);
            snprintf(label, sizeof label, "%d-%d", wd, st);
            int rc = run_task(o, ci, m, w, task, label, 1, NULL, &grid[wd - 1][st - 1]);
            if (rc)
                return rc;
            const stage_result *s = &grid[wd - 1][st - 1];
            double n = s->episodes ? s->episodes : 1;
            if (o->json)
                printf("{\"task\": \"%s\", \"world\": %d, \"stage\": %d, \"episodes\": %d, "
                       "\"flag_rate\": %.17g, \"mean_x\": %.17g, \"mean_return\": %.17g}\n",
                       task, wd, st, s->episodes, s->flags / n, s->sum_x / n, s->sum_ret / n);
            fflush(stdout);
        }
    if (o->json)
        return 0;
    printf("flag rate / mean x over %d episode(s) per stage\n", o->episodes);
    printf("%-6s", "world");
    for (int st = 1; st <= 4; st++)
        printf("  %-13s", st == 1 ? "stage 1" : st == 2 ? "stage 2" : st == 3 ? "stage 3" : "stage 4");
    printf("\n");
    int flags = 0, eps = 0;
    for (int wd = 1; wd <= 8; wd++) {
        printf("%-6d", wd);
        for (int st = 1; st <= 4; st++) {
            const stage_result *s = &grid[wd - 1][st - 1];
            double n = s->episodes ? s->episodes : 1;
            printf("  %4.2f / %-6.0f", s->flags / n, s->sum_x / n);
            flags += s->flags;
            eps += s->episodes;
        }
        printf("\n");
    }
    printf("flag rate over all stages %.3f (%d/%d)\n", eps ? (double)flags / eps : 0.0, flags, eps);
    return 0;
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

int cmd_eval(int argc, char **argv)
{
    eval_opts o;
    memset(&o, 0, sizeof o);
    o.rom = getenv("SMBRL_ROM_DIR");
    o.episodes = 5;
    o.scale = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        double d;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--checkpoint") && has) {
            o.ckpt = argv[++i];
        } else if (!strcmp(a, "--task") && has) {
            o.task = argv[++i];
        } else if ((!strcmp(a, "--rom") || !strcmp(a, "--rom-dir")) && has) {
            o.rom = argv[++i];
        } else if (!strcmp(a, "--episodes") && has) {
            if (parse_double(argv[++i], 1, 1e6, &d) < 0 || d != (int)d) {
                fprintf(stderr, "smbrl eval: --episodes must be a positive whole number\n");
                return 2;
            }
            o.episodes = (int)d;
        } else if (!strcmp(a, "--epsilon") && has) {
            if (parse_double(argv[++i], 0, 1, &o.epsilon) < 0) {
                fprintf(stderr, "smbrl eval: --epsilon must be in [0, 1]\n");
                return 2;
            }
        } else if (!strcmp(a, "--sample")) {
            o.sample = 1;
        } else if (!strcmp(a, "--sticky") && has) {
            if (parse_double(argv[++i], 0, 1, &d) < 0) {
                fprintf(stderr, "smbrl eval: --sticky must be in [0, 1]\n");
                return 2;
            }
            o.sticky = (float)d;
        } else if (!strcmp(a, "--seed") && has) {
            o.seed = strtoull(argv[++i], NULL, 10);
        } else if (!strcmp(a, "--max-steps") && has) {
            if (parse_double(argv[++i], 1, 1e12, &d) < 0) {
                fprintf(stderr, "smbrl eval: --max-steps must be a positive number\n");
                return 2;
            }
            o.max_steps = (long)d;
        } else if (!strcmp(a, "--json")) {
            o.json = 1;
        } else if (!strcmp(a, "--all-stages")) {
            o.all_stages = 1;
        } else if (!strcmp(a, "--latest")) {
            o.latest = 1;
        } else if (!strcmp(a, "--record") && has) {
            o.record = argv[++i];
        } else if (!strcmp(a, "--record-dir") && has) {
            o.record_dir = argv[++i];
        } else if (!strcmp(a, "--png") && has) {
            o.png_dir = argv[++i];
        } else if (!strcmp(a, "--scale") && has) {
            if (parse_double(argv[++i], 1, 8, &d) < 0 || d != (int)d) {
                fprintf(stderr, "smbrl eval: --scale must be a whole number 1..8\n");
                return 2;
            }
            o.scale = (int)d;
        } else if (!strcmp(a, "--hud")) {
            o.hud = 1;
        } else if (!strcmp(a, "--render")) {
            o.render = 1;
        } else if (!strcmp(a, "--fps") && has) {
            if (parse_double(argv[++i], 0.1, 10000, &o.fps) < 0) {
                fprintf(stderr, "smbrl eval: --fps must be a number from 0.1 to 10000\n");
                return 2;
            }
        } else {
            fprintf(stderr, "smbrl eval: unknown flag or missing value: '%s' (see --help)\n", a);
            return 2;
        }
    }
    if (o.render) { /* before any slow work: no display is a usage error */
        char why[160];
        if (win_available(why, sizeof why) < 0) {
            fprintf(stderr, "smbrl eval: --render %s\n", why);
            return 2;
        }
    }
    if (!o.ckpt) {
        fprintf(stderr, "smbrl eval: --checkpoint PATH is required (see --help)\n");
        return 2;
    }
    if (o.all_stages && (o.record || o.png_dir || o.render)) {
        fprintf(stderr, "smbrl eval: --all-stages records only with --record-dir; "
                        "--record, --png and --render need a single task\n");
        return 2;
    }
    if (!o.rom) {
        fprintf(stderr, "smbrl eval: no ROM: pass --rom FILE|DIR or set SMBRL_ROM_DIR\n");
        return 2;
    }
    char err[512], file[4096];
    if (ckpt_resolve(o.ckpt, o.latest ? CKPT_LATEST : CKPT_BEST, file, sizeof file, err, sizeof err) < 0) {
        fprintf(stderr, "smbrl eval: %s\n", err);
        return 1;
    }
    nn_model m;
    ckpt_info ci;
    if (ckpt_load(file, &m, &ci, err, sizeof err) < 0) {
        fprintf(stderr, "smbrl eval: %s\n", err);
        return 1;
    }
    if (o.sample && strcmp(ci.algo, "ppo") != 0) {
        fprintf(stderr, "smbrl eval: --sample needs a PPO checkpoint; %s is %s (use --epsilon)\n", file,
                ci.algo);
        nn_model_free(&m);
        return 2;
    }
    if (!o.task)
        o.task = ci.task;
    if ((o.record_dir && make_dir(o.record_dir) < 0) || (o.png_dir && make_dir(o.png_dir) < 0)) {
        nn_model_free(&m);
        return 1;
    }
    nn_work w;
    if (nn_work_init(&w, &m, 1, 1, err, sizeof err) < 0) {
        fprintf(stderr, "smbrl eval: %s\n", err);
        nn_model_free(&m);
        return 1;
    }
    nn_set_threads(1); /* batch 1: threads cost more than they give */
    if (o.json) {
        printf("{\"checkpoint\": ");
        json_string(file);
        printf(", \"step\": %lld, \"episode\": %lld, \"model\": ", (long long)ci.step,
               (long long)ci.episode);
        json_string(ci.model);
        printf(", \"task\": ");
        json_string(o.task);
        printf(", \"actions\": ");
        json_string(ci.actions);
        printf(", \"frame_skip\": %d, \"epsilon\": %.17g, \"sample\": %s, \"sticky\": %.9g, \"seed\": %llu}\n",
               ci.frame_skip, o.epsilon, o.sample ? "true" : "false", (double)o.sticky,
               (unsigned long long)o.seed);
    }
    else
        printf("checkpoint %s (step %lld, episode %lld, %s)\ntask %s, actions %s, frame skip %d, "
               "epsilon %g%s, sticky %g, seed %llu\n",
               file, (long long)ci.step, (long long)ci.episode, ci.model, o.task, ci.actions,
               ci.frame_skip, o.epsilon, o.sample ? ", sampled actions" : "", (double)o.sticky,
               (unsigned long long)o.seed);
    int rc;
    if (o.all_stages) {
        rc = all_stages(&o, &ci, &m, &w);
    } else {
        win *window = NULL;
        rc = 0;
        if (o.render && win_open(&window, "smbrl eval", NES_WIDTH,
                                 NES_HEIGHT + (o.hud ? REC_HUD_HEIGHT : 0), 3, err, sizeof err) < 0) {
            fprintf(stderr, "smbrl eval: %s\n", err);
            rc = 2;
        }
        stage_result res;
        if (rc == 0)
            rc = run_task(&o, &ci, &m, &w, o.task, NULL, 0, window, &res);
        if (rc == 3) { /* window closed: summarise what finished */
            printf("window closed\n");
            rc = 0;
        }
        if (rc == 0)
            summary(&o, &res);
        win_close(window);
    }
    nn_work_free(&w);
    nn_model_free(&m);
    return rc;
}
