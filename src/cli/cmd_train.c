/* cmd_train.c: `smbrl train`: parallel Double-DQN or PPO training (train.h) from the command line:
 * flags, the progress line, event lines, the optional SDL2 window of worker 0 (--render),
 * and a summary (table, or one JSON object with --json) at the end. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "smbrl/nn.h"
#include "smbrl/train.h"

#ifdef SMBRL_HAVE_SDL2
#include <SDL.h>
#endif

static void usage(FILE *out)
{
    train_args d;
    train_args_default(&d);
    fprintf(out,
            "usage: smbrl train --rom ROM [--num-processes 4] [--episodes 2000] [--batch-size 64] [FLAGS]\n\n"
            "Trains the PyTorch Mario tutorial's Double-DQN agent (or, with --algo ppo, a PPO\n"
            "actor-critic) with worker processes that share one model (parameters and Adam\n"
            "moments in shared memory). Writes checkpoints,\n"
            "TensorBoard event files, metrics.jsonl and train.log into the run directory.\n"
            "Ctrl-C stops cleanly with a final checkpoint; a second Ctrl-C quits at once.\n\n"
            "  --rom PATH                ROM file or folder searched by SHA-1 (default $SMBRL_ROM,\n"
            "                            then $SMBRL_ROM_DIR)\n"
            "  --rom-dir DIR             same as --rom with a folder\n"
            "  --task T                  task (default %s)\n"
            "  --actions A               action set: tutorial ([[right],[right,A]], the seed's), right,\n"
            "                            simple, complex, nes (default %s)\n"
            "  --algo dqn|ppo            Double DQN (default) or PPO\n"
            "  --obs pixels|tiles        observations: the [4,84,84] gray stack (default) or the\n"
            "                            [4,13,16] tile grid read from RAM (no rendering)\n"
            "  --net NAME                network: pixels: nature (MarioNet trunk; DQN default) or\n"
            "                            uvipen (4 x conv 3x3/2; PPO default, PPO only); tiles: mlp\n"
            "                            (256-256; the tiles default)\n"
            "  --reward gym|uvipen       learn from the env's reward (default) or uvipen's shaping of\n"
            "                            it ((r + score/40 + 50 flag - 50 death) / 10); logged returns\n"
            "                            are always the env's\n"
            "  --num-processes N         worker processes (default %d)\n"
            "  --episodes N              episodes in total over all workers, earlier ones included\n"
            "                            when resuming (default %" PRId64 ")\n"
            "  --max-steps N             also stop after N global steps (default 0: no limit)\n"
            "  --batch-size N            transitions per learning step (default %d)\n"
            "  --burnin N                steps each worker takes (since it started) before it learns\n"
            "                            (default %" PRId64 ")\n"
            "  --learn-every N           a worker learns every N of its steps (default %d)\n"
            "  --sync-every N            a worker pulls the shared parameters every N of its steps\n"
            "                            (default %" PRId64 ")\n"
            "  --target-sync-every N     a worker copies its online net to its target every N of its\n"
            "                            steps (default %" PRId64 ")\n"
            "  --save-every N            global steps between checkpoints (default %" PRId64 ")\n"
            "  --record-every N          every N finished episodes, record a greedy episode of the\n"
            "                            shared model to <run-dir>/episode_<N>.gif (default 0: off)\n"
            "  --memory-size N           replay transitions per worker (default %" PRId64 ")\n"
            "  --lr X                    Adam learning rate (default %g; with --algo ppo 0.0001)\n"
            "  --gamma X                 discount (default %g)\n"
            "  --exploration-decay X     epsilon factor per action (default %.8f)\n"
            "  --exploration-min X       epsilon floor (default %g)\n"
            "  --frame-skip K            frames per agent step (default %d)\n"
            "  --dueling                 a dueling head instead of MarioNet's last layer\n"
            "  --save-replay             the final checkpoint also keeps each worker's replay memory\n"
            "                            (replay_<step>_w<i>.bin); --resume loads them, and their\n"
            "                            transitions count towards the burn-in\n"
            "PPO (--algo ppo; uvipen's defaults). --burnin, --learn-every, --sync-every,\n"
            "--target-sync-every, --memory-size, --batch-size, --exploration-* and --dueling are\n"
            "DQN-only and ignored by PPO runs:\n"
            "  --envs-per-process N      envs each worker steps (default 8 / --num-processes, >= 1)\n"
            "  --ppo-steps N             rollout steps per env (default %d)\n"
            "  --ppo-epochs N            passes over each rollout (default %d)\n"
            "  --ppo-minibatches N       minibatches per pass (default %d)\n"
            "  --gae-lambda X            GAE lambda (default %g)\n"
            "  --clip X                  surrogate clip epsilon (default %g)\n"
            "  --ent-coef X              entropy bonus weight (default %g)\n"
            "  --vf-coef X               value loss weight (default %g)\n"
            "  --value-clip X            value clipping around the old value (default 0: off)\n"
            "  --norm-adv 0|1            normalise advantages per minibatch (default 0)\n"
            "  --max-grad-norm X         gradient-norm clipping (default %g; 0: off)\n"
            "  --lr-schedule S           constant (default) or linear (to 0 at --max-steps)\n"
            "Both algorithms:\n"
            "  --seed S                  seed of the initial weights, envs and exploration (default 0)\n"
            "  --threads-per-process N   BLAS threads in each worker (default %d)\n"
            "  --run-dir DIR             where everything is written (default checkpoints/<UTC time>;\n"
            "                            with --resume, the resumed run's directory)\n"
            "  --resume PATH             continue a run: its directory, or a state_/model_<step> file;\n"
            "                            its arguments apply unless given again here\n"
            "  --log-every SECONDS       interval of the loss/Q/speed logs (default %g)\n"
            "  --progress-every SECONDS  seconds between progress lines when not on a terminal (10)\n"
            "  --distributed             one rank of an MPI job: mpirun -n K [-H hosts] smbrl train\n"
            "                            --distributed ...; every --sync-every steps of a node the\n"
            "                            ranks average their updates into one model (README)\n"
            "  --replica-check-every N   distributed: compare the ranks' parameters every N rounds\n"
            "                            (default 10; 0: at the end only)\n"
            "  --render                  show worker 0's game in an SDL2 window\n"
            "  --json                    print one JSON object of figures at the end\n"
            "  --quiet                   no progress line\n",
            d.task, d.actions, d.num_processes, d.episodes, d.batch_size, d.burnin, d.learn_every,
            d.sync_every, d.target_sync_every, d.save_every, d.memory_size, d.lr, d.gamma,
            d.eps_decay, d.eps_min, d.frame_skip, d.ppo_steps, d.ppo_epochs, d.ppo_minibatches,
            d.gae_lambda, d.clip, d.ent_coef, d.vf_coef, d.max_grad_norm, d.threads_per_process,
            d.log_every);
}

typedef struct cli_ui {
    int tty, quiet, line_open;
    double progress_every, last_plain;
#ifdef SMBRL_HAVE_SDL2
    SDL_Window *win;
    SDL_Renderer *ren;
    SDL_Texture *tex;
    uint8_t *rgb;
#endif
} cli_ui;

static void fmt_time(char *out, size_t n, double s)
{
    if (!(s >= 0) || s > 1e8) {
        snprintf(out, n, "?");
        return;
    }
    long t = (long)s;
    if (t >= 3600)
        snprintf(out, n, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else
        snprintf(out, n, "%ldm%02lds", t / 60, t % 60);
}

static void on_log(void *user, const char *line)
{
    cli_ui *u = user;
    if (u->line_open) {
        fputs("\r\033[K", stdout);
        u->line_open = 0;
    }
    printf("%s\n", line);
    fflush(stdout);
}

static void on_progress(void *user, const train_progress *p)
{
    cli_ui *u = user;
    if (u->quiet)
        return;
    if (!u->tty && !p->final && p->elapsed - u->last_plain < u->progress_every)
        return;
    u->last_plain = p->elapsed;
    char left[32], el[32], mr[32], mx[32];
    fmt_time(left, sizeof left, p->eta);
    fmt_time(el, sizeof el, p->elapsed);
    if (isnan(p->mean_return)) {
        snprintf(mr, sizeof mr, "-");
        snprintf(mx, sizeof mx, "-");
    } else {
        snprintf(mr, sizeof mr, "%.1f", p->mean_return);
        snprintf(mx, sizeof mx, "%.0f", p->mean_x);
    }
    char line[400], expl[32];
    if (p->ppo)
        snprintf(expl, sizeof expl, "ent %.3f", p->entropy);
    else
        snprintf(expl, sizeof expl, "eps %.4f", p->epsilon);
    snprintf(line, sizeof line,
             "ep %" PRId64 "/%" PRId64 "  step %" PRId64 "  %.0f steps/s  %.1f upd/s  %s  "
             "ret100 %s  x100 %s  flags %" PRId64 "  %s elapsed, %s left",
             p->episodes, p->episodes_total, p->steps, p->steps_per_s, p->updates_per_s, expl,
             mr, mx, p->flags, el, left);
    if (u->tty) {
        printf("\r\033[K%s", line);
        u->line_open = 1;
        if (p->final) {
            printf("\n");
            u->line_open = 0;
        }
    } else {
        printf("%s\n", line);
    }
    fflush(stdout);
}

#ifdef SMBRL_HAVE_SDL2
static int render_open(void *user, char *err, size_t errlen)
{
    cli_ui *u = user;
    if (SDL_Init(SDL_INIT_VIDEO) != 0) {
        snprintf(err, errlen, "cannot open a window: %s", SDL_GetError());
        return -1;
    }
    u->win = SDL_CreateWindow("smbrl train: worker 0", SDL_WINDOWPOS_CENTERED, SDL_WINDOWPOS_CENTERED,
                              NES_WIDTH * 2, NES_HEIGHT * 2, 0);
    u->ren = u->win ? SDL_CreateRenderer(u->win, -1, 0) : NULL;
    u->tex = u->ren ? SDL_CreateTexture(u->ren, SDL_PIXELFORMAT_RGB24, SDL_TEXTUREACCESS_STREAMING,
                                        NES_WIDTH, NES_HEIGHT)
                    : NULL;
    u->rgb = malloc(NES_WIDTH * NES_HEIGHT * 3);
    if (!u->tex || !u->rgb) {
        snprintf(err, errlen, "cannot open a window: %s", SDL_GetError());
        SDL_Quit();
        return -1;
    }
    return 0;
}

static void render_frame(void *user, const env *e)
{
    cli_ui *u = user;
    SDL_Event ev;
    while (SDL_PollEvent(&ev))
        ; /* closing the window does not stop training; Ctrl-C does */
    env_render_rgb(e, u->rgb);
    SDL_UpdateTexture(u->tex, NULL, u->rgb, NES_WIDTH * 3);
    SDL_RenderClear(u->ren);
    SDL_RenderCopy(u->ren, u->tex, NULL, NULL);
    SDL_RenderPresent(u->ren);
}

static void render_close(void *user)
{
    cli_ui *u = user;
    SDL_DestroyTexture(u->tex);
    SDL_DestroyRenderer(u->ren);
    SDL_DestroyWindow(u->win);
    SDL_Quit();
    free(u->rgb);
}
#endif

static int parse_i64(const char *flag, const char *s, int64_t min, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min) {
        fprintf(stderr, "smbrl train: %s must be an integer >= %" PRId64 ", got '%s'\n", flag, min, s);
        return -1;
    }
    *out = (int64_t)v;
    return 0;
}

static int parse_int(const char *flag, const char *s, int min, int *out)
{
    int64_t v;
    if (parse_i64(flag, s, min, &v) < 0)
        return -1;
    if (v > 1000000000) {
        fprintf(stderr, "smbrl train: %s is too large: '%s'\n", flag, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int parse_num(const char *flag, const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "smbrl train: %s must be a number in [%g, %g], got '%s'\n", flag, lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int copy_str(const char *flag, const char *s, char *dst, size_t n)
{
    if (strlen(s) >= n || !*s) {
        fprintf(stderr, "smbrl train: %s: value is empty or too long\n", flag);
        return -1;
    }
    memcpy(dst, s, strlen(s) + 1);
    return 0;
}

/* Applies the flags of argv to a; returns 0, 1 for --help, -1 on a bad flag. */
static int parse(int argc, char **argv, train_args *a, cli_ui *u, int *json, int *run_dir_given,
                 int *lr_given)
{
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int64_t x;
        int r = 0, takes = 1;
        if (!strcmp(f, "--help") || !strcmp(f, "-h"))
            return 1;
        else if (!strcmp(f, "--render"))
            a->render = 1, takes = 0;
        else if (!strcmp(f, "--dueling"))
            a->dueling = 1, takes = 0;
        else if (!strcmp(f, "--save-replay"))
            a->save_replay = 1, takes = 0;
        else if (!strcmp(f, "--distributed"))
            a->distributed = 1, takes = 0;
        else if (!strcmp(f, "--json"))
            *json = 1, takes = 0;
        else if (!strcmp(f, "--quiet"))
            u->quiet = 1, takes = 0;
        else if (!v) {
            fprintf(stderr, "smbrl train: unknown flag or missing value: '%s' (see --help)\n", f);
            return -1;
        } else if (!strcmp(f, "--rom") || !strcmp(f, "--rom-dir"))
            r = copy_str(f, v, a->rom, sizeof a->rom);
        else if (!strcmp(f, "--task"))
            r = copy_str(f, v, a->task, sizeof a->task);
        else if (!strcmp(f, "--actions"))
            r = copy_str(f, v, a->actions, sizeof a->actions);
        else if (!strcmp(f, "--run-dir"))
            r = copy_str(f, v, a->run_dir, sizeof a->run_dir), *run_dir_given = 1;
        else if (!strcmp(f, "--resume"))
            r = copy_str(f, v, a->resume, sizeof a->resume);
        else if (!strcmp(f, "--num-processes"))
            r = parse_int(f, v, 1, &a->num_processes);
        else if (!strcmp(f, "--batch-size"))
            r = parse_int(f, v, 1, &a->batch_size);
        else if (!strcmp(f, "--learn-every"))
            r = parse_int(f, v, 1, &a->learn_every);
        else if (!strcmp(f, "--frame-skip"))
            r = parse_int(f, v, 1, &a->frame_skip);
        else if (!strcmp(f, "--threads-per-process"))
            r = parse_int(f, v, 1, &a->threads_per_process);
        else if (!strcmp(f, "--burnin"))
            r = parse_i64(f, v, 0, &a->burnin);
        else if (!strcmp(f, "--episodes"))
            r = parse_i64(f, v, 1, &a->episodes);
        else if (!strcmp(f, "--sync-every"))
            r = parse_i64(f, v, 1, &a->sync_every);
        else if (!strcmp(f, "--save-every"))
            r = parse_i64(f, v, 1, &a->save_every);
        else if (!strcmp(f, "--record-every"))
            r = parse_i64(f, v, 0, &a->record_every);
        else if (!strcmp(f, "--target-sync-every"))
            r = parse_i64(f, v, 1, &a->target_sync_every);
        else if (!strcmp(f, "--memory-size"))
            r = parse_i64(f, v, 1, &a->memory_size);
        else if (!strcmp(f, "--max-steps"))
            r = parse_i64(f, v, 0, &a->max_steps);
        else if (!strcmp(f, "--seed"))
            r = parse_i64(f, v, 0, &x), a->seed = (uint64_t)x;
        else if (!strcmp(f, "--lr"))
            r = parse_num(f, v, 1e-12, 1, &a->lr), *lr_given = 1;
        else if (!strcmp(f, "--algo"))
            r = copy_str(f, v, a->algo, sizeof a->algo);
        else if (!strcmp(f, "--obs"))
            r = copy_str(f, v, a->obs, sizeof a->obs);
        else if (!strcmp(f, "--net"))
            r = copy_str(f, v, a->net, sizeof a->net);
        else if (!strcmp(f, "--reward"))
            r = copy_str(f, v, a->reward, sizeof a->reward);
        else if (!strcmp(f, "--lr-schedule"))
            r = copy_str(f, v, a->lr_schedule, sizeof a->lr_schedule);
        else if (!strcmp(f, "--envs-per-process"))
            r = parse_int(f, v, 1, &a->envs_per_process);
        else if (!strcmp(f, "--ppo-steps"))
            r = parse_int(f, v, 1, &a->ppo_steps);
        else if (!strcmp(f, "--ppo-epochs"))
            r = parse_int(f, v, 1, &a->ppo_epochs);
        else if (!strcmp(f, "--ppo-minibatches"))
            r = parse_int(f, v, 1, &a->ppo_minibatches);
        else if (!strcmp(f, "--norm-adv"))
            r = parse_int(f, v, 0, &a->norm_adv);
        else if (!strcmp(f, "--gae-lambda"))
            r = parse_num(f, v, 0, 1, &a->gae_lambda);
        else if (!strcmp(f, "--clip"))
            r = parse_num(f, v, 1e-6, 10, &a->clip);
        else if (!strcmp(f, "--ent-coef"))
            r = parse_num(f, v, 0, 1e6, &a->ent_coef);
        else if (!strcmp(f, "--vf-coef"))
            r = parse_num(f, v, 0, 1e6, &a->vf_coef);
        else if (!strcmp(f, "--value-clip"))
            r = parse_num(f, v, 0, 1e6, &a->value_clip);
        else if (!strcmp(f, "--max-grad-norm"))
            r = parse_num(f, v, 0, 1e6, &a->max_grad_norm);
        else if (!strcmp(f, "--gamma"))
            r = parse_num(f, v, 0, 1, &a->gamma);
        else if (!strcmp(f, "--exploration-decay"))
            r = parse_num(f, v, 1e-12, 1, &a->eps_decay);
        else if (!strcmp(f, "--exploration-min"))
            r = parse_num(f, v, 0, 1, &a->eps_min);
        else if (!strcmp(f, "--log-every"))
            r = parse_num(f, v, 0.01, 1e9, &a->log_every);
        else if (!strcmp(f, "--replica-check-every"))
            r = parse_int(f, v, 0, &a->replica_check_every);
        else if (!strcmp(f, "--progress-every"))
            r = parse_num(f, v, 0.01, 1e9, &u->progress_every);
        else {
            fprintf(stderr, "smbrl train: unknown flag '%s' (see --help)\n", f);
            return -1;
        }
        if (r < 0)
            return -1;
        i += takes;
    }
    return 0;
}

int cmd_train(int argc, char **argv)
{
    train_args a;
    train_args_default(&a);
    cli_ui u;
    memset(&u, 0, sizeof u);
    u.progress_every = 10;
    int json = 0, run_dir_given = 0, lr_given = 0;
    /* First pass: --help, flag errors, and --resume (whose saved arguments come first). */
    int pr = parse(argc, argv, &a, &u, &json, &run_dir_given, &lr_given);
    if (pr == 1) {
        usage(stdout);
        return 0;
    }
    if (pr < 0)
        return 2;
    char err[600];
    if (a.resume[0]) {
        char resume[sizeof a.resume], state[1100];
        memcpy(resume, a.resume, sizeof resume);
        if (train_resolve_state(resume, state, sizeof state, err, sizeof err) < 0) {
            fprintf(stderr, "smbrl train: %s\n", err);
            return 1;
        }
        train_args_default(&a);
        if (train_state_args(state, &a, err, sizeof err) < 0) {
            fprintf(stderr, "smbrl train: --resume: %s\n", err);
            return 1;
        }
        memset(&u, 0, sizeof u);
        u.progress_every = 10;
        run_dir_given = 0;
        lr_given = 1; /* the saved lr stands unless given again */
        parse(argc, argv, &a, &u, &json, &run_dir_given, &lr_given);
        memcpy(a.resume, state, sizeof a.resume < sizeof state ? sizeof a.resume : sizeof state);
        a.resume[sizeof a.resume - 1] = 0;
        if (!run_dir_given) { /* the files are where the state is, wherever the run was moved */
            const char *slash = strrchr(state, '/');
            if (slash)
                snprintf(a.run_dir, sizeof a.run_dir, "%.*s", (int)(slash - state), state);
            else
                snprintf(a.run_dir, sizeof a.run_dir, ".");
        }
    }
    if (!a.rom[0]) {
        const char *r = getenv("SMBRL_ROM");
        if (!r || !*r)
            r = getenv("SMBRL_ROM_DIR");
        if (r && *r)
            snprintf(a.rom, sizeof a.rom, "%s", r);
    }
    if (!lr_given && !strcmp(a.algo, "ppo"))
        a.lr = 1e-4; /* uvipen's; the DQN default is the tutorial's */
    if (!strcmp(a.algo, "ppo") && a.distributed) {
        fprintf(stderr, "smbrl train: --distributed trains DQN only; run --algo ppo without it\n");
        return 2;
    }
    if (train_args_check(&a, err, sizeof err) < 0) {
        fprintf(stderr, "smbrl train: %s\n", err);
        return 2;
    }
#ifndef SMBRL_HAVE_MPI
    if (a.distributed) {
        fprintf(stderr, "smbrl train: --distributed needs MPI, and this build has none "
                        "(install libopenmpi-dev and openmpi-bin, then rebuild)\n");
        return 2;
    }
#endif
    if (a.render && !strcmp(a.obs, "tiles")) {
        fprintf(stderr, "smbrl train: --render shows pixels, and --obs tiles renders none\n");
        return 2;
    }
    if (a.render) {
#ifndef SMBRL_HAVE_SDL2
        fprintf(stderr, "smbrl train: --render needs SDL2, and this build has none "
                        "(install libsdl2-dev and rebuild)\n");
        return 2;
#else
        const char *x = getenv("DISPLAY"), *wl = getenv("WAYLAND_DISPLAY");
        if ((!x || !*x) && (!wl || !*wl)) {
            fprintf(stderr, "smbrl train: --render needs a display (DISPLAY and WAYLAND_DISPLAY are unset)\n");
            return 2;
        }
#endif
    }
    if (!a.rom[0]) {
        fprintf(stderr, "smbrl train: no ROM: pass --rom FILE|DIR or set SMBRL_ROM or SMBRL_ROM_DIR\n");
        return 2;
    }
    u.tty = isatty(STDOUT_FILENO);
    train_hooks h = {.user = &u, .log = on_log, .progress = on_progress};
#ifdef SMBRL_HAVE_SDL2
    h.render_open = render_open;
    h.render_frame = render_frame;
    h.render_close = render_close;
#endif
    train_summary s;
    if (train_run(&a, &h, &s, err, sizeof err) < 0) {
        if (u.line_open)
            printf("\n");
        fprintf(stderr, "smbrl train: %s\n", err);
        return 1;
    }
    double busy = s.env_s + s.act_s + s.learn_s + s.sync_s + s.other_s;
    if (busy <= 0)
        busy = 1;
    if (json) {
        printf("{\"steps\": %" PRId64 ", \"episodes\": %" PRId64 ", \"updates\": %" PRId64
               ", \"restarts\": %" PRId64 ", \"wall_s\": %.3f, \"steps_per_s\": %.2f"
               ", \"updates_per_s\": %.2f, \"num_processes\": %d, \"share_env\": %.4f"
               ", \"share_act\": %.4f, \"share_learn\": %.4f, \"share_sync\": %.4f"
               ", \"share_other\": %.4f, \"blas\": \"%s\", \"checkpoint\": \"%s\"}\n",
               s.steps, s.episodes, s.updates, s.restarts, s.wall_s,
               s.wall_s > 0 ? (double)s.steps_run / s.wall_s : 0.0,
               s.wall_s > 0 ? (double)s.updates / s.wall_s : 0.0, a.num_processes, s.env_s / busy,
               s.act_s / busy, s.learn_s / busy, s.sync_s / busy, s.other_s / busy,
               nn_blas_corename(), s.last_checkpoint);
    } else {
        printf("time in workers: env %.1f%%, acting %.1f%%, learning %.1f%%, pulls %.1f%%, other %.1f%%\n",
               100 * s.env_s / busy, 100 * s.act_s / busy, 100 * s.learn_s / busy,
               100 * s.sync_s / busy, 100 * s.other_s / busy);
    }
    return 0;
}
