/* mpi.c: the MPI layer of distributed training (dist.h): init with a safe signal mask, the
 * dist context on its own communicator, rounds (delta allreduce, counters, stop vote, replica
 * checksums with repair), broadcast, and naming dead peers. Compiled only when MPI is found. */
#include <errno.h>
#include <limits.h>
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "smbrl/dist.h"
#include "util/error.h"

#define HOST_LEN 64

struct dist {
    MPI_Comm comm;
    int rank, size;
    dist_config cfg;
    int64_t rounds;
    float *global;   /* G: num_params */
    float *delta;    /* scratch: num_params */
    char *hosts;     /* size x HOST_LEN */
    int64_t *pids;   /* size */
    uint64_t *sums;  /* size: checksums of a check */
};

static int mpi_fail(char *err, size_t errlen, const char *what, int rc)
{
    char s[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, s, &len) != MPI_SUCCESS)
        snprintf(s, sizeof s, "MPI error %d", rc);
    return smbrl_fail(err, errlen, "%s failed: %s", what, s);
}

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int dist_init(char *err, size_t errlen)
{
    if (dist_active())
        return 0;
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    int provided = 0;
    int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != MPI_SUCCESS)
        return smbrl_fail(err, errlen, "MPI_Init failed (error %d): run under mpirun", rc);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    return 0;
}

int dist_finalize(char *err, size_t errlen)
{
    if (!dist_active())
        return 0;
    int rc = MPI_Finalize();
    return rc == MPI_SUCCESS ? 0 : mpi_fail(err, errlen, "MPI_Finalize", rc);
}

int dist_active(void)
{
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    return init && !fin;
}

int dist_create(dist **out, const dist_config *c, char *err, size_t errlen)
{
    *out = NULL;
    if (!dist_active())
        return smbrl_fail(err, errlen, "MPI is not initialised (dist_init)");
    if (c->num_params == 0 || c->num_params > (size_t)INT_MAX)
        return smbrl_fail(err, errlen, "dist: %zu parameters do not fit one MPI message", c->num_params);
    if (c->check_every < 0)
        return smbrl_fail(err, errlen, "dist: check_every must be >= 0");
    dist *d = calloc(1, sizeof *d);
    if (!d)
        return smbrl_fail(err, errlen, "out of memory");
    d->comm = MPI_COMM_NULL;
    d->cfg = *c;
    int rc = MPI_Comm_dup(MPI_COMM_WORLD, &d->comm);
    if (rc != MPI_SUCCESS) {
        mpi_fail(err, errlen, "MPI_Comm_dup", rc);
        d->comm = MPI_COMM_NULL;
        dist_free(d);
        return -1;
    }
    MPI_Comm_set_errhandler(d->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(d->comm, &d->rank);
    MPI_Comm_size(d->comm, &d->size);
    d->global = calloc(c->num_params, sizeof(float));
    d->delta = malloc(c->num_params * sizeof(float));
    d->hosts = calloc((size_t)d->size, HOST_LEN);
    d->pids = calloc((size_t)d->size, sizeof(int64_t));
    d->sums = calloc((size_t)d->size, sizeof(uint64_t));
    if (!d->global || !d->delta || !d->hosts || !d->pids || !d->sums) {
        dist_free(d);
        return smbrl_fail(err, errlen, "out of memory");
    }
    char me[HOST_LEN] = "";
    gethostname(me, sizeof me - 1);
    int64_t pid = (int64_t)getpid();
    rc = MPI_Allgather(me, HOST_LEN, MPI_CHAR, d->hosts, HOST_LEN, MPI_CHAR, d->comm);
    if (rc == MPI_SUCCESS)
        rc = MPI_Allgather(&pid, 1, MPI_INT64_T, d->pids, 1, MPI_INT64_T, d->comm);
    if (rc != MPI_SUCCESS) {
        mpi_fail(err, errlen, "dist: gathering host names", rc);
        dist_free(d);
        return -1;
    }
    *out = d;
    return 0;
}

void dist_free(dist *d)
{
    if (!d)
        return;
    if (d->comm != MPI_COMM_NULL && dist_active())
        MPI_Comm_free(&d->comm);
    free(d->global);
    free(d->delta);
    free(d->hosts);
    free(d->pids);
    free(d->sums);
    free(d);
}

int dist_rank(const dist *d) { return d->rank; }
int dist_size(const dist *d) { return d->size; }
int64_t dist_rounds(const dist *d) { return d->rounds; }
const char *dist_host(const dist *d, int rank)
{
    return rank >= 0 && rank < d->size ? d->hosts + (size_t)rank * HOST_LEN : "?";
}
const float *dist_global(const dist *d) { return d->global; }

void dist_set_global(dist *d, const float *params)
{
    memcpy(d->global, params, d->cfg.num_params * sizeof(float));
}

int dist_bcast(dist *d, void *buf, size_t bytes, char *err, size_t errlen)
{
    /* in pieces of at most 1 GiB: MPI counts are int */
    for (size_t off = 0; off < bytes;) {
        size_t n = bytes - off < ((size_t)1 << 30) ? bytes - off : ((size_t)1 << 30);
        int rc = MPI_Bcast((char *)buf + off, (int)n, MPI_BYTE, 0, d->comm);
        if (rc != MPI_SUCCESS)
            return mpi_fail(err, errlen, "dist: broadcast from rank 0", rc);
        off += n;
    }
    return 0;
}

uint64_t dist_checksum(const float *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        uint32_t w;
        memcpy(&w, &p[i], sizeof w);
        h = (h ^ w) * 0x100000001b3ull;
    }
    return h;
}

/* A collective started with MPI_I*, completed by polling so that cfg.interrupt can abandon it. */
static int wait_req(dist *d, MPI_Request *rq, const char *what, char *err, size_t errlen)
{
    for (;;) {
        int done = 0;
        int rc = MPI_Test(rq, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS)
            return mpi_fail(err, errlen, what, rc);
        if (done)
            return 0;
        if (d->cfg.interrupt(d->cfg.interrupt_user)) {
            smbrl_fail(err, errlen, "%s: interrupted", what);
            return DIST_INTERRUPTED;
        }
        struct timespec ts = {0, 200000}; /* 0.2 ms: the wait is for the slowest rank anyway */
        nanosleep(&ts, NULL);
    }
}

static int allreduce(dist *d, void *buf, int count, MPI_Datatype type, const char *what, char *err,
                     size_t errlen)
{
    if (!d->cfg.interrupt) {
        int rc = MPI_Allreduce(MPI_IN_PLACE, buf, count, type, MPI_SUM, d->comm);
        return rc == MPI_SUCCESS ? 0 : mpi_fail(err, errlen, what, rc);
    }
    MPI_Request rq;
    int rc = MPI_Iallreduce(MPI_IN_PLACE, buf, count, type, MPI_SUM, d->comm, &rq);
    if (rc != MPI_SUCCESS)
        return mpi_fail(err, errlen, what, rc);
    return wait_req(d, &rq, what, err, errlen);
}

/* Compares G's checksum over the ranks; a rank that differs from rank 0 takes rank 0's G. */
static int check_replicas(dist *d, dist_round *r, char *err, size_t errlen)
{
    uint64_t mine = dist_checksum(d->global, d->cfg.num_params);
    int rc;
    if (d->cfg.interrupt) {
        MPI_Request rq;
        rc = MPI_Iallgather(&mine, 1, MPI_UINT64_T, d->sums, 1, MPI_UINT64_T, d->comm, &rq);
        if (rc != MPI_SUCCESS)
            return mpi_fail(err, errlen, "dist: replica check", rc);
        if ((rc = wait_req(d, &rq, "dist: replica check", err, errlen)) < 0)
            return rc;
    } else {
        rc = MPI_Allgather(&mine, 1, MPI_UINT64_T, d->sums, 1, MPI_UINT64_T, d->comm);
        if (rc != MPI_SUCCESS)
            return mpi_fail(err, errlen, "dist: replica check", rc);
    }
    r->checked = 1;
    r->checksum = d->sums[0];
    r->diverged_rank = -1;
    r->diverged_count = 0;
    for (int k = d->size - 1; k > 0; k--)
        if (d->sums[k] != d->sums[0]) {
            r->diverged_rank = k;
            r->diverged_count++;
        }
    r->bytes += sizeof mine;
    if (r->diverged_count) {
        rc = MPI_Bcast(d->global, (int)d->cfg.num_params, MPI_FLOAT, 0, d->comm);
        if (rc != MPI_SUCCESS)
            return mpi_fail(err, errlen, "dist: repairing diverged replicas", rc);
    }
    return 0;
}

int dist_sync(dist *d, const float *local, dist_round *r, char *err, size_t errlen)
{
    double t0 = mono(), comm = 0;
    size_t n = d->cfg.num_params;
    r->checked = 0;
    r->diverged_rank = -1;
    r->diverged_count = 0;
    r->checksum = 0;
    r->bytes = 0;
    for (size_t i = 0; i < n; i++)
        d->delta[i] = local[i] - d->global[i];
    /* counters and the stop vote first: small, and every rank learns of a stop together */
    int64_t cnt[DIST_NCOUNT + 1];
    memcpy(cnt, r->local, sizeof r->local);
    cnt[DIST_NCOUNT] = r->want_stop ? 1 : 0;
    double c0 = mono();
    int rc = allreduce(d, cnt, DIST_NCOUNT + 1, MPI_INT64_T, "dist: counter allreduce", err, errlen);
    if (rc < 0)
        return rc;
    rc = allreduce(d, d->delta, (int)n, MPI_FLOAT, "dist: parameter allreduce", err, errlen);
    comm += mono() - c0;
    if (rc < 0)
        return rc;
    r->bytes += sizeof cnt + n * sizeof(float);
    memcpy(r->global, cnt, sizeof r->global);
    r->stop_votes = (int)cnt[DIST_NCOUNT];
    r->stop = r->stop_votes > 0;
    float scale = d->cfg.sum ? 1.0f : 1.0f / (float)d->size;
    for (size_t i = 0; i < n; i++)
        d->global[i] += scale * d->delta[i];
    d->rounds++;
    int ce = d->cfg.check_every;
    if (r->final || (ce > 0 && d->rounds % ce == 0)) {
        c0 = mono();
        if ((rc = check_replicas(d, r, err, errlen)) < 0)
            return rc;
        comm += mono() - c0;
    }
    r->comm_seconds = comm;
    r->seconds = mono() - t0;
    return 0;
}

int dist_allgather_i64(dist *d, const int64_t *mine, int n, int64_t *all, char *err, size_t errlen)
{
    int rc = MPI_Allgather(mine, n, MPI_INT64_T, all, n, MPI_INT64_T, d->comm);
    return rc == MPI_SUCCESS ? 0 : mpi_fail(err, errlen, "dist: allgather", rc);
}

int dist_dead_ranks(const dist *d, char *out, size_t outlen)
{
    int dead = 0;
    size_t used = 0;
    if (outlen)
        out[0] = 0;
    const char *me = dist_host(d, d->rank);
    for (int k = 0; k < d->size; k++) {
        if (k == d->rank || strcmp(dist_host(d, k), me))
            continue;
        if (kill((pid_t)d->pids[k], 0) == 0 || errno != ESRCH)
            continue;
        dead++;
        if (used < outlen) {
            int w = snprintf(out + used, outlen - used, "%srank %d (pid %lld on %s)",
                             dead > 1 ? ", " : "", k, (long long)d->pids[k], me);
            used += w > 0 ? (size_t)w : 0;
        }
    }
    return dead;
}
