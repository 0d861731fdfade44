/* proc_testlib.h: what the integration tests that drive the smbrl program share: starting it
 * with its output in files, waiting for it, and polling files it writes. Header-only, like
 * testlib.h. */
#ifndef SMBRL_PROC_TESTLIB_H
#define SMBRL_PROC_TESTLIB_H

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testlib.h"

static inline int testlib_file_has(const char *path, const char *needle)
{
    char *s = testlib_read_file(path, NULL);
    int r = s && strstr(s, needle);
    free(s);
    return r;
}

static inline int testlib_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static inline void testlib_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits until path exists, or holds needle when needle is not NULL; 0 after the timeout. */
static inline int testlib_wait_for(const char *path, const char *needle, double timeout_s)
{
    for (double t = 0; t < timeout_s; t += 0.1) {
        if (needle ? testlib_file_has(path, needle) : testlib_exists(path))
            return 1;
        testlib_sleep_ms(100);
    }
    return 0;
}

/* Starts bin with args (NULL-terminated, at most 78), stdout and stderr in <work>/<tag>.out
 * and <work>/<tag>.err. */
static inline pid_t proc_start(const char *bin, const char *work, const char *tag,
                               const char *const *args)
{
    char out[1024], errp[1024];
    snprintf(out, sizeof out, "%s/%s.out", work, tag);
    snprintf(errp, sizeof errp, "%s/%s.err", work, tag);
    pid_t p = fork();
    if (p == 0) {
        int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int fe = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fo, 1);
        dup2(fe, 2);
        char *argv[80];
        int n = 0;
        argv[n++] = (char *)bin;
        for (int i = 0; args[i] && n < 79; i++)
            argv[n++] = (char *)args[i];
        argv[n] = NULL;
        execv(bin, argv);
        _exit(127);
    }
    return p;
}

/* Exit code, or 128 + signal. */
static inline int proc_finish(pid_t p)
{
    int st;
    if (waitpid(p, &st, 0) < 0)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

#endif
