/* metrics.h: a plain metrics log beside the TensorBoard files, for plots and scripts.
 *
 * JSON Lines: one object per metrics_write, {"step": 1200, "wall_time": 1700000000.25,
 * "loss": 0.031, ...}, fields in the order given. Every line is flushed as it is
 * written, so a crashed run keeps all finished lines. Non-finite values (NaN, inf)
 * have no JSON spelling and are written as null. Read it with e.g.
 * pandas.read_json(path, lines=True). */
#ifndef SMBRL_METRICS_H
#define SMBRL_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct metrics metrics;

/* Opens `path` for appending (created if missing), so a resumed run continues its log. */
int metrics_open(metrics **out, const char *path, char *err, size_t errlen);
/* Appends one line. Names are non-empty printable ASCII, unique, and neither
 * "step" nor "wall_time". */
int metrics_write(metrics *m, int64_t step, double wall_time, int n_fields, const char *const names[],
                  const double values[], char *err, size_t errlen);
/* Closes; returns the first error the log met, if any. NULL is a no-op. */
int metrics_close(metrics *m, char *err, size_t errlen);

#endif
