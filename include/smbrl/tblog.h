/* tblog.h: TensorBoard event files (scalars) and a verifying reader for them.
 *
 * An event file is a sequence of TFRecord records: u64 length (little-endian),
 * masked CRC-32C of those 8 bytes, the data, masked CRC-32C of the data. Each
 * record holds one serialized Event protobuf; the first is {wall_time,
 * file_version = "brain.Event:2"}, the rest {wall_time, step, summary{value{tag,
 * simple_value}}}. Byte-level facts and known answers: shared/FORMATS.md.
 *
 * A log has no shared state: several logs may be open in one process. Writes
 * are buffered; tblog_flush pushes them to the kernel (TensorBoard then sees them). */
#ifndef SMBRL_TBLOG_H
#define SMBRL_TBLOG_H

#include <stddef.h>
#include <stdint.h>

#define TBLOG_FILE_VERSION "brain.Event:2"

typedef struct tblog tblog;

/* Creates `dir` if it is missing (one level) and opens a new event file in it,
 * named events.out.tfevents.<10-digit unix time>.<hostname>.<pid>, with a ".<n>"
 * suffix when that name is already taken. Writes the file_version record. */
int tblog_open(tblog **out, const char *dir, char *err, size_t errlen);
/* Same, at an exact path (created, or truncated), with the first record's wall time
 * given; for tests and tools that pick their own names. */
int tblog_open_file(tblog **out, const char *path, double wall_time, char *err, size_t errlen);

/* Appends Event{wall_time, step, summary{value{tag, simple_value = value}}}.
 * wall_time is seconds since the Unix epoch (tblog_now() gives the current one). */
int tblog_scalar(tblog *log, const char *tag, int64_t step, float value, double wall_time,
                 char *err, size_t errlen);
int tblog_flush(tblog *log, char *err, size_t errlen);
/* Flushes and closes; returns the first error the log met, if any. NULL is a no-op. */
int tblog_close(tblog *log, char *err, size_t errlen);
/* Path of the event file. */
const char *tblog_path(const tblog *log);
/* Seconds since the Unix epoch, with sub-second resolution. */
double tblog_now(void);

/* What the reader reports, once per file_version record and once per scalar value
 * (an Event whose summary holds several values gives several calls). */
typedef struct tblog_event {
    int64_t record;           /* 0-based record index in the file */
    double wall_time;
    int64_t step;
    const char *file_version; /* non-NULL for a file_version record */
    const char *tag;          /* non-NULL for a scalar value */
    float value;
} tblog_event;

/* Return nonzero to stop reading (tblog_read_file then returns that value). */
typedef int (*tblog_event_fn)(void *user, const tblog_event *ev);

/* Reads every record of `path`, checking both CRCs of each and decoding each Event.
 * Records that are neither a file_version nor scalar values are verified and skipped.
 * Returns 0 after the last record, the callback's nonzero value if it stopped early,
 * or a negative value with a one-line reason (file, record, byte offset) on a bad
 * CRC, a truncated record or an undecodable Event. If n_records is not NULL it
 * receives the number of records read intact. */
int tblog_read_file(const char *path, tblog_event_fn fn, void *user, int64_t *n_records,
                    char *err, size_t errlen);

/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78, init and final xor ~0). */
uint32_t tblog_crc32c(const void *data, size_t n);
/* The same, one bit at a time: the slow reference the table version is tested against. */
uint32_t tblog_crc32c_bitwise(const void *data, size_t n);
/* TFRecord's masking: rotate right by 15, add 0xA282EAD8. */
uint32_t tblog_masked_crc32c(const void *data, size_t n);

#endif
