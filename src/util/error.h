/* error.h: the library's one way to report a failure: format a one-line reason
 * into the caller's buffer (if any) and return a negative status. Library code
 * never prints; src/cli shows the reason. */
#ifndef SMBRL_UTIL_ERROR_H
#define SMBRL_UTIL_ERROR_H

#include <stddef.h>

/* Writes the message into err (errlen bytes, may be NULL/0) and returns -1. */
int smbrl_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The same with a chosen negative status. */
int smbrl_fail_code(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
