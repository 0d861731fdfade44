/* shared.c: the shared model of a training run: one anonymous MAP_SHARED mapping (made
 * before fork, so every worker sees the same pages) with the counters, the episode ring,
 * the worker slots, and the parameters and Adam moments; a process-shared robust mutex. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "train/train_internal.h"

static size_t header_bytes(void)
{
    return (sizeof(train_shared) + 4095) & ~(size_t)4095;
}

int train_shared_create(train_shared **out, size_t num_params, char *err, size_t errlen)
{
    *out = NULL;
    size_t bytes = header_bytes() + 3 * num_params * sizeof(float);
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        snprintf(err, errlen, "cannot map %zu bytes of shared memory: %s", bytes, strerror(errno));
        return -1;
    }
    train_shared *s = p; /* mmap gives zeroed pages */
    pthread_mutexattr_t at;
    int rc = pthread_mutexattr_init(&at);
    if (!rc)
        rc = pthread_mutexattr_setpshared(&at, PTHREAD_PROCESS_SHARED);
    if (!rc)
        rc = pthread_mutexattr_setrobust(&at, PTHREAD_MUTEX_ROBUST);
    if (!rc)
        rc = pthread_mutex_init(&s->lock, &at);
    pthread_mutexattr_destroy(&at);
    if (rc) {
        snprintf(err, errlen, "cannot create the shared lock: %s", strerror(rc));
        munmap(p, bytes);
        return -1;
    }
    s->num_params = num_params;
    s->params = (float *)((char *)p + header_bytes());
    s->m = s->params + num_params;
    s->v = s->m + num_params;
    *out = s;
    return 0;
}

void train_shared_free(train_shared *s)
{
    if (!s)
        return;
    pthread_mutex_destroy(&s->lock);
    munmap(s, header_bytes() + 3 * s->num_params * sizeof(float));
}

void train_lock(train_shared *s)
{
    int rc = pthread_mutex_lock(&s->lock);
    if (rc == EOWNERDEAD) {
        /* The owner died mid-update: the data it guarded is usable (a half-applied Adam
         * step or an unfinished ring entry at worst), so carry on. */
        pthread_mutex_consistent(&s->lock);
        s->lock_recoveries++;
    }
}

void train_unlock(train_shared *s) { pthread_mutex_unlock(&s->lock); }
