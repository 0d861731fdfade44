/* train_dist.h: what the training supervisor (src/train/supervisor.c) calls to run as one rank
 * of a distributed job (`smbrl train --distributed` under mpirun). Internal; compiled only with
 * MPI (SMBRL_HAVE_MPI). Each rank is one node-level trainer (its shared-memory model and
 * workers, train.h); these calls keep the ranks' models one model (dist.h rounds), share the
 * counters, agree on stopping, and name failed peers.
 *
 * Call order in train_run:
 *   train_dist_open     before setup: MPI_Init, rank 0's run directory to every rank, a seed
 *                       of its own for each rank's workers (else every node plays the same game)
 *   train_dist_start    once the shared model exists (fresh or resumed on rank 0): rank 0's
 *                       parameters, Adam moments, counters and worker slots to every rank
 *   train_dist_poll     every supervisor loop: a round once this rank's own steps pass the next
 *                       multiple of --sync-every, or at once when it is stopping; says when the
 *                       ranks agreed to stop
 *   train_dist_finish   after the workers ended: the stop round if this rank has not had it,
 *                       then the final round (every update merged, replicas compared), and one
 *                       log line per rank with what it contributed
 *   train_dist_launcher_signal
 *                       for a SIGINT/SIGTERM the supervisor takes: from the launcher (a peer
 *                       died, or mpirun was interrupted) it gives the reason, naming dead ranks
 *                       on this host, and no further MPI call is made; a round that is waiting
 *                       when the launcher's signal comes ends the same way
 *   train_dist_close    MPI_Finalize after train_dist_finish; otherwise (a failure here or
 *                       elsewhere) no MPI call, since MPI_Finalize would wait for peers that
 *                       are gone or still in a round: the process exits and mpirun ends the job
 * Only rank 0 writes checkpoints, TensorBoard and metrics (train_dist_writer). */
#ifndef SMBRL_TRAIN_DIST_H
#define SMBRL_TRAIN_DIST_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "train/train_internal.h"

typedef struct train_dist train_dist;

/* check_every: replica checks every N rounds (0: final round only). log: event lines (replica
 * checks, divergence, contributions), may be NULL. Changes a: run_dir becomes rank 0's, and
 * seed becomes this rank's own. */
int train_dist_open(train_dist **out, train_args *a, int check_every,
                    void (*log)(void *user, const char *line), void *user, char *err,
                    size_t errlen);
int train_dist_rank(const train_dist *t);
int train_dist_size(const train_dist *t);
/* 1 on rank 0, the only rank that writes files. */
int train_dist_writer(const train_dist *t);
int train_dist_start(train_dist *t, train_shared *sh, char *err, size_t errlen);
int train_dist_poll(train_dist *t, int stopping, int *stop, char *err, size_t errlen);
int train_dist_finish(train_dist *t, char *err, size_t errlen);
/* Fills err with why the job is ending; marks t failed. */
void train_dist_lost(train_dist *t, int sig, char *err, size_t errlen);
/* For the supervisor's sigtimedwait: 1 (and train_dist_lost) when sig is SIGINT/SIGTERM from
 * this rank's launcher (mpirun or orted, the parent): the job is ending, so no final round and
 * no checkpoint; 0 for anyone else's signal, which stops the job cleanly (a stop vote). */
int train_dist_launcher_signal(train_dist *t, int sig, const siginfo_t *si, char *err,
                               size_t errlen);
/* Updates this rank's workers pushed during this run, and the job's total (after finish). */
int64_t train_dist_updates(const train_dist *t, int64_t *total);
void train_dist_close(train_dist *t);

#endif
