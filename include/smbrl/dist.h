/* dist.h: training across machines over MPI (`smbrl train --distributed` under mpirun): one
 * model kept in step over the ranks of a job by periodic rounds. Built only when CMake finds
 * MPI (SMBRL_HAVE_MPI); a build without it has none of these functions.
 *
 * Scheme (synchronous model averaging, "local SGD"): every rank keeps the global parameters G
 * of the last round. Between rounds it trains its own copy P (on a node: the shared-memory
 * model of train.h). A round reduces the deltas P - G over all ranks with one MPI_Allreduce
 * and sets G' = G + mean(deltas) (or the sum, a parameter server's semantics), identical on
 * every rank. Counters travel with the round (one small MPI_Allreduce of int64), and so does a
 * stop vote, so every rank stops after the same round. Every check_every rounds, and always in
 * the final one, the ranks compare a checksum of G' (as baselines' MpiAdam.check_synced does);
 * a rank that differs from rank 0 is named in the round's result and repaired from rank 0.
 *
 * Why allreduce and not a parameter server on rank 0 (MPI_Accumulate into a window, MPI_Get,
 * passive-target locks): measured in bench/RESULTS.md "## Distributed" on a MarioNet-sized
 * buffer, the allreduce round was 1.3-2x faster over TCP with 2 ranks (the server won only
 * inside one machine, where its window is shared memory); a ring allreduce loads every link
 * evenly where the server pushes 2K copies of the model through rank 0's link; and it needs no
 * lock discipline.
 *
 * Failure model (Open MPI 4.1, measured; see README "## Distributed"): when a rank dies, the
 * launcher sends the others SIGCONT, then SIGTERM one second later, then SIGKILL one second
 * after that; a collective in flight never returns an error first. So a rank learns of a peer's
 * death through SIGTERM from its launcher, and dist_dead_ranks names the peers on its own host
 * that are gone. MPI_ERRORS_RETURN is set on dist's communicator so any error that does come
 * back is reported as a one-line reason rather than aborting in the library. */
#ifndef SMBRL_DIST_H
#define SMBRL_DIST_H

#include <stddef.h>
#include <stdint.h>

typedef struct dist dist;

/* Counters that travel with a round: each rank passes its counts since the previous round,
 * the round returns their sum over the ranks. */
enum { DIST_STEPS, DIST_EPISODES, DIST_FLAGS, DIST_UPDATES, DIST_NCOUNT };

typedef struct dist_config {
    size_t num_params;   /* floats in the parameter buffer */
    int sum;             /* 0: G' = G + mean of the deltas; 1: G' = G + their sum */
    int check_every;     /* compare replica checksums every N rounds; 0: final round only */
    /* NULL: rounds block inside MPI. Else the round's collectives are nonblocking and this is
     * called about every millisecond while they wait; nonzero abandons the round (dist_sync
     * returns DIST_INTERRUPTED, and no further MPI call on d is safe). A rank blocked inside a
     * collective when a peer dies never sees the launcher's SIGTERM before its SIGKILL; with
     * this it can say what happened. */
    int (*interrupt)(void *user);
    void *interrupt_user;
} dist_config;

#define DIST_INTERRUPTED (-2)

typedef struct dist_round {
    /* in */
    int64_t local[DIST_NCOUNT]; /* this rank's counts since the previous round */
    int want_stop;              /* this rank votes to stop after this round */
    int final;                  /* the last round of the job: always checks replicas */
    /* out */
    int64_t global[DIST_NCOUNT]; /* local summed over all ranks */
    int stop;                    /* some rank voted to stop: no round follows but a final one */
    int stop_votes;              /* how many ranks voted */
    int checked;                 /* replicas were compared in this round */
    int diverged_rank;           /* lowest rank whose checksum differed from rank 0's, else -1 */
    int diverged_count;          /* ranks that differed (they were repaired from rank 0) */
    uint64_t checksum;           /* of the global parameters after the round (when checked) */
    double seconds;              /* wall time of the round on this rank */
    double comm_seconds;         /* of which inside MPI calls */
    size_t bytes;                /* payload this rank put into the round's collectives */
} dist_round;

/* MPI_Init (MPI_THREAD_FUNNELED). SIGINT, SIGTERM and SIGCHLD are blocked while MPI starts
 * its helper threads, so that those threads never take a signal meant for the caller's
 * sigtimedwait loop (a SIGTERM taken by a thread with the default action would end the
 * process); the caller's mask is restored afterwards. Call it before fork()ing workers; the
 * children must not call MPI. Returns 0, or -1 with a reason (no launcher, MPI failure). */
int dist_init(char *err, size_t errlen);
/* MPI_Finalize; 0 or -1 with a reason. */
int dist_finalize(char *err, size_t errlen);
/* 1 when MPI_Init has run and MPI_Finalize has not. */
int dist_active(void);

/* A context on a duplicate of MPI_COMM_WORLD (errors return), with G all zero. Collective. */
int dist_create(dist **out, const dist_config *c, char *err, size_t errlen);
void dist_free(dist *d);
int dist_rank(const dist *d);
int dist_size(const dist *d);
int64_t dist_rounds(const dist *d);
/* Host name of a rank (gathered at create), for messages. */
const char *dist_host(const dist *d, int rank);

/* Rank 0's bytes to every rank. Collective. */
int dist_bcast(dist *d, void *buf, size_t bytes, char *err, size_t errlen);
/* Sets this rank's G (no communication): after a dist_bcast of the initial parameters. */
void dist_set_global(dist *d, const float *params);
/* G after the last round (num_params floats, owned by d). */
const float *dist_global(const dist *d);

/* One round (collective: every rank calls it the same number of times). local is this rank's
 * current parameters P; afterwards dist_global holds G'. The caller adds G' - P to its live
 * copy, which keeps whatever it learnt while the round ran. Returns 0, -1 with a reason, or
 * DIST_INTERRUPTED (see dist_config.interrupt). */
int dist_sync(dist *d, const float *local, dist_round *r, char *err, size_t errlen);

/* Every rank's n int64 values, rank-major into all (n * size). Collective. */
int dist_allgather_i64(dist *d, const int64_t *mine, int n, int64_t *all, char *err, size_t errlen);

/* Order-sensitive 64-bit hash of the parameters' bit patterns (FNV-1a over 32-bit words). */
uint64_t dist_checksum(const float *p, size_t n);

/* After a peer failure (no communication): writes "rank 1 (pid 123 on host)" for each peer on
 * this host whose process is gone, comma-separated, into out; returns how many. Peers on other
 * hosts cannot be checked from here; mpirun's own message names them. */
int dist_dead_ranks(const dist *d, char *out, size_t outlen);

#endif
