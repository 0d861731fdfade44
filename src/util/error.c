/* error.c: formatting of library error messages (see error.h). */
#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>

static void format(char *err, size_t errlen, const char *fmt, va_list ap)
{
    if (err && errlen)
        vsnprintf(err, errlen, fmt, ap);
}

int smbrl_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    format(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

int smbrl_fail_code(char *err, size_t errlen, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    format(err, errlen, fmt, ap);
    va_end(ap);
    return code;
}
