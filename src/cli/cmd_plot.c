/* cmd_plot.c: `smbrl plot RUN_DIR --out curves.png`: learning curves from a run's
 * metrics.jsonl (the per-episode lines: step, wall_time, return, x_pos, flag) drawn with
 * cairo: return, x_pos and flag rate against global steps (left) and wall time (right),
 * each episode a dot and a moving average over --window episodes a line. cairo is optional
 * at build time (SMBRL_HAVE_CAIRO); without it the command says so and exits 2. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/commands.h"

#ifdef SMBRL_HAVE_CAIRO
#include <cairo.h>
#endif

static void usage(FILE *out)
{
    fprintf(out,
            "usage: smbrl plot RUN_DIR|METRICS.jsonl [--out curves.png] [--width W] [--height H]\n"
            "                  [--window N] [--text]\n\n"
            "Draws return, x_pos and flag rate of every episode in the run's metrics.jsonl\n"
            "against global steps and wall time into a PNG, and prints the run's summary: when\n"
            "the flag was first reached, the flag rate, mean x_pos and mean return over the last\n"
            "--window episodes, the best windowed flag rate, and when it first reached 0.50.\n"
            "Wall times count from the file's first line.\n\n"
            "  --out PATH    the PNG to write (default RUN_DIR/curves.png)\n"
            "  --width W     picture width in pixels (default 1200)\n"
            "  --height H    picture height in pixels (default 900)\n"
            "  --window N    episodes in the moving average (default: 100, fewer for short runs;\n"
            "                the summary uses 100)\n"
            "  --text        print the summary only, draw nothing (works without cairo)\n");
}

typedef struct episode_row {
    double step, wall, ret, x, flag;
} episode_row;

/* Number after "key": in a flat JSON object line; NaN when absent or null. */
static double field(const char *line, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *p = strstr(line, pat);
    if (!p)
        return NAN;
    p += strlen(pat);
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p != ':')
        return NAN;
    p++;
    char *end;
    double v = strtod(p, &end);
    return end == p ? NAN : v;
}

static int cmp_step(const void *a, const void *b)
{
    const episode_row *x = a, *y = b;
    return (x->step > y->step) - (x->step < y->step);
}

/* Reads the episode lines (those with "return") of a metrics file, sorted by step (workers
 * append in their own order). Returns the count, or -1 with a message printed. */
static long read_metrics(const char *path, episode_row **out, double *first_wall)
{
    *first_wall = INFINITY;
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "smbrl plot: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 1024, n = 0, linecap = 0;
    episode_row *rows = malloc(cap * sizeof *rows);
    char *line = NULL;
    long lineno = 0;
    while (rows && getline(&line, &linecap, f) > 0) {
        lineno++;
        double wall = field(line, "wall_time");
        if (isfinite(wall) && wall < *first_wall)
            *first_wall = wall;
        if (!strstr(line, "\"return\""))
            continue;
        episode_row r = {field(line, "step"), field(line, "wall_time"), field(line, "return"),
                         field(line, "x_pos"), field(line, "flag")};
        if (isnan(r.step) || isnan(r.ret)) {
            fprintf(stderr, "smbrl plot: %s:%ld: an episode line without a numeric step and return\n",
                    path, lineno);
            continue;
        }
        if (n == cap) {
            episode_row *g = realloc(rows, 2 * cap * sizeof *rows);
            if (!g) {
                free(rows);
                rows = NULL;
                break;
            }
            rows = g;
            cap *= 2;
        }
        rows[n++] = r;
    }
    free(line);
    fclose(f);
    if (!rows) {
        fprintf(stderr, "smbrl plot: out of memory reading %s\n", path);
        return -1;
    }
    qsort(rows, n, sizeof *rows, cmp_step);
    *out = rows;
    return (long)n;
}


static void fmt_duration(char *buf, size_t len, double s)
{
    if (s >= 7200)
        snprintf(buf, len, "%.2f hours", s / 3600);
    else if (s >= 120)
        snprintf(buf, len, "%.1f minutes", s / 60);
    else
        snprintf(buf, len, "%.1f s", s);
}

/* The figures a learning benchmark quotes, from episodes in step order: when the flag was
 * first reached, the window means at the end, and when the windowed flag rate first reached
 * one half (the project's "clears the stage" bar). Wall times count from t0, the earliest
 * line of the file (the first interval log or episode end, seconds after the start). */
static void summarize(const char *title, const episode_row *rows, long n, long win, double t0)
{
    char d[64];
    double last_step = rows[n - 1].step, t_end = -INFINITY;
    for (long i = 0; i < n; i++)
        if (isfinite(rows[i].wall) && rows[i].wall > t_end)
            t_end = rows[i].wall;
    fmt_duration(d, sizeof d, isfinite(t_end) ? t_end - t0 : 0.0);
    printf("%s: %ld episodes, %.0f steps, %s from the first log line\n", title, n, last_step, d);
    long first = -1;
    for (long i = 0; i < n && first < 0; i++)
        if (rows[i].flag > 0.5)
            first = i;
    if (first < 0) {
        printf("first flag: never\n");
    } else {
        fmt_duration(d, sizeof d, rows[first].wall - t0);
        printf("first flag: episode %ld at step %.0f, %s in\n", first + 1, rows[first].step, d);
    }
    double flags = 0, xs = 0, rets = 0, best = -1, best_wall = 0;
    long half = -1;
    for (long i = 0; i < n; i++) {
        flags += rows[i].flag > 0.5;
        xs += rows[i].x;
        rets += rows[i].ret;
        if (i >= win) {
            flags -= rows[i - win].flag > 0.5;
            xs -= rows[i - win].x;
            rets -= rows[i - win].ret;
        }
        if (i + 1 < win)
            continue;
        double rate = flags / (double)win;
        if (rate > best) {
            best = rate;
            best_wall = rows[i].wall;
        }
        if (half < 0 && rate >= 0.5)
            half = i;
    }
    long k = n < win ? n : win;
    if (n < win) { /* too few for a full window: the means over all episodes */
        flags = xs = rets = 0;
        for (long i = 0; i < n; i++) {
            flags += rows[i].flag > 0.5;
            xs += rows[i].x;
            rets += rows[i].ret;
        }
    }
    printf("last %ld episodes: flag rate %.2f, mean x_pos %.0f, mean return %.1f\n", k,
           flags / (double)k, xs / (double)k, rets / (double)k);
    if (best >= 0) {
        fmt_duration(d, sizeof d, best_wall - t0);
        printf("best flag rate over %ld consecutive episodes: %.2f (first at %s)\n", win, best, d);
    }
    if (half >= 0) {
        fmt_duration(d, sizeof d, rows[half].wall - t0);
        printf("flag rate over %ld episodes first reached 0.50 at episode %ld, step %.0f, %s in\n",
               win, half + 1, rows[half].step, d);
    } else {
        printf("flag rate over %ld episodes never reached 0.50\n", win);
    }
}

#ifdef SMBRL_HAVE_CAIRO

/* A "nice" tick spacing (1, 2 or 5 times a power of ten) for about `want` ticks. */
static double tick_step(double span, int want)
{
    double raw = span / want, p = pow(10.0, floor(log10(raw))), m = raw / p;
    return (m < 1.5 ? 1.0 : m < 3.5 ? 2.0 : m < 7.5 ? 5.0 : 10.0) * p;
}

static void fmt_tick(char *buf, size_t len, double v, double step)
{
    double a = fabs(v);
    if (a >= 1e6 && step >= 1e5)
        snprintf(buf, len, "%gM", v / 1e6);
    else if (a >= 1e4 && step >= 1e3)
        snprintf(buf, len, "%gk", v / 1e3);
    else
        snprintf(buf, len, "%g", fabs(v) < step * 1e-9 ? 0.0 : v);
}

typedef struct panel {
    double x, y, w, h;        /* plot area in pixels */
    double x0, x1, y0, y1;    /* data range */
} panel;

static double px(const panel *p, double v) { return p->x + (v - p->x0) / (p->x1 - p->x0) * p->w; }
static double py(const panel *p, double v) { return p->y + p->h - (v - p->y0) / (p->y1 - p->y0) * p->h; }

static void range(const double *v, long n, double *lo, double *hi)
{
    *lo = INFINITY;
    *hi = -INFINITY;
    for (long i = 0; i < n; i++)
        if (isfinite(v[i])) {
            if (v[i] < *lo) *lo = v[i];
            if (v[i] > *hi) *hi = v[i];
        }
    if (!isfinite(*lo)) {
        *lo = 0.0;
        *hi = 1.0;
    }
    if (*hi - *lo < 1e-12) {
        *lo -= 0.5;
        *hi += 0.5;
    }
}

static void draw_axes(cairo_t *cr, const panel *p, const char *title, const char *xlabel)
{
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_rectangle(cr, p->x, p->y, p->w, p->h);
    cairo_fill(cr);
    cairo_set_font_size(cr, 11);
    double xs = tick_step(p->x1 - p->x0, 5), ys = tick_step(p->y1 - p->y0, 5);
    char buf[32];
    cairo_text_extents_t te;
    for (double t = ceil(p->x0 / xs) * xs; t <= p->x1 + xs * 1e-9; t += xs) {
        double X = px(p, t);
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, X, p->y);
        cairo_line_to(cr, X, p->y + p->h);
        cairo_stroke(cr);
        fmt_tick(buf, sizeof buf, t, xs);
        cairo_text_extents(cr, buf, &te);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        cairo_move_to(cr, X - te.width / 2, p->y + p->h + 14);
        cairo_show_text(cr, buf);
    }
    for (double t = ceil(p->y0 / ys) * ys; t <= p->y1 + ys * 1e-9; t += ys) {
        double Y = py(p, t);
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, p->x, Y);
        cairo_line_to(cr, p->x + p->w, Y);
        cairo_stroke(cr);
        fmt_tick(buf, sizeof buf, t, ys);
        cairo_text_extents(cr, buf, &te);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        cairo_move_to(cr, p->x - te.width - 5, Y + 4);
        cairo_show_text(cr, buf);
    }
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    cairo_rectangle(cr, p->x, p->y, p->w, p->h);
    cairo_stroke(cr);
    cairo_set_font_size(cr, 13);
    cairo_move_to(cr, p->x, p->y - 6);
    cairo_show_text(cr, title);
    cairo_set_font_size(cr, 11);
    cairo_text_extents(cr, xlabel, &te);
    cairo_move_to(cr, p->x + p->w - te.width, p->y + p->h + 28);
    cairo_show_text(cr, xlabel);
}

/* Dots for every episode (when dots), then the moving average as a line. */
static void draw_series(cairo_t *cr, const panel *p, const double *x, const double *y,
                        const double *avg, long n, int dots)
{
    cairo_save(cr);
    cairo_rectangle(cr, p->x, p->y, p->w, p->h);
    cairo_clip(cr);
    if (dots) {
        cairo_set_source_rgba(cr, 0.25, 0.45, 0.85, 0.35);
        for (long i = 0; i < n; i++)
            if (isfinite(y[i])) {
                cairo_arc(cr, px(p, x[i]), py(p, y[i]), 1.6, 0, 2 * M_PI);
                cairo_fill(cr);
            }
    }
    cairo_set_source_rgb(cr, 0.85, 0.25, 0.1);
    cairo_set_line_width(cr, 2.0);
    int pen = 0;
    for (long i = 0; i < n; i++) {
        if (!isfinite(avg[i]) || !isfinite(x[i])) {
            pen = 0;
            continue;
        }
        if (pen)
            cairo_line_to(cr, px(p, x[i]), py(p, avg[i]));
        else
            cairo_move_to(cr, px(p, x[i]), py(p, avg[i]));
        pen = 1;
    }
    cairo_stroke(cr);
    cairo_restore(cr);
}

/* Trailing moving average over `win` values (fewer at the start), skipping NaNs. */
static void moving_avg(const double *v, long n, long win, double *out)
{
    double sum = 0.0;
    long cnt = 0;
    for (long i = 0; i < n; i++) {
        if (isfinite(v[i])) {
            sum += v[i];
            cnt++;
        }
        if (i >= win && isfinite(v[i - win])) {
            sum -= v[i - win];
            cnt--;
        }
        out[i] = cnt ? sum / cnt : NAN;
    }
}

static int draw(const char *out_path, const char *title, const episode_row *rows, long n, int W,
                int H, long win)
{
    double *col = malloc(sizeof(double) * (size_t)n * 8);
    if (!col) {
        fprintf(stderr, "smbrl plot: out of memory\n");
        return 1;
    }
    double *steps = col, *wall = col + n, *ret = col + 2 * n, *xs = col + 3 * n, *flag = col + 4 * n;
    double *aret = col + 5 * n, *ax = col + 6 * n, *aflag = col + 7 * n;
    double w0 = INFINITY;
    for (long i = 0; i < n; i++)
        if (isfinite(rows[i].wall) && rows[i].wall < w0)
            w0 = rows[i].wall;
    for (long i = 0; i < n; i++) {
        steps[i] = rows[i].step;
        wall[i] = rows[i].wall - w0;
        ret[i] = rows[i].ret;
        xs[i] = rows[i].x;
        flag[i] = rows[i].flag;
    }
    double wlo, whi;
    range(wall, n, &wlo, &whi);
    double unit = whi > 7200 ? 3600 : whi > 120 ? 60 : 1;
    const char *wlabel = unit == 3600 ? "wall time (hours)" : unit == 60 ? "wall time (minutes)" : "wall time (seconds)";
    for (long i = 0; i < n; i++)
        wall[i] /= unit;
    moving_avg(ret, n, win, aret);
    moving_avg(xs, n, win, ax);
    moving_avg(flag, n, win, aflag);

    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, H);
    cairo_t *cr = cairo_create(s);
    cairo_set_source_rgb(cr, 0.96, 0.96, 0.96);
    cairo_paint(cr);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_line_width(cr, 1.0);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    cairo_set_font_size(cr, 15);
    char head[512];
    snprintf(head, sizeof head, "%s: %ld episodes; dots: one episode, lines: mean over the last %ld",
             title, n, win);
    cairo_move_to(cr, 16, 22);
    cairo_show_text(cr, head);

    const double top = 40, left = 70, gap_x = 80, gap_y = 56, bottom = 40, right = 20;
    const double pw = (W - left - right - gap_x) / 2, ph = (H - top - bottom - 2 * gap_y) / 3;
    const char *names[3] = {"return", "x_pos (line: mean)", "flag rate"};
    const double *ys[3] = {ret, xs, flag}, *avgs[3] = {aret, ax, aflag};
    for (int r = 0; r < 3; r++) {
        double ylo, yhi;
        if (r == 2) {
            ylo = 0.0;
            yhi = 1.0;
        } else {
            range(ys[r], n, &ylo, &yhi);
        }
        for (int c = 0; c < 2; c++) {
            const double *xv = c == 0 ? steps : wall;
            panel p = {left + c * (pw + gap_x), top + 16 + r * (ph + gap_y), pw, ph - 16, 0, 1, ylo, yhi};
            range(xv, n, &p.x0, &p.x1);
            if (c == 0 && p.x0 > 0)
                p.x0 = 0;
            draw_axes(cr, &p, names[r], c == 0 ? "global step" : wlabel);
            draw_series(cr, &p, xv, ys[r], avgs[r], n, r != 2);
        }
    }
    cairo_destroy(cr);
    cairo_surface_flush(s);
    cairo_status_t st = cairo_surface_write_to_png(s, out_path);
    cairo_surface_destroy(s);
    free(col);
    if (st != CAIRO_STATUS_SUCCESS) {
        fprintf(stderr, "smbrl plot: cannot write %s: %s\n", out_path, cairo_status_to_string(st));
        return 1;
    }
    return 0;
}
#endif

int cmd_plot(int argc, char **argv)
{
    const char *in = NULL, *out = NULL;
    int W = 1200, H = 900;
    long win = 0;
    int text_only = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--text")) {
            text_only = 1;
        } else if (!strcmp(a, "--out") && has) {
            out = argv[++i];
        } else if (!strcmp(a, "--width") && has) {
            W = atoi(argv[++i]);
        } else if (!strcmp(a, "--height") && has) {
            H = atoi(argv[++i]);
        } else if (!strcmp(a, "--window") && has) {
            win = atol(argv[++i]);
            if (win < 1) {
                fprintf(stderr, "smbrl plot: --window must be a positive number\n");
                return 2;
            }
        } else if (a[0] != '-' && !in) {
            in = a;
        } else {
            fprintf(stderr, "smbrl plot: unknown flag or missing value: '%s' (see --help)\n", a);
            return 2;
        }
    }
    if (!in) {
        fprintf(stderr, "smbrl plot: give a run directory or a metrics.jsonl file (see --help)\n");
        return 2;
    }
    if (W < 400 || W > 10000 || H < 300 || H > 10000) {
        fprintf(stderr, "smbrl plot: --width must be 400..10000 and --height 300..10000\n");
        return 2;
    }
    char metrics_path[4096], out_path[4096];
    struct stat st;
    int is_dir = stat(in, &st) == 0 && S_ISDIR(st.st_mode);
    if (is_dir)
        snprintf(metrics_path, sizeof metrics_path, "%s/metrics.jsonl", in);
    else
        snprintf(metrics_path, sizeof metrics_path, "%s", in);
    if (out)
        snprintf(out_path, sizeof out_path, "%s", out);
    else if (is_dir)
        snprintf(out_path, sizeof out_path, "%s/curves.png", in);
    else
        snprintf(out_path, sizeof out_path, "curves.png");
#ifndef SMBRL_HAVE_CAIRO
    if (!text_only) {
        fprintf(stderr, "smbrl plot: drawing needs cairo, and this build has none (install "
                        "libcairo2-dev and rebuild, or use --text)\n");
        return 2;
    }
#endif
    episode_row *rows;
    double t0;
    long n = read_metrics(metrics_path, &rows, &t0);
    if (n < 0)
        return 1;
    if (n == 0) {
        fprintf(stderr, "smbrl plot: %s has no episode lines (objects with \"return\")\n", metrics_path);
        free(rows);
        return 1;
    }
    summarize(in, rows, n, win ? win : 100, t0);
    int rc = 0;
#ifdef SMBRL_HAVE_CAIRO
    if (!text_only) {
        if (win == 0) /* 100 as the tutorial's MetricLogger, but a curve for short runs too */
            win = n >= 1000 ? 100 : n / 10 + 1;
        rc = draw(out_path, in, rows, n, W, H, win);
        if (rc == 0)
            printf("wrote %s (%dx%d, %ld episodes)\n", out_path, W, H, n);
    }
#endif
    free(rows);
    return rc;
}
