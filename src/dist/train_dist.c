/* train_dist.c: one rank of a distributed training job (train_dist.h): merges this node's
 * shared-memory model with the other ranks' through dist.h rounds, keeps the global counters
 * in the shared block the workers already read (so their episode budget and --max-steps see
 * the whole job), agrees on stopping, and explains a failed peer. */
#include <inttypes.h>
#include <mpi.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dist/train_dist.h"
#include "smbrl/dist.h"
#include "util/error.h"

struct train_dist {
    dist *d;
    int rank, size, check_every;
    const train_args *a;
    train_shared *sh;
    void (*log)(void *user, const char *line);
    void *user;
    float *snap;                /* this rank's parameters as the round saw them */
    /* counter values in the shared block right after the last merge */
    int64_t seen_steps, seen_eps, seen_flags, seen_pushes;
    /* what this rank contributed in this run */
    int64_t own_steps, own_eps, own_flags, own_pushes;
    int64_t total_updates;      /* pushed by all ranks in this run, as of the last round */
    int64_t next_due;           /* own steps at which the next round is due */
    int stopped, finished, failed;
    int lost_sig;               /* the launcher's signal that ended a round */
    int deferred_sig;           /* another sender's SIGINT/SIGTERM taken during a round */
    double round_s, comm_s;     /* summed over rounds */
    size_t round_bytes;         /* per round, from this rank */
};

static void tell(train_dist *t, const char *fmt, ...)
{
    if (!t->log)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    t->log(t->user, line);
}

int train_dist_open(train_dist **out, train_args *a, int check_every,
                    void (*log)(void *user, const char *line), void *user, char *err,
                    size_t errlen)
{
    *out = NULL;
    if (check_every < 0)
        return smbrl_fail(err, errlen, "--replica-check-every must be >= 0");
    if (dist_init(err, errlen) < 0)
        return -1;
    train_dist *t = calloc(1, sizeof *t);
    if (!t)
        return smbrl_fail(err, errlen, "out of memory");
    t->a = a;
    t->log = log;
    t->user = user;
    t->check_every = check_every;
    MPI_Comm_rank(MPI_COMM_WORLD, &t->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &t->size);
    /* every rank names the same run (rank 0's clock chose a default name) */
    int rc = MPI_Bcast(a->run_dir, (int)sizeof a->run_dir, MPI_CHAR, 0, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) {
        free(t);
        return smbrl_fail(err, errlen, "dist: cannot agree on the run directory (MPI error %d)", rc);
    }
    a->run_dir[sizeof a->run_dir - 1] = 0;
    /* workers seed from (seed, index): without this every node would replay the same games */
    a->seed += (uint64_t)t->rank * 0x9E3779B97F4A7C15ull;
    *out = t;
    return 0;
}

int train_dist_rank(const train_dist *t) { return t->rank; }
int train_dist_size(const train_dist *t) { return t->size; }
int train_dist_writer(const train_dist *t) { return t->rank == 0; }

/* Polled while a round waits: the launcher's SIGTERM (a peer died) ends the round; anyone
 * else's SIGINT/SIGTERM is given back to the supervisor's loop after the round. */
static int interrupted(void *user)
{
    train_dist *t = user;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    siginfo_t si;
    struct timespec zero = {0, 0};
    int sig = sigtimedwait(&set, &si, &zero);
    if (sig <= 0)
        return 0;
    if (si.si_pid == getppid()) {
        t->lost_sig = sig;
        return 1;
    }
    t->deferred_sig = sig;
    return 0;
}

static int64_t pushes_now(const train_dist *t)
{
    int64_t p = 0;
    for (int w = 0; w < t->a->num_processes; w++)
        p += __atomic_load_n(&t->sh->slot[w].pushes, __ATOMIC_RELAXED);
    return p;
}

int train_dist_start(train_dist *t, train_shared *sh, char *err, size_t errlen)
{
    t->sh = sh;
    size_t n = sh->num_params;
    t->snap = malloc(n * sizeof(float));
    if (!t->snap)
        return smbrl_fail(err, errlen, "out of memory");
    dist_config c = {.num_params = n, .sum = 0, .check_every = t->check_every,
                     .interrupt = interrupted, .interrupt_user = t};
    if (dist_create(&t->d, &c, err, errlen) < 0) {
        t->failed = 1;
        return -1;
    }
    /* rank 0's model: a resume read on rank 0 (or a fresh start) becomes every rank's */
    int64_t cnt[4] = {sh->adam_step, sh->steps, sh->episodes, sh->flags};
    if (dist_bcast(t->d, sh->params, n * sizeof(float), err, errlen) < 0 ||
        dist_bcast(t->d, sh->m, n * sizeof(float), err, errlen) < 0 ||
        dist_bcast(t->d, sh->v, n * sizeof(float), err, errlen) < 0 ||
        dist_bcast(t->d, cnt, sizeof cnt, err, errlen) < 0 ||
        dist_bcast(t->d, sh->slot, sizeof sh->slot, err, errlen) < 0) {
        t->failed = 1;
        return -1;
    }
    sh->adam_step = cnt[0];
    sh->steps = cnt[1];
    sh->episodes = cnt[2];
    sh->flags = cnt[3];
    if (t->rank > 0) /* resumed exploration streams: each rank its own */
        for (int w = 0; w < TRAIN_MAX_WORKERS; w++) {
            sh->slot[w].rng[0] ^= (uint64_t)t->rank * 0xD1B54A32D192ED03ull;
            sh->slot[w].rng[3] += (uint64_t)t->rank;
        }
    dist_set_global(t->d, sh->params);
    t->seen_steps = sh->steps;
    t->seen_eps = sh->episodes;
    t->seen_flags = sh->flags;
    t->seen_pushes = pushes_now(t);
    t->next_due = t->a->sync_every;
    tell(t, "dist: rank %d of %d on %s (pid %ld), from step %" PRId64 ", episode %" PRId64
            "; a round every %" PRId64 " steps of this node",
         t->rank, t->size, dist_host(t->d, t->rank), (long)getpid(), sh->steps, sh->episodes,
         t->a->sync_every);
    return 0;
}

static int round_once(train_dist *t, int want_stop, int final, dist_round *rd, char *err,
                      size_t errlen)
{
    train_shared *sh = t->sh;
    size_t n = sh->num_params;
    train_lock(sh);
    memcpy(t->snap, sh->params, n * sizeof(float));
    int64_t eps = sh->episodes, flags = sh->flags;
    train_unlock(sh);
    int64_t steps = __atomic_load_n(&sh->steps, __ATOMIC_RELAXED);
    int64_t pushes = pushes_now(t);
    memset(rd, 0, sizeof *rd);
    rd->local[DIST_STEPS] = steps - t->seen_steps;
    rd->local[DIST_EPISODES] = eps - t->seen_eps;
    rd->local[DIST_FLAGS] = flags - t->seen_flags;
    rd->local[DIST_UPDATES] = pushes - t->seen_pushes;
    rd->want_stop = want_stop;
    rd->final = final;
    int rc = dist_sync(t->d, t->snap, rd, err, errlen);
    if (t->deferred_sig) { /* pending again, for the supervisor's sigtimedwait */
        kill(getpid(), t->deferred_sig);
        t->deferred_sig = 0;
    }
    if (rc == DIST_INTERRUPTED) {
        train_dist_lost(t, t->lost_sig, err, errlen);
        return -1;
    }
    if (rc < 0) {
        t->failed = 1;
        return -1;
    }
    int64_t o_steps = rd->global[DIST_STEPS] - rd->local[DIST_STEPS];
    int64_t o_eps = rd->global[DIST_EPISODES] - rd->local[DIST_EPISODES];
    int64_t o_flags = rd->global[DIST_FLAGS] - rd->local[DIST_FLAGS];
    const float *g = dist_global(t->d);
    /* add G' - P, so what the workers learnt while the round ran stays */
    train_lock(sh);
    for (size_t i = 0; i < n; i++)
        sh->params[i] += g[i] - t->snap[i];
    sh->episodes += o_eps;
    sh->flags += o_flags;
    train_unlock(sh);
    __atomic_add_fetch(&sh->steps, o_steps, __ATOMIC_RELAXED);
    t->own_steps += rd->local[DIST_STEPS];
    t->own_eps += rd->local[DIST_EPISODES];
    t->own_flags += rd->local[DIST_FLAGS];
    t->own_pushes += rd->local[DIST_UPDATES];
    t->seen_steps = steps + o_steps;
    t->seen_eps = eps + o_eps;
    t->seen_flags = flags + o_flags;
    t->seen_pushes = pushes;
    t->total_updates += rd->global[DIST_UPDATES];
    t->round_s += rd->seconds;
    t->comm_s += rd->comm_seconds;
    t->round_bytes = rd->bytes;
    if (rd->checked && rd->diverged_count)
        tell(t, "dist: replica check at round %" PRId64 ": %d rank(s) differed from rank 0 "
                "(rank %d first); repaired from rank 0 (checksum %016" PRIx64 ")",
             dist_rounds(t->d), rd->diverged_count, rd->diverged_rank, rd->checksum);
    else if (rd->checked && t->rank == 0)
        tell(t, "dist: replica check at round %" PRId64 ": all %d ranks agree (checksum %016" PRIx64
                "); %.3f s per round, %zu bytes per rank per round",
             dist_rounds(t->d), t->size, rd->checksum,
             t->round_s / (double)dist_rounds(t->d), rd->bytes);
    return 0;
}

int train_dist_poll(train_dist *t, int stopping, int *stop, char *err, size_t errlen)
{
    *stop = t->stopped;
    if (t->failed)
        return smbrl_fail(err, errlen, "dist: this rank has failed");
    if (t->stopped)
        return 0;
    int64_t own_now = t->own_steps + (__atomic_load_n(&t->sh->steps, __ATOMIC_RELAXED) - t->seen_steps);
    if (!stopping && own_now < t->next_due)
        return 0;
    dist_round rd;
    if (round_once(t, stopping, 0, &rd, err, errlen) < 0)
        return -1;
    t->next_due = (t->own_steps / t->a->sync_every + 1) * t->a->sync_every;
    if (rd.stop) {
        t->stopped = 1;
        *stop = 1;
        tell(t, "dist: %d rank(s) voted to stop at round %" PRId64 "; every rank stops", rd.stop_votes,
             dist_rounds(t->d));
    }
    return 0;
}

int train_dist_finish(train_dist *t, char *err, size_t errlen)
{
    if (t->failed)
        return smbrl_fail(err, errlen, "dist: this rank has failed");
    dist_round rd;
    while (!t->stopped) {
        if (round_once(t, 1, 0, &rd, err, errlen) < 0)
            return -1;
        t->stopped = rd.stop; /* our own vote makes it so */
    }
    if (round_once(t, 0, 1, &rd, err, errlen) < 0)
        return -1;
    int64_t mine[4] = {t->own_steps, t->own_eps, t->own_pushes, t->own_flags};
    int64_t *all = calloc((size_t)t->size * 4, sizeof(int64_t));
    if (!all)
        return smbrl_fail(err, errlen, "out of memory");
    if (dist_allgather_i64(t->d, mine, 4, all, err, errlen) < 0) {
        free(all);
        t->failed = 1;
        return -1;
    }
    if (t->rank == 0) {
        int64_t s = 0, e = 0, u = 0;
        for (int k = 0; k < t->size; k++) {
            const int64_t *v = all + 4 * k;
            tell(t, "dist: rank %d (%s) contributed %" PRId64 " steps, %" PRId64 " episodes, %" PRId64
                    " updates",
                 k, dist_host(t->d, k), v[0], v[1], v[2]);
            s += v[0];
            e += v[1];
            u += v[2];
        }
        tell(t, "dist: %d ranks, %" PRId64 " rounds (%.3f s each, %.3f s of it in MPI; %zu bytes per "
                "rank per round); this run %" PRId64 " steps, %" PRId64 " episodes, %" PRId64
                " updates; final replicas %s (checksum %016" PRIx64 ")",
             t->size, dist_rounds(t->d), t->round_s / (double)dist_rounds(t->d),
             t->comm_s / (double)dist_rounds(t->d), t->round_bytes, s, e, u,
             rd.diverged_count ? "differed and were repaired" : "agree", rd.checksum);
    }
    free(all);
    t->finished = 1;
    return 0;
}

void train_dist_lost(train_dist *t, int sig, char *err, size_t errlen)
{
    t->failed = 1;
    char dead[512] = "";
    int n = t->d ? dist_dead_ranks(t->d, dead, sizeof dead) : 0;
    smbrl_fail(err, errlen,
         "rank %d: the MPI launcher sent %s: %s; the job ends here (the last checkpoint stays "
         "valid: continue with --resume %s)",
         t->rank, sig == SIGINT ? "SIGINT" : "SIGTERM",
         n ? dead : "another rank failed (mpirun's message names it) or mpirun was interrupted",
         t->a->run_dir);
    if (n) /* dead lists the ranks; say what happened to them */
        smbrl_fail(err, errlen,
             "rank %d: %s %s gone (the MPI launcher sent %s); the job ends here (the last "
             "checkpoint stays valid: continue with --resume %s)",
             t->rank, dead, n > 1 ? "are" : "is", sig == SIGINT ? "SIGINT" : "SIGTERM",
             t->a->run_dir);
}

int train_dist_launcher_signal(train_dist *t, int sig, const siginfo_t *si, char *err,
                               size_t errlen)
{
    if ((sig != SIGINT && sig != SIGTERM) || si->si_pid != getppid())
        return 0;
    train_dist_lost(t, sig, err, errlen);
    return 1;
}

int64_t train_dist_updates(const train_dist *t, int64_t *total)
{
    if (total)
        *total = t->total_updates;
    return t->own_pushes;
}

void train_dist_close(train_dist *t)
{
    if (!t)
        return;
    if (t->finished && !t->failed) {
        char err[256];
        dist_free(t->d);
        dist_finalize(err, sizeof err);
    }
    /* otherwise no MPI call is safe (MPI_Finalize and MPI_Comm_free wait for peers that are
     * gone or still in a round): the context is left to the process's exit, which follows */
    free(t->snap);
    free(t);
}
